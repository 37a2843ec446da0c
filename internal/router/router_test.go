package router_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/router"
	"github.com/devicehub/devicehub/shared/routing"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// definition is the tests' routing: a Kinesis stream (ordered), an S3
// bucket (unordered) and a FIFO queue (ordered).
func definition() routing.Definition {
	return routing.Definition{
		Endpoints: []routing.Endpoint{
			{Name: "alerts", Kind: routing.Kinesis, Stream: "alerts"},
			{Name: "archive", Kind: routing.S3, Bucket: "archive"},
			{Name: "ops", Kind: routing.SQS, Queue: "https://sqs/ops.fifo", FIFO: true},
		},
		Routes: []routing.Route{
			{Name: "hot", Condition: "$body.temperature > 30", Endpoints: []string{"alerts", "archive"}},
			{Name: "flagged", Condition: "alert = 'true'", Endpoints: []string{"archive"}},
			{Name: "pump", Condition: "$connectionDeviceId = 'pump-1' AND $contentType = 'application/json'", Endpoints: []string{"ops"}},
			{Name: "lifecycle", Source: routing.SourceDeviceLifecycleEvents, Endpoints: []string{"ops"}},
			{Name: "off", Disabled: true, Endpoints: []string{"ops"}},
		},
	}
}

func TestRoute(t *testing.T) {
	const hot, cold = `{"temperature":35}`, `{"temperature":20}`
	cases := []struct {
		name   string
		edit   func(*routing.Definition)
		recs   []rec
		want   map[string][]string // endpoint -> delivered message ids
		counts map[string]string   // "route/endpoint" -> "delivered/deadLettered"
	}{
		{
			name:   "a match goes to each endpoint of the route",
			recs:   []rec{{dev: "d1", id: "m1", body: hot}},
			want:   map[string][]string{"alerts": {"m1"}, "archive": {"m1"}},
			counts: map[string]string{"hot/alerts": "1/0", "hot/archive": "1/0"},
		},
		{
			name:   "two routes to one endpoint: delivered once, counted for both",
			recs:   []rec{{dev: "d1", id: "m1", body: hot, props: map[string]string{"alert": "true"}}},
			want:   map[string][]string{"alerts": {"m1"}, "archive": {"m1"}},
			counts: map[string]string{"hot/alerts": "1/0", "hot/archive": "1/0", "flagged/archive": "1/0"},
		},
		{
			name:   "application properties match without case",
			recs:   []rec{{dev: "d1", id: "m1", body: cold, props: map[string]string{"Alert": "true"}}},
			want:   map[string][]string{"archive": {"m1"}},
			counts: map[string]string{"flagged/archive": "1/0"},
		},
		{
			name:   "system properties",
			recs:   []rec{{dev: "pump-1", id: "m1", body: cold}, {dev: "pump-2", id: "m2", body: cold}},
			want:   map[string][]string{"ops": {"m1"}},
			counts: map[string]string{"pump/ops": "1/0", "$fallback/events": "1/0"},
		},
		{
			name:   "no match: the fallback route's built-in endpoint, a counted no-op",
			recs:   []rec{{dev: "d1", id: "m1", body: cold}, {dev: "d1", id: "m2", body: cold}},
			counts: map[string]string{"$fallback/events": "2/0"},
		},
		{
			name:   "fallback to a custom endpoint",
			edit:   func(d *routing.Definition) { d.Fallback.Endpoints = []string{"archive", routing.BuiltIn} },
			recs:   []rec{{dev: "d1", id: "m1", body: cold}},
			want:   map[string][]string{"archive": {"m1"}},
			counts: map[string]string{"$fallback/archive": "1/0", "$fallback/events": "1/0"},
		},
		{
			name: "disabled fallback",
			edit: func(d *routing.Definition) { d.Fallback.Disabled = true },
			recs: []rec{{dev: "d1", id: "m1", body: cold}},
		},
		{
			name:   "a disabled route matches nothing",
			edit:   func(d *routing.Definition) { d.Routes[4].Condition = "true" },
			recs:   []rec{{dev: "d1", id: "m1", body: cold}},
			counts: map[string]string{"$fallback/events": "1/0"},
		},
		{
			name:   "a body that is not JSON does not match $body",
			recs:   []rec{{dev: "d1", id: "m1", body: `temperature=35`}},
			counts: map[string]string{"$fallback/events": "1/0"},
		},
		{
			name:   "lifecycle events: their routes only, no fallback",
			recs:   []rec{{dev: "d1", id: "e1", source: telemetry.SourceDeviceLifecycleEvents, body: hot}},
			want:   map[string][]string{"ops": {"e1"}},
			counts: map[string]string{"lifecycle/ops": "1/0"},
		},
		{
			name: "lifecycle events without a route go nowhere",
			edit: func(d *routing.Definition) { d.Routes = d.Routes[:3] },
			recs: []rec{{dev: "d1", id: "e1", source: telemetry.SourceDeviceLifecycleEvents}},
		},
		{
			name:   "a message without an id is known by its sequence number",
			recs:   []rec{{dev: "d1", body: hot}},
			want:   map[string][]string{"alerts": {seq(0)}, "archive": {seq(0)}},
			counts: map[string]string{"hot/alerts": "1/0", "hot/archive": "1/0"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			def := definition()
			if tc.edit != nil {
				tc.edit(&def)
			}
			h := newHarness(t, def, nil, nil)
			if retry := h.handle(t, batch(tc.recs...)); retry != "" {
				t.Fatalf("retry from %s", retry)
			}
			for name, s := range h.senders {
				if got := s.ids(); !slices.Equal(got, tc.want[name]) {
					t.Errorf("%s got %v, want %v", name, got, tc.want[name])
				}
			}
			got := map[string]string{}
			for k := range h.ledger.counts {
				r, e, _ := strings.Cut(k, "/")
				got[k] = h.ledger.count(r, e)
			}
			if tc.counts == nil {
				tc.counts = map[string]string{}
			}
			if !maps.Equal(got, tc.counts) {
				t.Errorf("counts %v, want %v", got, tc.counts)
			}
			if len(h.ledger.dead) > 0 {
				t.Errorf("dead letters: %+v", h.ledger.dead)
			}
		})
	}
}

