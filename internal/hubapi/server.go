// Package hubapi is devicehub's HTTP API: IoT Hub's device HTTPS protocol and
// its service (registry, cloud-to-device, feedback) REST shape. It is one
// http.Handler, served by API Gateway through Lambda and by the local server.
package hubapi

import (
	"context"
	"log/slog"
	"net/http"
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
}

// Deps are the parts the API is built from. A nil part leaves its routes out,
// so each Lambda function serves only what it is wired (and allowed) to do,
// while the local server wires everything. One *c2d.Queue serves as both
// C2DDevice and C2DService when a process serves both sides.
type Deps struct {
	Auth       DeviceAuth
	Registry   Registry   // service routes: /devices
	CAs        CARegistry // service routes: /certificates (x509.go)
	Telemetry  Telemetry  // device route: POST .../messages/events
	C2DDevice  C2DDevice  // device cloud-to-device routes: receive and settle
	C2DService C2DService // service cloud-to-device routes: send, purge, status, dead letters
	Feedback   Feedback   // service feedback routes
	Logger     *slog.Logger
	Now        func() time.Time
}

type server struct {
	Deps
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
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &server{Deps: d}
	mux := http.NewServeMux()
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
	s.routeC2D(mux)
	s.routeCAs(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, apierr.RouteNotFound.New("no route for "+r.Method+" "+r.URL.Path))
	})
	return mux, s
}

// handlerFunc is an API handler that returns an error instead of writing it,
// so errors reach writeError, the one place that maps them to HTTP.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// deviceHandlerFunc also receives the authenticated device.
type deviceHandlerFunc func(w http.ResponseWriter, r *http.Request, id registry.Identity) error

func (s *server) service(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
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
