package registry

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/hubclient"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

func wantOps(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("events on the stream %q, want %q", got, want)
	}
}

func hubStatus(err error) int {
	var he *hubclient.Error
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}

// Create, disable and delete each put one lifecycle event on the stream,
// IoT Hub's notification in the telemetry record, readable with
// telemetry.Decode; no item is left owing anything.
func TestLifecycleEventsOnTheStream(t *testing.T) {
	h := newHub(t, true)
	ctx := context.Background()
	d, err := h.svc.CreateDevice(ctx, "dev-1", iothub.Device{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.UpdateDevice(ctx, "dev-1", iothub.Device{Status: registry.StatusDisabled}, d.ETag); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.UpdateDevice(ctx, "dev-1", iothub.Device{StatusReason: new("no status change, no event")}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.UpdateTags(ctx, "dev-1", map[string]any{"site": "b43"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteDevice(ctx, "dev-1", ""); err != nil {
		t.Fatal(err)
	}
	ops, msgs := h.events()
	wantOps(t, ops, "createDeviceIdentity dev-1", "updateDeviceIdentity dev-1", "deleteDeviceIdentity dev-1")
	for _, m := range msgs {
		if m.ContentType != "application/json" || m.ContentEncoding != "utf-8" || m.UserID != "fleet" || m.CorrelationID == "" ||
			m.Properties["hubName"] != "fleet" || m.Properties["deviceId"] != "dev-1" ||
			m.Properties["iothub-message-schema"] != "deviceLifecycleNotification" {
			t.Errorf("event %+v", m)
		}
		if at, err := time.Parse(time.RFC3339Nano, m.Properties["operationTimestamp"]); err != nil || !at.Equal(m.EnqueuedTime) {
			t.Errorf("operationTimestamp %q, enqueued %v", m.Properties["operationTimestamp"], m.EnqueuedTime)
		}
		var twin iothub.Twin
		if err := json.Unmarshal(m.Body, &twin); err != nil || twin.DeviceID != "dev-1" || twin.ETag == "" || twin.Properties.Desired == nil {
			t.Errorf("body %s: %v", m.Body, err)
		}
	}
	var del iothub.Twin
	_ = json.Unmarshal(msgs[2].Body, &del)
	if del.Status != registry.StatusDisabled || del.Tags["site"] != "b43" {
		t.Errorf("the delete event carries the deleted device's twin: %s", msgs[2].Body)
	}
	if it, ok := h.item("dev-1"); ok {
		t.Fatalf("deleted device left an item: %+v", it)
	}
}

// The process dies between the registry write and the stream (the event
// writer fails): the write stands, the event stays owed in the index, and
// the sweep sends it once the grace has passed, leaving the etag as it was.
func TestLifecycleCrashBeforeTheStream(t *testing.T) {
	h := newHub(t, true)
	ctx := context.Background()
	restore := h.breakStream()
	d, err := h.svc.CreateDevice(ctx, "dev-1", iothub.Device{})
	if err != nil {
		t.Fatal("the create must stand:", err)
	}
	if ops, _ := h.events(); len(ops) != 0 {
		t.Fatalf("events %q", ops)
	}
	it, _ := h.item("dev-1")
	if len(it.PendingEvents) != 1 || it.PendingShard == "" || it.PendingAt != h.clock.Now().UnixMilli() {
		t.Fatalf("the item does not owe its event: %+v", it)
	}
	restore()
	h.sweep()
	if ops, _ := h.events(); len(ops) != 0 {
		t.Fatalf("the sweep took an event within its grace: %q", ops)
	}
	h.clock.Advance(registry.DefaultPendingGrace + time.Second)
	h.sweep()
	ops, msgs := h.events()
	wantOps(t, ops, "createDeviceIdentity dev-1")
	if !msgs[0].EnqueuedTime.Equal(time.UnixMilli(it.PendingAt)) {
		t.Errorf("the event keeps the time of the create: %v, want %v", msgs[0].EnqueuedTime, time.UnixMilli(it.PendingAt))
	}
	after, _ := h.item("dev-1")
	if len(after.PendingEvents) != 0 || after.PendingShard != "" || after.PendingAt != 0 || after.ETag() != d.ETag {
		t.Fatalf("after the sweep: %+v (etag was %s)", after, d.ETag)
	}
	h.sweep()
	if ops, _ := h.events(); len(ops) != 1 {
		t.Fatalf("a second sweep sent again: %q", ops)
	}
}

// A delete whose event is owed leaves a tombstone: no reader finds the
// device (get, list, update, tags, the routing tag reader, the device's
// own authentication), and creating the id again sends the owed delete
// event before the create's.
func TestLifecycleTombstone(t *testing.T) {
	h := newHub(t, true)
	ctx := context.Background()
	created, err := h.svc.CreateDevice(ctx, "dev-1", iothub.Device{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CreateDevice(ctx, "dev-2", iothub.Device{}); err != nil {
		t.Fatal(err)
	}
	devConn := h.svc.DeviceConnectionString(created)
	// The device authenticates before the delete (and its keys are cached).
	dev := hubclient.New(h.env.Server.URL, devConn)
	dev.HTTP, dev.Now = h.env.Server.Client(), h.clock.Now
	if err := dev.SendEvent(ctx, hubclient.Message{Body: []byte(`{"t":1}`)}); err != nil {
		t.Fatal(err)
	}
	restore := h.breakStream()
	if err := h.svc.DeleteDevice(ctx, "dev-1", ""); err != nil {
		t.Fatal(err)
	}
	tomb, ok := h.item("dev-1")
	if !ok || !tomb.Deleted || len(tomb.PendingEvents) != 1 || tomb.PrimaryKey != "" {
		t.Fatalf("tombstone %+v", tomb)
	}
	if _, err := h.svc.GetDevice(ctx, "dev-1"); hubStatus(err) != http.StatusNotFound {
		t.Errorf("get: %v", err)
	}
	if _, err := h.svc.GetTwin(ctx, "dev-1"); hubStatus(err) != http.StatusNotFound {
		t.Errorf("get twin: %v", err)
	}
	if _, err := h.svc.UpdateDevice(ctx, "dev-1", iothub.Device{Status: registry.StatusDisabled}, ""); hubStatus(err) != http.StatusNotFound {
		t.Errorf("update: %v", err)
	}
	if _, err := h.svc.UpdateTags(ctx, "dev-1", map[string]any{"a": 1}, ""); hubStatus(err) != http.StatusNotFound {
		t.Errorf("update tags: %v", err)
	}
	if err := h.svc.DeleteDevice(ctx, "dev-1", ""); hubStatus(err) != http.StatusNotFound {
		t.Errorf("delete again: %v", err)
	}
	if _, err := h.items.Tags(ctx, "dev-1"); apierr.KindOf(err) != apierr.NotFound {
		t.Errorf("routing's tag reader: %v", err)
	}
	devs, err := h.svc.ListDevices(ctx)
	if err != nil || len(devs) != 1 || devs[0].DeviceID != "dev-2" {
		t.Errorf("list: %+v %v", devs, err)
	}
	if err := dev.SendEvent(ctx, hubclient.Message{Body: []byte(`{"t":2}`)}); hubStatus(err) != http.StatusUnauthorized {
		t.Errorf("the deleted device still sends: %v", err)
	}
	// A fresh authenticator (another function instance) reads eventually.
	auth, err := registry.NewAuthenticator(registry.AuthConfig{HubHost: "devicehub.test", Devices: h.items, PolicyKey: registry.NewKey(), Policy: "iothubowner"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := devConn.Token(time.Now(), time.Hour)
	if _, err := auth.Device(ctx, tok, "dev-1"); apierr.KindOf(err) != apierr.Unauthorized {
		t.Errorf("authentication of a tombstone: %v", err)
	}

	restore()
	h.clock.Advance(time.Second) // generation ids are creation times
	again, err := h.svc.CreateDevice(ctx, "dev-1", iothub.Device{})
	if err != nil {
		t.Fatal("create over the tombstone:", err)
	}
	if again.ETag == created.ETag || again.GenerationID == created.GenerationID {
		t.Errorf("the new device reuses the old one's etag or generation: %+v", again)
	}
	ops, _ := h.events()
	wantOps(t, ops, "createDeviceIdentity dev-1", "createDeviceIdentity dev-2", "deleteDeviceIdentity dev-1", "createDeviceIdentity dev-1")
	if it, _ := h.item("dev-1"); it.Deleted || len(it.PendingEvents) != 0 {
		t.Fatalf("after the create: %+v", it)
	}
	if _, err := h.svc.CreateDevice(ctx, "dev-1", iothub.Device{}); hubStatus(err) != http.StatusConflict {
		t.Errorf("create over a live device: %v", err)
	}
}

// The sweep also finishes a delete: it sends the owed event and removes
// the tombstone.
func TestLifecycleSweepFinishesADelete(t *testing.T) {
	h := newHub(t, true)
	ctx := context.Background()
	if _, err := h.svc.CreateDevice(ctx, "dev-1", iothub.Device{}); err != nil {
		t.Fatal(err)
	}
	restore := h.breakStream()
	if err := h.svc.DeleteDevice(ctx, "dev-1", ""); err != nil {
		t.Fatal(err)
	}
	restore()
	h.clock.Advance(time.Minute)
	h.sweep()
	ops, _ := h.events()
	wantOps(t, ops, "createDeviceIdentity dev-1", "deleteDeviceIdentity dev-1")
	if it, ok := h.item("dev-1"); ok {
		t.Fatalf("tombstone left: %+v", it)
	}
}

// Without lifecycle events configured the registry writes as it always
// has: no event, no owed state, no tombstone.
func TestNoLifecycleEvents(t *testing.T) {
	h := newHub(t, false)
	ctx := context.Background()
	if _, err := h.svc.CreateDevice(ctx, "dev-1", iothub.Device{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.UpdateDevice(ctx, "dev-1", iothub.Device{Status: registry.StatusDisabled}, ""); err != nil {
		t.Fatal(err)
	}
	it, _ := h.item("dev-1")
	if it.PendingEvents != nil || it.PendingShard != "" || it.Deleted {
		t.Fatalf("item %+v", it)
	}
	if err := h.svc.DeleteDevice(ctx, "dev-1", ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.item("dev-1"); ok {
		t.Fatal("delete left an item")
	}
	for _, m := range h.env.ReadStream(t) {
		if m.Source == telemetry.SourceDeviceLifecycleEvents {
			t.Fatalf("event %+v", m)
		}
	}
}
