package c2d

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/schema"
)

// SweepStats is what one sweep did.
type SweepStats struct {
	Devices  int `json:"devices"`
	Expired  int `json:"expired"`
	Exceeded int `json:"deliveryCountExceeded"`
	Repaired int `json:"repaired"`
	Failed   int `json:"failed"`
}

func (s *SweepStats) add(o SweepStats) {
	s.Devices += o.Devices
	s.Expired += o.Expired
	s.Exceeded += o.Exceeded
	s.Repaired += o.Repaired
	s.Failed += o.Failed
}

// sweepParallelism bounds the shards swept at once.
const sweepParallelism = 4

// Sweep visits every device whose head is due in the bySweep index (its
// earliest pending expiry, the lock expiry of a last allowed delivery, or a
// send that may have crashed), dead-letters what expired with its feedback,
// finishes interrupted requeues and refreshes the head. Shards are swept in
// parallel; a device that fails is logged and counted, and the others go on.
// A shard that fails neither stops nor hides the others: its error joins
// theirs.
func (q *Queue) Sweep(ctx context.Context) (SweepStats, error) {
	now := ms(q.now().UTC())
	stats := make([]SweepStats, schema.C2DShards)
	errs := make([]error, schema.C2DShards)
	var g errgroup.Group
	g.SetLimit(sweepParallelism)
	for shard := range schema.C2DShards {
		g.Go(func() error {
			stats[shard], errs[shard] = q.sweepShard(ctx, shard, now)
			return nil
		})
	}
	_ = g.Wait() // the shards report through errs
	var total SweepStats
	for _, st := range stats {
		total.add(st)
	}
	return total, errors.Join(errs...)
}

