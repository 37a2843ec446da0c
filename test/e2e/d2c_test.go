package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/shared/telemetry"
	"github.com/devicehub/devicehub/test/testenv"
)

// d2cNodeTimeout bounds one run of d2c.js: Node start-up plus a few requests,
// on a loaded 2-core machine.
const d2cNodeTimeout = 90 * time.Second

// d2cMessage is one message as d2c.js builds it with the SDK's Message.
type d2cMessage struct {
	Body            string      `json:"body"` // base64
	Properties      [][2]string `json:"properties,omitempty"`
	MessageID       string      `json:"messageId,omitempty"`
	CorrelationID   string      `json:"correlationId,omitempty"`
	UserID          string      `json:"userId,omitempty"`
	ContentType     string      `json:"contentType,omitempty"`
	ContentEncoding string      `json:"contentEncoding,omitempty"`
}

// d2cSend is one SDK call: sendEvent or sendEventBatch.
type d2cSend struct {
	Single *d2cMessage  `json:"single,omitempty"`
	Batch  []d2cMessage `json:"batch,omitempty"`
}

// d2cResult is one line d2c.js prints per send.
type d2cResult struct {
	I     int  `json:"i"`
	OK    bool `json:"ok"`
	Error *struct {
		Name, Constructor, Message, Body string
		Status                           int
	} `json:"error"`
}

// d2cWant is what the stream must hold for one sent message: the message's own
// properties and body; the hub's stamps are checked separately.
type d2cWant struct {
	MessageID, CorrelationID, UserID, ContentType, ContentEncoding string
	Properties                                                     map[string]string
	Body                                                           []byte
}

func d2cMsg(body []byte, props ...string) d2cMessage {
	m := d2cMessage{Body: base64.StdEncoding.EncodeToString(body)}
	for i := 0; i+1 < len(props); i += 2 {
		m.Properties = append(m.Properties, [2]string{props[i], props[i+1]})
	}
	return m
}

// expected derives what the hub must write for m. Application properties of
// a single message travel as iothub-app-* headers and reach the hub
// lower-cased (API Gateway lower-cases header names); in a batch they are
// JSON keys and keep their case. The SDK carries only body and application
// properties in a batch.
func d2cExpected(m d2cMessage, batch bool) d2cWant {
	body, err := base64.StdEncoding.DecodeString(m.Body)
	if err != nil {
		panic(err)
	}
	w := d2cWant{Body: body, Properties: map[string]string{}}
	for _, p := range m.Properties {
		name := p[0]
		if !batch {
			name = strings.ToLower(name)
		}
		w.Properties[name] = p[1]
	}
	if !batch {
		w.MessageID, w.CorrelationID, w.UserID = m.MessageID, m.CorrelationID, m.UserID
		w.ContentType, w.ContentEncoding = m.ContentType, m.ContentEncoding
	}
	return w
}

// d2cAllBytes is every byte value, so not UTF-8: the hub must base64 it.
func d2cAllBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(255 - i)
	}
	return b
}

// d2cScenario returns what one device sends: two single messages, a batch, and
// another single message, all with distinct properties and bodies. Property
// names and values use every character IoT Hub allows over HTTPS (ASCII
// letters, digits and !#$%&'*+-.^_`|~); non-ASCII text goes in bodies.
func d2cScenario(device string) []d2cSend {
	jsonBody := []byte(`{"device":"` + device + `","temp":21.5,"unit":"°C","note":"naïve ✓ 温度","nested":{"ok":true,"list":[1, 2, 3]}}`)
	s1 := d2cMsg(jsonBody,
		"Temperature-Alert", "true",
		"unit", "celsius",
		"Route.Key_1", "a!#$%&'*+-.^_`|~Z9",
		"seq", "1",
		"dt-subject", "thermostat-1",
	)
	s1.MessageID = device + "-msg-1"
	s1.CorrelationID = "corr-" + device + "-1"
	s1.UserID = "user-" + device
	s1.ContentType = "application/json"
	s1.ContentEncoding = "utf-8"

	s2 := d2cMsg(d2cAllBytes(), "seq", "2", "Kind", "binary")
	s2.MessageID = device + "-msg-2"
	s2.ContentType = "application/octet-stream"

	var batch []d2cMessage
	for i := range 4 {
		var body []byte
		switch i {
		case 0:
			body = []byte(`{"batch":0,"text":"Grüße, мир, 世界"}`)
		case 1:
			body = []byte{0x00, 0xff, 0xfe, 0x80, '\n', 'x', 0xc3} // invalid UTF-8
		case 2:
			body = []byte("plain text, not JSON: ünïcödé 🚀")
		case 3:
			body = []byte(`[1,"two",{"three":3}]`)
		}
		m := d2cMsg(body,
			"seq", fmt.Sprint(3+i),
			"Batch-Index", fmt.Sprint(i),
			"MixedCase", "Value-With.Case_"+fmt.Sprint(i),
			"dt-subject", "batch-subject",
		)
		if i == 2 {
			m.Properties = nil // a message with no properties at all
		}
		batch = append(batch, m)
	}

	s3 := d2cMsg([]byte(`"a JSON string, \u00e9"`), "seq", "7") // JSON scalar: inline in the envelope
	s3.MessageID = device + "-msg-7"
	return []d2cSend{{Single: &s1}, {Single: &s2}, {Batch: batch}, {Single: &s3}}
}

