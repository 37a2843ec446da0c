package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// Device lifecycle events: IoT Hub's deviceLifecycleNotification, written
// to the telemetry stream (routing source DeviceLifecycleEvents) when a
// device is created or deleted, and, as devicehub's own addition, when its
// status changes (IoT Hub sends nothing then).
//
// Every event is delivered at least once, without transactions: the write
// that owes an event stores its encoded record on the device item itself
// (PendingEvents, with the sparse byPendingEvent index's keys), then puts
// it on the stream, then clears it with a write conditioned on the item's
// version, which leaves the version, and so the etag, as it is. A delete
// replaces the item with a tombstone (Deleted, version+1, no credentials)
// that owes the delete event, and removes the tombstone once the event is
// out. A write that finds owed events on the item carries them over, so
// they go out before its own, in order; a crash between the write and the
// stream leaves them in the index, where FinishPendingEvents (the
// sweeper) finds them after Lifecycle.Grace. An event may therefore be
// sent more than once (same correlation id), and a repeated one may come
// after a later event of the same device: the twin's version in the body
// orders them.

// EventWriter puts records on the telemetry stream in order, with the
// device id as partition key.
type EventWriter interface {
	WriteEvents(ctx context.Context, deviceID string, records [][]byte) error
}

// Lifecycle makes a Service write lifecycle events.
type Lifecycle struct {
	Events  EventWriter
	HubName string // hubName and user-id of the events
	// Grace is how long FinishPendingEvents leaves an owed event to the
	// write that owes it; DefaultPendingGrace when 0.
	Grace time.Duration
	Log   *slog.Logger // optional: events a write could not send at once
}

// DefaultPendingGrace is Lifecycle.Grace's default: far longer than a
// write takes to put its events on the stream.
const DefaultPendingGrace = 30 * time.Second

// maxPendingEvents bounds the events one item owes (each up to some 30 KB
// with the largest tags, within DynamoDB's 400 KB item): a write that would
// owe more first sends what is owed, and fails while the stream refuses.
const maxPendingEvents = 8

// The values of a lifecycle event's application properties.
const (
	OpCreateDeviceIdentity = "createDeviceIdentity"
	OpDeleteDeviceIdentity = "deleteDeviceIdentity"
	// OpUpdateDeviceIdentity is devicehub's own: a device was enabled or
	// disabled (IoT Hub has no lifecycle notification for that).
	OpUpdateDeviceIdentity = "updateDeviceIdentity"
	LifecycleSchema        = "deviceLifecycleNotification"
)

// The names of a lifecycle event's application properties, IoT Hub's.
const (
	PropOpType             = "opType"
	PropHubName            = "hubName"
	PropDeviceID           = "deviceId"
	PropOperationTimestamp = "operationTimestamp"
	PropMessageSchema      = "iothub-message-schema"
)

// lifecycleRecord is the telemetry record (shared/telemetry's version 2
// envelope) of one lifecycle event. As IoT Hub's, it carries a unique
// correlation id, the hub's name as user id, JSON in UTF-8, the device id
// and the time; it has no connection properties (generation id, auth
// method): no device connection sent it.
type lifecycleRecord struct {
	V             int               `json:"v"`
	Source        string            `json:"s"`
	CorrelationID string            `json:"cid"`
	UserID        string            `json:"uid"`
	ContentType   int               `json:"c"`
	Encoding      int               `json:"e"`
	DeviceID      string            `json:"d"`
	Enqueued      int64             `json:"t"`
	Props         map[string]string `json:"p"`
	Body          json.RawMessage   `json:"b"`
}

// EncodeLifecycleEvent returns the record of one event: opType about the
// device whose twin is given (its body), at the operation's time.
func EncodeLifecycleEvent(hubName, opType string, twin iothub.Twin, at time.Time) ([]byte, error) {
	body, err := json.Marshal(twin)
	if err != nil {
		return nil, fmt.Errorf("registry: encode twin of %q: %w", twin.DeviceID, err)
	}
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails on supported platforms
	at = at.UTC()
	rec, err := json.Marshal(lifecycleRecord{
		V: telemetry.V2, Source: telemetry.SourceDeviceLifecycleEvents,
		CorrelationID: hex.EncodeToString(id[:]), UserID: hubName,
		ContentType: telemetry.ContentTypeCode("application/json"), Encoding: telemetry.ContentEncodingCode("utf-8"),
		DeviceID: twin.DeviceID, Enqueued: at.UnixMilli(),
		Props: map[string]string{
			PropOpType: opType, PropHubName: hubName, PropDeviceID: twin.DeviceID,
			PropOperationTimestamp: at.Format(time.RFC3339Nano), PropMessageSchema: LifecycleSchema,
		},
		Body: body,
	})
	if err != nil {
		return nil, fmt.Errorf("registry: encode lifecycle event: %w", err)
	}
	return rec, nil
}

