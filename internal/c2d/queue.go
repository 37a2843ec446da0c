package c2d

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
)

// Queue is every device's cloud-to-device queue in one DynamoDB table.
type Queue struct {
	db      DynamoDB
	table   string
	devices Devices
	opt     Options
	now     func() time.Time
	log     *slog.Logger

	// hints caches, per device, a sequence number below which every message
	// is settled. Settled is terminal, so a hint never goes stale in the
	// unsafe direction; it only saves reading settled items.
	mu    sync.Mutex
	hints map[string]int64
}

// NewQueue returns the queue on table, reading devices from the registry.
func NewQueue(db DynamoDB, table string, devices Devices, opt Options, now func() time.Time, log *slog.Logger) *Queue {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Queue{db: db, table: table, devices: devices, opt: opt.withDefaults(), now: now, log: log, hints: map[string]int64{}}
}

const maxHints = 10_000

func (q *Queue) hint(dev string) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.hints[dev]
}

func (q *Queue) setHint(dev string, h int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if h <= q.hints[dev] {
		return
	}
	if len(q.hints) >= maxHints {
		for k := range q.hints { // drop an arbitrary entry; a hint is only an optimisation
			delete(q.hints, k)
			break
		}
	}
	q.hints[dev] = h
}

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

func (q *Queue) getHead(ctx context.Context, dev string, consistent bool) (head, error) {
	out, err := q.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &q.table, Key: key(dev, headSK), ConsistentRead: aws.Bool(consistent)})
	if err != nil {
		return head{}, storeErr("read queue head", err)
	}
	return decodeHead(out.Item), nil
}

