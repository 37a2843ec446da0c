// Package sas builds and checks IoT Hub shared access signature tokens and
// parses IoT Hub connection strings, exactly as the Azure IoT SDKs do.
package sas

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
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
	signature   []byte
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

func sign(key []byte, rawResource, rawExpiry string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(rawResource))
	m.Write([]byte{'\n'})
	m.Write([]byte(rawExpiry))
	return m.Sum(nil)
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
	sig := EncodeURIComponentStrict(base64.StdEncoding.EncodeToString(sign(k, sr, se)))
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
	s, err := url.PathUnescape(sig)
	if err != nil {
		return Token{}, fmt.Errorf("%w: sig", ErrMalformed)
	}
	if t.signature, err = base64.StdEncoding.DecodeString(s); err != nil || len(t.signature) != sha256.Size {
		return Token{}, fmt.Errorf("%w: sig", ErrMalformed)
	}
	return t, nil
}

// Verify checks the token's signature against key (raw bytes, already
// base64-decoded) in constant time, and its expiry against now.
func (t Token) Verify(key []byte, now time.Time) error {
	if !hmac.Equal(sign(key, t.rawResource, t.rawExpiry), t.signature) {
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
