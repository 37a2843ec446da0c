package d2c_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/telemetry"
	"github.com/devicehub/devicehub/test/testenv"
)

const eventsPath = "/messages/events?api-version=2021-04-12"

func TestIngestSingleAndBatch(t *testing.T) {
	now := time.Now()
	env := testenv.New(t, testenv.Options{Now: func() time.Time { return now }})
	dev := env.CreateDevice(t, "thermo-1")
	gen, _ := env.Hub.Registry.Get(t.Context(), "thermo-1")
	tok := env.DeviceToken(t, dev)

	r := do(t, env, http.MethodPost, "/devices/thermo-1"+eventsPath, tok, map[string]string{
		"IoTHub-MessageId": "m1", "IoTHub-CorrelationId": "c1", "IoTHub-UserId": "u1",
		"iothub-contenttype": "application/json", "iothub-contentencoding": "utf-8",
		"iothub-app-Alert": "true", "iothub-app-level": "3",
		// A device may not claim the properties the hub stamps.
		"iothub-connection-device-id": "someone-else", "iothub-enqueuedtime": "2001-01-01",
	}, []byte(`{"temperature": 21.5}`))
	if r.Status != http.StatusNoContent {
		t.Fatalf("single: %d %s", r.Status, r.Body)
	}
	batch := `[{"body":"` + base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff}) + `","properties":{"iothub-app-Seq":"1","iothub-messageid":"b1"}},` +
		`{"body":"plain text","base64Encoded":false,"properties":{"iothub-app-Seq":"2","iothub-connection-device-id":"forged"}},` +
		`{"body":"` + base64.StdEncoding.EncodeToString([]byte(`{"n":3}`)) + `"}]`
	r = do(t, env, http.MethodPost, "/devices/thermo-1"+eventsPath, tok, map[string]string{"Content-Type": "application/vnd.microsoft.iothub.json"}, []byte(batch))
	if r.Status != http.StatusNoContent {
		t.Fatalf("batch: %d %s", r.Status, r.Body)
	}

	got := env.ReadStream(t)
	if len(got) != 4 {
		t.Fatalf("%d records, want 4", len(got))
	}
	want := telemetry.SystemProperties{
		MessageID: "m1", CorrelationID: "c1", UserID: "u1", ContentType: "application/json", ContentEncoding: "utf-8",
		DeviceID: "thermo-1", AuthGenerationID: gen.GenerationID, AuthMethod: registry.AuthMethodSAS,
		// The v2 record (the default) keeps the enqueued time in milliseconds.
		EnqueuedTime: now.UTC().Truncate(time.Millisecond),
	}
	if got[0].SystemProperties != want {
		t.Fatalf("system properties\n got %+v\nwant %+v", got[0].SystemProperties, want)
	}
	if string(got[0].Body) != `{"temperature": 21.5}` || got[0].Properties["alert"] != "true" || got[0].Properties["level"] != "3" || len(got[0].Properties) != 2 {
		t.Fatalf("single message %+v body %s", got[0].Properties, got[0].Body)
	}
	if string(got[1].Body) != "\x00\x01\x02\xff" || got[1].MessageID != "b1" || got[1].Properties["Seq"] != "1" {
		t.Fatalf("batch[0] %+v %q", got[1].Properties, got[1].Body)
	}
	if string(got[2].Body) != "plain text" || got[2].Properties["Seq"] != "2" || len(got[2].Properties) != 1 || got[2].DeviceID != "thermo-1" {
		t.Fatalf("batch[1] %+v %q", got[2], got[2].Body)
	}
	if string(got[3].Body) != `{"n":3}` {
		t.Fatalf("batch[2] %q", got[3].Body)
	}
	for _, m := range got {
		if m.PartitionKey != "thermo-1" {
			t.Fatalf("partition key %q", m.PartitionKey)
		}
	}
}

