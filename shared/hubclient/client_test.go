package hubclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
)

const (
	testHost = "hub.example.com"
	query    = "api-version=" + APIVersion
)

var (
	testNow  = time.Unix(1_700_000_000, 0)
	ownerKey = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("o", 32)))
	devKey   = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("d", 32)))
)

// request is what the hub saw.
type request struct {
	Method, Path, Query string // Path as sent on the wire (escaped)
	Header              http.Header
	Body                []byte
}

// reply is what the hub answers; the zero reply is 204 No Content.
type reply struct {
	status int
	header map[string]string
	body   string
}

// fakeHub answers with replies in order and records every request.
type fakeHub struct {
	mu      sync.Mutex
	replies []reply
	got     []request
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.got = append(h.got, request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	var rep reply
	if len(h.replies) > 0 {
		rep, h.replies = h.replies[0], h.replies[1:]
	}
	h.mu.Unlock()
	if rep.status == 0 {
		rep.status = http.StatusNoContent
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (h *fakeHub) requests() []request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]request(nil), h.got...)
}

// clients returns a service and a device client of a fake hub answering replies.
func clients(t *testing.T, replies ...reply) (svc, dev *Client, hub *fakeHub) {
	t.Helper()
	hub = &fakeHub{replies: replies}
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	svc = New(srv.URL+"/", sas.ConnectionString{HostName: testHost, SharedAccessKeyName: "iothubowner", SharedAccessKey: ownerKey})
	dev = New(srv.URL, sas.ConnectionString{HostName: testHost, DeviceID: "dev-1", SharedAccessKey: devKey})
	for _, c := range []*Client{svc, dev} {
		c.Now = func() time.Time { return testNow }
	}
	return svc, dev, hub
}

// checkAuth verifies the SAS token the client signed: the resource and key
// name of its connection string, its key, an hour from the client's clock.
func checkAuth(t *testing.T, r request, resource, keyName, key string) {
	t.Helper()
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "SharedAccessSignature sr=") {
		t.Fatalf("Authorization = %q, want a SharedAccessSignature", h)
	}
	tok, err := sas.Parse(h)
	if err != nil {
		t.Fatalf("Authorization %q: %v", h, err)
	}
	raw, _ := base64.StdEncoding.DecodeString(key)
	if err := tok.Verify(sas.NewKey(raw), testNow); err != nil {
		t.Errorf("token does not verify with the key: %v", err)
	}
	if tok.Resource != resource || tok.KeyName != keyName || !tok.Expiry.Equal(testNow.Add(time.Hour)) {
		t.Errorf("token sr=%q skn=%q se=%v, want %q %q %v", tok.Resource, tok.KeyName, tok.Expiry, resource, keyName, testNow.Add(time.Hour))
	}
}

func deviceJSON(id, status string) string {
	b, _ := json.Marshal(iothub.Device{DeviceID: id, Status: status, ETag: "MQ==", GenerationID: "g1",
		Authentication: iothub.Authentication{SymmetricKey: &iothub.SymmetricKey{PrimaryKey: devKey, SecondaryKey: ownerKey}}})
	return string(b)
}

