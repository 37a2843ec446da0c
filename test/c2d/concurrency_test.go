package c2d

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/shared/iothub"
)

// TestConcurrentReceivers: 20 receivers on one device drain 500 messages
// (some abandoning now and then). Every message is completed exactly once,
// no two receivers hold a valid lock on one message at the same time, none
// is lost, and the feedback queue yields one Success per message.
func TestConcurrentReceivers(t *testing.T) {
	const messages, receivers = 500, 20
	h := newHub(t, func(c *config.Config) { c.C2DMaxQueue = 1000; c.C2DMaxDelivery = 100 })
	d := h.device("busy")

	var wg sync.WaitGroup
	sendErr := make(chan error, messages)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < messages; i += 8 {
				r := h.send(d.id, map[string]string{"iothub-messageid": fmt.Sprintf("m%03d", i), "iothub-ack": "positive"}, fmt.Sprint(i))
				if r.Status != 200 {
					sendErr <- fmt.Errorf("send %d: %d %s", i, r.Status, r.Body)
				}
			}
		}()
	}
	wg.Wait()
	close(sendErr)
	for err := range sendErr {
		t.Fatal(err)
	}

	var (
		mu        sync.Mutex
		holder    = map[string]int{} // message id -> receiver holding a valid lock
		completed = map[string]int{}
		overlaps  []string
		done      atomic.Int32
		abandons  atomic.Int32
	)
	deadline := time.Now().Add(90 * time.Second)
	for rc := 0; rc < receivers; rc++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; int(done.Load()) < messages && time.Now().Before(deadline); n++ {
				r := d.receive()
				if r.Status == 204 {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if r.Status != 200 {
					t.Errorf("receiver %d: %d %s", rc, r.Status, r.Body)
					return
				}
				id, lock := r.Header.Get("iothub-messageid"), strings.Trim(r.Header.Get("ETag"), `"`)
				mu.Lock()
				if other, ok := holder[id]; ok {
					overlaps = append(overlaps, fmt.Sprintf("%s held by %d and %d", id, other, rc))
				}
				holder[id] = rc
				mu.Unlock()
				if n%7 == 3 { // give it back now and then
					mu.Lock()
					delete(holder, id) // before the call: once it answers, another may hold it
					mu.Unlock()
					if a := d.abandon(lock); a.Status != 204 {
						t.Errorf("abandon %s: %d %s", id, a.Status, a.Body)
					}
					abandons.Add(1)
					continue
				}
				mu.Lock()
				delete(holder, id)
				mu.Unlock()
				c := d.complete(lock)
				if c.Status != 204 {
					t.Errorf("complete %s: %d %s", id, c.Status, c.Body)
					continue
				}
				mu.Lock()
				completed[id]++
				mu.Unlock()
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if len(overlaps) > 0 {
		t.Errorf("overlapping locks: %v", overlaps)
	}
	for i := 0; i < messages; i++ {
		if id := fmt.Sprintf("m%03d", i); completed[id] != 1 {
			t.Errorf("%s completed %d times", id, completed[id])
		}
	}
	if len(completed) != messages {
		t.Errorf("%d distinct messages completed, want %d", len(completed), messages)
	}
	if abandons.Load() == 0 {
		t.Error("no receiver abandoned: the test did not exercise redelivery")
	}
	d.mustBeEmpty()
	fb := h.drainFeedback(d.id)
	want := map[string]iothub.StatusCode{}
	for i := 0; i < messages; i++ {
		want[fmt.Sprintf("m%03d", i)] = iothub.StatusSuccess
	}
	wantFeedback(t, fb, want)
}
