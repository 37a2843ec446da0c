// Package telemetry is the device-to-cloud record format: the versioned JSON
// envelope the hub writes to Kinesis for every message, and its decoder for
// backends (also straight from a Lambda Kinesis event). Decode reads both
// versions into the same Message.
//
// Envelope, version 2, compact (schema: events/telemetry-record.v2.schema.json):
//
//	{"v":2,"i":"<message id>","c":1,"e":1,"d":"dev1","g":"<generation id>",
//	 "a":1,"t":<enqueued time, Unix milliseconds>,
//	 "p":{"temperature-alert":"true"},
//	 "b":{...}}                       (or "b64":"base64...")
//
// "s" names the message's routing source when it is not device telemetry
// (SourceDeviceLifecycleEvents); telemetry records have none.
//
// "c", "e" and "a" (content type, content encoding, auth method) are either
// a small integer naming a well-known value (ContentTypes, ContentEncodings,
// AuthMethods) or the value itself as a string. "p" is absent when the
// message has no properties; "cid" and "uid" carry the correlation and user
// ids when set.
//
// Envelope, version 1 (schema: events/telemetry-record.v1.schema.json):
//
//	{"v":1,
//	 "systemProperties":{"message-id":"...","iothub-connection-device-id":"dev1",...},
//	 "properties":{"temperature-alert":"true"},
//	 "bodyEncoding":"json"|"base64",
//	 "body":{...} | "base64..."}
//
// In both, the body is inline, byte for byte, when it is valid UTF-8 JSON,
// and a base64 string otherwise.
package telemetry

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Envelope versions. Version is the one new stacks write.
const (
	V1      = 1
	V2      = 2
	Version = V2
)

// The well-known values of a version 2 envelope's "c", "e" and "a" fields:
// code n is the table's entry n-1. The tables only ever grow.
var (
	contentTypes     = [...]string{"application/json", "text/plain", "application/octet-stream"}
	contentEncodings = [...]string{"utf-8", "utf-16", "utf-32"}
	authMethods      = [...]string{AuthMethodSAS, AuthMethodX509Certificate, AuthMethodX509CA}
)

// The iothub-connection-auth-method values the hub stamps, as IoT Hub
// writes them.
const (
	AuthMethodSAS             = `{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`
	AuthMethodX509Certificate = `{"scope":"device","type":"x509Certificate","issuer":"external","acceptingIpFilterRule":null}`
	AuthMethodX509CA          = `{"scope":"device","type":"x509CA","issuer":"external","acceptingIpFilterRule":null}`
)

// ContentTypeCode, ContentEncodingCode and AuthMethodCode return the
// version 2 code of a well-known value, or 0 when it has none (it is
// written as a string).
func ContentTypeCode(v string) int     { return code(contentTypes[:], v) }
func ContentEncodingCode(v string) int { return code(contentEncodings[:], v) }
func AuthMethodCode(v string) int      { return code(authMethods[:], v) }

func code(table []string, v string) int {
	for i, w := range table {
		if w == v {
			return i + 1
		}
	}
	return 0
}

// Routing sources, as IoT Hub names them. The telemetry stream carries
// device messages and, when a route asks for them, lifecycle events.
const (
	SourceDeviceMessages        = "DeviceMessages"
	SourceDeviceLifecycleEvents = "DeviceLifecycleEvents"
)

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
	// Source is the routing source: SourceDeviceMessages for telemetry,
	// SourceDeviceLifecycleEvents for a registry lifecycle notification.
	Source     string
	Properties map[string]string
	Body       []byte

	// Set when decoded from a Kinesis record.
	SequenceNumber string
	PartitionKey   string
	ArrivalTime    time.Time
}

// envelope is the wire shape of both versions, for decoding in one pass.
type envelope struct {
	V int `json:"v"`

	// Version 1.
	SystemProperties SystemProperties  `json:"systemProperties"`
	Properties       map[string]string `json:"properties"`
	BodyEncoding     string            `json:"bodyEncoding"`
	Body             json.RawMessage   `json:"body"`

	// Version 2.
	Source          string            `json:"s"`
	MessageID       string            `json:"i"`
	CorrelationID   string            `json:"cid"`
	UserID          string            `json:"uid"`
	ContentType     json.RawMessage   `json:"c"`
	ContentEncoding json.RawMessage   `json:"e"`
	DeviceID        string            `json:"d"`
	GenerationID    string            `json:"g"`
	AuthMethod      json.RawMessage   `json:"a"`
	EnqueuedMillis  *int64            `json:"t"`
	Props           map[string]string `json:"p"`
	InlineBody      json.RawMessage   `json:"b"`
	Base64Body      *string           `json:"b64"`
}

// ErrVersion is returned for envelopes newer than this package understands.
var ErrVersion = errors.New("telemetry: unsupported envelope version")

// Decode parses one envelope.
func Decode(data []byte) (Message, error) {
	var e envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return Message{}, fmt.Errorf("telemetry: decode envelope: %w", err)
	}
	switch e.V {
	case V1:
		return decodeV1(&e)
	case V2:
		return decodeV2(&e)
	}
	return Message{}, fmt.Errorf("%w: %d", ErrVersion, e.V)
}

func decodeV2(e *envelope) (Message, error) {
	m := Message{
		SystemProperties: SystemProperties{
			MessageID: e.MessageID, CorrelationID: e.CorrelationID, UserID: e.UserID,
			DeviceID: e.DeviceID, AuthGenerationID: e.GenerationID,
		},
		Properties: e.Props,
		Source:     e.Source,
	}
	if m.Source == "" {
		m.Source = SourceDeviceMessages
	}
	var err error
	if m.ContentType, err = expand("c", contentTypes[:], e.ContentType); err != nil {
		return Message{}, err
	}
	if m.ContentEncoding, err = expand("e", contentEncodings[:], e.ContentEncoding); err != nil {
		return Message{}, err
	}
	if m.AuthMethod, err = expand("a", authMethods[:], e.AuthMethod); err != nil {
		return Message{}, err
	}
	if e.EnqueuedMillis == nil {
		return Message{}, errors.New("telemetry: v2 envelope without enqueued time (t)")
	}
	m.EnqueuedTime = time.UnixMilli(*e.EnqueuedMillis).UTC()
	switch {
	case e.InlineBody != nil && e.Base64Body != nil:
		return Message{}, errors.New("telemetry: v2 envelope with both b and b64")
	case e.InlineBody != nil:
		m.Body = []byte(e.InlineBody)
	case e.Base64Body != nil:
		b, err := base64.StdEncoding.DecodeString(*e.Base64Body)
		if err != nil {
			return Message{}, fmt.Errorf("telemetry: decode body: %w", err)
		}
		m.Body = b
	default:
		return Message{}, errors.New("telemetry: v2 envelope without a body (b or b64)")
	}
	if m.Properties == nil {
		m.Properties = map[string]string{}
	}
	return m, nil
}

// expand reads a field that is a code of table or a string; absent is "".
func expand(name string, table []string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("telemetry: field %s: %w", name, err)
		}
		return s, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil || n < 1 || n > len(table) {
		return "", fmt.Errorf("telemetry: field %s: unknown code %s", name, raw)
	}
	return table[n-1], nil
}

func decodeV1(e *envelope) (Message, error) {
	m := Message{SystemProperties: e.SystemProperties, Properties: e.Properties, Source: SourceDeviceMessages}
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