func TestRequests(t *testing.T) {
	ctx := context.Background()
	expiry := time.Date(2026, 11, 26, 8, 23, 45, 500_000_000, time.FixedZone("CET", 3600))
	cases := []struct {
		name   string
		device bool // the call is the device's
		reply  reply
		call   func(svc, dev *Client) (any, error)
		method string
		path   string
		query  string            // default: api-version only
		header map[string]string // "" means the header must be absent
		body   string            // exact; JSON bodies are compared as JSON
		want   any               // the call's result
	}{
		{
			name:  "create disabled",
			reply: reply{status: 200, body: deviceJSON("thermostat-1", "disabled")},
			call: func(svc, _ *Client) (any, error) {
				return svc.CreateDevice(ctx, "thermostat-1", iothub.Device{Status: "disabled"})
			},
			method: "PUT", path: "/devices/thermostat-1",
			header: map[string]string{"Content-Type": "application/json; charset=utf-8", "If-Match": ""},
			body:   `{"deviceId":"thermostat-1","status":"disabled","statusReason":null,"cloudToDeviceMessageCount":0,"authentication":{}}`,
			want: iothub.Device{DeviceID: "thermostat-1", Status: "disabled", ETag: "MQ==", GenerationID: "g1",
				Authentication: iothub.Authentication{SymmetricKey: &iothub.SymmetricKey{PrimaryKey: devKey, SecondaryKey: ownerKey}}},
		},
		{
			name:  "device id encoded as the SDKs do",
			reply: reply{status: 200, body: deviceJSON("a b(1)*", "enabled")},
			call: func(svc, _ *Client) (any, error) {
				d, err := svc.GetDevice(ctx, "a b(1)*")
				return d.DeviceID, err
			},
			method: "GET", path: "/devices/a%20b%281%29%2A", want: "a b(1)*",
		},
		{
			name:  "update any version",
			reply: reply{status: 200, body: deviceJSON("d", "enabled")},
			call: func(svc, _ *Client) (any, error) {
				d, err := svc.UpdateDevice(ctx, "d", iothub.Device{Status: "enabled"}, "")
				return d.Status, err
			},
			method: "PUT", path: "/devices/d", header: map[string]string{"If-Match": `"*"`},
			body: `{"deviceId":"d","status":"enabled","statusReason":null,"cloudToDeviceMessageCount":0,"authentication":{}}`,
			want: "enabled",
		},
		{
			name:  "update bare etag is quoted",
			reply: reply{status: 200, body: deviceJSON("d", "enabled")},
			call: func(svc, _ *Client) (any, error) {
				_, err := svc.UpdateDevice(ctx, "d", iothub.Device{}, "MQ==")
				return nil, err
			},
			method: "PUT", path: "/devices/d", header: map[string]string{"If-Match": `"MQ=="`},
			body: `{"deviceId":"d","statusReason":null,"cloudToDeviceMessageCount":0,"authentication":{}}`,
		},
		{
			name:  "update quoted etag is not quoted twice",
			reply: reply{status: 200, body: deviceJSON("d", "enabled")},
			call: func(svc, _ *Client) (any, error) {
				_, err := svc.UpdateDevice(ctx, "d", iothub.Device{}, `"MQ=="`)
				return nil, err
			},
			method: "PUT", path: "/devices/d", header: map[string]string{"If-Match": `"MQ=="`},
			body: `{"deviceId":"d","statusReason":null,"cloudToDeviceMessageCount":0,"authentication":{}}`,
		},
		{
			name:  "get twin",
			reply: reply{status: 200, body: `{"deviceId":"a b","etag":"AAAAAAAAAAI=","version":2,"tags":{"site":"b43"},"properties":{"desired":{"$version":1},"reported":{"$version":1}}}`},
			call: func(svc, _ *Client) (any, error) {
				tw, err := svc.GetTwin(ctx, "a b")
				return []any{tw.ETag, tw.Version, tw.Tags["site"]}, err
			},
			method: "GET", path: "/twins/a%20b", want: []any{"AAAAAAAAAAI=", int64(2), "b43"},
		},
		{
			name:  "update tags: a merge patch, etag quoted",
			reply: reply{status: 200, body: `{"deviceId":"d","etag":"AAAAAAAAAAM=","version":3,"properties":{}}`},
			call: func(svc, _ *Client) (any, error) {
				tw, err := svc.UpdateTags(ctx, "d", map[string]any{"site": "b44", "old": nil}, "AAAAAAAAAAI=")
				return tw.ETag, err
			},
			method: "PATCH", path: "/twins/d", header: map[string]string{"If-Match": `"AAAAAAAAAAI="`, "Content-Type": "application/json; charset=utf-8"},
			body: `{"tags":{"old":null,"site":"b44"}}`, want: "AAAAAAAAAAM=",
		},
		{
			name:  "replace tags with none, any version",
			reply: reply{status: 200, body: `{"deviceId":"d","etag":"AAAAAAAAAAM=","version":3,"properties":{}}`},
			call: func(svc, _ *Client) (any, error) {
				_, err := svc.ReplaceTags(ctx, "d", nil, "")
				return nil, err
			},
			method: "PUT", path: "/twins/d", header: map[string]string{"If-Match": `"*"`}, body: `{}`,
		},
		{
			name:   "delete any version",
			call:   func(svc, _ *Client) (any, error) { return nil, svc.DeleteDevice(ctx, "d", "") },
			method: "DELETE", path: "/devices/d", header: map[string]string{"If-Match": ""},
		},
		{
			name:   "delete one version",
			call:   func(svc, _ *Client) (any, error) { return nil, svc.DeleteDevice(ctx, "d", "Mg==") },
			method: "DELETE", path: "/devices/d", header: map[string]string{"If-Match": `"Mg=="`},
		},
		{
			name: "send C2D",
			reply: reply{status: 200, body: `{"deviceId":"d","messageId":"m1","sequenceNumber":7,` +
				`"enqueuedTimeUtc":"2026-11-26T07:00:00Z","expiryTimeUtc":"2026-11-26T08:00:00Z"}`},
			call: func(svc, _ *Client) (any, error) {
				return svc.SendC2D(ctx, "d", C2DMessage{Body: []byte("hello"), MessageID: "m1", CorrelationID: "c1", UserID: "u1",
					ContentType: "text/plain", ContentEncoding: "utf-8", Ack: "full", Expiry: expiry, Properties: map[string]string{"color": "red"}})
			},
			method: "POST", path: "/devices/d/messages/devicebound",
			header: map[string]string{"iothub-messageid": "m1", "iothub-correlationid": "c1", "iothub-userid": "u1",
				"iothub-contenttype": "text/plain", "iothub-contentencoding": "utf-8", "iothub-ack": "full",
				"iothub-expiry": "2026-11-26T07:23:45.5Z", "iothub-app-color": "red"},
			body: "hello",
			want: iothub.C2DSent{DeviceID: "d", MessageID: "m1", SequenceNumber: 7,
				EnqueuedTime: time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC), Expiry: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)},
		},
		{
			name:  "send C2D with defaults sets no optional header",
			reply: reply{status: 200, body: `{"deviceId":"d","messageId":"gen"}`},
			call: func(svc, _ *Client) (any, error) {
				s, err := svc.SendC2D(ctx, "d", C2DMessage{})
				return s.MessageID, err
			},
			method: "POST", path: "/devices/d/messages/devicebound",
			header: map[string]string{"iothub-messageid": "", "iothub-ack": "", "iothub-expiry": ""},
			want:   "gen",
		},
		{
			name:   "purge",
			reply:  reply{status: 200, body: `{"deviceId":"d","totalMessagesPurged":3}`},
			call:   func(svc, _ *Client) (any, error) { return svc.PurgeC2D(ctx, "d") },
			method: "DELETE", path: "/devices/d/commands",
			want: iothub.PurgeResult{DeviceID: "d", TotalMessagesPurged: 3},
		},
		{
			name:  "status: the message id is one path segment",
			reply: reply{status: 200, body: `[{"deviceId":"d","messageId":"m/1","state":"Completed","ack":"none"}]`},
			call: func(svc, _ *Client) (any, error) {
				return svc.C2DStatus(ctx, "d", "m/1")
			},
			method: "GET", path: "/devices/d/c2d/messages/m%2F1",
			want: []iothub.C2DStatus{{DeviceID: "d", MessageID: "m/1", State: "Completed", Ack: "none"}},
		},
		{
			name:   "requeue",
			reply:  reply{status: 200, body: `{"deviceId":"d","messageId":"m1","sequenceNumber":9}`},
			call:   func(svc, _ *Client) (any, error) { return svc.RequeueC2D(ctx, "d", "m1") },
			method: "POST", path: "/devices/d/c2d/deadletters/m1/requeue",
			want: iothub.C2DSent{DeviceID: "d", MessageID: "m1", SequenceNumber: 9},
		},
		{
			name: "dead letters: one page, its continuation passed on and returned",
			reply: reply{status: 200, header: map[string]string{"x-ms-continuation": "next-2"},
				body: `[{"deviceId":"d","messageId":"m1","state":"DeadLettered","reason":"Rejected","ack":"full"}]`},
			call: func(svc, _ *Client) (any, error) {
				page, next, err := svc.C2DDeadLetters(ctx, "d", 5, "next-1")
				return []any{len(page), page[0].Reason, next}, err
			},
			method: "GET", path: "/devices/d/c2d/deadletters", query: "top=5&" + query,
			header: map[string]string{"x-ms-continuation": "next-1"},
			want:   []any{1, "Rejected", "next-2"},
		},
		{
			name: "receive feedback",
			reply: reply{status: 200, header: map[string]string{"ETag": `"lock-1"`},
				body: `[{"originalMessageId":"m1","deviceId":"d","statusCode":"Success","description":"Success"}]`},
			call:   func(svc, _ *Client) (any, error) { return svc.ReceiveFeedback(ctx) },
			method: "GET", path: "/messages/serviceBound/feedback",
			want: &FeedbackBatch{LockToken: "lock-1", Records: []iothub.FeedbackRecord{
				{OriginalMessageID: "m1", DeviceID: "d", StatusCode: iothub.StatusSuccess, Description: "Success"}}},
		},
		{
			name:   "no feedback",
			reply:  reply{status: 204},
			call:   func(svc, _ *Client) (any, error) { return svc.ReceiveFeedback(ctx) },
			method: "GET", path: "/messages/serviceBound/feedback",
			want: (*FeedbackBatch)(nil),
		},
		{
			name:   "complete feedback",
			call:   func(svc, _ *Client) (any, error) { return nil, svc.CompleteFeedback(ctx, "lock-1") },
			method: "DELETE", path: "/messages/serviceBound/feedback/lock-1",
		},
		{
			name:   "abandon feedback",
			call:   func(svc, _ *Client) (any, error) { return nil, svc.AbandonFeedback(ctx, "lock-1") },
			method: "POST", path: "/messages/serviceBound/feedback/lock-1/abandon",
		},
		{
			name:   "send event",
			device: true,
			call: func(_, dev *Client) (any, error) {
				return nil, dev.SendEvent(ctx, Message{Body: []byte{0, 1, 2}, MessageID: "m1", CorrelationID: "c1",
					ContentType: "application/octet-stream", ContentEncoding: "binary", Properties: map[string]string{"Alert": "true"}})
			},
			method: "POST", path: "/devices/dev-1/messages/events",
			header: map[string]string{"iothub-to": "/devices/dev-1/messages/events", "IoTHub-MessageId": "m1", "IoTHub-CorrelationId": "c1",
				"iothub-contenttype": "application/octet-stream", "iothub-contentencoding": "binary", "iothub-app-Alert": "true"},
			body: "\x00\x01\x02",
		},
		{
			name:   "send a batch",
			device: true,
			call: func(_, dev *Client) (any, error) {
				return nil, dev.SendEventBatch(ctx, []Message{
					{Body: []byte("one"), MessageID: "b-0", Properties: map[string]string{"Kind": "batch"}},
					{Body: []byte{0xff}, CorrelationID: "c", ContentType: "x/y", ContentEncoding: "e"},
				})
			},
			method: "POST", path: "/devices/dev-1/messages/events",
			header: map[string]string{"Content-Type": iothub.BatchContentType, "iothub-to": "/devices/dev-1/messages/events"},
			body: `[{"body":"b25l","properties":{"iothub-app-Kind":"batch","iothub-messageid":"b-0"}},` +
				`{"body":"/w==","properties":{"iothub-correlationid":"c","iothub-contenttype":"x/y","iothub-contentencoding":"e"}}]`,
		},
		{
			name:   "receive C2D",
			device: true,
			reply: reply{status: 200, body: "hi", header: map[string]string{
				"ETag": `"0000-lock"`, "iothub-messageid": "m1", "iothub-correlationid": "c1", "iothub-userid": "u1",
				"iothub-ack": "full", "iothub-sequencenumber": "42", "iothub-deliverycount": "2",
				"iothub-enqueuedtime": "2026-11-26T07:00:00.5Z", "iothub-expiry": "2026-11-26T08:00:00Z",
				"ContentType": "text/plain", "ContentEncoding": "utf-8", "Content-Type": "text/plain",
				"iothub-app-color": "red"}},
			call:   func(_, dev *Client) (any, error) { return dev.ReceiveC2D(ctx) },
			method: "GET", path: "/devices/dev-1/messages/devicebound",
			header: map[string]string{"iothub-to": "/devices/dev-1/messages/devicebound"},
			want: &C2DDelivery{LockToken: "0000-lock", MessageID: "m1", CorrelationID: "c1", UserID: "u1",
				ContentType: "text/plain", ContentEncoding: "utf-8", SequenceNumber: 42, DeliveryCount: 2, Ack: "full",
				EnqueuedTime: time.Date(2026, 11, 26, 7, 0, 0, 5e8, time.UTC), Expiry: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC),
				Properties: map[string]string{"color": "red"}, Body: []byte("hi")},
		},
		{
			name:   "no C2D message",
			device: true,
			reply:  reply{status: 204},
			call:   func(_, dev *Client) (any, error) { return dev.ReceiveC2D(ctx) },
			method: "GET", path: "/devices/dev-1/messages/devicebound",
			want: (*C2DDelivery)(nil),
		},
		{
			name:   "complete C2D",
			device: true,
			call:   func(_, dev *Client) (any, error) { return nil, dev.CompleteC2D(ctx, "0000-lock") },
			method: "DELETE", path: "/devices/dev-1/messages/devicebound/0000-lock",
			header: map[string]string{"If-Match": `"0000-lock"`},
		},
		{
			name:   "reject C2D",
			device: true,
			call:   func(_, dev *Client) (any, error) { return nil, dev.RejectC2D(ctx, "0000-lock") },
			method: "DELETE", path: "/devices/dev-1/messages/devicebound/0000-lock", query: "reject&" + query,
			header: map[string]string{"If-Match": `"0000-lock"`},
		},
		{
			name:   "abandon C2D",
			device: true,
			call:   func(_, dev *Client) (any, error) { return nil, dev.AbandonC2D(ctx, "0000-lock") },
			method: "POST", path: "/devices/dev-1/messages/devicebound/0000-lock/abandon",
			header: map[string]string{"If-Match": `"0000-lock"`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc, dev, hub := clients(t, tc.reply)
			got, err := tc.call(svc, dev)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("result:\n got %#v\nwant %#v", got, tc.want)
			}
			reqs := hub.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if tc.query == "" {
				tc.query = query
			}
			if r.Method != tc.method || r.Path != tc.path || r.Query != tc.query {
				t.Errorf("request %s %s?%s, want %s %s?%s", r.Method, r.Path, r.Query, tc.method, tc.path, tc.query)
			}
			for k, v := range tc.header {
				if vs := r.Header.Values(k); v == "" && len(vs) != 0 || v != "" && (len(vs) != 1 || vs[0] != v) {
					t.Errorf("header %s = %q, want %q", k, vs, v)
				}
			}
			if tc.device {
				checkAuth(t, r, testHost+"/devices/dev-1", "", devKey)
			} else {
				checkAuth(t, r, testHost, "iothubowner", ownerKey)
			}
			if strings.HasPrefix(tc.body, "[") || strings.HasPrefix(tc.body, "{") {
				var g, w any
				if err := json.Unmarshal(r.Body, &g); err != nil {
					t.Fatalf("body %s: %v", r.Body, err)
				}
				_ = json.Unmarshal([]byte(tc.body), &w)
				if !reflect.DeepEqual(g, w) {
					t.Errorf("body %s, want %s", r.Body, tc.body)
				}
			} else if string(r.Body) != tc.body {
				t.Errorf("body %q, want %q", r.Body, tc.body)
			}
		})
	}
}

