package app

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/sas"
)

// anyDevice is a registry.Getter in which every id is an enabled sas device
// with its own keys (deviceKey).
type anyDevice struct{}

func (anyDevice) Get(_ context.Context, id string) (registry.Device, error) {
	return registry.Device{
		DeviceID: id, GenerationID: "638000000000000001", Status: registry.StatusEnabled,
		PrimaryKey: deviceKey(id, "primary"), SecondaryKey: deviceKey(id, "secondary"),
	}, nil
}

// deviceKey is a 32-byte base64 key derived from the device id.
func deviceKey(id, which string) string {
	k := sha256.Sum256([]byte(which + "/" + id))
	return base64.StdEncoding.EncodeToString(k[:])
}

func (g anyDevice) GetEventually(ctx context.Context, id string) (registry.Device, error) {
	return g.Get(ctx, id)
}

// BenchmarkAuthCacheLiveHeap reports the live heap a warm ingress function's
// device cache holds when full (the stack's default of 10,000 devices, each
// with its last verified token), the figure the functions' GOMEMLIMIT must
// stay far above (internal/lambdagc). One op fills a fresh cache.
func BenchmarkAuthCacheLiveHeap(b *testing.B) {
	const devices = 10_000
	ids, tokens := make([]string, devices), make([]string, devices)
	for i := range tokens {
		ids[i] = "device-" + strconv.Itoa(i)
		tok, err := sas.New(e2eHost+"/devices/"+ids[i], deviceKey(ids[i], "primary"), "", time.Now().Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = tok
	}
	var live uint64
	for b.Loop() {
		b.StopTimer()
		before := liveHeap()
		auth, err := registry.NewAuthenticator(registry.AuthConfig{HubHost: e2eHost, CacheTTL: time.Hour, CacheSize: devices, Devices: anyDevice{}})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i, id := range ids {
			if _, err := auth.Device(context.Background(), tokens[i], id); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		live = liveHeap() - before
		runtime.KeepAlive(auth)
		b.StartTimer()
	}
	b.ReportMetric(float64(live)/devices, "live-B/device")
	b.ReportMetric(float64(live)/(1<<20), "live-MiB")
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
