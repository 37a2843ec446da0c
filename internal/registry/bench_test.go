package registry

import (
	"context"
	"testing"
	"time"

	"github.com/devicehub/devicehub/shared/sas"
)

// BenchmarkAuthenticator is the per-request cost of authenticating a device
// whose keys are cached (a warm function) and of an owner-policy token.
func BenchmarkAuthenticator(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	d := Device{DeviceID: "bench-device-1", GenerationID: "g", Status: StatusEnabled, PrimaryKey: NewKey(), SecondaryKey: NewKey()}
	owner := NewKey()
	a, err := NewAuthenticator(AuthConfig{HubHost: "bench.devicehub.test", Devices: &memDevices{m: map[string]Device{d.DeviceID: d}},
		PolicyKey: owner, Policy: "iothubowner", Now: func() time.Time { return now }, CacheTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	token := func(res, key, name string) string {
		s, err := sas.New(res, key, name, now.Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	b.Run("device/primary", func(b *testing.B) {
		hdr := token("bench.devicehub.test/devices/"+d.DeviceID, d.PrimaryKey, "")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Device(ctx, hdr, d.DeviceID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("device/secondary", func(b *testing.B) {
		hdr := token("bench.devicehub.test/devices/"+d.DeviceID, d.SecondaryKey, "")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Device(ctx, hdr, d.DeviceID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("service", func(b *testing.B) {
		hdr := token("bench.devicehub.test", owner, "iothubowner")
		b.ReportAllocs()
		for b.Loop() {
			if err := a.Service(ctx, hdr, "/devices"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
