package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/devicehub/devicehub/internal/config"
)

// echo answers with the request's method, path, a header and the body bytes.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Path", r.Method+" "+r.URL.Path+" "+r.PathValue("x")+r.Header.Get("Iothub-App-K"))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(b)
})

func TestHandlerBothPayloadVersions(t *testing.T) {
	body := []byte{0, 1, 0xfe, 0xff}
	b64 := base64.StdEncoding.EncodeToString(body)
	v2 := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: "/devices/d%201/messages/events", RawQueryString: "api-version=2021-04-12",
		Headers: map[string]string{"iothub-app-k": "v"}, Body: b64, IsBase64Encoded: true,
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/devices/d 1/messages/events"}},
	}
	v1 := events.APIGatewayProxyRequest{
		HTTPMethod: "POST", Path: "/devices/d 1/messages/events", Headers: map[string]string{"iothub-app-k": "v"},
		Body: b64, IsBase64Encoded: true,
	}
	h := probingHandler(echo)
	for name, ev := range map[string]any{"http api v2": v2, "rest api v1": v1} {
		t.Run(name, func(t *testing.T) {
			raw, _ := json.Marshal(ev)
			out, err := h(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			var status int
			var hdr map[string]string
			var respBody string
			var isB64 bool
			switch r := out.(type) {
			case events.APIGatewayV2HTTPResponse:
				status, hdr, respBody, isB64 = r.StatusCode, r.Headers, r.Body, r.IsBase64Encoded
			case events.APIGatewayProxyResponse:
				status, respBody, isB64 = r.StatusCode, r.Body, r.IsBase64Encoded
				hdr = map[string]string{}
				for k, vs := range r.MultiValueHeaders {
					hdr[k] = vs[0]
				}
			default:
				t.Fatalf("response type %T", out)
			}
			if status != 201 || hdr["X-Path"] != "POST /devices/d 1/messages/events v" {
				t.Fatalf("status %d headers %v", status, hdr)
			}
			if !isB64 || respBody != b64 {
				t.Fatalf("binary body not intact: %q base64=%v", respBody, isB64)
			}
		})
	}
	if _, err := h(context.Background(), json.RawMessage(`not json`)); err == nil {
		t.Fatal("want an error for a non-JSON event")
	}
}

// The typed handlers decode an event once, through aws-lambda-go's own
// invocation path (event bytes in, response bytes out), with the same answer
// the probing handler gives.
func TestLambdaHandlerTypedByFormat(t *testing.T) {
	body := []byte(`{"t":21.5}`)
	byFormat := map[string]any{
		config.EventFormatV2: events.APIGatewayV2HTTPRequest{
			Version: "2.0", RawPath: "/devices/d1/messages/events", Headers: map[string]string{"iothub-app-k": "v"}, Body: string(body),
			RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/devices/d1/messages/events"}},
		},
		config.EventFormatV1: events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/devices/d1/messages/events", Headers: map[string]string{"iothub-app-k": "v"}, Body: string(body)},
	}
	for format, ev := range byFormat {
		t.Run(format, func(t *testing.T) {
			raw, _ := json.Marshal(ev)
			for name, h := range map[string]any{"typed": LambdaHandler(echo, format), "probing": LambdaHandler(echo, "")} {
				out, err := lambda.NewHandler(h).Invoke(context.Background(), raw)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				var resp struct {
					StatusCode        int
					Headers           map[string]string
					MultiValueHeaders map[string][]string
					Body              string
				}
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Fatalf("%s: %s: %v", name, out, err)
				}
				path := resp.Headers["X-Path"]
				if path == "" && len(resp.MultiValueHeaders["X-Path"]) > 0 {
					path = resp.MultiValueHeaders["X-Path"][0]
				}
				if resp.StatusCode != 201 || path != "POST /devices/d1/messages/events v" || resp.Body == "" {
					t.Fatalf("%s: %s", name, out)
				}
			}
		})
	}
}

// BenchmarkLambdaHandler: one single-message v2 event through aws-lambda-go's
// invocation path, typed against probing.
func BenchmarkLambdaHandler(b *testing.B) {
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: "/devices/d1/messages/events", Headers: map[string]string{"authorization": "SharedAccessSignature sr=x", "iothub-app-k": "v"},
		Body:           `{"temperature":21.5,"humidity":40}`,
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "r", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/devices/d1/messages/events"}},
	}
	raw, _ := json.Marshal(ev)
	noop := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, format := range []string{config.EventFormatV2, ""} {
		name := "typed"
		if format == "" {
			name = "probing"
		}
		b.Run(name, func(b *testing.B) {
			h := lambda.NewHandler(LambdaHandler(noop, format))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Invoke(context.Background(), raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
