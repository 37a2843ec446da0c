package c2d

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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

// Transition is one row of the state machine. Guard is the rest of the
// write's condition, beside the state being one of From; the settling rows
// also put the item into the feedback index when the message's ack asks for
// its outcome, in the same write.
type Transition struct {
	Event Event
	From  []State
	To    State
	Guard string
}

var (
	pendingStates = []State{Enqueued, Invisible}
	deadStates    = []State{Rejected, Expired, Exceeded}
	lockHeld      = "#lk = :tok AND #lu > :now"
)

// Transitions is the C2D state machine. Send is a put of a new item
// (attribute_not_exists); feedback consumption is not a state change
// (feedbackConsumed).
var Transitions = []Transition{
	{EvReceive, pendingStates, Invisible, "#v = :v AND #exp > :now AND (#st = :Q OR #lu <= :now) AND #n < :max"},
	{EvComplete, []State{Invisible}, Completed, lockHeld},
	{EvReject, []State{Invisible}, Rejected, lockHeld},
	{EvAbandon, []State{Invisible}, Enqueued, lockHeld + " AND #n < :max"},
	{EvAbandonLast, []State{Invisible}, Exceeded, lockHeld + " AND #n >= :max"},
	{EvLockLapseLast, []State{Invisible}, Exceeded, "#v = :v AND #lu <= :now AND #n >= :max"},
	{EvExpire, pendingStates, Expired, "#v = :v AND #exp <= :now AND (#st = :Q OR #lu <= :now)"},
	{EvPurge, pendingStates, Purged, ""},
	{EvPurgeStale, pendingStates, Purged, "#gen = :gen"},
	{EvRequeue, deadStates, Requeued, "#v = :v AND attribute_not_exists(#rqa)"},
}

func transitionOf(ev Event) Transition {
	for _, t := range Transitions {
		if t.Event == ev {
			return t
		}
	}
	panic("c2d: no transition for event " + string(ev))
}

// attribute names the expressions use, by placeholder.
var exprNames = map[string]string{
	"#st": aState, "#v": aVer, "#exp": aExp, "#lu": aLockTil, "#lk": aLock, "#n": aCount,
	"#gen": aGen, "#at": aSettled, "#ttl": schema.TTLAttribute, "#fs": schema.C2DFeedbackShard,
	"#fk": schema.C2DFeedbackKey, "#rqa": aReqAs, "#sk": schema.C2DSortKey,
	"#seq": aSeq, "#head": aHead, "#lim": aLim, "#sat": aSeqAt, "#swa": aSwa, "#ss": schema.C2DSweepShard,
	"#sa": schema.C2DSweepAt, "#dev": schema.DeviceID,
}

var placeholder = regexp.MustCompile(`[#:][A-Za-z0-9_]+`)

// expr fills the names and values an expression set uses; DynamoDB refuses
// unused ones.
func expr(values map[string]types.AttributeValue, exprs ...string) (map[string]string, map[string]types.AttributeValue) {
	names := map[string]string{}
	var vals map[string]types.AttributeValue
	for _, e := range exprs {
		for _, p := range placeholder.FindAllString(e, -1) {
			if p[0] == '#' {
				n, ok := exprNames[p]
				if !ok {
					panic("c2d: unknown attribute placeholder " + p)
				}
				names[p] = n
				continue
			}
			v, ok := values[p]
			if !ok {
				panic("c2d: no value for " + p)
			}
			if vals == nil {
				vals = map[string]types.AttributeValue{}
			}
			vals[p] = v
		}
	}
	if len(names) == 0 {
		names = nil
	}
	return names, vals
}

// change is one transition about to be written.
type change struct {
	dev      string
	seq      int64
	ev       Event
	values   map[string]types.AttributeValue
	set      []string
	remove   []string
	feedback bool // the message's ack wants this outcome's feedback
	shard    int
	ret      types.ReturnValue
}