func TestIngestRejectsBadInput(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	dev := env.CreateDevice(t, "d1")
	env.CreateDevice(t, "d2")
	off := env.CreateDevice(t, "off")
	if _, err := env.Hub.Registry.Update(t.Context(), "off", registry.Spec{Status: registry.StatusDisabled}, "*"); err != nil {
		t.Fatal(err)
	}
	tok := env.DeviceToken(t, dev)
	expired, _ := dev.Token(time.Now().Add(-2*time.Hour), time.Hour)
	wrongKey := dev
	wrongKey.SharedAccessKey = registry.NewKey()
	bigBody := strings.Repeat("x", 256<<10+1)
	var bigBatch strings.Builder
	bigBatch.WriteString("[")
	for i := range 3 {
		if i > 0 {
			bigBatch.WriteString(",")
		}
		bigBatch.WriteString(`{"body":"` + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("y", 100<<10))) + `"}`)
	}
	bigBatch.WriteString("]")
	batchCT := map[string]string{"Content-Type": "application/vnd.microsoft.iothub.json"}
	cases := []struct {
		name   string
		device string
		auth   string
		hdr    map[string]string
		body   string
		status int
		code   string
	}{
		{"no token", "d1", "", nil, "x", 401, "IotHubUnauthorizedAccess"},
		{"malformed token", "d1", "SharedAccessSignature sr=x&sig=y", nil, "x", 401, "IotHubUnauthorizedAccess"},
		{"not a SAS", "d1", "Bearer abc", nil, "x", 401, "IotHubUnauthorizedAccess"},
		{"expired token", "d1", expired, nil, "x", 401, "IotHubUnauthorizedAccess"},
		{"wrong key", "d1", env.DeviceToken(t, wrongKey), nil, "x", 401, "IotHubUnauthorizedAccess"},
		{"another device's token", "d2", tok, nil, "x", 401, "IotHubUnauthorizedAccess"},
		{"owner token is not a device token", "d1", env.OwnerToken(t), nil, "x", 401, "IotHubUnauthorizedAccess"},
		{"disabled device", "off", env.DeviceToken(t, off), nil, "x", 401, "IotHubUnauthorizedAccess"},
		{"unknown device", "ghost", tok, nil, "x", 401, "IotHubUnauthorizedAccess"},
		{"invalid device id", "a%20b", tok, nil, "x", 400, "ArgumentInvalid"},
		{"oversized message", "d1", tok, nil, bigBody, 413, "MessageTooLarge"},
		{"oversized batch", "d1", tok, batchCT, bigBatch.String(), 413, "MessageTooLarge"},
		{"malformed batch JSON", "d1", tok, batchCT, `[{"body":"eA=="`, 400, "ArgumentInvalid"},
		{"batch with unescaped quote", "d1", tok, batchCT, `[{"body":"eA==","properties":{"iothub-app-a":"x"y"}}]`, 400, "ArgumentInvalid"},
		{"batch not an array", "d1", tok, batchCT, `{"body":"eA=="}`, 400, "ArgumentInvalid"},
		{"empty batch", "d1", tok, batchCT, `[]`, 400, "ArgumentInvalid"},
		{"batch body not base64", "d1", tok, batchCT, `[{"body":"%%%"}]`, 400, "ArgumentInvalid"},
		{"batch body missing", "d1", tok, batchCT, `[{"properties":{}}]`, 400, "ArgumentInvalid"},
		// Over HTTP headers every legal header name is a legal property name
		// (both are RFC 7230 tokens), so bad names only arrive in a batch.
		{"bad property name in batch", "d1", tok, batchCT, `[{"body":"eA==","properties":{"iothub-app-a(b)":"1"}}]`, 400, "ArgumentInvalid"},
		{"bad property value", "d1", tok, map[string]string{"iothub-app-a": "x y"}, "x", 400, "ArgumentInvalid"},
		{"bad property in batch", "d1", tok, batchCT, `[{"body":"eA==","properties":{"iothub-app-ok":"1"}},{"body":"eA==","properties":{"iothub-app-a b":"1"}}]`, 400, "ArgumentInvalid"},
		{"message id too long", "d1", tok, map[string]string{"IoTHub-MessageId": strings.Repeat("m", 129)}, "x", 400, "ArgumentInvalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, env, http.MethodPost, "/devices/"+tc.device+eventsPath, tc.auth, tc.hdr, []byte(tc.body))
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if e := r.ErrorBody(t); e.Code != tc.code {
				t.Fatalf("code %q, want %q", e.Code, tc.code)
			}
		})
	}
	if got := env.ReadStream(t); len(got) != 0 {
		t.Fatalf("%d records reached the stream from refused requests", len(got))
	}
}