// ListDevices follows x-ms-continuation until the hub sends none.
func TestListDevicesPages(t *testing.T) {
	svc, _, hub := clients(t,
		reply{status: 200, header: map[string]string{"x-ms-continuation": "page-2"},
			body: "[" + deviceJSON("a", "enabled") + "," + deviceJSON("b", "disabled") + "]"},
		reply{status: 200, body: "[" + deviceJSON("c", "enabled") + "]"},
	)
	devs, err := svc.ListDevices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range devs {
		ids = append(ids, d.DeviceID+"/"+d.Status)
	}
	if got := strings.Join(ids, " "); got != "a/enabled b/disabled c/enabled" {
		t.Errorf("devices %s", got)
	}
	reqs := hub.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for i, wantCont := range []string{"", "page-2"} {
		r := reqs[i]
		if r.Method != "GET" || r.Path != "/devices" || r.Query != "top=1000&"+query {
			t.Errorf("request %d: %s %s?%s", i, r.Method, r.Path, r.Query)
		}
		if got := r.Header.Get("x-ms-continuation"); got != wantCont {
			t.Errorf("request %d: continuation %q, want %q", i, got, wantCont)
		}
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name  string
		reply reply
		want  Error
		text  string
	}{
		{
			name: "IoT Hub error body",
			reply: reply{status: 404, body: `{"errorCode":404001,"code":"DeviceNotFound","message":"no device d",` +
				`"trackingId":"t-1","timestampUtc":"2026-11-26T08:23:45.5Z"}`},
			want: Error{Status: 404, Body: iothub.ErrorBody{ErrorCode: 404001, Code: "DeviceNotFound", Message: "no device d",
				TrackingID: "t-1", TimestampUTC: "2026-11-26T08:23:45.5Z"}},
			text: "hub answered 404 DeviceNotFound: no device d",
		},
		{
			name: "throttled with Retry-After",
			reply: reply{status: 429, header: map[string]string{"Retry-After": "7"},
				body: `{"errorCode":429001,"code":"ThrottlingException","message":"slow down"}`},
			want: Error{Status: 429, RetryAfter: 7 * time.Second,
				Body: iothub.ErrorBody{ErrorCode: 429001, Code: "ThrottlingException", Message: "slow down"}},
			text: "hub answered 429 ThrottlingException: slow down",
		},
		{
			name:  "a proxy's plain text",
			reply: reply{status: 502, body: "Bad Gateway\n"},
			want:  Error{Status: 502, Body: iothub.ErrorBody{Message: "Bad Gateway"}},
			text:  "hub answered 502: Bad Gateway",
		},
		{
			name:  "no body",
			reply: reply{status: 503},
			want:  Error{Status: 503},
			text:  "hub answered 503",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc, _, _ := clients(t, tc.reply)
			_, err := svc.GetDevice(context.Background(), "d")
			var he *Error
			if !errors.As(err, &he) {
				t.Fatalf("error %v (%T), want *hubclient.Error", err, err)
			}
			if !reflect.DeepEqual(*he, tc.want) {
				t.Errorf("error\n got %+v\nwant %+v", *he, tc.want)
			}
			if err.Error() != tc.text {
				t.Errorf("Error() = %q, want %q", err.Error(), tc.text)
			}
		})
	}
}

