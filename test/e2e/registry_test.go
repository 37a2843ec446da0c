package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/test/testenv"
)

// registryStep is one line registry.js prints.
type registryStep struct {
	Step  string          `json:"step"`
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value"`
	Error *struct {
		Name, Constructor, Message string
		Status                     int
	} `json:"error"`
}

// sdkDevice is a device as registry.js summarizes the SDK's Device object.
type sdkDevice struct {
	DeviceID            string  `json:"deviceId"`
	GenerationID        string  `json:"generationId"`
	ETag                string  `json:"etag"`
	Status              string  `json:"status"`
	StatusReason        *string `json:"statusReason"`
	Type                string  `json:"type"`
	PrimaryKey          string  `json:"primaryKey"`
	SecondaryKey        string  `json:"secondaryKey"`
	PrimaryThumbprint   string  `json:"primaryThumbprint"`
	SecondaryThumbprint string  `json:"secondaryThumbprint"`
	IsDevice            bool    `json:"isDevice"`
}

// sdkTwin is a twin as registry.js summarizes the SDK's Twin object.
type sdkTwin struct {
	DeviceID string         `json:"deviceId"`
	ETag     string         `json:"etag"`
	Version  int64          `json:"version"`
	Tags     map[string]any `json:"tags"`
	IsTwin   bool           `json:"isTwin"`
}

