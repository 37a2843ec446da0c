// Package msgrules holds the one set of rules for the parts of a message
// that both directions share: its ids and its application properties.
// Device-to-cloud (internal/d2c) and cloud-to-device (internal/c2d) each hold
// a Rules with their own limits, and the HTTP layer resolves repeated
// property names with LastWins for both, so the checks, their wording and
// the duplicate rule exist once.
//
// The rules, for both directions:
//   - ids (message, correlation and user id): at most 128 bytes of printable
//     ASCII (IDs: Printable), as IoT Hub's cloud-to-device ids;
//   - application property names and values: RFC 7230 tokens, ASCII letters,
//     digits and !#$%&'*+-.^_`|~ (names not empty), IoT Hub's documented rule
//     for device-to-cloud messages over HTTPS and for cloud-to-device messages;
//   - at most MaxProperties application properties per message;
//   - property names compare ignoring ASCII case; of a name given more than
//     once in one message, the last occurrence in document order is kept.
package msgrules

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
)

// MaxProperties bounds the application properties of one message, both
// directions. IoT Hub documents no count for device-to-cloud messages; 64 is
// the hub's cloud-to-device cap, applied to both so one rule holds.
const MaxProperties = 64

// Charset is a set of bytes allowed in an id, a property name or a value.
type Charset uint8

// Charsets.
const (
	AnyByte   Charset = iota // no restriction
	Token                    // RFC 7230 token: ASCII letters, digits and !#$%&'*+-.^_`|~
	Printable                // printable ASCII, space included
)

var charsets = [...]struct {
	allowed [256]bool
	what    string
}{
	AnyByte:   {allowed: byteSet(func(byte) bool { return true })},
	Token:     {allowed: byteSet(isTokenByte), what: "ASCII letters, digits and !#$%&'*+-.^_`|~"},
	Printable: {allowed: byteSet(isPrintable), what: "printable ASCII"},
}

func byteSet(in func(byte) bool) (t [256]bool) {
	for c := range t {
		t[c] = in(byte(c))
	}
	return t
}

func isPrintable(c byte) bool { return 0x20 <= c && c <= 0x7e }

func isTokenByte(c byte) bool {
	switch {
	case '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return true
	}
	for i := 0; i < len("!#$%&'*+-.^_`|~"); i++ {
		if c == "!#$%&'*+-.^_`|~"[i] {
			return true
		}
	}
	return false
}

// allows reports whether every byte of s is in the set.
func (c Charset) allows(s string) bool {
	if c == AnyByte {
		return true
	}
	t := &charsets[c].allowed
	for i := 0; i < len(s); i++ {
		if !t[s[i]] {
			return false
		}
	}
	return true
}

// Rules are one side's limits. A zero limit is no limit.
type Rules struct {
	MaxIDLength       int     // each of message id, correlation id and user id
	IDs               Charset // bytes allowed in ids
	MaxProperties     int     // application properties per message
	MaxPropertiesSize int     // bytes of all names and values together
	UniqueNames       bool    // refuse a name given twice, compared ignoring ASCII case
}

// PropertyChars is the set of bytes of application property names and
// values, both directions: IoT Hub's documented rule for device-to-cloud
// messages over HTTPS and for cloud-to-device messages.
const PropertyChars = Token

// CheckID checks one id; what names it in the error ("message id").
func (r *Rules) CheckID(what, id string) error {
	if r.MaxIDLength > 0 && len(id) > r.MaxIDLength {
		return invalid(what + " exceeds " + strconv.Itoa(r.MaxIDLength) + " characters")
	}
	if !r.IDs.allows(id) {
		return invalid(what + " holds a character outside " + charsets[r.IDs].what)
	}
	return nil
}

