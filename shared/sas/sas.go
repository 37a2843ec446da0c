// Package sas builds and checks IoT Hub shared access signature tokens and
// parses IoT Hub connection strings, exactly as the Azure IoT SDKs do.
package sas

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scheme is the Authorization header scheme of a SAS token.
const Scheme = "SharedAccessSignature"

// Errors returned by Parse and Verify. They carry no secret material.
var (
	ErrMalformed = errors.New("malformed shared access signature")
	ErrExpired   = errors.New("shared access signature expired")
	ErrSignature = errors.New("shared access signature does not match")
)

// Token is a parsed SAS token. Resource is the decoded sr; rawResource and
// rawExpiry are kept exactly as received because the signature covers them.
type Token struct {
	Resource    string
	KeyName     string
	Expiry      time.Time
	signature   [sha256.Size]byte
	rawResource string
	rawExpiry   string
}

// EncodeURIComponentStrict is JavaScript's encodeURIComponent plus !'()* as
// %XX, the encoding the IoT SDKs apply to sr, sig and device ids in paths.
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

// hmacState is pooled scratch space for sign: crypto/hmac allocates its two
// hash states and pads on every call, and every device request signs once.
type hmacState struct {
	h     hash.Hash
	pad   [sha256.BlockSize]byte
	inner [sha256.Size]byte
	sum   [sha256.Size]byte
	msg   []byte
}

var hmacPool = sync.Pool{New: func() any { return &hmacState{h: sha256.New()} }}

// sign sets out to HMAC-SHA256(key, rawResource + "\n" + rawExpiry), the
// HMAC construction of RFC 2104 written out over one pooled SHA-256 state.
func sign(out *[sha256.Size]byte, key []byte, rawResource, rawExpiry string) {
	st := hmacPool.Get().(*hmacState)
	h := st.h
	clear(st.pad[:])
	if len(key) > sha256.BlockSize {
		h.Reset()
		h.Write(key)
		copy(st.pad[:], h.Sum(st.sum[:0]))
	} else {
		copy(st.pad[:], key)
	}
	for i := range st.pad {
		st.pad[i] ^= 0x36
	}
	st.msg = append(append(append(st.msg[:0], rawResource...), '\n'), rawExpiry...)
	h.Reset()
	h.Write(st.pad[:])
	h.Write(st.msg)
	h.Sum(st.inner[:0])
	for i := range st.pad {
		st.pad[i] ^= 0x36 ^ 0x5c
	}
	h.Reset()
	h.Write(st.pad[:])
	h.Write(st.inner[:])
	h.Sum(st.sum[:0])
	*out = st.sum
	hmacPool.Put(st)
}

// New builds the Authorization header value for resource (decoded, e.g.
// "myhub.example.com/devices/dev1"), signed with the base64 key, valid until
// expiry. keyName is empty for device keys and the policy name otherwise.
func New(resource, key, keyName string, expiry time.Time) (string, error) {
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return "", fmt.Errorf("sas: key is not base64: %w", err)
	}
	sr := EncodeURIComponentStrict(resource)
	se := strconv.FormatInt(expiry.Unix(), 10)
	var mac [sha256.Size]byte
	sign(&mac, k, sr, se)
	sig := EncodeURIComponentStrict(base64.StdEncoding.EncodeToString(mac[:]))
	tok := Scheme + " sr=" + sr + "&sig=" + sig
	if keyName != "" {
		tok += "&skn=" + EncodeURIComponentStrict(keyName)
	}
	return tok + "&se=" + se, nil
}

