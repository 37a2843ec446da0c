package d2c

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// PutRecordsAPI is the slice of the Kinesis client the stream uses.
type PutRecordsAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// KinesisStream writes to a Kinesis data stream with PutRecords.
type KinesisStream struct {
	Client     PutRecordsAPI
	StreamName string
}

// PutRecords implements Stream.
func (k *KinesisStream) PutRecords(ctx context.Context, partitionKey string, records [][]byte) (Result, error) {
	entries := make([]types.PutRecordsRequestEntry, len(records))
	for i, r := range records {
		entries[i] = types.PutRecordsRequestEntry{Data: r, PartitionKey: &partitionKey}
	}
	out, err := k.Client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: &k.StreamName, Records: entries})
	if err != nil {
		var pte *types.ProvisionedThroughputExceededException
		if errors.As(err, &pte) {
			return Result{}, fmt.Errorf("kinesis put records: %w: %w", ErrThrottled, err)
		}
		return Result{}, fmt.Errorf("kinesis put records: %w", err)
	}
	if out.FailedRecordCount == nil || *out.FailedRecordCount == 0 {
		return Result{FailedFrom: -1}, nil
	}
	for i, r := range out.Records {
		if r.ErrorCode != nil {
			return Result{FailedFrom: i, Throttled: *r.ErrorCode == "ProvisionedThroughputExceededException"}, nil
		}
	}
	return Result{}, errors.New("kinesis put records: failures reported but no record carries an error code")
}
