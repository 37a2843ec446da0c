package c2d

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
)

// State is a message's state as stored.
type State string

// States. Enqueued and Invisible are pending; the rest are settled and
// terminal (a requeue creates a new message).
const (
	Enqueued  State = "Q"
	Invisible State = "L" // locked by a receive; due again once the lock lapses
	Completed State = "C"
	Rejected  State = "R" // dead-lettered
	Expired   State = "E" // dead-lettered
	Exceeded  State = "D" // dead-lettered: delivery count exceeded
	Purged    State = "P" // removed by a purge (or the device was re-created)
	// Requeued is not stored: a requeue keeps the dead-letter state (and
	// the feedback it may still owe) and adds requeuedAs.
	Requeued State = "RQ"
)

func (s State) pending() bool { return s == Enqueued || s == Invisible }

func (s State) deadLettered() bool { return s == Rejected || s == Expired || s == Exceeded }

func (s State) names() (state, reason string) {
	switch s {
	case Enqueued:
		return "Enqueued", ""
	case Invisible:
		return "Invisible", ""
	case Completed:
		return "Completed", ""
	case Rejected:
		return "DeadLettered", "Rejected"
	case Expired:
		return "DeadLettered", "Expired"
	case Exceeded:
		return "DeadLettered", "DeliveryCountExceeded"
	case Purged:
		return "Purged", ""
	case Requeued:
		return "Requeued", ""
	}
	return string(s), ""
}

// outcome is the feedback status code a settled state reports.
func (s State) outcome() (iothub.StatusCode, bool) {
	switch s {
	case Completed:
		return iothub.StatusSuccess, true
	case Rejected:
		return iothub.StatusRejected, true
	case Expired:
		return iothub.StatusExpired, true
	case Exceeded:
		return iothub.StatusDeliveryCountExceeded, true
	case Purged:
		return iothub.StatusPurged, true
	}
	return "", false
}

// Event is what causes a transition; each has one conditional write below,
// named after it.
type Event string

// Events.
const (
	EvSend          Event = "Send"
	EvReceive       Event = "Receive"
	EvComplete      Event = "Complete"
	EvReject        Event = "Reject"
	EvAbandon       Event = "Abandon"
	EvAbandonLast   Event = "AbandonLast"   // abandon of the last delivery allowed
	EvLockLapseLast Event = "LockLapseLast" // the lock of the last allowed delivery lapsed
	EvExpire        Event = "Expire"
	EvPurge         Event = "Purge"
	EvPurgeStale    Event = "PurgeStale" // sent to an earlier device with the same id
	EvRequeue       Event = "Requeue"
)

// request is what a transition's guard compares the stored item with and
// what its effect writes: the message as the caller read it (or as a lock
// token names it), the request's own values and the queue's options.
type request struct {
	m           msg // Dev and Seq name the item; Ver, Gen and Ack are as read
	now         time.Time
	tok         string // the lock held (settles) or taken (receive)
	requeuedAs  int64  // requeue: the copy's sequence number
	maxDelivery int
	retention   time.Duration
	feedback    bool // the message's ack asks for the outcome being written
}

// A guard is the part of a transition's condition beside its from-states:
// a conjunction of terms, each a condition on the stored item that takes
// its values from the request, so the expression carries exactly the values
// it compares with. Guards are kept flat (one AND of terms): the emulator's
// expression parser slows down exponentially with nested parentheses.
type (
	term   func(r *request) expression.ConditionBuilder
	guard  []term
	effect func(r *request, u expression.UpdateBuilder) expression.UpdateBuilder
)

// all is the conjunction of guards.
func all(gs ...guard) guard {
	var terms guard
	for _, g := range gs {
		terms = append(terms, g...)
	}
	return terms
}

// transition is one row of the state machine, written as one conditional
// UpdateItem: the state is one of from and the guard holds; then the
// version is bumped, the state becomes to, and the effect applies.
type transition struct {
	event  Event
	from   []State
	to     State // Requeued: the state is kept
	guard  guard
	effect effect
}

var (
	pendingStates = []State{Enqueued, Invisible}
	deadStates    = []State{Rejected, Expired, Exceeded}
)

