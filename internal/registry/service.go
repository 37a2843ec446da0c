package registry

import (
	"context"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
)

// Invalidator forgets cached credentials of a device (the authenticator).
type Invalidator interface {
	Invalidate(deviceID string)
}

// Service implements the registry operations on a Store.
type Service struct {
	Store Store
	Now   func() time.Time
	Cache Invalidator // optional: same-process auth cache to refresh on writes
	// Lifecycle, when set, makes creates, deletes and status changes write
	// lifecycle events (lifecycle.go); without it the registry writes what
	// it always has.
	Lifecycle *Lifecycle
}

// Spec is what a caller may set on a device; empty fields take defaults
// (status enabled, SAS with fresh keys) on create and keep their value on
// update. AuthType switches the device's authentication (applyAuth).
type Spec struct {
	Status       string
	StatusReason string
	PrimaryKey   string
	SecondaryKey string

	AuthType            string // iothub.AuthSAS, AuthSelfSigned, AuthCertificateAuthority; "" keeps the type
	PrimaryThumbprint   string // selfSigned: hex SHA-1 or SHA-256, ':' separators allowed
	SecondaryThumbprint string
}

// Create registers a device; it fails with Conflict when the id exists.
func (s *Service) Create(ctx context.Context, id string, spec Spec) (Device, error) {
	if err := ValidateDeviceID(id); err != nil {
		return Device{}, err
	}
	now := s.Now().UTC()
	d := Device{
		DeviceID:          id,
		GenerationID:      strconv.FormatInt(now.UnixNano(), 10),
		Version:           1,
		Status:            StatusEnabled,
		StatusUpdatedTime: now,
	}
	if err := apply(&d, spec, now); err != nil {
		return Device{}, err
	}
	if s.Lifecycle != nil {
		return s.createWithEvent(ctx, d, now)
	}
	err := s.Store.Create(ctx, d)
	if apierr.KindOf(err) == apierr.Conflict {
		err = s.createOverTombstone(ctx, &d, err)
	}
	if err != nil {
		return Device{}, err
	}
	s.invalidate(id) // ends a remembered "not registered" at once
	return d, nil
}

// createOverTombstone creates d over a tombstone left while lifecycle
// events were on (they are off now, so its owed events are dropped, as a
// plain delete drops them); conflict is Create's answer when the id is
// taken by a device.
func (s *Service) createOverTombstone(ctx context.Context, d *Device, conflict error) error {
	tomb, err := s.Store.Load(ctx, d.DeviceID)
	switch {
	case apierr.KindOf(err) == apierr.NotFound:
		return s.Store.Create(ctx, *d) // the tombstone went meanwhile
	case err != nil:
		return err
	case !tomb.Deleted:
		return conflict
	}
	// Versions go on from the tombstone's, so an etag of the deleted device
	// never matches the new one.
	d.Version = tomb.Version + 1
	if err := s.Store.ReplaceTombstone(ctx, *d, tomb.Version); err != nil {
		if apierr.KindOf(err) == apierr.PreconditionFailed {
			return apierr.DeviceAlreadyExists.New("device " + strconv.Quote(d.DeviceID) + " was created meanwhile")
		}
		return err
	}
	return nil
}

// lifecycleRetries bounds the tries of a create or delete with lifecycle
// events that lost a race with another write of the device.
const lifecycleRetries = 3

// createWithEvent creates d owing its create event: as a new item, or over
// a tombstone, whose owed events (its delete event) it carries first.
func (s *Service) createWithEvent(ctx context.Context, d Device, now time.Time) (Device, error) {
	var err error
	for range lifecycleRetries {
		next := d
		if err = s.Lifecycle.owe(&next, OpCreateDeviceIdentity, next, now); err != nil {
			return Device{}, err
		}
		if err = s.Store.Create(ctx, next); err == nil {
			s.invalidate(d.DeviceID)
			s.finishEvents(ctx, next)
			return next, nil
		}
		if apierr.KindOf(err) != apierr.Conflict {
			return Device{}, err
		}
		tomb, lerr := s.Store.Load(ctx, d.DeviceID)
		switch {
		case apierr.KindOf(lerr) == apierr.NotFound:
			continue // the tombstone went meanwhile: create afresh
		case lerr != nil:
			return Device{}, lerr
		case !tomb.Deleted:
			return Device{}, err
		}
		if tomb, err = s.withRoom(ctx, tomb); err != nil {
			return Device{}, err
		}
		// Versions go on from the tombstone's, so an etag of the deleted
		// device never matches the new one.
		next = d
		next.Version = tomb.Version + 1
		next.PendingEvents, next.PendingShard, next.PendingAt = tomb.PendingEvents, tomb.PendingShard, tomb.PendingAt
		if err = s.Lifecycle.owe(&next, OpCreateDeviceIdentity, next, now); err != nil {
			return Device{}, err
		}
		if err = s.Store.ReplaceTombstone(ctx, next, tomb.Version); err == nil {
			s.invalidate(d.DeviceID)
			s.finishEvents(ctx, next)
			return next, nil
		}
		if apierr.KindOf(err) != apierr.PreconditionFailed {
			return Device{}, err
		}
	}
	if apierr.KindOf(err) == apierr.PreconditionFailed {
		err = apierr.DeviceAlreadyExists.New("device " + strconv.Quote(d.DeviceID) + " was created meanwhile")
	}
	return Device{}, err
}

