package app

import (
	"io"
	"log/slog"
	"strings"

	"github.com/devicehub/devicehub/internal/schema"
)

// NewLogger returns a JSON logger at the level named by DEVICEHUB_LOG_LEVEL (info by default).
func NewLogger(w io.Writer, getenv func(string) string) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(getenv(schema.EnvLogLevel)) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
