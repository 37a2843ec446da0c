package security

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/test/testenv"
)

// batch builds a JSON batch of n messages, each with the given extra JSON
// members after its body.
func batch(n int, extra string) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"body":"eA=="` + extra + `}`)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// props is a JSON properties object of n distinct application properties.
func props(n int) string {
	var b strings.Builder
	b.WriteString(`,"properties":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"iothub-app-p%d":"v"`, i)
	}
	b.WriteByte('}')
	return b.String()
}

// The bad-input matrix of docs/SECURITY.md: hostile and careless requests,
// each with the status and IoT Hub error code it must get. None may answer
// 2xx or 5xx, and every answer is IoT Hub's JSON error.
func TestHostileRequests(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	d1 := env.CreateDevice(t, "d1")
	off := env.CreateDevice(t, "off")
	if _, err := env.Hub.Registry.Update(t.Context(), "off", registry.Spec{Status: registry.StatusDisabled}, "*"); err != nil {
		t.Fatal(err)
	}
	dev := env.DeviceToken(t, d1)
	owner := env.OwnerToken(t)
	sign := func(sr, key, skn string, exp time.Duration) string {
		tok, err := sas.New(sr, key, skn, env.Now().Add(exp))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	host := testenv.Host
	const events = "/devices/d1/messages/events"
	const c2d = "/devices/d1/messages/devicebound"
	jsonBatch := map[string]string{"Content-Type": "application/vnd.microsoft.iothub.json"}
	big := func(n int) []byte { return []byte(strings.Repeat("x", n)) }

	rows := []struct {
		name, method, path, auth string
		hdr                      map[string]string
		body                     []byte
		status                   int
		code                     string
	}{
		// Credentials.
		{"no Authorization", "POST", events, "", nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"Basic scheme", "POST", events, "Basic ZDE6eA==", nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"SAS without sig", "POST", events, "SharedAccessSignature sr=" + host + "%2Fdevices%2Fd1&se=9999999999", nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"sig not base64", "POST", events, "SharedAccessSignature sr=" + host + "%2Fdevices%2Fd1&sig=!!!&se=9999999999", nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"se not a number", "POST", events, "SharedAccessSignature sr=" + host + "%2Fdevices%2Fd1&sig=YQ%3D%3D&se=soon", nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"se negative", "POST", events, "SharedAccessSignature sr=" + host + "%2Fdevices%2Fd1&sig=YQ%3D%3D&se=-5", nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"expired token", "POST", events, sign(host+"/devices/d1", d1.SharedAccessKey, "", -time.Second), nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"token for another hub", "POST", events, sign("evil.example/devices/d1", d1.SharedAccessKey, "", time.Hour), nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"token for another device", "POST", "/devices/off/messages/events", dev, nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"hub-scoped device key", "POST", events, sign(host, d1.SharedAccessKey, "", time.Hour), nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"owner token on a device route", "POST", events, owner, nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"device key posing as owner", "GET", "/devices", sign(host, d1.SharedAccessKey, "iothubowner", time.Hour), nil, nil, 401, "IotHubUnauthorizedAccess"},
		{"device token on the registry", "GET", "/devices/d1", dev, nil, nil, 401, "IotHubUnauthorizedAccess"},
		{"disabled device", "POST", "/devices/off/messages/events", sign(host+"/devices/off", off.SharedAccessKey, "", time.Hour), nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"unknown device", "POST", "/devices/ghost/messages/events", sign(host+"/devices/ghost", d1.SharedAccessKey, "", time.Hour), nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"8 KB of token garbage", "POST", events, "SharedAccessSignature " + strings.Repeat("sr=&", 2048), nil, []byte("x"), 401, "IotHubUnauthorizedAccess"},
		{"another device's C2D", "GET", "/devices/off/messages/devicebound", dev, nil, nil, 401, "IotHubUnauthorizedAccess"},
		{"junk-scoped owner token", "GET", "/devices", sign(host+"/anything/at/all", env.OwnerConn.SharedAccessKey, "iothubowner", time.Hour), nil, nil, 401, "IotHubUnauthorizedAccess"},
		{"device-scoped owner token lists", "GET", "/devices", sign(host+"/devices/d1", env.OwnerConn.SharedAccessKey, "iothubowner", time.Hour), nil, nil, 401, "IotHubUnauthorizedAccess"},
		{"device-scoped owner token deletes another", "DELETE", "/devices/off", sign(host+"/devices/d1", env.OwnerConn.SharedAccessKey, "iothubowner", time.Hour), nil, nil, 401, "IotHubUnauthorizedAccess"},

		// Device ids and the registry.
		{"device id ..", "PUT", "/devices/%2E%2E", owner, nil, []byte(`{}`), 400, "ArgumentInvalid"},
		{"device id .", "PUT", "/devices/%2E", owner, nil, []byte(`{}`), 400, "ArgumentInvalid"},
		{"device id of 129 characters", "PUT", "/devices/" + strings.Repeat("a", 129), owner, nil, []byte(`{}`), 400, "ArgumentInvalid"},
		{"device id with a space", "PUT", "/devices/a%20b", owner, nil, []byte(`{}`), 400, "ArgumentInvalid"},
		{"device id not ASCII", "PUT", "/devices/%C3%A9", owner, nil, []byte(`{}`), 400, "ArgumentInvalid"},
		{"device id with a slash", "PUT", "/devices/a%2Fb", owner, nil, []byte(`{}`), 400, "ArgumentInvalid"},
		{"device body not JSON", "PUT", "/devices/n1", owner, nil, []byte(`{"deviceId":`), 400, "ArgumentInvalid"},
		{"device body over 64 KB", "PUT", "/devices/n1", owner, nil, append([]byte(`{"deviceId":"n1","statusReason":"`), big(70<<10)...), 413, "MessageTooLarge"},
		{"deviceId differs from the path", "PUT", "/devices/n1", owner, nil, []byte(`{"deviceId":"n2"}`), 400, "ArgumentInvalid"},
		{"keys not base64", "PUT", "/devices/n1", owner, nil, []byte(`{"authentication":{"symmetricKey":{"primaryKey":"%%%","secondaryKey":"%%%"}}}`), 400, "ArgumentInvalid"},
		{"keys too short", "PUT", "/devices/n1", owner, nil, []byte(`{"authentication":{"symmetricKey":{"primaryKey":"YQ==","secondaryKey":"YQ=="}}}`), 400, "ArgumentInvalid"},
		{"status banana", "PUT", "/devices/n1", owner, nil, []byte(`{"status":"banana"}`), 400, "ArgumentInvalid"},
		{"create an existing device", "PUT", "/devices/d1", owner, nil, []byte(`{}`), 409, "DeviceAlreadyExists"},
		{"update with a stale etag", "PUT", "/devices/d1", owner, map[string]string{"If-Match": `"stale"`}, []byte(`{"status":"enabled"}`), 412, "PreconditionFailed"},
		{"delete with a stale etag", "DELETE", "/devices/d1", owner, map[string]string{"If-Match": `"stale"`}, nil, 412, "PreconditionFailed"},
		{"get an unknown device", "GET", "/devices/ghost", owner, nil, nil, 404, "DeviceNotFound"},
		{"list top=0", "GET", "/devices?top=0", owner, nil, nil, 400, "ArgumentInvalid"},
		{"list top=1001", "GET", "/devices?top=1001", owner, nil, nil, 400, "ArgumentInvalid"},
		{"list top=abc", "GET", "/devices?top=abc", owner, nil, nil, 400, "ArgumentInvalid"},
		{"list with a forged continuation", "GET", "/devices", owner, map[string]string{"x-ms-continuation": "not-a-token"}, nil, 400, "ArgumentInvalid"},

		// Telemetry.
		{"message over 256 KB", "POST", events, dev, nil, big(256<<10 + 1), 413, "MessageTooLarge"},
		{"message id of 129 characters", "POST", events, dev, map[string]string{"IoTHub-MessageId": strings.Repeat("m", 129)}, []byte("x"), 400, "ArgumentInvalid"},
		{"message id not ASCII", "POST", events, dev, map[string]string{"IoTHub-MessageId": "m\u00e9"}, []byte("x"), 400, "ArgumentInvalid"},
		{"property value not ASCII", "POST", events, dev, map[string]string{"iothub-app-k": "\u00e9"}, []byte("x"), 400, "ArgumentInvalid"},
		{"property value with a quote", "POST", events, dev, map[string]string{"iothub-app-k": `a"b`}, []byte("x"), 400, "ArgumentInvalid"},
		{"batch not JSON", "POST", events, dev, jsonBatch, []byte(`[{"body":`), 400, "ArgumentInvalid"},
		{"batch of no messages", "POST", events, dev, jsonBatch, []byte(`[]`), 400, "ArgumentInvalid"},
		{"batch is an object", "POST", events, dev, jsonBatch, []byte(`{"body":"eA=="}`), 400, "ArgumentInvalid"},
		{"batch body not base64", "POST", events, dev, jsonBatch, []byte(`[{"body":"***"}]`), 400, "ArgumentInvalid"},
		{"batch raw body not UTF-8", "POST", events, dev, jsonBatch, []byte("[{\"body\":\"\xff\xfe\",\"base64Encoded\":false}]"), 400, "ArgumentInvalid"},
		{"batch raw body with a lone surrogate", "POST", events, dev, jsonBatch, []byte(`[{"body":"\ud800","base64Encoded":false}]`), 400, "ArgumentInvalid"},
		{"batch property name with a space", "POST", events, dev, jsonBatch, []byte(`[{"body":"eA==","properties":{"iothub-app-a b":"v"}}]`), 400, "ArgumentInvalid"},
		{"batch message id not ASCII", "POST", events, dev, jsonBatch, []byte(`[{"body":"eA==","properties":{"iothub-messageid":"m\u00e9"}}]`), 400, "ArgumentInvalid"},
		{"65 properties on one message", "POST", events, dev, jsonBatch, batch(1, props(65)), 400, "ArgumentInvalid"},
		{"10,000 properties on one message", "POST", events, dev, jsonBatch, batch(1, props(10000)), 400, "ArgumentInvalid"},
		{"30,000 properties (over the batch bytes)", "POST", events, dev, jsonBatch, batch(1, props(30000)), 413, "MessageTooLarge"},
		{"501 messages in a batch", "POST", events, dev, jsonBatch, batch(501, ""), 413, "MessageTooLarge"},
		{"30,000 empty messages in a batch", "POST", events, dev, jsonBatch, []byte("[" + strings.Repeat(`{"body":""},`, 29999) + `{"body":""}]`), 413, "MessageTooLarge"},
		{"batch over 256 KB", "POST", events, dev, jsonBatch, []byte(`[{"body":"` + base64.StdEncoding.EncodeToString(big(260<<10)) + `"}]`), 413, "MessageTooLarge"},

		// Cloud to device.
		{"C2D body over 64 KB", "POST", c2d, owner, nil, big(64<<10 + 1), 413, "MessageTooLarge"},
		{"C2D ack banana", "POST", c2d, owner, map[string]string{"iothub-ack": "banana"}, []byte("x"), 400, "ArgumentInvalid"},
		{"C2D expiry not a date", "POST", c2d, owner, map[string]string{"iothub-expiry": "tomorrow"}, []byte("x"), 400, "ArgumentInvalid"},
		{"C2D expiry of the zero time", "POST", c2d, owner, map[string]string{"iothub-expiry": "0001-01-01T00:00:00Z"}, []byte("x"), 400, "ArgumentInvalid"},
		{"C2D expiry in the past", "POST", c2d, owner, map[string]string{"iothub-expiry": "2000-01-01T00:00:00Z"}, []byte("x"), 400, "ArgumentInvalid"},
		{"C2D property not ASCII", "POST", c2d, owner, map[string]string{"iothub-app-k": "\u00e9"}, []byte("x"), 400, "ArgumentInvalid"},
		{"complete a malformed lock token", "DELETE", c2d + "/not-a-lock", dev, nil, nil, 400, "ArgumentInvalid"},
		{"complete an unknown lock token", "DELETE", c2d + "/00000001-0000-3000-0000-000000000000", dev, nil, nil, 412, "DeviceMessageLockLost"},
		{"If-Match names another lock", "DELETE", c2d + "/00000001-0000-3000-0000-000000000000", dev, map[string]string{"If-Match": `"00000002-0000-3000-0000-000000000000"`}, nil, 412, "PreconditionFailed"},
		{"abandon an unknown lock token", "POST", c2d + "/00000001-0000-3000-0000-000000000000/abandon", dev, nil, nil, 412, "DeviceMessageLockLost"},
		{"complete an unknown feedback lock", "DELETE", "/messages/serviceBound/feedback/00000001-0000-0000-0000-000000000000", owner, nil, nil, 412, "FeedbackLockLost"},
		{"requeue an unknown message", "POST", "/devices/d1/c2d/deadletters/ghost/requeue", owner, nil, nil, 404, "MessageNotFound"},
		{"dead letters top=0", "GET", "/devices/d1/c2d/deadletters?top=0", owner, nil, nil, 400, "ArgumentInvalid"},

		// Routing.
		{"unknown route", "GET", "/admin", owner, nil, nil, 404, "NotFound"},
		{"wrong method", "PATCH", "/devices/d1", owner, nil, nil, 405, "MethodNotAllowed"},
		{"HEAD would lock a C2D message", "HEAD", c2d, dev, nil, nil, 405, "MethodNotAllowed"},
		{"double slash", "GET", "//devices/d1", owner, nil, nil, 400, "ArgumentInvalid"},
		{"dot-dot segment", "GET", "/devices/x/../d1", owner, nil, nil, 400, "ArgumentInvalid"},
	}
	if len(rows) < 50 {
		t.Fatalf("the matrix holds %d requests; docs/SECURITY.md promises at least 50", len(rows))
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := env.Do(t, row.method, row.path, row.auth, row.hdr, row.body)
			if r.Status != row.status {
				t.Fatalf("status %d, want %d: %s", r.Status, row.status, r.Body)
			}
			if row.method == http.MethodHead {
				if r.Header.Get("Allow") == "" {
					t.Fatal("405 without Allow")
				}
				return // no body to a HEAD
			}
			if e := r.ErrorBody(t); e.Code != row.code {
				t.Fatalf("code %s (%d), want %s: %s", e.Code, e.ErrorCode, row.code, e.Message)
			}
		})
	}
	// Nothing hostile reached the stream.
	if recs := env.ReadStream(t); len(recs) != 0 {
		t.Fatalf("%d records written by refused requests", len(recs))
	}
}
