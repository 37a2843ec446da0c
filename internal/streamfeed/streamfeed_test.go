package streamfeed_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/provision"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/internal/streamfeed"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type env struct {
	k      *kinesis.Client
	db     *dynamodb.Client
	stream string
	table  string
}

func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newEnv(t *testing.T, shards int32) *env {
	t.Helper()
	ctx := context.Background()
	kURL, dURL := testenv.Endpoints()
	cfg := awsenv.Static("")
	e := &env{k: awsenv.Kinesis(cfg, kURL), db: awsenv.DynamoDB(cfg, dURL), stream: "feed-" + suffix(), table: "feed-" + suffix() + "-routing"}
	if err := provision.CreateStream(ctx, e.k, e.stream, shards); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.k.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: &e.stream})
	})
	if err := provision.CreateTables(ctx, e.db, []schema.Table{schema.Routing}, map[string]string{schema.Routing.ID: e.table}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) checkpoints() streamfeed.DynamoCheckpoints {
	return streamfeed.DynamoCheckpoints{Client: e.db, Table: e.table}
}

func (e *env) feeder(t *testing.T) *streamfeed.Feeder {
	return &streamfeed.Feeder{
		Kinesis: e.k, Stream: e.stream, Checkpoints: e.checkpoints(),
		BatchSize: 7, Poll: 20 * time.Millisecond, ShardRefresh: 100 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// put writes n records for each of the keys, interleaved, one call per
// round, and returns the data written per key in order.
func (e *env) put(t *testing.T, keys []string, n int, tag string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for i := range n {
		in := &kinesis.PutRecordsInput{StreamName: &e.stream}
		for _, k := range keys {
			d := fmt.Sprintf("%s/%s/%d", tag, k, i)
			in.Records = append(in.Records, types.PutRecordsRequestEntry{PartitionKey: aws.String(k), Data: []byte(d)})
			out[k] = append(out[k], d)
		}
		res, err := e.k.PutRecords(context.Background(), in)
		if err != nil || aws.ToInt32(res.FailedRecordCount) != 0 {
			t.Fatalf("put records: %v", err)
		}
	}
	return out
}

// shardRecords reads each shard's sequence numbers, in order.
func (e *env) shardRecords(t *testing.T) map[string][]string {
	t.Helper()
	ctx := context.Background()
	shards, err := e.k.ListShards(ctx, &kinesis.ListShardsInput{StreamName: &e.stream})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, s := range shards.Shards {
		it, err := e.k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: &e.stream, ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			recs, err := e.k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs.Records {
				out[*s.ShardId] = append(out[*s.ShardId], *r.SequenceNumber)
			}
			if len(recs.Records) == 0 {
				break
			}
			iter = recs.NextShardIterator
		}
	}
	return out
}

// recorder is a handler that records, per shard, the records it handled:
// each batch's records before the first one it reports failed. fail
// decides per record: "" handles it, "partial" reports it failed, "error"
// fails the whole invocation, "bogus" reports an identifier of no record.
type recorder struct {
	mu      sync.Mutex
	handled map[string][]string // shard -> sequence numbers
	data    map[string][]string // partition key -> data
	seen    map[string]int      // sequence number -> times delivered
	batches int
	events  []events.KinesisEventRecord
	fail    func(r events.KinesisEventRecord, seen int) string
}

func newRecorder() *recorder {
	return &recorder{handled: map[string][]string{}, data: map[string][]string{}, seen: map[string]int{}}
}

func (r *recorder) handle(_ context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches++
	var resp events.KinesisEventResponse
	var ok []events.KinesisEventRecord
	for _, rec := range ev.Records {
		seq := rec.Kinesis.SequenceNumber
		r.seen[seq]++
		what := ""
		if r.fail != nil {
			what = r.fail(rec, r.seen[seq])
		}
		switch what {
		case "error":
			return resp, fmt.Errorf("handler fails on %s", rec.Kinesis.Data)
		case "panic":
			panic(fmt.Sprintf("handler panics on %s", rec.Kinesis.Data))
		case "bogus":
			return events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{{ItemIdentifier: "no-such-record"}}}, nil
		case "partial":
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: seq})
		}
		if len(resp.BatchItemFailures) == 0 {
			ok = append(ok, rec)
		}
	}
	for _, rec := range ok {
		shard, _, _ := strings.Cut(rec.EventID, ":")
		r.handled[shard] = append(r.handled[shard], rec.Kinesis.SequenceNumber)
		r.data[rec.Kinesis.PartitionKey] = append(r.data[rec.Kinesis.PartitionKey], string(rec.Kinesis.Data))
		r.events = append(r.events, rec)
	}
	return resp, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, h := range r.handled {
		n += len(h)
	}
	return n
}

