package telemetry

import (
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

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
	rec := func(n string) []byte {
		return []byte(`{"v":1,"systemProperties":{"iothub-connection-device-id":"d","iothub-enqueuedtime":"1970-01-01T00:00:01Z"},"properties":{},"bodyEncoding":"json","body":{"n":` + n + `}}`)
	}
	ev := events.KinesisEvent{Records: []events.KinesisEventRecord{
		{Kinesis: events.KinesisRecord{Data: rec("1"), SequenceNumber: "1", PartitionKey: "d"}},
		{Kinesis: events.KinesisRecord{Data: rec("2"), SequenceNumber: "2", PartitionKey: "d"}},
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
