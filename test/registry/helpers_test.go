// Package registry tests the device registry's tags (IoT Hub's twin API)
// and lifecycle events over HTTP against a hub on the emulators, reading
// the events back from the stream.
package registry

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/hubclient"
	"github.com/devicehub/devicehub/shared/telemetry"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// clock is a test clock that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type hub struct {
	t     *testing.T
	env   *testenv.Env
	clock *clock
	svc   *hubclient.Client
	items *registry.DynamoStore // the Devices table as it is, tombstones included
}

// newHub is a hub on the emulators, with lifecycle events when lifecycle is set.
func newHub(t *testing.T, lifecycle bool) *hub {
	t.Helper()
	clk := &clock{t: time.Now().UTC().Truncate(time.Millisecond)}
	env := testenv.New(t, testenv.Options{Now: clk.Now, Config: func(c *config.Config) {
		c.LifecycleEvents = lifecycle
		c.HubName = "fleet"
	}})
	svc := hubclient.New(env.Server.URL, env.OwnerConn)
	svc.HTTP = env.Server.Client()
	svc.Now = clk.Now
	return &hub{t: t, env: env, clock: clk, svc: svc, items: &registry.DynamoStore{DB: env.DynamoDB, Table: env.Config.DevicesTable}}
}

// events returns the lifecycle events on the stream, as "opType device",
// and the decoded messages.
func (h *hub) events() ([]string, []telemetry.Message) {
	h.t.Helper()
	var ops []string
	var msgs []telemetry.Message
	for _, m := range h.env.ReadStream(h.t) {
		if m.Source != telemetry.SourceDeviceLifecycleEvents {
			continue
		}
		if m.PartitionKey != m.DeviceID {
			h.t.Errorf("event of %s under partition key %s", m.DeviceID, m.PartitionKey)
		}
		ops = append(ops, m.Properties["opType"]+" "+m.DeviceID)
		msgs = append(msgs, m)
	}
	return ops, msgs
}

// item reads the raw item of id; ok false when there is none.
func (h *hub) item(id string) (registry.Device, bool) {
	h.t.Helper()
	d, err := h.items.Load(context.Background(), id)
	if apierr.KindOf(err) == apierr.NotFound {
		return registry.Device{}, false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return d, true
}

// failingStream is an EventWriter that refuses: the process "dies" between
// the registry write and the stream.
type failingStream struct{}

func (failingStream) WriteEvents(context.Context, string, [][]byte) error {
	return errors.New("injected: the process died before the stream")
}

// breakStream makes the hub's registry lose its events until the returned
// func restores the stream.
func (h *hub) breakStream() (restore func()) {
	lc := h.env.Hub.Registry.Lifecycle
	orig := lc.Events
	lc.Events = failingStream{}
	return func() { lc.Events = orig }
}

func (h *hub) sweep() {
	h.t.Helper()
	if err := h.env.Hub.Sweep(context.Background()); err != nil {
		h.t.Fatal("sweep:", err)
	}
}
