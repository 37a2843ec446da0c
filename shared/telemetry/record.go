// Package telemetry is the device-to-cloud record format: the versioned JSON
// envelope the hub writes to Kinesis for every message, and its decoder for
// backends (also straight from a Lambda Kinesis event).
//
// Envelope, version 1 (schema: events/telemetry-record.v1.schema.json):
//
//	{"v":1,
//	 "systemProperties":{"message-id":"...","iothub-connection-device-id":"dev1",...},
//	 "properties":{"temperature-alert":"true"},
//	 "bodyEncoding":"json"|"base64",
//	 "body":{...} | "base64..."}
//
// The body is inline, byte for byte, when it is valid UTF-8 JSON, and a base64
// string otherwise.
package telemetry

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Version is the envelope version this package writes.
const Version = 1

// Body encodings.
const (
	EncodingJSON   = "json"
	EncodingBase64 = "base64"
)

// System property names, as IoT Hub names them in its routed messages.
const (
	PropMessageID        = "message-id"
	PropCorrelationID    = "correlation-id"
	PropUserID           = "user-id"
	PropContentType      = "content-type"
	PropContentEncoding  = "content-encoding"
	PropDeviceID         = "iothub-connection-device-id"
	PropAuthGenerationID = "iothub-connection-auth-generation-id"
	PropAuthMethod       = "iothub-connection-auth-method"
	PropEnqueuedTime     = "iothub-enqueuedtime"
)

// SystemProperties are the message's system properties. The connection and
// enqueued-time fields are set by the hub from the authenticated request.
type SystemProperties struct {
	MessageID        string    `json:"message-id,omitempty"`
	CorrelationID    string    `json:"correlation-id,omitempty"`
	UserID           string    `json:"user-id,omitempty"`
	ContentType      string    `json:"content-type,omitempty"`
	ContentEncoding  string    `json:"content-encoding,omitempty"`
	DeviceID         string    `json:"iothub-connection-device-id"`
	AuthGenerationID string    `json:"iothub-connection-auth-generation-id"`
	AuthMethod       string    `json:"iothub-connection-auth-method"`
	EnqueuedTime     time.Time `json:"iothub-enqueuedtime"`
}

// Message is one decoded telemetry message.
type Message struct {
	SystemProperties
	Properties map[string]string
	Body       []byte

	// Set when decoded from a Kinesis record.
	SequenceNumber string
	PartitionKey   string
	ArrivalTime    time.Time
}

// envelope is the wire shape for decoding.
type envelope struct {
	V                int               `json:"v"`
	SystemProperties SystemProperties  `json:"systemProperties"`
	Properties       map[string]string `json:"properties"`
	BodyEncoding     string            `json:"bodyEncoding"`
	Body             json.RawMessage   `json:"body"`
}

// ErrVersion is returned for envelopes newer than this package understands.
var ErrVersion = errors.New("telemetry: unsupported envelope version")

// Decode parses one envelope.
func Decode(data []byte) (Message, error) {
	var e envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return Message{}, fmt.Errorf("telemetry: decode envelope: %w", err)
	}
	if e.V != Version {
		return Message{}, fmt.Errorf("%w: %d", ErrVersion, e.V)
	}
	m := Message{SystemProperties: e.SystemProperties, Properties: e.Properties}
	switch e.BodyEncoding {
	case EncodingJSON:
		m.Body = []byte(e.Body)
	case EncodingBase64:
		var s string
		if err := json.Unmarshal(e.Body, &s); err != nil {
			return Message{}, fmt.Errorf("telemetry: base64 body is not a string: %w", err)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return Message{}, fmt.Errorf("telemetry: decode body: %w", err)
		}
		m.Body = b
	default:
		return Message{}, fmt.Errorf("telemetry: unknown body encoding %q", e.BodyEncoding)
	}
	if m.Properties == nil {
		m.Properties = map[string]string{}
	}
	return m, nil
}

// BodyIsJSON reports whether body goes inline: valid UTF-8 JSON with no
// white space around the value (a JSON decoder drops that, so such a body
// would not come back byte for byte; it goes as base64).
func BodyIsJSON(body []byte) bool {
	return len(body) > 0 && !isJSONSpace(body[0]) && !isJSONSpace(body[len(body)-1]) &&
		utf8.Valid(body) && json.Valid(body)
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
