// Command consumer is an example telemetry consumer: a Lambda function on
// the hub's telemetry stream (or a routing endpoint's stream), attached by
// infra/hub's Hub.AddConsumer (deployed with `-c exampleConsumer=true`). It
// logs each message and answers with a partial batch response, so a record
// it cannot handle is retried from that record on, and after the mapping's
// bounded retries lands in the on-failure queue, instead of failing the
// whole batch. It uses only the public shared/telemetry package: copy it as
// the start of your own.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/devicehub/devicehub/shared/telemetry"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	lambda.Start(func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
		return handle(ctx, log, ev), nil
	})
}

// handle logs each message of the batch. Replace the body of the callback
// with your own processing; return an error for a message that should be
// retried.
func handle(ctx context.Context, log *slog.Logger, ev events.KinesisEvent) events.KinesisEventResponse {
	resp, stopped := telemetry.HandleKinesisEvent(ev, func(m telemetry.Message) error {
		attrs := []any{
			slog.String("source", m.Source),
			slog.String("deviceId", m.DeviceID),
			slog.String("messageId", m.MessageID),
			slog.Time("enqueuedTime", m.EnqueuedTime),
			slog.Any("properties", m.Properties),
			slog.String("sequenceNumber", m.SequenceNumber),
		}
		if telemetry.BodyIsJSON(m.Body) {
			attrs = append(attrs, slog.Any("body", json.RawMessage(m.Body)))
		} else {
			attrs = append(attrs, slog.Int("bodyBytes", len(m.Body)))
		}
		log.InfoContext(ctx, "message", attrs...)
		return nil
	})
	if stopped != nil {
		log.WarnContext(ctx, "batch stopped; Lambda retries it from the failed record", slog.Any("error", stopped))
	}
	return resp
}