// Conditions read every system property the record has, by IoT Hub's query
// names.
func TestSystemProperties(t *testing.T) {
	conds := map[string]string{
		"contentType":     "$contentType = 'application/json'",
		"contentEncoding": "$CONTENTENCODING = 'utf-8'",
		"device":          "$connectionDeviceId = 'd1'",
		"generation":      "$connectionDeviceGenerationId = 'g-d1'",
		"auth":            `$connectionAuthMethod = '` + telemetry.AuthMethodSAS + `'`,
		"messageId":       "$messageId = 'm1'",
		"correlationId":   "$correlationId = 'c1'",
		"userId":          "$userId = 'u1'",
		"enqueued":        "$enqueuedTime = '2026-11-27T11:59:59.000Z'",
		"enqueuedOrder":   "$enqueuedTime < '2026-11-27T12:00:00Z'",
		"module":          "IS_DEFINED($connectionModuleId)",
	}
	var def routing.Definition
	for _, name := range slices.Sorted(maps.Keys(conds)) {
		def.Routes = append(def.Routes, routing.Route{Name: name, Condition: conds[name], Endpoints: []string{routing.BuiltIn}})
	}
	def.Fallback.Disabled = true
	h := newHarness(t, def, nil, nil)
	h.handle(t, batch(rec{dev: "d1", id: "m1", cid: "c1", uid: "u1"}))
	var matched []string
	for k := range h.ledger.counts {
		r, _, _ := strings.Cut(k, "/")
		matched = append(matched, r)
	}
	slices.Sort(matched)
	want := slices.DeleteFunc(slices.Sorted(maps.Keys(conds)), func(n string) bool { return n == "module" })
	if !slices.Equal(matched, want) {
		t.Fatalf("matched %v, want %v", matched, want)
	}
}

// The routed message's fields: the device, the enqueued time, and the
// record as it is when no enrichment applies.
func TestRoutedMessage(t *testing.T) {
	h := newHarness(t, definition(), nil, nil)
	ev := batch(rec{dev: "d1", id: "m1", body: `{"temperature":35}`})
	h.handle(t, ev)
	got := h.senders["alerts"].delivered
	if len(got) != 1 {
		t.Fatalf("delivered %v", got)
	}
	m := got[0]
	if m.DeviceID != "d1" || m.UniqueID != "m1" || !m.Time.Equal(now.Add(-time.Second)) || string(m.Data) != string(ev.Records[0].Kinesis.Data) {
		t.Fatalf("message %+v", m)
	}
}

