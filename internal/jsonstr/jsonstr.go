// Package jsonstr writes JSON strings by hand for the ingress hot path, where
// the telemetry envelope and the Kinesis request are appended into reused
// buffers rather than marshalled, and reads them strictly where a silent
// U+FFFD would change a message.
package jsonstr

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// Append appends s to dst as a JSON string, escaped as encoding/json escapes
// it minus HTML escaping: invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029
// are escaped so the output is also valid JavaScript.
func Append(dst []byte, s string) []byte {
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

// Decode decodes the JSON string literal raw (quotes included) as
// encoding/json does, except that it refuses what encoding/json would
// silently replace with U+FFFD: invalid UTF-8 and an escaped surrogate that
// is not half of a pair. It also refuses anything that is not one string
// literal.
func Decode(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errNotString
	}
	s := raw[1 : len(raw)-1]
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\' && s[i] < utf8.RuneSelf {
		i++
	}
	if i == len(s) {
		return string(s), nil // plain ASCII, the common case
	}
	out := make([]byte, i, len(s))
	copy(out, s[:i])
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return "", errNotString
			}
			i += 2
			switch s[i-1] {
			case '"', '\\', '/':
				out = append(out, s[i-1])
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := Hex4(s[i:])
				if !ok {
					return "", errNotString
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2, ok := rune(0), false
					if len(s) >= i+6 && s[i] == '\\' && s[i+1] == 'u' {
						r2, ok = Hex4(s[i+2:])
					}
					if r = utf16.DecodeRune(r, r2); !ok || r == utf8.RuneError {
						return "", errSurrogate
					}
					i += 6
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", errNotString
			}
		case c == '"' || c < 0x20:
			return "", errNotString
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				return "", errInvalidUTF8
			}
			out = append(out, s[i:i+size]...)
			i += size
		}
	}
	return string(out), nil
}

var (
	errNotString   = errors.New("not a JSON string")
	errInvalidUTF8 = errors.New("invalid UTF-8")
	errSurrogate   = errors.New("an escaped UTF-16 surrogate is not half of a pair")
)

// Hex4 reads the four hex digits of a \uXXXX escape at the start of s.
func Hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
