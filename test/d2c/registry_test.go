package d2c_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestRegistryREST(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	owner := env.OwnerToken(t)
	q := "?api-version=2021-04-12"

	// Create with generated keys.
	r := do(t, env, http.MethodPut, "/devices/dev-1"+q, owner, map[string]string{"Content-Type": "application/json"}, []byte(`{"deviceId":"dev-1"}`))
	if r.Status != http.StatusOK {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var d iothub.Device
	if err := json.Unmarshal(r.Body, &d); err != nil {
		t.Fatal(err)
	}
	k := d.Authentication.SymmetricKey
	if d.DeviceID != "dev-1" || d.Status != "enabled" || d.ETag == "" || d.GenerationID == "" || k == nil ||
		registry.ValidateKey(k.PrimaryKey) != nil || registry.ValidateKey(k.SecondaryKey) != nil || k.PrimaryKey == k.SecondaryKey {
		t.Fatalf("created %+v", d)
	}
	if r.Header.Get("ETag") != strconv.Quote(d.ETag) {
		t.Fatalf("ETag header %q, body etag %q", r.Header.Get("ETag"), d.ETag)
	}

	// Creating again conflicts.
	if r := do(t, env, http.MethodPut, "/devices/dev-1"+q, owner, nil, []byte(`{}`)); r.Status != http.StatusConflict {
		t.Fatalf("second create: %d", r.Status)
	} else if e := r.ErrorBody(t); e.Code != "DeviceAlreadyExists" {
		t.Fatalf("code %s", e.Code)
	}

	// Supplied keys are kept.
	key := registry.NewKey()
	r = do(t, env, http.MethodPut, "/devices/dev-2"+q, owner, nil, []byte(`{"status":"disabled","authentication":{"symmetricKey":{"primaryKey":"`+key+`"}}}`))
	var d2 iothub.Device
	_ = json.Unmarshal(r.Body, &d2)
	if r.Status != http.StatusOK || d2.Status != "disabled" || d2.Authentication.SymmetricKey.PrimaryKey != key {
		t.Fatalf("create with key: %d %s", r.Status, r.Body)
	}

	// If-Match: stale etag refused, current etag (quoted or not) accepted, etag changes.
	if r := do(t, env, http.MethodPut, "/devices/dev-1"+q, owner, map[string]string{"If-Match": `"MTIz"`}, []byte(`{"status":"disabled"}`)); r.Status != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d", r.Status)
	} else {
		r.ErrorBody(t)
	}
	r = do(t, env, http.MethodPut, "/devices/dev-1"+q, owner, map[string]string{"If-Match": d.ETag}, []byte(`{"status":"disabled","statusReason":"maintenance"}`))
	var upd iothub.Device
	_ = json.Unmarshal(r.Body, &upd)
	if r.Status != http.StatusOK || upd.Status != "disabled" || upd.ETag == d.ETag || upd.StatusReason == nil || *upd.StatusReason != "maintenance" ||
		upd.Authentication.SymmetricKey.PrimaryKey != k.PrimaryKey || upd.GenerationID != d.GenerationID {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}

	// Get and list.
	r = do(t, env, http.MethodGet, "/devices/dev-1"+q, owner, nil, nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"status":"disabled"`) {
		t.Fatalf("get: %d %s", r.Status, r.Body)
	}
	r = do(t, env, http.MethodGet, "/devices"+q, owner, nil, nil)
	var list []iothub.Device
	if err := json.Unmarshal(r.Body, &list); err != nil || len(list) != 2 {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	// Paging with top and x-ms-continuation.
	r = do(t, env, http.MethodGet, "/devices?top=1&api-version=2021-04-12", owner, nil, nil)
	cont := r.Header.Get("x-ms-continuation")
	if r.Status != http.StatusOK || cont == "" {
		t.Fatalf("page 1: %d cont %q", r.Status, cont)
	}
	r = do(t, env, http.MethodGet, "/devices?top=1&api-version=2021-04-12", owner, map[string]string{"x-ms-continuation": cont}, nil)
	var page2 []iothub.Device
	_ = json.Unmarshal(r.Body, &page2)
	if len(page2) != 1 {
		t.Fatalf("page 2: %s", r.Body)
	}

	// Delete: stale etag refused, then deleted, then 404.
	if r := do(t, env, http.MethodDelete, "/devices/dev-1"+q, owner, map[string]string{"If-Match": `"` + d.ETag + `"`}, nil); r.Status != http.StatusPreconditionFailed {
		t.Fatalf("delete with stale etag: %d", r.Status)
	}
	if r := do(t, env, http.MethodDelete, "/devices/dev-1"+q, owner, map[string]string{"If-Match": `"` + upd.ETag + `"`}, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := do(t, env, http.MethodGet, "/devices/dev-1"+q, owner, nil, nil); r.Status != http.StatusNotFound || r.ErrorBody(t).Code != "DeviceNotFound" {
		t.Fatalf("get deleted: %d", r.Status)
	}
	if r := do(t, env, http.MethodDelete, "/devices/dev-1"+q, owner, nil, nil); r.Status != http.StatusNotFound {
		t.Fatalf("delete deleted: %d", r.Status)
	}
}

func TestRegistryRejects(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	owner := env.OwnerToken(t)
	dev := env.CreateDevice(t, "d1")
	cases := []struct {
		name, method, path, auth, body string
		status                         int
	}{
		{"no token", http.MethodGet, "/devices/d1", "", "", 401},
		{"device token on service route", http.MethodGet, "/devices/d1", env.DeviceToken(t, dev), "", 401},
		{"id too long", http.MethodPut, "/devices/" + strings.Repeat("a", 129), owner, "{}", 400},
		{"id with bad char", http.MethodPut, "/devices/a%23b", owner, "{}", 400},
		{"body not json", http.MethodPut, "/devices/x1", owner, "{", 400},
		{"body id differs", http.MethodPut, "/devices/x1", owner, `{"deviceId":"x2"}`, 400},
		{"bad status", http.MethodPut, "/devices/x1", owner, `{"status":"paused"}`, 400},
		{"bad key", http.MethodPut, "/devices/x1", owner, `{"authentication":{"symmetricKey":{"primaryKey":"c2hvcnQ="}}}`, 400},
		{"x509 not supported", http.MethodPut, "/devices/x1", owner, `{"authentication":{"type":"selfSigned"}}`, 400},
		{"bad top", http.MethodGet, "/devices?top=0", owner, "", 400},
		{"unknown route", http.MethodGet, "/nothing", owner, "", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, env, tc.method, tc.path, tc.auth, nil, []byte(tc.body))
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			r.ErrorBody(t)
		})
	}
	// Nothing was created by the refused requests.
	if r := do(t, env, http.MethodGet, "/devices/x1", owner, nil, nil); r.Status != http.StatusNotFound {
		t.Fatalf("x1 exists after refused creates: %d", r.Status)
	}
}
