package hubapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
)

const zeroTime = "0001-01-01T00:00:00Z"

func deviceJSON(d registry.Device) iothub.Device {
	var reason *string
	if d.StatusReason != "" {
		reason = &d.StatusReason
	}
	return iothub.Device{
		DeviceID: d.DeviceID, GenerationID: d.GenerationID, ETag: d.ETag(),
		ConnectionState: "Disconnected", Status: d.Status, StatusReason: reason,
		StatusUpdatedTime:          d.StatusUpdatedTime.UTC().Format(time.RFC3339Nano),
		ConnectionStateUpdatedTime: zeroTime, LastActivityTime: zeroTime,
		Authentication: authJSON(d),
		Capabilities:   &iothub.Capabilities{},
	}
}

// maxRegistryBody bounds a registry request body.
const maxRegistryBody = 64 << 10

func (s *server) putDevice(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	body, err := readBody(w, r, maxRegistryBody, "device body exceeds 64 KB")
	if err != nil {
		return err
	}
	spec, err := deviceSpec(id, body)
	if err != nil {
		return err
	}
	var d registry.Device
	status := http.StatusOK
	if ifMatch := r.Header.Get("If-Match"); ifMatch != "" {
		d, err = s.Registry.Update(r.Context(), id, spec, ifMatch)
	} else {
		d, err = s.Registry.Create(r.Context(), id, spec)
	}
	if err != nil {
		return err
	}
	w.Header().Set("ETag", strconv.Quote(d.ETag()))
	return writeJSON(w, status, deviceJSON(d))
}

// deviceSpec decodes the device JSON of a PUT /devices/{id} (an empty body
// is an empty spec) and checks what the registry does not: the id in the
// body matches the path's, and the authentication is SAS.
func deviceSpec(id string, body []byte) (registry.Spec, error) {
	var in iothub.Device
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return registry.Spec{}, apierr.ArgumentInvalid.New("body is not a device JSON object: " + err.Error())
		}
	}
	if in.DeviceID != "" && in.DeviceID != id {
		return registry.Spec{}, apierr.ArgumentInvalid.New("deviceId in the body differs from the path")
	}
	spec := authSpec(in.Authentication)
	spec.Status = in.Status
	if in.StatusReason != nil {
		spec.StatusReason = *in.StatusReason
	}
	return spec, nil
}

func (s *server) getDevice(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Registry.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", strconv.Quote(d.ETag()))
	return writeJSON(w, http.StatusOK, deviceJSON(d))
}

func (s *server) deleteDevice(w http.ResponseWriter, r *http.Request) error {
	if err := s.Registry.Delete(r.Context(), r.PathValue("id"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listDevices serves GET /devices?top=N; the next page's token comes back in
// x-ms-continuation and is sent again in the same request header.
func (s *server) listDevices(w http.ResponseWriter, r *http.Request) error {
	top := 1000
	if v := r.URL.Query().Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return apierr.ArgumentInvalid.New("top must be 1 to 1000")
		}
		top = n
	}
	devs, next, err := s.Registry.List(r.Context(), top, r.Header.Get("x-ms-continuation"))
	if err != nil {
		return err
	}
	out := make([]iothub.Device, 0, len(devs))
	for _, d := range devs {
		out = append(out, deviceJSON(d))
	}
	if next != "" {
		w.Header().Set("x-ms-continuation", next)
	}
	return writeJSON(w, http.StatusOK, out)
}
