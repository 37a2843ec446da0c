// Package jsonscan holds the byte scanning that the ingress path's
// hand-written JSON readers share (internal/app's API Gateway event reader,
// internal/hubapi's batch reader).
package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// PlainRun returns the length of the longest prefix of b whose bytes stand
// for themselves inside a JSON string: printable ASCII other than '"' and
// '\\' (0x20-0x7f less those two). It tests eight bytes at a time: base64
// bodies and tokens are long runs of such bytes.
func PlainRun[S []byte | string](b S) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64([]byte(b[i : i+8]))
		q := x ^ ('"' * ones)
		s := x ^ ('\\' * ones)
		// A byte of t has its high bit set where x's byte is below 0x20,
		// is '"' or '\\' (a zero byte of q or s), or is 0x80 or above. A
		// subtraction borrows only from a byte that hit, into the bytes
		// above it, so the lowest flagged byte is exact.
		t := (x - 0x20*ones) | (q - ones) | (s - ones) | x
		if t&highs != 0 {
			return i + bits.TrailingZeros64(t&highs)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			break
		}
	}
	return i
}

// MaxDepth is the nesting encoding/json's scanner allows.
const MaxDepth = 10000

// Valid reports whether b is one JSON value, surrounded by whitespace or
// not, exactly as encoding/json.Valid does (which it replaces on the ingress
// path, at a fraction of the cost): nesting up to MaxDepth, any byte of
// 0x80 or above inside strings (UTF-8 is not checked), escapes checked.
func Valid(b []byte) bool {
	i, ok := Skip(b, ws(b, 0))
	return ok && ws(b, i) == len(b)
}

// Skip reads the JSON value that starts at b[i], as Valid checks it, and
// returns the index just after it.
func Skip(b []byte, i int) (int, bool) {
	var objects containers
	depth := 0
	for {
		// A value starts at i.
		if i >= len(b) {
			return i, false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == MaxDepth {
				return i, false
			}
			obj := c == '{'
			objects.set(depth, obj)
			depth++
			i = ws(b, i+1)
			if i < len(b) && (obj && b[i] == '}' || !obj && b[i] == ']') {
				depth--
				i++
				break
			}
			if obj {
				var ok bool
				if i, ok = member(b, i); !ok {
					return i, false
				}
			}
			continue
		case c == '"':
			var ok bool
			if i, ok = skipString(b, i+1); !ok {
				return i, false
			}
		case c == 't':
			if !hasLiteral(b, i, "true") {
				return i, false
			}
			i += 4
		case c == 'f':
			if !hasLiteral(b, i, "false") {
				return i, false
			}
			i += 5
		case c == 'n':
			if !hasLiteral(b, i, "null") {
				return i, false
			}
			i += 4
		default:
			var ok bool
			if i, ok = skipNumber(b, i); !ok {
				return i, false
			}
		}
		// A value ended at i: close containers, or go on to the next value.
		for {
			if depth == 0 {
				return i, true
			}
			i = ws(b, i)
			if i >= len(b) {
				return i, false
			}
			obj := objects.object(depth - 1)
			c := b[i]
			if c == ',' {
				i = ws(b, i+1)
				if obj {
					var ok bool
					if i, ok = member(b, i); !ok {
						return i, false
					}
				}
				break
			}
			if obj && c == '}' || !obj && c == ']' {
				depth--
				i++
				continue
			}
			return i, false
		}
	}
}

// containers records which open containers are objects: bit d for the one
// at depth d+1. Bodies nest a few levels; deeper ones take an allocation.
type containers struct {
	shallow uint64
	deep    []uint64
}

func (s *containers) set(d int, object bool) {
	w := &s.shallow
	if d >= 64 {
		if s.deep == nil {
			s.deep = make([]uint64, (MaxDepth+63)/64)
		}
		w = &s.deep[d/64]
	}
	if object {
		*w |= 1 << (d % 64)
	} else {
		*w &^= 1 << (d % 64)
	}
}

func (s *containers) object(d int) bool {
	w := s.shallow
	if d >= 64 {
		w = s.deep[d/64]
	}
	return w&(1<<(d%64)) != 0
}

// member reads an object member's key and colon at i, returning where its
// value starts.
func member(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	i, ok := skipString(b, i+1)
	if !ok {
		return i, false
	}
	i = ws(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, false
	}
	return ws(b, i+1), true
}

// skipString reads a string's contents from i, just after its opening
// quote, and returns the index after its closing quote.
func skipString(b []byte, i int) (int, bool) {
	for {
		i += PlainRun(b[i:])
		if i >= len(b) {
			return i, false
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		default: // 0x80 and above: encoding/json does not check UTF-8 here
			i++
		}
	}
}

// skipNumber reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at i.
func skipNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return i, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return i, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

func hasLiteral(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// ws skips JSON whitespace from i.
func ws(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
