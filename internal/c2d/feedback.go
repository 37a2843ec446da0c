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
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
)

// FeedbackContentType is the media type of a feedback batch.
const FeedbackContentType = "application/vnd.microsoft.iothub.feedback.json"

// FeedbackBatchSize is IoT Hub's batch limit.
const FeedbackBatchSize = 64

// FeedbackOptions configure the feedback queue; zero values take IoT Hub's
// defaults.
type FeedbackOptions struct {
	Lock        time.Duration // 60 s
	MaxDelivery int           // 10: a batch delivered more often is dropped
	TTL         time.Duration // records older than this are no longer served (config.FeedbackTTL)
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
		opt.Lock = time.Minute
	}
	if opt.MaxDelivery <= 0 {
		opt.MaxDelivery = 10
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

type lease struct {
	shard int
	lock  string
	until int64
	keys  []string
	first string
	n     int
	ver   int64
}

func decodeLease(it map[string]types.AttributeValue) lease {
	l := lease{lock: getS(it, aLock), until: getN(it, aLockTil), first: getS(it, lFirst), n: int(getN(it, aCount)), ver: getN(it, aVer)}
	l.shard, _ = strconv.Atoi(getS(it, schema.FeedbackSortKey))
	if ks, ok := it[lKeys].(*types.AttributeValueMemberL); ok {
		for _, k := range ks.Value {
			if s, ok := k.(*types.AttributeValueMemberS); ok {
				l.keys = append(l.keys, s.Value)
			}
		}
	}
	return l
}

func leaseKey(shard int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{schema.FeedbackPartition: sS(leasePK), schema.FeedbackSortKey: sS(shardName(shard))}
}

var leaseExprNames = map[string]string{"#lk": aLock, "#lu": aLockTil, "#keys": lKeys, "#first": lFirst, "#n": aCount, "#v": aVer}

func leaseExpr(values map[string]types.AttributeValue, exprs ...string) (map[string]string, map[string]types.AttributeValue) {
	names := map[string]string{}
	vals := map[string]types.AttributeValue{}
	for _, e := range exprs {
		for _, p := range placeholder.FindAllString(e, -1) {
			if p[0] == '#' {
				names[p] = leaseExprNames[p]
			} else {
				vals[p] = values[p]
			}
		}
	}
	if len(vals) == 0 {
		vals = nil
	}
	return names, vals
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
	for i := 0; i < schema.C2DShards; i++ {
		shard := (start + i) % schema.C2DShards
		l := leases[shard]
		if l.lock != "" && l.until > ms(now) {
			continue
		}
		for tries := 0; tries < 3; tries++ { // a batch over its delivery limit is dropped and the shard read again
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
	cond := "#pk = :pk"
	out, err := r.q.db.Query(ctx, &dynamodb.QueryInput{TableName: &r.leaseTable, KeyConditionExpression: &cond,
		ExpressionAttributeNames:  map[string]string{"#pk": schema.FeedbackPartition},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sS(leasePK)}})
	if err != nil {
		return nil, storeErr("read feedback leases", err)
	}
	m := map[int]lease{}
	for _, it := range out.Items {
		l := decodeLease(it)
		m[l.shard] = l
	}
	return m, nil
}

// claim reads a shard's oldest records and leases them. It reports dropped
// when the batch had exceeded its delivery limit and was consumed instead.
func (r *FeedbackReader) claim(ctx context.Context, shard int, l lease, now time.Time) (*FeedbackBatch, bool, error) {
	cond := "#fs = :fs AND #fk >= :cut"
	cut := fmt.Sprintf("%013d", ms(now.Add(-r.opt.TTL)))
	idx := schema.C2DFeedbackIndex
	out, err := r.q.db.Query(ctx, &dynamodb.QueryInput{TableName: &r.q.table, IndexName: &idx, KeyConditionExpression: &cond,
		ExpressionAttributeNames:  map[string]string{"#fs": schema.C2DFeedbackShard, "#fk": schema.C2DFeedbackKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":fs": sS(shardName(shard)), ":cut": sS(cut)},
		Limit:                     aws.Int32(FeedbackBatchSize)})
	if err != nil {
		return nil, false, storeErr("read feedback", err)
	}
	if len(out.Items) == 0 {
		return nil, false, nil
	}
	b := &FeedbackBatch{EnqueuedTime: now}
	keys := make([]types.AttributeValue, 0, len(out.Items))
	var refs []string
	for _, it := range out.Items {
		m, err := decodeMsg(it)
		if err != nil {
			return nil, false, storeErr("read feedback", err)
		}
		b.Records = append(b.Records, m.feedback())
		keys = append(keys, sS(m.fbKey))
		refs = append(refs, m.fbKey)
	}
	first := refs[0]
	n := 1
	if l.first == first {
		n = l.n + 1
	}
	if n > r.opt.MaxDelivery {
		r.consume(ctx, refs)
		return nil, true, nil
	}
	b.DeliveryCount = n - 1
	b.LockToken = newFeedbackToken(shard)
	vals := map[string]types.AttributeValue{":tok": sS(b.LockToken), ":lu": sN(ms(now.Add(r.opt.Lock))),
		":keys": &types.AttributeValueMemberL{Value: keys}, ":first": sS(first), ":n": sN(int64(n)),
		":now": sN(ms(now)), ":v": sN(l.ver), ":one": sN(1)}
	c := "(attribute_not_exists(#v) OR #v = :v) AND (attribute_not_exists(#lu) OR #lu <= :now)"
	if l.ver == 0 {
		c = "attribute_not_exists(#v)"
	}
	update := "SET #lk = :tok, #lu = :lu, #keys = :keys, #first = :first, #n = :n, #v = if_not_exists(#v, :zero) + :one"
	vals[":zero"] = sN(0)
	names, v := leaseExpr(vals, c, update)
	_, err = r.q.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &r.leaseTable, Key: leaseKey(shard),
		ConditionExpression: &c, UpdateExpression: &update, ExpressionAttributeNames: names, ExpressionAttributeValues: v})
	if isConditionFailed(err) {
		return nil, false, nil // another reader claimed it first
	}
	if err != nil {
		return nil, false, storeErr("claim feedback", err)
	}
	return b, false, nil
}

