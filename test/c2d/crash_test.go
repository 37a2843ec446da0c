package c2d

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/devicehub/devicehub/internal/c2d"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
)

var errStopped = errors.New("process stopped")

// stopAfter passes calls to the real emulator until its n-th write has been
// applied, then fails everything: the process died right after that write,
// before any side effect it would have performed next.
type stopAfter struct {
	c2d.DynamoDB
	mu      sync.Mutex
	left    int
	stopped bool
}

func (s *stopAfter) gate(write bool, call func() error) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return errStopped
	}
	s.mu.Unlock()
	err := call()
	if !write {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.left--
	if s.left <= 0 {
		s.stopped = true
		return errStopped
	}
	return err
}

func (s *stopAfter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.GetItemOutput, err error) {
	err = s.gate(false, func() (e error) { out, e = s.DynamoDB.GetItem(ctx, in, o...); return })
	return
}

func (s *stopAfter) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (out *dynamodb.QueryOutput, err error) {
	err = s.gate(false, func() (e error) { out, e = s.DynamoDB.Query(ctx, in, o...); return })
	return
}

func (s *stopAfter) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.PutItemOutput, err error) {
	err = s.gate(true, func() (e error) { out, e = s.DynamoDB.PutItem(ctx, in, o...); return })
	return
}

func (s *stopAfter) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.UpdateItemOutput, err error) {
	err = s.gate(true, func() (e error) { out, e = s.DynamoDB.UpdateItem(ctx, in, o...); return })
	return
}

func (s *stopAfter) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.DeleteItemOutput, err error) {
	err = s.gate(true, func() (e error) { out, e = s.DynamoDB.DeleteItem(ctx, in, o...); return })
	return
}

// doomed returns a queue and feedback reader on the hub's tables that stop
// after n writes, as another process would.
func (h *hub) doomed(n int) (*c2d.Queue, *c2d.FeedbackReader) {
	db := &stopAfter{DynamoDB: h.env.DynamoDB, left: n}
	devices := &registry.DynamoStore{DB: h.env.DynamoDB, Table: h.env.Config.DevicesTable}
	q := c2d.NewQueue(db, h.env.Config.C2DTable, devices, c2d.Options{DefaultTTL: h.env.Config.C2DDefaultTTL,
		MaxDelivery: h.env.Config.C2DMaxDelivery, MaxQueue: h.env.Config.C2DMaxQueue}, h.clock.Now, nil)
	return q, c2d.NewFeedbackReader(q, h.env.Config.FeedbackTable, c2d.FeedbackOptions{})
}

func (d *device) identity(t *testing.T) registry.Identity {
	t.Helper()
	dev, err := d.h.env.Hub.Registry.Get(context.Background(), d.id)
	if err != nil {
		t.Fatal(err)
	}
	return registry.Identity{DeviceID: d.id, GenerationID: dev.GenerationID}
}

func mustStop(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, errStopped) {
		t.Fatalf("want the process to stop, got %v", err)
	}
}

