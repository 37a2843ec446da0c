package c2d

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
)

// The state machine on its own: every row of transitions is written through
// Queue.write to memDB, which evaluates the exact condition and update the
// row builds, as DynamoDB would. For each row the test checks that, when the
// guard holds, the write applies and leaves exactly the expected item
// (state, version, counters, lock, settle and feedback fields); that each
// clause of the guard, broken alone, refuses the write and changes nothing;
// and that the write is refused from every state outside the row's
// from-states. The expected items are written out here, not derived from
// the table.

var (
	tNow       = time.UnixMilli(1_700_000_000_000).UTC()
	tRetention = 6 * time.Hour
)

const (
	tMaxDelivery = 3
	tTok         = "00000000-0007-3000-0000-000000000000"
)

func lockUntil(d time.Duration) int64 { return ms(tNow.Add(d)) }

// tBase is the stored message the cases start from: pending, never
// delivered, due in an hour, at version 4.
func tBase() msg {
	return msg{Dev: "dev-1", Seq: 7, Gen: "gen-1", ID: "m-1", CID: "c-1", Ack: iothub.AckFull,
		Props: map[string]string{"color": "red"}, Enq: ms(tNow.Add(-time.Minute)), Exp: ms(tNow.Add(time.Hour)),
		State: Enqueued, Count: 0, Ver: 4, TTL: tNow.Add(49 * time.Hour).Unix()}
}

// locked is a message under the lock tTok, held until a second from now,
// in its n-th delivery.
func locked(n int) func(m *msg) {
	return func(m *msg) { m.State, m.Lock, m.LockUntil, m.Count = Invisible, tTok, lockUntil(time.Second), n }
}

// settled is the effect every settling row has: unlocked, settle time and
// retention set, and in the feedback index when the ack asks for code.
func settled(m *msg, to State, code iothub.StatusCode) {
	m.Ver++
	m.State, m.Lock, m.LockUntil = to, "", 0
	m.Settled = ms(tNow)
	m.TTL = tNow.Add(tRetention).Unix()
	if wants(m.Ack, code) {
		m.FbShard = shardName(shardOf(m.Dev))
		m.FbKey = feedbackKey(tNow, m.Dev, m.Seq)
	}
}

type rowCase struct {
	name   string
	ev     Event
	from   string         // the states (letters) the row may start from
	stored func(*msg)     // the item before, from tBase
	req    func(*request) // the request beside the message as read (which is the item before)
	want   func(*msg)     // the item after, from the item before
	// breaks each break one clause of the guard, in the stored item or the
	// request: the write must then be refused.
	breaks map[string]func(stored *msg, r *request)
}

func withTok(r *request) { r.tok = tTok }

var (
	staleVersion  = func(_ *msg, r *request) { r.m.Ver-- }
	otherToken    = func(_ *msg, r *request) { r.tok = "00000000-0007-3000-0000-00000000ffff" }
	lockLapsedNow = func(s *msg, _ *request) { s.LockUntil = ms(tNow) }
)

