// Package streamfeed is the local stand-in for Lambda's Kinesis event source
// mapping: `devicehub local` feeds the router's handler from the emulator's
// telemetry stream with it, so the handler runs on the same events, with the
// same retry and partial-failure semantics, as on AWS.
//
// Like the event source mapping, a Feeder reads every shard (one batch in
// flight per shard; shards in parallel; a child shard only after its
// parents are done, so a device's records stay in order across a reshard),
// builds an events.KinesisEvent as Lambda does, and calls the handler:
//
//   - success: the shard's checkpoint moves to the batch's last record;
//   - a partial failure (BatchItemFailures, ReportBatchItemFailures): the
//     checkpoint moves to the record before the lowest failed one, and
//     reading resumes at that record after a backoff; an identifier that
//     names no record of the batch fails the whole batch;
//   - an error: the same batch is retried after a backoff.
//
// Backoffs double from MinBackoff to MaxBackoff while a shard makes no
// progress. Retries are unbounded, as with the mapping's default
// MaximumRetryAttempts of -1 (a local stream is not trimmed under it).
//
// Checkpoints live in a CheckpointStore (DynamoCheckpoints: the Routing
// table), written only after the handler succeeded, so a restarted feeder
// resumes where the last one stopped and a killed one loses nothing: every
// record reaches the handler at least once, in order per shard.
package streamfeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Handler handles one batch of one shard, as a Lambda function with
// ReportBatchItemFailures does. It is called concurrently for different
// shards, never for two batches of one shard.
type Handler func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error)

// Kinesis is the part of the Kinesis client a Feeder uses.
type Kinesis interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, opts ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, opts ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, opts ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

// Defaults of a Feeder's settings.
const (
	DefaultBatchSize    = 100 // the event source mapping's default for Kinesis
	DefaultPoll         = 250 * time.Millisecond
	DefaultShardRefresh = 10 * time.Second
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 10 * time.Second
)

// Feeder reads one stream and feeds a Handler.
type Feeder struct {
	Kinesis     Kinesis
	Stream      string // stream name
	Checkpoints CheckpointStore

	BatchSize    int           // records per event, at most; default DefaultBatchSize
	Poll         time.Duration // wait after an empty read of an open shard; default DefaultPoll
	ShardRefresh time.Duration // how often new shards are looked for; default DefaultShardRefresh
	MinBackoff   time.Duration // first wait after a failed batch or call; default DefaultMinBackoff
	MaxBackoff   time.Duration // longest wait; default DefaultMaxBackoff

	// StreamARN is the events' eventSourceARN; default: DescribeStreamSummary's.
	StreamARN string
	// Region is the events' awsRegion; default: the ARN's.
	Region string
	// InvokeIdentityARN is the events' invokeIdentityArn (the function's
	// role on AWS); default empty.
	InvokeIdentityARN string

	Log *slog.Logger // default: discard
}

// Run feeds h until ctx ends, then returns nil once every shard's batch in
// flight is done. Failed calls to Kinesis, the store or h are logged and
// retried; Run returns an error only for a Feeder missing a setting.
func (f *Feeder) Run(ctx context.Context, h Handler) error {
	c, err := f.withDefaults()
	if err != nil {
		return err
	}
	if h == nil {
		return errors.New("streamfeed: no handler")
	}
	if err := c.resolveSource(ctx); err != nil {
		return nil // ctx ended
	}
	c.Log.Info("stream feeder started", slog.String("stream", c.Stream), slog.Int("batchSize", c.BatchSize))

	started, done := map[string]bool{}, map[string]bool{}
	finished := make(chan string)
	var wg sync.WaitGroup
	defer wg.Wait()
	refresh := time.NewTimer(0)
	defer refresh.Stop()
	var shards []types.Shard
	listFailures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case id := <-finished:
			done[id] = true
		case <-refresh.C:
			list, err := c.listShards(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				c.Log.Warn("list shards failed", slog.String("stream", c.Stream), slog.Any("error", err))
				refresh.Reset(c.backoff(listFailures))
				listFailures++
				continue
			}
			shards, listFailures = list, 0
			refresh.Reset(c.ShardRefresh)
		}
		listed := map[string]bool{}
		for _, s := range shards {
			listed[aws.ToString(s.ShardId)] = true
		}
		// A parent that is done, or no longer listed (trimmed), lets its
		// children start.
		parentDone := func(p *string) bool {
			id := aws.ToString(p)
			return id == "" || !listed[id] || done[id]
		}
		for _, s := range shards {
			id := aws.ToString(s.ShardId)
			if started[id] || !parentDone(s.ParentShardId) || !parentDone(s.AdjacentParentShardId) {
				continue
			}
			started[id] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				if c.shard(ctx, id, h) {
					select {
					case finished <- id:
					case <-ctx.Done():
					}
				}
			}()
		}
	}
}

