package hubapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/registry"
)

// twinRoutes are IoT Hub's twin service routes, as the service SDKs call
// them (Registry.getTwin, updateTwin, Twin.update): devicehub keeps a
// twin's tags.
func twinRoutes() []Route {
	return []Route{
		{"GET", "/twins/{id}", ServiceSide},
		{"PATCH", "/twins/{id}", ServiceSide},
		{"PUT", "/twins/{id}", ServiceSide},
	}
}

// routeTwins registers the twin routes with the registry's.
func (s *server) routeTwins(mux *http.ServeMux) {
	if s.Registry == nil {
		return
	}
	s.handle(mux, "GET /twins/{id}", s.service(s.getTwin))
	s.handle(mux, "PATCH /twins/{id}", s.service(s.patchTwin))
	s.handle(mux, "PUT /twins/{id}", s.service(s.putTwin))
}

func (s *server) getTwin(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Registry.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeTwin(w, d)
}

// patchTwin merges the body's tags into the twin's (a JSON merge patch: a
// null removes a key), guarded by If-Match, the twin's etag.
func (s *server) patchTwin(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	tags, err := s.twinTags(w, r, id)
	if err != nil {
		return err
	}
	d, err := s.Registry.UpdateTags(r.Context(), id, tags, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return writeTwin(w, d)
}

// putTwin replaces the twin's tags with the body's (none: no tags).
func (s *server) putTwin(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	tags, err := s.twinTags(w, r, id)
	if err != nil {
		return err
	}
	d, err := s.Registry.ReplaceTags(r.Context(), id, tags, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return writeTwin(w, d)
}

func writeTwin(w http.ResponseWriter, d registry.Device) error {
	w.Header().Set("ETag", strconv.Quote(d.TwinETag()))
	return writeJSON(w, http.StatusOK, d.Twin())
}

// twinTags reads a twin PATCH or PUT body: a twin, or part of one. Its tags
// are taken with their numbers as written (the registry checks the integer
// range on the digits); the identity's read-only properties are ignored,
// as IoT Hub does; desired and reported properties, which devicehub does
// not keep, may only carry their "$" metadata, so that a twin read with GET
// can be sent back.
func (s *server) twinTags(w http.ResponseWriter, r *http.Request, id string) (map[string]any, error) {
	body, err := readBody(w, r, maxRegistryBody, "twin body exceeds 64 KB")
	if err != nil {
		return nil, err
	}
	var in struct {
		DeviceID   string         `json:"deviceId"`
		Tags       map[string]any `json:"tags"`
		Properties struct {
			Desired  map[string]json.RawMessage `json:"desired"`
			Reported map[string]json.RawMessage `json:"reported"`
		} `json:"properties"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return nil, apierr.ArgumentInvalid.New("body is not a twin JSON object: " + err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, apierr.ArgumentInvalid.New("body holds more than one JSON value")
	}
	if in.DeviceID != "" && in.DeviceID != id {
		return nil, apierr.ArgumentInvalid.New("deviceId in the body differs from the path")
	}
	for _, props := range []map[string]json.RawMessage{in.Properties.Desired, in.Properties.Reported} {
		for k := range props {
			if !strings.HasPrefix(k, "$") {
				return nil, apierr.ArgumentInvalid.New("devicehub keeps a twin's tags, not its desired or reported properties (" + strconv.Quote(k) + ")")
			}
		}
	}
	return in.Tags, nil
}
