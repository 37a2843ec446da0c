// Package c2d tests cloud-to-device messaging and feedback over HTTP against
// a hub on the DynamoDB emulator, with a clock the tests move.
package c2d

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/app"
	"github.com/devicehub/devicehub/internal/c2d"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// clock is a test clock that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Millisecond)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type hub struct {
	t     *testing.T
	env   *testenv.Env
	clock *clock
}

func newHub(t *testing.T, edit func(*config.Config)) *hub {
	t.Helper()
	clk := newClock()
	env := testenv.New(t, testenv.Options{Now: clk.Now, Config: edit})
	return &hub{t: t, env: env, clock: clk}
}

// sweep runs the sweeper as its function would: a queue built from the
// configuration, on the same clock.
func (h *hub) sweep() c2d.SweepStats {
	h.t.Helper()
	q := app.NewC2DQueue(h.env.Config, app.Clients{DynamoDB: h.env.DynamoDB}, nil, h.clock.Now)
	st, err := q.Sweep(context.Background())
	if err != nil {
		h.t.Fatal("sweep:", err)
	}
	return st
}

func (h *hub) do(method, path, auth string, hdr map[string]string, body []byte) testenv.Reply {
	h.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return h.env.Do(h.t, method, path+sep+"api-version=2021-04-12", auth, hdr, body)
}

func (h *hub) owner() string { return h.env.OwnerToken(h.t) }

func (h *hub) send(dev string, hdr map[string]string, body string) testenv.Reply {
	h.t.Helper()
	return h.do("POST", "/devices/"+dev+"/messages/devicebound", h.owner(), hdr, []byte(body))
}

// mustSend sends and returns the message id.
func (h *hub) mustSend(dev, mid, ack, body string) string {
	h.t.Helper()
	r := h.send(dev, map[string]string{"iothub-messageid": mid, "iothub-ack": ack}, body)
	if r.Status != 200 {
		h.t.Fatalf("send %s: %d %s", mid, r.Status, r.Body)
	}
	return mid
}

type device struct {
	h    *hub
	id   string
	conn sas.ConnectionString
}

func (h *hub) device(id string) *device {
	return &device{h: h, id: id, conn: h.env.CreateDevice(h.t, id)}
}

func (d *device) token() string { return d.h.env.DeviceToken(d.h.t, d.conn) }

func (d *device) receive() testenv.Reply {
	return d.h.do("GET", "/devices/"+d.id+"/messages/devicebound", d.token(), nil, nil)
}

// mustReceive receives one message and returns its lock token (ETag without quotes).
func (d *device) mustReceive(wantID string) (string, testenv.Reply) {
	d.h.t.Helper()
	r := d.receive()
	if r.Status != 200 {
		d.h.t.Fatalf("receive: want 200 with %s, got %d %s", wantID, r.Status, r.Body)
	}
	if got := r.Header.Get("iothub-messageid"); wantID != "" && got != wantID {
		d.h.t.Fatalf("receive: want message %s, got %s", wantID, got)
	}
	return strings.Trim(r.Header.Get("ETag"), `"`), r
}

func (d *device) mustBeEmpty() {
	d.h.t.Helper()
	if r := d.receive(); r.Status != 204 {
		d.h.t.Fatalf("receive: want 204, got %d (message %s)", r.Status, r.Header.Get("iothub-messageid"))
	}
}

func (d *device) complete(lock string) testenv.Reply {
	return d.h.do("DELETE", "/devices/"+d.id+"/messages/devicebound/"+lock, d.token(), map[string]string{"If-Match": `"` + lock + `"`}, nil)
}

func (d *device) reject(lock string) testenv.Reply {
	return d.h.do("DELETE", "/devices/"+d.id+"/messages/devicebound/"+lock+"?reject", d.token(), map[string]string{"If-Match": lock}, nil)
}

func (d *device) abandon(lock string) testenv.Reply {
	return d.h.do("POST", "/devices/"+d.id+"/messages/devicebound/"+lock+"/abandon", d.token(), map[string]string{"If-Match": lock}, nil)
}

func (h *hub) status(dev, mid string) iothub.C2DStatus {
	h.t.Helper()
	r := h.do("GET", "/devices/"+dev+"/c2d/messages/"+mid, h.owner(), nil, nil)
	if r.Status != 200 {
		h.t.Fatalf("status %s: %d %s", mid, r.Status, r.Body)
	}
	var st []iothub.C2DStatus
	if err := json.Unmarshal(r.Body, &st); err != nil || len(st) == 0 {
		h.t.Fatalf("status %s: %v %s", mid, err, r.Body)
	}
	return st[len(st)-1]
}

// drainFeedback reads and completes feedback batches until none is left and
// returns the records of device dev ("" for all), by message id.
func (h *hub) drainFeedback(dev string) map[string][]iothub.FeedbackRecord {
	h.t.Helper()
	out := map[string][]iothub.FeedbackRecord{}
	for i := 0; i < 100; i++ {
		r := h.do("GET", "/messages/serviceBound/feedback", h.owner(), nil, nil)
		if r.Status == 204 {
			return out
		}
		if r.Status != 200 {
			h.t.Fatalf("feedback: %d %s", r.Status, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); ct != c2d.FeedbackContentType {
			h.t.Fatalf("feedback content type %q", ct)
		}
		var recs []iothub.FeedbackRecord
		if err := json.Unmarshal(r.Body, &recs); err != nil {
			h.t.Fatal(err)
		}
		for _, rec := range recs {
			if dev != "" && rec.DeviceID != dev {
				continue
			}
			out[rec.OriginalMessageID] = append(out[rec.OriginalMessageID], rec)
		}
		lock := strings.Trim(r.Header.Get("ETag"), `"`)
		if c := h.do("DELETE", "/messages/serviceBound/feedback/"+lock, h.owner(), nil, nil); c.Status != 204 {
			h.t.Fatalf("feedback complete: %d %s", c.Status, c.Body)
		}
	}
	h.t.Fatal("feedback never drained")
	return nil
}

// wantFeedback checks that exactly the given message ids have feedback, each
// once, with the given status code.
func wantFeedback(t *testing.T, got map[string][]iothub.FeedbackRecord, want map[string]iothub.StatusCode) {
	t.Helper()
	for id, code := range want {
		recs := got[id]
		if len(recs) != 1 || recs[0].StatusCode != code {
			t.Errorf("feedback for %s: want one %s, got %+v", id, code, recs)
		}
	}
	for id, recs := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected feedback for %s: %+v", id, recs)
		}
	}
}
