package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/devicehub/devicehub/shared/telemetry"
)

// ReadStream returns every record in the env's stream, each shard from
// TRIM_HORIZON to its tip, in shard order. Call it after the hub has
// acknowledged the sends: an acknowledged message is already in the stream.
func (e *Env) ReadStream(t testing.TB) []telemetry.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	shards, err := e.Kinesis.ListShards(ctx, &kinesis.ListShardsInput{StreamName: &e.Config.StreamName})
	if err != nil {
		t.Fatal(err)
	}
	var out []telemetry.Message
	for _, s := range shards.Shards {
		it, err := e.Kinesis.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: &e.Config.StreamName, ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			recs, err := e.Kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs.Records {
				m, err := telemetry.Decode(r.Data)
				if err != nil {
					t.Fatalf("record %s: %v\n%s", *r.SequenceNumber, err, r.Data)
				}
				m.SequenceNumber, m.PartitionKey = *r.SequenceNumber, *r.PartitionKey
				out = append(out, m)
			}
			if len(recs.Records) == 0 && (recs.MillisBehindLatest == nil || *recs.MillisBehindLatest == 0) {
				break
			}
			iter = recs.NextShardIterator
		}
	}
	return out
}
