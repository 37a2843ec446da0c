package app

import (
	"context"
	"net/http"
	"time"
)

// Request time limits. Every Kinesis, DynamoDB and Secrets Manager call runs
// under the request's context, so one deadline bounds them all: a stalled
// backend then fails the call, and the domain maps that to 503 with
// Retry-After, instead of the request hanging until Lambda kills it (which
// API Gateway would answer with a bare 502/504).
const (
	// answerMargin is kept back from Lambda's own deadline (which
	// aws-lambda-go puts on the context) to write the 503.
	answerMargin = 500 * time.Millisecond
	// attemptTimeout bounds one HTTP attempt to an AWS API, so the SDK's
	// retryer gets a second attempt within the request's deadline when a
	// connection stalls.
	attemptTimeout = 3 * time.Second
	// initTimeout bounds start-up calls (the owner secret), well inside
	// Lambda's 10 s init phase.
	initTimeout = 5 * time.Second
)

// withDeadline gives every request a deadline: Lambda's invocation deadline
// less answerMargin, or timeout (config.RequestTimeout), whichever comes
// first.
func withDeadline(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		deadline := time.Now().Add(timeout)
		if d, ok := ctx.Deadline(); ok && d.Add(-answerMargin).Before(deadline) {
			deadline = d.Add(-answerMargin)
		}
		ctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
