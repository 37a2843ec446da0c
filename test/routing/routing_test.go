package routing

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/hubclient"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/routing"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// The enrichments' property names in infra/routes.local.json.
const (
	propHub  = "hub"  // $iothubname, on hot and archive
	propSite = "site" // $twin.tags.site, on hot only
)

// routeEndpoints are the endpoints a message reaches through routes, or
// through the fallback route when routes is empty, with the counter each
// delivery adds to.
func (h *hub) routeEndpoints(routes []string) []countKey {
	h.t.Helper()
	var out []countKey
	if len(routes) == 0 {
		for _, e := range h.def.FallbackEndpoints() {
			out = append(out, countKey{iothub.RouteFallback, e})
		}
		return out
	}
	for _, name := range routes {
		i := slices.IndexFunc(h.def.Routes, func(r routing.Route) bool { return r.Name == name })
		if i < 0 {
			h.t.Fatalf("the definition has no route %q", name)
		}
		for _, e := range h.def.Routes[i].Endpoints {
			out = append(out, countKey{name, e})
		}
	}
	return out
}

// byID groups messages by message id.
func byID(msgs []telemetry.Message) map[string][]telemetry.Message {
	out := map[string][]telemetry.Message{}
	for _, m := range msgs {
		out[m.MessageID] = append(out[m.MessageID], m)
	}
	return out
}