// run starts f and returns a stop function that waits for Run to return.
func run(t *testing.T, f *streamfeed.Feeder, h streamfeed.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10s of its context's end")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var keys = []string{"dev-a", "dev-b", "dev-c", "dev-d", "dev-e"}

func TestFeederDelivers(t *testing.T) {
	e := newEnv(t, 2)
	want := e.put(t, keys, 12, "r")
	rec := newRecorder()
	stop := run(t, e.feeder(t), rec.handle)
	waitFor(t, "60 records", func() bool { return rec.count() == 60 })
	stop()

	shards := e.shardRecords(t)
	for shard, seqs := range shards {
		if !slices.Equal(rec.handled[shard], seqs) {
			t.Errorf("shard %s: handled %v, want each record once, in order: %v", shard, rec.handled[shard], seqs)
		}
		cp, err := e.checkpoints().Load(context.Background(), e.stream, shard)
		if err != nil || cp.Sequence != seqs[len(seqs)-1] || cp.Ended {
			t.Errorf("shard %s: checkpoint %+v, %v; want the last record %s", shard, cp, err, seqs[len(seqs)-1])
		}
	}
	for _, k := range keys {
		if !slices.Equal(rec.data[k], want[k]) {
			t.Errorf("key %s: %v, want %v", k, rec.data[k], want[k])
		}
	}
	// The event is Lambda's.
	r := rec.events[0]
	shard, seq, _ := strings.Cut(r.EventID, ":")
	if r.EventSource != "aws:kinesis" || r.EventName != "aws:kinesis:record" || r.EventVersion != "1.0" ||
		r.AwsRegion != "us-east-1" || !strings.HasPrefix(r.EventSourceArn, "arn:aws:kinesis:us-east-1:") || !strings.HasSuffix(r.EventSourceArn, ":stream/"+e.stream) ||
		r.Kinesis.KinesisSchemaVersion != "1.0" || seq != r.Kinesis.SequenceNumber || shards[shard] == nil ||
		r.Kinesis.ApproximateArrivalTimestamp.IsZero() || time.Since(r.Kinesis.ApproximateArrivalTimestamp.Time) > time.Minute ||
		!slices.Contains(keys, r.Kinesis.PartitionKey) || !strings.HasPrefix(string(r.Kinesis.Data), "r/"+r.Kinesis.PartitionKey+"/") {
		t.Errorf("event record %+v", r)
	}
	if rec.batches < 60/7 {
		t.Errorf("%d batches for 60 records at most 7 a batch", rec.batches)
	}
}

func TestFeederRetries(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(data string, seen int) string
		min  int // least deliveries of the failing record
	}{
		{"partial failure", func(d string, seen int) string {
			if d == "r/dev-b/5" && seen <= 2 {
				return "partial"
			}
			return ""
		}, 3},
		{"two partial failures, the lower wins", func(d string, seen int) string {
			if (d == "r/dev-a/4" || d == "r/dev-a/6" || d == "r/dev-b/4" || d == "r/dev-b/6") && seen <= 1 {
				return "partial"
			}
			return ""
		}, 2},
		{"handler error", func(d string, seen int) string {
			if d == "r/dev-c/3" && seen <= 2 {
				return "error"
			}
			return ""
		}, 3},
		{"handler panic", func(d string, seen int) string {
			if d == "r/dev-e/8" && seen <= 1 {
				return "panic"
			}
			return ""
		}, 2},
		{"failure naming no record", func(d string, seen int) string {
			if d == "r/dev-d/7" && seen <= 1 {
				return "bogus"
			}
			return ""
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 2)
			want := e.put(t, keys, 10, "r")
			rec := newRecorder()
			failed := ""
			rec.fail = func(r events.KinesisEventRecord, seen int) string {
				what := tc.fail(string(r.Kinesis.Data), seen)
				if what != "" {
					failed = r.Kinesis.SequenceNumber
				}
				return what
			}
			stop := run(t, e.feeder(t), rec.handle)
			waitFor(t, "50 records", func() bool { return rec.count() == 50 })
			stop()
			// Each record was handled exactly once, in order per shard:
			// a failure re-delivers from the failed record, never earlier.
			for shard, seqs := range e.shardRecords(t) {
				if !slices.Equal(rec.handled[shard], seqs) {
					t.Errorf("shard %s: handled %v, want %v", shard, rec.handled[shard], seqs)
				}
			}
			for _, k := range keys {
				if !slices.Equal(rec.data[k], want[k]) {
					t.Errorf("key %s: %v, want %v", k, rec.data[k], want[k])
				}
			}
			if rec.seen[failed] < tc.min {
				t.Errorf("failing record delivered %d times, want at least %d", rec.seen[failed], tc.min)
			}
		})
	}
}

