package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/shared/hubclient"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/test/testenv"
)

type sdkDelivery struct {
	MessageID     string      `json:"messageId"`
	CorrelationID string      `json:"correlationId"`
	LockToken     string      `json:"lockToken"`
	Data          string      `json:"data"`
	Properties    [][2]string `json:"properties"`
	Action        string      `json:"action"`
}

// TestC2DSDKReceiveAndSettle: the Azure IoT device SDK for Node receives a
// text message with properties and completes it, a binary one and rejects
// it, and abandons one then completes it on redelivery; the service then
// reads exactly the feedback each ack asked for.
func TestC2DSDKReceiveAndSettle(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	conn := env.CreateDevice(t, "sdk-c2d")
	svc := hubclient.New(env.Server.URL, env.OwnerConn)
	ctx := context.Background()

	binary := make([]byte, 128) // NUL and control bytes; the SDK reads bodies as UTF-8 text, so 0x80+ would not survive it
	for i := range binary {
		binary[i] = byte(i)
	}
	msgs := []hubclient.C2DMessage{
		{MessageID: "complete-text", CorrelationID: "corr-1", Ack: "full", Body: []byte("hello, device"),
			Properties: map[string]string{"color": "red", "count": "3"}},
		{MessageID: "reject-binary", Ack: "negative", Body: binary},
		{MessageID: "abandon-then-complete", Ack: "positive", Body: []byte(`{"on":true}`), ContentType: "application/json"},
	}
	for _, m := range msgs {
		if _, err := svc.SendC2D(ctx, conn.DeviceID, m); err != nil {
			t.Fatal(err)
		}
	}
	vars := sdkVars(t, env, conn)
	vars["EXPECT"] = "4"
	out := runNode(t, "c2d.js", vars, 60*time.Second)

	got := map[string][]sdkDelivery{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var d sdkDelivery
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		got[d.MessageID] = append(got[d.MessageID], d)
	}
	for _, m := range msgs {
		ds := got[m.MessageID]
		want := 1
		if strings.HasPrefix(m.MessageID, "abandon") {
			want = 2
		}
		if len(ds) != want {
			t.Fatalf("%s delivered %d times, want %d", m.MessageID, len(ds), want)
		}
		body, _ := base64.StdEncoding.DecodeString(ds[0].Data)
		if !bytes.Equal(body, m.Body) {
			t.Errorf("%s: body %q, want %q", m.MessageID, body, m.Body)
		}
		if ds[0].CorrelationID != m.CorrelationID {
			t.Errorf("%s: correlation id %q", m.MessageID, ds[0].CorrelationID)
		}
		props := map[string]string{}
		for _, p := range ds[0].Properties {
			props[p[0]] = p[1]
		}
		for k, v := range m.Properties {
			if props["iothub-app-"+k] != v { // the SDK keeps the header's prefix
				t.Errorf("%s: property %s = %q, want %q (got %v)", m.MessageID, k, props["iothub-app-"+k], v, props)
			}
		}
	}

	want := map[string]iothub.StatusCode{"complete-text": iothub.StatusSuccess, "reject-binary": iothub.StatusRejected, "abandon-then-complete": iothub.StatusSuccess}
	fb := map[string][]iothub.StatusCode{}
	for deadline := time.Now().Add(5 * time.Second); len(fb) < len(want) && time.Now().Before(deadline); {
		b, err := svc.ReceiveFeedback(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for _, r := range b.Records {
			fb[r.OriginalMessageID] = append(fb[r.OriginalMessageID], r.StatusCode)
		}
		if err := svc.CompleteFeedback(ctx, b.LockToken); err != nil {
			t.Fatal(err)
		}
	}
	for id, code := range want {
		if len(fb[id]) != 1 || fb[id][0] != code {
			t.Errorf("feedback for %s: %v, want [%s]", id, fb[id], code)
		}
	}
	st, err := svc.C2DStatus(ctx, conn.DeviceID, "abandon-then-complete")
	if err != nil || len(st) != 1 || st[0].State != "Completed" || st[0].DeliveryCount != 2 {
		t.Errorf("status after abandon and complete: %+v %v", st, err)
	}
}

// TestC2DBinaryBodyByteForByte: every byte value comes back exactly over the
// wire (the Node SDK itself decodes bodies as UTF-8, so this uses the Go client).
func TestC2DBinaryBodyByteForByte(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	conn := env.CreateDevice(t, "bin-c2d")
	ctx := context.Background()
	body := make([]byte, 256)
	for i := range body {
		body[i] = byte(255 - i)
	}
	if _, err := hubclient.New(env.Server.URL, env.OwnerConn).SendC2D(ctx, conn.DeviceID, hubclient.C2DMessage{Body: body}); err != nil {
		t.Fatal(err)
	}
	dev := hubclient.New(env.Server.URL, conn)
	d, err := dev.ReceiveC2D(ctx)
	if err != nil || d == nil {
		t.Fatalf("receive: %v %v", d, err)
	}
	if !bytes.Equal(d.Body, body) {
		t.Errorf("body changed: %x", d.Body)
	}
	if err := dev.CompleteC2D(ctx, d.LockToken); err != nil {
		t.Fatal(err)
	}
}
