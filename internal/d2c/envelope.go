package d2c

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/devicehub/devicehub/internal/jsonscan"
	"github.com/devicehub/devicehub/internal/jsonstr"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// The record the hub writes to Kinesis for each message is an envelope that
// shared/telemetry defines and decodes: version 2 (compact) by default,
// version 1 when the stack asks for it. It is appended by hand, not with
// encoding/json, so the body goes in byte for byte (json.Marshal would
// compact a RawMessage) and the hot path allocates nothing here.

// envelopeEncoder appends the envelopes of messages that share the
// properties the hub stamps (device id, generation id, auth method, enqueued
// time), as the messages of one request do: those are escaped and formatted
// once, not once per message.
type envelopeEncoder struct {
	version int
	tail    []byte
}

// newEnvelopeEncoder prepares the stamped properties of sys for envelopes of
// version (telemetry.V1 or V2), in scratch's storage when it is large enough.
func newEnvelopeEncoder(version int, scratch []byte, sys *telemetry.SystemProperties) envelopeEncoder {
	if version == telemetry.V1 {
		return envelopeEncoder{version: version, tail: appendTailV1(scratch[:0], sys)}
	}
	return envelopeEncoder{version: telemetry.V2, tail: appendTailV2(scratch[:0], sys)}
}

// append appends the envelope of one message whose stamped properties are
// the encoder's; sys supplies only the message's own (id, correlation id,
// user id, content type and encoding).
func (e *envelopeEncoder) append(dst []byte, sys *telemetry.SystemProperties, props []iothub.Property, body []byte) []byte {
	if e.version == telemetry.V1 {
		dst, first := appendHeadV1(dst, sys)
		if !first {
			dst = append(dst, ',')
		}
		dst = append(dst, e.tail...)
		return appendRestV1(dst, props, body)
	}
	return e.appendV2(dst, sys, props, body)
}

