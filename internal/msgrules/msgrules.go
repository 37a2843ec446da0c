// Package msgrules checks the parts of a message that both directions share:
// its ids and its application properties. Device-to-cloud (internal/d2c) and
// cloud-to-device (internal/c2d) each hold a Rules with their own limits, so
// the checks and their wording exist once while the limits stay per side.
package msgrules

import (
	"strconv"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
)

// Charset is a set of bytes allowed in an id, a property name or a value.
type Charset uint8

// Charsets.
const (
	AnyByte    Charset = iota // no restriction
	Token                     // RFC 7230 token: ASCII letters, digits and !#$%&'*+-.^_`|~
	Printable                 // printable ASCII, space included
	HeaderName                // printable ASCII except space and colon
)

var charsets = [...]struct {
	allowed [256]bool
	what    string
}{
	AnyByte:    {allowed: byteSet(func(byte) bool { return true })},
	Token:      {allowed: byteSet(isTokenByte), what: "ASCII letters, digits and !#$%&'*+-.^_`|~"},
	Printable:  {allowed: byteSet(isPrintable), what: "printable ASCII"},
	HeaderName: {allowed: byteSet(func(c byte) bool { return isPrintable(c) && c != ' ' && c != ':' }), what: "printable ASCII other than space and colon"},
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
	Names, Values     Charset // bytes allowed in application property names and values
	MaxProperties     int     // application properties per message
	MaxPropertiesSize int     // bytes of all names and values together
	UniqueNames       bool    // refuse a name given twice (case-sensitively)
}

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
// are ArgumentInvalid.
func (r *Rules) CheckProperties(props []iothub.Property) error {
	if r.MaxProperties > 0 && len(props) > r.MaxProperties {
		return invalid("at most " + strconv.Itoa(r.MaxProperties) + " application properties")
	}
	var seen map[string]bool
	if r.UniqueNames && len(props) > 1 {
		seen = make(map[string]bool, len(props))
	}
	size := 0
	for _, p := range props {
		if p.Name == "" {
			return invalid("application property name is empty")
		}
		if !r.Names.allows(p.Name) {
			return invalid("application property name " + strconv.Quote(p.Name) + " holds a character outside " + charsets[r.Names].what)
		}
		if !r.Values.allows(p.Value) {
			return invalid("value of application property " + strconv.Quote(p.Name) + " holds a character outside " + charsets[r.Values].what)
		}
		if seen != nil {
			if seen[p.Name] {
				return invalid("application property " + strconv.Quote(p.Name) + " is given twice")
			}
			seen[p.Name] = true
		}
		size += len(p.Name) + len(p.Value)
	}
	if r.MaxPropertiesSize > 0 && size > r.MaxPropertiesSize {
		return invalid("application properties exceed " + sizeText(r.MaxPropertiesSize))
	}
	return nil
}

func sizeText(n int) string {
	if n%1024 == 0 {
		return strconv.Itoa(n>>10) + " KB"
	}
	return strconv.Itoa(n) + " bytes"
}

func invalid(msg string) error { return apierr.ArgumentInvalid.New(msg) }
