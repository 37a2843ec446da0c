package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/test/testenv"
)

// withStats is a harness whose hub answers GET /devicehub/routing with st.
func withStats(t *testing.T, st iothub.RoutingStats) *harness {
	t.Helper()
	h := &harness{t: t, wd: t.TempDir()}
	body, _ := json.Marshal(st)
	srv := httptest.NewServer(h.count(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/devicehub/routing" || !strings.HasPrefix(r.Header.Get("Authorization"), "SharedAccessSignature ") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})))
	t.Cleanup(srv.Close)
	owner := sas.ConnectionString{HostName: testenv.Host, SharedAccessKeyName: "iothubowner", SharedAccessKey: "a2V5"}
	h.env = map[string]string{schema.EnvHubURL: srv.URL, schema.EnvConnString: owner.String()}
	return h
}

func TestRoutes(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	st := iothub.RoutingStats{
		Routes: []iothub.RouteCount{
			{Route: "hot", Endpoint: "alerts", Delivered: 12, DeadLettered: 1, Updated: at},
			{Route: "$fallback", Endpoint: "events", Delivered: 30, Updated: at},
			{Route: "$unroutable", Endpoint: "-"},
		},
		DeadLetters: []iothub.RoutingDeadLetter{{
			Route: "hot", Endpoint: "alerts", Reason: "no such stream", DeviceID: "d1", MessageID: "m1",
			SequenceNumber: "4959", DeadLetteredTime: at, Size: 7, Message: json.RawMessage(`{"v":2}`),
		}},
	}
	h := withStats(t, st)

	objs := jsonLines(t, h.ok("routes"))
	if len(objs) != 1 {
		t.Fatalf("want one JSON object, got %v", objs)
	}
	checkCamelCase(t, objs[0], "routes")
	var got iothub.RoutingStats
	raw, _ := json.Marshal(objs[0])
	if err := json.Unmarshal(raw, &got); err != nil || len(got.Routes) != 3 || got.DeadLetters[0].Reason != "no such stream" || string(got.DeadLetters[0].Message) != `{"v":2}` {
		t.Fatalf("got %+v (%v)", got, err)
	}

	out := h.ok("routes", "-o", "table")
	want := `ROUTE        ENDPOINT  DELIVERED  DEAD-LETTERED  UPDATED
hot          alerts    12         1              2026-11-27T12:00:00Z
$fallback    events    30         0              2026-11-27T12:00:00Z
$unroutable  -         0          0              

DEAD-LETTERED         ROUTE  ENDPOINT  DEVICE ID  MESSAGE ID  SEQUENCE NUMBER  REASON
2026-11-27T12:00:00Z  hot    alerts    d1         m1          4959             no such stream
`
	if out != want {
		t.Fatalf("table\n%s\nwant\n%s", out, want)
	}

	// Without dead letters the table is the counters only.
	st.DeadLetters = nil
	if out := withStats(t, st).ok("routes", "-o", "table"); strings.Contains(out, "REASON") || !strings.HasPrefix(out, "ROUTE") {
		t.Fatalf("table\n%s", out)
	}
}
