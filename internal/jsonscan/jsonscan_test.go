package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func plainRunSlow(b []byte) int {
	for i, c := range b {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return i
		}
	}
	return len(b)
}

func TestPlainRun(t *testing.T) {
	for c := range 256 {
		for at := range 20 {
			b := bytes.Repeat([]byte{'a'}, 20)
			b[at] = byte(c)
			for off := range 9 {
				want := plainRunSlow(b[off:])
				if got := PlainRun(b[off:]); got != want {
					t.Fatalf("byte %#x at %d, from %d: %d, want %d", c, at, off, got, want)
				}
				if got := PlainRun(string(b[off:])); got != want {
					t.Fatalf("string: byte %#x at %d, from %d: %d, want %d", c, at, off, got, want)
				}
			}
		}
	}
}

func FuzzPlainRun(f *testing.F) {
	f.Add([]byte(`abcdefgh"ijk`))
	f.Add([]byte("\x7f\x80\x1f\x20\\"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := PlainRun(b), plainRunSlow(b); got != want {
			t.Fatalf("%q: %d, want %d", b, got, want)
		}
	})
}

func BenchmarkPlainRun(b *testing.B) {
	s := bytes.Repeat([]byte("eyJ0ZW1wZXJhdHVyZSI6MjEuNSwiaHVtaWRpdHkiOjQ4"), 2)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		PlainRun(s)
	}
}

var validCases = []string{
	``, ` `, `1`, `-0`, `-`, `01`, `1.`, `1.5`, `1e`, `1e+`, `1E-7`, `-1.25e+10`, `0.0e0`, `.5`, `+1`, `1 2`,
	`"a"`, `"\u00e9\ud800"`, `"\u00g0"`, `"\x"`, "\"\x1f\"", "\"\xff\xfe\"", `"\"\\\/\b\f\n\r\t"`, `"abc`, `"\`,
	`true`, `tru`, `truex`, `false`, `null`, `nul`, ` null `, "\t\n\r{}\n",
	`{}`, `{ }`, `[]`, `[ ]`, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":[1,{"b":[]}],"c":{}}`,
	`[1,2,]`, `[,]`, `[1 2]`, `[1,[2,[3]]]`, `{"a":}`, `{"a"}`, `{,}`, `[}`, `{]`, `[[[]]`, `[]]`, `{"t":21.5,"h":48}`,
	`{"temperature":21.5,"humidity":48,"ts":"2026-01-02T03:04:05Z"}`,
}

func TestValid(t *testing.T) {
	for _, s := range validCases {
		if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
	for _, depth := range []int{MaxDepth - 1, MaxDepth, MaxDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			close := "]"
			if open != "[" {
				close = "}"
			}
			s := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(close, depth))
			if got, want := Valid(s), json.Valid(s); got != want {
				t.Errorf("depth %d of %s: %v, want %v", depth, open, got, want)
			}
		}
	}
}

func TestSkip(t *testing.T) {
	for _, tc := range []struct {
		in  string
		at  int
		end int
		ok  bool
	}{
		{`{"a":[1,2]} x`, 0, 11, true},
		{`[1, {"b": null}],`, 0, 16, true},
		{`x "s\"" y`, 2, 7, true},
		{`x -1.5e3,`, 2, 8, true},
		{`x true`, 2, 6, true},
		{`x {`, 2, 3, false},
		{`x `, 2, 2, false},
	} {
		end, ok := Skip([]byte(tc.in), tc.at)
		if ok != tc.ok || ok && end != tc.end {
			t.Errorf("Skip(%q, %d) = %d, %v; want %d, %v", tc.in, tc.at, end, ok, tc.end, tc.ok)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range validCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("%q: %v, want %v", b, got, want)
		}
	})
}

func BenchmarkValid(b *testing.B) {
	body := []byte(`{"temperature":21.5,"humidity":48,"ts":"2026-01-02T03:04:05Z"}`)
	for _, bc := range []struct {
		name  string
		valid func([]byte) bool
	}{{"jsonscan", Valid}, {"encoding_json", json.Valid}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				bc.valid(body)
			}
		})
	}
}