// Devices send over the hub's HTTP API; the documented definition's routes
// decide where each message lands: the "hot" condition on the body (a JSON
// body, content type and encoding set), the "alerts" condition on an
// application property, the fallback for the rest. Each endpoint gets its
// enrichments (the hub name on hot and archive, the device's site tag on
// hot) and the telemetry stream keeps the message as the device sent it;
// the statistics count exactly what was sent.
func TestRoutesOfTheDocumentedDefinition(t *testing.T) {
	t.Parallel()
	h := newHub(t, hubOptions{})
	devices := map[string]*hubclient.Client{
		"sensor-b43":      h.device("sensor-b43", map[string]any{"site": "b43", "floor": 2}),
		"sensor-7":        h.device("sensor-7", map[string]any{"site": 7}), // a number enriches as its text
		"sensor-untagged": h.device("sensor-untagged", nil),
	}
	sites := map[string]string{"sensor-b43": "b43", "sensor-7": "7"}
	h.startRouter(routerOptions{})

	alert := func(id, body, value string) hubclient.Message {
		return hubclient.Message{MessageID: id, Body: []byte(body), ContentType: "text/plain", Properties: map[string]string{"alert": value}}
	}
	withProps := func(m hubclient.Message, props map[string]string) hubclient.Message { m.Properties = props; return m }
	cases := []struct {
		device string
		msg    hubclient.Message // its id names the case
		routes []string          // the routes it matches; none: the fallback route
	}{
		{"sensor-b43", jsonMessage("hot", `{"temperature":35.5}`), []string{"hot"}},
		{"sensor-7", jsonMessage("hot-numeric-tag", `{"temperature":31,"unit":"C"}`), []string{"hot"}},
		{"sensor-untagged", jsonMessage("hot-untagged", `{"temperature":99}`), []string{"hot"}},
		{"sensor-b43", jsonMessage("at-threshold", `{"temperature":30}`), nil},
		{"sensor-7", jsonMessage("cold", `{"temperature":-5}`), nil},
		{"sensor-b43", jsonMessage("no-temperature", `{"humidity":80}`), nil},
		{"sensor-b43", hubclient.Message{MessageID: "text-content-type", Body: []byte(`{"temperature":40}`), ContentType: "text/plain", ContentEncoding: "utf-8"}, nil},
		// IoT Hub reads $body only with a content encoding.
		{"sensor-b43", hubclient.Message{MessageID: "no-content-encoding", Body: []byte(`{"temperature":40}`), ContentType: "application/json"}, nil},
		{"sensor-7", alert("alert", "overheating", "true"), []string{"alerts"}},
		{"sensor-untagged", alert("alert-false", "fine", "false"), nil},
		// Two routes to one endpoint: delivered there once, counted for each.
		{"sensor-b43", withProps(jsonMessage("hot-and-alert", `{"temperature":50}`), map[string]string{"alert": "true"}), []string{"hot", "alerts"}},
	}
	want := map[countKey]counted{{"lifecycle", "registry"}: {delivered: int64(len(devices))}} // their creation
	onHot, inArchive := map[string]bool{}, map[string]bool{}
	for _, c := range cases {
		send(t, devices[c.device], c.msg)
		for _, k := range h.routeEndpoints(c.routes) {
			want[k] = counted{delivered: want[k].delivered + 1}
			onHot[c.msg.MessageID] = onHot[c.msg.MessageID] || k.endpoint == "hot"
			inArchive[c.msg.MessageID] = inArchive[c.msg.MessageID] || k.endpoint == "archive"
		}
	}
	st := h.waitCounts(want)
	if len(st.DeadLetters) != 0 {
		t.Errorf("dead letters: %+v", st.DeadLetters)
	}

	hot := byID(h.mustReadStream(h.endpoint("hot").Stream))
	var lines []telemetry.Message
	for _, a := range h.readBucket(h.endpoint("archive")) {
		lines = append(lines, a.msg)
	}
	archive := byID(lines)
	original := byID(h.env.ReadStream(t))
	for _, c := range cases {
		id := c.msg.MessageID
		t.Run(id, func(t *testing.T) {
			// sent checks a routed copy against what the device sent: the
			// same message, plus the endpoint's enrichments.
			sent := func(where string, m telemetry.Message, enrich map[string]string) {
				t.Helper()
				if m.DeviceID != c.device || m.Source != telemetry.SourceDeviceMessages || !bytes.Equal(m.Body, c.msg.Body) ||
					m.ContentType != c.msg.ContentType || m.ContentEncoding != c.msg.ContentEncoding {
					t.Errorf("%s: %+v, sent by %s: %+v", where, m, c.device, c.msg)
				}
				wantProps := maps.Clone(c.msg.Properties)
				if wantProps == nil {
					wantProps = map[string]string{}
				}
				maps.Copy(wantProps, enrich)
				if !maps.Equal(m.Properties, wantProps) {
					t.Errorf("%s: properties %v, want %v", where, m.Properties, wantProps)
				}
			}
			if got := original[id]; len(got) != 1 {
				t.Fatalf("%d records on the telemetry stream", len(got))
			} else {
				sent("telemetry stream", got[0], nil) // no enrichment there
			}
			switch got := hot[id]; {
			case !onHot[id] && len(got) != 0:
				t.Errorf("on the hot endpoint: %+v", got)
			case onHot[id] && len(got) != 1:
				t.Errorf("%d records on the hot endpoint, want 1", len(got))
			case onHot[id]:
				enrich := map[string]string{propHub: hubName}
				if site, ok := sites[c.device]; ok {
					enrich[propSite] = site
				}
				sent("hot endpoint", got[0], enrich)
				if got[0].PartitionKey != c.device {
					t.Errorf("hot endpoint: partition key %q", got[0].PartitionKey)
				}
			}
			switch got := archive[id]; {
			case !inArchive[id] && len(got) != 0:
				t.Errorf("in the archive: %+v", got)
			case inArchive[id] && len(got) != 1:
				t.Errorf("%d lines in the archive, want 1", len(got))
			case inArchive[id]:
				sent("archive", got[0], map[string]string{propHub: hubName})
			}
		})
	}
	if extra := len(hot) + len(archive) - countTrue(onHot) - countTrue(inArchive); extra != 0 {
		t.Errorf("the endpoints hold %d messages nobody sent: hot %v, archive %v", extra, slices.Collect(maps.Keys(hot)), slices.Collect(maps.Keys(archive)))
	}
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// With lifecycle events on (the definition has a lifecycle route), the
// registry's notifications reach the "registry" endpoint stream as IoT
// Hub's, in order per device, and nothing else does: lifecycle events have
// no fallback route.
func TestLifecycleEventsReachTheirEndpoint(t *testing.T) {
	t.Parallel()
	h := newHub(t, hubOptions{})
	if !h.env.Config.LifecycleEvents {
		t.Fatal("the definition has a lifecycle route: the registry must write lifecycle events")
	}
	h.startRouter(routerOptions{})
	ctx := context.Background()
	steps := []struct {
		device string
		op     string // the opType it puts on the stream
		do     func(id string) error
	}{
		{"dev-a", "createDeviceIdentity", func(id string) error { _, err := h.svc.CreateDevice(ctx, id, iothub.Device{}); return err }},
		{"dev-b", "createDeviceIdentity", func(id string) error { _, err := h.svc.CreateDevice(ctx, id, iothub.Device{}); return err }},
		{"dev-b", "updateDeviceIdentity", func(id string) error {
			_, err := h.svc.UpdateDevice(ctx, id, iothub.Device{Status: registry.StatusDisabled}, "")
			return err
		}},
		{"dev-a", "deleteDeviceIdentity", func(id string) error { return h.svc.DeleteDevice(ctx, id, "") }},
		{"dev-b", "deleteDeviceIdentity", func(id string) error { return h.svc.DeleteDevice(ctx, id, "") }},
	}
	want := map[string][]string{}
	for _, s := range steps {
		if err := s.do(s.device); err != nil {
			t.Fatalf("%s %s: %v", s.op, s.device, err)
		}
		want[s.device] = append(want[s.device], s.op)
	}
	h.waitCounts(map[countKey]counted{{"lifecycle", "registry"}: {delivered: int64(len(steps))}})

	var onStream []telemetry.Message
	for _, m := range h.env.ReadStream(t) {
		if m.Source == telemetry.SourceDeviceLifecycleEvents {
			onStream = append(onStream, m)
		}
	}
	got := map[string][]string{}
	for _, m := range h.mustReadStream(h.endpoint("registry").Stream) {
		got[m.DeviceID] = append(got[m.DeviceID], m.Properties["opType"])
		p := m.Properties
		// The operation's time is the record's enqueued time, which
		// records keep to the millisecond.
		at, err := time.Parse(time.RFC3339Nano, p["operationTimestamp"])
		if m.Source != telemetry.SourceDeviceLifecycleEvents || m.PartitionKey != m.DeviceID || p["hubName"] != hubName ||
			p["deviceId"] != m.DeviceID || p["iothub-message-schema"] != "deviceLifecycleNotification" ||
			err != nil || !at.Truncate(time.Millisecond).Equal(m.EnqueuedTime) {
			t.Errorf("event on the registry endpoint: %s %s, source %s, partition key %s, enqueued %v, properties %v",
				p["opType"], m.DeviceID, m.Source, m.PartitionKey, m.EnqueuedTime, p)
		}
		// The registry endpoint has no enrichment: the record as the
		// registry wrote it.
		i := slices.IndexFunc(onStream, func(o telemetry.Message) bool {
			return o.DeviceID == m.DeviceID && o.CorrelationID == m.CorrelationID && o.Properties["opType"] == p["opType"]
		})
		if i < 0 || !maps.Equal(onStream[i].Properties, p) || !bytes.Equal(onStream[i].Body, m.Body) {
			t.Errorf("event %s %s differs from the telemetry stream's", p["opType"], m.DeviceID)
		}
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("events on the registry endpoint %v, want %v", got, want)
	}
	if hot := h.mustReadStream(h.endpoint("hot").Stream); len(hot) != 0 {
		t.Errorf("lifecycle events on the hot endpoint: %+v", hot)
	}
	if archive := h.readBucket(h.endpoint("archive")); len(archive) != 0 {
		t.Errorf("lifecycle events in the archive: %+v", archive)
	}
}

// An endpoint whose resource does not exist fails permanently: its
// messages are dead-lettered with the service's reason and counted, the
// other endpoints get theirs, and nothing blocks the stream.
func TestDeadLetters(t *testing.T) {
	t.Parallel()
	cases := []struct {
		missing string // the endpoint whose resource was never created
		reason  string // the service's error, in the dead letters' reason
	}{
		{"archive", "NoSuchBucket"},
		{"hot", "ResourceNotFoundException"},
	}
	for _, c := range cases {
		t.Run(c.missing+" missing", func(t *testing.T) {
			t.Parallel()
			h := newHub(t, hubOptions{missing: []string{c.missing}})
			dev := h.device("sensor-1", map[string]any{"site": "b43"})
			h.startRouter(routerOptions{})
			msgs := []struct {
				msg    hubclient.Message
				routes []string
			}{
				{jsonMessage("hot-1", `{"temperature":41}`), []string{"hot"}},
				{jsonMessage("cold-1", `{"temperature":12}`), nil},
				{jsonMessage("hot-2", `{"temperature":42}`), []string{"hot"}},
				{jsonMessage("cold-2", `{"temperature":13}`), nil},
			}
			want := map[countKey]counted{{"lifecycle", "registry"}: {delivered: 1}}
			type dead struct{ route, endpoint, messageID string }
			var wantDead []dead
			delivered := map[string][]string{} // by endpoint
			for _, m := range msgs {
				send(t, dev, m.msg)
				for _, k := range h.routeEndpoints(m.routes) {
					n := want[k]
					if k.endpoint == c.missing {
						n.deadLettered++
						wantDead = append(wantDead, dead{k.route, k.endpoint, m.msg.MessageID})
					} else {
						n.delivered++
						delivered[k.endpoint] = append(delivered[k.endpoint], m.msg.MessageID)
					}
					want[k] = n
				}
			}
			st := h.waitCounts(want)

			var gotDead []dead
			for _, d := range st.DeadLetters {
				gotDead = append(gotDead, dead{d.Route, d.Endpoint, d.MessageID})
				m, err := telemetry.Decode(d.Message)
				if d.DeviceID != "sensor-1" || !strings.Contains(d.Reason, c.reason) || d.SequenceNumber == "" ||
					d.EnqueuedTime.IsZero() || d.DeadLetteredTime.IsZero() || d.Size != len(d.Message) ||
					err != nil || m.MessageID != d.MessageID || m.Properties[propHub] != hubName {
					t.Errorf("dead letter %+v (message %s: %v)", d, d.Message, err)
				}
			}
			sortDead := func(a, b dead) int {
				return strings.Compare(a.route+a.endpoint+a.messageID, b.route+b.endpoint+b.messageID)
			}
			slices.SortFunc(gotDead, sortDead)
			slices.SortFunc(wantDead, sortDead)
			if !slices.Equal(gotDead, wantDead) {
				t.Errorf("dead letters %v, want %v", gotDead, wantDead)
			}

			var gotHot, gotArchive []string
			if c.missing != "hot" {
				for _, m := range h.mustReadStream(h.endpoint("hot").Stream) {
					gotHot = append(gotHot, m.MessageID)
				}
			}
			if c.missing != "archive" {
				for _, a := range h.readBucket(h.endpoint("archive")) {
					gotArchive = append(gotArchive, a.msg.MessageID)
				}
				slices.Sort(gotArchive)
			}
			wantArchive := slices.Sorted(slices.Values(delivered["archive"]))
			if !slices.Equal(gotHot, delivered["hot"]) || !slices.Equal(gotArchive, wantArchive) {
				t.Errorf("hot %v, archive %v; want %v, %v", gotHot, gotArchive, delivered["hot"], wantArchive)
			}
		})
	}
}
