package routequery

import (
	"encoding/json"
	"math"
	"strconv"
)

// kind is a value's JSON type, or undefined (a missing property, or an
// operation on operands it does not apply to).
type kind uint8

const (
	kindUndefined kind = iota
	kindNull
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// value is what an expression evaluates to. It is passed by value so that
// evaluation does not allocate.
type value struct {
	k kind
	b bool
	n float64
	s string
	x any // kindArray: []any; kindObject: map[string]any
}

var (
	undefined = value{}
	null      = value{k: kindNull}
	vTrue     = value{k: kindBool, b: true}
	vFalse    = value{k: kindBool}
)

func boolValue(b bool) value { return value{k: kindBool, b: b} }

func strValue(s string) value { return value{k: kindString, s: s} }

// numValue is a number, or undefined for NaN and ±Inf, which JSON cannot
// hold.
func numValue(n float64) value {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return undefined
	}
	return value{k: kindNumber, n: n}
}

// fromJSON converts a decoded JSON value (encoding/json's types, with
// float64 or json.Number numbers; Go integer types also pass) to a value.
func fromJSON(x any) value {
	switch x := x.(type) {
	case nil:
		return null
	case bool:
		return boolValue(x)
	case float64:
		return numValue(x)
	case string:
		return strValue(x)
	case map[string]any:
		return value{k: kindObject, x: x}
	case []any:
		return value{k: kindArray, x: x}
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return undefined
		}
		return numValue(f)
	case float32:
		return numValue(float64(x))
	case int:
		return numValue(float64(x))
	case int8:
		return numValue(float64(x))
	case int16:
		return numValue(float64(x))
	case int32:
		return numValue(float64(x))
	case int64:
		return numValue(float64(x))
	case uint:
		return numValue(float64(x))
	case uint8:
		return numValue(float64(x))
	case uint16:
		return numValue(float64(x))
	case uint32:
		return numValue(float64(x))
	case uint64:
		return numValue(float64(x))
	}
	return undefined
}

// isPrimitive reports whether v is a string, number, boolean or null.
func (v value) isPrimitive() bool {
	return v.k == kindNull || v.k == kindBool || v.k == kindNumber || v.k == kindString
}

// String renders v as a literal of the language (for Query's canonical
// form and messages); arrays and objects, which have no literal, render as
// JSON.
func (v value) String() string {
	switch v.k {
	case kindNull:
		return "null"
	case kindBool:
		return strconv.FormatBool(v.b)
	case kindNumber:
		return strconv.FormatFloat(v.n, 'g', -1, 64)
	case kindString:
		return quote(v.s)
	case kindArray, kindObject:
		b, err := json.Marshal(v.x)
		if err != nil {
			return "undefined"
		}
		return string(b)
	}
	return "undefined"
}

// quote writes s as a single-quoted string literal with the language's
// escapes.
func quote(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '\'')
	for _, r := range s {
		switch {
		case r == '\'' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20 || r == 0x7f:
			b = append(b, `\u`...)
			b = append(b, hex4(r)...)
		default:
			b = append(b, string(r)...)
		}
	}
	return string(append(b, '\''))
}

func hex4(r rune) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[r>>12&0xf], digits[r>>8&0xf], digits[r>>4&0xf], digits[r&0xf]})
}
