package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/kinesisput"
	"github.com/devicehub/devicehub/internal/registry"
)

// streamEvents is the registry's EventWriter on the telemetry stream: one
// PutRecords call under the device id. A record the stream refuses fails
// the call; the registry keeps the events owed and the sweep sends them.
type streamEvents struct{ stream d2c.Stream }

func (s streamEvents) WriteEvents(ctx context.Context, deviceID string, records [][]byte) error {
	res, err := s.stream.PutRecords(ctx, deviceID, records)
	if err != nil {
		return err
	}
	if res.FailedFrom >= 0 {
		return fmt.Errorf("app: the stream refused lifecycle event %d of %d (throttled: %t)", res.FailedFrom+1, len(records), res.Throttled)
	}
	return nil
}

// NewLifecycle returns the registry's lifecycle events as the configuration
// asks for them, on the telemetry stream; nil when they are off.
func NewLifecycle(cfg config.Config, cl Clients, log *slog.Logger) (*registry.Lifecycle, error) {
	if !cfg.LifecycleEvents {
		return nil, nil
	}
	stream, err := kinesisput.FromSDK(cl.Kinesis, cfg.StreamName)
	if err != nil {
		return nil, fmt.Errorf("app: lifecycle events: %w", err)
	}
	return &registry.Lifecycle{Events: streamEvents{stream}, HubName: cfg.HubName, Log: log}, nil
}

// NewLifecycleSweep returns the sweeper's lifecycle part, which sends the
// events a crash left owed (registry.Service.FinishPendingEvents); nil
// when lifecycle events are off.
func NewLifecycleSweep(cfg config.Config, cl Clients, log *slog.Logger, now func() time.Time) (func(context.Context) (int, error), error) {
	lc, err := NewLifecycle(cfg, cl, log)
	if lc == nil || err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	svc := &registry.Service{Store: &registry.DynamoStore{DB: cl.DynamoDB, Table: cfg.DevicesTable}, Now: now, Lifecycle: lc}
	return svc.FinishPendingEvents, nil
}

// addLifecycleSweep makes h's sweep also finish owed lifecycle events when
// its registry writes them.
func addLifecycleSweep(h *Hub, log *slog.Logger) {
	if h.Registry == nil || h.Registry.Lifecycle == nil {
		return
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c2dSweep := h.Sweep
	h.Sweep = func(ctx context.Context) error {
		var err error
		if c2dSweep != nil {
			err = c2dSweep(ctx)
		}
		n, lerr := h.Registry.FinishPendingEvents(ctx)
		if n > 0 || lerr != nil {
			log.InfoContext(ctx, "lifecycle sweep", slog.Int("finished", n), slog.Any("error", lerr))
		}
		return errors.Join(err, lerr)
	}
}