func TestMisuse(t *testing.T) {
	ctx := context.Background()
	t.Run("device calls need a device connection string", func(t *testing.T) {
		svc, _, hub := clients(t)
		for name, err := range map[string]error{
			"SendEvent":   svc.SendEvent(ctx, Message{}),
			"ReceiveC2D":  func() error { _, err := svc.ReceiveC2D(ctx); return err }(),
			"CompleteC2D": svc.CompleteC2D(ctx, "l"),
		} {
			if err == nil || !strings.Contains(err.Error(), "device connection string is required") {
				t.Errorf("%s as the service: %v", name, err)
			}
		}
		if n := len(hub.requests()); n != 0 {
			t.Errorf("%d requests sent", n)
		}
	})
	t.Run("an answer that is not JSON", func(t *testing.T) {
		svc, _, _ := clients(t, reply{status: 200, body: "<html>"})
		_, err := svc.GetDevice(ctx, "d")
		if err == nil || !strings.Contains(err.Error(), "decode GET /devices/d") {
			t.Errorf("error %v, want a decode error naming the request", err)
		}
	})
	t.Run("an unreachable hub", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		c := New(srv.URL, sas.ConnectionString{HostName: testHost, SharedAccessKeyName: "iothubowner", SharedAccessKey: ownerKey})
		_, err := c.GetDevice(ctx, "d")
		var he *Error
		if err == nil || errors.As(err, &he) || !strings.Contains(err.Error(), `Get "`+srv.URL+`/devices/d?`) {
			t.Errorf("error %v, want a transport error naming the request", err)
		}
	})
}

func TestDeliveryJSONIsCamelCase(t *testing.T) {
	b, err := json.Marshal(C2DDelivery{LockToken: "l", MessageID: "m", SequenceNumber: 1, Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k := range m {
		if k[0] < 'a' || k[0] > 'z' {
			t.Errorf("key %q in %s is not camelCase", k, b)
		}
	}
	if m["lockToken"] != "l" || m["messageId"] != "m" || m["body"] != "eA==" {
		t.Errorf("delivery JSON %s", b)
	}
}