func d2cExpectedAll(sends []d2cSend) []d2cWant {
	var out []d2cWant
	for _, s := range sends {
		if s.Single != nil {
			out = append(out, d2cExpected(*s.Single, false))
		}
		for _, m := range s.Batch {
			out = append(out, d2cExpected(m, true))
		}
	}
	return out
}

// runD2C runs d2c.js for one device and returns one result per send.
func runD2C(t *testing.T, env *testenv.Env, cs sas.ConnectionString, sends []d2cSend) []d2cResult {
	t.Helper()
	spec, err := json.Marshal(sends)
	if err != nil {
		t.Fatal(err)
	}
	vars := sdkVars(t, env, cs)
	vars["SENDS"] = string(spec)
	out := runNode(t, "d2c.js", vars, d2cNodeTimeout)
	var res []d2cResult
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r d2cResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("d2c.js printed %q: %v", line, err)
		}
		res = append(res, r)
	}
	if len(res) != len(sends) {
		t.Fatalf("d2c.js reported %d results for %d sends:\n%s", len(res), len(sends), out)
	}
	return res
}

// d2cByDevice groups messages by the hub-stamped device id, keeping stream order.
func d2cByDevice(msgs []telemetry.Message) map[string][]telemetry.Message {
	out := map[string][]telemetry.Message{}
	for _, m := range msgs {
		out[m.DeviceID] = append(out[m.DeviceID], m)
	}
	return out
}

func TestD2CSDKSingleAndBatch(t *testing.T) {
	env := testenv.New(t, testenv.Options{Shards: 4})
	// The second id needs percent-encoding in the path (encodeURIComponentStrict)
	// and holds characters that are special in connection strings and SAS resources.
	devices := []string{"e2e-thermostat", "e2e:dev(1)!*'=@$,%.x"}
	type device struct {
		id    string
		cs    sas.ConnectionString
		gen   string
		sends []d2cSend
	}
	devs := make([]*device, len(devices))
	for i, id := range devices {
		cs := env.CreateDevice(t, id)
		d, err := env.Hub.Registry.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d.GenerationID == "" {
			t.Fatalf("device %s has no generation id", id)
		}
		devs[i] = &device{id: id, cs: cs, gen: d.GenerationID, sends: d2cScenario(id)}
	}

	before := time.Now()
	// Both devices send at once, each in its own Node process, so their
	// messages interleave in the stream while each device's stay in order.
	t.Run("send", func(t *testing.T) {
		for _, d := range devs {
			t.Run(d.id, func(t *testing.T) {
				t.Parallel()
				for i, r := range runD2C(t, env, d.cs, d.sends) {
					if !r.OK || r.I != i {
						t.Errorf("send %d: SDK result %+v", i, r.Error)
					}
				}
			})
		}
	})
	after := time.Now()
	if t.Failed() {
		t.FailNow()
	}

	got := d2cByDevice(env.ReadStream(t))
	if len(got) != len(devs) {
		t.Errorf("stream holds messages of %d devices, want %d: %v", len(got), len(devs), slices.Sorted(maps.Keys(got)))
	}
	for _, d := range devs {
		msgs, wants := got[d.id], d2cExpectedAll(d.sends)
		if len(msgs) != len(wants) {
			t.Errorf("device %s: %d messages in the stream, want %d", d.id, len(msgs), len(wants))
		}
		var prev time.Time
		for i := range min(len(msgs), len(wants)) {
			m, w := msgs[i], wants[i]
			where := fmt.Sprintf("device %s message %d (seq %s)", d.id, i, m.Properties["seq"])
			if m.MessageID != w.MessageID || m.CorrelationID != w.CorrelationID || m.UserID != w.UserID ||
				m.ContentType != w.ContentType || m.ContentEncoding != w.ContentEncoding {
				t.Errorf("%s: system properties\n got message-id=%q correlation-id=%q user-id=%q content-type=%q content-encoding=%q\nwant message-id=%q correlation-id=%q user-id=%q content-type=%q content-encoding=%q",
					where, m.MessageID, m.CorrelationID, m.UserID, m.ContentType, m.ContentEncoding,
					w.MessageID, w.CorrelationID, w.UserID, w.ContentType, w.ContentEncoding)
			}
			if !maps.Equal(m.Properties, w.Properties) {
				t.Errorf("%s: application properties\n got %q\nwant %q", where, m.Properties, w.Properties)
			}
			if !bytes.Equal(m.Body, w.Body) {
				t.Errorf("%s: body\n got %q\nwant %q", where, m.Body, w.Body)
			}
			if m.AuthGenerationID != d.gen {
				t.Errorf("%s: auth generation id %q, want %q", where, m.AuthGenerationID, d.gen)
			}
			if m.AuthMethod != registry.AuthMethodSAS {
				t.Errorf("%s: auth method %q, want %q", where, m.AuthMethod, registry.AuthMethodSAS)
			}
			// The hub runs in this process, so its clock is ours.
			if m.EnqueuedTime.Before(before.Truncate(time.Millisecond)) || m.EnqueuedTime.After(after) {
				t.Errorf("%s: enqueued time %s outside the send window [%s, %s]", where, m.EnqueuedTime, before, after)
			}
			if m.EnqueuedTime.Before(prev) {
				t.Errorf("%s: enqueued time %s before the previous message's %s", where, m.EnqueuedTime, prev)
			}
			prev = m.EnqueuedTime
			if m.PartitionKey != msgs[0].PartitionKey {
				t.Errorf("%s: partition key %q differs from the device's first message's %q", where, m.PartitionKey, msgs[0].PartitionKey)
			}
		}
	}
}

