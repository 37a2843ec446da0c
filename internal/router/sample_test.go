package router_test

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// The sample event in events/ (what the router function receives) routes.
func TestSampleEvent(t *testing.T) {
	raw, err := os.ReadFile("../../events/kinesis-telemetry.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.KinesisEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, definition(), nil, nil)
	if retry := h.handle(t, ev); retry != "" {
		t.Fatalf("retry from %s", retry)
	}
	if got := h.senders["archive"].ids(); !slices.Equal(got, []string{"m-43"}) {
		t.Fatalf("archive got %v", got)
	}
	got := map[string]string{}
	for k, c := range h.ledger.counts {
		got[k] = h.ledger.count(c.Route, c.Endpoint)
	}
	want := map[string]string{"hot/alerts": "1/0", "hot/archive": "1/0", "flagged/archive": "1/0", "pump/ops": "1/0", "$fallback/events": "1/0"}
	if !maps.Equal(got, want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
}
