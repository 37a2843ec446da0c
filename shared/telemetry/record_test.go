package telemetry

import (
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{
		`not json`,
		`{"v":2,"systemProperties":{},"bodyEncoding":"json","body":1}`, // v2 without its fields
		`{"v":1,"systemProperties":{},"bodyEncoding":"gzip","body":1}`,
		`{"v":1,"systemProperties":{},"bodyEncoding":"base64","body":"!!"}`,
		`{"v":1,"systemProperties":{},"bodyEncoding":"base64","body":5}`,
		`{"v":3,"d":"x","t":1,"b":1}`,
		`{"v":2,"d":"x","g":"1","a":1,"b":1}`,                // no enqueued time
		`{"v":2,"d":"x","g":"1","a":1,"t":1}`,                // no body
		`{"v":2,"d":"x","g":"1","a":1,"t":1,"b":1,"b64":""}`, // two bodies
		`{"v":2,"d":"x","g":"1","a":9,"t":1,"b":1}`,          // unknown code
		`{"v":2,"d":"x","g":"1","a":1,"c":0,"t":1,"b":1}`,    // code 0
		`{"v":2,"d":"x","g":"1","a":1,"t":1,"b64":"!!"}`,
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

// The sample records in events/ must decode, both to the same message:
// they are what the README shows.
func TestSampleRecordDecodes(t *testing.T) {
	var got []Message
	for _, path := range samples {
		raw, err := readSample(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if m.DeviceID == "" || len(m.Body) == 0 {
			t.Fatalf("%s decoded to %+v", path, m)
		}
		got = append(got, m)
	}
	got[0].EnqueuedTime = got[0].EnqueuedTime.Truncate(time.Millisecond) // v2 keeps milliseconds
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Errorf("the v1 and v2 samples differ:\n v1 %+v\n v2 %+v", got[0], got[1])
	}
}

// A v2 record's codes expand to the values IoT Hub writes; strings stay.
func TestDecodeV2(t *testing.T) {
	m, err := Decode([]byte(`{"v":2,"i":"m","c":"text/csv","e":1,"d":"dev","g":"7","a":2,"t":1500,"b64":"AAE="}`))
	if err != nil {
		t.Fatal(err)
	}
	want := SystemProperties{MessageID: "m", ContentType: "text/csv", ContentEncoding: "utf-8", DeviceID: "dev", AuthGenerationID: "7",
		AuthMethod: AuthMethodX509Certificate, EnqueuedTime: time.UnixMilli(1500).UTC()}
	if m.SystemProperties != want || string(m.Body) != "\x00\x01" || m.Properties == nil {
		t.Fatalf("decoded %+v", m)
	}
}
