package hubapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/c2d"
	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
)

// stubAuth accepts the token "ok" for any device and the owner token "owner".
type stubAuth struct{}

func (stubAuth) Device(_ context.Context, header, deviceID string) (registry.Identity, error) {
	if header != "ok" {
		return registry.Identity{}, apierr.IotHubUnauthorizedAccess.New("bad token")
	}
	return registry.Identity{DeviceID: deviceID}, nil
}

func (stubAuth) Service(_ context.Context, header, _ string) error {
	if header != "owner" {
		return apierr.IotHubUnauthorizedAccess.New("bad token")
	}
	return nil
}

// stubTelemetry keeps what it is given (a copy: the messages are valid
// only during the call).
type stubTelemetry struct{ got [][]d2c.Message }

func (s *stubTelemetry) Ingest(_ context.Context, _ registry.Identity, msgs []d2c.Message) error {
	kept := make([]d2c.Message, len(msgs))
	for i, m := range msgs {
		m.Body = bytes.Clone(m.Body)
		m.Properties = slices.Clone(m.Properties)
		kept[i] = m
	}
	s.got = append(s.got, kept)
	return nil
}

// stubC2D counts receives: a receive locks a message.
type stubC2D struct {
	C2DDevice
	receives int
}

func (s *stubC2D) Receive(context.Context, registry.Identity) (*c2d.Delivery, error) {
	s.receives++
	return nil, nil
}

