package d2c

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// appendEnvelope encodes one message on its own.
func appendEnvelope(dst []byte, sys *telemetry.SystemProperties, props []iothub.Property, body []byte) []byte {
	e := newEnvelopeEncoder(nil, sys)
	return e.append(dst, sys, props, body)
}

// Every envelope the hub writes must decode, with the public decoder, to
// what went in.
func TestEnvelopeDecodeRoundTrip(t *testing.T) {
	enq := time.Date(2026, 11, 26, 8, 0, 0, 123456789, time.UTC)
	sys := telemetry.SystemProperties{
		MessageID: "m-1", CorrelationID: "c\"1", UserID: "u\\1", ContentType: "application/json", ContentEncoding: "utf-8",
		DeviceID: "dev-1", AuthGenerationID: "638", AuthMethod: `{"scope":"device"}`, EnqueuedTime: enq,
	}
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
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := appendEnvelope(nil, &sys, tc.props, tc.body)
			if !json.Valid(rec) {
				t.Fatalf("envelope is not valid JSON: %s", rec)
			}
			if n := envelopeSize(&sys, tc.props, tc.body); len(rec) > n {
				t.Fatalf("Size %d < actual %d", n, len(rec))
			}
			var env struct {
				BodyEncoding string `json:"bodyEncoding"`
			}
			_ = json.Unmarshal(rec, &env)
			if env.BodyEncoding != tc.encoding {
				t.Fatalf("bodyEncoding %q, want %q", env.BodyEncoding, tc.encoding)
			}
			m, err := telemetry.Decode(rec)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Body, tc.body) {
				t.Fatalf("body %q, want %q", m.Body, tc.body)
			}
			if m.SystemProperties != sys {
				t.Fatalf("system properties\n got %+v\nwant %+v", m.SystemProperties, sys)
			}
			if len(m.Properties) != len(tc.props) {
				t.Fatalf("properties %v", m.Properties)
			}
			for _, p := range tc.props {
				if m.Properties[p.Name] != p.Value {
					t.Fatalf("property %q = %q, want %q", p.Name, m.Properties[p.Name], p.Value)
				}
			}
		})
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
	for _, st := range stamped {
		var scratch [8]byte // too small: newEnvelopeEncoder must grow it
		enc := newEnvelopeEncoder(scratch[:0], &st)
		for _, o := range own {
			sys := st
			sys.MessageID, sys.CorrelationID, sys.UserID = o.MessageID, o.CorrelationID, o.UserID
			sys.ContentType, sys.ContentEncoding = o.ContentType, o.ContentEncoding
			for _, body := range [][]byte{[]byte(`{"t":1}`), {0xff, 0}} {
				want := appendEnvelope([]byte("prefix"), &sys, props, body)
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
