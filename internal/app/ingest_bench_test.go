package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/hubapi"
	"github.com/devicehub/devicehub/internal/kinesisput"
	"github.com/devicehub/devicehub/internal/kinesisput/kinesisfake"
	"github.com/devicehub/devicehub/internal/lambdagc"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/registry/registrytest"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// The end-to-end ingress benchmark: event bytes in, response bytes out,
// through aws-lambda-go's lambda.NewHandler(...).Invoke with the handler the
// ingress function starts (Hub.IngressHandler for the HTTP API, payload 2.0:
// the request deadline, the hubapi handler with its JSON logger at info),
// real SAS authentication with the device cached (a warm function), d2c and
// the lean kinesisput client, signing with the SDK's v4 signer (a role's
// session token included) and sending through an http.Client to
// kinesisfake (in process, no sockets). The event carries what API Gateway
// sends: its forwarding headers and a full request context.

const (
	e2eHost   = "bench.devicehub.test"
	e2eDevice = "bench-device-1"
	e2eBody   = `{"temperature":21.5,"humidity":48,"ts":"2026-01-02T03:04:05Z"}`
)

// newLambdaIngress returns the invocable handler and one event of batch
// messages (0: a single message with its properties as headers).
func newLambdaIngress(tb testing.TB, fake *kinesisfake.Transport, batch int) (lambda.Handler, []byte) {
	tb.Helper()
	key := registry.NewKey()
	auth, err := registry.NewAuthenticator(registry.AuthConfig{
		HubHost: e2eHost, PolicyKey: registry.NewKey(), Policy: "iothubowner", CacheTTL: time.Hour,
		Devices: registrytest.Device{D: registry.Device{
			DeviceID: e2eDevice, GenerationID: "638000000000000001", Status: registry.StatusEnabled,
			PrimaryKey: key, SecondaryKey: registry.NewKey(),
		}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	// As in Lambda: the role's temporary credentials, with a session token
	// of the usual length, which the signer signs. The http.Client has no
	// timeout: Lambda's (awsenv.Load) costs a context.WithDeadline per call
	// over net/http's own transport, but over any other RoundTripper, such
	// as the fake, net/http takes a heavier path (a timer goroutine) that
	// production never runs.
	client := &http.Client{Transport: fake}
	token := "IQoJb3JpZ2luX2VjE" + strings.Repeat("Kf8/BENCHsessionTOKEN+", 50)
	stream, err := kinesisput.New(kinesisput.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("ASIABENCHEXAMPLE", "bench-secret", token),
		HTTPClient: client, StreamName: "bench-telemetry",
	})
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := sas.New(e2eHost+"/devices/"+e2eDevice, key, "", time.Now().Add(24*time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	noenv := func(string) string { return "" }
	log := slog.New(hubapi.LogHandler(NewLogger(io.Discard, noenv).Handler()))
	hub := &Hub{
		Deps:           hubapi.Deps{Auth: auth, Telemetry: &d2c.Ingestor{Stream: stream, Now: time.Now}, Logger: log},
		requestTimeout: config.DefaultRequestTimeout, eventFormat: config.EventFormatV2,
	}
	handler, err := hub.IngressHandler(noenv, log)
	if err != nil {
		tb.Fatal(err)
	}

	path := "/devices/" + e2eDevice + "/messages/events"
	const ua = "azure-iot-device/1.17.3 (node v20.11.1; Linux 6.1; x64)"
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /devices/{id}/messages/events", RawPath: path, RawQueryString: "api-version=2020-03-13",
		Headers: map[string]string{
			"authorization": tok, "host": e2eHost, "user-agent": ua, "x-amzn-trace-id": "Root=1-6745f2a1-0c1d5e2f3a4b5c6d7e8f9a0b",
			"x-forwarded-for": "203.0.113.17", "x-forwarded-port": "443", "x-forwarded-proto": "https",
		},
		PathParameters: map[string]string{"id": e2eDevice},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: "POST /devices/{id}/messages/events", AccountID: "123456789012", Stage: "$default",
			RequestID: "JKJaXmPLvHcESHA=", APIID: "a1b2c3d4e5", DomainName: e2eHost, DomainPrefix: "bench",
			Time: "27/Nov/2026:13:27:31 +0000", TimeEpoch: 1795786051000,
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodPost, Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.17", UserAgent: ua},
		},
	}
	if batch == 0 {
		ev.Body = e2eBody
		ev.Headers["content-length"] = strconv.Itoa(len(e2eBody))
		for k, v := range map[string]string{"content-type": "application/json", "iothub-messageid": "msg-0",
			"iothub-contenttype": "application/json", "iothub-contentencoding": "utf-8", "iothub-app-temperaturealert": "false", "iothub-app-seq": "0"} {
			ev.Headers[k] = v
		}
	} else {
		var b strings.Builder
		b.WriteByte('[')
		for i := range batch {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"body":"` + base64.StdEncoding.EncodeToString([]byte(e2eBody)) +
				`","properties":{"iothub-messageid":"msg-` + strconv.Itoa(i) +
				`","iothub-app-temperatureAlert":"false","iothub-app-seq":"` + strconv.Itoa(i) + `"}}`)
		}
		b.WriteByte(']')
		ev.Body = b.String()
		ev.Headers["content-length"] = strconv.Itoa(b.Len())
		ev.Headers["content-type"] = iothub.BatchContentType
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return lambda.NewHandler(handler), raw
}

// status reads the response's status code.
func status(tb testing.TB, out []byte) int {
	var r struct{ StatusCode int }
	if err := json.Unmarshal(out, &r); err != nil {
		tb.Fatalf("%s: %v", out, err)
	}
	return r.StatusCode
}

// TestLambdaIngress proves the benchmark's setup: each invocation is
// accepted and every message reaches the fake stream, decodable.
func TestLambdaIngress(t *testing.T) {
	for _, batch := range []int{0, 100} {
		fake := &kinesisfake.Transport{Keep: true}
		h, raw := newLambdaIngress(t, fake, batch)
		out, err := h.Invoke(context.Background(), raw)
		if err != nil || status(t, out) != http.StatusNoContent {
			t.Fatalf("batch %d: %s, %v", batch, out, err)
		}
		recs := fake.Records()
		if len(recs) != max(batch, 1) {
			t.Fatalf("batch %d: %d records", batch, len(recs))
		}
		for i, r := range recs {
			m, err := telemetry.Decode(r.Data)
			if err != nil || m.DeviceID != e2eDevice || string(m.Body) != e2eBody || m.MessageID != "msg-"+strconv.Itoa(i) {
				t.Fatalf("record %d: %+v, %v", i, m, err)
			}
		}
	}
}

// BenchmarkLambdaIngress: ns/op and allocs/op per invocation; ns/msg divides
// by its messages. Each runs under Go's default collector settings
// (gc=default: GOGC=100, no memory limit) and under those the stack deploys
// (gc=lambda: internal/lambdagc at the stack's default memory size), each
// restored after, whatever the process's environment says.
func BenchmarkLambdaIngress(b *testing.B) {
	gcs := []struct {
		name  string
		apply func() (restore func())
	}{
		{"gc=default", goDefaultGC},
		{"gc=lambda", func() func() { return lambdagc.Apply(lambdaMemoryMB) }},
	}
	for _, batch := range []int{0, 100} {
		name := "single"
		if batch > 0 {
			name = "batch" + strconv.Itoa(batch)
		}
		for _, gc := range gcs {
			b.Run(name+"/"+gc.name, func(b *testing.B) {
				h, raw := newLambdaIngress(b, &kinesisfake.Transport{}, batch)
				defer gc.apply()()
				b.ReportAllocs()
				b.SetBytes(int64(len(raw)))
				ctx := context.Background()
				for b.Loop() {
					out, err := h.Invoke(ctx, raw)
					if err != nil || len(out) == 0 {
						b.Fatalf("%s, %v", out, err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*max(batch, 1)), "ns/msg")
			})
		}
	}
}

// lambdaMemoryMB is the functions' memory size by default (infra/hub's
// Props.MemoryMB), which their GOMEMLIMIT derives from.
const lambdaMemoryMB = 256

// goDefaultGC sets Go's default collector settings, GOGC=100 and no memory
// limit, and returns a function restoring the settings it replaced.
func goDefaultGC() (restore func()) {
	percent := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(math.MaxInt64)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}
