// Package kinesisput_test runs the lean PutRecords client against the
// Kinesis emulator over the wire and reads the records back with the SDK.
package kinesisput_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/kinesisput"
	"github.com/devicehub/devicehub/internal/provision"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestPutRecordsReadBack(t *testing.T) {
	ctx := context.Background()
	endpoint, _ := testenv.Endpoints()
	cfg := awsenv.Static("us-east-1")
	sdk := awsenv.Kinesis(cfg, endpoint)
	cases := []struct {
		name    string
		key     string
		records [][]byte
	}{
		{"one record", "dev-1", [][]byte{[]byte(`{"v":1}`)}},
		{"binary and order", "dev-2", [][]byte{{0, 1, 2, 0xff}, []byte("second"), bytes.Repeat([]byte("x"), 10_000)}},
		{"a full call", "dev-3", numbered(500)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := fmt.Sprintf("kinesisput-%d-%s", i, randomSuffix(t))
			if err := provision.CreateStream(ctx, sdk, stream, 1); err != nil {
				t.Fatal(err)
			}
			c, err := kinesisput.FromSDK(sdk, stream)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.PutRecords(ctx, tc.key, tc.records)
			if err != nil || res.FailedFrom != -1 {
				t.Fatalf("PutRecords = %+v, %v", res, err)
			}
			got := readAll(t, sdk, stream, len(tc.records))
			for j, r := range got {
				if aws.ToString(r.PartitionKey) != tc.key || !bytes.Equal(r.Data, tc.records[j]) {
					t.Fatalf("record %d: key %q, %d bytes, want %d", j, aws.ToString(r.PartitionKey), len(r.Data), len(tc.records[j]))
				}
			}
		})
	}
}

// A stream that does not exist is an error, not a throttle.
func TestPutRecordsMissingStream(t *testing.T) {
	endpoint, _ := testenv.Endpoints()
	c, err := kinesisput.FromSDK(awsenv.Kinesis(awsenv.Static("us-east-1"), endpoint), "no-such-stream-"+randomSuffix(t))
	if err != nil {
		t.Fatal(err)
	}
	var api *kinesisput.APIError
	_, err = c.PutRecords(context.Background(), "d", [][]byte{[]byte("x")})
	if !asAPIError(err, &api) || api.Code != "ResourceNotFoundException" {
		t.Fatalf("err = %v", err)
	}
}

func numbered(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf(`{"seq":%d}`, i))
	}
	return out
}

func readAll(t *testing.T, k *kinesis.Client, stream string, want int) []types.Record {
	t.Helper()
	ctx := context.Background()
	shards, err := k.ListShards(ctx, &kinesis.ListShardsInput{StreamName: &stream})
	if err != nil {
		t.Fatal(err)
	}
	it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: &stream, ShardId: shards.Shards[0].ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	var recs []types.Record
	for iter, calls := it.ShardIterator, 0; iter != nil && len(recs) < want && calls < 50; calls++ {
		out, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Records) == 0 && len(recs) > 0 {
			break
		}
		recs = append(recs, out.Records...)
		iter = out.NextShardIterator
	}
	if len(recs) != want {
		t.Fatalf("read %d records, want %d", len(recs), want)
	}
	return recs
}