func TestEnrichments(t *testing.T) {
	def := definition()
	def.Enrichments = []routing.Enrichment{
		{Key: "site", Value: "plant-7", Endpoints: []string{"alerts", "archive"}},
		{Key: "hub", Value: "$iothubname", Endpoints: []string{"alerts", "archive", routing.BuiltIn}},
		{Key: "room", Value: "$twin.tags.location.room", Endpoints: []string{"alerts"}},
		{Key: "firmware", Value: "$twin.tags.fw", Endpoints: []string{"alerts"}},
		{Key: "ALERT", Value: "enriched", Endpoints: []string{"ops"}},
	}
	tags := &fakeTags{tags: map[string]map[string]any{
		"d1": {"location": map[string]any{"room": "B12"}, "fw": 1.5},
		"d2": {"location": map[string]any{"floor": 3.0}, "fw": map[string]any{"v": 1.0}},
	}}
	h := newHarness(t, def, tags, nil)
	ev := batch(
		rec{dev: "d1", id: "m1", body: `{"temperature":35}`, props: map[string]string{"alert": "true", "unit": "C"}},
		rec{dev: "d2", id: "m2", body: `{"temperature":35}`},
		rec{dev: "d2", id: "m3", body: `{"temperature":35}`},
		rec{dev: "gone", id: "m4", body: `{"temperature":35}`},
		rec{dev: "d1", id: "e1", source: telemetry.SourceDeviceLifecycleEvents, props: map[string]string{"opType": "createDeviceIdentity", "alert": "x"}},
	)
	if retry := h.handle(t, ev); retry != "" {
		t.Fatalf("retry from %s", retry)
	}
	props := func(endpoint string, i int) (telemetry.Message, map[string]string) {
		t.Helper()
		msgs := h.senders[endpoint].delivered
		if i >= len(msgs) {
			t.Fatalf("%s: %d messages", endpoint, len(msgs))
		}
		m, err := telemetry.Decode(msgs[i].Data)
		if err != nil {
			t.Fatal(err)
		}
		return m, m.Properties
	}
	check := func(endpoint string, i int, want map[string]string) {
		t.Helper()
		if _, got := props(endpoint, i); !maps.Equal(got, want) {
			t.Errorf("%s message %d: properties %v, want %v", endpoint, i, got, want)
		}
	}
	check("alerts", 0, map[string]string{"alert": "true", "unit": "C", "site": "plant-7", "hub": "contoso", "room": "B12", "firmware": "1.5"})
	check("archive", 0, map[string]string{"alert": "true", "unit": "C", "site": "plant-7", "hub": "contoso"})
	// Absent tags and tags that are objects are skipped; so are all tags of
	// a device the registry does not know.
	check("alerts", 1, map[string]string{"site": "plant-7", "hub": "contoso"})
	check("alerts", 3, map[string]string{"site": "plant-7", "hub": "contoso"})
	// An enrichment replaces the device's property of the same name, whose
	// case it may not share; a lifecycle event keeps its source.
	m, got := props("ops", 0)
	if want := map[string]string{"opType": "createDeviceIdentity", "ALERT": "enriched"}; !maps.Equal(got, want) {
		t.Errorf("ops: properties %v, want %v", got, want)
	}
	if m.Source != telemetry.SourceDeviceLifecycleEvents || m.DeviceID != "d1" || m.MessageID != "e1" || !m.EnqueuedTime.Equal(now.Add(-time.Second)) {
		t.Errorf("ops: re-encoded message %+v", m)
	}
	// The body and the system properties are kept.
	a, _ := props("alerts", 0)
	orig, _ := telemetry.Decode(ev.Records[0].Kinesis.Data)
	if string(a.Body) != string(orig.Body) || a.SystemProperties != orig.SystemProperties {
		t.Errorf("alerts: %+v, want the system properties and body of %+v", a, orig)
	}
	// The tags are read once per device in an invocation.
	if !maps.Equal(tags.reads, map[string]int{"d1": 1, "d2": 1, "gone": 1}) {
		t.Errorf("tag reads %v", tags.reads)
	}
}