func TestFeederRestart(t *testing.T) {
	e := newEnv(t, 2)
	want := e.put(t, keys, 10, "r")

	// The first feeder stops while handling dev-c's 6th record: its
	// context ends mid-batch and the handler fails with it.
	first := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.feeder(t).Run(ctx, func(hctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
			for _, r := range ev.Records {
				if string(r.Kinesis.Data) == "r/dev-c/5" {
					cancel()
					<-hctx.Done()
					return events.KinesisEventResponse{}, hctx.Err()
				}
			}
			return first.handle(hctx, ev)
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the first feeder did not stop")
	}
	if n := first.count(); n == 0 || n >= 50 {
		t.Fatalf("first feeder handled %d records, want some", n)
	}

	second := newRecorder()
	stop := run(t, e.feeder(t), second.handle)
	waitFor(t, "the rest of the records", func() bool { return first.count()+second.count() >= 50 })
	stop()
	// Nothing lost, nothing repeated: the second feeder starts after the
	// first one's last handled record, in each shard.
	for shard, seqs := range e.shardRecords(t) {
		if got := append(slices.Clone(first.handled[shard]), second.handled[shard]...); !slices.Equal(got, seqs) {
			t.Errorf("shard %s: first %v then second %v, want %v", shard, first.handled[shard], second.handled[shard], seqs)
		}
	}
	for _, k := range keys {
		if got := append(slices.Clone(first.data[k]), second.data[k]...); !slices.Equal(got, want[k]) {
			t.Errorf("key %s: %v, want %v", k, got, want[k])
		}
	}

	// A third feeder, after more records, handles only those.
	more := e.put(t, keys, 3, "more")
	third := newRecorder()
	stop = run(t, e.feeder(t), third.handle)
	waitFor(t, "the new records", func() bool { return third.count() >= 15 })
	time.Sleep(100 * time.Millisecond) // would anything older come?
	stop()
	for _, k := range keys {
		if !slices.Equal(third.data[k], more[k]) {
			t.Errorf("key %s: third feeder handled %v, want %v", k, third.data[k], more[k])
		}
	}
}

func TestFeederReshard(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	want := e.put(t, keys, 5, "before")
	// Split the only shard in two at the middle of the hash key range.
	shards, err := e.k.ListShards(ctx, &kinesis.ListShardsInput{StreamName: &e.stream})
	if err != nil {
		t.Fatal(err)
	}
	parent := shards.Shards[0].ShardId
	middle := new(big.Int).Lsh(big.NewInt(1), 127).String()
	if _, err := e.k.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: &e.stream, ShardToSplit: parent, NewStartingHashKey: &middle}); err != nil {
		t.Fatal(err)
	}
	w := kinesis.NewStreamExistsWaiter(e.k, func(o *kinesis.StreamExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond })
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: &e.stream}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	after := e.put(t, keys, 5, "after")
	for _, k := range keys {
		want[k] = append(want[k], after[k]...)
	}

	rec := newRecorder()
	stop := run(t, e.feeder(t), rec.handle)
	waitFor(t, "50 records", func() bool { return rec.count() == 50 })
	stop()
	// Children start after their parent is done, so each device's records
	// come in order across the split.
	for _, k := range keys {
		if !slices.Equal(rec.data[k], want[k]) {
			t.Errorf("key %s: %v, want %v", k, rec.data[k], want[k])
		}
	}
	cp, err := e.checkpoints().Load(ctx, e.stream, *parent)
	if err != nil || !cp.Ended {
		t.Errorf("parent checkpoint %+v, %v; want ended", cp, err)
	}
	// A restarted feeder skips the ended parent and repeats nothing.
	again := newRecorder()
	stop = run(t, e.feeder(t), again.handle)
	time.Sleep(300 * time.Millisecond)
	stop()
	if n := again.count(); n != 0 {
		t.Errorf("a restarted feeder handled %d records again", n)
	}
}