// TestCrashInjection stops a process right after each state change that
// has (or could have had) a side effect, then runs the sweeper as a new
// process, and checks the feedback: exactly the records the acks asked for,
// each once.
func TestCrashInjection(t *testing.T) {
	h := newHub(t, func(c *config.Config) { c.C2DMaxDelivery = 2; c.C2DMaxQueue = 3 })
	ctx := context.Background()
	rows := []struct {
		name     string
		run      func(t *testing.T, d *device)
		feedback map[string]iothub.StatusCode
	}{
		{"complete stops after its write", func(t *testing.T, d *device) {
			h.mustSend(d.id, "a", "full", "x")
			lock, _ := d.mustReceive("a")
			q, _ := h.doomed(1)
			mustStop(t, q.Complete(ctx, d.identity(t), lock))
		}, map[string]iothub.StatusCode{"a": iothub.StatusSuccess}},
		{"reject stops after its write", func(t *testing.T, d *device) {
			h.mustSend(d.id, "a", "positive", "x")
			h.mustSend(d.id, "b", "negative", "y")
			for _, id := range []string{"a", "b"} {
				lock, _ := d.mustReceive(id)
				q, _ := h.doomed(1)
				mustStop(t, q.Reject(ctx, d.identity(t), lock))
			}
		}, map[string]iothub.StatusCode{"b": iothub.StatusRejected}},
		{"last abandon stops after its write", func(t *testing.T, d *device) {
			h.mustSend(d.id, "a", "negative", "x")
			lock, _ := d.mustReceive("a")
			d.abandon(lock)
			lock, _ = d.mustReceive("a")
			q, _ := h.doomed(2) // the plain abandon's condition fails (a write all the same), then the last-abandon write
			mustStop(t, q.Abandon(ctx, d.identity(t), lock))
		}, map[string]iothub.StatusCode{"a": iothub.StatusDeliveryCountExceeded}},
		{"sweeper stops after its first expiry", func(t *testing.T, d *device) {
			exp := map[string]string{"iothub-expiry": h.clock.Now().Add(2 * time.Minute).Format(time.RFC3339)}
			for _, m := range [][2]string{{"a", "full"}, {"b", "none"}, {"c", "negative"}} {
				exp["iothub-messageid"], exp["iothub-ack"] = m[0], m[1]
				if r := h.send(d.id, exp, "x"); r.Status != 200 {
					t.Fatal(r.Status, string(r.Body))
				}
			}
			h.clock.Advance(3 * time.Minute)
			q, _ := h.doomed(1)
			if st, err := q.Sweep(ctx); err == nil && st.Failed == 0 {
				t.Fatalf("the sweep did not stop: %+v", st)
			}
		}, map[string]iothub.StatusCode{"a": iothub.StatusExpired, "c": iothub.StatusExpired}},
		{"purge stops after one message, then is retried", func(t *testing.T, d *device) {
			h.mustSend(d.id, "a", "full", "x")
			h.mustSend(d.id, "b", "none", "y")
			h.mustSend(d.id, "c", "positive", "z")
			q, _ := h.doomed(1)
			_, err := q.Purge(ctx, d.id)
			mustStop(t, err)
			if r := h.do("DELETE", "/devices/"+d.id+"/commands", h.owner(), nil, nil); r.Status != 200 {
				t.Fatal(r.Status)
			}
		}, map[string]iothub.StatusCode{"a": iothub.StatusPurged}},
		{"sends stop after each of their writes; the queue is not blocked", func(t *testing.T, d *device) {
			// Stop after the admission; then after the body (this send also
			// writes the sweep marker and the head's copy of it: admission,
			// marker, head, body); then after the state item (admission, body,
			// state): three numbers allocated, one message landed.
			for _, n := range []int{1, 4, 3} {
				q, _ := h.doomed(n)
				_, err := q.Send(ctx, d.id, c2d.Message{MessageID: "lost", Ack: iothub.AckFull, Body: []byte("x")})
				mustStop(t, err)
			}
			h.clock.Advance(time.Minute) // past the in-flight window
			h.sweep()
			// The third crash landed its message; max queue is 3: two more fit.
			h.mustSend(d.id, "a", "full", "x")
			h.mustSend(d.id, "b", "none", "x")
			if r := h.send(d.id, map[string]string{"iothub-messageid": "c"}, "x"); r.Status != 403 {
				t.Errorf("fourth pending message: want 403, got %d", r.Status)
			}
			for _, id := range []string{"lost", "a", "b"} {
				lock, _ := d.mustReceive(id)
				d.complete(lock)
			}
		}, map[string]iothub.StatusCode{"lost": iothub.StatusSuccess, "a": iothub.StatusSuccess}},
		{"requeue stops between the copy and the mark", func(t *testing.T, d *device) {
			h.mustSend(d.id, "a", "negative", "body")
			lock, _ := d.mustReceive("a")
			d.reject(lock)
			wantFeedback(t, h.drainFeedback(d.id), map[string]iothub.StatusCode{"a": iothub.StatusRejected})
			q, _ := h.doomed(5) // sweep marker, its copy in the head, admission, body, copy
			_, err := q.Requeue(ctx, d.id, "a")
			mustStop(t, err)
			h.clock.Advance(time.Minute)
			h.sweep()
			r := h.do("GET", "/devices/"+d.id+"/c2d/messages/a", h.owner(), nil, nil)
			if r.Status != 200 || !contains(string(r.Body), `"state":"Requeued"`) {
				t.Errorf("original after repair: %d %s", r.Status, r.Body)
			}
			lock, got := d.mustReceive("a")
			if string(got.Body) != "body" {
				t.Errorf("requeued body %q", got.Body)
			}
			d.reject(lock)
		}, map[string]iothub.StatusCode{"a": iothub.StatusRejected}},
		{"feedback complete stops after the release", func(t *testing.T, d *device) {
			h.mustSend(d.id, "a", "full", "x")
			lock, _ := d.mustReceive("a")
			d.complete(lock)
			_, fr := h.doomed(100)
			b, err := fr.Receive(ctx)
			if err != nil || b == nil {
				t.Fatalf("feedback: %v %v", b, err)
			}
			_, fr = h.doomed(1)
			mustStop(t, fr.Complete(ctx, b.LockToken))
		}, map[string]iothub.StatusCode{"a": iothub.StatusSuccess}},
	}
	for i, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			h.t = t
			d := h.device("crash" + string(rune('a'+i)))
			row.run(t, d)
			h.sweep() // a new process
			wantFeedback(t, h.drainFeedback(d.id), row.feedback)
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