func TestIngestDisabledAtOnceInProcess(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	dev := env.CreateDevice(t, "d1")
	tok := env.DeviceToken(t, dev)
	if r := do(t, env, http.MethodPost, "/devices/d1"+eventsPath, tok, nil, []byte("1")); r.Status != 204 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	owner := env.OwnerToken(t)
	if r := do(t, env, http.MethodPut, "/devices/d1?api-version=2021-04-12", owner, map[string]string{"If-Match": "*"}, []byte(`{"status":"disabled"}`)); r.Status != 200 {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	if r := do(t, env, http.MethodPost, "/devices/d1"+eventsPath, tok, nil, []byte("2")); r.Status != 401 {
		t.Fatalf("disabled device sent: %d", r.Status)
	}
	if r := do(t, env, http.MethodDelete, "/devices/d1?api-version=2021-04-12", owner, nil, nil); r.Status != 204 {
		t.Fatalf("delete: %d", r.Status)
	}
	if r := do(t, env, http.MethodPost, "/devices/d1"+eventsPath, tok, nil, []byte("3")); r.Status != 401 {
		t.Fatalf("deleted device sent: %d", r.Status)
	}
	if got := env.ReadStream(t); len(got) != 1 || string(got[0].Body) != "1" {
		t.Fatalf("stream %v", got)
	}
}

// Kinesis rejects records 3 and 7 of a 10-message batch while accepting the
// others; the hub must resend from record 3 on, so the stream's final run for
// the device holds all ten in order.
func TestIngestOrderWhenKinesisRejectsPartOfARequest(t *testing.T) {
	kin, _ := testenv.Endpoints()
	proxy := newFaultProxy(t, kin)
	proxy.plan[0] = []int{3, 7}
	env := testenv.New(t, testenv.Options{KinesisEndpoint: proxy.srv.URL, Shards: 1})
	dev := env.CreateDevice(t, "d1")
	var items []string
	for i := range 10 {
		items = append(items, fmt.Sprintf(`{"body":"%s"}`, base64.StdEncoding.EncodeToString([]byte(fmt.Sprint(i)))))
	}
	r := do(t, env, http.MethodPost, "/devices/d1"+eventsPath, env.DeviceToken(t, dev),
		map[string]string{"Content-Type": "application/vnd.microsoft.iothub.json"}, []byte("["+strings.Join(items, ",")+"]"))
	if r.Status != http.StatusNoContent {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var bodies []string
	for _, m := range env.ReadStream(t) {
		bodies = append(bodies, string(m.Body))
	}
	// First attempt wrote 0,1,2,4,5,6,8,9; the retry wrote 3..9.
	want := "0,1,2,4,5,6,8,9,3,4,5,6,7,8,9"
	if strings.Join(bodies, ",") != want {
		t.Fatalf("stream %v, want %s", bodies, want)
	}
	if proxy.putCalls != 2 || proxy.callSizes[1] != 7 {
		t.Fatalf("put calls %d sizes %v", proxy.putCalls, proxy.callSizes)
	}
}

func TestIngestThrottlingAndOutage(t *testing.T) {
	kin, _ := testenv.Endpoints()
	cases := []struct {
		name   string
		set    func(*faultProxy)
		status int
		code   string
	}{
		{"throttled", func(p *faultProxy) { p.throttle = true }, 429, "ThrottlingException"},
		{"outage", func(p *faultProxy) { p.down = true }, 503, "ServiceUnavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proxy := newFaultProxy(t, kin)
			tc.set(proxy)
			env := testenv.New(t, testenv.Options{KinesisEndpoint: proxy.srv.URL})
			dev := env.CreateDevice(t, "d1")
			r := do(t, env, http.MethodPost, "/devices/d1"+eventsPath, env.DeviceToken(t, dev), nil, []byte("x"))
			if r.Status != tc.status || r.Header.Get("Retry-After") == "" {
				t.Fatalf("status %d Retry-After %q: %s", r.Status, r.Header.Get("Retry-After"), r.Body)
			}
			if e := r.ErrorBody(t); e.Code != tc.code {
				t.Fatalf("code %s", e.Code)
			}
			if got := env.ReadStream(t); len(got) != 0 {
				t.Fatalf("%d records in the stream", len(got))
			}
		})
	}
}
