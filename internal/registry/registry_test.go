package registry

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/sas"
)

func TestValidateDeviceID(t *testing.T) {
	cases := []struct {
		id string
		ok bool
	}{
		{"dev1", true},
		{"a-.%_*?!(),:=@$'z", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"has space", false},
		{"slash/no", false},
		{"hash#no", false},
		{"ünï", false},
		{"plus+no", false},
	}
	for _, tc := range cases {
		err := ValidateDeviceID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateDeviceID(%q) = %v", tc.id, err)
		}
		if err != nil && apierr.KindOf(err) != apierr.Invalid {
			t.Errorf("kind %v", apierr.KindOf(err))
		}
	}
}

// memDevices is a small fake of Getter.
type memDevices struct {
	m      map[string]Device
	reads  int
	strong int // of reads, the strongly consistent ones
}

func (f *memDevices) Get(ctx context.Context, id string) (Device, error) {
	f.strong++
	return f.GetEventually(ctx, id)
}

func (f *memDevices) GetEventually(_ context.Context, id string) (Device, error) {
	f.reads++
	d, ok := f.m[id]
	if !ok {
		return Device{}, ErrDeviceNotFound(id)
	}
	return d, nil
}

func TestAuthenticator(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	owner := NewKey()
	d1 := Device{DeviceID: "d1", GenerationID: "g1", Status: StatusEnabled, PrimaryKey: NewKey(), SecondaryKey: NewKey()}
	off := Device{DeviceID: "off", GenerationID: "g2", Status: StatusDisabled, PrimaryKey: NewKey(), SecondaryKey: NewKey()}
	store := &memDevices{m: map[string]Device{"d1": d1, "off": off}}
	a, err := NewAuthenticator(AuthConfig{HubHost: "Hub.Example", Devices: store, PolicyKey: owner, Policy: "iothubowner", Now: clock, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tok := func(res, key, name string, exp time.Duration) string {
		s, err := sas.New(res, key, name, now.Add(exp))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	devCases := []struct {
		name, header, device string
		ok                   bool
		reason               string // the refusal's logged cause, when it matters
	}{
		{"primary key", tok("hub.example/devices/d1", d1.PrimaryKey, "", time.Hour), "d1", true, ""},
		{"secondary key", tok("hub.example/devices/d1", d1.SecondaryKey, "", time.Hour), "d1", true, ""},
		{"host case-insensitive", tok("HUB.example/devices/d1", d1.PrimaryKey, "", time.Hour), "d1", true, ""},
		{"expired", tok("hub.example/devices/d1", d1.PrimaryKey, "", -time.Second), "d1", false, "token expired"},
		{"expired, secondary key", tok("hub.example/devices/d1", d1.SecondaryKey, "", -time.Second), "d1", false, "token expired"},
		{"wrong key", tok("hub.example/devices/d1", off.PrimaryKey, "", time.Hour), "d1", false, "signature does not match a device key"},
		{"another device's token", tok("hub.example/devices/d1", d1.PrimaryKey, "", time.Hour), "off", false, ""},
		{"other hub", tok("other.example/devices/d1", d1.PrimaryKey, "", time.Hour), "d1", false, ""},
		{"hub-scoped device key", tok("hub.example", d1.PrimaryKey, "", time.Hour), "d1", false, ""},
		{"disabled", tok("hub.example/devices/off", off.PrimaryKey, "", time.Hour), "off", false, ""},
		{"unknown device", tok("hub.example/devices/nope", d1.PrimaryKey, "", time.Hour), "nope", false, ""},
		{"malformed", "SharedAccessSignature sr=x", "d1", false, ""},
		{"missing", "", "d1", false, ""},
	}
	for _, tc := range devCases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := a.Device(context.Background(), tc.header, tc.device)
			if tc.ok {
				if err != nil || id.DeviceID != "d1" || id.GenerationID != "g1" || id.AuthMethod != AuthMethodSAS {
					t.Fatalf("id %+v err %v", id, err)
				}
				return
			}
			if apierr.KindOf(err) != apierr.Unauthorized {
				t.Fatalf("err = %v, want Unauthorized", err)
			}
			// Every refusal says the same to the caller; only the log knows why.
			e, _ := apierr.As(err)
			if e.Message != "the credentials are not valid for this resource" || e.Number != 401002 {
				t.Fatalf("caller sees %q (%d), want the one unauthorized answer", e.Message, e.Number)
			}
			if tc.reason != "" && (e.Err == nil || e.Err.Error() != tc.reason) {
				t.Fatalf("logged reason %v, want %q", e.Err, tc.reason)
			}
		})
	}
	svcCases := []struct {
		name, header, resource string
		ok                     bool
	}{
		{"owner", tok("hub.example", owner, "iothubowner", time.Hour), "/devices", true},
		{"owner, trailing slash", tok("hub.example/", owner, "iothubowner", time.Hour), "/devices/d1", true},
		{"owner, host case", tok("HUB.EXAMPLE", owner, "iothubowner", time.Hour), "/devices/d1", true},
		{"scoped to devices", tok("hub.example/devices", owner, "iothubowner", time.Hour), "/devices/d1/messages/devicebound", true},
		{"scoped to d1, d1", tok("hub.example/devices/d1", owner, "iothubowner", time.Hour), "/devices/d1", true},
		{"scoped to d1, under d1", tok("hub.example/devices/d1/", owner, "iothubowner", time.Hour), "/devices/d1/commands", true},
		{"scoped to d1, d2", tok("hub.example/devices/d1", owner, "iothubowner", time.Hour), "/devices/d2", false},
		{"scoped to d1, d10", tok("hub.example/devices/d1", owner, "iothubowner", time.Hour), "/devices/d10", false},
		{"scoped to d1, list", tok("hub.example/devices/d1", owner, "iothubowner", time.Hour), "/devices", false},
		{"scoped to d1, feedback", tok("hub.example/devices/d1", owner, "iothubowner", time.Hour), "/messages/servicebound/feedback", false},
		{"scoped to D1, d1", tok("hub.example/devices/D1", owner, "iothubowner", time.Hour), "/devices/d1", false},
		{"junk scope", tok("hub.example/anything/at/all", owner, "iothubowner", time.Hour), "/devices", false},
		{"host prefix", tok("hub.examplex", owner, "iothubowner", time.Hour), "/devices", false},
		{"no skn", tok("hub.example", owner, "", time.Hour), "/devices", false},
		{"other policy", tok("hub.example", owner, "service", time.Hour), "/devices", false},
		{"device key as owner", tok("hub.example", d1.PrimaryKey, "iothubowner", time.Hour), "/devices", false},
		{"expired", tok("hub.example", owner, "iothubowner", -time.Second), "/devices", false},
		{"other hub", tok("hub.example.evil", owner, "iothubowner", time.Hour), "/devices", false},
	}
	for _, tc := range svcCases {
		t.Run("service "+tc.name, func(t *testing.T) {
			err := a.Service(context.Background(), tc.header, tc.resource)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestAuthenticatorCacheBoundsStaleness(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := Device{DeviceID: "d", GenerationID: "g", Status: StatusEnabled, PrimaryKey: NewKey(), SecondaryKey: NewKey()}
	store := &memDevices{m: map[string]Device{"d": d}}
	a, _ := NewAuthenticator(AuthConfig{HubHost: "h", Devices: store, PolicyKey: NewKey(), Policy: "iothubowner",
		Now: func() time.Time { return now }, CacheTTL: 30 * time.Second, CacheSize: 2})
	hdr, _ := sas.New("h/devices/d", d.PrimaryKey, "", now.Add(time.Hour))
	if _, err := a.Device(context.Background(), hdr, "d"); err != nil {
		t.Fatal(err)
	}
	d.Status = StatusDisabled
	store.m["d"] = d
	if _, err := a.Device(context.Background(), hdr, "d"); err != nil {
		t.Fatal("within the cache TTL the cached enabled state is used")
	}
	now = now.Add(30 * time.Second)
	if _, err := a.Device(context.Background(), hdr, "d"); apierr.KindOf(err) != apierr.Unauthorized {
		t.Fatalf("after the TTL a disabled device must be refused: %v", err)
	}
	// Invalidate (same-process registry writes) takes effect at once.
	d.Status = StatusEnabled
	store.m["d"] = d
	a.Invalidate("d")
	if _, err := a.Device(context.Background(), hdr, "d"); err != nil {
		t.Fatal(err)
	}
	// The cache stays bounded.
	for i := range 5 {
		id := string(rune('a' + i))
		store.m[id] = Device{DeviceID: id, Status: StatusEnabled, PrimaryKey: d.PrimaryKey, SecondaryKey: d.SecondaryKey}
		h, _ := sas.New("h/devices/"+id, d.PrimaryKey, "", now.Add(time.Hour))
		if _, err := a.Device(context.Background(), h, id); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.cache); n > 2 {
		t.Fatalf("cache holds %d entries, bound is 2", n)
	}
}

// An unknown id is remembered briefly: repeated probes of it cost no registry
// read, and a device created meanwhile is accepted once that short window
// (or, in the creating process, Invalidate) ends it.
func TestAuthenticatorRemembersUnknownDevicesBriefly(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	store := &memDevices{m: map[string]Device{}}
	a, _ := NewAuthenticator(AuthConfig{HubHost: "h", Devices: store, PolicyKey: NewKey(), Policy: "iothubowner",
		Now: func() time.Time { return now }, CacheTTL: 30 * time.Second})
	key := NewKey()
	hdr, _ := sas.New("h/devices/ghost", key, "", now.Add(time.Hour))
	for range 100 {
		if _, err := a.Device(context.Background(), hdr, "ghost"); apierr.KindOf(err) != apierr.Unauthorized {
			t.Fatalf("unknown device: %v", err)
		}
	}
	if store.reads != 1 {
		t.Fatalf("100 probes of one unknown id read the registry %d times, want 1", store.reads)
	}
	store.m["ghost"] = Device{DeviceID: "ghost", GenerationID: "g", Status: StatusEnabled, PrimaryKey: key, SecondaryKey: NewKey()}
	if _, err := a.Device(context.Background(), hdr, "ghost"); err == nil {
		t.Fatal("within the window the device is still unknown to this process")
	}
	now = now.Add(maxMissingTTL)
	if _, err := a.Device(context.Background(), hdr, "ghost"); err != nil {
		t.Fatalf("after %v a created device must be accepted: %v", maxMissingTTL, err)
	}
	delete(store.m, "ghost")
	a.Invalidate("ghost")
	if _, err := a.Device(context.Background(), hdr, "ghost"); apierr.KindOf(err) != apierr.Unauthorized {
		t.Fatalf("deleted device: %v", err)
	}
	store.m["ghost"] = Device{DeviceID: "ghost", GenerationID: "g2", Status: StatusEnabled, PrimaryKey: key, SecondaryKey: NewKey()}
	a.Invalidate("ghost")
	if _, err := a.Device(context.Background(), hdr, "ghost"); err != nil {
		t.Fatalf("Invalidate must end a remembered absence at once: %v", err)
	}
}

// Authentication reads keys eventually consistently (half the read cost),
// except right after this process changed the device, when a replica could
// still hold the old item.
func TestAuthenticatorReadsEventuallyExceptAfterInvalidate(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := Device{DeviceID: "d", GenerationID: "g", Status: StatusEnabled, PrimaryKey: NewKey(), SecondaryKey: NewKey()}
	store := &memDevices{m: map[string]Device{"d": d}}
	a, _ := NewAuthenticator(AuthConfig{HubHost: "h", Devices: store, PolicyKey: NewKey(), Policy: "iothubowner",
		Now: func() time.Time { return now }, CacheTTL: time.Second})
	hdr, _ := sas.New("h/devices/d", d.PrimaryKey, "", now.Add(time.Hour))
	read := func() {
		t.Helper()
		if _, err := a.Device(context.Background(), hdr, "d"); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if store.reads != 1 || store.strong != 0 {
		t.Fatalf("first read: %d reads, %d strong; want one eventually consistent read", store.reads, store.strong)
	}
	a.Invalidate("d")
	read()
	if store.reads != 2 || store.strong != 1 {
		t.Fatalf("after Invalidate: %d reads, %d strong; want a strongly consistent one", store.reads, store.strong)
	}
	now = now.Add(replicationLag)
	read()
	if store.reads != 3 || store.strong != 1 {
		t.Fatalf("once the change has spread: %d reads, %d strong; want eventual again", store.reads, store.strong)
	}
}

// blockingDevices answers reads with what it held when the read started,
// but only once released: a read in flight across a change.
type blockingDevices struct {
	memDevices
	started, release chan struct{}
}

func (b *blockingDevices) GetEventually(ctx context.Context, id string) (Device, error) {
	d, err := b.memDevices.GetEventually(ctx, id)
	b.started <- struct{}{}
	<-b.release
	return d, err
}

// A read that was in flight when this process changed the device answers
// its own request but is not cached: the next request sees the change.
func TestAuthenticatorDoesNotCacheAReadThatPredatesInvalidate(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := Device{DeviceID: "d", GenerationID: "g", Status: StatusEnabled, PrimaryKey: NewKey(), SecondaryKey: NewKey()}
	store := &blockingDevices{memDevices: memDevices{m: map[string]Device{"d": d}}, started: make(chan struct{}), release: make(chan struct{})}
	a, _ := NewAuthenticator(AuthConfig{HubHost: "h", Devices: store, PolicyKey: NewKey(), Policy: "iothubowner",
		Now: func() time.Time { return now }, CacheTTL: time.Minute})
	hdr, _ := sas.New("h/devices/d", d.PrimaryKey, "", now.Add(time.Hour))
	done := make(chan error)
	go func() { _, err := a.Device(context.Background(), hdr, "d"); done <- err }()
	<-store.started // the read has taken the enabled device
	d.Status = StatusDisabled
	store.m["d"] = d
	a.Invalidate("d")
	close(store.release)
	if err := <-done; err != nil {
		t.Fatalf("the in-flight request: %v", err)
	}
	if _, err := a.Device(context.Background(), hdr, "d"); apierr.KindOf(err) != apierr.Unauthorized {
		t.Fatalf("after Invalidate the disabled device must be refused at once, got %v", err)
	}
}

// A device created in this process is accepted at once, even right after a
// probe made the authenticator remember its id as unknown.
func TestCreateEndsARememberedAbsence(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	store := &memStore{m: map[string]Device{}}
	a, _ := NewAuthenticator(AuthConfig{HubHost: "h", Devices: store, PolicyKey: NewKey(), Policy: "iothubowner",
		Now: func() time.Time { return now }, CacheTTL: time.Minute})
	svc := &Service{Store: store, Now: func() time.Time { return now }, Cache: a}
	key := NewKey()
	hdr, _ := sas.New("h/devices/new", key, "", now.Add(time.Hour))
	if _, err := a.Device(context.Background(), hdr, "new"); apierr.KindOf(err) != apierr.Unauthorized {
		t.Fatalf("before create: %v", err)
	}
	if _, err := svc.Create(context.Background(), "new", Spec{PrimaryKey: key, SecondaryKey: NewKey()}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Device(context.Background(), hdr, "new"); err != nil {
		t.Fatalf("right after create: %v", err)
	}
}