// Endpoints with the same enrichments share one encoding per record.
func TestEnrichmentsShared(t *testing.T) {
	def := definition()
	def.Enrichments = []routing.Enrichment{{Key: "site", Value: "plant-7", Endpoints: []string{"alerts", "archive"}}}
	h := newHarness(t, def, nil, nil)
	h.handle(t, batch(rec{dev: "d1", id: "m1", body: `{"temperature":35}`}))
	a, b := h.senders["alerts"].delivered[0].Data, h.senders["archive"].delivered[0].Data
	if &a[0] != &b[0] {
		t.Fatal("two encodings of one record for the same enrichments")
	}
}

// Tags are read only when a condition or an enrichment reads them.
func TestTagsReadOnlyWhenUsed(t *testing.T) {
	tags := &fakeTags{tags: map[string]map[string]any{"d1": {"tier": "gold"}}}
	h := newHarness(t, definition(), tags, nil)
	h.handle(t, batch(rec{dev: "d1", id: "m1"}, rec{dev: "d2", id: "m2"}))
	if len(tags.reads) != 0 {
		t.Fatalf("tag reads %v", tags.reads)
	}

	def := definition()
	def.Routes = append(def.Routes, routing.Route{Name: "gold", Condition: "$twin.tags.tier = 'gold'", Endpoints: []string{"archive"}})
	h = newHarness(t, def, tags, nil)
	h.handle(t, batch(rec{dev: "d1", id: "m1"}, rec{dev: "d1", id: "m2"}, rec{dev: "d2", id: "m3"}))
	if got := h.senders["archive"].ids(); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Fatalf("archive got %v", got)
	}
	if !maps.Equal(tags.reads, map[string]int{"d1": 1, "d2": 1}) {
		t.Fatalf("tag reads %v", tags.reads)
	}
}

