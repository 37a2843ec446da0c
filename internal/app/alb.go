package app

// The mutual-TLS front door: an Application Load Balancer in mTLS
// passthrough mode invokes a function of its own with target-group events,
// and only that function, in this mode, reads the client certificate header
// the load balancer sets. Every other path (API Gateway, the local server)
// ignores the header: a client can set any header, and a certificate is
// public; only the load balancer's handshake proved possession of its key.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/devicehub/devicehub/internal/mtls"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/schema"
)

// FrontDoorALB is the DEVICEHUB_FRONT_DOOR value of the function behind the
// mTLS load balancer.
const FrontDoorALB = schema.FrontDoorALB

// IngressHandler is the Lambda handler of the device-facing function: the
// API Gateway one (LambdaHandler), or, with DEVICEHUB_FRONT_DOOR=alb-mtls,
// the ALB one reading the client certificate from the header
// DEVICEHUB_CLIENT_CERT_HEADER names (default X-Amzn-Mtls-Clientcert).
func (hub *Hub) IngressHandler(getenv func(string) string, log *slog.Logger) (any, error) {
	return IngressHandler(Handler(hub), hub.eventFormat, getenv, log)
}

// IngressHandler is Hub.IngressHandler for any handler h; format is the API
// Gateway payload version (config.EventFormat) of the API Gateway mode.
func IngressHandler(h http.Handler, format string, getenv func(string) string, log *slog.Logger) (any, error) {
	switch mode := getenv(schema.EnvFrontDoor); mode {
	case "":
		return LambdaHandler(h, format), nil
	case FrontDoorALB:
		header := getenv(schema.EnvClientCertHeader)
		if header == "" {
			header = mtls.ALBHeader
		}
		return ALBHandler(h, header, log), nil
	default:
		return nil, fmt.Errorf("app: %s=%q: want empty (API Gateway) or %q", schema.EnvFrontDoor, mode, FrontDoorALB)
	}
}

// errNotALB refuses an event that no load balancer sent.
var errNotALB = errors.New("app: the mTLS front door serves Application Load Balancer events only")

// ALBHandler serves ALB target-group events for h. The client chain in the
// header named header goes onto the request's context and the header itself
// is removed, so nothing downstream can read it. The target group sends
// multi-value headers; a header given more than once is not trusted at all.
func ALBHandler(h http.Handler, header string, log *slog.Logger) func(context.Context, json.RawMessage) (any, error) {
	adapter := httpadapter.NewALB(h)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var ev events.ALBTargetGroupRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("app: alb event: %w", err)
		}
		if ev.RequestContext.ELB.TargetGroupArn == "" {
			return nil, errNotALB
		}
		values := takeHeader(&ev, header)
		switch {
		case len(values) == 1:
			chain, err := mtls.ParseALBHeader(values[0])
			if err != nil {
				log.WarnContext(ctx, "client certificate refused", slog.Any("error", err))
				break
			}
			ctx = registry.WithClientChain(ctx, chain)
		case len(values) > 1:
			log.WarnContext(ctx, "client certificate header given more than once: ignored", slog.Int("values", len(values)))
		}
		return adapter.ProxyWithContext(ctx, ev)
	}
}

// takeHeader removes every value of header (any case) from the event and
// returns them. An ALB sends either multi-value headers (the target group's
// setting) or single-value ones, never both.
func takeHeader(ev *events.ALBTargetGroupRequest, header string) []string {
	var values []string
	for k, vs := range ev.MultiValueHeaders {
		if strings.EqualFold(k, header) {
			values = append(values, vs...)
			delete(ev.MultiValueHeaders, k)
		}
	}
	for k, v := range ev.Headers {
		if strings.EqualFold(k, header) {
			values = append(values, v)
			delete(ev.Headers, k)
		}
	}
	return values
}
