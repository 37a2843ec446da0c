package routequery

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// DecodeBody decodes body as IoT Hub does for routing on $body: only when
// contentType is application/json and contentEncoding is UTF-8, UTF-16 or
// UTF-32 (case-insensitive); false otherwise or when the body is not JSON.
//
// A UTF-16 or UTF-32 body is little-endian unless it starts with a
// big-endian byte order mark (.NET's "utf-16" and "utf-32", which IoT Hub
// uses); a byte order mark, in any of the three, is dropped. Numbers decode
// to float64, strings to string, and arrays and objects to []any and
// map[string]any, as encoding/json does into an any.
func DecodeBody(contentType, contentEncoding string, body []byte) (any, bool) {
	if !strings.EqualFold(contentType, "application/json") {
		return nil, false
	}
	var text []byte
	switch {
	case strings.EqualFold(contentEncoding, "utf-8"):
		text = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	case strings.EqualFold(contentEncoding, "utf-16"):
		var ok bool
		if text, ok = fromUTF16(body); !ok {
			return nil, false
		}
	case strings.EqualFold(contentEncoding, "utf-32"):
		var ok bool
		if text, ok = fromUTF32(body); !ok {
			return nil, false
		}
	default:
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	// One value and nothing after it but whitespace.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return v, true
}

// fromUTF16 transcodes UTF-16 to UTF-8; unpaired surrogates become U+FFFD.
func fromUTF16(b []byte) ([]byte, bool) {
	if len(b)%2 != 0 {
		return nil, false
	}
	var order binary.ByteOrder = binary.LittleEndian
	switch {
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		b = b[2:]
	case bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		order, b = binary.BigEndian, b[2:]
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		units[i] = order.Uint16(b[2*i:])
	}
	out := make([]byte, 0, len(b))
	for _, r := range utf16.Decode(units) {
		out = utf8.AppendRune(out, r)
	}
	return out, true
}

// fromUTF32 transcodes UTF-32 to UTF-8; values that are no Unicode scalar
// (surrogates, above U+10FFFF) become U+FFFD.
func fromUTF32(b []byte) ([]byte, bool) {
	if len(b)%4 != 0 {
		return nil, false
	}
	var order binary.ByteOrder = binary.LittleEndian
	switch {
	case bytes.HasPrefix(b, []byte{0xff, 0xfe, 0, 0}):
		b = b[4:]
	case bytes.HasPrefix(b, []byte{0, 0, 0xfe, 0xff}):
		order, b = binary.BigEndian, b[4:]
	}
	out := make([]byte, 0, len(b)/2)
	for i := 0; i < len(b); i += 4 {
		u := order.Uint32(b[i:])
		r := utf8.RuneError
		if u <= utf8.MaxRune {
			r = rune(u) // utf8.AppendRune writes surrogates as U+FFFD
		}
		out = utf8.AppendRune(out, r)
	}
	return out, true
}
