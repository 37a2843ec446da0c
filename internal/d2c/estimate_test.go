package d2c

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/jsonstr"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// recordingStream keeps the records it is given.
type recordingStream struct{ records [][]byte }

func (s *recordingStream) PutRecords(_ context.Context, _ string, recs [][]byte) (Result, error) {
	for _, r := range recs {
		s.records = append(s.records, bytes.Clone(r))
	}
	return Result{FailedFrom: -1}, nil
}

// The estimate Ingest sizes its buffer by covers every envelope whose
// strings need no escaping, in both versions, whichever fields are set.
func TestEstimate(t *testing.T) {
	long := strings.Repeat("x", MaxIDLength)
	systems := []telemetry.SystemProperties{
		{DeviceID: "d", AuthGenerationID: "g", AuthMethod: telemetry.AuthMethodSAS, EnqueuedTime: time.Unix(1, 0)},
		{DeviceID: long, AuthGenerationID: long, AuthMethod: `{"scope":"unknown","type":"x"}`, EnqueuedTime: time.Now(),
			MessageID: long, CorrelationID: long, UserID: long, ContentType: "application/vnd.custom+json", ContentEncoding: "utf-32"},
		{DeviceID: "d", AuthGenerationID: "g", AuthMethod: telemetry.AuthMethodX509CA, EnqueuedTime: time.Now(),
			MessageID: "m", ContentType: "application/json", ContentEncoding: "utf-8"},
	}
	bodies := [][]byte{nil, []byte(`{"t":1}`), []byte("binary\x00\xff"), []byte(strings.Repeat("7", 1000)), bytes.Repeat([]byte{0xfe}, 1000)}
	for _, version := range versions {
		for _, sys := range systems {
			for _, body := range bodies {
				for _, ps := range [][]iothub.Property{nil, props(1), props(64)} {
					enc := newEnvelopeEncoder(version, nil, &sys)
					m := Message{Body: body, MessageID: sys.MessageID, CorrelationID: sys.CorrelationID, UserID: sys.UserID,
						ContentType: sys.ContentType, ContentEncoding: sys.ContentEncoding, Properties: ps}
					got := len(enc.append(nil, &sys, ps, body))
					if est := enc.estimate(&m); est < got {
						t.Fatalf("v%d: estimate %d < %d for %+v, body %q, %d properties", version, est, got, sys, body, len(ps))
					}
				}
			}
		}
	}
}

// A message whose strings need escaping outgrows the estimate: the buffer
// grows, and the records written before keep their bytes.
func TestIngestGrowsPastTheEstimate(t *testing.T) {
	escaped := strings.Repeat(`\"`, 60) // printable, as ids must be: each byte escaped
	batch := []Message{
		{Body: []byte(`{"n":0}`), MessageID: "m0"},
		{Body: []byte(`{"n":1}`), MessageID: escaped, CorrelationID: escaped, UserID: escaped, ContentType: strings.Repeat("\x01", 200)},
		{Body: []byte(`{"n":2}`), MessageID: "m2"},
	}
	for _, version := range versions {
		s := &recordingStream{}
		in := &Ingestor{Stream: s, Now: time.Now, RecordVersion: version}
		if err := in.Ingest(context.Background(), dev, batch); err != nil {
			t.Fatal(err)
		}
		est, size := 0, 0
		enc := newEnvelopeEncoder(version, nil, &telemetry.SystemProperties{DeviceID: dev.DeviceID, AuthGenerationID: dev.GenerationID, AuthMethod: dev.AuthMethod})
		for i, r := range s.records {
			est += enc.estimate(&batch[i])
			size += len(r)
		}
		if est >= size {
			t.Fatalf("v%d: the batch fits its estimate (%d >= %d): the test does not grow the buffer", version, est, size)
		}
		for i, r := range s.records {
			m, err := telemetry.Decode(r)
			if err != nil || m.MessageID != batch[i].MessageID || string(m.Body) != string(batch[i].Body) {
				t.Fatalf("v%d record %d: %+v, %v", version, i, m, err)
			}
			if i == 1 && (m.CorrelationID != escaped || m.UserID != escaped || m.ContentType != batch[1].ContentType) {
				t.Fatalf("v%d: %+v", version, m.SystemProperties)
			}
		}
	}
}

var bodies = []string{"", "1", " 1", "1 ", "\n{}", "{}\t", `{"t":21.5}`, `"\u00e9"`, "\"\xff\"", "[1,2", "null", "nul", `{"a":[{"b":true}]}`, "é", `"é"`}

func TestBodyIsJSON(t *testing.T) {
	for _, b := range bodies {
		if got, want := bodyIsJSON([]byte(b)), telemetry.BodyIsJSON([]byte(b)); got != want {
			t.Errorf("%q: %v, want %v", b, got, want)
		}
	}
}

func FuzzBodyIsJSON(f *testing.F) {
	for _, b := range bodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := bodyIsJSON(b), telemetry.BodyIsJSON(b); got != want {
			t.Fatalf("%q: %v, want %v", b, got, want)
		}
	})
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "msg-0", "a b~\x7f", `q"`, `b\`, "\x01", "é", "\xff", "\u2028", "0123456789abcdef0123"} {
		if got, want := appendString([]byte("x"), s), jsonstr.Append([]byte("x"), s); !bytes.Equal(got, want) {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("msg-0")
	f.Add("a\"b\\c\x01é\xff\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendString(nil, s), jsonstr.Append(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: %s, want %s", s, got, want)
		}
	})
}
