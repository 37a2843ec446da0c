package c2d

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
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
	b, err := attributevalue.MarshalMap(body{Dev: dev, SK: seqKey(bodyPfx, seq), Body: append([]byte{}, m.Body...), TTL: ttl})
	if err != nil {
		return iothub.C2DSent{}, storeErr("send body", err)
	}
	if _, err := q.db.PutItem(wctx, &dynamodb.PutItemInput{TableName: &q.table, Item: b}); err != nil {
		return iothub.C2DSent{}, storeErr("send body", err)
	}
	it := msg{Dev: dev, Gen: gen, Seq: seq, ID: m.MessageID, CID: m.CorrelationID, UID: m.UserID,
		CType: m.ContentType, CEnc: m.ContentEncoding, Ack: m.Ack, Props: propsMap(m.Properties),
		Enq: ms(now), Exp: ms(exp), TTL: ttl, ReqOf: requeueOf}
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
		h, ok, err := q.allocate(ctx, dev, now)
		if err != nil {
			return 0, err
		}
		if ok {
			if h.Swa == 0 || h.Swa > ms(exp) {
				if err := q.scheduleSweep(ctx, dev, ms(exp)); err != nil {
					return 0, err
				}
			}
			return h.Seq, nil
		}
		if attempt == 2 {
			return 0, errQueueFull(q.opt.MaxQueue)
		}
		st, err := q.sweepDevice(ctx, dev)
		if err != nil {
			return 0, err
		}
		if st.pending >= q.opt.MaxQueue {
			return 0, errQueueFull(q.opt.MaxQueue)
		}
	}
}

// allocate takes the next sequence number unless it is past the head's
// admission limit; it returns the head as updated.
func (q *Queue) allocate(ctx context.Context, dev string, now time.Time) (head, bool, error) {
	seq := name(aSeq)
	attrs, ok, err := updateIf(ctx, q.db, q.table, key(dev, headSK),
		seq.AttributeNotExists().Or(seq.LessThan(name(aLim))),
		expression.Set(seq, expression.Plus(seq.IfNotExists(value(0)), value(1))).
			Set(name(aHead), name(aHead).IfNotExists(value(1))).
			Set(name(aLim), name(aLim).IfNotExists(value(q.opt.MaxQueue))).
			Set(name(aSeqAt), value(ms(now))).
			Set(name(schema.TTLAttribute), value(q.headTTL(now))),
		types.ReturnValueAllNew)
	if err != nil {
		return head{}, false, storeErr("admit", err)
	}
	if !ok {
		return head{}, false, nil
	}
	h, err := decodeHead(attrs)
	if err != nil {
		return head{}, false, storeErr("admit", err)
	}
	return h, true, nil
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
	sweepAt, swa := name(schema.C2DSweepAt), name(aSwa)
	_, _, err := updateIf(ctx, q.db, q.table, key(dev, markerSK),
		sweepAt.AttributeNotExists().Or(sweepAt.GreaterThan(value(at))),
		expression.Set(sweepAt, value(at)).
			Set(name(schema.C2DSweepShard), value(shardName(shardOf(dev)))).
			Set(name(schema.TTLAttribute), value(q.headTTL(q.now()))),
		types.ReturnValueNone)
	if err == nil {
		_, _, err = updateIf(ctx, q.db, q.table, key(dev, headSK),
			name(aSeq).AttributeExists().And(swa.AttributeNotExists().Or(swa.GreaterThan(value(at)))),
			expression.Set(swa, value(at)), types.ReturnValueNone)
	}
	if err != nil {
		return storeErr("schedule sweep", err)
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