func (q *Queue) sweepShard(ctx context.Context, shard int, now int64) (SweepStats, error) {
	var st SweepStats
	in := query(q.table, schema.C2DSweepIndex, expression.Key(schema.C2DSweepShard).Equal(value(shardName(shard))).
		And(expression.Key(schema.C2DSweepAt).LessThanEqual(value(now))))
	in.Limit = aws.Int32(100)
	for {
		out, err := q.db.Query(ctx, in)
		if err != nil {
			return st, storeErr("read sweep index", err)
		}
		for _, it := range out.Items {
			var m struct {
				Dev string `dynamodbav:"deviceId"`
			}
			err := attributevalue.UnmarshalMap(it, &m)
			var ds deviceSweep
			if err == nil {
				ds, err = q.sweepDevice(ctx, m.Dev)
			}
			st.Devices++
			if err != nil {
				st.Failed++
				q.log.WarnContext(ctx, "sweep failed", slog.String("device", m.Dev), slog.Any("error", err))
				continue
			}
			st.Expired += ds.expired
			st.Exceeded += ds.exceeded
			st.Repaired += ds.repaired
		}
		if len(out.LastEvaluatedKey) == 0 {
			return st, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// deviceSweep is what one device's sweep found and did.
type deviceSweep struct {
	pending  int // messages still pending afterwards (in-flight sends included)
	expired  int
	exceeded int
	repaired int // requeues whose original was not yet marked
}

// sweepDevice settles what is due on one device and refreshes its head: the
// lowest possibly-pending number, the admission limit from a fresh count,
// and the next sweep time (the earliest expiry, or the lock expiry of a
// last allowed delivery), or takes the device out of the sweep index when
// nothing is pending. The head is only written if no send allocated a
// number meanwhile; otherwise the device is read again.
func (q *Queue) sweepDevice(ctx context.Context, dev string) (deviceSweep, error) {
	for attempt := 0; ; attempt++ {
		st, retry, err := q.sweepOnce(ctx, dev)
		if err != nil || !retry {
			return st, err
		}
		if attempt == 4 {
			return st, apierr.ThrottlingException.New("the device's queue is changing too fast to count; retry").WithRetryAfter(time.Second)
		}
	}
}

func (q *Queue) sweepOnce(ctx context.Context, dev string) (deviceSweep, bool, error) {
	var st deviceSweep
	h, err := q.getHead(ctx, dev, true)
	if err != nil {
		return st, false, err
	}
	marker, err := q.getMarker(ctx, dev)
	if err != nil {
		return st, false, err
	}
	if !h.exists {
		return st, false, q.moveMarker(ctx, dev, marker, math.MaxInt64)
	}
	now := q.now().UTC()
	nowMS := ms(now)
	next := int64(math.MaxInt64)
	newHead := int64(0)
	expect := max(h.Head, 1)
	inflightOK := nowMS-h.SeqAt < inflight.Milliseconds()
	gap := func(upTo int64) { // numbers allocated but not (yet) seen
		if expect < upTo && inflightOK {
			st.pending += int(upTo - expect)
			if newHead == 0 {
				newHead = expect
			}
			next = min(next, h.SeqAt+inflight.Milliseconds())
		}
	}
	err = q.scan(ctx, dev, expect, true, func(m msg) (bool, error) {
		if m.Seq > h.Seq {
			return false, nil // allocated after the head was read: the next sweep's
		}
		gap(m.Seq)
		expect = m.Seq + 1
		if m.ReqOf > 0 && m.State.pending() {
			if fixed, err := q.repairRequeue(ctx, dev, m, now); err != nil {
				return false, err
			} else if fixed {
				st.repaired++
			}
		}
		if !m.State.pending() {
			return true, nil
		}
		lapsed := m.State == Enqueued || m.LockUntil <= nowMS
		switch {
		case m.Exp <= nowMS && lapsed:
			ok, err := q.settleObserved(ctx, EvExpire, m, now)
			if ok {
				st.expired++
				return true, err
			}
			return false, err
		case m.State == Invisible && lapsed && m.Count >= q.opt.MaxDelivery:
			ok, err := q.settleObserved(ctx, EvLockLapseLast, m, now)
			if ok {
				st.exceeded++
				return true, err
			}
			return false, err
		}
		st.pending++
		if newHead == 0 {
			newHead = m.Seq
		}
		next = min(next, m.Exp)
		if m.State == Invisible && !lapsed && (m.Count >= q.opt.MaxDelivery || m.Exp <= nowMS) {
			next = min(next, m.LockUntil) // settles when this lock lapses
		}
		return true, nil
	})
	if err != nil {
		return st, false, err
	}
	if expect <= h.Seq {
		gap(h.Seq + 1)
	}
	if newHead == 0 {
		newHead = h.Seq + 1
	}
	// The head first (guarded by no send having allocated meanwhile), then
	// the marker (guarded by no send having lowered it meanwhile): between
	// the two the marker is at most as late as head.swa, as scheduleSweep needs.
	swa := name(aSwa)
	cond := name(aSeq).Equal(value(h.Seq))
	if h.Swa > 0 {
		cond = cond.And(swa.Equal(value(h.Swa)))
	} else {
		cond = cond.And(swa.AttributeNotExists())
	}
	upd := expression.Set(name(aHead), value(newHead)).Set(name(aLim), value(h.Seq+int64(q.opt.MaxQueue-st.pending)))
	if next == math.MaxInt64 {
		upd = upd.Remove(swa)
	} else {
		upd = upd.Set(swa, value(next))
	}
	_, ok, err := updateIf(ctx, q.db, q.table, key(dev, headSK), cond, upd, types.ReturnValueNone)
	if err != nil {
		return st, false, storeErr("update queue head", err)
	}
	if !ok {
		return st, true, nil
	}
	if err := q.moveMarker(ctx, dev, marker, next); err != nil {
		return st, false, err
	}
	q.setHint(dev, newHead)
	return st, false, nil
}

func (q *Queue) getMarker(ctx context.Context, dev string) (int64, error) {
	out, err := q.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &q.table, Key: key(dev, markerSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, storeErr("read sweep marker", err)
	}
	var m marker
	if err := attributevalue.UnmarshalMap(out.Item, &m); err != nil {
		return 0, storeErr("read sweep marker", err)
	}
	return m.SweepAt, nil
}

// moveMarker sets the sweep marker from was to next (MaxInt64: delete it),
// unless a send moved it meanwhile.
func (q *Queue) moveMarker(ctx context.Context, dev string, was, next int64) error {
	if was == next || (was == 0 && next == math.MaxInt64) {
		return nil
	}
	sweepAt := name(schema.C2DSweepAt)
	cond := sweepAt.Equal(value(was))
	if was == 0 {
		cond = sweepAt.AttributeNotExists()
	}
	var err error
	if next == math.MaxInt64 {
		e := build(expression.NewBuilder().WithCondition(cond))
		_, err = q.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &q.table, Key: key(dev, markerSK),
			ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()})
		if isConditionFailed(err) {
			err = nil
		}
	} else {
		_, _, err = updateIf(ctx, q.db, q.table, key(dev, markerSK), cond,
			expression.Set(sweepAt, value(next)).
				Set(name(schema.C2DSweepShard), value(shardName(shardOf(dev)))).
				Set(name(schema.TTLAttribute), value(q.headTTL(q.now()))),
			types.ReturnValueNone)
	}
	if err != nil {
		return storeErr("move sweep marker", err)
	}
	return nil
}

// repairRequeue marks the original of a requeued copy if a crash left it
// dead-lettered.
func (q *Queue) repairRequeue(ctx context.Context, dev string, cp msg, now time.Time) (bool, error) {
	out, err := q.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &q.table, Key: msgKey(dev, cp.ReqOf), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, storeErr("read requeued original", err)
	}
	if len(out.Item) == 0 {
		return false, nil
	}
	orig, err := decodeMsg(out.Item)
	if err != nil {
		return false, storeErr("read requeued original", err)
	}
	if !orig.State.deadLettered() || orig.ReqAs > 0 {
		return false, nil
	}
	return q.markRequeued(ctx, orig, cp.Seq, now)
}