func TestCheckpointStore(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	store := e.checkpoints()
	steps := []struct {
		save    streamfeed.Checkpoint
		want    streamfeed.Checkpoint
		wantErr bool
	}{
		{save: streamfeed.Checkpoint{}, want: streamfeed.Checkpoint{}},
		{save: streamfeed.Checkpoint{Sequence: "9"}, want: streamfeed.Checkpoint{Sequence: "9"}},
		{save: streamfeed.Checkpoint{Sequence: "10"}, want: streamfeed.Checkpoint{Sequence: "10"}}, // numeric, not string order
		{save: streamfeed.Checkpoint{Sequence: "8"}, want: streamfeed.Checkpoint{Sequence: "10"}},  // never backwards
		{save: streamfeed.Checkpoint{Sequence: "10"}, want: streamfeed.Checkpoint{Sequence: "10"}},
		{save: streamfeed.Checkpoint{Sequence: "49590338271490256608559692538361571095921575989136588898"}, want: streamfeed.Checkpoint{Sequence: "49590338271490256608559692538361571095921575989136588898"}},
		{save: streamfeed.Checkpoint{Sequence: "x1"}, want: streamfeed.Checkpoint{Sequence: "49590338271490256608559692538361571095921575989136588898"}, wantErr: true},
		{save: streamfeed.Checkpoint{Ended: true}, want: streamfeed.Checkpoint{Sequence: "49590338271490256608559692538361571095921575989136588898", Ended: true}},
		{save: streamfeed.Checkpoint{Sequence: "49590338271490256608559692538361571095921575989136588899"}, want: streamfeed.Checkpoint{Sequence: "49590338271490256608559692538361571095921575989136588898", Ended: true}},
	}
	for i, s := range steps {
		err := store.Save(ctx, e.stream, "shardId-000000000000", s.save)
		if (err != nil) != s.wantErr {
			t.Errorf("step %d: save %+v: %v", i, s.save, err)
		}
		got, err := store.Load(ctx, e.stream, "shardId-000000000000")
		if err != nil || got != s.want {
			t.Errorf("step %d: after save %+v: %+v, %v; want %+v", i, s.save, got, err, s.want)
		}
	}
	// Checkpoints are per stream and shard.
	if got, err := store.Load(ctx, e.stream, "shardId-000000000001"); err != nil || got != (streamfeed.Checkpoint{}) {
		t.Errorf("another shard: %+v, %v", got, err)
	}
	if got, err := store.Load(ctx, "other", "shardId-000000000000"); err != nil || got != (streamfeed.Checkpoint{}) {
		t.Errorf("another stream: %+v, %v", got, err)
	}
}

func TestFeederSettings(t *testing.T) {
	if err := (&streamfeed.Feeder{}).Run(context.Background(), func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error) {
		return events.KinesisEventResponse{}, nil
	}); err == nil {
		t.Error("a Feeder without settings runs")
	}
}
