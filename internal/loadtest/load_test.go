package loadtest

import (
	"bytes"
	"context"
	"maps"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// A short, count-bounded run of each mode: no errors, and every message the
// hub acknowledged is in the stream once, exactly as sent. No timing is
// asserted: the machine is shared.
func TestLoadDeliversEveryMessage(t *testing.T) {
	ctx := context.Background()
	env, err := Start(ctx, EnvOptions{Devices: 4, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	const body = 120
	cases := []struct {
		name string
		cfg  Config
	}{
		{"single", Config{Messages: 4 * 50, BodySize: body, Rounds: 1}},
		{"batch", Config{Messages: 4 * 2 * 20, Batch: 20, BodySize: body, Rounds: 1}},
	}
	want := map[string]string{} // message id -> device id
	for _, tc := range cases {
		res, err := Run(ctx, env, tc.cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, r := range append(res.Hub, res.Ceiling...) {
			if r.Errors != 0 || r.Msgs != tc.cfg.Messages {
				t.Fatalf("%s %s: %d acknowledged of %d, %d errors, first %v", tc.name, r.Side, r.Msgs, tc.cfg.Messages, r.Errors, r.FirstErr)
			}
		}
		for _, id := range res.Hub[0].Acked {
			want[id] = ""
		}
	}
	seen := map[string]int{}
	for _, m := range readStream(t, env) {
		if _, ok := want[m.MessageID]; !ok {
			continue // a ceiling record
		}
		seen[m.MessageID]++
		if m.PartitionKey != m.DeviceID || m.AuthMethod != registry.AuthMethodSAS || m.ContentType != "application/json" ||
			m.ContentEncoding != "utf-8" || !bytes.Equal(m.Body, Body(m.MessageID, body)) ||
			!maps.Equal(m.Properties, map[string]string{"seq": seqOf(m.MessageID)}) {
			t.Fatalf("message %s not as sent: %+v", m.MessageID, m)
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Fatalf("message %s is in the stream %d times", id, seen[id])
		}
	}
}

// readStream decodes every record of every shard of env's stream.
func readStream(t *testing.T, env *Env) []telemetry.Message {
	t.Helper()
	ctx := context.Background()
	shards, err := env.Kinesis.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(env.Stream)})
	if err != nil {
		t.Fatal(err)
	}
	var out []telemetry.Message
	for _, sh := range shards.Shards {
		it, err := env.Kinesis.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(env.Stream),
			ShardId: sh.ShardId, ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			got, err := env.Kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range got.Records {
				m, err := telemetry.Decode(r.Data)
				if err != nil {
					t.Fatal(err)
				}
				m.PartitionKey = aws.ToString(r.PartitionKey)
				out = append(out, m)
			}
			if len(got.Records) == 0 {
				break
			}
			iter = got.NextShardIterator
		}
	}
	return out
}
