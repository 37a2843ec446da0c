package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicehub/devicehub/internal/certgen"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/mtls"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/schema"
)

// chainEcho answers with the subject CN of the chain on the request's
// context ("none" without one) and whether the certificate header reached
// the handler.
var chainEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	cn := "none"
	if c := registry.ClientChain(r.Context()); len(c) > 0 {
		cn = c[0].Subject.CommonName
	}
	w.Header().Set("X-Chain", cn)
	w.Header().Set("X-Header-Seen", r.Header.Get(mtls.ALBHeader))
	w.WriteHeader(http.StatusNoContent)
})

func albEvent(single map[string]string, multi map[string][]string) events.ALBTargetGroupRequest {
	ev := events.ALBTargetGroupRequest{HTTPMethod: "POST", Path: "/devices/d1/messages/events", Headers: single, MultiValueHeaders: multi}
	ev.RequestContext.ELB.TargetGroupArn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x/1"
	return ev
}

func respHeader(t *testing.T, out any, name string) string {
	t.Helper()
	r, ok := out.(events.ALBTargetGroupResponse)
	if !ok {
		t.Fatalf("response %T", out)
	}
	if v, ok := r.Headers[name]; ok {
		return v
	}
	if vs := r.MultiValueHeaders[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// The ALB front door takes the chain from its one header, hides the header
// from the handler, and trusts nothing when the header is repeated or
// malformed, or when the event is not a load balancer's.
func TestALBHandlerClientChain(t *testing.T) {
	dev, err := certgen.New(certgen.Spec{CommonName: "dev-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := mtls.EncodeALBHeader(dev.Cert)
	h := ALBHandler(chainEcho, mtls.ALBHeader, slog.New(slog.DiscardHandler))
	cases := []struct {
		name string
		ev   events.ALBTargetGroupRequest
		want string
	}{
		{"one value", albEvent(nil, map[string][]string{"x-amzn-mtls-clientcert": {enc}}), "dev-1"},
		{"single-value headers", albEvent(map[string]string{"X-Amzn-Mtls-Clientcert": enc}, nil), "dev-1"},
		{"repeated", albEvent(nil, map[string][]string{"x-amzn-mtls-clientcert": {enc, enc}}), "none"},
		{"malformed", albEvent(nil, map[string][]string{"x-amzn-mtls-clientcert": {"-----BEGIN%20CERTIFICATE-----%0AAAAA"}}), "none"},
		{"absent", albEvent(nil, map[string][]string{"host": {"hub"}}), "none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(tc.ev)
			out, err := h(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := respHeader(t, out, "X-Chain"); got != tc.want {
				t.Fatalf("chain %q, want %q", got, tc.want)
			}
			if got := respHeader(t, out, "X-Header-Seen"); got != "" {
				t.Fatalf("the handler saw the certificate header: %q", got)
			}
		})
	}
	t.Run("not an ALB event", func(t *testing.T) {
		raw, _ := json.Marshal(events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: "/devices/d1/messages/events",
			Headers: map[string]string{"x-amzn-mtls-clientcert": enc}})
		if _, err := h(context.Background(), raw); err == nil {
			t.Fatal("an API Gateway event reached the mTLS front door")
		}
	})
}

// On the API Gateway path the header is a client's, and is never read.
func TestAPIGatewayIgnoresClientCertHeader(t *testing.T) {
	dev, err := certgen.New(certgen.Spec{CommonName: "dev-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := mtls.EncodeALBHeader(dev.Cert)
	v2 := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: "/devices/d1/messages/events",
		Headers:        map[string]string{"x-amzn-mtls-clientcert": enc},
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"}}}
	raw, _ := json.Marshal(v2)
	for _, format := range []string{config.EventFormatV2, ""} {
		out, err := lambda.NewHandler(LambdaHandler(chainEcho, format)).Invoke(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		if got := resp.Headers["X-Chain"]; got != "none" {
			t.Fatalf("format %q: chain %q from a client's header", format, got)
		}
	}
}

func TestIngressHandlerModes(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if _, err := IngressHandler(chainEcho, "", env(nil), log); err != nil {
		t.Fatal(err)
	}
	if _, err := IngressHandler(chainEcho, "", env(map[string]string{schema.EnvFrontDoor: FrontDoorALB}), log); err != nil {
		t.Fatal(err)
	}
	if _, err := IngressHandler(chainEcho, "", env(map[string]string{schema.EnvFrontDoor: "nlb"}), log); err == nil || !strings.Contains(err.Error(), "alb-mtls") {
		t.Fatalf("unknown front door: %v", err)
	}
	// A renamed header: only that name is read.
	dev, _ := certgen.New(certgen.Spec{CommonName: "dev-2"}, nil)
	handler, err := IngressHandler(chainEcho, "", env(map[string]string{schema.EnvFrontDoor: FrontDoorALB, schema.EnvClientCertHeader: "X-Hub-Cert"}), log)
	if err != nil {
		t.Fatal(err)
	}
	h, ok := handler.(func(context.Context, json.RawMessage) (any, error))
	if !ok {
		t.Fatalf("the ALB mode's handler is a %T", handler)
	}
	for header, want := range map[string]string{"x-hub-cert": "dev-2", "x-amzn-mtls-clientcert": "none"} {
		raw, _ := json.Marshal(albEvent(nil, map[string][]string{header: {mtls.EncodeALBHeader(dev.Cert)}}))
		out, err := h(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := respHeader(t, out, "X-Chain"); got != want {
			t.Errorf("header %s: chain %q, want %q", header, got, want)
		}
	}
}
