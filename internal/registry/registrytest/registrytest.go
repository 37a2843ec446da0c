// Package registrytest holds an in-memory device registry for other
// packages' tests and benchmarks, so production code carries no fake.
package registrytest

import (
	"context"

	"github.com/devicehub/devicehub/internal/registry"
)

// Device is a registry.Getter holding one device, as a warm function's
// authenticator would find it.
type Device struct{ D registry.Device }

// Get returns the device when id is its id, else DeviceNotFound.
func (g Device) Get(_ context.Context, id string) (registry.Device, error) {
	if id != g.D.DeviceID {
		return registry.Device{}, registry.ErrDeviceNotFound(id)
	}
	return g.D, nil
}

// GetEventually is Get: one in-memory device has no replicas.
func (g Device) GetEventually(ctx context.Context, id string) (registry.Device, error) {
	return g.Get(ctx, id)
}
