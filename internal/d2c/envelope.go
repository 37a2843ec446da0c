package d2c

import (
	"encoding/base64"
	"time"

	"github.com/devicehub/devicehub/internal/jsonstr"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// The record the hub writes to Kinesis for each message is the envelope that
// shared/telemetry defines and decodes (version 1). It is appended by hand,
// not with encoding/json, so the body goes in byte for byte (json.Marshal
// would compact a RawMessage) and the hot path allocates nothing here.

// envelopeEncoder appends the envelopes of messages that share the
// properties the hub stamps (device id, generation id, auth method, enqueued
// time), as the messages of one request do: those are escaped and formatted
// once, not once per message.
type envelopeEncoder struct {
	tail []byte
}

// newEnvelopeEncoder prepares the stamped properties of sys, in scratch's
// storage when it is large enough.
func newEnvelopeEncoder(scratch []byte, sys *telemetry.SystemProperties) envelopeEncoder {
	return envelopeEncoder{tail: appendTail(scratch[:0], sys)}
}

// append appends the envelope of one message whose stamped properties are
// the encoder's; sys supplies only the message's own (id, correlation id,
// user id, content type and encoding).
func (e *envelopeEncoder) append(dst []byte, sys *telemetry.SystemProperties, props []iothub.Property, body []byte) []byte {
	dst, first := appendHead(dst, sys)
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, e.tail...)
	return appendRest(dst, props, body)
}

// appendHead opens the envelope and writes the message's own system
// properties; first reports that none was written.
func appendHead(dst []byte, sys *telemetry.SystemProperties) (_ []byte, first bool) {
	dst = append(dst, `{"v":1,"systemProperties":{`...) // telemetry.Version
	first = true
	field := func(name, value string) { dst = appendField(dst, &first, name, value) }
	field(telemetry.PropMessageID, sys.MessageID)
	field(telemetry.PropCorrelationID, sys.CorrelationID)
	field(telemetry.PropUserID, sys.UserID)
	field(telemetry.PropContentType, sys.ContentType)
	field(telemetry.PropContentEncoding, sys.ContentEncoding)
	return dst, first
}

// appendTail writes the stamped properties, the enqueued time last, as
// if nothing preceded them (the caller writes the separating comma).
func appendTail(dst []byte, sys *telemetry.SystemProperties) []byte {
	first := true
	field := func(name, value string) { dst = appendField(dst, &first, name, value) }
	field(telemetry.PropDeviceID, sys.DeviceID)
	field(telemetry.PropAuthGenerationID, sys.AuthGenerationID)
	field(telemetry.PropAuthMethod, sys.AuthMethod)
	if !first {
		dst = append(dst, ',')
	}
	dst = jsonstr.Append(dst, telemetry.PropEnqueuedTime)
	dst = append(dst, ':', '"')
	return sys.EnqueuedTime.UTC().AppendFormat(dst, time.RFC3339Nano)
}

// appendField writes "name":"value" unless value is empty, with a comma
// before it unless it is the first field.
func appendField(dst []byte, first *bool, name, value string) []byte {
	if value == "" {
		return dst
	}
	if !*first {
		dst = append(dst, ',')
	}
	*first = false
	dst = jsonstr.Append(dst, name)
	dst = append(dst, ':')
	return jsonstr.Append(dst, value)
}

// appendRest closes the system properties and writes the application
// properties and the body.
func appendRest(dst []byte, props []iothub.Property, body []byte) []byte {
	dst = append(dst, `"},"properties":{`...)
	for i, p := range props {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonstr.Append(dst, p.Name)
		dst = append(dst, ':')
		dst = jsonstr.Append(dst, p.Value)
	}
	if telemetry.BodyIsJSON(body) {
		dst = append(dst, `},"bodyEncoding":"json","body":`...)
		dst = append(dst, body...)
	} else {
		dst = append(dst, `},"bodyEncoding":"base64","body":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, body)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// envelopeSize returns an upper bound of an envelope's length, to size
// buffers: every string may grow sixfold when escaped (\u00XX).
func envelopeSize(sys *telemetry.SystemProperties, props []iothub.Property, body []byte) int {
	n := 256 + 6*(len(sys.MessageID)+len(sys.CorrelationID)+len(sys.UserID)+len(sys.ContentType)+
		len(sys.ContentEncoding)+len(sys.DeviceID)+len(sys.AuthGenerationID)+len(sys.AuthMethod))
	for _, p := range props {
		n += 6 + 6*(len(p.Name)+len(p.Value))
	}
	return n + base64.StdEncoding.EncodedLen(len(body)) + len(body)
}