func newTestServer(logs io.Writer) (http.Handler, *stubTelemetry, *stubC2D) {
	tel, q := &stubTelemetry{}, &stubC2D{}
	h := New(Deps{
		Auth: stubAuth{}, Telemetry: tel, C2DDevice: q, Registry: struct{ Registry }{},
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	return h, tel, q
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decodeError(t *testing.T, w *httptest.ResponseRecorder) iothub.ErrorBody {
	t.Helper()
	var e iothub.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code == "" || e.TrackingID == "" || e.ErrorCode/1000 != w.Code {
		t.Fatalf("status %d: not an IoT Hub error body: %q", w.Code, w.Body)
	}
	if w.Header().Get("Location") != "" {
		t.Fatalf("status %d redirects to %s", w.Code, w.Header().Get("Location"))
	}
	return e
}

// The trackingId of an error is the request id that the request's log line
// carries, with the device id.
func TestTrackingIDIsTheLoggedRequestID(t *testing.T) {
	var logs bytes.Buffer
	h, _, _ := newTestServer(&logs)
	w := serve(h, httptest.NewRequest(http.MethodPost, "/devices/dev-1/messages/events", strings.NewReader("x")))
	e := decodeError(t, w)
	var line struct {
		Msg       string `json:"msg"`
		RequestID string `json:"requestId"`
		DeviceID  string `json:"deviceId"`
		Status    int    `json:"status"`
	}
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	if line.RequestID != e.TrackingID || line.DeviceID != "dev-1" || line.Status != http.StatusUnauthorized {
		t.Fatalf("log line %+v, error trackingId %q", line, e.TrackingID)
	}
	// Another request gets another id; a client's X-Request-Id is not taken.
	logs.Reset()
	r := httptest.NewRequest(http.MethodPost, "/devices/dev-1/messages/events", strings.NewReader("x"))
	r.Header.Set("X-Request-Id", e.TrackingID)
	if e2 := decodeError(t, serve(h, r)); e2.TrackingID == e.TrackingID || e2.TrackingID == "" {
		t.Fatalf("second request tracking id %q", e2.TrackingID)
	}
}

func TestUnroutedRequestsAnswerJSON(t *testing.T) {
	h, _, q := newTestServer(io.Discard)
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{http.MethodHead, "/devices/d1/messages/devicebound", 405, "MethodNotAllowed", "GET"},
		{http.MethodHead, "/devices/d1", 405, "MethodNotAllowed", "GET, PUT, DELETE"},
		{http.MethodPatch, "/devices/d1", 405, "MethodNotAllowed", "GET, PUT, DELETE"},
		{http.MethodGet, "/devices/d1/messages/events", 405, "MethodNotAllowed", "POST"},
		{http.MethodGet, "/nowhere", 404, "NotFound", ""},
		{http.MethodHead, "/nowhere", 404, "NotFound", ""},
		{http.MethodGet, "//devices", 400, "ArgumentInvalid", ""},
		{http.MethodGet, "/devices//messages/devicebound", 400, "ArgumentInvalid", ""},
		{http.MethodGet, "/devices/x/../d1/messages/devicebound", 400, "ArgumentInvalid", ""},
		{http.MethodGet, "/devices/./d1", 400, "ArgumentInvalid", ""},
		{http.MethodPost, "/devices/d1/messages/events/", 404, "NotFound", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/", nil)
			r.URL.Path, r.URL.RawPath = tc.path, ""
			r.Header.Set("Authorization", "ok")
			w := serve(h, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if e := decodeError(t, w); e.Code != tc.code {
				t.Fatalf("code %s, want %s", e.Code, tc.code)
			}
			if got := w.Header().Get("Allow"); got != tc.allow {
				t.Fatalf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
	if q.receives != 0 {
		t.Fatalf("HEAD reached the receive handler %d times (a receive locks a message)", q.receives)
	}
}

// A declared Content-Length sizes the first buffer only up to 64 KB.
func TestReadAllCapsTheFirstBuffer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     int
		declared int64
		maxCap   int
	}{
		{"honest small", 1000, 1000, 1001},
		{"declared 300 KB, sent 10 bytes", 10, 300 << 10, maxFirstRead + 1},
		{"honest 200 KB", 200 << 10, 200 << 10, 256<<10 + 1},
		{"unknown length", 5000, -1, 8192},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := bytes.Repeat([]byte("x"), tc.body)
			got, err := readAll(iotest.HalfReader(bytes.NewReader(body)), tc.declared)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("read %d bytes, err %v", len(got), err)
			}
			if cap(got) > tc.maxCap {
				t.Fatalf("buffer of %d bytes for a %d-byte body declared as %d", cap(got), tc.body, tc.declared)
			}
		})
	}
}

func TestSingleMessageHeaders(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	props := func(kv ...string) []iothub.Property {
		var out []iothub.Property
		for i := 0; i < len(kv); i += 2 {
			out = append(out, iothub.Property{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	many := http.Header{}
	for i := range 64 {
		many.Add("iothub-app-p", string(rune('a'+i%26)))
	}
	for _, tc := range []struct {
		name   string
		h      http.Header
		wantID string
		want   []iothub.Property
		err    bool
	}{
		{"plain", hdr("IoTHub-MessageId", "m1", "iothub-app-B", "2", "iothub-app-a", "1"), "m1", props("a", "1", "b", "2"), false},
		{"a header twice: the last value", hdr("iothub-app-a", "1", "IOTHUB-APP-A", "2"), "", props("a", "2"), false},
		{"message id twice: the last value", hdr("IoTHub-MessageId", "m1", "iothub-messageid", "m2"), "m2", nil, false},
		{"dt-subject wins over iothub-app-dt-subject", hdr("iothub-app-dt-subject", "x", "dt-subject", "y"), "", props("dt-subject", "y"), false},
		{"iothub-app-dt-subject alone", hdr("iothub-app-dt-subject", "x"), "", props("dt-subject", "x"), false},
		{"64 sent", many, "", props("p", "l"), false},
		{"65 sent", func() http.Header { h := many.Clone(); h.Add("iothub-app-q", "1"); return h }(), "", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := singleMessage(tc.h, nil)
			if tc.err {
				if e, ok := apierr.As(err); !ok || e.Name != "ArgumentInvalid" {
					t.Fatalf("err = %v, want ArgumentInvalid", err)
				}
				return
			}
			if err != nil || m.MessageID != tc.wantID || len(m.Properties) != len(tc.want) {
				t.Fatalf("message %+v, err %v", m, err)
			}
			for i := range tc.want {
				if m.Properties[i] != tc.want[i] {
					t.Fatalf("properties %v, want %v", m.Properties, tc.want)
				}
			}
		})
	}
}

// FuzzSingleHeaders builds a header set from the input (name/value pairs,
// sent in order through Header.Add as the server would) and checks the
// single-message rules: never an error but the property cap, names lower
// case and distinct, each the last value sent, and the same message every
// time despite the header map's random order.
func FuzzSingleHeaders(f *testing.F) {
	f.Add("iothub-app-a\x001\x00IOTHUB-APP-A\x002\x00iothub-messageid\x00m1\x00iothub-messageid\x00m2")
	f.Add("dt-subject\x00y\x00iothub-app-dt-subject\x00x")
	f.Add("iothub-app-a b\x001\x00iothub-app-\x00v\x00iothub-userid\x00caf\u00e9")
	f.Fuzz(func(t *testing.T, in string) {
		parts := strings.Split(in, "\x00")
		h := http.Header{}
		last := map[string]string{}
		for i := 0; i+1 < len(parts) && i < 400; i += 2 {
			h.Add(parts[i], parts[i+1])
			last[http.CanonicalHeaderKey(parts[i])] = parts[i+1]
		}
		m, err := singleMessage(h, nil)
		if err != nil {
			if e, ok := apierr.As(err); !ok || !strings.Contains(e.Message, "application properties") {
				t.Fatalf("error %v", err)
			}
			return
		}
		for i := 0; i < 3; i++ {
			again, _ := singleMessage(h, nil)
			if !equalMessages(m, again) {
				t.Fatalf("headers %v: %+v then %+v", h, m, again)
			}
		}
		if m.MessageID != last[hdrMessageID] || m.CorrelationID != last[hdrCorrelationID] {
			t.Fatalf("headers %v: ids %q %q", h, m.MessageID, m.CorrelationID)
		}
		seen := map[string]bool{}
		for _, p := range m.Properties {
			if p.Name != strings.ToLower(p.Name) || seen[p.Name] {
				t.Fatalf("headers %v: properties %v", h, m.Properties)
			}
			seen[p.Name] = true
			key := hdrAppPrefix + p.Name
			if p.Name == "dt-subject" && len(h[hdrDTSubject]) > 0 {
				key = hdrDTSubject
			}
			if v, ok := last[http.CanonicalHeaderKey(key)]; ok && v != p.Value {
				t.Fatalf("headers %v: %s = %q, last sent %q", h, p.Name, p.Value, v)
			}
		}
		_ = d2c.ValidateMessage(&m) // must not panic
	})
}

func equalMessages(a, b d2c.Message) bool {
	if a.MessageID != b.MessageID || a.CorrelationID != b.CorrelationID || a.UserID != b.UserID ||
		a.ContentType != b.ContentType || a.ContentEncoding != b.ContentEncoding || len(a.Properties) != len(b.Properties) {
		return false
	}
	for i := range a.Properties {
		if a.Properties[i] != b.Properties[i] {
			return false
		}
	}
	return true
}
