package telemetry

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestHandleKinesisEvent(t *testing.T) {
	rec := func(seq, data string) events.KinesisEventRecord {
		return events.KinesisEventRecord{Kinesis: events.KinesisRecord{Data: []byte(data), SequenceNumber: seq, PartitionKey: "d"}}
	}
	good := func(n string) string {
		return `{"v":2,"i":"m` + n + `","d":"d","g":"1","a":1,"t":1000,"b":{"n":` + n + `}}`
	}
	refuse3 := func(m Message) error {
		if m.MessageID == "m3" {
			return errors.New("sink refused")
		}
		return nil
	}
	for _, tc := range []struct {
		name    string
		records []events.KinesisEventRecord
		fn      func(Message) error
		handled []string // sequence numbers fn saw
		failed  []string // the partial batch response
		err     string   // in stopped
	}{
		{"all handled", []events.KinesisEventRecord{rec("1", good("1")), rec("2", good("2"))}, nil, []string{"1", "2"}, nil, ""},
		{"empty batch", nil, nil, nil, nil, ""},
		{"undecodable record stops the batch", []events.KinesisEventRecord{rec("1", good("1")), rec("2", "not json"), rec("3", good("3"))}, nil,
			[]string{"1"}, []string{"2"}, "record 2:"},
		{"handler failure stops the batch", []events.KinesisEventRecord{rec("1", good("1")), rec("3", good("3")), rec("4", good("4"))}, refuse3,
			[]string{"1", "3"}, []string{"3"}, "record 3: sink refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var handled []string
			resp, stopped := HandleKinesisEvent(events.KinesisEvent{Records: tc.records}, func(m Message) error {
				handled = append(handled, m.SequenceNumber)
				if m.PartitionKey != "d" || m.DeviceID != "d" {
					t.Errorf("message %+v", m)
				}
				if tc.fn != nil {
					return tc.fn(m)
				}
				return nil
			})
			var failed []string
			for _, f := range resp.BatchItemFailures {
				failed = append(failed, f.ItemIdentifier)
			}
			if !reflect.DeepEqual(handled, tc.handled) || !reflect.DeepEqual(failed, tc.failed) {
				t.Errorf("handled %v, failed %v; want %v, %v", handled, failed, tc.handled, tc.failed)
			}
			if (stopped == nil) != (tc.err == "") || stopped != nil && !strings.Contains(stopped.Error(), tc.err) {
				t.Errorf("stopped %v, want %q", stopped, tc.err)
			}
		})
	}
}