func TestNewRefuses(t *testing.T) {
	withTwin := definition()
	withTwin.Routes[0].Condition = "$twin.tags.x = 1"
	cases := []struct {
		name string
		def  routing.Definition
		o    router.Options
		want string
	}{
		{"no ledger", definition(), router.Options{}, "no ledger"},
		{"no sender", definition(), router.Options{Ledger: newLedger()}, `endpoint "alerts" has no sender`},
		{"twin without a tag reader", withTwin, router.Options{Ledger: newLedger(), Senders: map[string]router.Sender{
			"alerts": &fakeSender{}, "archive": &fakeSender{}, "ops": &fakeSender{},
		}}, "no tag reader"},
		{"invalid", routing.Definition{Routes: []routing.Route{{Name: "r", Endpoints: []string{"nowhere"}}}}, router.Options{Ledger: newLedger()}, "unknown endpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := router.New(tc.def, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFailures(t *testing.T) {
	const hot = `{"temperature":35}`
	transient := errors.New("throttled")
	type fail func(m router.Message, call int) error
	// failing fails the message ids given, in every call, with err.
	failing := func(err error, ids ...string) fail {
		return func(m router.Message, _ int) error {
			if slices.Contains(ids, m.UniqueID) {
				return err
			}
			return nil
		}
	}
	cases := []struct {
		name    string
		fail    map[string]fail
		recs    []rec
		retry   string              // the sequence number to retry from
		want    map[string][]string // endpoint -> delivered ids
		counts  map[string]string
		dead    []string // "route/endpoint/id" of the dead letters
		maxSend map[string]int
	}{
		{
			name:   "a transient failure that recovers",
			fail:   map[string]fail{"alerts": func(m router.Message, call int) error { return map[bool]error{true: transient}[call == 0] }},
			recs:   []rec{{dev: "d1", id: "m1", body: hot}, {dev: "d2", id: "m2", body: hot}},
			want:   map[string][]string{"alerts": {"m1", "m2"}, "archive": {"m1", "m2"}},
			counts: map[string]string{"hot/alerts": "2/0", "hot/archive": "2/0"},
		},
		{
			name:   "a permanent failure is dead-lettered per route, the rest delivered",
			fail:   map[string]fail{"archive": failing(permanentError{"no such bucket"}, "m2")},
			recs:   []rec{{dev: "d1", id: "m1", body: hot}, {dev: "d1", id: "m2", body: hot, props: map[string]string{"alert": "true"}}, {dev: "d1", id: "m3", body: hot}},
			want:   map[string][]string{"alerts": {"m1", "m2", "m3"}, "archive": {"m1", "m3"}},
			counts: map[string]string{"hot/alerts": "3/0", "hot/archive": "2/1", "flagged/archive": "0/1"},
			dead:   []string{"hot/archive/m2", "flagged/archive/m2"},
		},
		{
			name:  "a transient failure that lasts: retry from its record; the earlier ones are counted",
			fail:  map[string]fail{"archive": failing(transient, "m2")},
			recs:  []rec{{dev: "d1", id: "m1", body: hot}, {dev: "d2", id: "m2", body: hot}, {dev: "d3", id: "m3", body: hot}},
			retry: seq(1),
			// Delivered are m3 to both (duplicates when retried) and m2 to
			// alerts; only m1 is done.
			want:   map[string][]string{"alerts": {"m1", "m2", "m3"}, "archive": {"m1", "m3"}},
			counts: map[string]string{"hot/alerts": "1/0", "hot/archive": "1/0"},
		},
		{
			name:   "the earliest undelivered record of all endpoints",
			fail:   map[string]fail{"archive": failing(transient, "m3"), "alerts": failing(transient, "m2")},
			recs:   []rec{{dev: "d1", id: "m1", body: hot}, {dev: "d2", id: "m2", body: hot}, {dev: "d3", id: "m3", body: hot}},
			retry:  seq(1),
			want:   map[string][]string{"alerts": {"m1", "m3"}, "archive": {"m1", "m2"}},
			counts: map[string]string{"hot/alerts": "1/0", "hot/archive": "1/0"},
		},
		{
			name: "per-device order to an ordered endpoint under a partial failure",
			fail: map[string]fail{"alerts": failing(transient, "a2")},
			recs: []rec{
				{dev: "a", id: "a1", body: hot}, {dev: "b", id: "b1", body: hot}, {dev: "a", id: "a2", body: hot},
				{dev: "b", id: "b2", body: hot}, {dev: "a", id: "a3", body: hot},
			},
			retry: seq(2),
			// a3 never reaches the Kinesis endpoint before a2; the unordered
			// bucket gets everything.
			want:   map[string][]string{"alerts": {"a1", "b1", "b2"}, "archive": {"a1", "b1", "a2", "b2", "a3"}},
			counts: map[string]string{"hot/alerts": "2/0", "hot/archive": "2/0"},
		},
		{
			name: "a permanent failure does not hold the device's later records",
			fail: map[string]fail{"alerts": failing(permanentError{"record too large"}, "a1")},
			recs: []rec{{dev: "a", id: "a1", body: hot}, {dev: "a", id: "a2", body: hot}},
			// The ordered sender refuses a2 in the first call, behind a1;
			// the second call delivers it.
			want:   map[string][]string{"alerts": {"a2"}, "archive": {"a1", "a2"}},
			counts: map[string]string{"hot/alerts": "1/1", "hot/archive": "2/0"},
			dead:   []string{"hot/alerts/a1"},
		},
		{
			name:   "an old record that cannot be delivered is dead-lettered, not retried",
			fail:   map[string]fail{"alerts": failing(transient, "m1")},
			recs:   []rec{{dev: "d1", id: "m1", body: hot, age: 2 * time.Hour}, {dev: "d2", id: "m2", body: hot}},
			want:   map[string][]string{"alerts": {"m2"}, "archive": {"m1", "m2"}},
			counts: map[string]string{"hot/alerts": "1/1", "hot/archive": "2/0"},
			dead:   []string{"hot/alerts/m1"},
		},
		{
			name:    "attempts are bounded",
			fail:    map[string]fail{"alerts": failing(transient, "m1")},
			recs:    []rec{{dev: "d1", id: "m1", body: hot}},
			retry:   seq(0),
			want:    map[string][]string{"archive": {"m1"}},
			maxSend: map[string]int{"alerts": router.DefaultAttempts, "archive": 1},
		},
		{
			name: "a sender that answers for fewer messages: the rest count as failed and are sent again",
			fail: map[string]fail{},
			recs: []rec{{dev: "d1", id: "m1", body: hot}, {dev: "d2", id: "m2", body: hot}},
			// the archive's sender answers for one message per call (set below)
			want:   map[string][]string{"alerts": {"m1", "m2"}, "archive": {"m1", "m2", "m2"}},
			counts: map[string]string{"hot/alerts": "2/0", "hot/archive": "2/0"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, definition(), nil, func(o *router.Options) {
				if strings.HasPrefix(tc.name, "a sender that answers for fewer messages") {
					o.Senders["archive"] = truncating{o.Senders["archive"].(*fakeSender)}
				}
			})
			for name, f := range tc.fail {
				h.senders[name].fail = f
			}
			if got := h.handle(t, batch(tc.recs...)); got != tc.retry {
				t.Errorf("retry from %q, want %q", got, tc.retry)
			}
			for name, s := range h.senders {
				if got := s.ids(); !slices.Equal(got, tc.want[name]) {
					t.Errorf("%s got %v, want %v", name, got, tc.want[name])
				}
				if n, ok := tc.maxSend[name]; ok && len(s.calls) != n {
					t.Errorf("%s: %d sends, want %d", name, len(s.calls), n)
				}
			}
			got := map[string]string{}
			for k := range h.ledger.counts {
				r, e, _ := strings.Cut(k, "/")
				got[k] = h.ledger.count(r, e)
			}
			if tc.counts == nil {
				tc.counts = map[string]string{}
			}
			if !maps.Equal(got, tc.counts) {
				t.Errorf("counts %v, want %v", got, tc.counts)
			}
			var dead []string
			for _, d := range h.ledger.dead {
				dead = append(dead, d.Route+"/"+d.Endpoint+"/"+d.MessageID)
				if d.Reason == "" || d.SequenceNumber == "" || d.DeviceID == "" || len(d.Data) == 0 || !d.Time.Equal(now) {
					t.Errorf("dead letter %+v", d)
				}
			}
			if !slices.Equal(dead, tc.dead) {
				t.Errorf("dead letters %v, want %v", dead, tc.dead)
			}
		})
	}
}

// truncating answers for the first message of each call only.
type truncating struct{ s *fakeSender }

func (t truncating) Send(ctx context.Context, msgs []router.Message) []error {
	return t.s.Send(ctx, msgs)[:1]
}

// A record that does not decode is dead-lettered under $unroutable as it
// is, and the batch goes on.
func TestUndecodable(t *testing.T) {
	h := newHarness(t, definition(), nil, nil)
	ev := batch(
		rec{dev: "d1", id: "m1", body: `{"temperature":35}`},
		rec{dev: "d1", raw: []byte(`{"v":9}`)},
		rec{dev: "d2", raw: []byte(`not json`)},
		rec{dev: "d1", id: "m2", body: `{"temperature":35}`},
	)
	if retry := h.handle(t, ev); retry != "" {
		t.Fatalf("retry from %s", retry)
	}
	if got := h.senders["alerts"].ids(); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Fatalf("alerts got %v", got)
	}
	if len(h.ledger.dead) != 2 {
		t.Fatalf("dead letters %+v", h.ledger.dead)
	}
	for i, d := range h.ledger.dead {
		r := ev.Records[i+1].Kinesis
		if d.Route != router.UnroutableRoute || d.Endpoint != router.NoEndpoint || d.SequenceNumber != r.SequenceNumber ||
			d.DeviceID != r.PartitionKey || string(d.Data) != string(r.Data) || !strings.Contains(d.Reason, "telemetry") {
			t.Errorf("dead letter %d: %+v", i, d)
		}
	}
	if got := h.ledger.count(router.UnroutableRoute, router.NoEndpoint); got != "0/2" {
		t.Errorf("unroutable count %s", got)
	}
}

