package hubclient

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/devicehub/devicehub/shared/iothub"
)

func TestRoutingStats(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	want := iothub.RoutingStats{
		Routes: []iothub.RouteCount{{Route: "hot", Endpoint: "alerts", Delivered: 3, DeadLettered: 1, Updated: at}},
		DeadLetters: []iothub.RoutingDeadLetter{{
			Route: "hot", Endpoint: "alerts", Reason: "gone", DeviceID: "d1", SequenceNumber: "49", DeadLetteredTime: at,
			Size: 9, Message: json.RawMessage(`{"v":2}`),
		}},
	}
	body, _ := json.Marshal(want)
	svc, _, hub := clients(t, reply{status: 200, body: string(body)}, reply{status: 401, body: `{"Message":"ErrorCode:IotHubUnauthorizedAccess;bad"}`})
	got, err := svc.RoutingStats(context.Background())
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	r := hub.requests()[0]
	if r.Method != "GET" || r.Path != "/devicehub/routing" || r.Query != query {
		t.Fatalf("request %s %s?%s", r.Method, r.Path, r.Query)
	}
	checkAuth(t, r, testHost, "iothubowner", ownerKey)
	var e *Error
	if _, err := svc.RoutingStats(context.Background()); !errors.As(err, &e) || e.Status != 401 {
		t.Fatalf("got %v, want a 401 *Error", err)
	}
}
