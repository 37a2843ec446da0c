package app

// The Lambda side of the one handler: API Gateway events in, http.Handler out.
// The stack knows at synth time which payload its front door sends (HTTP API
// and function URLs: 2.0, REST API: 1.0) and says so in
// DEVICEHUB_EVENT_FORMAT, so the runtime decodes each event once, straight
// into its type. Without it (an unknown front door) the event is probed.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
	"github.com/devicehub/devicehub/internal/config"
)

// LambdaHandler returns a Lambda handler for h, for lambda.Start: typed for
// format (config.EventFormatV1 or V2), or probing each event when format is
// empty.
func LambdaHandler(h http.Handler, format string) any {
	switch format {
	case config.EventFormatV2:
		return httpadapter.NewV2(h).ProxyWithContext
	case config.EventFormatV1:
		return httpadapter.New(h).ProxyWithContext
	}
	return probingHandler(h)
}

// probingHandler reads the event's version first, then decodes it as that.
func probingHandler(h http.Handler) func(context.Context, json.RawMessage) (any, error) {
	v1, v2 := httpadapter.New(h), httpadapter.NewV2(h)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var probe struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("app: event is not JSON: %w", err)
		}
		if probe.Version == "2.0" {
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("app: http api event: %w", err)
			}
			return v2.ProxyWithContext(ctx, ev)
		}
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("app: rest api event: %w", err)
		}
		return v1.ProxyWithContext(ctx, ev)
	}
}
