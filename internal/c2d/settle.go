package c2d

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
)

// Complete settles a received message as delivered.
func (q *Queue) Complete(ctx context.Context, id registry.Identity, lockToken string) error {
	return q.settle(ctx, id, lockToken, EvComplete)
}

// Reject dead-letters a received message.
func (q *Queue) Reject(ctx context.Context, id registry.Identity, lockToken string) error {
	return q.settle(ctx, id, lockToken, EvReject)
}

// Abandon makes a received message due again, or dead-letters it when it
// has had its last allowed delivery.
func (q *Queue) Abandon(ctx context.Context, id registry.Identity, lockToken string) error {
	return q.settle(ctx, id, lockToken, EvAbandon)
}

func (q *Queue) settle(ctx context.Context, id registry.Identity, lockToken string, ev Event) error {
	seq, ack, err := parseLockToken(lockToken)
	if err != nil {
		return err
	}
	tok := unquote(lockToken)
	now := q.now().UTC()
	ok, err := q.byLock(ctx, ev, id.DeviceID, seq, tok, ack, now)
	if err == nil && !ok && ev == EvAbandon {
		// Most abandons are not the last; only then is a second write tried.
		ok, err = q.byLock(ctx, EvAbandonLast, id.DeviceID, seq, tok, ack, now)
	}
	if err != nil {
		return err
	}
	if !ok {
		return errLockLost()
	}
	return nil
}

// byLock runs a lock-token transition (complete, reject, abandon).
func (q *Queue) byLock(ctx context.Context, ev Event, dev string, seq int64, tok string, ack iothub.Ack, now time.Time) (bool, error) {
	var fb bool
	if code, ok := transitionOf(ev).To.outcome(); ok {
		fb = wants(ack, code)
	}
	vals := map[string]types.AttributeValue{":tok": sS(tok)}
	if ev == EvAbandon || ev == EvAbandonLast {
		vals[":max"] = sN(int64(q.opt.MaxDelivery))
	}
	var remove []string
	if ev == EvAbandon {
		remove = []string{"#lk", "#lu"}
	}
	_, ok, err := q.write(ctx, change{dev: dev, seq: seq, ev: ev, values: vals, remove: remove, feedback: fb}, now)
	return ok, err
}
