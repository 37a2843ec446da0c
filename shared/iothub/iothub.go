// Package iothub holds IoT Hub's wire types as devicehub speaks them: the
// registry's device JSON, the error body, the cloud-to-device and feedback
// shapes and the batch content type. The server (internal/hubapi) and the Go
// client (shared/hubclient) both import it, so a client needs none of the
// server's dependencies.
package iothub

import "time"

// BatchContentType marks a batch of messages in IoT Hub's JSON format.
const BatchContentType = "application/vnd.microsoft.iothub.json"

// ErrorBody is the JSON error shape. errorCode is IoT Hub's six-digit number,
// code its name, trackingId ties the answer to the hub's logs. Encoded, it
// also carries IoT Hub's classic fields, Message ("ErrorCode:<code>;<message>")
// and ExceptionMessage ("Tracking ID:<id>-TimeStamp:<time>"), which the Azure
// IoT service SDKs parse to tell, say, DeviceNotFound from another 404 (see
// MarshalJSON).
type ErrorBody struct {
	ErrorCode    int    `json:"errorCode"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	TrackingID   string `json:"trackingId"`
	TimestampUTC string `json:"timestampUtc"`
	// The classic fields. Encoding fills them from the fields above when
	// empty; they are named here so that decoding, which matches JSON keys
	// without case when no field has the exact name, never takes
	// "Message" for "message".
	ClassicMessage   string `json:"Message,omitempty"`
	ExceptionMessage string `json:"ExceptionMessage,omitempty"`
}

// Property is one application property of a message (iothub-app-<name>).
type Property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Device is the registry's device JSON, IoT Hub's shape.
type Device struct {
	DeviceID                   string         `json:"deviceId"`
	GenerationID               string         `json:"generationId,omitempty"`
	ETag                       string         `json:"etag,omitempty"`
	ConnectionState            string         `json:"connectionState,omitempty"`
	Status                     string         `json:"status,omitempty"`
	StatusReason               *string        `json:"statusReason"`
	StatusUpdatedTime          string         `json:"statusUpdatedTime,omitempty"`
	ConnectionStateUpdatedTime string         `json:"connectionStateUpdatedTime,omitempty"`
	LastActivityTime           string         `json:"lastActivityTime,omitempty"`
	CloudToDeviceMessageCount  Count          `json:"cloudToDeviceMessageCount"`
	Authentication             Authentication `json:"authentication"`
	Capabilities               *Capabilities  `json:"capabilities,omitempty"`
}

// Authentication is the device's credentials block: Type says which of its
// parts the device authenticates with.
type Authentication struct {
	SymmetricKey   *SymmetricKey   `json:"symmetricKey,omitempty"`
	X509Thumbprint *X509Thumbprint `json:"x509Thumbprint,omitempty"`
	Type           string          `json:"type,omitempty"`
}

// Authentication types, IoT Hub's names.
const (
	AuthSAS                  = "sas"                  // SAS tokens signed with a device key
	AuthSelfSigned           = "selfSigned"           // an X.509 certificate with a registered thumbprint
	AuthCertificateAuthority = "certificateAuthority" // an X.509 certificate chaining to a verified CA, subject CN = device id
)

// X509Thumbprint holds a selfSigned device's two certificate thumbprints:
// hex SHA-1 (40 digits) or SHA-256 (64 digits) of the certificate's DER.
type X509Thumbprint struct {
	PrimaryThumbprint   string `json:"primaryThumbprint,omitempty"`
	SecondaryThumbprint string `json:"secondaryThumbprint,omitempty"`
}

// SymmetricKey holds the device's two keys.
type SymmetricKey struct {
	PrimaryKey   string `json:"primaryKey,omitempty"`
	SecondaryKey string `json:"secondaryKey,omitempty"`
}

// Capabilities is carried for shape compatibility.
type Capabilities struct {
	IotEdge bool `json:"iotEdge"`
}

// Ack is the feedback a cloud-to-device sender asks for (iothub-ack).
type Ack string

// Ack values.
const (
	AckNone     Ack = "none"
	AckPositive Ack = "positive"
	AckNegative Ack = "negative"
	AckFull     Ack = "full"
)

// StatusCode is a feedback record's outcome, as IoT Hub names it.
type StatusCode string

// Feedback status codes.
const (
	StatusSuccess               StatusCode = "Success"
	StatusExpired               StatusCode = "Expired"
	StatusDeliveryCountExceeded StatusCode = "DeliveryCountExceeded"
	StatusRejected              StatusCode = "Rejected"
	StatusPurged                StatusCode = "Purged"
)

// C2DSent is what the hub recorded for a sent cloud-to-device message.
type C2DSent struct {
	DeviceID       string    `json:"deviceId"`
	MessageID      string    `json:"messageId"`
	SequenceNumber int64     `json:"sequenceNumber"`
	EnqueuedTime   time.Time `json:"enqueuedTimeUtc"`
	Expiry         time.Time `json:"expiryTimeUtc"`
}

// C2DStatus is one cloud-to-device message's state as the service may look it up.
type C2DStatus struct {
	DeviceID       string     `json:"deviceId"`
	MessageID      string     `json:"messageId"`
	CorrelationID  string     `json:"correlationId,omitempty"`
	SequenceNumber int64      `json:"sequenceNumber"`
	State          string     `json:"state"`             // Enqueued, Invisible, Completed, DeadLettered, Purged, Requeued
	Reason         string     `json:"reason,omitempty"`  // for DeadLettered: Rejected, Expired, DeliveryCountExceeded
	Outcome        StatusCode `json:"outcome,omitempty"` // the feedback status code of a settled message
	Ack            Ack        `json:"ack"`
	DeliveryCount  int        `json:"deliveryCount"`
	EnqueuedTime   time.Time  `json:"enqueuedTimeUtc"`
	Expiry         time.Time  `json:"expiryTimeUtc"`
	LockedUntil    *time.Time `json:"lockedUntilUtc,omitempty"`
	SettledTime    *time.Time `json:"settledTimeUtc,omitempty"`
	RequeuedAs     int64      `json:"requeuedAsSequenceNumber,omitempty"`
	FeedbackQueued bool       `json:"feedbackPending"` // a feedback record is waiting for a reader
}

// PurgeResult answers a purge of a device's cloud-to-device queue.
type PurgeResult struct {
	DeviceID            string `json:"deviceId"`
	TotalMessagesPurged int    `json:"totalMessagesPurged"`
}

// FeedbackRecord is one delivery outcome, in IoT Hub's shape.
type FeedbackRecord struct {
	OriginalMessageID  string     `json:"originalMessageId"`
	DeviceID           string     `json:"deviceId"`
	DeviceGenerationID string     `json:"deviceGenerationId"`
	StatusCode         StatusCode `json:"statusCode"`
	Description        string     `json:"description"`
	EnqueuedTimeUTC    time.Time  `json:"enqueuedTimeUtc"`
}

// Twin is a device twin, IoT Hub's shape (GET /twins/{id}). devicehub keeps
// a twin's tags; its desired and reported properties hold only their
// metadata and version.
type Twin struct {
	DeviceID                  string          `json:"deviceId"`
	ETag                      string          `json:"etag"`
	DeviceETag                string          `json:"deviceEtag,omitempty"`
	Status                    string          `json:"status,omitempty"`
	StatusReason              string          `json:"statusReason,omitempty"`
	StatusUpdateTime          string          `json:"statusUpdateTime,omitempty"`
	ConnectionState           string          `json:"connectionState,omitempty"`
	LastActivityTime          string          `json:"lastActivityTime,omitempty"`
	CloudToDeviceMessageCount int             `json:"cloudToDeviceMessageCount"`
	AuthenticationType        string          `json:"authenticationType,omitempty"`
	X509Thumbprint            *X509Thumbprint `json:"x509Thumbprint,omitempty"`
	Version                   int64           `json:"version"`
	Tags                      map[string]any  `json:"tags,omitempty"`
	Properties                TwinProperties  `json:"properties"`
	Capabilities              *Capabilities   `json:"capabilities,omitempty"`
}

// TwinProperties are a twin's desired and reported properties, each a JSON
// object with "$metadata" and "$version".
type TwinProperties struct {
	Desired  map[string]any `json:"desired"`
	Reported map[string]any `json:"reported"`
}

// TwinPatch is the body of a twin update (PATCH /twins/{id}, a JSON merge
// patch: a null removes a key, no tags change none) or replacement (PUT
// /twins/{id}: no tags remove them all), as far as devicehub takes it: the
// tags.
type TwinPatch struct {
	Tags map[string]any `json:"tags,omitempty"`
}
