package telemetry

import (
	"fmt"

	"github.com/aws/aws-lambda-go/events"
)

// DecodeKinesisEvent decodes every record of a Lambda Kinesis event, in
// order, with the record's sequence number, partition key and arrival time.
func DecodeKinesisEvent(ev events.KinesisEvent) ([]Message, error) {
	out := make([]Message, 0, len(ev.Records))
	for _, r := range ev.Records {
		m, err := Decode(r.Kinesis.Data)
		if err != nil {
			return out, fmt.Errorf("record %s: %w", r.Kinesis.SequenceNumber, err)
		}
		m.SequenceNumber = r.Kinesis.SequenceNumber
		m.PartitionKey = r.Kinesis.PartitionKey
		m.ArrivalTime = r.Kinesis.ApproximateArrivalTimestamp.Time
		out = append(out, m)
	}
	return out, nil
}
