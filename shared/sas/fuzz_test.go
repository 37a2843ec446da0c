package sas

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

// Any header either fails to parse or yields a token that no key but the one
// that signed it verifies; tokens New builds parse back to what was signed.
func FuzzParse(f *testing.F) {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	for _, s := range []string{
		"SharedAccessSignature sr=iot-hub-for-test.azure-devices.net%2Fdevices%2Fiot-device-for-test&sig=SIumZ1ACqqPJZ2okHDlW9MSYKykEpqsQY3z6FMOICd4%3D&se=1471940363",
		"SharedAccessSignature sr=h&sig=x&se=1&skn=iothubowner",
		"SharedAccessSignature sr=h&sig=&se=",
		"SharedAccessSignature sr=%zz&sig=a&se=1",
		"SharedAccessSignature sr=h&sr=g&sig=a%3D&se=99999999999999999999",
		"sharedaccesssignature sr=h&sig=a&se=1",
		"SharedAccessSignature &&&===",
	} {
		f.Add(s, "hub.example/devices/d1", "", int64(1_900_000_000))
	}
	f.Add("", "h/devices/ä%/;&=+ ", "iothubowner", int64(1))
	other := NewKey([]byte("another key entirely, 32 bytes.."))
	raw, _ := base64.StdEncoding.DecodeString(key)
	signer := NewKey(raw)
	f.Fuzz(func(t *testing.T, header, resource, keyName string, se int64) {
		if tok, err := Parse(header); err == nil {
			if tok.Resource == "" || tok.Expiry.Unix() <= 0 {
				t.Fatalf("parsed token without resource or expiry: %+v", tok)
			}
			if err := tok.Verify(other, time.Unix(0, 0)); !errors.Is(err, ErrSignature) {
				t.Fatalf("a fuzzed header verified with an unrelated key: %q", header)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
		}
		if resource == "" || se <= 0 || se > 1<<40 {
			return
		}
		h, err := New(resource, key, keyName, time.Unix(se, 0))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := Parse(h)
		if err != nil {
			t.Fatalf("New(%q, %q) built %q, which does not parse: %v", resource, keyName, h, err)
		}
		if tok.Resource != resource || tok.KeyName != keyName || tok.Expiry.Unix() != se {
			t.Fatalf("round trip: got %q %q %d, want %q %q %d", tok.Resource, tok.KeyName, tok.Expiry.Unix(), resource, keyName, se)
		}
		if err := tok.Verify(signer, time.Unix(se-1, 0)); err != nil {
			t.Fatalf("signer's own token: %v", err)
		}
		if err := tok.Verify(signer, time.Unix(se, 0)); !errors.Is(err, ErrExpired) {
			t.Fatalf("at its expiry the token must be refused: %v", err)
		}
		if err := tok.Verify(other, time.Unix(se-1, 0)); !errors.Is(err, ErrSignature) {
			t.Fatalf("verified with another key: %v", err)
		}
	})
}

// A connection string that parses formats back to itself.
func FuzzParseConnectionString(f *testing.F) {
	for _, s := range []string{
		"HostName=h;DeviceId=d;SharedAccessKey=a2V5",
		"HostName=h;SharedAccessKeyName=iothubowner;SharedAccessKey=a2V5",
		" HostName = h ;DeviceId=;SharedAccessKey=k==;SharedAccessKey=last",
		"HostName=h;SharedAccessSignature=SharedAccessSignature sr=h&sig=x&se=1",
		";;=;HostName",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConnectionString(s)
		if err != nil {
			return
		}
		again, err := ParseConnectionString(c.String())
		if err != nil || again != c {
			t.Fatalf("%q parsed to %+v, formatted to %q, parsed again to %+v (%v)", s, c, c.String(), again, err)
		}
	})
}