// transitions is the C2D state machine. Send is a put of a new item
// (attribute_not_exists, send below); feedback consumption is not a state
// change (feedbackConsumed). The settling rows also put the item into the
// feedback index when the message's ack asks for its outcome, in the same
// write, so no crash can separate an outcome from its feedback.
var transitions = [...]transition{
	{EvReceive, pendingStates, Invisible, all(sameVersion, unexpired, due, belowMaxDelivery), takeLock},
	{EvComplete, []State{Invisible}, Completed, lockHeld, settle},
	{EvReject, []State{Invisible}, Rejected, lockHeld, settle},
	{EvAbandon, []State{Invisible}, Enqueued, all(lockHeld, belowMaxDelivery), releaseLock},
	{EvAbandonLast, []State{Invisible}, Exceeded, all(lockHeld, atMaxDelivery), settle},
	{EvLockLapseLast, []State{Invisible}, Exceeded, all(sameVersion, lockLapsed, atMaxDelivery), settle},
	{EvExpire, pendingStates, Expired, all(sameVersion, expired, due), settle},
	{EvPurge, pendingStates, Purged, nil, settle},
	{EvPurgeStale, pendingStates, Purged, sameGeneration, settle},
	{EvRequeue, deadStates, Requeued, all(sameVersion, notRequeued), markRequeued},
}

// Guards.
var (
	// sameVersion: nothing wrote the item since the caller read it.
	sameVersion = guard{func(r *request) expression.ConditionBuilder {
		return name(aVer).Equal(value(r.m.Ver))
	}}
	// lockHeld: the request's lock token is the item's, and it has not lapsed.
	lockHeld = guard{
		func(r *request) expression.ConditionBuilder { return name(aLock).Equal(value(r.tok)) },
		func(r *request) expression.ConditionBuilder { return name(aLockTil).GreaterThan(value(ms(r.now))) },
	}
	lockLapsed = guard{lapsed}
	// due: never delivered since it was (made) due, or its lock lapsed.
	due = guard{func(r *request) expression.ConditionBuilder {
		return name(aState).Equal(value(Enqueued)).Or(lapsed(r))
	}}
	unexpired = guard{func(r *request) expression.ConditionBuilder {
		return name(aExp).GreaterThan(value(ms(r.now)))
	}}
	expired = guard{func(r *request) expression.ConditionBuilder {
		return name(aExp).LessThanEqual(value(ms(r.now)))
	}}
	belowMaxDelivery = guard{func(r *request) expression.ConditionBuilder {
		return name(aCount).LessThan(value(r.maxDelivery))
	}}
	atMaxDelivery = guard{func(r *request) expression.ConditionBuilder {
		return name(aCount).GreaterThanEqual(value(r.maxDelivery))
	}}
	// sameGeneration: the item was sent to the device generation the
	// caller read on it (PurgeStale purges what an earlier one left).
	sameGeneration = guard{func(r *request) expression.ConditionBuilder {
		return name(aGen).Equal(value(r.m.Gen))
	}}
	notRequeued = guard{func(*request) expression.ConditionBuilder {
		return name(aReqAs).AttributeNotExists()
	}}
)

func lapsed(r *request) expression.ConditionBuilder {
	return name(aLockTil).LessThanEqual(value(ms(r.now)))
}

// Effects.

// takeLock locks the message for a new delivery.
func takeLock(r *request, u expression.UpdateBuilder) expression.UpdateBuilder {
	return u.Set(name(aLock), value(r.tok)).
		Set(name(aLockTil), value(ms(r.now.Add(LockDuration)))).
		Set(name(aCount), name(aCount).Plus(value(1)))
}

func releaseLock(_ *request, u expression.UpdateBuilder) expression.UpdateBuilder {
	return u.Remove(name(aLock)).Remove(name(aLockTil))
}

// settle records the settle time, starts the retention period and, when
// the message's ack asks for this outcome, enters the feedback index.
func settle(r *request, u expression.UpdateBuilder) expression.UpdateBuilder {
	u = releaseLock(r, u).
		Set(name(aSettled), value(ms(r.now))).
		Set(name(schema.TTLAttribute), value(r.now.Add(r.retention).Unix()))
	if r.feedback {
		u = u.Set(name(schema.C2DFeedbackShard), value(shardName(shardOf(r.m.Dev)))).
			Set(name(schema.C2DFeedbackKey), value(feedbackKey(r.now, r.m.Dev, r.m.Seq)))
	}
	return u
}

