package c2d

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/c2d"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/shared/iothub"
)

// TestLifecycle walks every row of the spec's state table (and the rows we
// add: lock lapses count as deliveries, settled messages stay looked up),
// each on its own device of one hub whose clock the test moves.
func TestLifecycle(t *testing.T) {
	h := newHub(t, func(c *config.Config) { c.C2DMaxDelivery = 2 })
	rows := []struct {
		name     string
		run      func(t *testing.T, h *hub, d *device)
		state    string // of message "m"
		reason   string
		feedback map[string]iothub.StatusCode
	}{
		{name: "send enqueues", state: "Enqueued", run: func(t *testing.T, h *hub, d *device) {
			h.mustSend(d.id, "m", "full", "hello")
		}},
		{name: "receive locks", state: "Invisible", run: func(t *testing.T, h *hub, d *device) {
			h.mustSend(d.id, "m", "full", "hello")
			_, r := d.mustReceive("m")
			if string(r.Body) != "hello" || r.Header.Get("iothub-deliverycount") != "0" || r.Header.Get("iothub-ack") != "full" {
				t.Errorf("delivery: body %q headers %v", r.Body, r.Header)
			}
			d.mustBeEmpty() // invisible while locked
		}},
		{name: "complete", state: "Completed", feedback: map[string]iothub.StatusCode{"m": iothub.StatusSuccess}, run: func(t *testing.T, h *hub, d *device) {
			h.mustSend(d.id, "m", "full", "hello")
			lock, _ := d.mustReceive("m")
			if r := d.complete(lock); r.Status != 204 {
				t.Fatalf("complete: %d %s", r.Status, r.Body)
			}
			if r := d.complete(lock); r.Status != 412 {
				t.Errorf("second complete: want 412, got %d", r.Status)
			}
			d.mustBeEmpty()
		}},
		{name: "complete with ack=negative gives no feedback", state: "Completed", feedback: map[string]iothub.StatusCode{}, run: func(t *testing.T, h *hub, d *device) {
			h.mustSend(d.id, "m", "negative", "hello")
			lock, _ := d.mustReceive("m")
			if r := d.complete(lock); r.Status != 204 {
				t.Fatalf("complete: %d %s", r.Status, r.Body)
			}
		}},
		{name: "reject dead-letters", state: "DeadLettered", reason: "Rejected", feedback: map[string]iothub.StatusCode{"m": iothub.StatusRejected}, run: func(t *testing.T, h *hub, d *device) {
			h.mustSend(d.id, "m", "negative", "hello")
			lock, _ := d.mustReceive("m")
			if r := d.reject(lock); r.Status != 204 {
				t.Fatalf("reject: %d %s", r.Status, r.Body)
			}
			d.mustBeEmpty()
		}},
		{name: "reject with ack=positive gives no feedback", state: "DeadLettered", reason: "Rejected", feedback: map[string]iothub.StatusCode{}, run: func(t *testing.T, h *hub, d *device) {
			h.mustSend(d.id, "m", "positive", "hello")
			lock, _ := d.mustReceive("m")
			if r := d.reject(lock); r.Status != 204 {
				t.Fatalf("reject: %d %s", r.Status, r.Body)
			}
		}},
		{name: "abandon makes it due again, first, with delivery count + 1", state: "Invisible", run: func(t *testing.T, h *hub, d *device) {
			h.mustSend(d.id, "m", "full", "one")
			h.mustSend(d.id, "later", "none", "two")
			lock, _ := d.mustReceive("m")
			if r := d.abandon(lock); r.Status != 204 {
				t.Fatalf("abandon: %d %s", r.Status, r.Body)
			}
			_, r := d.mustReceive("m") // returned messages keep their place
			if r.Header.Get("iothub-deliverycount") != "1" {
				t.Errorf("delivery count after abandon: %q", r.Header.Get("iothub-deliverycount"))
			}
			if r := d.abandon(lock); r.Status != 412 {
				t.Errorf("abandon with the old lock: want 412, got %d", r.Status)
			}
		}},
		{name: "lock lapse makes it due again and counts", state: "Invisible", run: func(t *testing.T, h *hub, d *device) {
			h.mustSend(d.id, "m", "full", "one")
			old, _ := d.mustReceive("m")
			h.clock.Advance(c2d.LockDuration + time.Second)
			_, r := d.mustReceive("m")
			if r.Header.Get("iothub-deliverycount") != "1" {
				t.Errorf("delivery count after lapse: %q", r.Header.Get("iothub-deliverycount"))
			}
			if r := d.complete(old); r.Status != 412 {
				t.Errorf("complete with the lapsed lock: want 412, got %d", r.Status)
			}
		}},
		{name: "expiry dead-letters, never delivered", state: "DeadLettered", reason: "Expired", feedback: map[string]iothub.StatusCode{"m": iothub.StatusExpired}, run: func(t *testing.T, h *hub, d *device) {
			exp := h.clock.Now().Add(2 * time.Minute).Format(time.RFC3339Nano)
			if r := h.send(d.id, map[string]string{"iothub-messageid": "m", "iothub-ack": "negative", "iothub-expiry": exp}, "x"); r.Status != 200 {
				t.Fatalf("send: %d %s", r.Status, r.Body)
			}
			h.clock.Advance(3 * time.Minute)
			if st := h.sweep(); st.Expired != 1 {
				t.Errorf("sweep: %+v", st)
			}
			d.mustBeEmpty()
		}},
		{name: "expiry while locked dead-letters when the lock lapses", state: "DeadLettered", reason: "Expired", feedback: map[string]iothub.StatusCode{"m": iothub.StatusExpired}, run: func(t *testing.T, h *hub, d *device) {
			exp := h.clock.Now().Add(90 * time.Second).Format(time.RFC3339Nano)
			if r := h.send(d.id, map[string]string{"iothub-messageid": "m", "iothub-ack": "full", "iothub-expiry": exp}, "x"); r.Status != 200 {
				t.Fatalf("send: %d %s", r.Status, r.Body)
			}
			h.clock.Advance(40 * time.Second)
			d.mustReceive("m")
			h.clock.Advance(55 * time.Second) // expired, lock still held
			if st := h.sweep(); st.Expired != 0 {
				t.Errorf("swept a held lock: %+v", st)
			}
			h.clock.Advance(10 * time.Second)
			d.mustBeEmpty() // receive settles it too
		}},
		{name: "abandons up to max delivery count dead-letter", state: "DeadLettered", reason: "DeliveryCountExceeded", feedback: map[string]iothub.StatusCode{"m": iothub.StatusDeliveryCountExceeded}, run: func(t *testing.T, h *hub, d *device) {
			h.mustSend(d.id, "m", "full", "x")
			for i := 0; i < 2; i++ {
				lock, _ := d.mustReceive("m")
				if r := d.abandon(lock); r.Status != 204 {
					t.Fatalf("abandon %d: %d %s", i, r.Status, r.Body)
				}
			}
			d.mustBeEmpty()
		}},
		{name: "lock lapses up to max delivery count dead-letter (IoT Hub loops)", state: "DeadLettered", reason: "DeliveryCountExceeded", feedback: map[string]iothub.StatusCode{"m": iothub.StatusDeliveryCountExceeded}, run: func(t *testing.T, h *hub, d *device) {
			h.mustSend(d.id, "m", "negative", "x")
			for i := 0; i < 2; i++ {
				d.mustReceive("m")
				h.clock.Advance(c2d.LockDuration + time.Second)
			}
			if st := h.sweep(); st.Exceeded != 1 {
				t.Errorf("sweep: %+v", st)
			}
		}},
		{name: "requeue of a dead letter keeps its feedback and enqueues a copy", state: "Invisible", feedback: map[string]iothub.StatusCode{"m": iothub.StatusRejected}, run: func(t *testing.T, h *hub, d *device) {
			h.mustSend(d.id, "m", "negative", "again")
			lock, _ := d.mustReceive("m")
			d.reject(lock)
			r := h.do("GET", "/devices/"+d.id+"/c2d/deadletters", h.owner(), nil, nil)
			if r.Status != 200 || !strings.Contains(string(r.Body), `"reason":"Rejected"`) {
				t.Fatalf("dead letters: %d %s", r.Status, r.Body)
			}
			if r := h.do("POST", "/devices/"+d.id+"/c2d/deadletters/m/requeue", h.owner(), nil, nil); r.Status != 200 {
				t.Fatalf("requeue: %d %s", r.Status, r.Body)
			}
			if r := h.do("POST", "/devices/"+d.id+"/c2d/deadletters/m/requeue", h.owner(), nil, nil); r.Status != 404 {
				t.Errorf("second requeue: want 404, got %d", r.Status)
			}
			if r := h.do("GET", "/devices/"+d.id+"/c2d/deadletters", h.owner(), nil, nil); string(r.Body) != "[]\n" {
				t.Errorf("dead letters after requeue: %s", r.Body)
			}
			_, got := d.mustReceive("m")
			if string(got.Body) != "again" {
				t.Errorf("requeued body %q", got.Body)
			}
		}},
		{name: "purge", state: "Purged", feedback: map[string]iothub.StatusCode{"m": iothub.StatusPurged, "locked": iothub.StatusPurged}, run: func(t *testing.T, h *hub, d *device) {
			h.mustSend(d.id, "locked", "full", "x")
			h.mustSend(d.id, "m", "negative", "y")
			h.mustSend(d.id, "quiet", "positive", "z")
			lock, _ := d.mustReceive("locked")
			r := h.do("DELETE", "/devices/"+d.id+"/commands", h.owner(), nil, nil)
			if r.Status != 200 || string(r.Body) != `{"deviceId":"`+d.id+`","totalMessagesPurged":3}`+"\n" {
				t.Fatalf("purge: %d %s", r.Status, r.Body)
			}
			if r := d.complete(lock); r.Status != 412 {
				t.Errorf("complete after purge: want 412, got %d", r.Status)
			}
			d.mustBeEmpty()
		}},
	}
	for i, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			h.t = t
			d := h.device("dev" + strconv.Itoa(i))
			row.run(t, h, d)
			if st := h.status(d.id, "m"); st.State != row.state || st.Reason != row.reason {
				t.Errorf("state: want %s/%s, got %s/%s", row.state, row.reason, st.State, st.Reason)
			}
			if row.feedback != nil {
				wantFeedback(t, h.drainFeedback(d.id), row.feedback)
			}
		})
	}
}

// TestFIFO: messages come out in send order, and a returned one first.
func TestFIFO(t *testing.T) {
	h := newHub(t, nil)
	d := h.device("fifo")
	for i := 0; i < 5; i++ {
		h.mustSend(d.id, "m"+strconv.Itoa(i), "none", "x")
	}
	l0, _ := d.mustReceive("m0")
	l1, _ := d.mustReceive("m1")
	if r := d.abandon(l1); r.Status != 204 {
		t.Fatal(r.Status)
	}
	if r := d.complete(l0); r.Status != 204 {
		t.Fatal(r.Status)
	}
	for _, want := range []string{"m1", "m2", "m3", "m4"} {
		lock, _ := d.mustReceive(want)
		if r := d.complete(lock); r.Status != 204 {
			t.Fatal(r.Status)
		}
	}
	d.mustBeEmpty()
}
