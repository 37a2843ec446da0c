package hubapi

import (
	"context"
	"net/http"

	"github.com/devicehub/devicehub/shared/iothub"
)

// RoutingStats reads the message router's counters and latest dead letters
// (router.Stats).
type RoutingStats interface {
	ReadStats(ctx context.Context) (iothub.RoutingStats, error)
}

// routeRouting registers the routing statistics route (beyond IoT Hub,
// which reports them as metrics), served with the owner policy.
func (s *server) routeRouting(mux *http.ServeMux) {
	if s.Routing == nil {
		return
	}
	s.handle(mux, "GET /devicehub/routing", s.service(s.routingStats))
}

func (s *server) routingStats(w http.ResponseWriter, r *http.Request) error {
	st, err := s.Routing.ReadStats(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}