// Parse reads an Authorization header value. It checks the shape only; call
// Verify with the key to authenticate it.
func Parse(header string) (Token, error) {
	rest, ok := strings.CutPrefix(header, Scheme+" ")
	if !ok {
		return Token{}, fmt.Errorf("%w: scheme is not %s", ErrMalformed, Scheme)
	}
	var t Token
	var sig string
	for rest != "" {
		var field string
		field, rest, _ = strings.Cut(rest, "&")
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return Token{}, fmt.Errorf("%w: field without value", ErrMalformed)
		}
		switch k {
		case "sr":
			t.rawResource = v
		case "sig":
			sig = v
		case "se":
			t.rawExpiry = v
		case "skn":
			name, err := url.PathUnescape(v)
			if err != nil {
				return Token{}, fmt.Errorf("%w: skn", ErrMalformed)
			}
			t.KeyName = name
		}
	}
	if t.rawResource == "" || sig == "" || t.rawExpiry == "" {
		return Token{}, fmt.Errorf("%w: sr, sig and se are required", ErrMalformed)
	}
	res, err := url.PathUnescape(t.rawResource)
	if err != nil {
		return Token{}, fmt.Errorf("%w: sr", ErrMalformed)
	}
	t.Resource = res
	se, err := strconv.ParseInt(t.rawExpiry, 10, 64)
	if err != nil || se <= 0 {
		return Token{}, fmt.Errorf("%w: se", ErrMalformed)
	}
	t.Expiry = time.Unix(se, 0)
	if !decodeSignature(&t.signature, sig) {
		return Token{}, fmt.Errorf("%w: sig", ErrMalformed)
	}
	return t, nil
}

// decodeSignature sets dst to the base64 of the percent-encoded sig, as
// url.PathUnescape then base64.StdEncoding.DecodeString would, without
// allocating for signatures of usual length. It reports whether sig holds
// exactly sha256.Size bytes.
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

// Verify checks the token's signature against key (raw bytes, already
// base64-decoded) in constant time, and its expiry against now.
func (t Token) Verify(key []byte, now time.Time) error {
	var mac [sha256.Size]byte
	sign(&mac, key, t.rawResource, t.rawExpiry)
	if !hmac.Equal(mac[:], t.signature[:]) {
		return ErrSignature
	}
	if !now.Before(t.Expiry) {
		return ErrExpired
	}
	return nil
}

// ConnectionString is an IoT Hub connection string, device or service.
type ConnectionString struct {
	HostName              string
	DeviceID              string
	ModuleID              string
	SharedAccessKeyName   string
	SharedAccessKey       string
	SharedAccessSignature string
}

// ParseConnectionString splits on ';' then on the first '='; empty values are
// dropped and the last duplicate wins, as in the SDKs.
func ParseConnectionString(s string) (ConnectionString, error) {
	var c ConnectionString
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			continue
		}
		switch k {
		case "HostName":
			c.HostName = v
		case "DeviceId":
			c.DeviceID = v
		case "ModuleId":
			c.ModuleID = v
		case "SharedAccessKeyName":
			c.SharedAccessKeyName = v
		case "SharedAccessKey":
			c.SharedAccessKey = v
		case "SharedAccessSignature":
			c.SharedAccessSignature = v
		}
	}
	if c.HostName == "" {
		return ConnectionString{}, errors.New("connection string: HostName is required")
	}
	if c.SharedAccessKey == "" && c.SharedAccessSignature == "" {
		return ConnectionString{}, errors.New("connection string: SharedAccessKey or SharedAccessSignature is required")
	}
	return c, nil
}

// String formats the connection string in the SDKs' field order.
func (c ConnectionString) String() string {
	parts := []string{"HostName=" + c.HostName}
	if c.DeviceID != "" {
		parts = append(parts, "DeviceId="+c.DeviceID)
	}
	if c.ModuleID != "" {
		parts = append(parts, "ModuleId="+c.ModuleID)
	}
	if c.SharedAccessKeyName != "" {
		parts = append(parts, "SharedAccessKeyName="+c.SharedAccessKeyName)
	}
	if c.SharedAccessKey != "" {
		parts = append(parts, "SharedAccessKey="+c.SharedAccessKey)
	}
	if c.SharedAccessSignature != "" {
		parts = append(parts, "SharedAccessSignature="+c.SharedAccessSignature)
	}
	return strings.Join(parts, ";")
}

// Token returns a SAS token for this connection string valid for ttl: a device
// token when DeviceID is set, a policy token for the hub otherwise.
func (c ConnectionString) Token(now time.Time, ttl time.Duration) (string, error) {
	if c.SharedAccessSignature != "" {
		return c.SharedAccessSignature, nil
	}
	res := c.HostName
	if c.DeviceID != "" {
		res += "/devices/" + c.DeviceID
		if c.ModuleID != "" {
			res += "/modules/" + c.ModuleID
		}
	}
	return New(res, c.SharedAccessKey, c.SharedAccessKeyName, now.Add(ttl))
}
