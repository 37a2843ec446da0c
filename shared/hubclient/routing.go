package hubclient

import (
	"context"
	"net/http"

	"github.com/devicehub/devicehub/shared/iothub"
)

// RoutingStats returns the message router's counters per route and
// endpoint and its latest dead letters (service side).
func (c *Client) RoutingStats(ctx context.Context) (iothub.RoutingStats, error) {
	var out iothub.RoutingStats
	_, err := c.doJSON(ctx, http.MethodGet, "/devicehub/routing", nil, nil, &out)
	return out, err
}
