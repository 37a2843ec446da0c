// Package sas builds and checks IoT Hub shared access signature (SAS) tokens
// and reads IoT Hub connection strings, as the Azure IoT SDKs do.
//
// A client signs with a connection string:
//
//	cs, err := sas.ParseConnectionString("HostName=...;DeviceId=...;SharedAccessKey=...")
//	header, err := cs.Token(time.Now(), time.Hour) // the Authorization header value
//
// A server parses the Authorization header, decides from Token.Resource and
// Token.KeyName which key should have signed it, and verifies it with that
// key, prepared once with NewKey and kept for later requests:
//
//	tok, err := sas.Parse(header)
//	err = tok.Verify(key, time.Now()) // nil, ErrSignature or ErrExpired
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

// Token is a parsed SAS token. Its signature has not been checked until
// Verify returns nil.
type Token struct {
	Resource string    // sr, percent-decoded: "{host}/devices/{id}" or "{host}"
	KeyName  string    // skn: the policy name; empty for device keys
	Expiry   time.Time // se

	signature [sha256.Size]byte
	// The signature covers sr and se exactly as sent, so they are kept raw.
	rawResource string
	rawExpiry   string
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
	newKeyedMAC(k).sign(&mac, sr, se) // one use: no Key, no pool
	sig := EncodeURIComponentStrict(base64.StdEncoding.EncodeToString(mac[:]))
	tok := Scheme + " sr=" + sr + "&sig=" + sig
	if keyName != "" {
		tok += "&skn=" + EncodeURIComponentStrict(keyName)
	}
	return tok + "&se=" + se, nil
}

// Parse reads an Authorization header value. It checks the shape only; call
// Verify with the key to authenticate it. Errors wrap ErrMalformed.
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

// Verify checks the token's signature against key in constant time, then its
// expiry against now. It returns ErrSignature or ErrExpired, unwrapped.
func (t Token) Verify(key *Key, now time.Time) error {
	var mac [sha256.Size]byte
	key.sign(&mac, t.rawResource, t.rawExpiry)
	if !hmac.Equal(mac[:], t.signature[:]) {
		return ErrSignature
	}
	if !now.Before(t.Expiry) {
		return ErrExpired
	}
	return nil
}
