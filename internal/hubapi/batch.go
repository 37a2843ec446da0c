package hubapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/jsonstr"
	"github.com/devicehub/devicehub/internal/msgrules"
	"github.com/devicehub/devicehub/shared/iothub"
)

// IoT Hub's JSON batch (Content-Type application/vnd.microsoft.iothub.json)
// is an array of {"body", "base64Encoded", "properties"}. parseBatchFast
// (batchfast.go) takes the shape devices send; parseBatch, here, takes
// anything else encoding/json accepts and words the errors. Both give the
// same messages for the same input, deterministically:
//   - of a key given twice in a message object ("body", "base64Encoded",
//     "properties"), the last occurrence wins, as in JSON.parse (a later
//     "properties" replaces an earlier one whole, where encoding/json would
//     merge two into one map);
//   - property names compare ignoring ASCII case, after the iothub-app-
//     prefix is removed; of a name given twice the last occurrence wins
//     (msgrules.LastWins), system properties alike;
//   - a message holds at most msgrules.MaxProperties application properties
//     counted as sent (each occurrence of a repeated name counts) and at most
//     maxPropertyEntries properties in all, and a batch at most
//     d2c.MaxBatchMessages messages; parsing stops at the first one over, so
//     no input buys more than linear work;
//   - a body sent with "base64Encoded": false must be valid UTF-8 (a JSON
//     string is read strictly, see jsonstr.Decode), never patched.

// maxPropertyEntries bounds the entries of one message's properties object,
// system properties included, which msgrules.MaxProperties does not count:
// room for 64 application properties and every system property a device
// sets, each more than once, while a batch of one message with 30,000
// dropped iothub-* names is refused rather than parsed.
const maxPropertyEntries = 2 * msgrules.MaxProperties

func tooManyEntries() error {
	return apierr.ArgumentInvalid.New("at most " + strconv.Itoa(maxPropertyEntries) + " properties per message, system properties included")
}

// batchItem is one message of IoT Hub's JSON batch.
type batchItem struct {
	Body          json.RawMessage `json:"body"`
	Base64Encoded *bool           `json:"base64Encoded"`
	Properties    batchProperties `json:"properties"`
}

// batchProperties are a message's properties as sent, in document order,
// names not yet routed: a map would lose the order that decides which of
// two spellings of a name wins.
type batchProperties []iothub.Property

// UnmarshalJSON reads an object of strings. A later "properties" key
// replaces an earlier one, so it starts afresh.
func (p *batchProperties) UnmarshalJSON(b []byte) error {
	*p = (*p)[:0]
	if string(b) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("properties is not an object of strings")
	}
	apps := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := tok.(string) // an object's keys are strings
		var v string
		if err := dec.Decode(&v); err != nil {
			return errors.New("property " + strconv.Quote(k) + " is not a string")
		}
		if !isSystemProperty(k) {
			if apps++; apps > msgrules.MaxProperties {
				return msgrules.TooManyProperties(msgrules.MaxProperties)
			}
		}
		if len(*p) == maxPropertyEntries {
			return tooManyEntries()
		}
		*p = append(*p, iothub.Property{Name: k, Value: v})
	}
	return nil
}

