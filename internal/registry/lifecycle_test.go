package registry

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// streamFake is an EventWriter that decodes what it is given, or fails.
type streamFake struct {
	t    *testing.T
	fail error
	got  []telemetry.Message
}

func (w *streamFake) WriteEvents(_ context.Context, deviceID string, records [][]byte) error {
	if w.fail != nil {
		return w.fail
	}
	for _, r := range records {
		m, err := telemetry.Decode(r)
		if err != nil {
			w.t.Fatalf("record %s: %v", r, err)
		}
		if m.DeviceID != deviceID {
			w.t.Fatalf("record of %s written under %s", m.DeviceID, deviceID)
		}
		w.got = append(w.got, m)
	}
	return nil
}

// ops lists the events received as "opType device".
func (w *streamFake) ops() []string {
	var out []string
	for _, m := range w.got {
		out = append(out, m.Properties[PropOpType]+" "+m.DeviceID)
	}
	return out
}

type lifecycleRig struct {
	t      *testing.T
	store  *memStore
	stream *streamFake
	svc    *Service
	now    time.Time
}

func newLifecycleRig(t *testing.T) *lifecycleRig {
	r := &lifecycleRig{t: t, store: newMemStore(), stream: &streamFake{t: t}, now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	r.svc = &Service{Store: r.store, Now: func() time.Time { return r.now },
		Lifecycle: &Lifecycle{Events: r.stream, HubName: "fleet"}}
	return r
}

func (r *lifecycleRig) wantOps(want ...string) {
	r.t.Helper()
	if got := r.stream.ops(); !slices.Equal(got, want) {
		r.t.Fatalf("events %q, want %q", got, want)
	}
}

// owes reports what the item of id owes, and whether it is in the index.
func (r *lifecycleRig) owes(id string) int {
	r.t.Helper()
	d, ok := r.store.m[id]
	if !ok {
		return 0
	}
	if (len(d.PendingEvents) > 0) != (d.PendingShard != "" && d.PendingAt > 0) {
		r.t.Fatalf("item %s owes %d events with index keys %q/%d", id, len(d.PendingEvents), d.PendingShard, d.PendingAt)
	}
	return len(d.PendingEvents)
}

func (r *lifecycleRig) sweep() int {
	r.t.Helper()
	n, err := r.svc.FinishPendingEvents(context.Background())
	if err != nil {
		r.t.Fatal("sweep:", err)
	}
	return n
}

// The notification is IoT Hub's: source, properties, system properties,
// and the device's twin (no keys) as the body.
func TestLifecycleEventShape(t *testing.T) {
	r := newLifecycleRig(t)
	ctx := context.Background()
	d, err := r.svc.Create(ctx, "dev-1", Spec{})
	if err != nil {
		t.Fatal(err)
	}
	r.wantOps("createDeviceIdentity dev-1")
	m := r.stream.got[0]
	if m.Source != telemetry.SourceDeviceLifecycleEvents || m.ContentType != "application/json" || m.ContentEncoding != "utf-8" ||
		m.UserID != "fleet" || len(m.CorrelationID) != 32 || !m.EnqueuedTime.Equal(r.now) || m.AuthMethod != "" || m.MessageID != "" {
		t.Errorf("system properties %+v", m.SystemProperties)
	}
	wantProps := map[string]string{
		"opType": "createDeviceIdentity", "hubName": "fleet", "deviceId": "dev-1",
		"operationTimestamp": "2026-11-27T10:00:00Z", "iothub-message-schema": "deviceLifecycleNotification",
	}
	if !equalMaps(m.Properties, wantProps) {
		t.Errorf("properties %v, want %v", m.Properties, wantProps)
	}
	var twin iothub.Twin
	if err := json.Unmarshal(m.Body, &twin); err != nil {
		t.Fatal(err)
	}
	if twin.DeviceID != "dev-1" || twin.Version != 1 || twin.ETag != "AAAAAAAAAAE=" || twin.DeviceETag != d.ETag() || twin.Status != StatusEnabled ||
		twin.AuthenticationType != iothub.AuthSAS || twin.Properties.Desired["$version"] != 1.0 {
		t.Errorf("body %s", m.Body)
	}
	if strings.Contains(string(m.Body), d.PrimaryKey) {
		t.Error("the body holds the device's key")
	}
	if r.owes("dev-1") != 0 || r.store.m["dev-1"].Version != 1 {
		t.Errorf("after the event: %+v", r.store.m["dev-1"])
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Create, status changes and delete each send one event; other updates none.
func TestLifecycleTransitions(t *testing.T) {
	r := newLifecycleRig(t)
	ctx := context.Background()
	if _, err := r.svc.Create(ctx, "d", Spec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Update(ctx, "d", Spec{StatusReason: "why"}, "*"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Update(ctx, "d", Spec{Status: StatusEnabled}, "*"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.UpdateTags(ctx, "d", map[string]any{"a": "b"}, "*"); err != nil {
		t.Fatal(err)
	}
	r.wantOps("createDeviceIdentity d")
	dis, err := r.svc.Update(ctx, "d", Spec{Status: StatusDisabled}, "*")
	if err != nil {
		t.Fatal(err)
	}
	r.wantOps("createDeviceIdentity d", "updateDeviceIdentity d")
	var twin iothub.Twin
	_ = json.Unmarshal(r.stream.got[1].Body, &twin)
	if twin.Status != StatusDisabled || twin.Version != dis.Version || twin.Tags["a"] != "b" {
		t.Errorf("update event body %s", r.stream.got[1].Body)
	}
	if err := r.svc.Delete(ctx, "d", dis.ETag()); err != nil {
		t.Fatal(err)
	}
	r.wantOps("createDeviceIdentity d", "updateDeviceIdentity d", "deleteDeviceIdentity d")
	_ = json.Unmarshal(r.stream.got[2].Body, &twin)
	if twin.Version != dis.Version || twin.Status != StatusDisabled {
		t.Errorf("delete event body: the deleted device's twin, got %s", r.stream.got[2].Body)
	}
	if _, ok := r.store.m["d"]; ok {
		t.Errorf("tombstone left after its event went out: %+v", r.store.m["d"])
	}
}

// Without Lifecycle the registry writes exactly what it always has.
func TestNoLifecycleWritesNoEventState(t *testing.T) {
	store := newMemStore()
	svc := &Service{Store: store, Now: time.Now}
	ctx := context.Background()
	if _, err := svc.Create(ctx, "d", Spec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Update(ctx, "d", Spec{Status: StatusDisabled}, "*"); err != nil {
		t.Fatal(err)
	}
	d := store.m["d"]
	if d.PendingEvents != nil || d.PendingShard != "" || d.PendingAt != 0 || d.Deleted {
		t.Fatalf("item %+v", d)
	}
	if err := svc.Delete(ctx, "d", ""); err != nil {
		t.Fatal(err)
	}
	if len(store.m) != 0 {
		t.Fatalf("delete left %+v", store.m)
	}
	if n, err := svc.FinishPendingEvents(ctx); n != 0 || err != nil {
		t.Fatalf("sweep without lifecycle: %d %v", n, err)
	}
}

// A stream that refuses (or a crash before it is reached) leaves the
// event owed on the item, in the index; the write still succeeds; the
// sweep sends it once the grace has passed, without moving the etag.
func TestLifecycleOwedEventsAndTheSweep(t *testing.T) {
	r := newLifecycleRig(t)
	ctx := context.Background()
	r.stream.fail = errors.New("stream down")
	d, err := r.svc.Create(ctx, "d", Spec{})
	if err != nil {
		t.Fatal("the write must stand:", err)
	}
	if r.owes("d") != 1 {
		t.Fatal("the create event is not owed")
	}
	if got, err := r.svc.Get(ctx, "d"); err != nil || got.ETag() != d.ETag() {
		t.Fatalf("get: %+v %v", got, err)
	}
	r.stream.fail = nil
	if n := r.sweep(); n != 0 {
		t.Fatalf("the sweep took an event within its grace: %d", n)
	}
	r.now = r.now.Add(DefaultPendingGrace)
	if n := r.sweep(); n != 1 {
		t.Fatalf("sweep finished %d items, want 1", n)
	}
	r.wantOps("createDeviceIdentity d")
	if r.owes("d") != 0 || r.store.m["d"].ETag() != d.ETag() {
		t.Fatalf("after the sweep: %+v", r.store.m["d"])
	}
	if n := r.sweep(); n != 0 {
		t.Fatalf("second sweep: %d", n)
	}
}

// A later write carries the owed events and sends them first, in order.
func TestLifecycleLaterWriteCarriesOwedEvents(t *testing.T) {
	r := newLifecycleRig(t)
	ctx := context.Background()
	r.stream.fail = errors.New("stream down")
	if _, err := r.svc.Create(ctx, "d", Spec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Update(ctx, "d", Spec{Status: StatusDisabled}, "*"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.UpdateTags(ctx, "d", map[string]any{"k": 1}, "*"); err != nil {
		t.Fatal(err)
	}
	if r.owes("d") != 2 {
		t.Fatalf("owes %d, want 2", r.owes("d"))
	}
	r.stream.fail = nil
	if _, err := r.svc.Update(ctx, "d", Spec{StatusReason: "a write with no event of its own"}, "*"); err != nil {
		t.Fatal(err)
	}
	r.wantOps("createDeviceIdentity d", "updateDeviceIdentity d")
	if r.owes("d") != 0 {
		t.Fatal("still owed")
	}
}

// A crash after the stream took the events but before they were cleared:
// the sweep sends them again (at least once) and clears them.
func TestLifecycleCrashAfterTheStream(t *testing.T) {
	r := newLifecycleRig(t)
	ctx := context.Background()
	r.store.failClear = true
	if _, err := r.svc.Create(ctx, "d", Spec{}); err != nil {
		t.Fatal(err)
	}
	r.store.failClear = false
	r.now = r.now.Add(time.Minute)
	if n := r.sweep(); n != 1 {
		t.Fatalf("sweep: %d", n)
	}
	r.wantOps("createDeviceIdentity d", "createDeviceIdentity d")
	if r.stream.got[0].CorrelationID != r.stream.got[1].CorrelationID {
		t.Error("a repeated event must keep its correlation id")
	}
	if r.owes("d") != 0 {
		t.Fatal("still owed")
	}
}

// A delete whose event is owed leaves a tombstone that no reader sees;
// creating the id again carries the delete event before the create's, and
// versions (etags) go on from the tombstone's.
func TestLifecycleTombstone(t *testing.T) {
	r := newLifecycleRig(t)
	ctx := context.Background()
	old, err := r.svc.Create(ctx, "d", Spec{})
	if err != nil {
		t.Fatal(err)
	}
	r.stream.fail = errors.New("stream down")
	if err := r.svc.Delete(ctx, "d", old.ETag()); err != nil {
		t.Fatal(err)
	}
	tomb := r.store.m["d"]
	if !tomb.Deleted || tomb.Version != old.Version+1 || tomb.PrimaryKey != "" || tomb.Status != "" || r.owes("d") != 1 {
		t.Fatalf("tombstone %+v", tomb)
	}
	for name, err := range map[string]error{
		"get":    second(r.svc.Get(ctx, "d")),
		"update": second(r.svc.Update(ctx, "d", Spec{Status: StatusDisabled}, "*")),
		"tags":   second(r.svc.UpdateTags(ctx, "d", map[string]any{"a": 1}, "*")),
		"delete": r.svc.Delete(ctx, "d", ""),
	} {
		if apierr.KindOf(err) != apierr.NotFound {
			t.Errorf("%s of a tombstone: %v, want DeviceNotFound", name, err)
		}
	}
	if devs, _, _ := r.svc.List(ctx, 10, ""); len(devs) != 0 {
		t.Errorf("list shows %+v", devs)
	}
	r.stream.fail = nil
	nd, err := r.svc.Create(ctx, "d", Spec{})
	if err != nil {
		t.Fatal("create over a tombstone:", err)
	}
	r.wantOps("createDeviceIdentity d", "deleteDeviceIdentity d", "createDeviceIdentity d")
	if nd.Version != tomb.Version+1 || nd.ETag() == old.ETag() || nd.GenerationID == "" || r.owes("d") != 0 || r.store.m["d"].Deleted {
		t.Fatalf("recreated %+v", r.store.m["d"])
	}
	if _, err := r.svc.Create(ctx, "d", Spec{}); apierr.KindOf(err) != apierr.Conflict {
		t.Fatalf("create over a live device: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// An item owing maxPendingEvents takes no more: the next write that would
// add one sends them first, and fails while the stream refuses.
func TestLifecycleOwedEventsAreBounded(t *testing.T) {
	r := newLifecycleRig(t)
	ctx := context.Background()
	r.stream.fail = errors.New("stream down")
	if _, err := r.svc.Create(ctx, "d", Spec{}); err != nil {
		t.Fatal(err)
	}
	status := []string{StatusEnabled, StatusDisabled} // i%2: a change each time
	for i := 1; i < maxPendingEvents; i++ {
		if _, err := r.svc.Update(ctx, "d", Spec{Status: status[i%2]}, "*"); err != nil {
			t.Fatal(err)
		}
	}
	if r.owes("d") != maxPendingEvents {
		t.Fatalf("owes %d", r.owes("d"))
	}
	if _, err := r.svc.Update(ctx, "d", Spec{Status: status[maxPendingEvents%2]}, "*"); apierr.KindOf(err) != apierr.Unavailable {
		t.Fatalf("one event too many: %v, want ServiceUnavailable", err)
	}
	if err := r.svc.Delete(ctx, "d", ""); apierr.KindOf(err) != apierr.Unavailable {
		t.Fatalf("delete: %v, want ServiceUnavailable", err)
	}
	r.stream.fail = nil
	if err := r.svc.Delete(ctx, "d", ""); err != nil {
		t.Fatal(err)
	}
	if len(r.stream.got) != maxPendingEvents+1 || r.stream.ops()[maxPendingEvents] != "deleteDeviceIdentity d" {
		t.Fatalf("events %q", r.stream.ops())
	}
	if _, ok := r.store.m["d"]; ok {
		t.Fatal("tombstone left")
	}
}

// A delete guarded by an etag checks it against the live device.
func TestLifecycleDeleteETag(t *testing.T) {
	r := newLifecycleRig(t)
	ctx := context.Background()
	d, _ := r.svc.Create(ctx, "d", Spec{})
	if err := r.svc.Delete(ctx, "d", `"`+d.TwinETag()+`"`); apierr.KindOf(err) != apierr.PreconditionFailed {
		t.Fatalf("stale etag: %v", err)
	}
	if err := r.svc.Delete(ctx, "nope", ""); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("missing: %v", err)
	}
	r.wantOps("createDeviceIdentity d")
}

// swappingStore replaces the tombstone with a live device of the same
// version just before a create over it writes: the tombstone went and
// another create (and updates) reached that version meanwhile.
type swappingStore struct{ *memStore }

func (s swappingStore) ReplaceTombstone(ctx context.Context, d Device, version int64) error {
	live := s.m[d.DeviceID]
	live.Deleted, live.Status, live.PendingEvents, live.PendingShard, live.PendingAt = false, StatusEnabled, nil, "", 0
	s.m[d.DeviceID] = live
	return s.memStore.ReplaceTombstone(ctx, d, version)
}

// A create over a tombstone never overwrites a live device that took the
// tombstone's version meanwhile.
func TestLifecycleCreateOverATombstoneThatWent(t *testing.T) {
	r := newLifecycleRig(t)
	ctx := context.Background()
	r.svc.Store = swappingStore{r.store}
	r.store.m["d"] = Device{DeviceID: "d", Version: 2, Deleted: true}
	if _, err := r.svc.Create(ctx, "d", Spec{}); apierr.KindOf(err) != apierr.Conflict {
		t.Fatalf("create: %v, want DeviceAlreadyExists", err)
	}
	if d := r.store.m["d"]; d.Deleted || d.Version != 2 || len(d.PendingEvents) != 0 {
		t.Fatalf("the live device was overwritten: %+v", d)
	}
}

// A tombstone left while lifecycle events were on does not block the id
// once they are off: create replaces it (dropping its owed events) and the
// versions go on from it; a live device still conflicts.
func TestCreateOverATombstoneWithoutLifecycle(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	svc := &Service{Store: store, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	store.m["d"] = Device{DeviceID: "d", Version: 4, Deleted: true, PendingEvents: []string{`{"v":2}`}}
	d, err := svc.Create(ctx, "d", Spec{})
	if err != nil {
		t.Fatalf("create over a tombstone: %v", err)
	}
	if got := store.m["d"]; got.Deleted || got.Version != 5 || d.Version != 5 || len(got.PendingEvents) != 0 {
		t.Fatalf("stored %+v, returned version %d", got, d.Version)
	}
	if _, err := svc.Create(ctx, "d", Spec{}); apierr.KindOf(err) != apierr.Conflict {
		t.Fatalf("create over a live device: %v, want a conflict", err)
	}
}
