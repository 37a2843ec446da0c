package endpoints

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// sdkError is an error as the SDK returns it for a failed call: an
// operation error around an HTTP response error around the API error.
func sdkError(status int, api error) error {
	return &smithy.OperationError{ServiceID: "Test", OperationName: "Op", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: api},
	}}
}

func code(c string) error { return &smithy.GenericAPIError{Code: c, Message: "m"} }

func TestPermanent(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"marked by the sender", permanent("too large"), true},
		{"marked, wrapped", fmt.Errorf("route r: %w", permanent("too large")), true},
		{"not attempted", fmt.Errorf("%w: earlier failed", ErrNotAttempted), false},
		{"cancelled", fmt.Errorf("put: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, false},
		{"network", errors.New("dial tcp 127.0.0.1:1: connection refused"), false},

		// Kinesis, whole calls and records.
		{"kinesis throttled", sdkError(400, &kinesistypes.ProvisionedThroughputExceededException{}), false},
		{"kinesis record throttled", entryError("put", "ProvisionedThroughputExceededException", ""), false},
		{"kinesis record internal failure", entryError("put", "InternalFailure", ""), false},
		{"kinesis validation", sdkError(400, code("ValidationException")), true},
		{"kinesis stream missing", sdkError(400, &kinesistypes.ResourceNotFoundException{}), true},
		{"kinesis access denied", sdkError(400, &kinesistypes.AccessDeniedException{}), true},
		{"kinesis kms disabled", sdkError(400, &kinesistypes.KMSDisabledException{}), true},
		{"kinesis kms not found record", entryError("put", "KMSNotFoundException", ""), true},
		{"kinesis kms throttled", sdkError(400, &kinesistypes.KMSThrottlingException{}), false},
		{"kinesis stream updating", sdkError(400, &kinesistypes.ResourceInUseException{}), false},
		{"kinesis limit exceeded", sdkError(400, &kinesistypes.LimitExceededException{}), false},

		// S3.
		{"s3 no bucket", sdkError(404, &s3types.NoSuchBucket{}), true},
		{"s3 access denied", sdkError(403, code("AccessDenied")), true},
		{"s3 slow down", sdkError(503, code("SlowDown")), false},
		{"s3 internal", sdkError(500, code("InternalError")), false},
		{"s3 kms disabled", sdkError(400, code("KMS.DisabledException")), true},

		// SQS (JSON and query-compatible codes).
		{"sqs queue missing", sdkError(400, &sqstypes.QueueDoesNotExist{}), true},
		{"sqs queue missing, query code", sdkError(400, code("AWS.SimpleQueueService.NonExistentQueue")), true},
		{"sqs batch too long", sdkError(400, &sqstypes.BatchRequestTooLong{}), true},
		{"sqs throttled", sdkError(400, &sqstypes.RequestThrottled{}), false},
		{"sqs kms throttled", sdkError(400, &sqstypes.KmsThrottled{}), false},
		{"sqs kms access denied", sdkError(400, &sqstypes.KmsAccessDenied{}), true},

		// EventBridge entries.
		{"eventbridge malformed detail", entryError("put", "MalformedDetail", ""), true},
		{"eventbridge not authorized for source", entryError("put", "NotAuthorizedForSourceException", ""), true},
		{"eventbridge throttled", entryError("put", "ThrottlingException", ""), false},

		// Credentials and clocks refresh.
		{"expired token", sdkError(400, code("ExpiredTokenException")), false},
		{"clock skew", sdkError(403, code("RequestTimeTooSkewed")), false},

		// Unknown codes: the status of a whole call decides; an entry's
		// unknown code is transient.
		{"unknown code 400", sdkError(400, code("SomethingNew")), true},
		{"unknown code 404", sdkError(404, code("SomethingNew")), true},
		{"unknown code 429", sdkError(429, code("SomethingNew")), false},
		{"unknown code 503", sdkError(503, code("SomethingNew")), false},
		{"unknown entry code", entryError("put", "SomethingNew", ""), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Permanent(tc.err); got != tc.want {
				t.Errorf("Permanent(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
