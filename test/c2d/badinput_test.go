package c2d

import (
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/test/testenv"
)

// TestBadInput: each bad request gets its documented status and a JSON
// error body, and changes nothing: afterwards the held message is still
// locked by its lock, the queue holds exactly what it held, and no feedback
// appeared.
func TestBadInput(t *testing.T) {
	h := newHub(t, func(c *config.Config) { c.C2DMaxQueue = 2 })
	a, b := h.device("alice"), h.device("bob")
	h.mustSend(a.id, "held", "full", "x")
	lock, _ := a.mustReceive("held")
	h.mustSend(b.id, "b1", "full", "y")
	bLock, _ := b.mustReceive("b1")
	h.mustSend(b.id, "b2", "full", "z")               // bob's queue is now full (max 2)
	unknown := "00000000-0001-3000-0000-000000000000" // well formed: sequence number 1, ack full
	now := func() time.Time { return h.clock.Now() }
	big := strings.Repeat("x", 64<<10+1)

	rows := []struct {
		name   string
		do     func() testenv.Reply
		status int
		code   string
		number int
	}{
		{"unknown lock", func() testenv.Reply { return a.complete(unknown) }, 412, "DeviceMessageLockLost", 412020},
		{"malformed lock", func() testenv.Reply { return a.complete("not-a-lock") }, 400, "ArgumentInvalid", 400004},
		{"another device's lock on its own path", func() testenv.Reply { return a.complete(bLock) }, 412, "DeviceMessageLockLost", 412020},
		{"another device's path", func() testenv.Reply {
			return h.do("DELETE", "/devices/"+b.id+"/messages/devicebound/"+bLock, a.token(), nil, nil)
		}, 401, "IotHubUnauthorizedAccess", 401002},
		{"If-Match differs from the path", func() testenv.Reply {
			return h.do("DELETE", "/devices/"+a.id+"/messages/devicebound/"+lock, a.token(), map[string]string{"If-Match": `"` + unknown + `"`}, nil)
		}, 412, "PreconditionFailed", 412002},
		{"reject with an unknown lock", func() testenv.Reply { return a.reject(unknown) }, 412, "DeviceMessageLockLost", 412020},
		{"abandon with an unknown lock", func() testenv.Reply { return a.abandon(unknown) }, 412, "DeviceMessageLockLost", 412020},
		{"oversized body", func() testenv.Reply { return h.send(a.id, nil, big) }, 413, "MessageTooLarge", 413001},
		{"bad ack", func() testenv.Reply { return h.send(a.id, map[string]string{"iothub-ack": "sometimes"}, "x") }, 400, "ArgumentInvalid", 400004},
		{"expiry in the past", func() testenv.Reply {
			return h.send(a.id, map[string]string{"iothub-expiry": now().Add(-time.Hour).Format(time.RFC3339)}, "x")
		}, 400, "ArgumentInvalid", 400004},
		{"expiry under a minute", func() testenv.Reply {
			return h.send(a.id, map[string]string{"iothub-expiry": now().Add(30 * time.Second).Format(time.RFC3339)}, "x")
		}, 400, "ArgumentInvalid", 400004},
		{"expiry beyond two days", func() testenv.Reply {
			return h.send(a.id, map[string]string{"iothub-expiry": now().Add(49 * time.Hour).Format(time.RFC3339)}, "x")
		}, 400, "ArgumentInvalid", 400004},
		{"expiry not a date", func() testenv.Reply { return h.send(a.id, map[string]string{"iothub-expiry": "tomorrow"}, "x") }, 400, "ArgumentInvalid", 400004},
		{"message id too long", func() testenv.Reply {
			return h.send(a.id, map[string]string{"iothub-messageid": strings.Repeat("m", 129)}, "x")
		}, 400, "ArgumentInvalid", 400004},
		{"non-ASCII property", func() testenv.Reply { return h.send(a.id, map[string]string{"iothub-app-x": "caf\xc3\xa9"}, "x") }, 400, "ArgumentInvalid", 400004},
		{"full queue", func() testenv.Reply { return h.send(b.id, map[string]string{"iothub-messageid": "b3"}, "x") }, 403, "DeviceMaximumQueueDepthExceeded", 403004},
		{"unknown device", func() testenv.Reply { return h.send("nobody", nil, "x") }, 404, "DeviceNotFound", 404001},
		{"purge of an unknown device", func() testenv.Reply { return h.do("DELETE", "/devices/nobody/commands", h.owner(), nil, nil) }, 404, "DeviceNotFound", 404001},
		{"bad device id", func() testenv.Reply { return h.send("bad%2Fid", nil, "x") }, 400, "ArgumentInvalid", 400004},
		{"status of an unknown message", func() testenv.Reply { return h.do("GET", "/devices/"+a.id+"/c2d/messages/nope", h.owner(), nil, nil) }, 404, "MessageNotFound", 404002},
		{"requeue of a message that is not dead-lettered", func() testenv.Reply {
			return h.do("POST", "/devices/"+a.id+"/c2d/deadletters/held/requeue", h.owner(), nil, nil)
		}, 404, "MessageNotFound", 404002},
		{"dead letters with a bad page size", func() testenv.Reply {
			return h.do("GET", "/devices/"+a.id+"/c2d/deadletters?top=0", h.owner(), nil, nil)
		}, 400, "ArgumentInvalid", 400004},
		{"dead letters with a bad continuation", func() testenv.Reply {
			return h.do("GET", "/devices/"+a.id+"/c2d/deadletters", h.owner(), map[string]string{"x-ms-continuation": "!!"}, nil)
		}, 400, "ArgumentInvalid", 400004},
		{"unknown feedback lock", func() testenv.Reply {
			return h.do("DELETE", "/messages/serviceBound/feedback/00000003-0000-0000-0000-000000000000", h.owner(), nil, nil)
		}, 412, "FeedbackLockLost", 412021},
		{"malformed feedback lock", func() testenv.Reply {
			return h.do("DELETE", "/messages/servicebound/feedback/zzz", h.owner(), nil, nil)
		}, 400, "ArgumentInvalid", 400004},
		{"service route with a device token", func() testenv.Reply {
			return h.do("POST", "/devices/"+a.id+"/messages/devicebound", a.token(), nil, []byte("x"))
		}, 401, "IotHubUnauthorizedAccess", 401002},
		{"device route with the owner token", func() testenv.Reply {
			return h.do("GET", "/devices/"+a.id+"/messages/devicebound", h.owner(), nil, nil)
		}, 401, "IotHubUnauthorizedAccess", 401002},
		{"feedback path in another spelling", func() testenv.Reply { return h.do("GET", "/messages/devicebound/feedback", h.owner(), nil, nil) }, 404, "NotFound", 404000},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			h.t = t
			r := row.do()
			if r.Status != row.status {
				t.Fatalf("want %d, got %d %s", row.status, r.Status, r.Body)
			}
			e := r.ErrorBody(t)
			if e.Code != row.code || e.ErrorCode != row.number {
				t.Errorf("want %s/%d, got %s/%d (%s)", row.code, row.number, e.Code, e.ErrorCode, e.Message)
			}
		})
	}

	// Nothing changed: alice's message is still held by its lock (nothing
	// else is due), bob still holds b1 and has only b2 due.
	h.t = t
	a.mustBeEmpty()
	if st := h.status(a.id, "held"); st.State != "Invisible" || st.DeliveryCount != 1 {
		t.Errorf("held message: %+v", st)
	}
	for _, id := range []string{"nope", "b3"} {
		if r := h.do("GET", "/devices/"+a.id+"/c2d/messages/"+id, h.owner(), nil, nil); r.Status != 404 {
			t.Errorf("a message %s exists: %s", id, r.Body)
		}
	}
	b2, _ := b.mustReceive("b2")
	b.mustBeEmpty()
	for _, c := range []struct {
		d    *device
		lock string
	}{{a, lock}, {b, bLock}, {b, b2}} {
		if r := c.d.complete(c.lock); r.Status != 204 {
			t.Errorf("complete after the bad requests: %d %s", r.Status, r.Body)
		}
	}
	wantFeedback(t, h.drainFeedback(""), map[string]iothub.StatusCode{"held": iothub.StatusSuccess, "b1": iothub.StatusSuccess, "b2": iothub.StatusSuccess})
}
