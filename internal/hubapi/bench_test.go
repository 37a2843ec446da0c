package hubapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/hubapi"
	"github.com/devicehub/devicehub/internal/kinesisput"
	"github.com/devicehub/devicehub/internal/kinesisput/kinesisfake"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/registry/registrytest"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// The ingress benchmark runs the real handler: SAS parse and HMAC check by
// registry.Authenticator (device key cached, as in a warm Lambda), request
// parsing, validation, the envelope, and a signed PutRecords through a real
// Kinesis client whose HTTP transport is kinesisfake, in process.

const (
	benchHost   = "bench.devicehub.test"
	benchDevice = "bench-device-1"
	benchStream = "bench-telemetry"
)

// streams are the Kinesis writers under test, each over the fake transport.
var streams = []struct {
	name string
	new  func(tb testing.TB, rt http.RoundTripper) d2c.Stream
}{
	{"lean", func(tb testing.TB, rt http.RoundTripper) d2c.Stream {
		s, err := kinesisput.New(kinesisput.Config{
			Region:      "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider("AKIDBENCH", "bench-secret", ""),
			HTTPClient:  &http.Client{Transport: rt},
			StreamName:  benchStream,
		})
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}},
	{"sdk", func(tb testing.TB, rt http.RoundTripper) d2c.Stream {
		c := kinesis.New(kinesis.Options{
			Region:       "us-east-1",
			Credentials:  credentials.NewStaticCredentialsProvider("AKIDBENCH", "bench-secret", ""),
			HTTPClient:   &http.Client{Transport: rt},
			BaseEndpoint: aws.String("https://kinesis.us-east-1.amazonaws.com"),
		})
		return &sdkStream{client: c, streamName: benchStream}
	}},
}

// sdkStream is d2c.Stream on the AWS SDK's Kinesis client: the baseline the
// lean kinesisput client is measured against. The hub does not use it.
type sdkStream struct {
	client     *kinesis.Client
	streamName string
}

func (k *sdkStream) PutRecords(ctx context.Context, partitionKey string, records [][]byte) (d2c.Result, error) {
	entries := make([]types.PutRecordsRequestEntry, len(records))
	for i, r := range records {
		entries[i] = types.PutRecordsRequestEntry{Data: r, PartitionKey: &partitionKey}
	}
	out, err := k.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: &k.streamName, Records: entries})
	if err != nil {
		return d2c.Result{}, fmt.Errorf("kinesis put records: %w", err)
	}
	for i, r := range out.Records {
		if r.ErrorCode != nil {
			return d2c.Result{FailedFrom: i, Throttled: *r.ErrorCode == "ProvisionedThroughputExceededException"}, nil
		}
	}
	return d2c.Result{FailedFrom: -1}, nil
}

// ingress is one prepared request against the handler.
type ingress struct {
	h       http.Handler
	req     *http.Request
	body    *resettableBody
	payload []byte
	w       *reusableWriter
	msgs    int
}

type resettableBody struct{ bytes.Reader }

func (*resettableBody) Close() error { return nil }

// reusableWriter is the least a ResponseWriter can be, reset per request.
type reusableWriter struct {
	h      http.Header
	status int
	out    bytes.Buffer
}

func (w *reusableWriter) Header() http.Header { return w.h }
func (w *reusableWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *reusableWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.out.Write(p)
}

func (in *ingress) serve() int {
	in.body.Reset(in.payload)
	in.req.Body = in.body
	clear(in.w.h)
	in.w.status = 0
	in.w.out.Reset()
	in.h.ServeHTTP(in.w, in.req)
	return in.w.status
}

// singleBody and batchBody are a typical small telemetry message.
const singleBody = `{"temperature":21.5,"humidity":48,"ts":"2026-01-02T03:04:05Z"}`

