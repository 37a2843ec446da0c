package main

import (
	"strings"
	"testing"
)

// device tags get and set: a merge patch, --replace, --etag, standard
// input, both output formats.
func TestDeviceTags(t *testing.T) {
	h := withHub(t)
	h.ok("device", "create", "sensor-a")
	got := jsonLines(t, h.ok("device", "tags", "get", "sensor-a"))
	if len(got) != 1 || got[0]["deviceId"] != "sensor-a" || got[0]["etag"] != "AAAAAAAAAAE=" || got[0]["version"] != 1.0 || len(got[0]["tags"].(map[string]any)) != 0 {
		t.Fatalf("tags get: %v", got)
	}
	got = jsonLines(t, h.ok("device", "tags", "set", "sensor-a", `{"site":"b43","loc":{"floor":1,"room":"12"}}`, "--etag", "AAAAAAAAAAE="))
	if got[0]["etag"] != "AAAAAAAAAAI=" || got[0]["tags"].(map[string]any)["site"] != "b43" {
		t.Fatalf("tags set: %v", got)
	}
	_, errOut, code := h.run("device", "tags", "set", "sensor-a", `{"site":"b44"}`, "--etag", "AAAAAAAAAAE=")
	if code != 1 || !strings.Contains(errOut, "412 PreconditionFailed") {
		t.Fatalf("stale etag: exit %d, %q", code, errOut)
	}
	h.stdin = `{"loc":{"room":null}}`
	got = jsonLines(t, h.ok("device", "tags", "set", "sensor-a", "-"))
	if loc := got[0]["tags"].(map[string]any)["loc"].(map[string]any); len(loc) != 1 || loc["floor"] != 1.0 {
		t.Fatalf("merge from standard input: %v", got)
	}
	header, rows := table(t, h.ok("device", "tags", "set", "sensor-a", "--replace", `{"only":true}`, "-o", "table"))
	if strings.Join(header, "|") != "DEVICE ID|ETAG|VERSION|TAGS" || len(rows) != 1 || rows[0][3] != `{"only":true}` || rows[0][2] != "4" {
		t.Fatalf("replace, as a table: %q %q", header, rows)
	}
	_, errOut, code = h.run("device", "tags", "set", "sensor-a", `{"a.b":1}`)
	if code != 1 || !strings.Contains(errOut, "ArgumentInvalid") {
		t.Fatalf("a key IoT Hub refuses: exit %d, %q", code, errOut)
	}
	before := h.requests.Load()
	for _, bad := range []string{`[1]`, `{"a":`, `null`, `{} {}`} {
		if _, errOut, code := h.run("device", "tags", "set", "sensor-a", bad); code != 2 || !strings.Contains(errOut, "JSON object") {
			t.Errorf("tags %s: exit %d, %q", bad, code, errOut)
		}
	}
	if h.requests.Load() != before {
		t.Error("a bad JSON reached the hub")
	}
}
