// Command ingress is the devicehub ingress Lambda function: the hub API's
// device routes (telemetry in, cloud-to-device out) behind API Gateway, or,
// with DEVICEHUB_FRONT_DOOR=alb-mtls, behind the mutual-TLS load balancer
// that X.509 devices connect to.
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
	hub, err := app.FromEnvironment(context.Background(), app.Device, log)
	if err != nil {
		log.Error("init failed", slog.Any("error", err))
		os.Exit(1)
	}
	handler, err := hub.IngressHandler(os.Getenv, log)
	if err != nil {
		log.Error("init failed", slog.Any("error", err))
		os.Exit(1)
	}
	lambda.Start(handler)
}
