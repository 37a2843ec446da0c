package endpoints

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
)

// parallelCalls bounds the calls one Send has in flight: calls of a wave (or
// of an unordered Send) are independent, and a router batch is spread over
// many devices.
const parallelCalls = 4

// batcher is what the drivers need to know of a service's batch call.
type batcher struct {
	max      int                 // messages per call
	maxBytes int                 // bytes per call, as the service counts them
	size     func(Message) int   // a message's bytes toward maxBytes
	check    func(Message) error // nil, or why the message can never be sent (permanent)
	// put makes one call with batch (within the limits above) and returns
	// one error per message of batch.
	put func(ctx context.Context, batch []Message) []error
}

// sendUnordered packs every sendable message into calls and makes them.
func (b batcher) sendUnordered(ctx context.Context, msgs []Message) []error {
	errs := make([]error, len(msgs))
	idx := make([]int, 0, len(msgs))
	for i, m := range msgs {
		if errs[i] = b.check(m); errs[i] == nil {
			idx = append(idx, i)
		}
	}
	b.run(ctx, msgs, b.pack(msgs, idx), errs)
	return errs
}

// sendOrdered sends msgs in waves: wave k holds the k-th message of every
// device whose earlier messages were all delivered, so no call carries two
// messages of one device, a device's message goes only after its previous
// one was acknowledged, and after a failure the device's later messages are
// not attempted (ErrNotAttempted). A service's batch call may fail some
// entries and deliver later ones, so two messages of one device in one call
// could land out of order; waves rule that out at the cost of one round
// trip per message of the busiest device.
func (b batcher) sendOrdered(ctx context.Context, msgs []Message) []error {
	errs := make([]error, len(msgs))
	var devices []string
	queue := map[string][]int{}
	for i, m := range msgs {
		if _, ok := queue[m.DeviceID]; !ok {
			devices = append(devices, m.DeviceID)
		}
		queue[m.DeviceID] = append(queue[m.DeviceID], i)
	}
	skipRest := func(rest []int, device string) {
		for _, j := range rest {
			errs[j] = fmt.Errorf("%w: an earlier message of device %q was not delivered", ErrNotAttempted, device)
		}
	}
	for len(devices) > 0 {
		wave := make([]int, 0, len(devices))
		for _, d := range devices {
			i := queue[d][0]
			if errs[i] = b.check(msgs[i]); errs[i] == nil {
				wave = append(wave, i)
			}
		}
		b.run(ctx, msgs, b.pack(msgs, wave), errs)
		next := devices[:0]
		for _, d := range devices {
			q := queue[d]
			switch {
			case errs[q[0]] != nil:
				skipRest(q[1:], d)
			case len(q) > 1:
				queue[d] = q[1:]
				next = append(next, d)
			}
		}
		devices = next
	}
	return errs
}

// pack splits idx, in order, into calls within the count and byte limits.
// Every message fits a call on its own: check rejected the larger ones.
func (b batcher) pack(msgs []Message, idx []int) [][]int {
	var calls [][]int
	var cur []int
	bytes := 0
	for _, i := range idx {
		n := b.size(msgs[i])
		if len(cur) > 0 && (len(cur) == b.max || bytes+n > b.maxBytes) {
			calls, cur, bytes = append(calls, cur), nil, 0
		}
		cur = append(cur, i)
		bytes += n
	}
	if len(cur) > 0 {
		calls = append(calls, cur)
	}
	return calls
}

// run makes the calls, parallelCalls at a time, and records each message's
// error in errs (each call writes only its own indexes).
func (b batcher) run(ctx context.Context, msgs []Message, calls [][]int, errs []error) {
	var g errgroup.Group
	g.SetLimit(parallelCalls)
	for _, call := range calls {
		g.Go(func() error {
			batch := make([]Message, len(call))
			for j, i := range call {
				batch[j] = msgs[i]
			}
			res := b.put(ctx, batch)
			for j, i := range call {
				if len(res) != len(call) {
					errs[i] = fmt.Errorf("endpoints: internal error: %d results for %d messages", len(res), len(call))
				} else {
					errs[i] = res[j]
				}
			}
			return nil
		})
	}
	_ = g.Wait() // the calls report per message, never through the group
}
