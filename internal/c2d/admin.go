package c2d

import (
	"context"
	"encoding/base64"
	"log/slog"
	"strconv"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
)

// The service's administration of a device's queue: purge, status
// look-ups, dead letters and their requeue.

// Purge settles every pending message of the device as Purged and returns
// how many it purged.
func (q *Queue) Purge(ctx context.Context, dev string) (int, error) {
	if err := registry.ValidateDeviceID(dev); err != nil {
		return 0, err
	}
	if _, err := q.devices.Get(ctx, dev); err != nil {
		return 0, err
	}
	h, err := q.getHead(ctx, dev, true)
	if err != nil || !h.exists {
		return 0, err
	}
	now := q.now().UTC()
	n := 0
	err = q.scan(ctx, dev, max(h.Head, 1), true, func(m msg) (bool, error) {
		if !m.State.pending() {
			return true, nil
		}
		ok, err := q.settleObserved(ctx, EvPurge, m, now)
		if ok {
			n++
		}
		return err == nil, err
	})
	if err != nil {
		return n, err
	}
	if _, err := q.sweepDevice(ctx, dev); err != nil {
		q.log.WarnContext(ctx, "purge: cannot refresh queue head", slog.String("device", dev), slog.Any("error", err))
	}
	return n, nil
}

// Lookup returns the retained messages of the device with this message id,
// oldest first (message ids are the sender's and need not be unique).
func (q *Queue) Lookup(ctx context.Context, dev, messageID string) ([]iothub.C2DStatus, error) {
	if err := registry.ValidateDeviceID(dev); err != nil {
		return nil, err
	}
	var out []iothub.C2DStatus
	err := q.scan(ctx, dev, 1, false, func(m msg) (bool, error) {
		if m.ID == messageID {
			out = append(out, m.status())
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, apierr.MessageNotFound.New("no retained message " + strconv.Quote(messageID) + " for device " + strconv.Quote(dev))
	}
	return out, nil
}

// DeadLetters lists the device's retained dead-lettered messages, oldest
// first, up to limit per page; cursor is the previous page's continuation.
func (q *Queue) DeadLetters(ctx context.Context, dev string, limit int, cursor string) ([]iothub.C2DStatus, string, error) {
	if err := registry.ValidateDeviceID(dev); err != nil {
		return nil, "", err
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	from := int64(1)
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		n, perr := strconv.ParseInt(string(b), 10, 64)
		if err != nil || perr != nil || n < 1 {
			return nil, "", invalid("bad continuation token")
		}
		from = n
	}
	var out []iothub.C2DStatus
	next := ""
	err := q.scan(ctx, dev, from, false, func(m msg) (bool, error) {
		if !m.State.deadLettered() || m.ReqAs > 0 {
			return true, nil
		}
		if len(out) == limit {
			next = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(m.Seq, 10)))
			return false, nil
		}
		out = append(out, m.status())
		return true, nil
	})
	return out, next, err
}

// Requeue enqueues a copy of the device's most recent dead-lettered message
// with this id as a new message (fresh sequence number, default TTL,
// delivery count 0, the device's current generation), then marks the
// original Requeued. A crash between the two leaves the copy pending with a
// pointer to the original; the sweeper finishes the mark (repairRequeue).
func (q *Queue) Requeue(ctx context.Context, dev, messageID string) (iothub.C2DSent, error) {
	if err := registry.ValidateDeviceID(dev); err != nil {
		return iothub.C2DSent{}, err
	}
	d, err := q.devices.Get(ctx, dev)
	if err != nil {
		return iothub.C2DSent{}, err
	}
	var dead *msg
	err = q.scan(ctx, dev, 1, true, func(m msg) (bool, error) {
		if m.ID == messageID && m.State.deadLettered() && m.ReqAs == 0 {
			dead = &m
		}
		return true, nil
	})
	if err != nil {
		return iothub.C2DSent{}, err
	}
	if dead == nil {
		return iothub.C2DSent{}, apierr.MessageNotFound.New("no dead-lettered message " + strconv.Quote(messageID) + " for device " + strconv.Quote(dev))
	}
	b, err := q.body(ctx, dev, dead.Seq)
	if err != nil {
		return iothub.C2DSent{}, err
	}
	now := q.now().UTC()
	// If this stops between the copy and the mark, the sweeper must come by
	// soon to finish the mark, not at the copy's expiry.
	if err := q.scheduleSweep(ctx, dev, ms(now.Add(inflight))); err != nil {
		return iothub.C2DSent{}, err
	}
	m := dead.message()
	m.Body = b
	sent, err := q.enqueue(ctx, dev, d.GenerationID, m, now, now.Add(q.opt.DefaultTTL), dead.Seq)
	if err != nil {
		return iothub.C2DSent{}, err
	}
	ok, err := q.markRequeued(ctx, *dead, sent.SequenceNumber, now)
	if err != nil {
		return iothub.C2DSent{}, err
	}
	if !ok {
		// A concurrent requeue won: take this copy back out.
		cp := msg{Dev: dev, Seq: sent.SequenceNumber, Ack: iothub.AckNone}
		if _, err := q.settleObserved(ctx, EvPurge, cp, now); err != nil {
			return iothub.C2DSent{}, err
		}
		return iothub.C2DSent{}, apierr.MessageAlreadyRequeued.New("message " + strconv.Quote(messageID) + " was requeued concurrently")
	}
	return sent, nil
}