// Complete removes a batch's records and releases its lease. The release
// comes first and returns the batch's keys, so a stale lock changes
// nothing; a crash before the removals only makes the records due again.
func (r *FeedbackReader) Complete(ctx context.Context, lockToken string) error {
	l, err := r.release(ctx, lockToken, "REMOVE #lk, #lu, #keys, #first SET #n = :zero, #v = #v + :one")
	if err != nil {
		return err
	}
	r.consume(ctx, l.keys)
	return nil
}

// Abandon releases a batch's lease; its records are due again at once.
func (r *FeedbackReader) Abandon(ctx context.Context, lockToken string) error {
	_, err := r.release(ctx, lockToken, "REMOVE #lk, #lu, #keys SET #v = #v + :one")
	return err
}

func (r *FeedbackReader) release(ctx context.Context, lockToken, update string) (lease, error) {
	tok := iothub.UnquoteETag(lockToken)
	shard, err := parseFeedbackToken(tok)
	if err != nil {
		return lease{}, err
	}
	now := r.q.now().UTC()
	c := "#lk = :tok AND #lu > :now"
	names, v := leaseExpr(map[string]types.AttributeValue{":tok": sS(tok), ":now": sN(ms(now)), ":zero": sN(0), ":one": sN(1)}, c, update)
	out, err := r.q.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &r.leaseTable, Key: leaseKey(shard),
		ConditionExpression: &c, UpdateExpression: &update, ExpressionAttributeNames: names, ExpressionAttributeValues: v,
		ReturnValues: types.ReturnValueAllOld})
	if isConditionFailed(err) {
		return lease{}, apierr.FeedbackLockLost.New("the feedback lock token is unknown, expired or already used")
	}
	if err != nil {
		return lease{}, storeErr("release feedback", err)
	}
	return decodeLease(out.Attributes), nil
}

// consume takes records out of the feedback index; failures leave them due
// again (at least once).
func (r *FeedbackReader) consume(ctx context.Context, keys []string) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, k := range keys {
		dev, seq, ok := splitFeedbackKey(k)
		if !ok {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.q.feedbackConsumed(ctx, dev, seq, k); err != nil {
				r.q.log.WarnContext(ctx, "feedback record stays due", "key", k, "error", err)
			}
		}()
	}
	wg.Wait()
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