// CheckProperties checks the application properties: their count, each name
// (not empty) and value, distinct names, and their total size. The errors
// are ArgumentInvalid. Callers that read properties off the wire resolve
// repeated names with LastWins first.
func (r *Rules) CheckProperties(props []iothub.Property) error {
	if r.MaxProperties > 0 && len(props) > r.MaxProperties {
		return TooManyProperties(r.MaxProperties)
	}
	size := 0
	for _, p := range props {
		if p.Name == "" {
			return invalid("application property name is empty")
		}
		if !PropertyChars.allows(p.Name) {
			return invalid("application property name " + strconv.Quote(p.Name) + " holds a character outside " + charsets[PropertyChars].what)
		}
		if !PropertyChars.allows(p.Value) {
			return invalid("value of application property " + strconv.Quote(p.Name) + " holds a character outside " + charsets[PropertyChars].what)
		}
		size += len(p.Name) + len(p.Value)
	}
	if r.UniqueNames {
		if name, dup := repeatedName(props); dup {
			return invalid("application property " + strconv.Quote(name) + " is given twice")
		}
	}
	if r.MaxPropertiesSize > 0 && size > r.MaxPropertiesSize {
		return invalid("application properties exceed " + sizeText(r.MaxPropertiesSize))
	}
	return nil
}

// TooManyProperties is the error for a message with more than max
// application properties.
func TooManyProperties(max int) error {
	return invalid("at most " + strconv.Itoa(max) + " application properties per message")
}

// LastWins resolves repeated property names, compared ignoring ASCII case:
// of each name only its last occurrence in props (document order) is kept,
// with that occurrence's spelling and value; the kept properties keep their
// order. It works in place and returns the shortened slice. Its cost is
// O(n log n) in the number of properties, so a message cannot buy quadratic
// work with many names.
func LastWins(props []iothub.Property) []iothub.Property {
	if len(props) < 2 {
		return props
	}
	if len(props) <= smallSet {
		out := props[:0]
		for i, p := range props {
			if !nameAmong(p.Name, props[i+1:]) {
				out = append(out, p) // i >= len(out): only entries already read are overwritten
			}
		}
		return out
	}
	drop := make([]bool, len(props))
	order := sortedByName(props)
	for k := 0; k+1 < len(order); k++ {
		if EqualFoldASCII(props[order[k]].Name, props[order[k+1]].Name) {
			drop[order[k]] = true // order holds equal names by position, so k is the earlier one
		}
	}
	out := props[:0]
	for i, p := range props {
		if !drop[i] {
			out = append(out, p)
		}
	}
	return out
}

// smallSet is the count up to which comparing every pair beats sorting.
const smallSet = 8

func nameAmong(name string, props []iothub.Property) bool {
	for _, q := range props {
		if EqualFoldASCII(name, q.Name) {
			return true
		}
	}
	return false
}

// repeatedName returns a name that occurs twice in props, ignoring ASCII case.
func repeatedName(props []iothub.Property) (string, bool) {
	if len(props) <= smallSet {
		for i, p := range props {
			if nameAmong(p.Name, props[i+1:]) {
				return p.Name, true
			}
		}
		return "", false
	}
	order := sortedByName(props)
	for k := 0; k+1 < len(order); k++ {
		if a := props[order[k]].Name; EqualFoldASCII(a, props[order[k+1]].Name) {
			return a, true
		}
	}
	return "", false
}

// sortedByName returns the indexes of props ordered by name ignoring ASCII
// case, equal names by position.
func sortedByName(props []iothub.Property) []int {
	order := make([]int, len(props))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(compareFoldASCII(props[a].Name, props[b].Name), cmp.Compare(a, b))
	})
	return order
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// EqualFoldASCII reports whether a and b are equal ignoring ASCII case only:
// names compare this way, so no Unicode folding (ſ for s, K for k) makes
// two different names one.
func EqualFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func compareFoldASCII(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := cmp.Compare(lowerASCII(a[i]), lowerASCII(b[i])); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

func sizeText(n int) string {
	if n%1024 == 0 {
		return strconv.Itoa(n>>10) + " KB"
	}
	return strconv.Itoa(n) + " bytes"
}

func invalid(msg string) error { return apierr.ArgumentInvalid.New(msg) }