// scan pages through a device's message items from sequence number from,
// calling fn for each until it returns false.
func (q *Queue) scan(ctx context.Context, dev string, from int64, consistent bool, fn func(m msg) (bool, error)) error {
	cond := "#dev = :dev AND #sk BETWEEN :lo AND :hi"
	names, vals := expr(map[string]types.AttributeValue{
		":dev": sS(dev), ":lo": sS(seqKey(msgPrefix, from)), ":hi": sS(maxMsgKey),
	}, cond)
	in := &dynamodb.QueryInput{TableName: &q.table, KeyConditionExpression: &cond,
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		ConsistentRead: aws.Bool(consistent), Limit: aws.Int32(64)}
	for {
		out, err := q.db.Query(ctx, in)
		if err != nil {
			return storeErr("read queue", err)
		}
		for _, it := range out.Items {
			m, err := decodeMsg(it)
			if err != nil {
				return storeErr("read queue", err)
			}
			more, err := fn(m)
			if err != nil || !more {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

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

// Complete settles a received message as delivered.
func (q *Queue) Complete(ctx context.Context, id registry.Identity, lockToken string) error {
	return q.settle(ctx, id, lockToken, EvComplete)
}

// Reject dead-letters a received message.
func (q *Queue) Reject(ctx context.Context, id registry.Identity, lockToken string) error {
	return q.settle(ctx, id, lockToken, EvReject)
}

// Abandon makes a received message due again, or dead-letters it when it
// has had its last allowed delivery.
func (q *Queue) Abandon(ctx context.Context, id registry.Identity, lockToken string) error {
	return q.settle(ctx, id, lockToken, EvAbandon)
}

func (q *Queue) settle(ctx context.Context, id registry.Identity, lockToken string, ev Event) error {
	seq, ack, err := parseLockToken(lockToken)
	if err != nil {
		return err
	}
	tok := iothub.UnquoteETag(lockToken)
	now := q.now().UTC()
	ok, err := q.byLock(ctx, ev, id.DeviceID, seq, tok, ack, now)
	if err == nil && !ok && ev == EvAbandon {
		// Most abandons are not the last; only then is a second write tried.
		ok, err = q.byLock(ctx, EvAbandonLast, id.DeviceID, seq, tok, ack, now)
	}
	if err != nil {
		return err
	}
	if !ok {
		return errLockLost()
	}
	return nil
}

// Purge settles every pending message of the device as Purged and returns
// how many it purged.
func (q *Queue) Purge(ctx context.Context, dev string) (int, error) {
	if err := registry.ValidateDeviceID(dev); err != nil {
		return 0, err
	}
	if _, err := q.devices.Get(ctx, dev); err != nil {
		return 0, err
	}
	h, err := q.getHead(ctx, dev, true)
	if err != nil || !h.exists {
		return 0, err
	}
	now := q.now().UTC()
	n := 0
	err = q.scan(ctx, dev, max(h.head, 1), true, func(m msg) (bool, error) {
		if !m.state.pending() {
			return true, nil
		}
		ok, err := q.settleObserved(ctx, EvPurge, m, now, nil)
		if ok {
			n++
		}
		return err == nil, err
	})
	if err != nil {
		return n, err
	}
	if _, err := q.sweepDevice(ctx, dev); err != nil {
		q.log.WarnContext(ctx, "purge: cannot refresh queue head", slog.String("device", dev), slog.Any("error", err))
	}
	return n, nil
}

// Lookup returns the retained messages of the device with this message id,
// oldest first (message ids are the sender's and need not be unique).
func (q *Queue) Lookup(ctx context.Context, dev, messageID string) ([]iothub.C2DStatus, error) {
	if err := registry.ValidateDeviceID(dev); err != nil {
		return nil, err
	}
	var out []iothub.C2DStatus
	err := q.scan(ctx, dev, 1, false, func(m msg) (bool, error) {
		if m.id == messageID {
			out = append(out, m.status())
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, apierr.MessageNotFound.New("no retained message " + strconv.Quote(messageID) + " for device " + strconv.Quote(dev))
	}
	return out, nil
}

// DeadLetters lists the device's retained dead-lettered messages, oldest
// first, up to limit per page; cursor is the previous page's continuation.
func (q *Queue) DeadLetters(ctx context.Context, dev string, limit int, cursor string) ([]iothub.C2DStatus, string, error) {
	if err := registry.ValidateDeviceID(dev); err != nil {
		return nil, "", err
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	from := int64(1)
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		n, perr := strconv.ParseInt(string(b), 10, 64)
		if err != nil || perr != nil || n < 1 {
			return nil, "", invalid("bad continuation token")
		}
		from = n
	}
	var out []iothub.C2DStatus
	next := ""
	err := q.scan(ctx, dev, from, false, func(m msg) (bool, error) {
		if !m.state.deadLettered() || m.reqAs > 0 {
			return true, nil
		}
		if len(out) == limit {
			next = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(m.seq, 10)))
			return false, nil
		}
		out = append(out, m.status())
		return true, nil
	})
	return out, next, err
}

// Requeue enqueues a copy of the device's most recent dead-lettered message
// with this id as a new message (fresh sequence number, default TTL,
// delivery count 0, the device's current generation), then marks the
// original Requeued. A crash between the two leaves the copy pending with a
// pointer to the original; the sweeper finishes the mark.
func (q *Queue) Requeue(ctx context.Context, dev, messageID string) (iothub.C2DSent, error) {
	if err := registry.ValidateDeviceID(dev); err != nil {
		return iothub.C2DSent{}, err
	}
	d, err := q.devices.Get(ctx, dev)
	if err != nil {
		return iothub.C2DSent{}, err
	}
	var dead *msg
	err = q.scan(ctx, dev, 1, true, func(m msg) (bool, error) {
		if m.id == messageID && m.state.deadLettered() && m.reqAs == 0 {
			mm := m
			dead = &mm
		}
		return true, nil
	})
	if err != nil {
		return iothub.C2DSent{}, err
	}
	if dead == nil {
		return iothub.C2DSent{}, apierr.MessageNotFound.New("no dead-lettered message " + strconv.Quote(messageID) + " for device " + strconv.Quote(dev))
	}
	body, err := q.body(ctx, dev, dead.seq)
	if err != nil {
		return iothub.C2DSent{}, err
	}
	now := q.now().UTC()
	// If this stops between the copy and the mark, the sweeper must come by
	// soon to finish the mark, not at the copy's expiry.
	if err := q.scheduleSweep(ctx, dev, ms(now.Add(inflight))); err != nil {
		return iothub.C2DSent{}, err
	}
	m := dead.message()
	m.Body = body
	sent, err := q.enqueue(ctx, dev, d.GenerationID, m, now, now.Add(q.opt.DefaultTTL), dead.seq)
	if err != nil {
		return iothub.C2DSent{}, err
	}
	ok, err := q.settleObserved(ctx, EvRequeue, *dead, now, map[string]types.AttributeValue{":rqa": sN(sent.SequenceNumber)}, "#rqa = :rqa")
	if err != nil {
		return iothub.C2DSent{}, err
	}
	if !ok {
		// A concurrent requeue won: take this copy back out.
		cp := msg{dev: dev, seq: sent.SequenceNumber, ack: iothub.AckNone}
		if _, err := q.settleObserved(ctx, EvPurge, cp, now, nil); err != nil {
			return iothub.C2DSent{}, err
		}
		return iothub.C2DSent{}, apierr.MessageAlreadyRequeued.New("message " + strconv.Quote(messageID) + " was requeued concurrently")
	}
	return sent, nil
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

func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
