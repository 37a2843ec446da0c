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

// statusOf is the one mapping from error kinds to HTTP status codes.
func statusOf(k apierr.Kind) int {
	switch k {
	case apierr.Invalid:
		return http.StatusBadRequest
	case apierr.Unauthorized:
		return http.StatusUnauthorized
	case apierr.Forbidden:
		return http.StatusForbidden
	case apierr.NotFound:
		return http.StatusNotFound
	case apierr.NotAllowed:
		return http.StatusMethodNotAllowed
	case apierr.Conflict:
		return http.StatusConflict
	case apierr.PreconditionFailed:
		return http.StatusPreconditionFailed
	case apierr.TooLarge:
		return http.StatusRequestEntityTooLarge
	case apierr.Unsupported:
		return http.StatusUnsupportedMediaType
	case apierr.Throttled:
		return http.StatusTooManyRequests
	case apierr.Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
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
