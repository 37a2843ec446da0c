package jsonscan

import (
	"bytes"
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