// write performs one transition as one conditional UpdateItem. It reports
// false (and no error) when the condition does not hold.
func (q *Queue) write(ctx context.Context, c change, now time.Time) (map[string]types.AttributeValue, bool, error) {
	t := transitionOf(c.ev)
	v := c.values
	if v == nil {
		v = map[string]types.AttributeValue{}
	}
	var in []string
	for i, s := range t.From {
		p := ":f" + string(rune('0'+i))
		in = append(in, p)
		v[p] = sS(string(s))
	}
	cond := "#st IN (" + strings.Join(in, ", ") + ")"
	if t.Guard != "" {
		cond += " AND " + t.Guard
	}
	v[":to"] = sS(string(t.To))
	v[":one"] = sN(1)
	v[":now"] = sN(ms(now))
	set := append([]string{"#v = #v + :one"}, c.set...)
	if t.To != Requeued {
		set = append(set, "#st = :to")
	}
	remove := c.remove
	if _, settled := t.To.outcome(); settled && !t.To.pending() {
		set = append(set, "#at = :now", "#ttl = :ttl")
		v[":ttl"] = sN(now.Add(q.opt.Retention).Unix())
		remove = append(remove, "#lk", "#lu")
		if c.feedback {
			set = append(set, "#fs = :fs", "#fk = :fk")
			v[":fs"] = sS(shardName(shardOf(c.dev)))
			v[":fk"] = sS(feedbackKey(now, c.dev, c.seq))
		}
	}
	update := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	names, vals := expr(v, cond, update)
	ret := c.ret
	if ret == "" {
		ret = types.ReturnValueNone
	}
	out, err := q.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &q.table, Key: key(c.dev, seqKey(msgPrefix, c.seq)),
		ConditionExpression: &cond, UpdateExpression: &update,
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals, ReturnValues: ret,
	})
	if isConditionFailed(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, storeErr(string(c.ev), err)
	}
	return out.Attributes, true, nil
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// send puts a new message's state item (Send: from nothing to Enqueued).
func (q *Queue) send(ctx context.Context, m *msg) error {
	cond := "attribute_not_exists(#sk)"
	names, _ := expr(nil, cond)
	_, err := q.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &q.table, Item: m.encodeNew(), ConditionExpression: &cond, ExpressionAttributeNames: names,
	})
	if isConditionFailed(err) {
		return storeErr("send", errors.New("sequence number already used"))
	}
	if err != nil {
		return storeErr("send", err)
	}
	return nil
}

// settleObserved runs a transition decided on an item read at version m.ver
// (expire, lock lapse on the last delivery, purges, requeue).
func (q *Queue) settleObserved(ctx context.Context, ev Event, m msg, now time.Time, extra map[string]types.AttributeValue, set ...string) (bool, error) {
	vals := map[string]types.AttributeValue{}
	for k, v := range extra {
		vals[k] = v
	}
	t := transitionOf(ev)
	if strings.Contains(t.Guard, ":v") {
		vals[":v"] = sN(m.ver)
	}
	if strings.Contains(t.Guard, ":Q") {
		vals[":Q"] = sS(string(Enqueued))
	}
	if strings.Contains(t.Guard, ":max") {
		vals[":max"] = sN(int64(q.opt.MaxDelivery))
	}
	if strings.Contains(t.Guard, ":gen") {
		vals[":gen"] = sS(m.gen)
	}
	var fb bool
	if code, ok := t.To.outcome(); ok {
		fb = wants(m.ack, code)
	}
	_, ok, err := q.write(ctx, change{dev: m.dev, seq: m.seq, ev: ev, values: vals, set: set, feedback: fb}, now)
	return ok, err
}

// feedbackConsumed takes a settled message out of the feedback index once a
// reader completed the batch holding its record.
func (q *Queue) feedbackConsumed(ctx context.Context, dev string, seq int64, fbKey string) error {
	cond := "#fk = :fk"
	update := "REMOVE #fs, #fk"
	names, vals := expr(map[string]types.AttributeValue{":fk": sS(fbKey)}, cond, update)
	_, err := q.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &q.table, Key: key(dev, seqKey(msgPrefix, seq)),
		ConditionExpression: aws.String(cond), UpdateExpression: aws.String(update),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	})
	if err != nil && !isConditionFailed(err) {
		return storeErr("feedback complete", err)
	}
	return nil
}
