package telemetry

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/devicehub/devicehub/shared/iothub"
)

func TestAppendDecodeRoundTrip(t *testing.T) {
	enq := time.Date(2026, 11, 26, 8, 0, 0, 123456789, time.UTC)
	sys := SystemProperties{
		MessageID: "m-1", CorrelationID: "c\"1", UserID: "u\\1", ContentType: "application/json", ContentEncoding: "utf-8",
		DeviceID: "dev-1", AuthGenerationID: "638", AuthMethod: `{"scope":"device"}`, EnqueuedTime: enq,
	}
	cases := []struct {
		name     string
		body     []byte
		props    []iothub.Property
		encoding string
	}{
		{"json object kept byte for byte", []byte("{\"t\": 21.5,\n \"ok\":true}"), []iothub.Property{{Name: "a", Value: "1"}, {Name: "b", Value: "x y"}}, EncodingJSON},
		{"json string", []byte(`"hi"`), nil, EncodingJSON},
		{"json with trailing newline is base64", []byte("{\"a\":1}\n"), nil, EncodingBase64},
		{"json with leading space is base64", []byte(" [1, 2]"), nil, EncodingBase64},
		{"text is base64", []byte("hello world"), nil, EncodingBase64},
		{"binary is base64", []byte{0, 1, 2, 0xff, 0xfe}, []iothub.Property{{Name: "bin", Value: "1"}}, EncodingBase64},
		{"invalid utf-8 json-ish is base64", []byte("\"\xff\""), nil, EncodingBase64},
		{"empty body", []byte{}, nil, EncodingBase64},
		{"control characters in property", []byte(`1`), []iothub.Property{{Name: "k\n", Value: "\x01\u2028"}}, EncodingJSON},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := Append(nil, &sys, tc.props, tc.body)
			if !json.Valid(rec) {
				t.Fatalf("envelope is not valid JSON: %s", rec)
			}
			if n := Size(&sys, tc.props, tc.body); len(rec) > n {
				t.Fatalf("Size %d < actual %d", n, len(rec))
			}
			var env struct {
				BodyEncoding string `json:"bodyEncoding"`
			}
			_ = json.Unmarshal(rec, &env)
			if env.BodyEncoding != tc.encoding {
				t.Fatalf("bodyEncoding %q, want %q", env.BodyEncoding, tc.encoding)
			}
			m, err := Decode(rec)
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

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{
		`not json`,
		`{"v":2,"systemProperties":{},"bodyEncoding":"json","body":1}`,
		`{"v":1,"systemProperties":{},"bodyEncoding":"gzip","body":1}`,
		`{"v":1,"systemProperties":{},"bodyEncoding":"base64","body":"!!"}`,
		`{"v":1,"systemProperties":{},"bodyEncoding":"base64","body":5}`,
	} {
		if _, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%s) succeeded", in)
		}
	}
}

func TestDecodeKinesisEvent(t *testing.T) {
	sys := SystemProperties{DeviceID: "d", EnqueuedTime: time.Unix(1, 0).UTC()}
	ev := events.KinesisEvent{Records: []events.KinesisEventRecord{
		{Kinesis: events.KinesisRecord{Data: Append(nil, &sys, nil, []byte(`{"n":1}`)), SequenceNumber: "1", PartitionKey: "d"}},
		{Kinesis: events.KinesisRecord{Data: Append(nil, &sys, nil, []byte(`{"n":2}`)), SequenceNumber: "2", PartitionKey: "d"}},
	}}
	msgs, err := DecodeKinesisEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || string(msgs[1].Body) != `{"n":2}` || msgs[1].SequenceNumber != "2" || msgs[0].PartitionKey != "d" {
		t.Fatalf("decoded %+v", msgs)
	}
}

// The sample record in events/ must decode: it is what the README shows.
func TestSampleRecordDecodes(t *testing.T) {
	raw, err := readSample()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.DeviceID == "" || len(m.Body) == 0 {
		t.Fatalf("sample decoded to %+v", m)
	}
}
