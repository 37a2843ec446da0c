package apierr

// Code is one named error of IoT Hub's vocabulary: its name (the JSON body's
// "code" and the iothub-errorcode header), its six-digit number (the body's
// "errorCode") and its Kind. Every error the hub answers comes from this
// catalogue, so a name always carries the same number and status.
type Code struct {
	Kind   Kind
	Name   string
	Number int
}

// The catalogue. Numbers are IoT Hub's where it has the error; the ones it
// lacks (MessageAlreadyRequeued, FeedbackLockLost, CertificateNotFound,
// MethodNotAllowed) take the next free number of their status.
var (
	ArgumentInvalid                 = Code{Invalid, "ArgumentInvalid", 400004}
	IotHubUnauthorizedAccess        = Code{Unauthorized, "IotHubUnauthorizedAccess", 401002}
	DeviceMaximumQueueDepthExceeded = Code{Forbidden, "DeviceMaximumQueueDepthExceeded", 403004}
	RouteNotFound                   = Code{NotFound, "NotFound", 404000}
	DeviceNotFound                  = Code{NotFound, "DeviceNotFound", 404001}
	MessageNotFound                 = Code{NotFound, "MessageNotFound", 404002}
	CertificateNotFound             = Code{NotFound, "CertificateNotFound", 404004}
	MethodNotAllowed                = Code{NotAllowed, "MethodNotAllowed", 405000}
	DeviceAlreadyExists             = Code{Conflict, "DeviceAlreadyExists", 409001}
	MessageAlreadyRequeued          = Code{Conflict, "MessageAlreadyRequeued", 409002}
	PreconditionFailedETag          = Code{PreconditionFailed, "PreconditionFailed", 412002}
	DeviceMessageLockLost           = Code{PreconditionFailed, "DeviceMessageLockLost", 412020}
	FeedbackLockLost                = Code{PreconditionFailed, "FeedbackLockLost", 412021}
	MessageTooLarge                 = Code{TooLarge, "MessageTooLarge", 413001}
	ThrottlingException             = Code{Throttled, "ThrottlingException", 429001}
	ServerError                     = Code{Internal, "ServerError", 500001}
	ServiceUnavailable              = Code{Unavailable, "ServiceUnavailable", 503001}
)

// New returns an error of this code with the caller-facing message.
func (c Code) New(message string) *Error {
	return &Error{Code: c, Message: message}
}

// Wrap returns an error of this code with a cause, kept for logs.
func (c Code) Wrap(message string, cause error) *Error {
	return &Error{Code: c, Message: message, Err: cause}
}
