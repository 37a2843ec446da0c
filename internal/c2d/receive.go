package c2d

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
		start = max(h.head, 1)
	}
	var got *msg
	next, prefix := start, true // settled items at the front, contiguous from start
	err := q.scan(ctx, dev, start, false, func(m msg) (bool, error) {
		if prefix && m.seq == next && !m.state.pending() {
			next++
			return true, nil
		}
		prefix = false
		if !m.state.pending() {
			return true, nil
		}
		lapsed := m.state == Enqueued || m.lockUntil <= ms(now)
		switch {
		case m.gen != id.GenerationID:
			_, err := q.settleObserved(ctx, EvPurgeStale, m, now, nil)
			return err == nil, err
		case m.exp <= ms(now) && lapsed:
			_, err := q.settleObserved(ctx, EvExpire, m, now, nil)
			return err == nil, err
		case !lapsed:
			return true, nil
		case m.count >= q.opt.MaxDelivery:
			_, err := q.settleObserved(ctx, EvLockLapseLast, m, now, nil)
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
	if got.count >= q.opt.MaxDelivery {
		// The last allowed delivery: if its lock lapses, the sweeper must
		// dead-letter it without waiting for its expiry.
		if err := q.scheduleSweep(ctx, dev, got.lockUntil); err != nil {
			q.log.WarnContext(ctx, "cannot schedule sweep of last delivery", slog.String("device", dev), slog.Any("error", err))
		}
	}
	body, err := q.body(ctx, dev, got.seq)
	if err != nil {
		return nil, err
	}
	d := &Delivery{LockToken: got.lock, SequenceNumber: got.seq, EnqueuedTime: fromMS(got.enq),
		Expiry: fromMS(got.exp), DeliveryCount: got.count - 1, Message: got.message()}
	d.Body = body
	return d, nil
}

// advanceHead records a new lowest possibly-pending number for cold readers.
func (q *Queue) advanceHead(ctx context.Context, dev string, h int64) {
	cond := "attribute_exists(#seq) AND #head < :h"
	update := "SET #head = :h"
	names, vals := expr(map[string]types.AttributeValue{":h": sN(h)}, cond, update)
	_, err := q.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &q.table, Key: key(dev, headSK), ConditionExpression: &cond, UpdateExpression: &update,
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	})
	if err != nil && !isConditionFailed(err) {
		q.log.WarnContext(ctx, "cannot advance queue head", slog.String("device", dev), slog.Any("error", err))
	}
}

func (q *Queue) body(ctx context.Context, dev string, seq int64) ([]byte, error) {
	for _, consistent := range []bool{false, true} { // the body is immutable: an eventual read only misses it right after the send
		out, err := q.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &q.table, Key: key(dev, seqKey(bodyPfx, seq)), ConsistentRead: aws.Bool(consistent)})
		if err != nil {
			return nil, storeErr("read body", err)
		}
		if b, ok := out.Item[aBody].(*types.AttributeValueMemberB); ok {
			return b.Value, nil
		}
	}
	return nil, apierr.ServerError.New(fmt.Sprintf("body of message %d of %s is missing", seq, dev))
}

// receive locks a due message observed at version m.ver for a new delivery.
func (q *Queue) receive(ctx context.Context, m msg, now time.Time) (msg, bool, error) {
	tok := newLockToken(m.seq, m.ack)
	attrs, ok, err := q.write(ctx, change{dev: m.dev, seq: m.seq, ev: EvReceive, ret: types.ReturnValueAllNew,
		values: map[string]types.AttributeValue{":v": sN(m.ver), ":Q": sS(string(Enqueued)),
			":max": sN(int64(q.opt.MaxDelivery)), ":tok": sS(tok), ":lu": sN(ms(now.Add(LockDuration)))},
		set: []string{"#lk = :tok", "#lu = :lu", "#n = #n + :one"},
	}, now)
	if err != nil || !ok {
		return msg{}, ok, err
	}
	locked, err := decodeMsg(attrs)
	if err != nil {
		return msg{}, false, storeErr("receive", err)
	}
	return locked, true, nil
}
