package d2c_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/test/testenv"
)

// The tests here check, over the wire through the real handler on the
// emulators, the message rules both directions share and the limits that
// keep one request from costing more than its size: each names the rule.

const batchType = "application/vnd.microsoft.iothub.json"

// send is do with a header set that may repeat a name, and without following
// redirects, so a redirect is seen as the answer it is.
func send(t *testing.T, env *testenv.Env, method, path, auth string, h http.Header, body []byte) testenv.Reply {
	t.Helper()
	req, err := http.NewRequest(method, env.Server.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	client := *env.Server.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return testenv.Reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func wantError(t *testing.T, r testenv.Reply, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if e := r.ErrorBody(t); e.Code != code {
		t.Fatalf("code %s, want %s (%s)", e.Code, code, e.Message)
	}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// Rule: property names compare ignoring case (after the iothub-app- prefix
// is removed, and system property names alike); of a name or key given more
// than once in one message the last occurrence wins, in a batch (both
// parsers) and in headers. Never both, never at random.
func TestRepeatedNamesLastWins(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	tok := env.DeviceToken(t, env.CreateDevice(t, "d1"))
	batch := []string{
		// Parsed by the fast path.
		`{"body":"","properties":{"iothub-app-a":"1","a":"2"}}`,
		`{"body":"","properties":{"iothub-messageid":"m1","IOTHUB-MESSAGEID":"m2","Seq":"1","SEQ":"2"}}`,
		`{"body":"QQ==","body":"Qg==","properties":{"x":"1"},"properties":{"y":"2"}}`,
		// The same, escaped, for encoding/json.
		`{"body":"","properties":{"iothub-app-a":"1","\u0061":"2"}}`,
		`{"body":"","properties":{"iothub-messageid":"m1","IOTHUB-MESSAGE\u0049D":"m2","Seq":"1","SEQ":"2"}}`,
		`{"body":"QQ==","body":"Q\u0067==","properties":{"x":"1"},"properties":{"y":"2"}}`,
	}
	for _, part := range [][]string{batch[:3], batch} {
		r := send(t, env, http.MethodPost, "/devices/d1"+eventsPath, tok, hdr("Content-Type", batchType), []byte("["+strings.Join(part, ",")+"]"))
		if r.Status != http.StatusNoContent {
			t.Fatalf("batch: %d %s", r.Status, r.Body)
		}
	}
	r := send(t, env, http.MethodPost, "/devices/d1"+eventsPath, tok,
		hdr("iothub-app-a", "1", "IOTHUB-APP-A", "2", "IoTHub-MessageId", "m1", "iothub-messageid", "m2"), []byte("x"))
	if r.Status != http.StatusNoContent {
		t.Fatalf("single: %d %s", r.Status, r.Body)
	}
	got := env.ReadStream(t)
	if len(got) != 10 {
		t.Fatalf("%d records, want 10", len(got))
	}
	for i, want := range []struct {
		id, body string
		props    map[string]string
	}{
		{"", "", map[string]string{"a": "2"}},
		{"m2", "", map[string]string{"SEQ": "2"}},
		{"", "B", map[string]string{"y": "2"}},
	} {
		for _, m := range []int{i, 3 + i, 6 + i} { // fast batch, fast again, encoding/json
			g := got[m]
			if g.MessageID != want.id || string(g.Body) != want.body || !sameProps(g.Properties, want.props) {
				t.Errorf("record %d: id %q body %q properties %v, want %+v", m, g.MessageID, g.Body, g.Properties, want)
			}
		}
	}
	if g := got[9]; g.MessageID != "m2" || !sameProps(g.Properties, map[string]string{"a": "2"}) {
		t.Errorf("single message: id %q properties %v", g.MessageID, g.Properties)
	}
}

func sameProps(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// Rule: a body sent with "base64Encoded": false is valid UTF-8 or refused
// (never patched with U+FFFD); ids are printable ASCII, on D2C as on C2D.
func TestBodiesAndIDsAreNotPatched(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	tok := env.DeviceToken(t, env.CreateDevice(t, "d1"))
	batch := hdr("Content-Type", batchType)
	for _, tc := range []struct {
		name string
		h    http.Header
		body string
	}{
		{"invalid UTF-8 in a raw body", batch, "[{\"body\":\"caf\xe9\",\"base64Encoded\":false}]"},
		{"lone surrogate in a raw body", batch, `[{"body":"\ud83d","base64Encoded":false}]`},
		{"invalid UTF-8 in a JSON body", batch, "[{\"body\":{\"t\":\"\xff\"},\"base64Encoded\":false}]"},
		{"non-ASCII message id", hdr("IoTHub-MessageId", "caf\xc3\xa9"), "x"},
		{"non-ASCII correlation id in a batch", batch, `[{"body":"","properties":{"iothub-correlationid":"caf\u00e9"}}]`},
		{"control character in a message id", batch, `[{"body":"","properties":{"iothub-messageid":"a\u0007b"}}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, send(t, env, http.MethodPost, "/devices/d1"+eventsPath, tok, tc.h, []byte(tc.body)), 400, "ArgumentInvalid")
		})
	}
	if got := env.ReadStream(t); len(got) != 0 {
		t.Fatalf("%d records from refused requests", len(got))
	}
}

// Rule: at most 64 application properties per message (counted as sent),
// 128 property entries in all, and 500 messages per request: one request
// costs at most one PutRecords call, and no parse costs more than linear
// time (one 349 KB batch of 30,000 properties took 1.6 s of CPU before).
func TestCaps(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	tok := env.DeviceToken(t, env.CreateDevice(t, "d1"))
	props := func(n int, prefix string) string {
		var b strings.Builder
		b.WriteByte('{')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + prefix + strconv.Itoa(i) + `":"v"`)
		}
		return b.String() + "}"
	}
	messages := func(n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(`{"body":""},`, n), ",") + "]"
	}
	batch := hdr("Content-Type", batchType)
	many, repeated := http.Header{}, http.Header{}
	for i := range 65 {
		many.Add("iothub-app-p"+strconv.Itoa(i), "v")
		repeated.Add("iothub-app-p"+strconv.Itoa(i/2), "v")
	}
	for _, tc := range []struct {
		name   string
		h      http.Header
		body   string
		status int
		code   string
	}{
		{"65 properties in a batch", batch, `[{"body":"","properties":` + props(65, "p") + `}]`, 400, "ArgumentInvalid"},
		{"30,000 properties in a batch", batch, `[{"body":"","properties":` + props(30000, "p") + `}]`, 400, "ArgumentInvalid"},
		{"129 system properties in a batch", batch, `[{"body":"","properties":` + props(129, "iothub-x") + `}]`, 400, "ArgumentInvalid"},
		{"65 property headers", many, "x", 400, "ArgumentInvalid"},
		{"65 property headers, some repeated", repeated, "x", 400, "ArgumentInvalid"},
		{"501 messages", batch, messages(501), 413, "MessageTooLarge"},
		{"30,000 empty messages", batch, messages(30000), 413, "MessageTooLarge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			wantError(t, send(t, env, http.MethodPost, "/devices/d1"+eventsPath, tok, tc.h, []byte(tc.body)), tc.status, tc.code)
			if d := time.Since(start); d > time.Second {
				t.Errorf("refusing took %v", d)
			}
		})
	}
	if got := env.ReadStream(t); len(got) != 0 {
		t.Fatalf("%d records from refused requests", len(got))
	}
	// At the caps: accepted.
	if r := send(t, env, http.MethodPost, "/devices/d1"+eventsPath, tok, batch, []byte(`[{"body":"","properties":`+props(64, "p")+`}]`)); r.Status != 204 {
		t.Fatalf("64 properties: %d %s", r.Status, r.Body)
	}
	if r := send(t, env, http.MethodPost, "/devices/d1"+eventsPath, tok, batch, []byte(messages(500))); r.Status != 204 {
		t.Fatalf("500 messages: %d %s", r.Status, r.Body)
	}
	if got := env.ReadStream(t); len(got) != 501 || len(got[0].Properties) != 64 {
		t.Fatalf("%d records", len(got))
	}
}

// Rule: HEAD is not a receive (it would lock a message and drop its body);
// unknown routes, wrong methods and unclean paths answer IoT Hub JSON, not
// text or a redirect; a device id of . or .. is refused.
func TestRoutingAnswersJSON(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	tok := env.DeviceToken(t, env.CreateDevice(t, "d1"))
	owner := env.OwnerToken(t)
	if r := send(t, env, http.MethodPost, "/devices/d1/messages/devicebound", owner, hdr("IoTHub-MessageId", "c1"), []byte("hello")); r.Status != 200 {
		t.Fatalf("c2d send: %d %s", r.Status, r.Body)
	}
	r := send(t, env, http.MethodHead, "/devices/d1/messages/devicebound", tok, nil, nil)
	if r.Status != 405 || r.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("HEAD: %d Allow %q", r.Status, r.Header.Get("Allow"))
	}
	r = send(t, env, http.MethodGet, "/devices/d1/messages/devicebound", tok, nil, nil)
	if r.Status != 200 || string(r.Body) != "hello" || r.Header.Get("Iothub-Deliverycount") != "0" { // its first delivery
		t.Fatalf("receive after HEAD: %d %q delivery count %s", r.Status, r.Body, r.Header.Get("Iothub-Deliverycount"))
	}

	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{http.MethodGet, "/nowhere", 404, "NotFound", ""},
		{http.MethodPatch, "/devices/d1", 405, "MethodNotAllowed", "GET, PUT, DELETE"},
		{http.MethodGet, "/devices/d1/messages/events", 405, "MethodNotAllowed", "POST"},
		{http.MethodGet, "//devices/d1", 400, "ArgumentInvalid", ""},
		{http.MethodGet, "/devices/x/../d1", 400, "ArgumentInvalid", ""},
		{http.MethodPut, "/devices/%2E", 400, "ArgumentInvalid", ""},
		{http.MethodPut, "/devices/%2E%2E", 400, "ArgumentInvalid", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := send(t, env, tc.method, tc.path, owner, nil, []byte("{}"))
			wantError(t, r, tc.status, tc.code)
			if r.Header.Get("Allow") != tc.allow || r.Header.Get("Location") != "" {
				t.Fatalf("Allow %q Location %q", r.Header.Get("Allow"), r.Header.Get("Location"))
			}
		})
	}
}