// A device whose tags cannot be read holds its records (and only its) until
// they are too old, also those whose evaluation would not read the tags.
func TestTagFailure(t *testing.T) {
	const hot, cold = `{"temperature":35}`, `{"temperature":20}`
	def := definition()
	def.Routes = append(def.Routes, routing.Route{Name: "gold", Condition: "$body.temperature > 30 AND $twin.tags.tier = 'gold'", Endpoints: []string{"archive"}})
	def.Fallback.Endpoints = []string{"archive"}
	tags := &fakeTags{
		tags: map[string]map[string]any{"ok": {"tier": "gold"}},
		errs: map[string]error{"flaky": errors.New("registry throttled"), "stale": errors.New("registry throttled")},
	}
	h := newHarness(t, def, tags, nil)
	ev := batch(
		rec{dev: "stale", id: "s1", body: hot, age: 2 * time.Hour},
		rec{dev: "ok", id: "o1", body: hot},
		rec{dev: "flaky", id: "f1", body: hot},
		rec{dev: "ok", id: "o2", body: cold},
		rec{dev: "flaky", id: "f2", body: cold}, // would go to the fallback without reading tags
	)
	if retry := h.handle(t, ev); retry != seq(2) {
		t.Fatalf("retry from %q, want %s", retry, seq(2))
	}
	if got := h.senders["archive"].ids(); !slices.Equal(got, []string{"o1", "o2"}) {
		t.Fatalf("archive got %v", got)
	}
	if len(h.ledger.dead) != 1 || h.ledger.dead[0].Route != router.UnroutableRoute || h.ledger.dead[0].MessageID != "s1" ||
		!strings.Contains(h.ledger.dead[0].Reason, "registry throttled") {
		t.Fatalf("dead letters %+v", h.ledger.dead)
	}
	if !maps.Equal(tags.reads, map[string]int{"stale": 1, "ok": 1, "flaky": 1}) {
		t.Fatalf("tag reads %v", tags.reads)
	}
}