func transitionCases() []rowCase {
	return []rowCase{
		{name: "receive a new message", ev: EvReceive, from: "QL",
			req: withTok,
			want: func(m *msg) {
				m.Ver++
				m.State, m.Lock, m.LockUntil, m.Count = Invisible, tTok, lockUntil(LockDuration), 1
			},
			breaks: map[string]func(*msg, *request){
				"stale version": staleVersion,
				"expired":       func(s *msg, _ *request) { s.Exp = ms(tNow) },
				"locked by another delivery": func(s *msg, _ *request) {
					s.State, s.Lock, s.LockUntil, s.Count = Invisible, "other", lockUntil(time.Millisecond), 1
				},
				"delivered the maximum": func(s *msg, _ *request) { s.Count = tMaxDelivery },
			}},
		{name: "receive again after the lock lapsed", ev: EvReceive, from: "QL",
			stored: func(m *msg) { m.State, m.Lock, m.LockUntil, m.Count = Invisible, "old", ms(tNow), 2 },
			req:    withTok,
			want: func(m *msg) {
				m.Ver++
				m.Lock, m.LockUntil, m.Count = tTok, lockUntil(LockDuration), 3
			},
			breaks: map[string]func(*msg, *request){
				"stale version":           staleVersion,
				"lock still held":         func(s *msg, _ *request) { s.LockUntil = lockUntil(time.Millisecond) },
				"delivered the maximum":   func(s *msg, _ *request) { s.Count = tMaxDelivery },
				"expired while it lapsed": func(s *msg, _ *request) { s.Exp = ms(tNow) },
			}},
		{name: "complete, feedback wanted", ev: EvComplete, from: "L",
			stored: locked(1), req: withTok,
			want: func(m *msg) { settled(m, Completed, iothub.StatusSuccess) },
			breaks: map[string]func(*msg, *request){
				"other token": otherToken, "lock lapsed": lockLapsedNow,
			}},
		{name: "complete, feedback not wanted", ev: EvComplete, from: "L",
			stored: func(m *msg) { locked(1)(m); m.Ack = iothub.AckNegative }, req: withTok,
			want: func(m *msg) { settled(m, Completed, iothub.StatusSuccess) }},
		{name: "complete after the message expired, under its lock", ev: EvComplete, from: "L",
			stored: func(m *msg) { locked(1)(m); m.Exp = ms(tNow.Add(-time.Second)) }, req: withTok,
			want: func(m *msg) { settled(m, Completed, iothub.StatusSuccess) }},
		{name: "reject", ev: EvReject, from: "L",
			stored: locked(2), req: withTok,
			want: func(m *msg) { settled(m, Rejected, iothub.StatusRejected) },
			breaks: map[string]func(*msg, *request){
				"other token": otherToken, "lock lapsed": lockLapsedNow,
			}},
		{name: "reject, feedback not wanted", ev: EvReject, from: "L",
			stored: func(m *msg) { locked(1)(m); m.Ack = iothub.AckPositive }, req: withTok,
			want: func(m *msg) { settled(m, Rejected, iothub.StatusRejected) }},
		{name: "abandon", ev: EvAbandon, from: "L",
			stored: locked(tMaxDelivery - 1), req: withTok,
			want: func(m *msg) {
				m.Ver++
				m.State, m.Lock, m.LockUntil = Enqueued, "", 0
			},
			breaks: map[string]func(*msg, *request){
				"other token": otherToken, "lock lapsed": lockLapsedNow,
				"last delivery": func(s *msg, _ *request) { s.Count = tMaxDelivery },
			}},
		{name: "abandon the last delivery", ev: EvAbandonLast, from: "L",
			stored: locked(tMaxDelivery), req: withTok,
			want: func(m *msg) { settled(m, Exceeded, iothub.StatusDeliveryCountExceeded) },
			breaks: map[string]func(*msg, *request){
				"other token": otherToken, "lock lapsed": lockLapsedNow,
				"not the last delivery": func(s *msg, _ *request) { s.Count = tMaxDelivery - 1 },
			}},
		{name: "lock of the last delivery lapses", ev: EvLockLapseLast, from: "L",
			stored: func(m *msg) { locked(tMaxDelivery)(m); m.LockUntil = ms(tNow) },
			want:   func(m *msg) { settled(m, Exceeded, iothub.StatusDeliveryCountExceeded) },
			breaks: map[string]func(*msg, *request){
				"stale version":         staleVersion,
				"lock still held":       func(s *msg, _ *request) { s.LockUntil = lockUntil(time.Millisecond) },
				"not the last delivery": func(s *msg, _ *request) { s.Count = tMaxDelivery - 1 },
			}},
		{name: "expire a due message", ev: EvExpire, from: "QL",
			stored: func(m *msg) { m.Exp = ms(tNow) },
			want:   func(m *msg) { settled(m, Expired, iothub.StatusExpired) },
			breaks: map[string]func(*msg, *request){
				"stale version": staleVersion,
				"not expired":   func(s *msg, _ *request) { s.Exp = ms(tNow) + 1 },
				"locked": func(s *msg, _ *request) {
					s.State, s.Lock, s.LockUntil, s.Count = Invisible, "other", lockUntil(time.Millisecond), 1
				},
			}},
		{name: "expire once the lock lapsed", ev: EvExpire, from: "QL",
			stored: func(m *msg) { locked(1)(m); m.LockUntil, m.Exp = ms(tNow), ms(tNow.Add(-time.Second)) },
			want:   func(m *msg) { settled(m, Expired, iothub.StatusExpired) },
			breaks: map[string]func(*msg, *request){
				"lock still held": func(s *msg, _ *request) { s.LockUntil = lockUntil(time.Millisecond) },
			}},
		{name: "purge", ev: EvPurge, from: "QL",
			want: func(m *msg) { settled(m, Purged, iothub.StatusPurged) }},
		{name: "purge a locked message, feedback not wanted", ev: EvPurge, from: "QL",
			stored: func(m *msg) { locked(1)(m); m.Ack = iothub.AckNone },
			want:   func(m *msg) { settled(m, Purged, iothub.StatusPurged) }},
		{name: "purge a message sent to an earlier device", ev: EvPurgeStale, from: "QL",
			want: func(m *msg) { settled(m, Purged, iothub.StatusPurged) },
			breaks: map[string]func(*msg, *request){
				"sent to another generation": func(s *msg, _ *request) { s.Gen = "gen-2" },
			}},
		{name: "requeue a dead letter", ev: EvRequeue, from: "RED",
			stored: func(m *msg) { settled(m, Rejected, iothub.StatusRejected) },
			req:    func(r *request) { r.requeuedAs = 12 },
			want:   func(m *msg) { m.Ver++; m.ReqAs = 12 },
			breaks: map[string]func(*msg, *request){
				"stale version":    staleVersion,
				"already requeued": func(s *msg, _ *request) { s.ReqAs = 9 },
			}},
	}
}

