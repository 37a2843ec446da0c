package routequery_test

import (
	"encoding/binary"
	"reflect"
	"testing"
	"unicode/utf16"

	"github.com/devicehub/devicehub/shared/routequery"
)

func utf16Bytes(s string, order binary.ByteOrder, bom bool) []byte {
	units := utf16.Encode([]rune(s))
	if bom {
		units = append([]uint16{0xfeff}, units...)
	}
	b := make([]byte, 2*len(units))
	for i, u := range units {
		order.PutUint16(b[2*i:], u)
	}
	return b
}

func utf32Bytes(s string, order binary.ByteOrder, bom bool) []byte {
	runes := []rune(s)
	if bom {
		runes = append([]rune{0xfeff}, runes...)
	}
	b := make([]byte, 4*len(runes))
	for i, r := range runes {
		order.PutUint32(b[4*i:], uint32(r))
	}
	return b
}

func TestDecodeBody(t *testing.T) {
	const text = `{"city": "Zürich", "emoji": "🌡", "t": 21.5}`
	want := map[string]any{"city": "Zürich", "emoji": "🌡", "t": 21.5}
	le, be := binary.LittleEndian, binary.BigEndian
	for _, tc := range []struct {
		name        string
		ctype, cenc string
		body        []byte
		want        any // nil: not routable
	}{
		{"utf-8", "application/json", "utf-8", []byte(text), want},
		{"UTF-8 upper case", "APPLICATION/JSON", "UTF-8", []byte(text), want},
		{"utf-8 with BOM", "application/json", "UTF-8", append([]byte("\xef\xbb\xbf"), text...), want},
		{"utf-16 little-endian without BOM", "application/json", "UTF-16", utf16Bytes(text, le, false), want},
		{"utf-16 little-endian with BOM", "application/json", "utf-16", utf16Bytes(text, le, true), want},
		{"utf-16 big-endian with BOM", "application/json", "Utf-16", utf16Bytes(text, be, true), want},
		{"utf-32 little-endian without BOM", "application/json", "UTF-32", utf32Bytes(text, le, false), want},
		{"utf-32 little-endian with BOM", "application/json", "utf-32", utf32Bytes(text, le, true), want},
		{"utf-32 big-endian with BOM", "application/json", "UTF-32", utf32Bytes(text, be, true), want},
		{"utf-16 lone surrogate becomes U+FFFD", "application/json", "UTF-16", utf16Raw(le, '"', 0xd800, '"'), "\ufffd"},
		{"utf-32 surrogate becomes U+FFFD", "application/json", "UTF-32", utf32Raw(le, '"', 0xdc00, '"'), "\ufffd"},
		{"utf-32 beyond U+10FFFF becomes U+FFFD", "application/json", "UTF-32", utf32Raw(le, '"', 0x110000, '"'), "\ufffd"},
		{"top-level array", "application/json", "UTF-8", []byte(`[1, "a"]`), []any{1.0, "a"}},
		{"trailing whitespace", "application/json", "UTF-8", []byte("{}\r\n "), map[string]any{}},

		{"utf-16 big-endian without BOM", "application/json", "UTF-16", utf16Bytes(text, be, false), nil},
		{"utf-16 odd length", "application/json", "UTF-16", append(utf16Bytes(text, le, false), 0), nil},
		{"utf-32 length not a multiple of 4", "application/json", "UTF-32", append(utf32Bytes(text, le, false), 0, 0), nil},
		{"utf-16 body labelled utf-8", "application/json", "UTF-8", utf16Bytes(text, le, true), nil},
		{"content type with parameters", "application/json; charset=utf-8", "UTF-8", []byte(text), nil},
		{"text/plain", "text/plain", "UTF-8", []byte(text), nil},
		{"no content type", "", "UTF-8", []byte(text), nil},
		{"no content encoding", "application/json", "", []byte(text), nil},
		{"utf8 without hyphen", "application/json", "utf8", []byte(text), nil},
		{"ascii", "application/json", "ascii", []byte(text), nil},
		{"not JSON", "application/json", "UTF-8", []byte(`temperature=21`), nil},
		{"two values", "application/json", "UTF-8", []byte(`{}{}`), nil},
		{"trailing garbage", "application/json", "UTF-8", []byte(`{"a":1} x`), nil},
		{"empty", "application/json", "UTF-8", nil, nil},
		{"number out of float64 range", "application/json", "UTF-8", []byte(`{"a": 1e400}`), nil},
	} {
		got, ok := routequery.DecodeBody(tc.ctype, tc.cenc, tc.body)
		if ok != (tc.want != nil) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: DecodeBody = %#v, %v; want %#v", tc.name, got, ok, tc.want)
		}
	}
}

func utf16Raw(order binary.ByteOrder, units ...uint16) []byte {
	b := make([]byte, 2*len(units))
	for i, u := range units {
		order.PutUint16(b[2*i:], u)
	}
	return b
}

func utf32Raw(order binary.ByteOrder, units ...uint32) []byte {
	b := make([]byte, 4*len(units))
	for i, u := range units {
		order.PutUint32(b[4*i:], u)
	}
	return b
}

// A body decoded from UTF-16 routes like the same body in UTF-8.
func TestMatchDecodedBody(t *testing.T) {
	q, err := routequery.Parse(`$body.city = 'Zürich' AND LENGTH($body.city) = 6 AND $body.emoji = '\ud83c\udf21'`)
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []struct {
		name string
		body []byte
	}{
		{"UTF-8", []byte(`{"city": "Zürich", "emoji": "🌡"}`)},
		{"UTF-16", utf16Bytes(`{"city": "Zürich", "emoji": "🌡"}`, binary.BigEndian, true)},
		{"UTF-32", utf32Bytes(`{"city": "Z\u00fcrich", "emoji": "\ud83c\udf21"}`, binary.LittleEndian, false)},
	} {
		body, ok := routequery.DecodeBody("application/json", enc.name, enc.body)
		if !ok {
			t.Fatalf("%s: not decoded", enc.name)
		}
		if !q.Match(routequery.Values{JSON: body}) {
			t.Errorf("%s: no match", enc.name)
		}
	}
}
