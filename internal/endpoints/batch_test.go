package endpoints

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
)

// recorder is a put function that records its calls and fails the messages
// whose UniqueID is in fail.
type recorder struct {
	mu    sync.Mutex
	calls [][]string // UniqueIDs per call
	fail  map[string]error
}

func (r *recorder) put(_ context.Context, batch []Message) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, len(batch))
	errs := make([]error, len(batch))
	for i, m := range batch {
		ids[i] = m.UniqueID
		errs[i] = r.fail[m.UniqueID]
	}
	r.calls = append(r.calls, ids)
	return errs
}

func (r *recorder) sent() map[string]bool {
	out := map[string]bool{}
	for _, c := range r.calls {
		for _, id := range c {
			out[id] = true
		}
	}
	return out
}

// msgs builds messages from "device:id" specs; the data is id-sized.
func msgs(specs ...string) []Message {
	out := make([]Message, len(specs))
	for i, s := range specs {
		d, id, _ := strings.Cut(s, ":")
		out[i] = Message{DeviceID: d, UniqueID: id, Data: []byte(`{"id":"` + id + `"}`)}
	}
	return out
}

func TestPack(t *testing.T) {
	sized := func(sizes ...int) []Message {
		out := make([]Message, len(sizes))
		for i, n := range sizes {
			out[i] = Message{Data: make([]byte, n)}
		}
		return out
	}
	all := func(m []Message) []int {
		idx := make([]int, len(m))
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	for _, tc := range []struct {
		name          string
		max, maxBytes int
		msgs          []Message
		want          [][]int
	}{
		{"count", 2, 100, sized(1, 1, 1, 1, 1), [][]int{{0, 1}, {2, 3}, {4}}},
		{"bytes", 10, 10, sized(4, 4, 4, 6, 10, 1), [][]int{{0, 1}, {2, 3}, {4}, {5}}},
		{"exactly full", 3, 9, sized(3, 3, 3, 3), [][]int{{0, 1, 2}, {3}}},
		{"none", 3, 9, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := batcher{max: tc.max, maxBytes: tc.maxBytes, size: func(m Message) int { return len(m.Data) }}
			got := b.pack(tc.msgs, all(tc.msgs))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("pack = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSendOrdered(t *testing.T) {
	transient := errors.New("throttled")
	tooBig := permanent("too large")
	for _, tc := range []struct {
		name     string
		msgs     []Message
		max      int
		fail     map[string]error // put fails these
		reject   string           // check rejects this id
		wantSent []string         // delivered, in any call order
		wantErr  map[string]error // errors.Is targets
	}{
		{
			name:     "all delivered",
			msgs:     msgs("a:a1", "b:b1", "a:a2", "c:c1", "a:a3", "c:c2"),
			max:      10,
			wantSent: []string{"a1", "a2", "a3", "b1", "c1", "c2"},
		},
		{
			name:     "a failure stops the device's later messages only",
			msgs:     msgs("a:a1", "b:b1", "a:a2", "b:b2", "a:a3", "b:b3"),
			max:      10,
			fail:     map[string]error{"a2": transient},
			wantSent: []string{"a1", "a2", "b1", "b2", "b3"},
			wantErr:  map[string]error{"a2": transient, "a3": ErrNotAttempted},
		},
		{
			name:     "a rejected message stops the device's later messages",
			msgs:     msgs("a:a1", "a:a2", "b:b1", "a:a3"),
			max:      10,
			reject:   "a1",
			wantSent: []string{"b1"},
			wantErr:  map[string]error{"a1": tooBig, "a2": ErrNotAttempted, "a3": ErrNotAttempted},
		},
		{
			name:     "waves split into calls",
			msgs:     msgs("a:a1", "b:b1", "c:c1", "d:d1", "e:e1", "a:a2", "b:b2"),
			max:      2,
			fail:     map[string]error{"e1": transient},
			wantSent: []string{"a1", "a2", "b1", "b2", "c1", "d1", "e1"},
			wantErr:  map[string]error{"e1": transient},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{fail: tc.fail}
			b := batcher{
				max: tc.max, maxBytes: 1 << 20, size: func(m Message) int { return len(m.Data) },
				check: func(m Message) error {
					if m.UniqueID == tc.reject {
						return tooBig
					}
					return nil
				},
				put: r.put,
			}
			errs := b.sendOrdered(context.Background(), tc.msgs)
			sent := r.sent()
			if got := slices.Sorted(maps.Keys(sent)); !slices.Equal(got, tc.wantSent) {
				t.Errorf("sent %v, want %v", got, tc.wantSent)
			}
			for i, m := range tc.msgs {
				want := tc.wantErr[m.UniqueID]
				switch {
				case want == nil && errs[i] != nil:
					t.Errorf("%s: error %v, want delivered", m.UniqueID, errs[i])
				case want != nil && !errors.Is(errs[i], want):
					t.Errorf("%s: error %v, want %v", m.UniqueID, errs[i], want)
				}
			}
			// No call holds two messages of one device, and a device's
			// messages go in order, each after the previous one's call.
			callOf := map[string]int{}
			for c, ids := range r.calls {
				if len(ids) > tc.max {
					t.Errorf("call %d has %d messages, max %d", c, len(ids), tc.max)
				}
				devices := map[string]bool{}
				for _, id := range ids {
					d := id[:1]
					if devices[d] {
						t.Errorf("call %d holds two messages of device %s: %v", c, d, ids)
					}
					devices[d] = true
					callOf[id] = c
				}
			}
			last := map[string]int{}
			for _, m := range tc.msgs {
				c, ok := callOf[m.UniqueID]
				if !ok {
					continue
				}
				if p, seen := last[m.DeviceID]; seen && c <= p {
					t.Errorf("%s went in call %d, not after its predecessor's call %d", m.UniqueID, c, p)
				}
				last[m.DeviceID] = c
			}
		})
	}
}

func TestSendUnordered(t *testing.T) {
	r := &recorder{fail: map[string]error{"a2": errors.New("boom")}}
	b := batcher{
		max: 2, maxBytes: 1 << 20, size: func(m Message) int { return len(m.Data) },
		check: func(m Message) error {
			if m.UniqueID == "b1" {
				return permanent("bad")
			}
			return nil
		},
		put: r.put,
	}
	in := msgs("a:a1", "a:a2", "a:a3", "b:b1", "b:b2")
	errs := b.sendUnordered(context.Background(), in)
	want := []bool{false, true, false, true, false} // failed
	for i := range in {
		if (errs[i] != nil) != want[i] {
			t.Errorf("%s: error %v", in[i].UniqueID, errs[i])
		}
	}
	if len(r.calls) != 2 {
		t.Errorf("calls %v, want 2 (4 sendable messages, 2 per call)", r.calls)
	}
	if !Permanent(errs[3]) || Permanent(errs[1]) {
		t.Errorf("classification: b1 %v, a2 %v", errs[3], errs[1])
	}
}

func TestRunBadResultCount(t *testing.T) {
	b := batcher{
		max: 10, maxBytes: 1 << 20, size: func(m Message) int { return len(m.Data) },
		check: func(Message) error { return nil },
		put:   func(context.Context, []Message) []error { return nil },
	}
	for _, err := range b.sendUnordered(context.Background(), msgs("a:1", "b:2")) {
		if err == nil || Permanent(err) {
			t.Errorf("a put that answers no results: error %v, want a transient one", err)
		}
	}
}

// Two records of one device with one message id (a device reusing ids) get
// different S3 names; a retry of one record gets the same name.
func TestObjectTokenUsesTheRecord(t *testing.T) {
	a := Message{DeviceID: "d", UniqueID: "1", Sequence: "100"}
	b := Message{DeviceID: "d", UniqueID: "1", Sequence: "200"}
	if objectToken(a) == objectToken(b) {
		t.Fatalf("records 100 and 200 share the name %q", objectToken(a))
	}
	if retry := a; objectToken(retry) != objectToken(a) {
		t.Fatal("a retried record changed its name")
	}
	if objectToken(Message{DeviceID: "d", UniqueID: "1"}) == objectToken(Message{DeviceID: "d", UniqueID: "2"}) {
		t.Fatal("without sequence numbers, distinct ids share a name")
	}
}
