package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
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
	h := LambdaHandler(echo)
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
