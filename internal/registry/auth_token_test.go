package registry

import (
	"context"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/sas"
)

// countingDevices counts the registry reads.
type countingDevices struct {
	memDevices
	reads int
}

func (c *countingDevices) GetEventually(ctx context.Context, id string) (Device, error) {
	c.reads++
	return c.memDevices.GetEventually(ctx, id)
}

func (c *countingDevices) Get(ctx context.Context, id string) (Device, error) {
	c.reads++
	return c.memDevices.Get(ctx, id)
}

// A verified token is remembered with its device: a repeat is accepted
// without a parse or an HMAC, but its expiry is checked on every request,
// and it goes with the cache entry: a changed key (Invalidate, or the TTL)
// or a disabled device is refused as before.
func TestAuthenticatorRemembersTheVerifiedToken(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	d := Device{DeviceID: "d", GenerationID: "g", Status: StatusEnabled, PrimaryKey: NewKey(), SecondaryKey: NewKey()}
	store := &countingDevices{memDevices: memDevices{m: map[string]Device{"d": d}}}
	a, err := NewAuthenticator(AuthConfig{HubHost: "h", Devices: store, Now: func() time.Time { return now }, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tok := func(key string, exp time.Time) string {
		s, err := sas.New("h/devices/d", key, "", exp)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	refused := func(header, reason string) {
		t.Helper()
		_, err := a.Device(ctx, header, "d")
		e, ok := apierr.As(err)
		if !ok || e.Kind != apierr.Unauthorized || e.Err == nil || e.Err.Error() != reason {
			t.Fatalf("err %v, want unauthorized: %s", err, reason)
		}
	}
	hdr := tok(d.PrimaryKey, now.Add(10*time.Second))
	for range 3 {
		if id, err := a.Device(ctx, hdr, "d"); err != nil || id.DeviceID != "d" {
			t.Fatal(id, err)
		}
	}
	if c := a.cache["d"]; c.token.header != hdr || store.reads != 1 {
		t.Fatalf("remembered %q after %d reads", c.token.header, store.reads)
	}
	// A token that differs in its signature alone is verified, and refused.
	refused(tok(NewKey(), now.Add(10*time.Second)), "signature does not match a device key")
	// The expiry counts even for the remembered token.
	now = now.Add(10 * time.Second)
	refused(hdr, "token expired")

	// Another token (the secondary key) replaces it.
	hdr2 := tok(d.SecondaryKey, now.Add(time.Hour))
	if _, err := a.Device(ctx, hdr2, "d"); err != nil {
		t.Fatal(err)
	}
	if a.cache["d"].token.header != hdr2 {
		t.Fatal("the newer token is not remembered")
	}

	// New keys, in this process (Invalidate): the remembered token is refused at once.
	d.SecondaryKey = NewKey()
	store.m["d"] = d
	a.Invalidate("d")
	refused(hdr2, "signature does not match a device key")

	// Disabled elsewhere: refused once the entry's TTL ends, remembered token or not.
	hdr3 := tok(d.PrimaryKey, now.Add(time.Hour))
	if _, err := a.Device(ctx, hdr3, "d"); err != nil {
		t.Fatal(err)
	}
	d.Status = StatusDisabled
	store.m["d"] = d
	if _, err := a.Device(ctx, hdr3, "d"); err != nil {
		t.Fatal("within the TTL the cached entry answers")
	}
	now = now.Add(time.Minute)
	refused(hdr3, "device is disabled")
	if a.cache["d"].token.header != "" {
		t.Fatal("a disabled device remembers a token")
	}
}

// A token verified against one read of the device is never attached to a
// later read, which may hold other keys.
func TestRememberTokenKeepsToItsRead(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := Device{DeviceID: "d", Status: StatusEnabled, PrimaryKey: NewKey(), SecondaryKey: NewKey()}
	a, _ := NewAuthenticator(AuthConfig{HubHost: "h", Devices: &memDevices{m: map[string]Device{"d": d}},
		Now: func() time.Time { return now }, CacheTTL: time.Minute})
	first, err := a.lookup(context.Background(), "d", now)
	if err != nil || first.load == 0 {
		t.Fatal(first.load, err)
	}
	a.Invalidate("d")
	if _, err := a.lookup(context.Background(), "d", now); err != nil { // the same instant: loaded times are equal
		t.Fatal(err)
	}
	a.rememberToken("d", first.load, "SharedAccessSignature sr=h", now.Add(time.Hour))
	if a.cache["d"].token.header != "" {
		t.Fatal("a token verified against an earlier read was attached to a later one")
	}
}

func TestVerifiedTokenMatches(t *testing.T) {
	v := verifiedToken{header: "SharedAccessSignature sr=a&sig=b&se=1"}
	for h, want := range map[string]bool{
		"SharedAccessSignature sr=a&sig=b&se=1": true,
		"SharedAccessSignature sr=a&sig=c&se=1": false,
		"SharedAccessSignature sr=a&sig=b&se=":  false,
		"":                                      false,
	} {
		if v.matches(h) != want {
			t.Errorf("%q: %v", h, !want)
		}
	}
	if (&verifiedToken{}).matches("") {
		t.Error("an empty slot matches the empty header")
	}
}
