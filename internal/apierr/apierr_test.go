package apierr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// TestBackend: a throttled backend is a 429 the caller retries, anything
// else a 503; both keep the cause for the log and hint Retry-After.
func TestBackend(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want Code
	}{
		{"provisioned throughput", &types.ProvisionedThroughputExceededException{Message: new("over")}, ThrottlingException},
		{"request limit", &smithy.GenericAPIError{Code: "RequestLimitExceeded"}, ThrottlingException},
		{"throttling, wrapped", fmt.Errorf("registry get: %w", &smithy.GenericAPIError{Code: "ThrottlingException"}), ThrottlingException},
		{"internal server error", &types.InternalServerError{Message: new("boom")}, ServiceUnavailable},
		{"deadline", context.DeadlineExceeded, ServiceUnavailable},
		{"network", errors.New("dial tcp: connection refused"), ServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Backend("the device registry", tc.err)
			if e.Code != tc.want || e.RetryAfter != time.Second || !errors.Is(e, tc.err) {
				t.Errorf("%s: code %s, retry after %s, cause kept %v", tc.name, e.Name, e.RetryAfter, errors.Is(e, tc.err))
			}
			if status := map[Kind]int{Throttled: http.StatusTooManyRequests, Unavailable: http.StatusServiceUnavailable}[e.Kind]; status == 0 {
				t.Errorf("kind %d is neither throttled nor unavailable", e.Kind)
			}
		})
	}
}