// A dead letter that cannot be written moves the retry point to its record.
func TestDeadLetterWriteFails(t *testing.T) {
	h := newHarness(t, definition(), nil, nil)
	h.ledger.writeFail = 1
	h.senders["alerts"].fail = func(m router.Message, _ int) error {
		return permanentError{"gone"}
	}
	retry := h.handle(t, batch(
		rec{dev: "d1", id: "m1", body: `{"temperature":35}`},
		rec{dev: "d2", id: "m2", body: `{"temperature":35}`},
		rec{dev: "d3", id: "m3", body: `{"temperature":35}`},
	))
	if retry != seq(1) {
		t.Fatalf("retry from %q, want %s", retry, seq(1))
	}
	if got := h.ledger.count("hot", "alerts"); got != "0/1" {
		t.Fatalf("count %s", got)
	}
}

// Counters that cannot be written do not fail the batch.
func TestCountersFail(t *testing.T) {
	h := newHarness(t, definition(), nil, nil)
	h.ledger.countErr = errors.New("table unavailable")
	if retry := h.handle(t, batch(rec{dev: "d1", id: "m1"})); retry != "" {
		t.Fatalf("retry from %s", retry)
	}
	if h.ledger.adds != 1 {
		t.Fatalf("%d AddCounts", h.ledger.adds)
	}
}

// Retries stay within the invocation's deadline, less the bookkeeping's
// reserve.
func TestDeadline(t *testing.T) {
	h := newHarness(t, definition(), nil, func(o *router.Options) {
		o.Attempts, o.Backoff = 100, 50*time.Millisecond
	})
	h.senders["alerts"].fail = func(router.Message, int) error { return errors.New("down") }
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := h.r.Handle(ctx, batch(rec{dev: "d1", id: "m1", body: `{"temperature":35}`}))
	if err != nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("%+v, %v", resp, err)
	}
	// The retries stopped before the reserve: the answer beats the deadline.
	if ctx.Err() != nil {
		t.Fatal("Handle returned after the invocation's deadline")
	}
	if n := len(h.senders["alerts"].calls); n < 2 || n >= 100 {
		t.Fatalf("%d sends", n)
	}
}

func TestEmptyBatch(t *testing.T) {
	h := newHarness(t, definition(), nil, nil)
	if retry := h.handle(t, batch()); retry != "" || h.ledger.adds != 0 {
		t.Fatalf("retry %q, %d AddCounts", retry, h.ledger.adds)
	}
}
