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
	if err := s.Store.Create(ctx, d); err != nil {
		return Device{}, err
	}
	s.invalidate(id) // ends a remembered "not registered" at once
	return d, nil
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
	next := cur
	next.Version = cur.Version + 1
	if err := apply(&next, spec, s.Now().UTC()); err != nil {
		return Device{}, err
	}
	if err := s.Store.Replace(ctx, next, cur.Version); err != nil {
		return Device{}, err
	}
	s.invalidate(id)
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
	if err := s.Store.Delete(ctx, id, version); err != nil {
		return err
	}
	s.invalidate(id)
	return nil
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
