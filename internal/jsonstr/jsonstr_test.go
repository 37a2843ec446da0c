package jsonstr

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// Append must write what encoding/json writes with HTML escaping off.
func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `q"uote`, `back\slash`, "nl\ncr\rtab\t", "\x00\x01\x1f\x7f",
		"<html>&amp;", "caf\u00e9", "\u2028\u2029", "bad\xffutf8\xc3", "emoji \U0001F600",
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		got := Append([]byte("x"), s)
		if string(got) != "x"+string(bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Errorf("Append(%q) = %s, want %s", s, got[1:], want.Bytes())
		}
	}
}

func FuzzAppend(f *testing.F) {
	f.Add("a\"b\\c\n\x00\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		var back string
		if err := json.Unmarshal(Append(nil, s), &back); err != nil {
			t.Fatalf("Append(%q) is not JSON: %v", s, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip of %q gave %q", s, back)
		}
	})
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{`""`, "", ""},
		{`"plain"`, "plain", ""},
		{`"q\"b\\s\/\b\f\n\r\t"`, "q\"b\\s/\b\f\n\r\t", ""},
		{`"\u0041\u00e9\u20AC"`, "A\u00e9\u20ac", ""},
		{`"\ud83d\ude00 pair"`, "\U0001F600 pair", ""},
		{`"\ufffd is allowed"`, "\ufffd is allowed", ""},
		{"\"caf\xc3\xa9 raw\"", "caf\u00e9 raw", ""},
		{"\"bad \xff byte\"", "", "invalid UTF-8"},
		{"\"truncated \xc3\"", "", "invalid UTF-8"},
		{`"\ud83d alone"`, "", "surrogate"},
		{`"\ude00 low first"`, "", "surrogate"},
		{`"\ud83d\u0041"`, "", "surrogate"},
		{`"\x"`, "", "not a JSON string"},
		{`"\u12"`, "", "not a JSON string"},
		{`"a"b"`, "", "not a JSON string"},
		{"\"a\nb\"", "", "not a JSON string"},
		{`"a\"`, "", "not a JSON string"},
		{`abc`, "", "not a JSON string"},
		{`"`, "", "not a JSON string"},
	} {
		got, err := Decode([]byte(tc.in))
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("Decode(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Decode(%s) = %q, %v; want error %q", tc.in, got, err, tc.err)
		}
	}
}

// Decode agrees with encoding/json wherever encoding/json does not need to
// invent a U+FFFD, and refuses exactly where it would.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`"a"`, `"\ud83d\ude00"`, `"\ud83d"`, "\"\xff\"", `"\u00e9\n"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := Decode(raw)
		var want string
		jerr := json.Unmarshal(raw, &want)
		// Decode takes one literal, with no surrounding space.
		if jerr != nil || !bytes.Equal(bytes.TrimSpace(raw), raw) {
			if err == nil {
				t.Fatalf("Decode(%q) = %q, encoding/json refuses: %v", raw, got, jerr)
			}
			return
		}
		if err == nil {
			if got != want {
				t.Fatalf("Decode(%q) = %q, encoding/json %q", raw, got, want)
			}
			return
		}
		// Refused: only for a U+FFFD that encoding/json made up.
		if !strings.Contains(want, "\ufffd") {
			t.Fatalf("Decode(%q) refused (%v) what encoding/json reads as %q", raw, err, want)
		}
	})
}