// appendV2 writes the compact envelope:
//
//	{"v":2,"i":..,"cid":..,"uid":..,"c":..,"e":..,"d":..,"g":..,"a":..,"t":..,"p":{..},"b":..|"b64":".."}
func (e *envelopeEncoder) appendV2(dst []byte, sys *telemetry.SystemProperties, props []iothub.Property, body []byte) []byte {
	dst = append(dst, `{"v":2`...)
	dst = appendMember(dst, `,"i":`, sys.MessageID)
	dst = appendMember(dst, `,"cid":`, sys.CorrelationID)
	dst = appendMember(dst, `,"uid":`, sys.UserID)
	dst = appendCoded(dst, `,"c":`, sys.ContentType, telemetry.ContentTypeCode(sys.ContentType))
	dst = appendCoded(dst, `,"e":`, sys.ContentEncoding, telemetry.ContentEncodingCode(sys.ContentEncoding))
	dst = append(dst, e.tail...)
	if len(props) > 0 {
		dst = append(dst, `,"p":{`...)
		dst = appendProps(dst, props)
		dst = append(dst, '}')
	}
	if bodyIsJSON(body) {
		dst = append(dst, `,"b":`...)
		dst = append(dst, body...)
	} else {
		dst = append(dst, `,"b64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, body)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// appendTailV2 writes the stamped properties of a version 2 envelope, each
// with its leading comma: the device id and generation id always (the
// schema requires them), the auth method as its code when it has one.
func appendTailV2(dst []byte, sys *telemetry.SystemProperties) []byte {
	dst = append(dst, `,"d":`...)
	dst = appendString(dst, sys.DeviceID)
	dst = append(dst, `,"g":`...)
	dst = appendString(dst, sys.AuthGenerationID)
	if c := telemetry.AuthMethodCode(sys.AuthMethod); c > 0 {
		dst = append(dst, `,"a":`...)
		dst = strconv.AppendInt(dst, int64(c), 10)
	} else {
		dst = append(dst, `,"a":`...)
		dst = appendString(dst, sys.AuthMethod)
	}
	dst = append(dst, `,"t":`...)
	return strconv.AppendInt(dst, sys.EnqueuedTime.UnixMilli(), 10)
}

// appendString is jsonstr.Append with a shortcut for the strings nearly
// every envelope holds, printable ASCII that needs no escaping (ids, codes,
// property names and values): those are copied as they are.
func appendString(dst []byte, s string) []byte {
	if jsonscan.PlainRun(s) == len(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	return jsonstr.Append(dst, s)
}

// appendMember writes key (with its comma and colon) and value unless value
// is empty.
func appendMember(dst []byte, key, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, key...)
	return appendString(dst, value)
}

// appendCoded writes key and code when the value is well known, else the
// value as a string, and nothing when it is empty.
func appendCoded(dst []byte, key, value string, code int) []byte {
	switch {
	case value == "":
		return dst
	case code > 0:
		dst = append(dst, key...)
		return strconv.AppendInt(dst, int64(code), 10)
	}
	return appendMember(dst, key, value)
}

// appendProps writes the application properties as object members.
func appendProps(dst []byte, props []iothub.Property) []byte {
	for i, p := range props {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, p.Name)
		dst = append(dst, ':')
		dst = appendString(dst, p.Value)
	}
	return dst
}

// appendHeadV1 opens a version 1 envelope and writes the message's own
// system properties; first reports that none was written.
func appendHeadV1(dst []byte, sys *telemetry.SystemProperties) (_ []byte, first bool) {
	dst = append(dst, `{"v":1,"systemProperties":{`...) // telemetry.V1
	first = true
	field := func(name, value string) { dst = appendField(dst, &first, name, value) }
	field(telemetry.PropMessageID, sys.MessageID)
	field(telemetry.PropCorrelationID, sys.CorrelationID)
	field(telemetry.PropUserID, sys.UserID)
	field(telemetry.PropContentType, sys.ContentType)
	field(telemetry.PropContentEncoding, sys.ContentEncoding)
	return dst, first
}

// appendTailV1 writes the stamped properties, the enqueued time last, as
// if nothing preceded them (the caller writes the separating comma).
func appendTailV1(dst []byte, sys *telemetry.SystemProperties) []byte {
	first := true
	field := func(name, value string) { dst = appendField(dst, &first, name, value) }
	field(telemetry.PropDeviceID, sys.DeviceID)
	field(telemetry.PropAuthGenerationID, sys.AuthGenerationID)
	field(telemetry.PropAuthMethod, sys.AuthMethod)
	if !first {
		dst = append(dst, ',')
	}
	dst = appendString(dst, telemetry.PropEnqueuedTime)
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

// appendRestV1 closes the system properties and writes the application
// properties and the body.
func appendRestV1(dst []byte, props []iothub.Property, body []byte) []byte {
	dst = append(dst, `"},"properties":{`...)
	dst = appendProps(dst, props)
	if bodyIsJSON(body) {
		dst = append(dst, `},"bodyEncoding":"json","body":`...)
		dst = append(dst, body...)
	} else {
		dst = append(dst, `},"bodyEncoding":"base64","body":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, body)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// estimate is the length of m's envelope when none of its strings needs
// escaping, as in nearly every message, or a little more: the base64 length
// of the body bounds its raw length. Ingest sizes its buffer by it; the
// upper bound (envelopeSize) counts every string six times, which for a
// batch is a buffer several times the records' size to allocate and clear.
func (e *envelopeEncoder) estimate(m *Message) int {
	n := envelopeOverheadV2
	if e.version == telemetry.V1 {
		n = envelopeOverheadV1
	}
	n += len(e.tail) + len(m.MessageID) + len(m.CorrelationID) + len(m.UserID) + len(m.ContentType) + len(m.ContentEncoding)
	for _, p := range m.Properties {
		n += 6 + len(p.Name) + len(p.Value)
	}
	return n + base64.StdEncoding.EncodedLen(len(m.Body))
}

// The fixed parts of an envelope beyond the stamped properties, the
// strings' contents and the body, with room to spare: keys, quotes,
// separators, codes (TestEstimate checks them).
const (
	envelopeOverheadV2 = 64
	envelopeOverheadV1 = 224
)

// bodyIsJSON is telemetry.BodyIsJSON, the decoder's rule for a body that
// goes inline, with jsonscan.Valid for encoding/json.Valid: it runs on
// every message, and encoding/json's scanner took a tenth of a batch's
// time (TestBodyIsJSON and FuzzBodyIsJSON hold the two to the same answer).
func bodyIsJSON(body []byte) bool {
	return len(body) > 0 && !isJSONSpace(body[0]) && !isJSONSpace(body[len(body)-1]) &&
		utf8.Valid(body) && jsonscan.Valid(body)
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// envelopeSize returns an upper bound of an envelope's length (either
// version), to size buffers: every string may grow sixfold when escaped
// (\u00XX).
func envelopeSize(sys *telemetry.SystemProperties, props []iothub.Property, body []byte) int {
	n := 256 + 6*(len(sys.MessageID)+len(sys.CorrelationID)+len(sys.UserID)+len(sys.ContentType)+
		len(sys.ContentEncoding)+len(sys.DeviceID)+len(sys.AuthGenerationID)+len(sys.AuthMethod))
	for _, p := range props {
		n += 6 + 6*(len(p.Name)+len(p.Value))
	}
	return n + base64.StdEncoding.EncodedLen(len(body)) + len(body)
}
