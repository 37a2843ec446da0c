package c2d

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
)

// Send validates m and enqueues it for device dev; it returns once the
// message is durable.
func (q *Queue) Send(ctx context.Context, dev string, m Message) (iothub.C2DSent, error) {
	if err := registry.ValidateDeviceID(dev); err != nil {
		return iothub.C2DSent{}, err
	}
	if err := ValidateMessage(&m); err != nil {
		return iothub.C2DSent{}, err
	}
	if m.Ack == "" {
		m.Ack = iothub.AckNone
	}
	if _, err := ParseAck(string(m.Ack)); err != nil {
		return iothub.C2DSent{}, err
	}
	now := q.now().UTC()
	exp := now.Add(q.opt.DefaultTTL)
	if !m.Expiry.IsZero() {
		if m.Expiry.Before(now.Add(MinTTL)) || m.Expiry.After(now.Add(MaxTTL)) {
			return iothub.C2DSent{}, invalid("expiry must be between 1 minute and 2 days from now")
		}
		exp = m.Expiry
	}
	if m.MessageID == "" {
		m.MessageID = newMessageID()
	}
	d, err := q.devices.Get(ctx, dev)
	if err != nil {
		return iothub.C2DSent{}, err
	}
	return q.enqueue(ctx, dev, d.GenerationID, m, now, exp, 0)
}

// enqueue admits a message, writes its body then its state item. Crash
// points: after the admission nothing was written but a number (the sweeper
// and recounts treat it as in flight for 30 s, then as a gap); after the body,
// an unreferenced body expires with its TTL.
func (q *Queue) enqueue(ctx context.Context, dev, gen string, m Message, now, exp time.Time, requeueOf int64) (iothub.C2DSent, error) {
	seq, err := q.admit(ctx, dev, now, exp)
	if err != nil {
		return iothub.C2DSent{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, putDeadline)
	defer cancel()
	ttl := exp.Add(q.opt.Retention).Unix()
	body := key(dev, seqKey(bodyPfx, seq))
	body[aBody] = &types.AttributeValueMemberB{Value: append([]byte{}, m.Body...)}
	body[schema.TTLAttribute] = sN(ttl)
	if _, err := q.db.PutItem(wctx, &dynamodb.PutItemInput{TableName: &q.table, Item: body}); err != nil {
		return iothub.C2DSent{}, storeErr("send body", err)
	}
	it := &msg{dev: dev, gen: gen, seq: seq, id: m.MessageID, cid: m.CorrelationID, uid: m.UserID,
		ctype: m.ContentType, cenc: m.ContentEncoding, ack: m.Ack, props: m.Properties,
		enq: ms(now), exp: ms(exp), ttl: ttl, reqOf: requeueOf}
	if err := q.send(wctx, it); err != nil {
		return iothub.C2DSent{}, err
	}
	return iothub.C2DSent{DeviceID: dev, MessageID: m.MessageID, SequenceNumber: seq, EnqueuedTime: now, Expiry: exp.UTC()}, nil
}

// admit allocates the next sequence number if the queue has room. The fast
// path is one conditional update of the head: the head's limit is a
// sequence number up to which admission is safe without counting (it
// assumes nothing settled since the last count). When it is reached, the
// device is recounted (sweepDevice), which raises the limit by what settled,
// and admission is tried once more. Before the message is written, the
// device's sweep marker is made due no later than its expiry.
func (q *Queue) admit(ctx context.Context, dev string, now, exp time.Time) (int64, error) {
	for attempt := 0; ; attempt++ {
		seq, swa, ok, err := q.allocate(ctx, dev, now, exp)
		if err != nil {
			return 0, err
		}
		if ok {
			if swa == 0 || swa > ms(exp) {
				if err := q.scheduleSweep(ctx, dev, ms(exp)); err != nil {
					return 0, err
				}
			}
			return seq, nil
		}
		if attempt == 2 {
			return 0, errQueueFull(q.opt.MaxQueue)
		}
		st, err := q.sweepDevice(ctx, dev)
		if err != nil {
			return 0, err
		}
		if st.Pending >= q.opt.MaxQueue {
			return 0, errQueueFull(q.opt.MaxQueue)
		}
	}
}

func (q *Queue) allocate(ctx context.Context, dev string, now, exp time.Time) (seq, swa int64, ok bool, err error) {
	cond := "attribute_not_exists(#seq) OR #seq < #lim"
	update := "SET #seq = if_not_exists(#seq, :zero) + :one, #head = if_not_exists(#head, :one), " +
		"#lim = if_not_exists(#lim, :lim0), #sat = :now, #ttl = :ttl"
	names, vals := expr(map[string]types.AttributeValue{
		":zero": sN(0), ":one": sN(1), ":lim0": sN(int64(q.opt.MaxQueue)), ":now": sN(ms(now)),
		":ttl": sN(q.headTTL(now)),
	}, cond, update)
	out, err := q.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &q.table, Key: key(dev, headSK), ConditionExpression: &cond, UpdateExpression: &update,
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals, ReturnValues: types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, storeErr("admit", err)
	}
	h := decodeHead(out.Attributes)
	return h.seq, h.swa, true, nil
}

// headTTL outlives every item the device's messages can still have.
func (q *Queue) headTTL(now time.Time) int64 {
	return now.Add(MaxTTL + q.opt.Retention + 24*time.Hour).Unix()
}

// scheduleSweep makes the device's sweep marker due no later than at. The
// marker is a separate item so that the head, written by every send, is in
// no index (an item in an index costs an index write on each of its writes).
// Invariant: marker.sweepAt <= head.swa <= every pending message's expiry,
// so a send that sees head.swa <= its expiry needs no marker write. The
// marker is lowered first, then head.swa; a crash between leaves head.swa
// unset or later, which only makes the next send repeat the marker write.
func (q *Queue) scheduleSweep(ctx context.Context, dev string, at int64) error {
	for _, step := range []struct{ sk, cond, update string }{
		{markerSK, "attribute_not_exists(#sa) OR #sa > :at", "SET #sa = :at, #ss = :ss, #ttl = :ttl"},
		{headSK, "attribute_exists(#seq) AND (attribute_not_exists(#swa) OR #swa > :at)", "SET #swa = :at"},
	} {
		names, vals := expr(map[string]types.AttributeValue{":at": sN(at), ":ss": sS(shardName(shardOf(dev))),
			":ttl": sN(q.headTTL(q.now()))}, step.cond, step.update)
		_, err := q.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &q.table, Key: key(dev, step.sk), ConditionExpression: &step.cond, UpdateExpression: &step.update,
			ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		})
		if err != nil && !isConditionFailed(err) {
			return storeErr("schedule sweep", err)
		}
	}
	return nil
}

func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
