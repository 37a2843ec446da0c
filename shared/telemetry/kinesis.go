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
		m, err := decodeKinesisRecord(r)
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
	return out, nil
}

// HandleKinesisEvent decodes the records of a Lambda Kinesis event in order
// and hands each to fn, for a consumer whose event source mapping reports
// batch item failures (ReportBatchItemFailures, as infra/hub's AddConsumer
// sets). At the first record that does not decode or that fn fails, it
// stops: resp names that record, and Lambda retries the batch from it. A
// batch holds one shard's records in order, so the records after it come
// again with the retry; handling them now would only duplicate them.
//
// stopped is nil when every record was handled; otherwise it says which
// record and why, for the log. The Lambda handler returns resp with a nil
// error: an error would fail, and retry, the whole batch.
func HandleKinesisEvent(ev events.KinesisEvent, fn func(Message) error) (resp events.KinesisEventResponse, stopped error) {
	for _, r := range ev.Records {
		m, err := decodeKinesisRecord(r)
		if err == nil {
			if err = fn(m); err != nil {
				err = fmt.Errorf("record %s: %w", r.Kinesis.SequenceNumber, err)
			}
		}
		if err != nil {
			resp.BatchItemFailures = []events.KinesisBatchItemFailure{{ItemIdentifier: r.Kinesis.SequenceNumber}}
			return resp, err
		}
	}
	return resp, nil
}

func decodeKinesisRecord(r events.KinesisEventRecord) (Message, error) {
	m, err := Decode(r.Kinesis.Data)
	if err != nil {
		return Message{}, fmt.Errorf("record %s: %w", r.Kinesis.SequenceNumber, err)
	}
	m.SequenceNumber = r.Kinesis.SequenceNumber
	m.PartitionKey = r.Kinesis.PartitionKey
	m.ArrivalTime = r.Kinesis.ApproximateArrivalTimestamp.Time
	return m, nil
}
