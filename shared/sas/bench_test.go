package sas

import (
	"encoding/base64"
	"testing"
	"time"
)

const benchKey = "+XLy+MVZ+aTeOnVzN2kLeB16O+kSxmz6g3rS6fAf6rw="

var benchNow = time.Unix(1_700_000_000, 0)

func benchToken(b *testing.B) string {
	b.Helper()
	tok, err := New("bench.devicehub.test/devices/bench-device-1", benchKey, "", benchNow.Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// BenchmarkParse is the shape check every device request pays.
func BenchmarkParse(b *testing.B) {
	header := benchToken(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(header); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the HMAC check with a key held across calls, as the
// registry's authenticator holds device keys.
func BenchmarkVerify(b *testing.B) {
	tok, err := Parse(benchToken(b))
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(benchKey)
	key := NewKey(raw)
	b.ReportAllocs()
	for b.Loop() {
		if err := tok.Verify(key, benchNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNew is a client signing one token.
func BenchmarkNew(b *testing.B) {
	exp := benchNow.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New("bench.devicehub.test/devices/bench-device-1", benchKey, "", exp); err != nil {
			b.Fatal(err)
		}
	}
}
