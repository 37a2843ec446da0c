package sas

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Key.sign must agree with a one-shot crypto/hmac for every key length,
// including keys longer than SHA-256's block, which HMAC hashes first, and
// must keep agreeing when its pooled, keyed state is reused.
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
			key := NewKey(tc.key)
			for _, msg := range []struct{ res, exp string }{{tc.res, tc.exp}, {tc.res + "/again", "3"}, {tc.res, tc.exp}} {
				m := hmac.New(sha256.New, tc.key)
				m.Write([]byte(msg.res + "\n" + msg.exp))
				var got [sha256.Size]byte
				key.sign(&got, msg.res, msg.exp)
				if !hmac.Equal(got[:], m.Sum(nil)) {
					t.Fatalf("sign(%q, %q) = %x, want %x", msg.res, msg.exp, got, m.Sum(nil))
				}
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

// A Key is shared by concurrent requests; run with -race.
func TestKeyConcurrentUse(t *testing.T) {
	raw := []byte(strings.Repeat("c", 32))
	key := NewKey(raw)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				res, exp := "hub/devices/d"+strconv.Itoa(g), strconv.Itoa(i)
				m := hmac.New(sha256.New, raw)
				m.Write([]byte(res + "\n" + exp))
				var got [sha256.Size]byte
				key.sign(&got, res, exp)
				if !hmac.Equal(got[:], m.Sum(nil)) {
					t.Errorf("goroutine %d, message %d: wrong MAC", g, i)
					return
				}
			}
		})
	}
	wg.Wait()
}
