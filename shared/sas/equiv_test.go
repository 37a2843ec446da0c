package sas

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// sign is a hand-written HMAC; it must agree with crypto/hmac for every key
// length, including keys longer than SHA-256's block, which HMAC hashes first.
func TestSignMatchesCryptoHMAC(t *testing.T) {
	cases := []struct {
		name     string
		key      []byte
		res, exp string
	}{
		{"empty key", nil, "hub/devices/d1", "1"},
		{"16 bytes", []byte(strings.Repeat("k", 16)), "hub%2Fdevices%2Fd1", "1700000000"},
		{"block size", []byte(strings.Repeat("b", sha256.BlockSize)), "h", "2"},
		{"longer than a block", []byte(strings.Repeat("L", 3*sha256.BlockSize+1)), "h/devices/x", "99"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := hmac.New(sha256.New, tc.key)
			m.Write([]byte(tc.res + "\n" + tc.exp))
			var got [sha256.Size]byte
			sign(&got, tc.key, tc.res, tc.exp)
			if !hmac.Equal(got[:], m.Sum(nil)) {
				t.Fatalf("sign = %x, want %x", got, m.Sum(nil))
			}
		})
	}
}

// decodeSignature must accept and reject exactly what url.PathUnescape
// followed by base64.StdEncoding.DecodeString of 32 bytes does.
func TestDecodeSignatureMatchesStdlib(t *testing.T) {
	good := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\xfb\xff", 16)))
	cases := []string{
		good,
		url.QueryEscape(good),
		EncodeURIComponentStrict(good),
		strings.ToLower(EncodeURIComponentStrict(good)), // lower-case hex escapes
		good[:20] + "\n" + good[20:],                    // base64 ignores newlines
		good[:len(good)-1],                              // missing padding
		good + "%",                                      // dangling escape
		good + "%4",                                     // short escape
		good + "%zz",                                    // not hex
		strings.Replace(good, "+", " ", 1),              // space is not base64
		"AAAA",                                          // too short
		base64.StdEncoding.EncodeToString(make([]byte, 33)), // too long
		strings.Repeat("A", 200),                            // longer than the stack buffer
		strings.Repeat("%41", 40) + "AAAA",                  // escapes making 44 characters
		"",
	}
	for _, sig := range cases {
		want, wantOK := func() ([]byte, bool) {
			s, err := url.PathUnescape(sig)
			if err != nil {
				return nil, false
			}
			b, err := base64.StdEncoding.DecodeString(s)
			return b, err == nil && len(b) == sha256.Size
		}()
		var got [sha256.Size]byte
		ok := decodeSignature(&got, sig)
		if ok != wantOK || ok && string(got[:]) != string(want) {
			t.Errorf("decodeSignature(%q) = %x, %v; want %x, %v", sig, got, ok, want, wantOK)
		}
	}
}