func markRequeued(r *request, u expression.UpdateBuilder) expression.UpdateBuilder {
	return u.Set(name(aReqAs), value(r.requeuedAs))
}

func transitionOf(ev Event) transition {
	for _, t := range transitions {
		if t.event == ev {
			return t
		}
	}
	panic("c2d: no transition for event " + string(ev))
}

func (t transition) condition(r *request) expression.ConditionBuilder {
	from := make([]expression.OperandBuilder, len(t.from))
	for i, s := range t.from {
		from[i] = value(s)
	}
	in := name(aState).In(from[0], from[1:]...)
	if len(t.guard) == 0 {
		return in
	}
	terms := make([]expression.ConditionBuilder, len(t.guard))
	for i, g := range t.guard {
		terms[i] = g(r)
	}
	return expression.And(in, terms[0], terms[1:]...)
}

func (t transition) update(r *request) expression.UpdateBuilder {
	u := expression.Set(name(aVer), name(aVer).Plus(value(1)))
	if t.to != Requeued {
		u = u.Set(name(aState), value(t.to))
	}
	return t.effect(r, u)
}

// write performs transition ev as one conditional UpdateItem on the item
// r.m names. It reports false, with no error, when the condition does not
// hold; the item is then unchanged.
func (q *Queue) write(ctx context.Context, ev Event, r request, ret types.ReturnValue) (map[string]types.AttributeValue, bool, error) {
	t := transitionOf(ev)
	r.maxDelivery, r.retention = q.opt.MaxDelivery, q.opt.Retention
	if code, ok := t.to.outcome(); ok {
		r.feedback = wants(r.m.Ack, code)
	}
	attrs, ok, err := updateIf(ctx, q.db, q.table, msgKey(r.m.Dev, r.m.Seq), t.condition(&r), t.update(&r), ret)
	if err != nil {
		return nil, false, storeErr(string(ev), err)
	}
	return attrs, ok, nil
}

// settleObserved runs a transition decided on an item read at version
// m.Ver (expire, lock lapse on the last delivery, purges, requeue).
func (q *Queue) settleObserved(ctx context.Context, ev Event, m msg, now time.Time) (bool, error) {
	_, ok, err := q.write(ctx, ev, request{m: m, now: now}, types.ReturnValueNone)
	return ok, err
}

// send puts a new message's state item (Send: from nothing to Enqueued).
func (q *Queue) send(ctx context.Context, m msg) error {
	it, err := m.newItem()
	if err != nil {
		return storeErr("send", err)
	}
	e := build(expression.NewBuilder().WithCondition(name(schema.C2DSortKey).AttributeNotExists()))
	_, err = q.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &q.table, Item: it, ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(),
	})
	if isConditionFailed(err) {
		return storeErr("send", errors.New("sequence number already used"))
	}
	if err != nil {
		return storeErr("send", err)
	}
	return nil
}

// feedbackConsumed takes a settled message out of the feedback index once a
// reader completed the batch holding its record.
func (q *Queue) feedbackConsumed(ctx context.Context, dev string, seq int64, fbKey string) error {
	_, _, err := updateIf(ctx, q.db, q.table, msgKey(dev, seq),
		name(schema.C2DFeedbackKey).Equal(value(fbKey)),
		expression.Remove(name(schema.C2DFeedbackShard)).Remove(name(schema.C2DFeedbackKey)), types.ReturnValueNone)
	if err != nil {
		return storeErr("feedback complete", err)
	}
	return nil
}

// markRequeued records on a dead-lettered original, read at version
// orig.Ver, the sequence number of its requeued copy.
func (q *Queue) markRequeued(ctx context.Context, orig msg, copySeq int64, now time.Time) (bool, error) {
	_, ok, err := q.write(ctx, EvRequeue, request{m: orig, now: now, requeuedAs: copySeq}, types.ReturnValueNone)
	return ok, err
}