// TestServiceSDKRegistry: the Azure IoT service SDK for Node (azure-iothub's
// Registry, unchanged, from Registry.fromConnectionString) creates devices
// with and without keys and of each X.509 kind, from plain objects and
// Device objects as its samples build them; gets, updates (If-Match "*",
// and an etag), lists and deletes them; reads and writes twin tags
// (getTwin, Twin.update, updateTwin with the twin's etag); and maps the
// hub's errors to its typed errors.
func TestServiceSDKRegistry(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	u, err := url.Parse(env.Server.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(u.Host)
	key1, key2 := registry.NewKey(), registry.NewKey()
	thumb1, thumb2 := strings.Repeat("ab", 20), strings.Repeat("CD", 32)
	const prefix = "sdk-reg"
	out := runNode(t, "registry.js", map[string]string{
		"SERVICE_CONNECTION_STRING": env.OwnerConn.String(), "HUB_PORT": port, "PREFIX": prefix,
		"KEY1": key1, "KEY2": key2, "THUMB1": thumb1, "THUMB2": thumb2,
	}, 90*time.Second)

	steps := map[string]registryStep{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var s registryStep
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("registry.js printed %q: %v", line, err)
		}
		steps[s.Step] = s
		order = append(order, s.Step)
	}
	device := func(step string) sdkDevice {
		t.Helper()
		s, ok := steps[step]
		if !ok {
			t.Fatalf("step %s did not run (ran %v)", step, order)
		}
		if !s.OK {
			t.Fatalf("step %s failed: %+v", step, s.Error)
		}
		var d sdkDevice
		if err := json.Unmarshal(s.Value, &d); err != nil {
			t.Fatalf("step %s: %v", step, err)
		}
		return d
	}
	refused := func(step, errName string, status int) {
		t.Helper()
		s := steps[step]
		if s.OK || s.Error == nil || s.Error.Name != errName || s.Error.Constructor != errName || s.Error.Status != status {
			t.Errorf("step %s: %+v, want %s (%d)", step, s.Error, errName, status)
			return
		}
		// The SDK takes its message from the error's classic Message field:
		// the hub's words, not the raw body.
		if strings.Contains(s.Error.Message, "{") || s.Error.Message == "" {
			t.Errorf("step %s: message %q is not the hub's message", step, s.Error.Message)
		}
	}

	t.Run("create", func(t *testing.T) {
		plain := device("create-plain")
		if plain.DeviceID != prefix+"-plain" || plain.Type != iothub.AuthSAS || plain.PrimaryKey == "" || plain.SecondaryKey == "" ||
			plain.Status != "enabled" || plain.ETag == "" || plain.GenerationID == "" || !plain.IsDevice {
			t.Errorf("plain object: %+v", plain)
		}
		keys := device("create-keys")
		if keys.PrimaryKey != key1 || keys.SecondaryKey != key2 || keys.Type != iothub.AuthSAS {
			t.Errorf("Device with keys: %+v", keys)
		}
		class := device("create-device-class")
		if class.Type != iothub.AuthSAS || class.PrimaryKey == "" {
			t.Errorf("bare Device: %+v", class)
		}
		self := device("create-selfsigned")
		if self.Type != iothub.AuthSelfSigned || self.PrimaryThumbprint != strings.ToUpper(thumb1) || self.SecondaryThumbprint != thumb2 || self.PrimaryKey != "" {
			t.Errorf("selfSigned: %+v", self)
		}
		ca := device("create-ca")
		if ca.Type != iothub.AuthCertificateAuthority || ca.PrimaryKey != "" || ca.PrimaryThumbprint != "" {
			t.Errorf("certificateAuthority: %+v", ca)
		}
		refused("create-duplicate", "DeviceAlreadyExistsError", 409)
		refused("create-bad-id", "ArgumentError", 400)
	})
	t.Run("get", func(t *testing.T) {
		if d := device("get"); d.DeviceID != prefix+"-keys" || d.PrimaryKey != key1 {
			t.Errorf("get: %+v", d)
		}
		refused("get-missing", "DeviceNotFoundError", 404)
	})
	t.Run("update", func(t *testing.T) {
		star := device("update-star")
		if star.Status != "disabled" || star.StatusReason == nil || *star.StatusReason != "maintenance" || star.PrimaryKey != key1 {
			t.Errorf("update with If-Match *: %+v", star)
		}
		if p := device("update-partial"); p.Status != "disabled" || p.Type != iothub.AuthSAS || p.PrimaryKey == "" {
			t.Errorf("partial update: %+v", p)
		}
		refused("update-missing", "DeviceNotFoundError", 404)
		etag := device("update-etag")
		if etag.Status != "enabled" || etag.ETag == star.ETag {
			t.Errorf("update with the current etag: %+v", etag)
		}
		refused("update-stale-etag", "InvalidEtagError", 412)
	})
	t.Run("twin tags", func(t *testing.T) {
		twin := func(step string) sdkTwin {
			t.Helper()
			s := steps[step]
			if !s.OK {
				t.Fatalf("step %s failed: %+v", step, s.Error)
			}
			var tw sdkTwin
			if err := json.Unmarshal(s.Value, &tw); err != nil {
				t.Fatalf("step %s: %v", step, err)
			}
			return tw
		}
		got := twin("twin-get")
		if got.DeviceID != prefix+"-keys" || got.ETag == "" || got.Version < 1 || len(got.Tags) != 0 || !got.IsTwin {
			t.Errorf("getTwin: %+v", got)
		}
		// Twin.update takes the answer's etag and tags (not its version).
		upd := twin("twin-update")
		if upd.ETag == got.ETag ||
			!reflect.DeepEqual(upd.Tags, map[string]any{"site": "b43", "loc": map[string]any{"floor": 1.0, "room": "12"}}) {
			t.Errorf("Twin.update: %+v", upd)
		}
		reg := twin("twin-update-registry")
		if !reflect.DeepEqual(reg.Tags, map[string]any{"site": "b43", "loc": map[string]any{"floor": 1.0}, "extra": true}) {
			t.Errorf("Registry.updateTwin: %+v", reg)
		}
		refused("twin-stale-etag", "InvalidEtagError", 412)
		refused("twin-bad-key", "ArgumentError", 400)
		refused("twin-missing", "DeviceNotFoundError", 404)
	})
	t.Run("list", func(t *testing.T) {
		s := steps["list"]
		if !s.OK {
			t.Fatalf("list: %+v", s.Error)
		}
		var devs []sdkDevice
		if err := json.Unmarshal(s.Value, &devs); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range devs {
			ids = append(ids, d.DeviceID)
		}
		want := []string{prefix + "-ca", prefix + "-class", prefix + "-keys", prefix + "-plain", prefix + "-x509"}
		if !slices.Equal(ids, want) {
			t.Errorf("list: %v, want %v", ids, want)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if s := steps["delete"]; !s.OK {
			t.Errorf("delete: %+v", s.Error)
		}
		refused("get-deleted", "DeviceNotFoundError", 404)
		refused("delete-missing", "DeviceNotFoundError", 404)
	})
	refused("wrong-key", "UnauthorizedError", 401)

	// What the SDK wrote is what the registry holds.
	d, err := env.Hub.Registry.Get(context.Background(), prefix+"-x509")
	if err != nil || d.Auth() != iothub.AuthSelfSigned || d.PrimaryThumbprint != strings.ToUpper(thumb1) {
		t.Errorf("stored selfSigned device: %+v %v", d, err)
	}
}
