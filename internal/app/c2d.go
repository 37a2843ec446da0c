package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/devicehub/devicehub/internal/c2d"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/registry"
)

// buildC2D wires the cloud-to-device queue and feedback into h: the device
// half of the queue for Device, the service half and feedback for Service.
func buildC2D(_ context.Context, h *Hub, cfg config.Config, cl Clients, role Role, log *slog.Logger, now func() time.Time) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := NewC2DQueue(cfg, cl, log, now)
	if role&Device != 0 {
		h.Deps.C2DDevice = q
	}
	if role&Service != 0 {
		h.Deps.C2DService = q
		h.Deps.Feedback = NewFeedbackReader(cfg, q)
	}
	h.Sweep = func(ctx context.Context) error {
		st, err := q.Sweep(ctx)
		if st.Devices > 0 || err != nil {
			log.InfoContext(ctx, "sweep", slog.Any("stats", st), slog.Any("error", err))
		}
		return err
	}
	return nil
}

// NewC2DQueue builds the cloud-to-device queue from the configuration; the
// sweeper function and tests use it too.
func NewC2DQueue(cfg config.Config, cl Clients, log *slog.Logger, now func() time.Time) *c2d.Queue {
	devices := &registry.DynamoStore{DB: cl.DynamoDB, Table: cfg.DevicesTable}
	return c2d.NewQueue(cl.DynamoDB, cfg.C2DTable, devices, c2d.Options{
		DefaultTTL: cfg.C2DDefaultTTL, MaxDelivery: cfg.C2DMaxDelivery, MaxQueue: cfg.C2DMaxQueue,
		FeedbackTTL: cfg.FeedbackTTL,
	}, now, log)
}

// NewFeedbackReader builds the feedback queue reader on q.
func NewFeedbackReader(cfg config.Config, q *c2d.Queue) *c2d.FeedbackReader {
	return c2d.NewFeedbackReader(q, cfg.FeedbackTable, c2d.FeedbackOptions{TTL: cfg.FeedbackTTL})
}
