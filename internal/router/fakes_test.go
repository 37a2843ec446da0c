package router_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/router"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/routing"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// now is the tests' clock.
var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// permanentError is an error the fake senders' endpoints never recover from.
type permanentError struct{ msg string }

func (e permanentError) Error() string { return e.msg }

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

var errBlocked = errors.New("an earlier message of the device was not delivered")

// fakeSender is an endpoint. An ordered one never delivers a message after
// an undelivered earlier one of the same device in a call, as
// internal/endpoints promises.
type fakeSender struct {
	ordered bool
	// fail returns the error of a message in the n-th call (from 0); nil
	// delivers it.
	fail func(m router.Message, call int) error

	mu        sync.Mutex
	calls     [][]router.Message
	delivered []router.Message
}

func (s *fakeSender) Send(_ context.Context, msgs []router.Message) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	call := len(s.calls)
	s.calls = append(s.calls, slices.Clone(msgs))
	errs := make([]error, len(msgs))
	blocked := map[string]bool{}
	for i, m := range msgs {
		switch {
		case s.ordered && blocked[m.DeviceID]:
			errs[i] = errBlocked
		case s.fail != nil:
			errs[i] = s.fail(m, call)
		}
		if errs[i] != nil {
			blocked[m.DeviceID] = true
			continue
		}
		s.delivered = append(s.delivered, m)
	}
	return errs
}

// ids are the unique ids of the messages the sender delivered, in order.
func (s *fakeSender) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.delivered {
		out = append(out, m.UniqueID)
	}
	return out
}

// fakeLedger keeps what the router records; writeFail fails the dead
// letter write after that many are stored (-1: never).
type fakeLedger struct {
	writeFail int
	countErr  error

	mu     sync.Mutex
	dead   []router.DeadLetter
	counts map[string]router.Count // by "route/endpoint"
	adds   int                     // AddCounts calls
}

func newLedger() *fakeLedger { return &fakeLedger{writeFail: -1, counts: map[string]router.Count{}} }

func (l *fakeLedger) WriteDeadLetters(_ context.Context, dls []router.DeadLetter) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writeFail >= 0 && l.writeFail < len(dls) {
		l.dead = append(l.dead, dls[:l.writeFail]...)
		return l.writeFail, errors.New("table unavailable")
	}
	l.dead = append(l.dead, dls...)
	return len(dls), nil
}

func (l *fakeLedger) AddCounts(_ context.Context, counts []router.Count) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.adds++
	if l.countErr != nil {
		return l.countErr
	}
	for _, c := range counts {
		k := c.Route + "/" + c.Endpoint
		sum := l.counts[k]
		sum.Route, sum.Endpoint = c.Route, c.Endpoint
		sum.Delivered += c.Delivered
		sum.DeadLettered += c.DeadLettered
		l.counts[k] = sum
	}
	return nil
}

// count returns "delivered/deadLettered" of a route and endpoint.
func (l *fakeLedger) count(route, endpoint string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.counts[route+"/"+endpoint]
	return fmt.Sprintf("%d/%d", c.Delivered, c.DeadLettered)
}

// fakeTags is the registry's tags; a device in errs fails.
type fakeTags struct {
	tags map[string]map[string]any
	errs map[string]error

	mu    sync.Mutex
	reads map[string]int
}

func (f *fakeTags) Tags(_ context.Context, deviceID string) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reads == nil {
		f.reads = map[string]int{}
	}
	f.reads[deviceID]++
	if err := f.errs[deviceID]; err != nil {
		return nil, err
	}
	t, ok := f.tags[deviceID]
	if !ok {
		return nil, apierr.DeviceNotFound.New("no device " + deviceID)
	}
	return t, nil
}

// rec describes one telemetry record of a test batch.
type rec struct {
	dev, id  string
	cid, uid string // correlation and user ids
	props    map[string]string
	body     string
	source   string        // default device messages
	age      time.Duration // since it arrived, default a second
	raw      []byte        // the record's bytes as they are (an undecodable one)
}

// encode writes r as the hub does (version 2).
func (r rec) encode() []byte {
	if r.raw != nil {
		return r.raw
	}
	sys := telemetry.SystemProperties{
		MessageID: r.id, CorrelationID: r.cid, UserID: r.uid, ContentType: "application/json", ContentEncoding: "utf-8",
		DeviceID: r.dev, AuthGenerationID: "g-" + r.dev, AuthMethod: telemetry.AuthMethodSAS, EnqueuedTime: now.Add(-r.arrivalAge()),
	}
	var props []iothub.Property
	for _, k := range sortedKeys(r.props) {
		props = append(props, iothub.Property{Name: k, Value: r.props[k]})
	}
	body := r.body
	if body == "" {
		body = `{"temperature":20}`
	}
	out := d2c.EncodeRecord(telemetry.V2, &sys, props, []byte(body))
	if r.source != "" {
		out = append([]byte(`{"v":2,"s":"`+r.source+`"`), out[len(`{"v":2`):]...)
	}
	return out
}

func (r rec) arrivalAge() time.Duration {
	if r.age == 0 {
		return time.Second
	}
	return r.age
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// seq is the sequence number of the batch's i-th record.
func seq(i int) string { return fmt.Sprintf("4959%04d", i) }

// batch makes a Kinesis event of recs, the partition key the device id.
func batch(recs ...rec) events.KinesisEvent {
	var ev events.KinesisEvent
	for i, r := range recs {
		var er events.KinesisEventRecord
		er.EventSource = "aws:kinesis"
		er.Kinesis.Data = r.encode()
		er.Kinesis.SequenceNumber = seq(i)
		er.Kinesis.PartitionKey = r.dev
		er.Kinesis.ApproximateArrivalTimestamp = events.SecondsEpochTime{Time: now.Add(-r.arrivalAge())}
		ev.Records = append(ev.Records, er)
	}
	return ev
}

// harness is a router over fakes.
type harness struct {
	r       *router.Router
	senders map[string]*fakeSender
	ledger  *fakeLedger
	tags    *fakeTags
}

// newHarness builds a router for def with a fake sender per endpoint;
// ordered names the endpoints whose sender keeps per-device order.
func newHarness(t testing.TB, def routing.Definition, tags *fakeTags, edit func(*router.Options)) *harness {
	t.Helper()
	h := &harness{senders: map[string]*fakeSender{}, ledger: newLedger(), tags: tags}
	o := router.Options{
		Senders: map[string]router.Sender{}, Ledger: h.ledger, HubName: "contoso", Permanent: isPermanent,
		Backoff: time.Millisecond, Now: func() time.Time { return now },
	}
	if tags != nil {
		o.Tags = tags
	}
	for _, e := range def.Endpoints {
		s := &fakeSender{ordered: e.Kind == routing.Kinesis || e.FIFO}
		h.senders[e.Name] = s
		o.Senders[e.Name] = s
	}
	if edit != nil {
		edit(&o)
	}
	r, err := router.New(def, o)
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	return h
}

// handle runs one batch and returns the sequence number to retry from, if
// any.
func (h *harness) handle(t testing.TB, ev events.KinesisEvent) string {
	t.Helper()
	resp, err := h.r.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	switch len(resp.BatchItemFailures) {
	case 0:
		return ""
	case 1:
		return resp.BatchItemFailures[0].ItemIdentifier
	}
	t.Fatalf("want at most one batch item failure, got %v", resp.BatchItemFailures)
	return ""
}