func (f *Feeder) withDefaults() (*Feeder, error) {
	if f.Kinesis == nil || f.Stream == "" || f.Checkpoints == nil {
		return nil, errors.New("streamfeed: a Feeder needs Kinesis, Stream and Checkpoints")
	}
	c := *f
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	def(&c.Poll, DefaultPoll)
	def(&c.ShardRefresh, DefaultShardRefresh)
	def(&c.MinBackoff, DefaultMinBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &c, nil
}

// resolveSource fills StreamARN and Region, retrying until ctx ends.
func (f *Feeder) resolveSource(ctx context.Context) error {
	for attempt := 0; f.StreamARN == ""; attempt++ {
		cctx, cancel := detached(ctx)
		out, err := f.Kinesis.DescribeStreamSummary(cctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(f.Stream)})
		cancel()
		if err == nil {
			f.StreamARN = aws.ToString(out.StreamDescriptionSummary.StreamARN)
			break
		}
		f.Log.Warn("describe stream failed", slog.String("stream", f.Stream), slog.Any("error", err))
		if !f.sleep(ctx, f.backoff(attempt)) {
			return ctx.Err()
		}
	}
	if f.Region == "" {
		// arn:partition:kinesis:region:account:stream/name
		if parts := strings.SplitN(f.StreamARN, ":", 5); len(parts) == 5 {
			f.Region = parts[3]
		}
	}
	return nil
}

func (f *Feeder) listShards(ctx context.Context) ([]types.Shard, error) {
	ctx, cancel := detached(ctx)
	defer cancel()
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(f.Stream)}
	for {
		out, err := f.Kinesis.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("streamfeed: list shards of %s: %w", f.Stream, err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			return shards, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// shard feeds one shard until it is done (true: closed and all handled) or
// ctx ends (false).
func (f *Feeder) shard(ctx context.Context, shard string, h Handler) bool {
	log := f.Log.With(slog.String("stream", f.Stream), slog.String("shard", shard))
	var cp Checkpoint
	for attempt := 0; ; attempt++ {
		cctx, cancel := detached(ctx)
		var err error
		cp, err = f.Checkpoints.Load(cctx, f.Stream, shard)
		cancel()
		if err == nil {
			break
		}
		log.Warn("load checkpoint failed", slog.Any("error", err))
		if !f.sleep(ctx, f.backoff(attempt)) {
			return false
		}
	}
	if cp.Ended {
		return true
	}
	last := cp.Sequence // the last record handled
	var iter *string    // nil: get one after last
	failures := 0       // consecutive attempts without progress
	for ctx.Err() == nil {
		if iter == nil {
			in := &kinesis.GetShardIteratorInput{StreamName: aws.String(f.Stream), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon}
			if last != "" {
				in.ShardIteratorType, in.StartingSequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(last)
			}
			cctx, cancel := detached(ctx)
			out, err := f.Kinesis.GetShardIterator(cctx, in)
			cancel()
			if err != nil {
				if !f.retry(ctx, log, "get shard iterator failed", err, &failures) {
					return false
				}
				continue
			}
			iter = out.ShardIterator
		}
		cctx, cancel := detached(ctx)
		out, err := f.Kinesis.GetRecords(cctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(f.BatchSize))})
		cancel()
		if err != nil {
			iter = nil // an expired or spoiled iterator: start again after last
			if !f.retry(ctx, log, "get records failed", err, &failures) {
				return false
			}
			continue
		}
		if ctx.Err() != nil {
			return false // read, not handled: the next feeder reads them again
		}
		if len(out.Records) == 0 {
			if out.NextShardIterator == nil {
				if f.save(ctx, log, shard, Checkpoint{Sequence: last, Ended: true}) {
					log.Info("shard done")
					return true
				}
				return false
			}
			iter = out.NextShardIterator
			if !f.sleep(ctx, f.Poll) {
				return false
			}
			continue
		}
		handled, ok := f.invoke(ctx, log, shard, out.Records, h, &failures)
		if !ok {
			return false
		}
		if handled > 0 {
			failures = 0
			last = aws.ToString(out.Records[handled-1].SequenceNumber)
			if !f.save(ctx, log, shard, Checkpoint{Sequence: last}) {
				return false
			}
		}
		if handled == len(out.Records) {
			// nil when the shard is closed: the next iterator, after
			// last, then reads its end.
			iter = out.NextShardIterator
			continue
		}
		// A partial failure: read again from the failed record, after
		// a backoff.
		log.Info("batch partly failed; retrying from the failed record",
			slog.String("sequenceNumber", aws.ToString(out.Records[handled].SequenceNumber)), slog.Int("handled", handled))
		iter = nil
		if !f.sleep(ctx, f.backoff(failures)) {
			return false
		}
		failures++
	}
	return false
}

