package endpoints

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// ErrNotAttempted marks a message an ordered sender did not send because an
// earlier message of the same device failed in the same Send. It is never
// permanent: the message can go once the earlier one has gone (or been
// dead-lettered).
var ErrNotAttempted = errors.New("endpoints: not attempted")

// Permanent reports whether a Send error will never succeed on retry: the
// message is too large or malformed for the endpoint, the resource is
// missing, access or the KMS key is denied or disabled. The router
// dead-letters such messages. Throttling, server faults, timeouts,
// cancellation, network errors and anything unrecognised are transient.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	var p *permanentError
	if errors.As(err, &p) {
		return true
	}
	if errors.Is(err, ErrNotAttempted) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch code := api.ErrorCode(); {
		case transientCodes[code]:
			return false
		case permanentCodes[code]:
			return true
		}
	}
	// An error code this package does not know: the HTTP status of a whole
	// failed call still tells a request that can never be right (400, 403,
	// 404, 413...) from throttling (429) and server faults (5xx).
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		switch status.HTTPStatusCode() {
		case 400, 401, 403, 404, 405, 411, 413, 414:
			return true
		}
	}
	return false
}

// permanentError marks a failure the sender itself knows to be permanent
// (too large, not JSON) or that the service flagged as the caller's fault.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(format string, args ...any) error {
	return &permanentError{fmt.Errorf(format, args...)}
}

// transientCodes are error codes of the four services (and their common
// errors) that a retry can clear, including expired credentials and clock
// skew, which a refresh clears. They take precedence over permanentCodes
// and over the HTTP status (JSON protocols answer throttling with 400).
var transientCodes = setOf(
	// Throttling.
	"ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException",
	"RequestLimitExceeded", "RequestThrottled", "RequestThrottledException", "SlowDown",
	"ProvisionedThroughputExceededException", "LimitExceededException",
	"KMSThrottlingException", "KmsThrottled", "KMS.ThrottlingException",
	// Server faults.
	"InternalFailure", "InternalFailureException", "InternalError", "InternalException",
	"InternalServerError", "ServiceUnavailable", "ServiceUnavailableException",
	"RequestTimeout", "RequestTimeoutException",
	// A state that passes: a stream being updated, a bucket operation in flight.
	"ResourceInUseException", "OperationAborted",
	// Credentials and clocks, which refresh.
	"ExpiredToken", "ExpiredTokenException", "RequestExpired", "RequestTimeTooSkewed",
	"InvalidSignatureException", "SignatureDoesNotMatch",
)

// permanentCodes will fail the same way every time.
var permanentCodes = setOf(
	// Common to the services.
	"ValidationException", "InvalidArgumentException", "InvalidArgument", "InvalidParameterValue",
	"InvalidParameterCombination", "MissingParameter", "SerializationException",
	"ResourceNotFoundException", "AccessDeniedException", "AccessDenied",
	"UnrecognizedClientException", "InvalidClientTokenId", "InvalidAccessKeyId",
	"IncompleteSignature", "MissingAuthenticationToken", "OptInRequired",
	// Kinesis and SQS server-side encryption.
	"KMSDisabledException", "KMSInvalidStateException", "KMSAccessDeniedException",
	"KMSNotFoundException", "KMSOptInRequired",
	"KmsDisabled", "KmsInvalidState", "KmsAccessDenied", "KmsNotFound", "KmsOptInRequired", "KmsInvalidKeyUsage",
	// S3.
	"NoSuchBucket", "InvalidBucketName", "EntityTooLarge", "KeyTooLongError", "InvalidRequest",
	"AllAccessDisabled", "AccountProblem", "InvalidObjectState",
	"KMS.DisabledException", "KMS.KMSInvalidStateException", "KMS.NotFoundException", "KMS.AccessDeniedException",
	// SQS, in both the JSON and the query-compatible spelling.
	"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
	"InvalidMessageContents", "InvalidAttributeName", "InvalidAttributeValue", "InvalidAddress", "InvalidSecurity",
	"UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation",
	"BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong",
	"TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
	"BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
	"InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
	"EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest",
	// EventBridge.
	"MalformedDetail", "InvalidAccountIdException", "NotAuthorizedForSourceException",
	"NotAuthorizedForDetailTypeException",
)

func setOf(codes ...string) map[string]bool {
	m := make(map[string]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

// entryError is a failure the service reports for one entry of a batch
// call (a PutRecords record, an SQS or EventBridge entry).
func entryError(op, code, msg string) error {
	return fmt.Errorf("%s: %w", op, &smithy.GenericAPIError{Code: code, Message: msg})
}