// parseBatch decodes any batch with encoding/json and words its errors.
func parseBatch(raw []byte) ([]d2c.Message, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	notArray := func(err error) error {
		msg := "batch is not a JSON array of messages"
		if err != nil {
			msg += ": " + err.Error()
		}
		return apierr.ArgumentInvalid.New(msg)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, notArray(err)
	}
	var msgs []d2c.Message
	for dec.More() {
		i := len(msgs)
		if i == d2c.MaxBatchMessages {
			return nil, d2c.TooManyMessages()
		}
		fail := func(err error) error {
			if e, ok := apierr.As(err); ok {
				e.Message = "batch message " + strconv.Itoa(i) + ": " + e.Message
				return e
			}
			return apierr.ArgumentInvalid.New("batch message " + strconv.Itoa(i) + ": " + describe(err))
		}
		var it batchItem
		if err := dec.Decode(&it); err != nil {
			return nil, fail(err)
		}
		var m d2c.Message
		var err error
		if m.Body, err = batchBody(it); err != nil {
			return nil, fail(err)
		}
		props, err := appendProperties(&m, it.Properties, it.Properties[:0])
		if err != nil {
			return nil, fail(err)
		}
		m.Properties = finishProperties(props)
		msgs = append(msgs, m)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return nil, notArray(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, notArray(errors.New("data after the array"))
	}
	if len(msgs) == 0 {
		return nil, apierr.ArgumentInvalid.New("batch holds no message")
	}
	return msgs, nil
}

// describe words a decoding error without Go's type names.
func describe(err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	switch te.Field {
	case "":
		return "a message is a JSON " + te.Value + ", not an object"
	case "base64Encoded":
		return "base64Encoded is a JSON " + te.Value + ", not a boolean"
	}
	return te.Field + " is a JSON " + te.Value + " of the wrong type"
}

func batchBody(it batchItem) ([]byte, error) {
	if len(it.Body) == 0 || string(it.Body) == "null" {
		return nil, errors.New("body is missing")
	}
	isString := it.Body[0] == '"'
	if it.Base64Encoded == nil || *it.Base64Encoded {
		if !isString {
			return nil, errors.New("body must be a base64 string unless base64Encoded is false")
		}
		var s string
		if err := json.Unmarshal(it.Body, &s); err != nil {
			return nil, errors.New("body is not a valid JSON string")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, errors.New("body is not valid base64")
		}
		return b, nil
	}
	if !isString {
		if !utf8.Valid(it.Body) {
			return nil, errors.New("body is not valid UTF-8")
		}
		return []byte(it.Body), nil
	}
	s, err := jsonstr.Decode(it.Body)
	if err != nil {
		return nil, errors.New("body is not a valid UTF-8 JSON string: " + err.Error())
	}
	return []byte(s), nil
}

// appendProperties routes a message's properties, as sent and in document
// order, with batchProperty: system properties set m's fields (a later one
// overwriting an earlier one), application properties are appended to dst,
// which may share raw's storage (it never outgrows what has been read). More
// than msgrules.MaxProperties application properties is an error.
func appendProperties(m *d2c.Message, raw, dst []iothub.Property) ([]iothub.Property, error) {
	start := len(dst)
	for _, kv := range raw {
		if p, ok := batchProperty(m, kv.Name, kv.Value); ok {
			if len(dst)-start == msgrules.MaxProperties {
				return nil, msgrules.TooManyProperties(msgrules.MaxProperties)
			}
			dst = append(dst, p)
		}
	}
	return dst, nil
}

// finishProperties resolves repeated names (msgrules.LastWins) and sorts
// by name. It returns nil for none, and otherwise a slice that appending
// cannot grow into storage that follows it.
func finishProperties(props []iothub.Property) []iothub.Property {
	if len(props) == 0 {
		return nil
	}
	props = msgrules.LastWins(props[:len(props):len(props)])
	slices.SortFunc(props, func(a, b iothub.Property) int { return strings.Compare(a.Name, b.Name) })
	return props
}

// batchProperty routes one property of a batch message, for both parsers:
// IoT Hub's system property names (any case) set m's fields; iothub-app-<name>
// and unprefixed names are application properties, returned with ok; other
// iothub-* names are the hub's to set, never the device's, and are dropped.
func batchProperty(m *d2c.Message, k, v string) (_ iothub.Property, ok bool) {
	return routeProperty(m, classifyProperty(k), k, v)
}

// propKind is what a property name of a batch message is (classifyProperty).
type propKind uint8

const (
	propApp        propKind = iota // iothub-app-<name>
	propUnprefixed                 // <name>, also an application property
	propDropped                    // another iothub-* name
	propMessageID
	propCorrelationID
	propUserID
	propContentType
	propContentEncoding
)

// classifyProperty tells system property names (any ASCII case), the
// application ones and the dropped ones apart.
func classifyProperty(k string) propKind {
	const iothub = "iothub-"
	if !hasPrefixFold(k, iothub) {
		return propUnprefixed
	}
	switch rest := k[len(iothub):]; {
	case hasPrefixFold(rest, appPrefix[len(iothub):]):
		return propApp
	case msgrules.EqualFoldASCII(rest, "messageid"):
		return propMessageID
	case msgrules.EqualFoldASCII(rest, "correlationid"):
		return propCorrelationID
	case msgrules.EqualFoldASCII(rest, "userid"):
		return propUserID
	case msgrules.EqualFoldASCII(rest, "contenttype"):
		return propContentType
	case msgrules.EqualFoldASCII(rest, "contentencoding"):
		return propContentEncoding
	}
	return propDropped
}

// routeProperty applies a property of kind to m, or returns it, with ok, as
// an application property.
func routeProperty(m *d2c.Message, kind propKind, k, v string) (_ iothub.Property, ok bool) {
	switch kind {
	case propApp:
		return iothub.Property{Name: k[len(appPrefix):], Value: v}, true
	case propUnprefixed:
		return iothub.Property{Name: k, Value: v}, true
	case propMessageID:
		m.MessageID = v
	case propCorrelationID:
		m.CorrelationID = v
	case propUserID:
		m.UserID = v
	case propContentType:
		m.ContentType = v
	case propContentEncoding:
		m.ContentEncoding = v
	}
	return iothub.Property{}, false
}

// isSystemProperty reports whether batchProperty keeps a name out of the
// application properties.
func isSystemProperty(k string) bool {
	return classifyProperty(k) >= propDropped
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && msgrules.EqualFoldASCII(s[:len(prefix)], prefix)
}
