// Package hubapi is devicehub's HTTP API: IoT Hub's device HTTPS protocol and
// its service (registry, cloud-to-device, feedback) REST shape. It is one
// http.Handler, served by API Gateway through Lambda and by the local server.
package hubapi

import (
	"context"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/registry"
)

// DeviceAuth authenticates device and owner-policy tokens.
type DeviceAuth interface {
	Device(ctx context.Context, header, deviceID string) (registry.Identity, error)
	Service(ctx context.Context, header, resource string) error
}

// Registry manages device identities.
type Registry interface {
	Create(ctx context.Context, id string, spec registry.Spec) (registry.Device, error)
	Update(ctx context.Context, id string, spec registry.Spec, ifMatch string) (registry.Device, error)
	Get(ctx context.Context, id string) (registry.Device, error)
	Delete(ctx context.Context, id, ifMatch string) error
	List(ctx context.Context, limit int, cursor string) ([]registry.Device, string, error)
	// The twin's tags (twin.go), guarded by the twin's etag.
	UpdateTags(ctx context.Context, id string, patch map[string]any, ifMatch string) (registry.Device, error)
	ReplaceTags(ctx context.Context, id string, tags map[string]any, ifMatch string) (registry.Device, error)
}

// Deps are the parts the API is built from. A nil part leaves its routes out,
// so each Lambda function serves only what it is wired (and allowed) to do,
// while the local server wires everything. One *c2d.Queue serves as both
// C2DDevice and C2DService when a process serves both sides.
type Deps struct {
	Auth       DeviceAuth
	Registry   Registry   // service routes: /devices and /twins
	CAs        CARegistry // service routes: /certificates (x509.go)
	Telemetry  Telemetry  // device route: POST .../messages/events
	C2DDevice  C2DDevice  // device cloud-to-device routes: receive and settle
	C2DService C2DService // service cloud-to-device routes: send, purge, status, dead letters
	Feedback   Feedback   // service feedback routes
	Logger     *slog.Logger
	Now        func() time.Time

	// Routing serves the message router's statistics (service side,
	// routing.go).
	Routing RoutingStats
}

type server struct {
	Deps
	mux      *http.ServeMux
	patterns []string // what New registered, for TestRoutesMatchMux
}

// New returns the API handler.
func New(d Deps) http.Handler {
	h, _ := newServer(d)
	return h
}

func newServer(d Deps) (http.Handler, *server) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	d.Logger = slog.New(LogHandler(d.Logger.Handler()))
	if d.Now == nil {
		d.Now = time.Now
	}
	mux := http.NewServeMux()
	s := &server{Deps: d, mux: mux}
	if d.Registry != nil {
		s.handle(mux, "PUT /devices/{id}", s.service(s.putDevice))
		s.handle(mux, "GET /devices/{id}", s.service(s.getDevice))
		s.handle(mux, "DELETE /devices/{id}", s.service(s.deleteDevice))
		s.handle(mux, "GET /devices", s.service(s.listDevices))
		// The Node service SDK lists at /devices/ (its devicePath('')), and
		// API Gateway routes that to GET /devices with the slash kept.
		mux.HandleFunc("GET /devices/{$}", s.service(s.listDevices))
	}
	if d.Telemetry != nil {
		s.handle(mux, "POST /devices/{id}/messages/events", s.device(s.postEvents))
	}
	s.routeTwins(mux)
	s.routeC2D(mux)
	s.routeCAs(mux)
	s.routeRouting(mux)
	mux.HandleFunc("/", s.unrouted)
	return s, s
}

// ServeHTTP gives the request its id (requestlog.go), or takes the record
// the Lambda adapter made with API Gateway's, and answers in IoT
// Hub's JSON what the mux would answer in text or with a redirect: HEAD,
// which the mux would serve with the GET handler (a receive would lock a
// message and drop its body), and paths with empty, . or .. segments, which
// the mux would redirect to their cleaned form.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !takeRequest(r.Context()) {
		r = r.WithContext(withRequest(r.Context()))
	}
	switch {
	case !isCleanPath(r.URL.EscapedPath()):
		s.writeError(w, r, apierr.ArgumentInvalid.New("the path "+strconv.Quote(r.URL.EscapedPath())+" holds an empty, . or .. segment"))
	case r.Method == http.MethodHead:
		s.unrouted(w, r)
	default:
		s.mux.ServeHTTP(w, r)
	}
}

// isCleanPath reports whether the mux would take p as it is: rooted, with
// no empty, . or .. segment (a trailing slash is kept).
func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c == p
}

// unrouted answers a request no route takes (and every HEAD): 405
// MethodNotAllowed with an Allow header when the path has routes for other
// methods, 404 NotFound otherwise.
func (s *server) unrouted(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range [...]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := *r // the mux reads only the method, host and path
		probe.Method = m
		if _, pattern := s.mux.Handler(&probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		s.writeError(w, r, apierr.RouteNotFound.New("no route for "+r.Method+" "+r.URL.Path))
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	s.writeError(w, r, apierr.MethodNotAllowed.New(r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+strings.Join(allow, ", ")))
}

// handlerFunc is an API handler that returns an error instead of writing it,
// so errors reach writeError, the one place that maps them to HTTP.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// deviceHandlerFunc also receives the authenticated device.
type deviceHandlerFunc func(w http.ResponseWriter, r *http.Request, id registry.Identity) error

func (s *server) service(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if id := r.PathValue("id"); id != "" && registry.ValidateDeviceID(id) == nil {
			setDevice(r, id)
		}
		if err := s.Auth.Service(r.Context(), r.Header.Get("Authorization"), r.URL.Path); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

func (s *server) device(h deviceHandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		deviceID := r.PathValue("id")
		if err := registry.ValidateDeviceID(deviceID); err != nil {
			s.writeError(w, r, err)
			return
		}
		setDevice(r, deviceID)
		id, err := s.Auth.Device(r.Context(), r.Header.Get("Authorization"), deviceID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := h(w, r, id); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// setDevice names the device of the request in its log lines.
func setDevice(r *http.Request, deviceID string) {
	if rq := requestFrom(r.Context()); rq != nil {
		rq.deviceID = deviceID
	}
}