// invoke calls h with the batch until it succeeds or fails only part of
// it, and returns how many records, from the first, were handled. An error,
// or a failure naming no record of the batch, retries the whole batch after
// a backoff (counted in *failures). ok is false when ctx ended.
func (f *Feeder) invoke(ctx context.Context, log *slog.Logger, shard string, recs []types.Record, h Handler, failures *int) (handled int, ok bool) {
	ev := f.event(shard, recs)
	for {
		resp, err := call(ctx, h, ev)
		if err == nil {
			n, bad := firstFailure(recs, resp)
			if bad == "" {
				return n, true
			}
			err = fmt.Errorf("batch item failure %q names no record of the batch", bad)
		}
		if !f.retry(ctx, log, "handler failed; retrying the batch", err, failures) {
			return 0, false
		}
	}
}

// call calls h, turning a panic into an error as Lambda's Go runtime does:
// the batch is retried, and the local hub keeps running.
func call(ctx context.Context, h Handler, ev events.KinesisEvent) (resp events.KinesisEventResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return h(ctx, ev)
}

// firstFailure returns the index of the lowest record the response names as
// failed (len(recs) when none), or the identifier that names no record.
func firstFailure(recs []types.Record, resp events.KinesisEventResponse) (int, string) {
	if len(resp.BatchItemFailures) == 0 {
		return len(recs), ""
	}
	index := make(map[string]int, len(recs))
	for i, r := range recs {
		index[aws.ToString(r.SequenceNumber)] = i
	}
	first := len(recs)
	for _, fail := range resp.BatchItemFailures {
		i, ok := index[fail.ItemIdentifier]
		if !ok {
			return 0, fail.ItemIdentifier
		}
		first = min(first, i)
	}
	return first, ""
}

// event builds the Kinesis event Lambda would deliver for the records.
func (f *Feeder) event(shard string, recs []types.Record) events.KinesisEvent {
	ev := events.KinesisEvent{Records: make([]events.KinesisEventRecord, len(recs))}
	for i, r := range recs {
		seq := aws.ToString(r.SequenceNumber)
		kr := events.KinesisRecord{
			Data:                 r.Data,
			PartitionKey:         aws.ToString(r.PartitionKey),
			SequenceNumber:       seq,
			KinesisSchemaVersion: "1.0",
		}
		if r.ApproximateArrivalTimestamp != nil {
			kr.ApproximateArrivalTimestamp = events.SecondsEpochTime{Time: *r.ApproximateArrivalTimestamp}
		}
		if r.EncryptionType != "" && r.EncryptionType != types.EncryptionTypeNone {
			kr.EncryptionType = string(r.EncryptionType)
		}
		ev.Records[i] = events.KinesisEventRecord{
			AwsRegion:         f.Region,
			EventID:           shard + ":" + seq,
			EventName:         "aws:kinesis:record",
			EventSource:       "aws:kinesis",
			EventSourceArn:    f.StreamARN,
			EventVersion:      "1.0",
			InvokeIdentityArn: f.InvokeIdentityARN,
			Kinesis:           kr,
		}
	}
	return ev
}

// save writes a checkpoint, retrying failures until ctx ends, and reports
// whether to go on (ctx has not ended). The records are handled, so it
// tries once even when ctx has ended, and once more after a failed try that
// ctx's end cut short; when the checkpoint cannot be written, the next
// feeder delivers them again (at least once).
func (f *Feeder) save(ctx context.Context, log *slog.Logger, shard string, cp Checkpoint) bool {
	for attempt := 0; ; attempt++ {
		cctx, cancel := detached(ctx)
		err := f.Checkpoints.Save(cctx, f.Stream, shard, cp)
		cancel()
		switch {
		case err == nil:
			return ctx.Err() == nil
		case ctx.Err() != nil && attempt > 0:
			log.Warn("checkpoint not saved at stop; its records will be delivered again", slog.Any("error", err))
			return false
		}
		log.Warn("save checkpoint failed", slog.Any("error", err))
		f.sleep(ctx, f.backoff(attempt))
	}
}

// callTimeout bounds one call to Kinesis or the checkpoint store.
const callTimeout = 30 * time.Second

// detached returns the context of one call to Kinesis or the checkpoint
// store: ctx's values, but not its end, so stopping a feeder never aborts a
// request in flight (kinesalite and dynalite die of a request aborted
// mid-body); the feeder checks ctx between calls instead.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
}

// retry logs a failure and waits the backoff of *failures, which it counts;
// false when ctx ended.
func (f *Feeder) retry(ctx context.Context, log *slog.Logger, msg string, err error, failures *int) bool {
	if ctx.Err() != nil {
		return false
	}
	d := f.backoff(*failures)
	*failures++
	log.Warn(msg, slog.Any("error", err), slog.Duration("backoff", d))
	return f.sleep(ctx, d)
}

// backoff is MinBackoff doubled per earlier failure, at most MaxBackoff.
func (f *Feeder) backoff(failures int) time.Duration {
	d := f.MinBackoff
	for range max(failures, 0) {
		if d >= f.MaxBackoff/2 {
			return f.MaxBackoff
		}
		d *= 2
	}
	return min(d, f.MaxBackoff)
}

// sleep waits d; false when ctx ended first.
func (f *Feeder) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