func newIngress(tb testing.TB, stream d2c.Stream, batch int) *ingress {
	tb.Helper()
	key := registry.NewKey()
	auth, err := registry.NewAuthenticator(registry.AuthConfig{
		HubHost: benchHost, PolicyKey: registry.NewKey(), Policy: "iothubowner", CacheTTL: time.Hour,
		Devices: registrytest.Device{D: registry.Device{
			DeviceID: benchDevice, GenerationID: "638000000000000001", Status: registry.StatusEnabled,
			PrimaryKey: key, SecondaryKey: registry.NewKey(),
		}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := sas.New(benchHost+"/devices/"+benchDevice, key, "", time.Now().Add(24*time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	h := hubapi.New(hubapi.Deps{Auth: auth, Telemetry: &d2c.Ingestor{Stream: stream, Now: time.Now}})

	in := &ingress{h: h, body: &resettableBody{}, w: &reusableWriter{h: http.Header{}}, msgs: max(batch, 1)}
	var ct string
	if batch == 0 {
		in.payload, ct = []byte(singleBody), "application/json"
	} else {
		var b strings.Builder
		b.WriteByte('[')
		for i := range batch {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"body":"` + base64.StdEncoding.EncodeToString([]byte(singleBody)) +
				`","properties":{"iothub-messageid":"msg-` + strconv.Itoa(i) +
				`","iothub-app-temperatureAlert":"false","iothub-app-seq":"` + strconv.Itoa(i) + `"}}`)
		}
		b.WriteByte(']')
		in.payload, ct = []byte(b.String()), iothub.BatchContentType
	}
	in.req = httptest.NewRequest(http.MethodPost, "/devices/"+benchDevice+"/messages/events?api-version=2020-03-13", nil)
	in.req.Header.Set("Authorization", tok)
	in.req.Header.Set("Content-Type", ct)
	in.req.ContentLength = int64(len(in.payload))
	if batch == 0 {
		in.req.Header.Set("Iothub-Messageid", "msg-0")
		in.req.Header.Set("Iothub-Contenttype", "application/json")
		in.req.Header.Set("Iothub-Contentencoding", "utf-8")
		in.req.Header.Set("Iothub-App-Temperaturealert", "false")
		in.req.Header.Set("Iothub-App-Seq", "0")
	}
	return in
}

// TestBenchIngress proves the benchmark's setup does what it claims: every
// request is accepted and the fake Kinesis receives one correct envelope per
// message, partitioned by device id, in order.
func TestBenchIngress(t *testing.T) {
	for _, s := range streams {
		for _, batch := range []int{0, 100} {
			t.Run(s.name+"/"+strconv.Itoa(batch), func(t *testing.T) {
				fake := &kinesisfake.Transport{Keep: true}
				in := newIngress(t, s.new(t, fake), batch)
				for round := range 2 {
					if got := in.serve(); got != http.StatusNoContent {
						t.Fatalf("round %d: status %d, body %s", round, got, in.w.out.String())
					}
				}
				recs := fake.Records()
				if len(recs) != 2*in.msgs {
					t.Fatalf("got %d records, want %d", len(recs), 2*in.msgs)
				}
				for i, r := range recs {
					if r.StreamName != benchStream || r.PartitionKey != benchDevice {
						t.Fatalf("record %d: stream %q key %q", i, r.StreamName, r.PartitionKey)
					}
					m, err := telemetry.Decode(r.Data)
					if err != nil {
						t.Fatalf("record %d: %v", i, err)
					}
					seq := strconv.Itoa(i % in.msgs)
					if m.DeviceID != benchDevice || m.MessageID != "msg-"+seq || m.Properties["seq"] != seq ||
						string(m.Body) != singleBody {
						t.Fatalf("record %d: %+v", i, m)
					}
				}
			})
		}
	}
}

// BenchmarkIngest: ns/op and allocs/op are per request; ns/msg divides by
// the messages in it.
func BenchmarkIngest(b *testing.B) {
	for _, s := range streams {
		for _, batch := range []int{0, 100} {
			name := "single"
			if batch > 0 {
				name = "batch" + strconv.Itoa(batch)
			}
			b.Run(name+"/"+s.name, func(b *testing.B) {
				in := newIngress(b, s.new(b, &kinesisfake.Transport{}), batch)
				b.ReportAllocs()
				b.SetBytes(int64(len(in.payload)))
				for b.Loop() {
					if got := in.serve(); got != http.StatusNoContent {
						b.Fatalf("status %d, body %s", got, in.w.out.String())
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*in.msgs), "ns/msg")
			})
		}
	}
}
