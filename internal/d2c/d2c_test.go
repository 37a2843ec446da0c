package d2c

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// fakeStream is a small fake of the Stream interface: it appends accepted
// records to log, rejecting records by a per-call plan.
type fakeStream struct {
	log   []string
	calls [][]string
	// reject[i] lists the indexes to reject on call i; failCall[i] fails call i whole.
	reject    map[int][]int
	failCall  map[int]error
	throttled bool
}

func (f *fakeStream) PutRecords(_ context.Context, key string, recs [][]byte) (Result, error) {
	call := len(f.calls)
	var bodies []string
	for _, r := range recs {
		m, err := telemetry.Decode(r)
		if err != nil {
			return Result{}, err
		}
		if m.DeviceID != key {
			return Result{}, errors.New("partition key differs from device id")
		}
		bodies = append(bodies, string(m.Body))
	}
	f.calls = append(f.calls, bodies)
	if err := f.failCall[call]; err != nil {
		return Result{}, err
	}
	rejected := map[int]bool{}
	for _, i := range f.reject[call] {
		rejected[i] = true
	}
	res := Result{FailedFrom: -1}
	for i, b := range bodies {
		if rejected[i] {
			if res.FailedFrom < 0 {
				res.FailedFrom, res.Throttled = i, f.throttled
			}
			continue
		}
		f.log = append(f.log, b)
	}
	return res, nil
}

var dev = registry.Identity{DeviceID: "dev1", GenerationID: "g1", AuthMethod: registry.AuthMethodSAS}

func msgs(bodies ...string) []Message {
	out := make([]Message, len(bodies))
	for i, b := range bodies {
		out[i] = Message{Body: []byte(b)}
	}
	return out
}

func props(n int) []iothub.Property {
	out := make([]iothub.Property, n)
	for i := range out {
		out[i] = iothub.Property{Name: "p" + strconv.Itoa(i), Value: "v"}
	}
	return out
}

func seq(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
	}
	return out
}

func TestIngestOrderSurvivesPartialFailure(t *testing.T) {
	bodies := seq(10)
	f := &fakeStream{reject: map[int][]int{0: {3, 7}}} // Kinesis accepts 0-2, 4-6, 8-9 on the first call
	in := &Ingestor{Stream: f, Now: time.Now, Backoff: time.Microsecond}
	if err := in.Ingest(context.Background(), dev, msgs(bodies...)); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 2 || strings.Join(f.calls[1], ",") != strings.Join(bodies[3:], ",") {
		t.Fatalf("second call must resend from the first rejected record: %v", f.calls)
	}
	// The final run of the log holds every message in order after the last
	// accepted prefix: 0-2 then 3-9.
	tail := f.log[len(f.log)-7:]
	if strings.Join(f.log[:3], ",") != "000,001,002" || strings.Join(tail, ",") != strings.Join(bodies[3:], ",") {
		t.Fatalf("stream log %v", f.log)
	}
}

// put, below Ingest's cap, still writes any number of records in calls of
// at most 500, in order.
func TestPutChunksAt500(t *testing.T) {
	bodies := seq(1200)
	f := &fakeStream{}
	in := &Ingestor{Stream: f, Now: time.Now}
	sys := telemetry.SystemProperties{DeviceID: dev.DeviceID, EnqueuedTime: time.Now()}
	enc := newEnvelopeEncoder(telemetry.Version, nil, &sys)
	records := make([][]byte, len(bodies))
	for i, b := range bodies {
		records[i] = enc.append(nil, &sys, nil, []byte(b))
	}
	if err := in.put(context.Background(), dev.DeviceID, records); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 3 || len(f.calls[0]) != 500 || len(f.calls[2]) != 200 {
		t.Fatalf("calls of %d, %d, ...", len(f.calls[0]), len(f.calls[1]))
	}
	if strings.Join(f.log, ",") != strings.Join(bodies, ",") {
		t.Fatal("records out of order")
	}
}

// A request holds at most MaxBatchMessages messages, so it is at most one
// PutRecords call; one more is MessageTooLarge and writes nothing.
func TestIngestMessageCap(t *testing.T) {
	f := &fakeStream{}
	in := &Ingestor{Stream: f, Now: time.Now}
	if err := in.Ingest(context.Background(), dev, msgs(seq(MaxBatchMessages)...)); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 1 || len(f.log) != MaxBatchMessages {
		t.Fatalf("%d calls, %d records", len(f.calls), len(f.log))
	}
	f = &fakeStream{}
	in.Stream = f
	err := in.Ingest(context.Background(), dev, msgs(seq(MaxBatchMessages+1)...))
	if e, ok := apierr.As(err); !ok || e.Name != "MessageTooLarge" || len(f.calls) != 0 {
		t.Fatalf("err = %v, %d calls", err, len(f.calls))
	}
}

