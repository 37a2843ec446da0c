package hub

import "github.com/devicehub/devicehub/internal/hubapi"

// Route is one API Gateway route and the function that serves it. Each
// function is reachable only on its own routes, so a device route can never
// reach the function that holds the registry's write grants.
type Route struct {
	Method   string
	Path     string // API Gateway syntax: {param}, {proxy+} only as the last segment
	Function string
}

// Routes is the hub's API mapped to functions: internal/hubapi.Routes, the
// list the handler itself registers, with device routes on the ingress
// function and service routes on the service function. The path parameter
// names are the mux's; a REST API needs the same name at the same place in
// every path.
func Routes() []Route {
	var out []Route
	for _, r := range hubapi.Routes() {
		fn := Service
		if r.Side == hubapi.DeviceSide {
			fn = Ingress
		}
		out = append(out, Route{Method: r.Method, Path: r.Path, Function: fn})
	}
	return out
}
