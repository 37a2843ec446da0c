package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicehub/devicehub/shared/telemetry"
)

// record is one record of the batch as the invocation sees it.
type record struct {
	seq     string
	key     string // the partition key: the device id
	arrival time.Time
	data    []byte
	msg     telemetry.Message
	// state, and the reason it is not routed when it is not stateRouted.
	state  recordState
	reason string
}

type recordState uint8

const (
	stateRouted     recordState = iota // evaluated; its messages are in the batches
	stateUnroutable                    // dead-lettered under UnroutableRoute
	stateHeld                          // not evaluated, or evaluated in vain: the batch is retried from it
)

// batch is what one endpoint gets in an invocation: its messages in record
// order, each with the record and the routes it came from.
type batch struct {
	ep      *endpoint
	msgs    []Message
	targets []target
	errs    []error // per message, after delivery: nil when delivered
	sends   int
}

// target ties a message to its record and to the routes (indexes into
// invocation.routeArena) that sent it to the endpoint.
type target struct {
	rec        int32
	routes, nr int32
}

// invocation is the state of one Handle call.
type invocation struct {
	r       *Router
	ctx     context.Context
	recs    []record
	batches []batch // by endpoint index
	// routeArena holds the targets' route indexes; len(r.routes) stands for
	// the fallback route.
	routeArena []int16
	tags       map[string]tagResult // by device, read once per invocation
	hits       [][]int16            // scratch: per endpoint, the routes that matched the record
	enriched   [][]byte             // scratch: per enrichment group, the record's encoding
	data       [][]byte             // scratch: per endpoint, the record's routed message
	held       map[string]bool      // devices with a held record
}

type tagResult struct {
	tags map[string]any
	err  error
}

// Handle routes one batch of telemetry records and reports the earliest
// record to retry, if any (a partial batch response: the event source
// mapping needs ReportBatchItemFailures). It never fails the whole batch:
// the error is always nil.
func (r *Router) Handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	start := r.now()
	inv := r.newInvocation(ctx, ev)
	for i := range inv.recs {
		inv.plan(i)
	}
	dctx, cancel := deliveryContext(ctx)
	inv.deliver(dctx)
	cancel()
	st := inv.settle(ctx)

	var resp events.KinesisEventResponse
	attrs := []slog.Attr{
		slog.Int("records", len(inv.recs)), slog.Int64("delivered", st.delivered), slog.Int64("deadLettered", st.deadLettered),
		slog.Int("sends", st.sends), slog.Int64("ms", r.now().Sub(start).Milliseconds()),
	}
	level := slog.LevelInfo
	if st.cutoff < len(inv.recs) {
		rec := &inv.recs[st.cutoff]
		resp.BatchItemFailures = []events.KinesisBatchItemFailure{{ItemIdentifier: rec.seq}}
		attrs = append(attrs, slog.String("retryFrom", rec.seq), slog.Int("retried", len(inv.recs)-st.cutoff), slog.String("reason", st.why))
		level = slog.LevelWarn
	}
	if st.ledgerErr != nil {
		attrs = append(attrs, slog.Any("ledgerError", st.ledgerErr))
		level = slog.LevelWarn
	}
	r.log.LogAttrs(ctx, level, "route", attrs...)
	return resp, nil
}

// deliveryContext is ctx less the reserve the bookkeeping after delivery
// needs: a quarter of the time left, at most maxReserve.
func deliveryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := min(time.Until(deadline)/4, maxReserve)
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

func (r *Router) newInvocation(ctx context.Context, ev events.KinesisEvent) *invocation {
	inv := &invocation{
		r: r, ctx: ctx,
		recs:     make([]record, len(ev.Records)),
		batches:  make([]batch, len(r.endpoints)),
		hits:     make([][]int16, len(r.endpoints)),
		data:     make([][]byte, len(r.endpoints)),
		enriched: make([][]byte, len(r.groups)),
	}
	for i := range inv.batches {
		inv.batches[i].ep = &r.endpoints[i]
	}
	for i, er := range ev.Records {
		inv.recs[i] = record{seq: er.Kinesis.SequenceNumber, key: er.Kinesis.PartitionKey, arrival: er.Kinesis.ApproximateArrivalTimestamp.Time, data: er.Kinesis.Data}
	}
	return inv
}