func TestIngestFailures(t *testing.T) {
	cases := []struct {
		name       string
		stream     *fakeStream
		wantKind   apierr.Kind
		wantStatus string
	}{
		{"throttled on every try", &fakeStream{throttled: true, reject: map[int][]int{0: {0}, 1: {0}, 2: {0}, 3: {0}}}, apierr.Throttled, "ThrottlingException"},
		{"call throttled", &fakeStream{failCall: map[int]error{0: ErrThrottled, 1: ErrThrottled, 2: ErrThrottled, 3: ErrThrottled}}, apierr.Throttled, "ThrottlingException"},
		{"stream down", &fakeStream{failCall: map[int]error{0: errors.New("dial"), 1: errors.New("dial"), 2: errors.New("dial"), 3: errors.New("dial")}}, apierr.Unavailable, "ServiceUnavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := &Ingestor{Stream: tc.stream, Now: time.Now, Backoff: time.Microsecond}
			err := in.Ingest(context.Background(), dev, msgs("a", "b"))
			e, ok := apierr.As(err)
			if !ok || e.Kind != tc.wantKind || e.Name != tc.wantStatus || e.RetryAfter <= 0 {
				t.Fatalf("err = %v", err)
			}
			if len(tc.stream.calls) != 4 {
				t.Fatalf("%d calls, want 1 + 3 retries", len(tc.stream.calls))
			}
		})
	}
}

func TestIngestRecoversAfterTransientFailure(t *testing.T) {
	f := &fakeStream{failCall: map[int]error{0: errors.New("reset")}}
	in := &Ingestor{Stream: f, Now: time.Now, Backoff: time.Microsecond}
	if err := in.Ingest(context.Background(), dev, msgs("a", "b")); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.log, ",") != "a,b" {
		t.Fatalf("log %v", f.log)
	}
}

func TestValidate(t *testing.T) {
	big := strings.Repeat("x", MaxMessageSize)
	cases := []struct {
		name string
		msgs []Message
		kind apierr.Kind
	}{
		{"ok", []Message{{Body: []byte("x"), MessageID: "m", Properties: []iothub.Property{{Name: "a-b.c_d", Value: "v!#$%&'*+-.^_`|~1"}}}}, -1},
		{"empty batch", nil, apierr.Invalid},
		{"long message id", []Message{{MessageID: strings.Repeat("m", 129)}}, apierr.Invalid},
		{"long correlation id", []Message{{CorrelationID: strings.Repeat("c", 129)}}, apierr.Invalid},
		{"long user id", []Message{{UserID: strings.Repeat("u", 129)}}, apierr.Invalid},
		{"printable ids", []Message{{MessageID: "a b:c", CorrelationID: "(x)", UserID: "u@h"}}, -1},
		{"non-ASCII message id", []Message{{MessageID: "caf\u00e9"}}, apierr.Invalid},
		{"control character in correlation id", []Message{{CorrelationID: "a\nb"}}, apierr.Invalid},
		{"invalid UTF-8 in user id", []Message{{UserID: "a\xffb"}}, apierr.Invalid},
		{"65 properties", []Message{{Properties: props(65)}}, apierr.Invalid},
		{"64 properties", []Message{{Properties: props(64)}}, -1},
		{"a name twice ignoring case", []Message{{Properties: []iothub.Property{{Name: "a", Value: "1"}, {Name: "A", Value: "2"}}}}, apierr.Invalid},
		{"space in name", []Message{{Properties: []iothub.Property{{Name: "a b", Value: "v"}}}}, apierr.Invalid},
		{"empty name", []Message{{Properties: []iothub.Property{{Name: "", Value: "v"}}}}, apierr.Invalid},
		{"non-ascii value", []Message{{Properties: []iothub.Property{{Name: "a", Value: "é"}}}}, apierr.Invalid},
		{"quote in value", []Message{{Properties: []iothub.Property{{Name: "a", Value: `"`}}}}, apierr.Invalid},
		{"exactly 256 KB", []Message{{Body: []byte(big)}}, -1},
		{"message over 256 KB", []Message{{Body: []byte(big), Properties: []iothub.Property{{Name: "a", Value: "b"}}}}, apierr.TooLarge},
		{"batch over 256 KB", []Message{{Body: []byte(big[:MaxBatchSize/2])}, {Body: []byte(big[:MaxBatchSize/2+1])}}, apierr.TooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeStream{}
			in := &Ingestor{Stream: f, Now: time.Now}
			err := in.Ingest(context.Background(), dev, tc.msgs)
			if tc.kind < 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if apierr.KindOf(err) != tc.kind || err == nil {
				t.Fatalf("err = %v, want kind %d", err, tc.kind)
			}
			if len(f.calls) != 0 {
				t.Fatal("rejected input reached the stream")
			}
		})
	}
}
