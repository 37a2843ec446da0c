package c2d

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
)

// FeedbackContentType is the media type of a feedback batch.
const FeedbackContentType = "application/vnd.microsoft.iothub.feedback.json"

// FeedbackBatchSize is IoT Hub's batch limit.
const FeedbackBatchSize = 64

// IoT Hub's feedback lock and delivery limit.
const (
	feedbackLock        = time.Minute
	feedbackMaxDelivery = 10
)

// consumeParallelism bounds the index removals a completed batch runs at once.
const consumeParallelism = 8

// FeedbackOptions configure the feedback queue; zero values take IoT Hub's
// defaults.
type FeedbackOptions struct {
	Lock        time.Duration // 60 s
	MaxDelivery int           // 10: a batch delivered more often is dropped
	TTL         time.Duration // records older than this are no longer served; default: the queue's FeedbackTTL
}

// FeedbackBatch is a set of records under one lock.
type FeedbackBatch struct {
	LockToken     string
	Records       []iothub.FeedbackRecord
	DeliveryCount int // earlier deliveries of the batch's first record
	EnqueuedTime  time.Time
}

// FeedbackReader serves the feedback queue: settled messages whose ack asked
// for their outcome sit in the byFeedback index, spread over shards. A read
// claims one shard's lease (one conditional write in the Feedback table) and
// returns up to 64 of its records; completing removes them from the index
// and releases the lease. Each shard has its own lease, so several readers
// read in parallel without stealing each other's records.
type FeedbackReader struct {
	q          *Queue
	leaseTable string
	opt        FeedbackOptions

	mu    sync.Mutex
	start int // the shard that last had records: most likely to have more
}

// NewFeedbackReader returns a reader of q's feedback, leasing in leaseTable.
func NewFeedbackReader(q *Queue, leaseTable string, opt FeedbackOptions) *FeedbackReader {
	if opt.Lock <= 0 {
		opt.Lock = feedbackLock
	}
	if opt.MaxDelivery <= 0 {
		opt.MaxDelivery = feedbackMaxDelivery
	}
	if opt.TTL <= 0 {
		opt.TTL = q.opt.FeedbackTTL
	}
	return &FeedbackReader{q: q, leaseTable: leaseTable, opt: opt}
}

const (
	leasePK = "leases"
	lKeys   = "keys"
	lFirst  = "first"
)

// lease is a shard's lease item in the Feedback table.
type lease struct {
	SK    string   `dynamodbav:"sk"` // the shard
	Lock  string   `dynamodbav:"lk"`
	Until int64    `dynamodbav:"lu"`
	Keys  []string `dynamodbav:"keys"`  // the feedback keys of the batch under the lock
	First string   `dynamodbav:"first"` // the first key of the last batch claimed
	N     int      `dynamodbav:"n"`     // how often that batch was claimed
	Ver   int64    `dynamodbav:"v"`

	shard int
}

func decodeLease(it map[string]types.AttributeValue) (lease, error) {
	var l lease
	if err := attributevalue.UnmarshalMap(it, &l); err != nil {
		return lease{}, fmt.Errorf("c2d: bad feedback lease: %w", err)
	}
	if len(it) > 0 {
		n, err := strconv.Atoi(l.SK)
		if err != nil {
			return lease{}, fmt.Errorf("c2d: bad feedback lease shard %q: %w", l.SK, err)
		}
		l.shard = n
	}
	return l, nil
}

func leaseKey(shard int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		schema.FeedbackPartition: &types.AttributeValueMemberS{Value: leasePK},
		schema.FeedbackSortKey:   &types.AttributeValueMemberS{Value: shardName(shard)},
	}
}