func storedItem(t *testing.T, m msg) map[string]types.AttributeValue {
	t.Helper()
	m.SK = seqKey(msgPrefix, m.Seq)
	it, err := attributevalue.MarshalMap(m)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func testQueue(db DynamoDB) *Queue {
	return NewQueue(db, "c2d", nil, Options{MaxDelivery: tMaxDelivery, Retention: tRetention}, func() time.Time { return tNow }, nil)
}

// run writes the row to a memDB holding stored and returns whether it
// applied and the item afterwards.
func (c rowCase) run(t *testing.T, stored msg, r request) (bool, map[string]types.AttributeValue) {
	t.Helper()
	db := newMemDB()
	db.put(storedItem(t, stored))
	q := testQueue(db)
	_, ok, err := q.write(context.Background(), c.ev, r, types.ReturnValueNone)
	if err != nil {
		t.Fatalf("%s: %v", c.ev, err)
	}
	return ok, db.get(msgKey(stored.Dev, stored.Seq))
}

func (c rowCase) start() (msg, request) {
	stored := tBase()
	if c.stored != nil {
		c.stored(&stored)
	}
	r := request{m: stored, now: tNow}
	if c.req != nil {
		c.req(&r)
	}
	return stored, r
}

func TestTransitionRows(t *testing.T) {
	covered := map[Event]bool{}
	for _, c := range transitionCases() {
		covered[c.ev] = true
		t.Run(c.name, func(t *testing.T) {
			stored, r := c.start()
			ok, got := c.run(t, stored, r)
			want := stored
			c.want(&want)
			if !ok {
				t.Fatalf("refused with its guard holding")
			}
			if w := storedItem(t, want); !reflect.DeepEqual(got, w) {
				t.Errorf("item after %s:\n got  %s\n want %s", c.ev, showItem(got), showItem(w))
			}

			for name, brk := range c.breaks {
				stored, r := c.start()
				brk(&stored, &r)
				before := storedItem(t, stored)
				ok, got := c.run(t, stored, r)
				if ok || !reflect.DeepEqual(got, before) {
					t.Errorf("%s: applied (%v) or changed the item:\n got  %s\n was  %s", name, ok, showItem(got), showItem(before))
				}
			}

			for _, s := range []State{Enqueued, Invisible, Completed, Rejected, Expired, Exceeded, Purged} {
				if strings.Contains(c.from, string(s)) {
					continue
				}
				stored, r := c.start()
				stored.State = s
				before := storedItem(t, stored)
				ok, got := c.run(t, stored, r)
				if ok || !reflect.DeepEqual(got, before) {
					t.Errorf("from %s: applied (%v) or changed the item", s, ok)
				}
			}
		})
	}
	for _, tr := range transitions {
		if !covered[tr.event] {
			t.Errorf("no case for %s", tr.event)
		}
	}
}

// TestTransitionFromStates checks each row's from-states against the
// table of cases: a row must apply from each state the case names.
func TestTransitionFromStates(t *testing.T) {
	for _, c := range transitionCases() {
		if c.ev == EvReceive || c.ev == EvExpire {
			continue // their guards read the state too; their cases cover each from-state
		}
		for _, s := range c.from {
			stored, r := c.start()
			stored.State = State(s)
			if ok, _ := c.run(t, stored, r); !ok {
				t.Errorf("%s: refused from %c", c.name, s)
			}
		}
	}
}

// TestSendAndConsume covers the two writes outside the table: the send's
// put of a new item, and taking a settled message out of the feedback index.
func TestSendAndConsume(t *testing.T) {
	ctx := context.Background()
	db := newMemDB()
	q := testQueue(db)
	m := tBase()
	if err := q.send(ctx, m); err != nil {
		t.Fatal(err)
	}
	want := m
	want.State, want.Count, want.Ver = Enqueued, 0, 1
	if got, w := db.get(msgKey(m.Dev, m.Seq)), storedItem(t, want); !reflect.DeepEqual(got, w) {
		t.Errorf("sent item:\n got  %s\n want %s", showItem(got), showItem(w))
	}
	if err := q.send(ctx, m); err == nil {
		t.Error("a second send with the same sequence number was accepted")
	}

	done := tBase()
	settled(&done, Completed, iothub.StatusSuccess)
	db.put(storedItem(t, done))
	if err := q.feedbackConsumed(ctx, done.Dev, done.Seq, "another key"); err != nil {
		t.Fatal(err)
	}
	if got := db.get(msgKey(done.Dev, done.Seq)); !reflect.DeepEqual(got, storedItem(t, done)) {
		t.Errorf("consumed under another key: %s", showItem(got))
	}
	if err := q.feedbackConsumed(ctx, done.Dev, done.Seq, done.FbKey); err != nil {
		t.Fatal(err)
	}
	want = done
	want.FbShard, want.FbKey = "", ""
	if got, w := db.get(msgKey(done.Dev, done.Seq)), storedItem(t, want); !reflect.DeepEqual(got, w) {
		t.Errorf("consumed:\n got  %s\n want %s", showItem(got), showItem(w))
	}
}

// TestItemAttributeNames holds the item structs' tags to the attribute
// name constants the expressions use and to the table layout in schema.
func TestItemAttributeNames(t *testing.T) {
	full := msg{Dev: "d", Seq: 1, Gen: "g", ID: "i", CID: "c", UID: "u", CType: "t", CEnc: "e", Ack: iothub.AckFull,
		Props: map[string]string{"a": "b"}, Enq: 1, Exp: 1, State: Invisible, Lock: "l", LockUntil: 1, Count: 1, Ver: 1,
		Settled: 1, FbShard: "0", FbKey: "k", ReqAs: 1, ReqOf: 1, TTL: 1}
	for _, tc := range []struct {
		item any
		want []string
	}{
		{full, []string{schema.DeviceID, schema.C2DSortKey, aGen, aMsgID, aCorrID, aUserID, aCType, aCEnc, aAck, aProps,
			aEnq, aExp, aState, aLock, aLockTil, aCount, aVer, aSettled, schema.C2DFeedbackShard, schema.C2DFeedbackKey,
			aReqAs, aReqOf, schema.TTLAttribute}},
		{head{Seq: 1, Head: 1, Lim: 1, SeqAt: 1, Swa: 1}, []string{aSeq, aHead, aLim, aSeqAt, aSwa}},
		{marker{SweepAt: 1}, []string{schema.C2DSweepAt}},
		{body{Dev: "d", SK: "s", Body: []byte("b"), TTL: 1}, []string{schema.DeviceID, schema.C2DSortKey, aBody, schema.TTLAttribute}},
		{lease{SK: "1", Lock: "l", Until: 1, Keys: []string{"k"}, First: "k", N: 1, Ver: 1},
			[]string{schema.FeedbackSortKey, aLock, aLockTil, lKeys, lFirst, aCount, aVer}},
	} {
		it, err := attributevalue.MarshalMap(tc.item)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for k := range it {
			got = append(got, k)
		}
		sort.Strings(got)
		sort.Strings(tc.want)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%T attributes %v, want %v", tc.item, got, tc.want)
		}
	}
}

// TestItemDecodeErrors: a malformed attribute is an error, not a zero.
func TestItemDecodeErrors(t *testing.T) {
	it := storedItem(t, tBase())
	it[aVer] = &types.AttributeValueMemberN{Value: "four"}
	if _, err := decodeMsg(it); err == nil {
		t.Error("a non-numeric version decoded")
	}
	if _, err := decodeHead(map[string]types.AttributeValue{aSeq: &types.AttributeValueMemberS{Value: "1"}}); err == nil {
		t.Error("a string sequence number decoded")
	}
}

func showItem(it map[string]types.AttributeValue) string {
	keys := make([]string, 0, len(it))
	for k := range it {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		switch v := it[k].(type) {
		case *types.AttributeValueMemberS:
			fmt.Fprintf(&b, "%s=%q ", k, v.Value)
		case *types.AttributeValueMemberN:
			fmt.Fprintf(&b, "%s=%s ", k, v.Value)
		default:
			fmt.Fprintf(&b, "%s=%T ", k, v)
		}
	}
	return b.String()
}
