package registry

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
)

// memStore is a Store over a map with DynamoStore's semantics: Get hides
// tombstones, writes are conditioned on versions, the pending index is the
// items owing events.
type memStore struct {
	m map[string]Device
	// failClear makes ClearPending and RemoveTombstone fail: a crash after
	// the events went out.
	failClear bool
}

func newMemStore() *memStore { return &memStore{m: map[string]Device{}} }

func (s *memStore) Get(ctx context.Context, id string) (Device, error) {
	d, err := s.Load(ctx, id)
	if err == nil && d.Deleted {
		return Device{}, ErrDeviceNotFound(id)
	}
	return d, err
}

func (s *memStore) GetEventually(ctx context.Context, id string) (Device, error) {
	return s.Get(ctx, id)
}

func (s *memStore) Load(_ context.Context, id string) (Device, error) {
	d, ok := s.m[id]
	if !ok {
		return Device{}, ErrDeviceNotFound(id)
	}
	return d, nil
}

func (s *memStore) Create(_ context.Context, d Device) error {
	if _, ok := s.m[d.DeviceID]; ok {
		return apierr.DeviceAlreadyExists.New("exists")
	}
	s.m[d.DeviceID] = d
	return nil
}

func (s *memStore) Replace(_ context.Context, d Device, prev int64) error {
	cur, ok := s.m[d.DeviceID]
	if !ok || cur.Version != prev {
		return apierr.PreconditionFailedETag.New("changed")
	}
	s.m[d.DeviceID] = d
	return nil
}

func (s *memStore) ReplaceTombstone(_ context.Context, d Device, version int64) error {
	cur, ok := s.m[d.DeviceID]
	if !ok || cur.Version != version || !cur.Deleted {
		return apierr.PreconditionFailedETag.New("changed")
	}
	s.m[d.DeviceID] = d
	return nil
}

func (s *memStore) Delete(_ context.Context, id string, version int64) error {
	cur, ok := s.m[id]
	switch {
	case !ok:
		return ErrDeviceNotFound(id)
	case version >= 0 && cur.Version != version:
		return apierr.PreconditionFailedETag.New("changed")
	}
	delete(s.m, id)
	return nil
}

func (s *memStore) List(context.Context, int, string) ([]Device, string, error) {
	var out []Device
	for _, d := range s.m {
		if !d.Deleted {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.DeviceID, b.DeviceID) })
	return out, "", nil
}

func (s *memStore) ClearPending(_ context.Context, id string, version int64) error {
	if s.failClear {
		return apierr.ServiceUnavailable.New("crashed")
	}
	if d, ok := s.m[id]; ok && d.Version == version {
		d.clearPending()
		s.m[id] = d
	}
	return nil
}

func (s *memStore) RemoveTombstone(_ context.Context, id string, version int64) error {
	if s.failClear {
		return apierr.ServiceUnavailable.New("crashed")
	}
	if d, ok := s.m[id]; ok && d.Version == version && d.Deleted {
		delete(s.m, id)
	}
	return nil
}

func (s *memStore) Pending(_ context.Context, before time.Time) ([]Device, error) {
	var out []Device
	for _, d := range s.m {
		if d.PendingShard != "" && d.PendingAt <= before.UnixMilli() {
			out = append(out, d)
		}
	}
	return out, nil
}
