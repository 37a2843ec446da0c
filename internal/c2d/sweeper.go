package c2d

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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

// Sweep visits every device whose head is due in the bySweep index (its
// earliest pending expiry, the lock expiry of a last allowed delivery, or a
// send that may have crashed), dead-letters what expired with its feedback,
// finishes interrupted requeues and refreshes the head. Shards are swept in
// parallel; a device that fails is logged and counted, and the others go on.
func (q *Queue) Sweep(ctx context.Context) (SweepStats, error) {
	var (
		mu    sync.Mutex
		total SweepStats
		errs  []error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 4)
	)
	now := q.now().UTC()
	for shard := 0; shard < schema.C2DShards; shard++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			st, err := q.sweepShard(ctx, shard, ms(now))
			mu.Lock()
			defer mu.Unlock()
			total.Devices += st.Devices
			total.Expired += st.Expired
			total.Exceeded += st.Exceeded
			total.Repaired += st.Repaired
			total.Failed += st.Failed
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

func (q *Queue) sweepShard(ctx context.Context, shard int, now int64) (SweepStats, error) {
	var st SweepStats
	cond := "#ss = :ss AND #sa <= :now"
	idx := schema.C2DSweepIndex
	names, vals := expr(map[string]types.AttributeValue{":ss": sS(shardName(shard)), ":now": sN(now)}, cond)
	in := &dynamodb.QueryInput{TableName: &q.table, IndexName: &idx, KeyConditionExpression: &cond,
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals, Limit: aws.Int32(100)}
	for {
		out, err := q.db.Query(ctx, in)
		if err != nil {
			return st, storeErr("read sweep index", err)
		}
		for _, it := range out.Items {
			dev := getS(it, schema.DeviceID)
			ds, err := q.sweepDevice(ctx, dev)
			st.Devices++
			if err != nil {
				st.Failed++
				q.log.WarnContext(ctx, "sweep failed", slog.String("device", dev), slog.Any("error", err))
				continue
			}
			st.Expired += ds.Expired
			st.Exceeded += ds.Exceeded
			st.Repaired += ds.Repaired
		}
		if len(out.LastEvaluatedKey) == 0 {
			return st, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// DeviceSweep is what one device's sweep found and did.
type DeviceSweep struct {
	Pending   int // messages still pending afterwards (in-flight sends included)
	Expired   int
	Exceeded  int
	Repaired  int // requeues whose original was not yet marked
	NextSweep time.Time
}

// sweepDevice settles what is due on one device and refreshes its head: the
// lowest possibly-pending number, the admission limit from a fresh count,
// and the next sweep time (the earliest expiry, or the lock expiry of a
// last allowed delivery), or takes the device out of the sweep index when
// nothing is pending. The head is only written if no send allocated a
// number meanwhile; otherwise the device is read again.
func (q *Queue) sweepDevice(ctx context.Context, dev string) (DeviceSweep, error) {
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

func (q *Queue) sweepOnce(ctx context.Context, dev string) (DeviceSweep, bool, error) {
	var st DeviceSweep
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
	expect := max(h.head, 1)
	inflightOK := nowMS-h.seqAt < inflight.Milliseconds()
	gap := func(upTo int64) { // numbers allocated but not (yet) seen
		if expect < upTo && inflightOK {
			st.Pending += int(upTo - expect)
			if newHead == 0 {
				newHead = expect
			}
			next = min(next, h.seqAt+inflight.Milliseconds())
		}
	}
	err = q.scan(ctx, dev, expect, true, func(m msg) (bool, error) {
		if m.seq > h.seq {
			return false, nil // allocated after the head was read: the next sweep's
		}
		gap(m.seq)
		expect = m.seq + 1
		if m.reqOf > 0 && m.state.pending() {
			if fixed, err := q.repairRequeue(ctx, dev, m, now); err != nil {
				return false, err
			} else if fixed {
				st.Repaired++
			}
		}
		if !m.state.pending() {
			return true, nil
		}
		lapsed := m.state == Enqueued || m.lockUntil <= nowMS
		switch {
		case m.exp <= nowMS && lapsed:
			ok, err := q.settleObserved(ctx, EvExpire, m, now, nil)
			if ok {
				st.Expired++
				return true, err
			}
			return false, err
		case m.state == Invisible && lapsed && m.count >= q.opt.MaxDelivery:
			ok, err := q.settleObserved(ctx, EvLockLapseLast, m, now, nil)
			if ok {
				st.Exceeded++
				return true, err
			}
			return false, err
		}
		st.Pending++
		if newHead == 0 {
			newHead = m.seq
		}
		next = min(next, m.exp)
		if m.state == Invisible && !lapsed && (m.count >= q.opt.MaxDelivery || m.exp <= nowMS) {
			next = min(next, m.lockUntil) // settles when this lock lapses
		}
		return true, nil
	})
	if err != nil {
		return st, false, err
	}
	if expect <= h.seq {
		gap(h.seq + 1)
	}
	if newHead == 0 {
		newHead = h.seq + 1
	}
	// The head first (guarded by no send having allocated meanwhile), then
	// the marker (guarded by no send having lowered it meanwhile): between
	// the two the marker is at most as late as head.swa, as scheduleSweep needs.
	vals := map[string]types.AttributeValue{":seq": sN(h.seq), ":head": sN(newHead),
		":lim": sN(h.seq + int64(q.opt.MaxQueue-st.Pending))}
	cond := "#seq = :seq"
	update := "SET #head = :head, #lim = :lim"
	if h.swa > 0 {
		cond += " AND #swa = :swa0"
		vals[":swa0"] = sN(h.swa)
	} else {
		cond += " AND attribute_not_exists(#swa)"
	}
	if next == math.MaxInt64 {
		update += " REMOVE #swa"
	} else {
		update += ", #swa = :swa"
		vals[":swa"] = sN(next)
		st.NextSweep = fromMS(next)
	}
	names, v := expr(vals, cond, update)
	_, err = q.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &q.table, Key: key(dev, headSK), ConditionExpression: &cond, UpdateExpression: &update,
		ExpressionAttributeNames: names, ExpressionAttributeValues: v,
	})
	if isConditionFailed(err) {
		return st, true, nil
	}
	if err != nil {
		return st, false, storeErr("update queue head", err)
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
	return getN(out.Item, schema.C2DSweepAt), nil
}

// moveMarker sets the sweep marker from was to next (MaxInt64: delete it),
// unless a send moved it meanwhile.
func (q *Queue) moveMarker(ctx context.Context, dev string, was, next int64) error {
	if was == next {
		return nil
	}
	vals := map[string]types.AttributeValue{":was": sN(was), ":next": sN(next), ":ss": sS(shardName(shardOf(dev))), ":ttl": sN(q.headTTL(q.now()))}
	cond := "#sa = :was"
	if was == 0 {
		cond = "attribute_not_exists(#sa)"
	}
	var err error
	if next == math.MaxInt64 {
		if was == 0 {
			return nil
		}
		names, v := expr(vals, cond)
		_, err = q.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &q.table, Key: key(dev, markerSK),
			ConditionExpression: &cond, ExpressionAttributeNames: names, ExpressionAttributeValues: v})
	} else {
		update := "SET #sa = :next, #ss = :ss, #ttl = :ttl"
		names, v := expr(vals, cond, update)
		_, err = q.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &q.table, Key: key(dev, markerSK),
			ConditionExpression: &cond, UpdateExpression: &update, ExpressionAttributeNames: names, ExpressionAttributeValues: v})
	}
	if err != nil && !isConditionFailed(err) {
		return storeErr("move sweep marker", err)
	}
	return nil
}

// repairRequeue marks the original of a requeued copy if a crash left it
// dead-lettered.
func (q *Queue) repairRequeue(ctx context.Context, dev string, cp msg, now time.Time) (bool, error) {
	out, err := q.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &q.table, Key: key(dev, seqKey(msgPrefix, cp.reqOf)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, storeErr("read requeued original", err)
	}
	if len(out.Item) == 0 {
		return false, nil
	}
	orig, err := decodeMsg(out.Item)
	if err != nil || !orig.state.deadLettered() || orig.reqAs > 0 {
		return false, err
	}
	return q.settleObserved(ctx, EvRequeue, orig, now, map[string]types.AttributeValue{":rqa": sN(cp.seq)}, "#rqa = :rqa")
}