// Update changes a device guarded by ifMatch (an etag, quoted or not, or "*").
func (s *Service) Update(ctx context.Context, id string, spec Spec, ifMatch string) (Device, error) {
	if err := ValidateDeviceID(id); err != nil {
		return Device{}, err
	}
	cur, err := s.Store.Get(ctx, id)
	if err != nil {
		return Device{}, err
	}
	if err := checkETag(cur, ifMatch); err != nil {
		return Device{}, err
	}
	now := s.Now().UTC()
	next := cur
	next.Version = cur.Version + 1
	if err := apply(&next, spec, now); err != nil {
		return Device{}, err
	}
	if s.Lifecycle != nil && next.Status != cur.Status {
		if cur, err = s.withRoom(ctx, cur); err != nil {
			return Device{}, err
		}
		next.PendingEvents, next.PendingShard, next.PendingAt = cur.PendingEvents, cur.PendingShard, cur.PendingAt
		if err := s.Lifecycle.owe(&next, OpUpdateDeviceIdentity, next, now); err != nil {
			return Device{}, err
		}
	}
	if err := s.Store.Replace(ctx, next, cur.Version); err != nil {
		return Device{}, err
	}
	s.invalidate(id)
	s.finishEvents(ctx, next)
	return next, nil
}

// Get returns one device.
func (s *Service) Get(ctx context.Context, id string) (Device, error) {
	if err := ValidateDeviceID(id); err != nil {
		return Device{}, err
	}
	return s.Store.Get(ctx, id)
}

// Delete removes a device guarded by ifMatch ("" or "*" for any version).
func (s *Service) Delete(ctx context.Context, id, ifMatch string) error {
	if err := ValidateDeviceID(id); err != nil {
		return err
	}
	version := int64(-1)
	if m := iothub.UnquoteETag(ifMatch); m != "" && m != "*" {
		v, err := parseETag(m)
		if err != nil {
			return err
		}
		version = v
	}
	if s.Lifecycle != nil {
		return s.deleteWithEvent(ctx, id, version)
	}
	if err := s.Store.Delete(ctx, id, version); err != nil {
		return err
	}
	s.invalidate(id)
	return nil
}

// deleteWithEvent replaces the device with a tombstone that owes its
// delete event (after whatever the device owed), and removes the tombstone
// once the events are sent.
func (s *Service) deleteWithEvent(ctx context.Context, id string, version int64) error {
	var err error
	for range lifecycleRetries {
		var cur Device
		cur, err = s.Store.Load(ctx, id)
		switch {
		case err != nil:
			return err
		case cur.Deleted:
			return ErrDeviceNotFound(id)
		case version >= 0 && cur.Version != version:
			return apierr.PreconditionFailedETag.New("If-Match does not match the device's etag")
		}
		if cur, err = s.withRoom(ctx, cur); err != nil {
			return err
		}
		tomb := Device{
			DeviceID: id, GenerationID: cur.GenerationID, Version: cur.Version + 1, Deleted: true,
			PendingEvents: cur.PendingEvents, PendingShard: cur.PendingShard, PendingAt: cur.PendingAt,
		}
		if err = s.Lifecycle.owe(&tomb, OpDeleteDeviceIdentity, cur, s.Now().UTC()); err != nil {
			return err
		}
		if err = s.Store.Replace(ctx, tomb, cur.Version); err == nil {
			s.invalidate(id)
			s.finishEvents(ctx, tomb)
			return nil
		}
		if apierr.KindOf(err) != apierr.PreconditionFailed {
			return err
		}
	}
	return err
}

// List pages through the registry.
func (s *Service) List(ctx context.Context, limit int, cursor string) ([]Device, string, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	return s.Store.List(ctx, limit, cursor)
}

func (s *Service) invalidate(id string) {
	if s.Cache != nil {
		s.Cache.Invalidate(id)
	}
}

func apply(d *Device, spec Spec, now time.Time) error {
	switch spec.Status {
	case "":
	case StatusEnabled, StatusDisabled:
		if spec.Status != d.Status {
			d.Status = spec.Status
			d.StatusUpdatedTime = now
		}
	default:
		return apierr.ArgumentInvalid.New("status must be enabled or disabled")
	}
	if spec.StatusReason != "" {
		d.StatusReason = spec.StatusReason
	}
	return applyAuth(d, spec)
}

func parseETag(tag string) (int64, error) {
	b, err := base64.StdEncoding.DecodeString(tag)
	if err == nil {
		if v, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			return v, nil
		}
	}
	return 0, apierr.PreconditionFailedETag.New("If-Match does not name a current etag of this device")
}

func checkETag(d Device, ifMatch string) error {
	m := iothub.UnquoteETag(ifMatch)
	if m == "" || m == "*" {
		return nil
	}
	if m != d.ETag() {
		return apierr.PreconditionFailedETag.New("If-Match does not match the device's etag")
	}
	return nil
}
