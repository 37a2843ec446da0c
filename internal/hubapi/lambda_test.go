package hubapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicehub/devicehub/internal/app"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/hubapi"
	"github.com/devicehub/devicehub/internal/kinesisput/kinesisfake"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/registry/registrytest"
	"github.com/devicehub/devicehub/shared/iothub"
)

// Behind API Gateway, through internal/app's Lambda adapter, the trackingId
// and the log line carry API Gateway's request id, for both payload versions.
func TestTrackingIDIsTheGatewayRequestID(t *testing.T) {
	auth, err := registry.NewAuthenticator(registry.AuthConfig{
		HubHost: benchHost, PolicyKey: registry.NewKey(), Policy: "iothubowner",
		Devices: registrytest.Device{D: registry.Device{DeviceID: benchDevice, Status: registry.StatusEnabled, PrimaryKey: registry.NewKey(), SecondaryKey: registry.NewKey()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	api := hubapi.New(hubapi.Deps{
		Auth: auth, Telemetry: &d2c.Ingestor{Stream: streams[0].new(t, &kinesisfake.Transport{})},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	formats := map[string]string{"http api v2": config.EventFormatV2, "rest api v1": config.EventFormatV1}
	path := "/devices/" + benchDevice + "/messages/events"
	for name, ev := range map[string]any{
		"http api v2": events.APIGatewayV2HTTPRequest{
			Version: "2.0", RawPath: path, Headers: map[string]string{"authorization": "SharedAccessSignature sr=x&sig=y&se=1"}, Body: "x",
			RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "JKJaXmPLvHcESHA=", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: path}},
		},
		"rest api v1": events.APIGatewayProxyRequest{
			HTTPMethod: "POST", Path: path, Headers: map[string]string{"Authorization": "SharedAccessSignature sr=x&sig=y&se=1"}, Body: "x",
			RequestContext: events.APIGatewayProxyRequestContext{RequestID: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			logs.Reset()
			raw, _ := json.Marshal(ev)
			out, err := lambda.NewHandler(app.LambdaHandler(api, formats[name])).Invoke(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			var resp struct{ Body string }
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			body, want := resp.Body, "JKJaXmPLvHcESHA="
			if formats[name] == config.EventFormatV1 {
				want = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
			}
			var e iothub.ErrorBody
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code != "IotHubUnauthorizedAccess" {
				t.Fatalf("body %q", body)
			}
			if e.TrackingID != want {
				t.Fatalf("trackingId %q, want the gateway's %q", e.TrackingID, want)
			}
			if !strings.Contains(logs.String(), `"requestId":"`+want+`"`) || !strings.Contains(logs.String(), `"deviceId":"`+benchDevice+`"`) {
				t.Fatalf("log %s", logs.String())
			}
		})
	}
}
