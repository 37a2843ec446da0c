package d2c

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// appendEnvelope encodes one message on its own.
func appendEnvelope(version int, dst []byte, sys *telemetry.SystemProperties, props []iothub.Property, body []byte) []byte {
	e := newEnvelopeEncoder(version, nil, sys)
	return e.append(dst, sys, props, body)
}

// versions are the envelope versions the hub can write.
var versions = []int{telemetry.V1, telemetry.V2}

// Every envelope the hub writes, of either version, must decode with the
// public decoder to what went in (version 2 keeps the enqueued time to the
// millisecond), whether its content type, encoding and auth method are
// well-known values written as codes or others written as strings.
func TestEnvelopeDecodeRoundTrip(t *testing.T) {
	enq := time.Date(2026, 11, 26, 8, 0, 0, 123456789, time.UTC)
	systems := []telemetry.SystemProperties{{
		MessageID: "m-1", CorrelationID: "c\"1", UserID: "u\\1", ContentType: "application/json", ContentEncoding: "utf-8",
		DeviceID: "dev-1", AuthGenerationID: "638", AuthMethod: `{"scope":"device"}`, EnqueuedTime: enq,
	}, {
		MessageID: "m-2", ContentType: "application/vnd.x+json; charset=\"utf-8\"", ContentEncoding: "gzip",
		DeviceID: "dev-2", AuthGenerationID: "639", AuthMethod: telemetry.AuthMethodSAS, EnqueuedTime: enq,
	}, {
		ContentType: "text/plain", ContentEncoding: "utf-16",
		DeviceID: "dev-3", AuthGenerationID: "640", AuthMethod: telemetry.AuthMethodX509CA, EnqueuedTime: enq,
	}}
	cases := []struct {
		name     string
		body     []byte
		props    []iothub.Property
		encoding string
	}{
		{"json object kept byte for byte", []byte("{\"t\": 21.5,\n \"ok\":true}"), []iothub.Property{{Name: "a", Value: "1"}, {Name: "b", Value: "x y"}}, telemetry.EncodingJSON},
		{"json string", []byte(`"hi"`), nil, telemetry.EncodingJSON},
		{"json with trailing newline is base64", []byte("{\"a\":1}\n"), nil, telemetry.EncodingBase64},
		{"json with leading space is base64", []byte(" [1, 2]"), nil, telemetry.EncodingBase64},
		{"text is base64", []byte("hello world"), nil, telemetry.EncodingBase64},
		{"binary is base64", []byte{0, 1, 2, 0xff, 0xfe}, []iothub.Property{{Name: "bin", Value: "1"}}, telemetry.EncodingBase64},
		{"invalid utf-8 json-ish is base64", []byte("\"\xff\""), nil, telemetry.EncodingBase64},
		{"empty body", []byte{}, nil, telemetry.EncodingBase64},
		{"control characters in property", []byte(`1`), []iothub.Property{{Name: "k\n", Value: "\x01\u2028"}}, telemetry.EncodingJSON},
	}
	for _, version := range versions {
		for si, sys := range systems {
			for _, tc := range cases {
				t.Run(fmt.Sprintf("v%d/sys%d/%s", version, si, tc.name), func(t *testing.T) {
					roundTrip(t, version, sys, tc.props, tc.body, tc.encoding)
				})
			}
		}
	}
}

func roundTrip(t *testing.T, version int, sys telemetry.SystemProperties, props []iothub.Property, body []byte, encoding string) {
	t.Helper()
	rec := appendEnvelope(version, nil, &sys, props, body)
	if !json.Valid(rec) {
		t.Fatalf("envelope is not valid JSON: %s", rec)
	}
	if n := envelopeSize(&sys, props, body); len(rec) > n {
		t.Fatalf("Size %d < actual %d", n, len(rec))
	}
	var env struct {
		V            int             `json:"v"`
		BodyEncoding string          `json:"bodyEncoding"`
		B64          json.RawMessage `json:"b64"`
	}
	_ = json.Unmarshal(rec, &env)
	got := env.BodyEncoding
	if env.V == telemetry.V2 {
		got = telemetry.EncodingJSON
		if env.B64 != nil {
			got = telemetry.EncodingBase64
		}
	}
	if env.V != version || got != encoding {
		t.Fatalf("v%d body encoding %q, want v%d %q: %s", env.V, got, version, encoding, rec)
	}
	if version == telemetry.V2 {
		sys.EnqueuedTime = sys.EnqueuedTime.Truncate(time.Millisecond)
	}
	m, err := telemetry.Decode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Body, body) {
		t.Fatalf("body %q, want %q", m.Body, body)
	}
	if m.SystemProperties != sys {
		t.Fatalf("system properties\n got %+v\nwant %+v", m.SystemProperties, sys)
	}
	if len(m.Properties) != len(props) {
		t.Fatalf("properties %v", m.Properties)
	}
	for _, p := range props {
		if m.Properties[p.Name] != p.Value {
			t.Fatalf("property %q = %q, want %q", p.Name, m.Properties[p.Name], p.Value)
		}
	}
}

// An encoder reused across the messages of a request must write exactly
// what a fresh one writes, whichever fields are empty (the commas between the
// message's and the stamped properties depend on that).
func TestEncoderReuse(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	stamped := []telemetry.SystemProperties{
		{DeviceID: "d1", AuthGenerationID: "g", AuthMethod: `{"scope":"device"}`, EnqueuedTime: at},
		{DeviceID: "d\"2", EnqueuedTime: at},
		{EnqueuedTime: at},
	}
	own := []telemetry.SystemProperties{
		{},
		{MessageID: "m1"},
		{MessageID: "m1", CorrelationID: "c\n", UserID: "u", ContentType: "application/json", ContentEncoding: "utf-8"},
		{ContentEncoding: "utf-8"},
	}
	props := []iothub.Property{{Name: "a", Value: "1"}, {Name: "b\u2028", Value: "2"}}
	for _, version := range versions {
		for _, st := range stamped {
			var scratch [8]byte // too small: newEnvelopeEncoder must grow it
			enc := newEnvelopeEncoder(version, scratch[:0], &st)
			for _, o := range own {
				sys := st
				sys.MessageID, sys.CorrelationID, sys.UserID = o.MessageID, o.CorrelationID, o.UserID
				sys.ContentType, sys.ContentEncoding = o.ContentType, o.ContentEncoding
				for _, body := range [][]byte{[]byte(`{"t":1}`), {0xff, 0}} {
					want := appendEnvelope(version, []byte("prefix"), &sys, props, body)
					got := enc.append([]byte("prefix"), &sys, props, body)
					if !bytes.Equal(got, want) {
						t.Fatalf("stamped %+v own %+v\n got %s\nwant %s", st, o, got, want)
					}
					if _, err := telemetry.Decode(got[len("prefix"):]); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}
