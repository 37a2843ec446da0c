// Command router is the devicehub router Lambda function. A Kinesis event
// source mapping on the telemetry stream (with partial batch responses)
// hands it batches of records; it evaluates the hub's message routes
// (DEVICEHUB_ROUTES) per record and delivers to their endpoints, keeping
// counters and dead letters in the Routing table (see internal/router).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicehub/devicehub/internal/app"
)

func main() {
	log := app.NewLogger(os.Stderr, os.Getenv)
	r, err := app.RouterFromEnvironment(context.Background(), log)
	if err != nil {
		log.Error("init failed", slog.Any("error", err))
		os.Exit(1)
	}
	lambda.Start(r.Handle)
}