// Receive returns the next batch under a new lock, or nil when no record is
// waiting in a shard nobody holds.
func (r *FeedbackReader) Receive(ctx context.Context) (*FeedbackBatch, error) {
	now := r.q.now().UTC()
	leases, err := r.leases(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	start := r.start
	r.mu.Unlock()
	for i := range schema.C2DShards {
		shard := (start + i) % schema.C2DShards
		l := leases[shard]
		if l.Lock != "" && l.Until > ms(now) {
			continue
		}
		for range 3 { // a batch over its delivery limit is dropped and the shard read again
			b, dropped, err := r.claim(ctx, shard, l, now)
			if err != nil {
				return nil, err
			}
			if b != nil {
				r.mu.Lock()
				r.start = shard
				r.mu.Unlock()
				return b, nil
			}
			if !dropped {
				break
			}
		}
	}
	return nil, nil
}

func (r *FeedbackReader) leases(ctx context.Context) (map[int]lease, error) {
	out, err := r.q.db.Query(ctx, query(r.leaseTable, "", expression.Key(schema.FeedbackPartition).Equal(value(leasePK))))
	if err != nil {
		return nil, storeErr("read feedback leases", err)
	}
	m := map[int]lease{}
	for _, it := range out.Items {
		l, err := decodeLease(it)
		if err != nil {
			return nil, storeErr("read feedback leases", err)
		}
		m[l.shard] = l
	}
	return m, nil
}

// claim reads a shard's oldest records and leases them. It reports dropped
// when the batch had exceeded its delivery limit and was consumed instead.
func (r *FeedbackReader) claim(ctx context.Context, shard int, l lease, now time.Time) (*FeedbackBatch, bool, error) {
	cut := fmt.Sprintf("%013d", ms(now.Add(-r.opt.TTL)))
	in := query(r.q.table, schema.C2DFeedbackIndex, expression.Key(schema.C2DFeedbackShard).Equal(value(shardName(shard))).
		And(expression.Key(schema.C2DFeedbackKey).GreaterThanEqual(value(cut))))
	in.Limit = aws.Int32(FeedbackBatchSize)
	out, err := r.q.db.Query(ctx, in)
	if err != nil {
		return nil, false, storeErr("read feedback", err)
	}
	if len(out.Items) == 0 {
		return nil, false, nil
	}
	b := &FeedbackBatch{EnqueuedTime: now}
	refs := make([]string, 0, len(out.Items))
	for _, it := range out.Items {
		m, err := decodeMsg(it)
		if err != nil {
			return nil, false, storeErr("read feedback", err)
		}
		b.Records = append(b.Records, m.feedback())
		refs = append(refs, m.FbKey)
	}
	first := refs[0]
	n := 1
	if l.First == first {
		n = l.N + 1
	}
	if n > r.opt.MaxDelivery {
		r.consume(ctx, refs)
		return nil, true, nil
	}
	b.DeliveryCount = n - 1
	b.LockToken = newFeedbackToken(shard)
	// The lease must be as read: unheld, or held under a lapsed lock.
	ver, until := name(aVer), name(aLockTil)
	cond := ver.AttributeNotExists()
	if l.Ver != 0 {
		cond = ver.AttributeNotExists().Or(ver.Equal(value(l.Ver))).
			And(until.AttributeNotExists().Or(until.LessThanEqual(value(ms(now)))))
	}
	_, ok, err := updateIf(ctx, r.q.db, r.leaseTable, leaseKey(shard), cond,
		expression.Set(name(aLock), value(b.LockToken)).
			Set(until, value(ms(now.Add(r.opt.Lock)))).
			Set(name(lKeys), value(refs)).
			Set(name(lFirst), value(first)).
			Set(name(aCount), value(n)).
			Set(ver, expression.Plus(ver.IfNotExists(value(0)), value(1))),
		types.ReturnValueNone)
	if err != nil {
		return nil, false, storeErr("claim feedback", err)
	}
	if !ok {
		return nil, false, nil // another reader claimed it first
	}
	return b, false, nil
}

// Complete removes a batch's records and releases its lease. The release
// comes first and returns the batch's keys, so a stale lock changes
// nothing; a crash before the removals only makes the records due again.
func (r *FeedbackReader) Complete(ctx context.Context, lockToken string) error {
	l, err := r.release(ctx, lockToken, expression.Remove(name(lFirst)).Set(name(aCount), value(0)))
	if err != nil {
		return err
	}
	r.consume(ctx, l.Keys)
	return nil
}

// Abandon releases a batch's lease; its records are due again at once.
func (r *FeedbackReader) Abandon(ctx context.Context, lockToken string) error {
	_, err := r.release(ctx, lockToken, expression.UpdateBuilder{})
	return err
}

// release gives up the lease lockToken holds, with the caller's update
// beside the release itself, and returns the lease as it was.
func (r *FeedbackReader) release(ctx context.Context, lockToken string, upd expression.UpdateBuilder) (lease, error) {
	tok := iothub.UnquoteETag(lockToken)
	shard, err := parseFeedbackToken(tok)
	if err != nil {
		return lease{}, err
	}
	now := r.q.now().UTC()
	attrs, ok, err := updateIf(ctx, r.q.db, r.leaseTable, leaseKey(shard),
		name(aLock).Equal(value(tok)).And(name(aLockTil).GreaterThan(value(ms(now)))),
		upd.Remove(name(aLock)).Remove(name(aLockTil)).Remove(name(lKeys)).Set(name(aVer), name(aVer).Plus(value(1))),
		types.ReturnValueAllOld)
	if err != nil {
		return lease{}, storeErr("release feedback", err)
	}
	if !ok {
		return lease{}, apierr.FeedbackLockLost.New("the feedback lock token is unknown, expired or already used")
	}
	l, err := decodeLease(attrs)
	if err != nil {
		return lease{}, storeErr("release feedback", err)
	}
	return l, nil
}

// consume takes records out of the feedback index; failures leave them due
// again (at least once).
func (r *FeedbackReader) consume(ctx context.Context, keys []string) {
	var g errgroup.Group
	g.SetLimit(consumeParallelism)
	for _, k := range keys {
		dev, seq, ok := splitFeedbackKey(k)
		if !ok {
			continue
		}
		g.Go(func() error {
			if err := r.q.feedbackConsumed(ctx, dev, seq, k); err != nil {
				r.q.log.WarnContext(ctx, "feedback record stays due", "key", k, "error", err)
			}
			return nil
		})
	}
	_ = g.Wait() // failures are logged above and leave their records due
}

func splitFeedbackKey(k string) (string, int64, bool) {
	i, j := strings.IndexByte(k, '#'), strings.LastIndexByte(k, '#')
	if i < 0 || j <= i {
		return "", 0, false
	}
	seq, err := strconv.ParseInt(k[j+1:], 10, 64)
	return k[i+1 : j], seq, err == nil
}

// Feedback lock tokens are GUID-shaped; the first group is the shard.
func newFeedbackToken(shard int) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%08x-%s-%s-%s-%s", shard, h[0:4], h[4:8], h[8:12], h[12:24])
}

func parseFeedbackToken(tok string) (int, error) {
	bad := invalid("malformed feedback lock token " + strconv.Quote(tok))
	if len(tok) != 36 || tok[8] != '-' {
		return 0, bad
	}
	n, err := strconv.ParseInt(tok[:8], 16, 32)
	if err != nil || n < 0 || n >= schema.C2DShards {
		return 0, bad
	}
	if _, err := hex.DecodeString(strings.ReplaceAll(tok[9:], "-", "")); err != nil {
		return 0, bad
	}
	return int(n), nil
}
