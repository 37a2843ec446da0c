package hubapi

import "net/http"

// C2DQueue is the cloud-to-device queue (owned by the C2D work; see shared/c2d).
type C2DQueue interface{}

// Feedback is the delivery feedback store (owned by the C2D work).
type Feedback interface{}

// routeC2D registers the cloud-to-device and feedback routes.
func (s *server) routeC2D(mux *http.ServeMux) {}
