package hubapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
)

type stubStats struct {
	st  iothub.RoutingStats
	err error
}

func (s stubStats) ReadStats(context.Context) (iothub.RoutingStats, error) { return s.st, s.err }

func TestRoutingStats(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	stats := iothub.RoutingStats{
		Routes: []iothub.RouteCount{{Route: "hot", Endpoint: "alerts", Delivered: 3, DeadLettered: 1, Updated: at}},
		DeadLetters: []iothub.RoutingDeadLetter{{
			Route: "hot", Endpoint: "alerts", Reason: "gone", SequenceNumber: "1", DeadLetteredTime: at, Size: 2, Message: json.RawMessage(`{}`),
		}},
	}
	cases := []struct {
		name   string
		stats  stubStats
		auth   string
		status int
		code   string
	}{
		{"the owner reads them", stubStats{st: stats}, "owner", http.StatusOK, ""},
		{"a device token is refused", stubStats{st: stats}, "ok", http.StatusUnauthorized, "IotHubUnauthorizedAccess"},
		{"the table is unavailable", stubStats{err: apierr.ServiceUnavailable.Wrap("the routing table is unavailable", errors.New("timeout"))}, "owner", http.StatusServiceUnavailable, "ServiceUnavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := New(Deps{Auth: stubAuth{}, Routing: tc.stats})
			r := httptest.NewRequest(http.MethodGet, "/devicehub/routing?api-version=2021-04-12", nil)
			r.Header.Set("Authorization", tc.auth)
			w := serve(h, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.code != "" {
				if e := decodeError(t, w); e.Code != tc.code {
					t.Fatalf("code %s, want %s", e.Code, tc.code)
				}
				return
			}
			var got iothub.RoutingStats
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || !reflect.DeepEqual(got, stats) {
				t.Fatalf("got %+v (%v), want %+v", got, err, stats)
			}
		})
	}
}