// TestD2CSDKJSONBodyWhitespace: JSON bodies with whitespace around the
// value (JSON.stringify(x) + "\n", pretty-printed files) must come out byte
// for byte too, like every other body.
func TestD2CSDKJSONBodyWhitespace(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	cs := env.CreateDevice(t, "e2e-ws")
	single := d2cMsg([]byte("{\"a\":1}\n"), "seq", "1")
	sends := []d2cSend{{Single: &single}, {Batch: []d2cMessage{
		d2cMsg([]byte(" [1, 2] "), "seq", "2"),
		d2cMsg([]byte("\t{\"b\": \"x\"}\r\n"), "seq", "3"),
	}}}
	for i, r := range runD2C(t, env, cs, sends) {
		if !r.OK {
			t.Fatalf("send %d: %+v", i, r.Error)
		}
	}
	msgs := env.ReadStream(t)
	wants := d2cExpectedAll(sends)
	if len(msgs) != len(wants) {
		t.Fatalf("%d messages in the stream, want %d", len(msgs), len(wants))
	}
	for i, m := range msgs {
		if !bytes.Equal(m.Body, wants[i].Body) || m.Properties["seq"] != wants[i].Properties["seq"] {
			t.Errorf("message %d (seq %s): body %q, want %q (seq %s): the envelope inlines JSON bodies and "+
				"loses the whitespace around them; telemetry.BodyIsJSON must send such bodies as base64",
				i, m.Properties["seq"], m.Body, wants[i].Body, wants[i].Properties["seq"])
		}
	}
}

// TestD2CSDKWrongKey: a device signing with a key that is not its own gets
// the SDK's UnauthorizedError for single and batch sends, and nothing
// reaches the stream.
func TestD2CSDKWrongKey(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	good := env.CreateDevice(t, "e2e-good")
	bad := env.CreateDevice(t, "e2e-victim")
	bad.SharedAccessKey = good.SharedAccessKey // a valid key, but another device's
	unknown := good
	unknown.DeviceID = "e2e-not-registered"

	sends := []d2cSend{{Single: &d2cMessage{Body: base64.StdEncoding.EncodeToString([]byte(`{"x":1}`)), MessageID: "m1"}},
		{Batch: []d2cMessage{d2cMsg([]byte("a"), "k", "v"), d2cMsg([]byte("b"))}}}
	for _, cs := range []sas.ConnectionString{bad, unknown} {
		for i, r := range runD2C(t, env, cs, sends) {
			if r.OK || r.Error == nil || r.Error.Name != "UnauthorizedError" || r.Error.Constructor != "UnauthorizedError" {
				t.Errorf("device %s send %d: SDK result %+v, want UnauthorizedError", cs.DeviceID, i, r)
			}
		}
	}
	if msgs := env.ReadStream(t); len(msgs) != 0 {
		t.Errorf("stream holds %d messages after rejected sends: %+v", len(msgs), msgs)
	}

	// The same SDK, script and hub do deliver with the right key, so the
	// rejections above are about the key.
	for i, r := range runD2C(t, env, good, sends[:1]) {
		if !r.OK {
			t.Fatalf("good device send %d: %+v", i, r)
		}
	}
	msgs := env.ReadStream(t)
	if len(msgs) != 1 || msgs[0].DeviceID != "e2e-good" || msgs[0].MessageID != "m1" || string(msgs[0].Body) != `{"x":1}` {
		t.Errorf("stream after the good send: %+v", msgs)
	}
}
