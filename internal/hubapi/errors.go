package hubapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
)

// statuses is the one mapping from error kinds to HTTP status codes; an
// unclassified error (Internal) is a 500.
var statuses = [...]int{
	apierr.Internal:           http.StatusInternalServerError,
	apierr.Invalid:            http.StatusBadRequest,
	apierr.Unauthorized:       http.StatusUnauthorized,
	apierr.Forbidden:          http.StatusForbidden,
	apierr.NotFound:           http.StatusNotFound,
	apierr.NotAllowed:         http.StatusMethodNotAllowed,
	apierr.Conflict:           http.StatusConflict,
	apierr.PreconditionFailed: http.StatusPreconditionFailed,
	apierr.TooLarge:           http.StatusRequestEntityTooLarge,
	apierr.Unsupported:        http.StatusUnsupportedMediaType,
	apierr.Throttled:          http.StatusTooManyRequests,
	apierr.Unavailable:        http.StatusServiceUnavailable,
}

func statusOf(k apierr.Kind) int {
	if k < 0 || int(k) >= len(statuses) || statuses[k] == 0 {
		return http.StatusInternalServerError
	}
	return statuses[k]
}

func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := apierr.As(err)
	if !ok {
		e = apierr.ServerError.Wrap("internal error", err)
	}
	status := statusOf(e.Kind)
	body := iothub.ErrorBody{ErrorCode: e.Number, Code: e.Name, Message: e.Message, TrackingID: trackingID(r.Context()), TimestampUTC: s.Now().UTC().Format(time.RFC3339Nano)}
	level := slog.LevelInfo
	if status >= 500 || status == http.StatusTooManyRequests {
		level = slog.LevelWarn
	}
	// The cause goes to the log only; it may name AWS resources. Never log the
	// Authorization header. The logger adds the request id, which is the
	// body's trackingId, and the device id (LogHandler).
	s.Logger.LogAttrs(r.Context(), level, "request failed",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status),
		slog.String("code", e.Name), slog.Any("cause", errors.Unwrap(e)))
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("iothub-errorcode", e.Name)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
