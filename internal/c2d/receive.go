package c2d

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/registry"
)

// Receive locks the first due message of the device, FIFO by sequence
// number (a message that was abandoned or whose lock lapsed keeps its
// place, so it comes before newer ones). On the way it settles what must
// not be delivered: expired messages, messages whose last allowed delivery
// lapsed, and messages sent to an earlier device with the same id. It
// returns nil when nothing is due.
func (q *Queue) Receive(ctx context.Context, id registry.Identity) (*Delivery, error) {
	dev := id.DeviceID
	now := q.now().UTC()
	start := q.hint(dev)
	if start == 0 {
		h, err := q.getHead(ctx, dev, false)
		if err != nil {
			return nil, err
		}
		if !h.exists {
			return nil, nil
		}
		start = max(h.Head, 1)
	}
	var got *msg
	next, prefix := start, true // settled items at the front, contiguous from start
	err := q.scan(ctx, dev, start, false, func(m msg) (bool, error) {
		if prefix && m.Seq == next && !m.State.pending() {
			next++
			return true, nil
		}
		prefix = false
		if !m.State.pending() {
			return true, nil
		}
		lapsed := m.State == Enqueued || m.LockUntil <= ms(now)
		switch {
		case m.Gen != id.GenerationID:
			_, err := q.settleObserved(ctx, EvPurgeStale, m, now)
			return err == nil, err
		case m.Exp <= ms(now) && lapsed:
			_, err := q.settleObserved(ctx, EvExpire, m, now)
			return err == nil, err
		case !lapsed:
			return true, nil
		case m.Count >= q.opt.MaxDelivery:
			_, err := q.settleObserved(ctx, EvLockLapseLast, m, now)
			return err == nil, err
		}
		locked, ok, err := q.receive(ctx, m, now)
		if err != nil || !ok {
			return err == nil, err // lost a race: another receiver has it; try the next
		}
		got = &locked
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	q.setHint(dev, next)
	if next-start >= 16 {
		q.advanceHead(ctx, dev, next)
	}
	if got == nil {
		return nil, nil
	}
	if got.Count >= q.opt.MaxDelivery {
		// The last allowed delivery: if its lock lapses, the sweeper must
		// dead-letter it without waiting for its expiry.
		if err := q.scheduleSweep(ctx, dev, got.LockUntil); err != nil {
			q.log.WarnContext(ctx, "cannot schedule sweep of last delivery", slog.String("device", dev), slog.Any("error", err))
		}
	}
	b, err := q.body(ctx, dev, got.Seq)
	if err != nil {
		return nil, err
	}
	d := &Delivery{LockToken: got.Lock, SequenceNumber: got.Seq, EnqueuedTime: fromMS(got.Enq),
		Expiry: fromMS(got.Exp), DeliveryCount: got.Count - 1, Message: got.message()}
	d.Body = b
	return d, nil
}

// receive locks a due message observed at version m.Ver for a new delivery
// and returns it as locked.
func (q *Queue) receive(ctx context.Context, m msg, now time.Time) (msg, bool, error) {
	attrs, ok, err := q.write(ctx, EvReceive, request{m: m, now: now, tok: newLockToken(m.Seq, m.Ack)}, types.ReturnValueAllNew)
	if err != nil || !ok {
		return msg{}, ok, err
	}
	locked, err := decodeMsg(attrs)
	if err != nil {
		return msg{}, false, storeErr("receive", err)
	}
	return locked, true, nil
}

// advanceHead records a new lowest possibly-pending number for cold readers.
func (q *Queue) advanceHead(ctx context.Context, dev string, h int64) {
	_, _, err := updateIf(ctx, q.db, q.table, key(dev, headSK),
		name(aSeq).AttributeExists().And(name(aHead).LessThan(value(h))),
		expression.Set(name(aHead), value(h)), types.ReturnValueNone)
	if err != nil {
		q.log.WarnContext(ctx, "cannot advance queue head", slog.String("device", dev), slog.Any("error", err))
	}
}

// body reads a message's body.
func (q *Queue) body(ctx context.Context, dev string, seq int64) ([]byte, error) {
	for _, consistent := range []bool{false, true} { // the body is immutable: an eventual read only misses it right after the send
		out, err := q.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &q.table, Key: key(dev, seqKey(bodyPfx, seq)), ConsistentRead: aws.Bool(consistent)})
		if err != nil {
			return nil, storeErr("read body", err)
		}
		if _, ok := out.Item[aBody]; ok {
			var b body
			if err := attributevalue.UnmarshalMap(out.Item, &b); err != nil {
				return nil, storeErr("read body", err)
			}
			return b.Body, nil
		}
	}
	return nil, apierr.ServerError.New(fmt.Sprintf("body of message %d of %s is missing", seq, dev))
}
