package hub

// Route is one API Gateway route and the function that serves it. Each
// function is reachable only on its own routes, so a device route can never
// reach the function that holds the registry's write grants.
type Route struct {
	Method   string
	Path     string // API Gateway syntax: {param}, {proxy+} only as the last segment
	Function string
}

// Routes is the hub's API, mapped to functions: IoT Hub's device HTTPS
// protocol on the ingress function, the service REST shape on the service
// function. It mirrors the patterns shared/hubapi registers (a route added
// there must be added here; TestRoutesServedByTheirFunction checks each entry
// reaches its function's handler). The path parameter names are the mux's; a
// REST API needs the same name at the same place in every path.
func Routes() []Route {
	return []Route{
		// Device side: telemetry and cloud-to-device receive/settle.
		{"POST", "/devices/{id}/messages/events", Ingress},
		{"GET", "/devices/{id}/messages/devicebound", Ingress},
		{"DELETE", "/devices/{id}/messages/devicebound/{lock}", Ingress},
		{"POST", "/devices/{id}/messages/devicebound/{lock}/abandon", Ingress},

		// Service side: registry.
		{"GET", "/devices", Service},
		{"PUT", "/devices/{id}", Service},
		{"GET", "/devices/{id}", Service},
		{"DELETE", "/devices/{id}", Service},
		// Cloud-to-device send and purge.
		{"POST", "/devices/{id}/messages/devicebound", Service},
		{"DELETE", "/devices/{id}/commands", Service},
		// Beyond IoT Hub: one message's state, a device's dead letters, requeue.
		{"GET", "/devices/{id}/c2d/messages/{messageId}", Service},
		{"GET", "/devices/{id}/c2d/deadletters", Service},
		{"POST", "/devices/{id}/c2d/deadletters/{messageId}/requeue", Service},
		// Delivery feedback, IoT Hub's shape. IoT Hub's docs spell the
		// segment serviceBound and servicebound; the function accepts any
		// case, so the route takes it as a parameter.
		{"GET", "/messages/{sb}/feedback", Service},
		{"DELETE", "/messages/{sb}/feedback/{lock}", Service},
		{"POST", "/messages/{sb}/feedback/{lock}/abandon", Service},
	}
}
