package telemetry

import (
	"encoding/base64"
	"time"
	"unicode/utf8"

	"github.com/devicehub/devicehub/shared/iothub"
)

// Append appends the envelope of one message to dst. It is written by hand,
// not with encoding/json, so the body goes in byte for byte (json.Marshal
// would compact a RawMessage) and the hot ingress path allocates nothing here.
func Append(dst []byte, sys *SystemProperties, props []iothub.Property, body []byte) []byte {
	e := NewEncoder(nil, sys)
	return e.Append(dst, sys, props, body)
}

// Encoder appends the envelopes of messages that share the properties the
// hub stamps (device id, generation id, auth method, enqueued time), as the
// messages of one request do: those are escaped and formatted once, not once
// per message. Its output is exactly Append's.
type Encoder struct {
	tail []byte
}

// NewEncoder prepares the stamped properties of sys, in scratch's storage
// when it is large enough.
func NewEncoder(scratch []byte, sys *SystemProperties) Encoder {
	return Encoder{tail: appendTail(scratch[:0], sys)}
}

// Append is Append for a message whose stamped properties are the
// encoder's; sys supplies only the message's own (id, correlation id, user
// id, content type and encoding).
func (e *Encoder) Append(dst []byte, sys *SystemProperties, props []iothub.Property, body []byte) []byte {
	dst, first := appendHead(dst, sys)
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, e.tail...)
	return appendRest(dst, props, body)
}

// appendHead opens the envelope and writes the message's own system
// properties; first reports that none was written.
func appendHead(dst []byte, sys *SystemProperties) (_ []byte, first bool) {
	dst = append(dst, `{"v":1,"systemProperties":{`...)
	first = true
	field := func(name, value string) { dst = appendField(dst, &first, name, value) }
	field(PropMessageID, sys.MessageID)
	field(PropCorrelationID, sys.CorrelationID)
	field(PropUserID, sys.UserID)
	field(PropContentType, sys.ContentType)
	field(PropContentEncoding, sys.ContentEncoding)
	return dst, first
}

// appendTail writes the stamped properties, the enqueued time last, as
// if nothing preceded them (the caller writes the separating comma).
func appendTail(dst []byte, sys *SystemProperties) []byte {
	first := true
	field := func(name, value string) { dst = appendField(dst, &first, name, value) }
	field(PropDeviceID, sys.DeviceID)
	field(PropAuthGenerationID, sys.AuthGenerationID)
	field(PropAuthMethod, sys.AuthMethod)
	if !first {
		dst = append(dst, ',')
	}
	dst = appendString(dst, PropEnqueuedTime)
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
	dst = appendString(dst, name)
	dst = append(dst, ':')
	return appendString(dst, value)
}

// appendRest closes the system properties and writes the application
// properties and the body.
func appendRest(dst []byte, props []iothub.Property, body []byte) []byte {
	dst = append(dst, `"},"properties":{`...)
	for i, p := range props {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, p.Name)
		dst = append(dst, ':')
		dst = appendString(dst, p.Value)
	}
	if BodyIsJSON(body) {
		dst = append(dst, `},"bodyEncoding":"json","body":`...)
		dst = append(dst, body...)
	} else {
		dst = append(dst, `},"bodyEncoding":"base64","body":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, body)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// Size returns an upper bound of Append's output length, to size buffers:
// every string may grow sixfold when escaped (\u00XX).
func Size(sys *SystemProperties, props []iothub.Property, body []byte) int {
	n := 256 + 6*(len(sys.MessageID)+len(sys.CorrelationID)+len(sys.UserID)+len(sys.ContentType)+
		len(sys.ContentEncoding)+len(sys.DeviceID)+len(sys.AuthGenerationID)+len(sys.AuthMethod))
	for _, p := range props {
		n += 6 + 6*(len(p.Name)+len(p.Value))
	}
	return n + base64.StdEncoding.EncodedLen(len(body)) + len(body)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// (minus HTML escaping), replacing invalid UTF-8 with U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
