// Command service is the devicehub service Lambda function: the hub API's
// service routes (registry, cloud-to-device send, feedback) behind API Gateway.
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
	hub, err := app.FromEnvironment(context.Background(), app.Service, log)
	if err != nil {
		log.Error("init failed", slog.Any("error", err))
		os.Exit(1)
	}
	lambda.Start(hub.LambdaHandler())
}
