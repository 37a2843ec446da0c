// Command sweeper is the devicehub sweeper Lambda function, run on a
// schedule (every minute by default): it dead-letters expired
// cloud-to-device messages with their feedback and finishes what a crash
// interrupted (see internal/c2d).
package main

import (
	"context"
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
	lambda.Start(func(ctx context.Context, ev events.EventBridgeEvent) (c2d.SweepStats, error) {
		st, err := q.Sweep(ctx)
		log.InfoContext(ctx, "sweep", slog.String("event", ev.ID), slog.Any("stats", st), slog.Any("error", err))
		return st, err
	})
}
