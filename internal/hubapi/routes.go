package hubapi

import "net/http"

// Side says which credential a route takes, and so which function serves it:
// device routes run in the ingress function, service routes in the service one.
type Side int

// Sides of the API.
const (
	DeviceSide Side = iota
	ServiceSide
)

// Route is one route of the API, in net/http pattern syntax.
type Route struct {
	Method string
	Path   string
	Side   Side
}

// Routes is every route the API serves: the one list both New and the CDK
// stack (infra/hub) read, so API Gateway and the handler cannot drift apart.
// TestRoutesMatchMux checks New registers exactly these.
func Routes() []Route {
	return append([]Route{
		// Device side: IoT Hub's device HTTPS protocol.
		{"POST", "/devices/{id}/messages/events", DeviceSide},
		{"GET", "/devices/{id}/messages/devicebound", DeviceSide},
		{"DELETE", "/devices/{id}/messages/devicebound/{lock}", DeviceSide},
		{"POST", "/devices/{id}/messages/devicebound/{lock}/abandon", DeviceSide},
		// Service side: the registry.
		{"GET", "/devices", ServiceSide},
		{"PUT", "/devices/{id}", ServiceSide},
		{"GET", "/devices/{id}", ServiceSide},
		{"DELETE", "/devices/{id}", ServiceSide},
		// Cloud-to-device send and purge.
		{"POST", "/devices/{id}/messages/devicebound", ServiceSide},
		{"DELETE", "/devices/{id}/commands", ServiceSide},
		// Beyond IoT Hub: one message's state, a device's dead letters, requeue.
		{"GET", "/devices/{id}/c2d/messages/{messageId}", ServiceSide},
		{"GET", "/devices/{id}/c2d/deadletters", ServiceSide},
		{"POST", "/devices/{id}/c2d/deadletters/{messageId}/requeue", ServiceSide},
		// Delivery feedback; {sb} is serviceBound in any case.
		{"GET", "/messages/{sb}/feedback", ServiceSide},
		{"DELETE", "/messages/{sb}/feedback/{lock}", ServiceSide},
		{"POST", "/messages/{sb}/feedback/{lock}/abandon", ServiceSide},
		// Beyond IoT Hub: the message router's counters and dead letters.
		{"GET", "/devicehub/routing", ServiceSide},
	}, append(twinRoutes(), caRoutes()...)...)
}

// handle registers one route and records its pattern for the route test.
func (s *server) handle(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	mux.HandleFunc(pattern, h)
}
