package app

// The Lambda side of the one handler: API Gateway events in, http.Handler out.
// Both HTTP API (payload v2) and REST API (payload v1) events are accepted, so
// either API flavour of the stack can front the same function.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// LambdaHandler returns a Lambda handler for h.
func LambdaHandler(h http.Handler) func(context.Context, json.RawMessage) (any, error) {
	v1, v2 := httpadapter.New(h), httpadapter.NewV2(h)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var probe struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("app: event is not JSON: %w", err)
		}
		if probe.Version == "2.0" {
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("app: http api event: %w", err)
			}
			return v2.ProxyWithContext(ctx, ev)
		}
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("app: rest api event: %w", err)
		}
		return v1.ProxyWithContext(ctx, ev)
	}
}
