package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// KinesisReader is the slice of the Kinesis API a Tailer uses.
type KinesisReader interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, opts ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, opts ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// Tailer follows every shard of a stream and hands decoded messages to a
// callback, in order per shard (so per device). It is a simple polling
// consumer for tools and tests; production backends use a Lambda event
// source mapping and DecodeKinesisEvent.
type Tailer struct {
	Client KinesisReader
	Stream string
	// FromStart reads from the oldest record (TRIM_HORIZON) instead of LATEST.
	FromStart bool
	// Poll is the delay between empty reads of a shard. Default 200ms.
	Poll time.Duration
}

// Run calls fn for each message until ctx ends or fn returns an error. Shards
// created later (resharding) are picked up on the next listing.
func (t *Tailer) Run(ctx context.Context, fn func(Message) error) error {
	if t.Poll <= 0 {
		t.Poll = 200 * time.Millisecond
	}
	var mu sync.Mutex // serializes fn
	errc := make(chan error, 1)
	started := map[string]bool{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	for {
		shards, err := t.listShards(ctx)
		if err != nil {
			return err
		}
		for _, id := range shards {
			if started[id] {
				continue
			}
			started[id] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := t.follow(ctx, id, func(m Message) error { mu.Lock(); defer mu.Unlock(); return fn(m) })
				if err != nil && !errors.Is(err, context.Canceled) {
					select {
					case errc <- err:
					default:
					}
				}
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second):
		}
	}
}

func (t *Tailer) listShards(ctx context.Context) ([]string, error) {
	var ids []string
	in := &kinesis.ListShardsInput{StreamName: &t.Stream}
	for {
		out, err := t.Client.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("telemetry: list shards: %w", err)
		}
		for _, s := range out.Shards {
			ids = append(ids, *s.ShardId)
		}
		if out.NextToken == nil {
			return ids, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

func (t *Tailer) follow(ctx context.Context, shard string, fn func(Message) error) error {
	typ := types.ShardIteratorTypeLatest
	if t.FromStart {
		typ = types.ShardIteratorTypeTrimHorizon
	}
	it, err := t.Client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: &t.Stream, ShardId: &shard, ShardIteratorType: typ})
	if err != nil {
		return fmt.Errorf("telemetry: shard iterator %s: %w", shard, err)
	}
	iter := it.ShardIterator
	for iter != nil {
		out, err := t.Client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("telemetry: get records %s: %w", shard, err)
		}
		for _, r := range out.Records {
			m, err := Decode(r.Data)
			if err != nil {
				return fmt.Errorf("telemetry: record %s: %w", *r.SequenceNumber, err)
			}
			m.SequenceNumber, m.PartitionKey = *r.SequenceNumber, *r.PartitionKey
			if r.ApproximateArrivalTimestamp != nil {
				m.ArrivalTime = *r.ApproximateArrivalTimestamp
			}
			if err := fn(m); err != nil {
				return err
			}
		}
		iter = out.NextShardIterator
		if len(out.Records) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(t.Poll):
			}
		}
	}
	return nil // shard closed
}
