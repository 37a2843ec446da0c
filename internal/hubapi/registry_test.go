package hubapi

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
)

// oneSlot is a registry.Store holding at most one device, enough for Create;
// the methods it lacks are not called.
type oneSlot struct {
	registry.Store
	d *registry.Device
}

func (s *oneSlot) Get(_ context.Context, id string) (registry.Device, error) {
	if s.d == nil || s.d.DeviceID != id {
		return registry.Device{}, registry.ErrDeviceNotFound(id)
	}
	return *s.d, nil
}
func (s *oneSlot) Create(_ context.Context, d registry.Device) error { s.d = &d; return nil }
func (s *oneSlot) Replace(context.Context, registry.Device, int64) error {
	return apierr.ServerError.New("not in this fake")
}
func (s *oneSlot) Delete(context.Context, string, int64) error {
	return apierr.ServerError.New("not in this fake")
}
func (s *oneSlot) List(context.Context, int, string) ([]registry.Device, string, error) {
	return nil, "", nil
}

// FuzzDeviceJSON decodes PUT /devices/{id} bodies and creates the device:
// either ArgumentInvalid, or a device that keeps the rules (valid id and
// keys, a known status) and whose JSON, sent back, gives the same spec.
func FuzzDeviceJSON(f *testing.F) {
	key := registry.NewKey()
	for _, seed := range []struct{ id, body string }{
		{"dev-1", `{"deviceId":"dev-1"}`},
		{"dev-1", ``},
		{"d", `{"status":"disabled","statusReason":"maintenance","authentication":{"type":"sas","symmetricKey":{"primaryKey":"` + key + `","secondaryKey":"` + key + `"}}}`},
		{"d", `{"authentication":{"type":"selfSigned"}}`},
		{".", `{}`},
		{"a b", `{}`},
		{"d", `{"status":"Enabled"}`},
		{"d", `{"deviceId":"e"}`},
		{"d", `{"authentication":{"symmetricKey":{"primaryKey":"c2hvcnQ="}}}`},
		{"d", `{"statusReason":"\ud800"}`},
		{"d", `[]`},
	} {
		f.Add(seed.id, []byte(seed.body))
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		spec, err := deviceSpec(id, body)
		if err == nil {
			svc := &registry.Service{Store: &oneSlot{}, Now: func() time.Time { return now }}
			var d registry.Device
			if d, err = svc.Create(context.Background(), id, spec); err == nil {
				checkCreated(t, id, body, d)
				return
			}
		}
		if e, ok := apierr.As(err); !ok || e.Name != "ArgumentInvalid" {
			t.Fatalf("id %q body %q: %v", id, body, err)
		}
	})
}

func checkCreated(t *testing.T, id string, body []byte, d registry.Device) {
	t.Helper()
	if d.DeviceID != id || registry.ValidateDeviceID(id) != nil || (d.Status != registry.StatusEnabled && d.Status != registry.StatusDisabled) {
		t.Fatalf("id %q body %q created %+v", id, body, d)
	}
	switch d.Auth() {
	case iothub.AuthSAS:
		if registry.ValidateKey(d.PrimaryKey) != nil || registry.ValidateKey(d.SecondaryKey) != nil {
			t.Fatalf("id %q body %q created a SAS device without two valid keys: %+v", id, body, d)
		}
	case iothub.AuthSelfSigned:
		if d.PrimaryThumbprint == "" {
			t.Fatalf("id %q body %q created a selfSigned device without a thumbprint: %+v", id, body, d)
		}
	}
	out, err := json.Marshal(deviceJSON(d))
	if err != nil {
		t.Fatal(err)
	}
	back, err := deviceSpec(id, out)
	want := registry.Spec{Status: d.Status, StatusReason: d.StatusReason, PrimaryKey: d.PrimaryKey, SecondaryKey: d.SecondaryKey,
		AuthType: d.Auth(), PrimaryThumbprint: d.PrimaryThumbprint, SecondaryThumbprint: d.SecondaryThumbprint}
	if err != nil || back != want {
		t.Fatalf("id %q body %q: the device's JSON %s reads back as %+v, %v", id, body, out, back, err)
	}
}
