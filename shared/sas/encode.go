package sas

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
)

// EncodeURIComponentStrict is JavaScript's encodeURIComponent plus !'()* as
// %XX, the encoding the IoT SDKs apply to a token's sr, sig and skn and to
// device ids in request paths (a device id may hold any of - . % _ * ? ! ( ) ,
// : = @ $ ').
func EncodeURIComponentStrict(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// decodeSignature sets dst to sig percent-decoded then base64-decoded, as
// url.PathUnescape then base64.StdEncoding.DecodeString would, without
// allocating for signatures of usual length (every device request carries
// one). It reports whether sig holds exactly sha256.Size bytes.
func decodeSignature(dst *[sha256.Size]byte, sig string) bool {
	var esc [128]byte
	if len(sig) > len(esc) {
		s, err := url.PathUnescape(sig)
		if err != nil {
			return false
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != sha256.Size {
			return false
		}
		copy(dst[:], b)
		return true
	}
	// Percent-decoding as url.PathUnescape does: %XX only, '+' stays '+'.
	n := 0
	for i := 0; i < len(sig); i++ {
		c := sig[i]
		if c == '%' {
			if i+2 >= len(sig) || !isHex(sig[i+1]) || !isHex(sig[i+2]) {
				return false
			}
			c = unhex(sig[i+1])<<4 | unhex(sig[i+2])
			i += 2
		}
		esc[n] = c
		n++
	}
	var raw [len(esc)]byte
	m, err := base64.StdEncoding.Decode(raw[:], esc[:n])
	if err != nil || m != sha256.Size {
		return false
	}
	copy(dst[:], raw[:m])
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
