package hubapi

import (
	"slices"
	"testing"
)

func TestRoutesMatchMux(t *testing.T) {
	var want []string
	for _, r := range Routes() {
		want = append(want, r.Method+" "+r.Path)
	}
	_, s := newServer(Deps{Registry: Registry(nil), Telemetry: Telemetry(nil)})
	if len(s.patterns) != 0 {
		t.Fatalf("nil parts must leave their routes out: %v", s.patterns)
	}
	var reg Registry = struct{ Registry }{}
	var tel Telemetry = struct{ Telemetry }{}
	var fb Feedback = struct{ Feedback }{}
	var dev C2DDevice = struct{ C2DDevice }{}
	var svc C2DService = struct{ C2DService }{}
	var cas CARegistry = struct{ CARegistry }{}
	var rs RoutingStats = struct{ RoutingStats }{}
	_, s = newServer(Deps{Registry: reg, Telemetry: tel, C2DDevice: dev, C2DService: svc, Feedback: fb, CAs: cas, Routing: rs})
	got := slices.Clone(s.patterns)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the mux serves\n%v\nRoutes() lists\n%v", got, want)
	}
}