// plan decodes record i, evaluates the routes and queues its messages.
func (inv *invocation) plan(i int) {
	r, rec := inv.r, &inv.recs[i]
	msg, err := telemetry.Decode(rec.data)
	if err != nil {
		rec.state, rec.reason = stateUnroutable, err.Error()
		return
	}
	rec.msg = msg
	if inv.held[msg.DeviceID] {
		// An ordered endpoint must not get it before the held one.
		rec.state, rec.reason = stateHeld, "an earlier record of the device is held"
		return
	}
	for e := range inv.hits {
		inv.hits[e] = inv.hits[e][:0]
	}
	q := queryMessage{inv: inv, m: &rec.msg}
	matched := false
	for ri := range r.routes {
		rt := &r.routes[ri]
		if rt.source != msg.Source || !rt.cond.Match(&q) {
			continue
		}
		matched = true
		for _, e := range rt.endpoints {
			inv.hits[e] = append(inv.hits[e], int16(ri))
		}
	}
	if q.tagErr != nil {
		inv.tagFailure(rec, q.tagErr)
		return
	}
	if !matched && msg.Source == sourceMessages {
		for _, e := range r.fallback {
			inv.hits[e] = append(inv.hits[e], int16(len(r.routes)))
		}
	}
	clear(inv.enriched)
	unique := msg.MessageID
	if unique == "" {
		unique = rec.seq
	}
	// The messages go into the batches only once every endpoint's encoding
	// is known: a tag read that fails holds the whole record.
	for e, hits := range inv.hits {
		if len(hits) == 0 {
			continue
		}
		if inv.data[e], err = inv.routedData(rec, &r.endpoints[e]); err != nil {
			inv.tagFailure(rec, err)
			return
		}
	}
	for e, hits := range inv.hits {
		if len(hits) == 0 {
			continue
		}
		b := &inv.batches[e]
		b.msgs = append(b.msgs, Message{DeviceID: msg.DeviceID, UniqueID: unique, Sequence: rec.seq, Time: msg.EnqueuedTime, Data: inv.data[e]})
		b.targets = append(b.targets, target{rec: int32(i), routes: int32(len(inv.routeArena)), nr: int32(len(hits))})
		inv.routeArena = append(inv.routeArena, hits...)
	}
}

// tagFailure holds a record whose device's tags could not be read, or
// gives up on it once it is older than the maximum age.
func (inv *invocation) tagFailure(rec *record, err error) {
	rec.reason = "device tags: " + err.Error()
	if inv.r.tooOld(rec) {
		rec.state, rec.reason = stateUnroutable, rec.reason+"; "+inv.r.ageReason()
		return
	}
	rec.state = stateHeld
	if inv.held == nil {
		inv.held = map[string]bool{}
	}
	inv.held[rec.msg.DeviceID] = true
}

// tooOld reports whether a record has waited longer than the maximum age.
func (r *Router) tooOld(rec *record) bool {
	t := rec.arrival
	if t.IsZero() {
		t = rec.msg.EnqueuedTime
	}
	return !t.IsZero() && r.now().Sub(t) > r.maxAge
}

func (r *Router) ageReason() string {
	return fmt.Sprintf("older than the maximum record age (%s)", r.maxAge)
}

// deviceTags returns the device's tags, read once per invocation; an
// unknown device has none.
func (inv *invocation) deviceTags(deviceID string) (map[string]any, error) {
	if inv.r.tags == nil {
		return nil, nil // New refuses a definition that reads $twin without one
	}
	if t, ok := inv.tags[deviceID]; ok {
		return t.tags, t.err
	}
	tags, err := inv.r.tags.Tags(inv.ctx, deviceID)
	if isNotFound(err) {
		tags, err = nil, nil
	}
	if inv.tags == nil {
		inv.tags = map[string]tagResult{}
	}
	inv.tags[deviceID] = tagResult{tags, err}
	return tags, err
}

// deliver sends every endpoint's batch, the endpoints concurrently.
func (inv *invocation) deliver(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range inv.batches {
		b := &inv.batches[i]
		b.errs = make([]error, len(b.msgs))
		if len(b.msgs) == 0 || b.ep.sender == nil {
			continue // the built-in endpoint: the records are on the stream already
		}
		wg.Go(func() { inv.r.send(ctx, b) })
	}
	wg.Wait()
}

var errNoAnswer = errors.New("the endpoint's sender returned no result for the message")

// send delivers one endpoint's batch: the messages that fail transiently
// are sent again, in order, until the attempts or the time run out.
func (r *Router) send(ctx context.Context, b *batch) {
	msgs, pending := b.msgs, []int(nil) // pending: msgs' indexes in b.msgs; nil: all
	for attempt := 1; ; attempt++ {
		b.sends++
		errs := b.ep.sender.Send(ctx, msgs)
		var retry []int
		for k := range msgs {
			i := k
			if pending != nil {
				i = pending[k]
			}
			err := errNoAnswer
			if k < len(errs) {
				err = errs[k]
			}
			b.errs[i] = err
			if err != nil && !r.permanent(err) {
				retry = append(retry, i)
			}
		}
		if len(retry) == 0 || attempt >= r.attempts || !r.wait(ctx, attempt) {
			return
		}
		pending = retry
		msgs = make([]Message, len(retry))
		for k, i := range retry {
			msgs[k] = b.msgs[i]
		}
	}
}

// maxBackoff bounds the wait between two attempts.
const maxBackoff = 5 * time.Second

