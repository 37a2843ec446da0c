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
	tok := iothub.UnquoteETag(lockToken)
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

// byLock runs a lock-token transition (complete, reject, abandon) on the
// message the token names; the token also carries the message's ack.
func (q *Queue) byLock(ctx context.Context, ev Event, dev string, seq int64, tok string, ack iothub.Ack, now time.Time) (bool, error) {
	_, ok, err := q.write(ctx, ev, request{m: msg{Dev: dev, Seq: seq, Ack: ack}, now: now, tok: tok}, types.ReturnValueNone)
	return ok, err
}