// Rule, cloud-to-device: the same property rule (tokens, names ignoring
// case, a header sent twice gives its last value, 64 at most) and an expiry
// of the zero time is refused rather than silently replaced by the default.
func TestC2DSendRules(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	tok := env.DeviceToken(t, env.CreateDevice(t, "d1"))
	owner := env.OwnerToken(t)
	path := "/devices/d1/messages/devicebound"
	many := http.Header{}
	for i := range 65 {
		many.Add("iothub-app-p"+strconv.Itoa(i), "v")
	}
	for _, tc := range []struct {
		name string
		h    http.Header
	}{
		{"zero expiry", hdr("iothub-expiry", "0001-01-01T00:00:00Z")},
		{"zero expiry as an HTTP date", hdr("iothub-expiry", "Mon, 01 Jan 0001 00:00:00 GMT")},
		{"space in a property value", hdr("iothub-app-color", "light blue")},
		{"65 properties", many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, send(t, env, http.MethodPost, path, owner, tc.h, []byte("x")), 400, "ArgumentInvalid")
		})
	}
	r := send(t, env, http.MethodPost, path, owner, hdr("iothub-app-color", "red", "IOTHUB-APP-COLOR", "blue", "iothub-messageid", "m1", "iothub-messageid", "m2"), []byte("x"))
	var sent iothub.C2DSent
	if err := json.Unmarshal(r.Body, &sent); r.Status != 200 || err != nil || sent.MessageID != "m2" {
		t.Fatalf("send: %d %s", r.Status, r.Body)
	}
	r = send(t, env, http.MethodGet, path, tok, nil, nil)
	if r.Status != 200 || r.Header.Get("Iothub-App-Color") != "blue" || r.Header.Get("Iothub-Messageid") != "m2" {
		t.Fatalf("receive: %d %v", r.Status, r.Header)
	}
}
