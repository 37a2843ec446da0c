// Command sweeper is the devicehub sweeper Lambda function, run on a
// schedule (every minute by default): it dead-letters expired
// cloud-to-device messages with their feedback and finishes what a crash
// interrupted (see internal/c2d), and sends the device lifecycle events a
// crash left owed (see internal/registry) when the hub writes them.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicehub/devicehub/internal/app"
	"github.com/devicehub/devicehub/internal/c2d"
)

func main() {
	log := app.NewLogger(os.Stderr, os.Getenv)
	ctx := context.Background()
	cfg, _, cl, err := app.LoadEnvironment(ctx)
	if err != nil {
		log.Error("init failed", slog.Any("error", err))
		os.Exit(1)
	}
	q := app.NewC2DQueue(cfg, cl, log, nil)
	finishEvents, err := app.NewLifecycleSweep(cfg, cl, log, nil)
	if err != nil {
		log.Error("init failed", slog.Any("error", err))
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context, ev events.EventBridgeEvent) (c2d.SweepStats, error) {
		st, err := q.Sweep(ctx)
		log.InfoContext(ctx, "sweep", slog.String("event", ev.ID), slog.Any("stats", st), slog.Any("error", err))
		if finishEvents != nil {
			n, lerr := finishEvents(ctx)
			log.InfoContext(ctx, "lifecycle sweep", slog.String("event", ev.ID), slog.Int("finished", n), slog.Any("error", lerr))
			err = errors.Join(err, lerr)
		}
		return st, err
	})
}