// wait sleeps before attempt+1: the backoff doubled per attempt up to
// maxBackoff, with jitter; false when the wait would outlast the context.
func (r *Router) wait(ctx context.Context, attempt int) bool {
	d := min(r.backoff<<min(attempt-1, 20), maxBackoff)
	d = d/2 + rand.N(d/2+1)
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// settled is an invocation's outcome.
type settled struct {
	cutoff                  int    // the first record to retry; len(recs) when none
	why                     string // why cutoff's record is retried
	delivered, deadLettered int64
	sends                   int
	ledgerErr               error
}

// pending is a dead letter before it is written, with its record.
type pending struct {
	rec int
	dl  DeadLetter
}

// settle classifies every outcome, writes the dead letters and counters
// of the records before the retry point, and returns the retry point.
func (inv *invocation) settle(ctx context.Context) settled {
	r := inv.r
	now := r.now()
	st := settled{cutoff: len(inv.recs)}
	retryFrom := func(i int, why string) {
		if i < st.cutoff {
			st.cutoff, st.why = i, why
		}
	}
	var dls []pending
	for i := range inv.recs {
		rec := &inv.recs[i]
		switch rec.state {
		case stateHeld:
			retryFrom(i, rec.reason)
		case stateUnroutable:
			dls = append(dls, pending{i, inv.deadLetter(rec, UnroutableRoute, NoEndpoint, rec.reason, rec.data, now)})
		}
	}
	for bi := range inv.batches {
		b := &inv.batches[bi]
		st.sends += b.sends
		for k, err := range b.errs {
			if err == nil {
				continue
			}
			t := b.targets[k]
			rec := &inv.recs[t.rec]
			var reason string
			switch {
			case r.permanent(err):
				reason = err.Error()
			case r.tooOld(rec):
				reason = err.Error() + "; " + r.ageReason()
			default:
				retryFrom(int(t.rec), b.ep.name+": "+err.Error())
				continue
			}
			for _, ri := range inv.routeArena[t.routes : t.routes+t.nr] {
				dls = append(dls, pending{int(t.rec), inv.deadLetter(rec, r.routeName(int(ri)), b.ep.name, reason, b.msgs[k].Data, now)})
			}
		}
	}

	// Dead letters of the records before the retry point, in record order.
	dls = slices.DeleteFunc(dls, func(p pending) bool { return p.rec >= st.cutoff })
	slices.SortStableFunc(dls, func(a, b pending) int { return cmp.Compare(a.rec, b.rec) })
	if len(dls) > 0 {
		out := make([]DeadLetter, len(dls))
		for i, p := range dls {
			out[i] = p.dl
		}
		if n, err := r.ledger.WriteDeadLetters(ctx, out); err != nil {
			st.ledgerErr = err
			if n < len(dls) {
				retryFrom(dls[n].rec, "dead letter: "+err.Error())
			}
		}
	}

	counts := inv.counts(st.cutoff)
	for _, c := range counts {
		st.delivered += c.Delivered
		st.deadLettered += c.DeadLettered
	}
	if len(counts) > 0 {
		if err := r.ledger.AddCounts(ctx, counts); err != nil {
			st.ledgerErr = errors.Join(st.ledgerErr, fmt.Errorf("counters: %w", err))
		}
	}
	return st
}

// counts adds up the outcomes of the records before cutoff per route and
// endpoint, in a stable order.
func (inv *invocation) counts(cutoff int) []Count {
	r := inv.r
	type key struct{ route, endpoint int } // route -1: UnroutableRoute
	sums := map[key]*Count{}
	add := func(k key, delivered bool) {
		c := sums[k]
		if c == nil {
			c = &Count{Route: UnroutableRoute, Endpoint: NoEndpoint}
			if k.route >= 0 {
				c.Route, c.Endpoint = r.routeName(k.route), r.endpoints[k.endpoint].name
			}
			sums[k] = c
		}
		if delivered {
			c.Delivered++
		} else {
			c.DeadLettered++
		}
	}
	for i := range cutoff {
		if inv.recs[i].state == stateUnroutable {
			add(key{-1, 0}, false)
		}
	}
	for bi := range inv.batches {
		b := &inv.batches[bi]
		for k, t := range b.targets {
			if int(t.rec) >= cutoff {
				continue
			}
			for _, ri := range inv.routeArena[t.routes : t.routes+t.nr] {
				add(key{int(ri), bi}, b.errs[k] == nil)
			}
		}
	}
	keys := make([]key, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.route, b.route), cmp.Compare(a.endpoint, b.endpoint)) })
	out := make([]Count, len(keys))
	for i, k := range keys {
		out[i] = *sums[k]
	}
	return out
}

// routeName names route index ri; len(routes) is the fallback route.
func (r *Router) routeName(ri int) string {
	if ri == len(r.routes) {
		return FallbackRoute
	}
	return r.routes[ri].name
}

func (inv *invocation) deadLetter(rec *record, route, endpoint, reason string, data []byte, now time.Time) DeadLetter {
	device := rec.msg.DeviceID
	if device == "" {
		device = rec.key // a record that does not decode
	}
	return DeadLetter{
		Route: route, Endpoint: endpoint, Reason: reason,
		DeviceID: device, MessageID: rec.msg.MessageID, SequenceNumber: rec.seq,
		ArrivalTime: rec.arrival, EnqueuedTime: rec.msg.EnqueuedTime, Time: now, Data: data,
	}
}