// owe adds to d's owed events one about the device about (d itself, or
// the device a tombstone d replaces).
func (l *Lifecycle) owe(d *Device, opType string, about Device, now time.Time) error {
	rec, err := EncodeLifecycleEvent(l.HubName, opType, about.Twin(), now)
	if err != nil {
		return err
	}
	if len(d.PendingEvents) == 0 {
		d.PendingShard, d.PendingAt = pendingShardOf(d.DeviceID), now.UnixMilli()
	}
	d.PendingEvents = append(slices.Clip(d.PendingEvents), string(rec)) // never into a slice d shares
	return nil
}

// finish puts d's owed events on the stream and then takes them off the
// item (removes it, for a tombstone) if it is still at d's version.
func (l *Lifecycle) finish(ctx context.Context, store Store, d Device) error {
	recs := make([][]byte, len(d.PendingEvents))
	for i, r := range d.PendingEvents {
		recs[i] = []byte(r)
	}
	if err := l.Events.WriteEvents(ctx, d.DeviceID, recs); err != nil {
		return fmt.Errorf("registry: send %d lifecycle events of %q: %w", len(d.PendingEvents), d.DeviceID, err)
	}
	if d.Deleted {
		return store.RemoveTombstone(ctx, d.DeviceID, d.Version)
	}
	return store.ClearPending(ctx, d.DeviceID, d.Version)
}

// clearPending forgets d's owed events (after finish).
func (d *Device) clearPending() {
	d.PendingEvents, d.PendingShard, d.PendingAt = nil, "", 0
}

// finishEvents sends what d, just written, owes. A failure is only logged:
// the write stands, and the sweep sends the events.
func (s *Service) finishEvents(ctx context.Context, d Device) {
	if s.Lifecycle == nil || len(d.PendingEvents) == 0 {
		return
	}
	if err := s.Lifecycle.finish(ctx, s.Store, d); err != nil && s.Lifecycle.Log != nil {
		s.Lifecycle.Log.WarnContext(ctx, "lifecycle events left to the sweep", slog.String("device", d.DeviceID), slog.Any("error", err))
	}
}

// withRoom returns cur without owed events, sent first, when it owes
// maxPendingEvents already; ServiceUnavailable while the stream refuses
// them.
func (s *Service) withRoom(ctx context.Context, cur Device) (Device, error) {
	if len(cur.PendingEvents) < maxPendingEvents {
		return cur, nil
	}
	if err := s.Lifecycle.finish(ctx, s.Store, cur); err != nil {
		return Device{}, apierr.ServiceUnavailable.Wrap("the device's earlier lifecycle events are not sent yet", err).WithRetryAfter(time.Second)
	}
	cur.clearPending()
	return cur, nil
}

// FinishPendingEvents sends the events that items have owed for longer
// than Lifecycle.Grace (a write that crashed before sending them, or whose
// stream refused them) and clears them; it returns how many items it
// finished. An item that fails does not stop the others; the errors are
// joined. Without Lifecycle it does nothing.
func (s *Service) FinishPendingEvents(ctx context.Context) (int, error) {
	if s.Lifecycle == nil {
		return 0, nil
	}
	grace := s.Lifecycle.Grace
	if grace <= 0 {
		grace = DefaultPendingGrace
	}
	due, err := s.Store.Pending(ctx, s.Now().Add(-grace))
	n := 0
	errs := []error{err}
	for _, it := range due {
		// The index may be a write behind: act on the item as it is.
		d, err := s.Store.Load(ctx, it.DeviceID)
		switch {
		case apierr.KindOf(err) == apierr.NotFound:
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		case len(d.PendingEvents) == 0:
			continue
		}
		if err := s.Lifecycle.finish(ctx, s.Store, d); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
