package endpoints

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Kinesis limits.
const (
	kinesisMaxRecords      = 500
	kinesisMaxCallBytes    = 5 << 20 // data and partition keys of one PutRecords
	kinesisMaxRecordBytes  = 1 << 20 // data and partition key of one record
	kinesisMaxPartitionKey = 256     // characters
)

// kinesisSender puts each message as one record, partition key = device id,
// so a device's messages land on one shard in order.
type kinesisSender struct {
	api    KinesisAPI
	stream string // name, or ARN when it starts with arn:
}

func (k *kinesisSender) Send(ctx context.Context, msgs []Message) []error {
	return batcher{
		max: kinesisMaxRecords, maxBytes: kinesisMaxCallBytes,
		size:  kinesisSize,
		check: k.check,
		put:   k.put,
	}.sendOrdered(ctx, msgs)
}

// kinesisSize is a record's size as Kinesis counts it: data and partition key.
func kinesisSize(m Message) int { return len(m.Data) + len(m.DeviceID) }

func (k *kinesisSender) check(m Message) error {
	if m.DeviceID == "" || utf8.RuneCountInString(m.DeviceID) > kinesisMaxPartitionKey {
		return permanent("kinesis %s: partition key (device id %q) must be 1 to %d characters", k.stream, m.DeviceID, kinesisMaxPartitionKey)
	}
	if n := kinesisSize(m); n > kinesisMaxRecordBytes {
		return permanent("kinesis %s: record of %d bytes exceeds the %d-byte limit", k.stream, n, kinesisMaxRecordBytes)
	}
	return nil
}

func (k *kinesisSender) put(ctx context.Context, batch []Message) []error {
	in := &kinesis.PutRecordsInput{Records: make([]types.PutRecordsRequestEntry, len(batch))}
	if strings.HasPrefix(k.stream, "arn:") {
		in.StreamARN = aws.String(k.stream)
	} else {
		in.StreamName = aws.String(k.stream)
	}
	for i, m := range batch {
		in.Records[i] = types.PutRecordsRequestEntry{Data: m.Data, PartitionKey: aws.String(m.DeviceID)}
	}
	op := "kinesis " + k.stream + ": put records"
	errs := make([]error, len(batch))
	out, err := k.api.PutRecords(ctx, in)
	if err == nil && len(out.Records) != len(batch) {
		err = fmt.Errorf("%d results for %d records", len(out.Records), len(batch))
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", op, err)
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for i, r := range out.Records {
		if r.ErrorCode != nil {
			errs[i] = entryError(op, *r.ErrorCode, aws.ToString(r.ErrorMessage))
		}
	}
	return errs
}
