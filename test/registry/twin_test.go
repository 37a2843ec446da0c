package registry

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/test/testenv"
)

const apiVersion = "?api-version=2021-04-12"

func (h *hub) twinRequest(method, id, ifMatch, body string) testenv.Reply {
	h.t.Helper()
	hdr := map[string]string{"Content-Type": "application/json; charset=utf-8"}
	if ifMatch != "" {
		hdr["If-Match"] = ifMatch
	}
	return h.env.Do(h.t, method, "/twins/"+id+apiVersion, h.env.OwnerToken(h.t), hdr, []byte(body))
}

func (h *hub) twin(r testenv.Reply) iothub.Twin {
	h.t.Helper()
	if r.Status != 200 {
		h.t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	var tw iothub.Twin
	if err := json.Unmarshal(r.Body, &tw); err != nil {
		h.t.Fatal(err)
	}
	if r.Header.Get("ETag") != strconv.Quote(tw.ETag) {
		h.t.Fatalf("ETag header %q, twin etag %q", r.Header.Get("ETag"), tw.ETag)
	}
	return tw
}

// IoT Hub's twin service API, for tags: get, merge patch guarded by the
// twin's etag, replace; the device's etag moves with the twin's; the
// routing tag reader sees the result.
func TestTwinTags(t *testing.T) {
	h := newHub(t, false)
	ctx := context.Background()
	dev, err := h.svc.CreateDevice(ctx, "dev-1", iothub.Device{})
	if err != nil {
		t.Fatal(err)
	}
	tw := h.twin(h.twinRequest("GET", "dev-1", "", ""))
	if tw.DeviceID != "dev-1" || tw.ETag != "AAAAAAAAAAE=" || tw.Version != 1 || tw.Tags != nil || tw.DeviceETag != dev.ETag ||
		tw.Status != "enabled" || tw.AuthenticationType != iothub.AuthSAS || tw.Properties.Desired["$version"] != 1.0 {
		t.Fatalf("new twin %+v", tw)
	}

	tw = h.twin(h.twinRequest("PATCH", "dev-1", `"AAAAAAAAAAE="`, `{"tags":{"site":"b43","loc":{"floor":1,"room":"12"},"big":4503599627370495}}`))
	if tw.ETag != "AAAAAAAAAAI=" || tw.Version != 2 || tw.Tags["site"] != "b43" || tw.Tags["big"] != 4503599627370495.0 {
		t.Fatalf("after the patch %+v", tw)
	}
	if d, _ := h.svc.GetDevice(ctx, "dev-1"); d.ETag == dev.ETag {
		t.Error("the device's etag did not move with the twin's")
	}
	r := h.twinRequest("PATCH", "dev-1", `"AAAAAAAAAAE="`, `{"tags":{"site":"b44"}}`)
	if r.Status != 412 || r.ErrorBody(t).Code != "PreconditionFailed" {
		t.Fatalf("stale etag: %d %s", r.Status, r.Body)
	}
	// As Twin.update sends it: the etag "*", a nested merge, a null removing a key.
	tw = h.twin(h.twinRequest("PATCH", "dev-1", `"*"`, `{"tags":{"loc":{"floor":2,"room":null}}}`))
	want := map[string]any{"site": "b43", "loc": map[string]any{"floor": 2.0}, "big": 4503599627370495.0}
	if !reflect.DeepEqual(tw.Tags, want) || tw.Version != 3 {
		t.Fatalf("merged tags %v, want %v", tw.Tags, want)
	}
	tags, err := h.items.Tags(ctx, "dev-1")
	if err != nil || !reflect.DeepEqual(tags, want) {
		t.Fatalf("routing's tag reader: %v %v", tags, err)
	}
	// A twin read with GET goes back with PUT: its read-only parts are ignored.
	tw.Tags = map[string]any{"only": "this"}
	body, _ := json.Marshal(tw)
	tw = h.twin(h.twinRequest("PUT", "dev-1", strconv.Quote(tw.ETag), string(body)))
	if !reflect.DeepEqual(tw.Tags, map[string]any{"only": "this"}) || tw.Version != 4 {
		t.Fatalf("replaced %+v", tw)
	}
	// A patch that changes nothing writes nothing.
	if tw = h.twin(h.twinRequest("PATCH", "dev-1", "", `{"tags":{"only":"this"}}`)); tw.Version != 4 {
		t.Fatalf("no-op patch wrote version %d", tw.Version)
	}

	refused := []struct{ name, method, body string }{
		{"a key with a dot", "PATCH", `{"tags":{"a.b":1}}`},
		{"a key with a dollar", "PATCH", `{"tags":{"$a":1}}`},
		{"eleven objects deep", "PATCH", `{"tags":` + strings.Repeat(`{"k":`, 12) + `1` + strings.Repeat(`}`, 12) + `}`},
		{"over 8 KB", "PUT", `{"tags":{"a":"` + strings.Repeat("x", 4096) + `","b":"` + strings.Repeat("x", 4096) + `"}}`},
		{"a string over 4 KB", "PATCH", `{"tags":{"a":"` + strings.Repeat("x", 4097) + `"}}`},
		{"an integer out of range", "PATCH", `{"tags":{"n":4503599627370496}}`},
		{"desired properties", "PATCH", `{"properties":{"desired":{"fw":"1.2"}}}`},
		{"another device's id", "PATCH", `{"deviceId":"dev-2","tags":{"a":1}}`},
		{"not JSON", "PATCH", `{"tags":`},
		{"tags not an object", "PATCH", `{"tags":[1]}`},
		{"two values", "PATCH", `{"tags":{}} {}`},
	}
	for _, tc := range refused {
		r := h.twinRequest(tc.method, "dev-1", "", tc.body)
		if r.Status != 400 || r.ErrorBody(t).Code != "ArgumentInvalid" {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Body)
		}
	}
	if tw = h.twin(h.twinRequest("GET", "dev-1", "", "")); tw.Version != 4 {
		t.Fatalf("a refused write wrote: %+v", tw)
	}

	if r := h.twinRequest("GET", "nope", "", ""); r.Status != 404 || r.ErrorBody(t).Code != "DeviceNotFound" {
		t.Errorf("missing device: %d %s", r.Status, r.Body)
	}
	if r := h.env.Do(t, "PATCH", "/twins/dev-1"+apiVersion, "", nil, []byte(`{}`)); r.Status != 401 {
		t.Errorf("no token: %d", r.Status)
	}
	if r := h.twinRequest("DELETE", "dev-1", "", ""); r.Status != 405 || r.Header.Get("Allow") != "GET, PUT, PATCH" {
		t.Errorf("DELETE: %d, Allow %q", r.Status, r.Header.Get("Allow"))
	}
}
