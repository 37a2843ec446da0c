package routing

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/devicehub/devicehub/internal/localhub"
	"github.com/devicehub/devicehub/shared/hubclient"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// The latency benchmark's load: latencyDevices devices send concurrently,
// each one message every latencyInterval, latencyMessages in all per round
// (about 200 messages a second, 5 s a round).
const (
	latencyDevices  = 10
	latencyMessages = 1000
	latencyInterval = 50 * time.Millisecond
	// readerPoll is the wait of the endpoint's reader after an empty read:
	// each latency includes up to that much of the reader's own wait.
	readerPoll = 10 * time.Millisecond
)

// BenchmarkRouteLatency measures what routing adds between a device's 204
// and the message's arrival on a Kinesis endpoint, locally (issue 11: at
// most 1 s, median and p99 over 1,000 messages):
//
//	go test -run '^$' -bench RouteLatency -benchtime 1x ./test/routing/
//
// The router runs as the local hub runs it (startRouter: the feeder polls
// each shard every localhub.FeedPoll), on the documented definition; every
// message matches its "hot" route, so it goes to the hot stream and the
// archive with the enrichments (the device's tags read once per batch).
// The devices send paced (see the constants), not in one burst: a steady
// load, as devices send, rather than the drain time of a backlog. A reader
// polls the hot stream every readerPoll; each message's latency is the
// time it was read less the time its device got the 204. It reports the
// median, the 99th percentile and the maximum in ms.
func BenchmarkRouteLatency(b *testing.B) {
	h := newHub(b, hubOptions{})
	devices := make([]*hubclient.Client, latencyDevices)
	for i := range devices {
		devices[i] = h.device(fmt.Sprintf("dev-%02d", i), map[string]any{"site": "bench"})
	}
	h.startRouter(routerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	r := &reader{seen: map[string]time.Time{}}
	done := make(chan error, 1)
	go func() { done <- r.run(ctx, h, h.endpoint("hot").Stream) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error("reader:", err)
		}
	})

	var latencies []time.Duration
	var sendTime time.Duration
	for round := 0; b.Loop(); round++ {
		start := time.Now()
		acked := sendPaced(b, devices, round)
		sendTime += time.Since(start)
		eventually(b, "every message on the hot endpoint", func() (bool, string) {
			n := r.count(acked)
			return n == len(acked), fmt.Sprintf("%d of %d read", n, len(acked))
		})
		for id, at := range acked {
			latencies = append(latencies, r.at(id).Sub(at))
		}
	}
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(len(latencies))/sendTime.Seconds(), "msgs/s")
	b.ReportMetric(0, "ns/op") // a round is its messages' sending: its time says nothing
	b.Logf("%d messages from %d devices, each every %s; feeder poll %s, reader poll %s (included in each latency)",
		len(latencies), latencyDevices, latencyInterval, localhub.FeedPoll, readerPoll)
}

// sendPaced sends a round of latencyMessages messages, each device one
// every latencyInterval, and returns each message's 204 time by id.
func sendPaced(b *testing.B, devices []*hubclient.Client, round int) map[string]time.Time {
	var (
		mu    sync.Mutex
		acked = make(map[string]time.Time, latencyMessages)
		wg    sync.WaitGroup
	)
	perDevice := latencyMessages / len(devices)
	for _, dev := range devices {
		wg.Go(func() {
			tick := time.NewTicker(latencyInterval)
			defer tick.Stop()
			for k := range perDevice {
				id := fmt.Sprintf("%s-%d-%03d", dev.Conn.DeviceID, round, k)
				if err := dev.SendEvent(context.Background(), jsonMessage(id, fmt.Sprintf(`{"temperature":%d}`, 31+k%20))); err != nil {
					b.Errorf("%s: %v", id, err)
					return
				}
				at := time.Now()
				mu.Lock()
				acked[id] = at
				mu.Unlock()
				<-tick.C
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return acked
}

// reader follows a one-shard Kinesis stream and notes when it first read
// each message id.
type reader struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (r *reader) run(ctx context.Context, h *hub, stream string) error {
	shards, err := h.env.Kinesis.ListShards(ctx, &kinesis.ListShardsInput{StreamName: &stream})
	if err != nil || len(shards.Shards) != 1 {
		return fmt.Errorf("shards of %s: %v (%v)", stream, shards, err)
	}
	it, err := h.env.Kinesis.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: &stream, ShardId: shards.Shards[0].ShardId, ShardIteratorType: kinesistypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		return err
	}
	// The reader's calls are not cut when the benchmark ends: the emulator
	// dies of a request aborted mid-body.
	call := context.WithoutCancel(ctx)
	for iter := it.ShardIterator; iter != nil && ctx.Err() == nil; {
		out, err := h.env.Kinesis.GetRecords(call, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			return err
		}
		now := time.Now()
		r.mu.Lock()
		for _, rec := range out.Records {
			m, err := telemetry.Decode(rec.Data)
			if err != nil {
				r.mu.Unlock()
				return fmt.Errorf("record %s: %w", aws.ToString(rec.SequenceNumber), err)
			}
			if _, ok := r.seen[m.MessageID]; !ok {
				r.seen[m.MessageID] = now
			}
		}
		r.mu.Unlock()
		iter = out.NextShardIterator
		if len(out.Records) == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(readerPoll):
			}
		}
	}
	return nil
}

// count is how many of ids were read.
func (r *reader) count(ids map[string]time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for id := range ids {
		if _, ok := r.seen[id]; ok {
			n++
		}
	}
	return n
}

func (r *reader) at(id string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}
