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
// function. The path parameter names are the ones shared/hubapi's mux uses;
// a REST API needs the same name at the same place in every path.
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
		// Delivery feedback, IoT Hub's shape.
		{"GET", "/messages/serviceBound/feedback", Service},
		{"DELETE", "/messages/serviceBound/feedback/{lock}", Service},
		{"POST", "/messages/serviceBound/feedback/{lock}/abandon", Service},
	}
}
