package security

import (
	"net/http"
	"testing"

	"github.com/devicehub/devicehub/test/testenv"
)

// A policy token's sr is a resource-URI prefix, matched at path-segment
// boundaries: a token for <host>/devices/A reaches only what lies under
// /devices/A. Every service route is tried with a hub-wide, an own-device,
// an other-device and a junk scope; refusals must be the one 401 and leave
// nothing changed.
func TestPolicyTokenScope(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	env.CreateDevice(t, "A")
	env.CreateDevice(t, "B")
	host := testenv.Host
	scopes := map[string]string{
		"hub-wide":     host,
		"own device":   host + "/devices/A",
		"other device": host + "/devices/B",
		"dot segments": host + "/devices/A/../B",
		"all devices":  host + "/devices/",
		"junk":         host + "/anything/at/all",
	}
	// allowed lists the scopes that must pass the authorization check of
	// each route; the route acts on device A where it names a device.
	routes := []struct {
		name, method, path string
		hdr                map[string]string
		body               []byte
		allowed            []string
	}{
		{"registry get", http.MethodGet, "/devices/A", nil, nil, []string{"hub-wide", "own device", "all devices"}},
		{"registry delete (stale etag)", http.MethodDelete, "/devices/A", map[string]string{"If-Match": `"stale"`}, nil, []string{"hub-wide", "own device", "all devices"}},
		{"registry update", http.MethodPut, "/devices/A", map[string]string{"If-Match": "*"}, []byte(`{"deviceId":"A","status":"enabled"}`), []string{"hub-wide", "own device", "all devices"}},
		{"registry list", http.MethodGet, "/devices", nil, nil, []string{"hub-wide", "all devices"}},
		{"c2d send", http.MethodPost, "/devices/A/messages/devicebound", nil, []byte("hi"), []string{"hub-wide", "own device", "all devices"}},
		{"c2d purge", http.MethodDelete, "/devices/A/commands", nil, nil, []string{"hub-wide", "own device", "all devices"}},
		{"c2d status", http.MethodGet, "/devices/A/c2d/messages/m1", nil, nil, []string{"hub-wide", "own device", "all devices"}},
		{"c2d dead letters", http.MethodGet, "/devices/A/c2d/deadletters", nil, nil, []string{"hub-wide", "own device", "all devices"}},
		{"c2d requeue", http.MethodPost, "/devices/A/c2d/deadletters/m1/requeue", nil, nil, []string{"hub-wide", "own device", "all devices"}},
		{"feedback", http.MethodGet, "/messages/serviceBound/feedback", nil, nil, []string{"hub-wide"}},
		// The twin's resource is /twins/{id}, not under /devices/{id}.
		{"twin get", http.MethodGet, "/twins/A", nil, nil, []string{"hub-wide"}},
		{"twin tags patch", http.MethodPatch, "/twins/A", nil, []byte(`{"tags":{"site":"x"}}`), []string{"hub-wide"}},
		{"routing statistics", http.MethodGet, "/devicehub/routing", nil, nil, []string{"hub-wide"}},
	}
	for _, rt := range routes {
		for scope, sr := range scopes {
			allowed := false
			for _, a := range rt.allowed {
				allowed = allowed || a == scope
			}
			t.Run(rt.name+"/"+scope, func(t *testing.T) {
				r := do(t, env, rt.method, rt.path, ownerToken(t, env, sr), rt.hdr, rt.body)
				if allowed {
					if r.Status == http.StatusUnauthorized {
						t.Fatalf("scope %s refused: %s", sr, r.Body)
					}
					return
				}
				wantUnauthorized(t, r)
			})
		}
	}
	// What the refused tokens tried (delete B, send to B) left no trace.
	for _, sr := range []string{scopes["own device"], scopes["junk"]} {
		wantUnauthorized(t, do(t, env, http.MethodDelete, "/devices/B", ownerToken(t, env, sr), nil, nil))
		wantUnauthorized(t, do(t, env, http.MethodPost, "/devices/B/messages/devicebound", ownerToken(t, env, sr), nil, []byte("x")))
	}
	if r := do(t, env, http.MethodGet, "/devices/B", env.OwnerToken(t), nil, nil); r.Status != http.StatusOK {
		t.Fatalf("device B after refused deletes: %d %s", r.Status, r.Body)
	}
	if r := do(t, env, http.MethodGet, "/devices/B/c2d/deadletters", env.OwnerToken(t), nil, nil); r.Status != http.StatusOK || string(r.Body) != "[]\n" {
		t.Fatalf("device B's queue after refused sends: %d %s", r.Status, r.Body)
	}
}
