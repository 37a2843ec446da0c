package router_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/provision"
	"github.com/devicehub/devicehub/internal/router"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/routing"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newStore creates a Routing table of its own on the DynamoDB emulator.
func newStore(t *testing.T) *router.Store {
	t.Helper()
	_, endpoint := testenv.Endpoints()
	db := awsenv.DynamoDB(awsenv.Static("us-east-1"), endpoint)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "t-" + hex.EncodeToString(b) + "-" + schema.Routing.DefaultName
	ctx := context.Background()
	if err := provision.CreateTables(ctx, db, []schema.Table{schema.Routing}, map[string]string{schema.Routing.ID: name}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return &router.Store{DB: db, Table: name, Now: func() time.Time { return now }}
}

func deadLetter(route, endpoint string, i int, data string) router.DeadLetter {
	return router.DeadLetter{
		Route: route, Endpoint: endpoint, Reason: "permanent: no such bucket", DeviceID: "d1", MessageID: fmt.Sprintf("m%d", i),
		SequenceNumber: seq(i), ArrivalTime: now.Add(time.Duration(i) * time.Second), EnqueuedTime: now.Add(time.Duration(i) * time.Second),
		Time: now, Data: []byte(data),
	}
}

func TestStoreStats(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	def := definition()

	// Counters add up atomically across calls.
	for range 2 {
		if err := s.AddCounts(ctx, []router.Count{
			{Route: "hot", Endpoint: "alerts", Delivered: 3, DeadLettered: 1},
			{Route: router.FallbackRoute, Endpoint: routing.BuiltIn, Delivered: 5},
			{Route: router.UnroutableRoute, Endpoint: router.NoEndpoint, DeadLettered: 2},
			{Route: "flagged", Endpoint: "archive", DeadLettered: 1},
			{Route: "gone", Endpoint: "old", Delivered: 1},
		}); err != nil {
			t.Fatal(err)
		}
	}

	// The same dead letters again overwrite them (a retried batch).
	var dls []router.DeadLetter
	for i := range 30 {
		dls = append(dls, deadLetter("hot", "alerts", i, fmt.Sprintf(`{"v":2,"i":"m%d"}`, i)))
	}
	big := deadLetter("flagged", "archive", 40, `{"pad":"`+string(bytes.Repeat([]byte("x"), 400<<10))+`"}`)
	raw := deadLetter(router.UnroutableRoute, router.NoEndpoint, 41, "not json")
	dls = append(dls, big, raw)
	for range 2 {
		if n, err := s.WriteDeadLetters(ctx, dls); err != nil || n != len(dls) {
			t.Fatalf("wrote %d of %d: %v", n, len(dls), err)
		}
	}

	st := &router.Stats{Store: s, Definition: def, DeadLetters: 5}
	got, err := st.ReadStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var counts []string
	for _, c := range got.Routes {
		counts = append(counts, fmt.Sprintf("%s/%s %d/%d %t", c.Route, c.Endpoint, c.Delivered, c.DeadLettered, c.Updated.Equal(now)))
	}
	// The definition's routes and endpoints first, then a route since
	// removed.
	want := []string{
		"hot/alerts 6/2 true", "hot/archive 0/0 false", "flagged/archive 0/2 true", "pump/ops 0/0 false",
		"lifecycle/ops 0/0 false", "off/ops 0/0 false", "$fallback/events 10/0 true", "$unroutable/- 0/4 true",
		"gone/old 2/0 true",
	}
	if !slices.Equal(counts, want) {
		t.Errorf("counts\n%q\nwant\n%q", counts, want)
	}

	var ids []string
	for _, d := range got.DeadLetters {
		ids = append(ids, d.Route+"/"+d.SequenceNumber)
	}
	if want := []string{"$unroutable/" + seq(41), "flagged/" + seq(40), "hot/" + seq(29), "hot/" + seq(28), "hot/" + seq(27)}; !slices.Equal(ids, want) {
		t.Fatalf("dead letters %v, want %v", ids, want)
	}
	r, b, h := got.DeadLetters[0], got.DeadLetters[1], got.DeadLetters[2]
	// A message that is not JSON or too large is left out; its size is
	// given.
	if r.Message != nil || r.Size != len("not json") || r.DeviceID != "d1" || r.Endpoint != router.NoEndpoint {
		t.Errorf("unroutable dead letter %+v", r)
	}
	if b.Message != nil || b.Size != len(big.Data) {
		t.Errorf("large dead letter: size %d, message %d bytes", b.Size, len(b.Message))
	}
	wantH := iothub.RoutingDeadLetter{
		Route: "hot", Endpoint: "alerts", Reason: "permanent: no such bucket", DeviceID: "d1", MessageID: "m29",
		SequenceNumber: seq(29), EnqueuedTime: now.Add(29 * time.Second), DeadLetteredTime: now,
		Size: len(`{"v":2,"i":"m29"}`), Message: json.RawMessage(`{"v":2,"i":"m29"}`),
	}
	if gh, _ := json.Marshal(h); string(gh) != string(must(json.Marshal(wantH))) {
		t.Errorf("dead letter\n%s\nwant\n%s", gh, must(json.Marshal(wantH)))
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// Without a definition (the service function), what was counted, in key
// order; an empty table answers empty lists.
func TestStatsWithoutDefinition(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	st := &router.Stats{Store: s}
	got, err := st.ReadStats(ctx)
	if err != nil || got.Routes == nil || got.DeadLetters == nil || len(got.Routes)+len(got.DeadLetters) != 0 {
		t.Fatalf("%+v, %v", got, err)
	}
	if err := s.AddCounts(ctx, []router.Count{
		{Route: "hot", Endpoint: "alerts", Delivered: 1}, {Route: router.FallbackRoute, Endpoint: routing.BuiltIn, Delivered: 2},
		{Route: router.UnroutableRoute, Endpoint: router.NoEndpoint, DeadLettered: 1},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteDeadLetters(ctx, []router.DeadLetter{deadLetter(router.UnroutableRoute, router.NoEndpoint, 1, "x")}); err != nil {
		t.Fatal(err)
	}
	if got, err = st.ReadStats(ctx); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, c := range got.Routes {
		rows = append(rows, fmt.Sprintf("%s/%s %d/%d", c.Route, c.Endpoint, c.Delivered, c.DeadLettered))
	}
	if want := []string{"$fallback/events 2/0", "$unroutable/- 0/1", "hot/alerts 1/0"}; !slices.Equal(rows, want) {
		t.Fatalf("counts %q, want %q", rows, want)
	}
	if len(got.DeadLetters) != 1 || got.DeadLetters[0].Route != router.UnroutableRoute {
		t.Fatalf("dead letters %+v", got.DeadLetters)
	}
}

// The router on the emulator's table: what it delivers, dead-letters and
// counts is what Stats reads.
func TestRouterStats(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	alerts, archive, ops := &fakeSender{}, &fakeSender{}, &fakeSender{}
	archive.fail = func(m router.Message, _ int) error {
		if m.UniqueID == "m2" {
			return permanentError{"no such bucket"}
		}
		return nil
	}
	r, err := router.New(definition(), router.Options{
		Senders: map[string]router.Sender{"alerts": alerts, "archive": archive, "ops": ops},
		Ledger:  s, Permanent: isPermanent, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := batch(
		rec{dev: "d1", id: "m1", body: `{"temperature":35}`},
		rec{dev: "d1", id: "m2", body: `{"temperature":35}`},
		rec{dev: "d2", raw: []byte("garbage")},
		rec{dev: "d2", id: "m3"},
	)
	for range 2 { // a batch handled twice (a retry) writes the same dead letters again
		if resp, err := r.Handle(ctx, ev); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%+v, %v", resp, err)
		}
	}
	got, err := (&router.Stats{Store: s, Definition: definition()}).ReadStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]string{}
	for _, c := range got.Routes {
		if c.Delivered+c.DeadLettered > 0 {
			counts[c.Route+"/"+c.Endpoint] = fmt.Sprintf("%d/%d", c.Delivered, c.DeadLettered)
		}
	}
	want := map[string]string{"hot/alerts": "4/0", "hot/archive": "2/2", "$fallback/events": "2/0", "$unroutable/-": "0/2"}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", counts, want)
	}
	var dead []string
	for _, d := range got.DeadLetters {
		dead = append(dead, d.Route+"/"+d.Endpoint+"/"+d.SequenceNumber)
	}
	if want := []string{"$unroutable/-/" + seq(2), "hot/archive/" + seq(1)}; !slices.Equal(dead, want) {
		t.Errorf("dead letters %v, want %v", dead, want)
	}
}
