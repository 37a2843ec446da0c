package sas

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// The az-cli test vector quoted in the device protocol spec.
func TestNewMatchesAzureVector(t *testing.T) {
	tok, err := New("iot-hub-for-test.azure-devices.net/devices/iot-device-for-test",
		"+XLy+MVZ+aTeOnVzN2kLeB16O+kSxmz6g3rS6fAf6rw=", "", time.Unix(1471940363, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := "SharedAccessSignature sr=iot-hub-for-test.azure-devices.net%2Fdevices%2Fiot-device-for-test&sig=SIumZ1ACqqPJZ2okHDlW9MSYKykEpqsQY3z6FMOICd4%3D&se=1471940363"
	if tok != want {
		t.Fatalf("token\n got %s\nwant %s", tok, want)
	}
}

func TestParseVerify(t *testing.T) {
	key := "+XLy+MVZ+aTeOnVzN2kLeB16O+kSxmz6g3rS6fAf6rw="
	raw, _ := base64.StdEncoding.DecodeString(key)
	otherRaw, _ := base64.StdEncoding.DecodeString("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	right, other := NewKey(raw), NewKey(otherRaw)
	now := time.Unix(1_700_000_000, 0)
	good, _ := New("hub.local/devices/d1", key, "", now.Add(time.Hour))
	withName, _ := New("hub.local", key, "iothubowner", now.Add(time.Hour))
	expired, _ := New("hub.local/devices/d1", key, "", now.Add(-time.Second))
	tampered := strings.Replace(good, "d1", "d2", 1)
	cases := []struct {
		name     string
		header   string
		key      *Key
		parseErr bool
		verify   error
		resource string
		keyName  string
	}{
		{name: "device token", header: good, key: right, resource: "hub.local/devices/d1"},
		{name: "policy token", header: withName, key: right, resource: "hub.local", keyName: "iothubowner"},
		{name: "expired", header: expired, key: right, verify: ErrExpired, resource: "hub.local/devices/d1"},
		{name: "wrong key", header: good, key: other, verify: ErrSignature, resource: "hub.local/devices/d1"},
		{name: "resource changed", header: tampered, key: right, verify: ErrSignature, resource: "hub.local/devices/d2"},
		{name: "no scheme", header: "Bearer abc", parseErr: true},
		{name: "missing sig", header: "SharedAccessSignature sr=a&se=1", parseErr: true},
		{name: "bad se", header: "SharedAccessSignature sr=a&sig=AAAA&se=x", parseErr: true},
		{name: "short sig", header: "SharedAccessSignature sr=a&sig=AAAA&se=1", parseErr: true},
		{name: "empty", header: "", parseErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Parse(tc.header)
			if tc.parseErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse error = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.Resource != tc.resource || tok.KeyName != tc.keyName {
				t.Fatalf("resource %q keyName %q", tok.Resource, tok.KeyName)
			}
			if err := tok.Verify(tc.key, now); !errors.Is(err, tc.verify) {
				t.Fatalf("Verify = %v, want %v", err, tc.verify)
			}
		})
	}
}

func TestConnectionString(t *testing.T) {
	cases := []struct {
		in      string
		want    ConnectionString
		wantErr bool
	}{
		{in: "HostName=h;DeviceId=d;SharedAccessKey=k", want: ConnectionString{HostName: "h", DeviceID: "d", SharedAccessKey: "k"}},
		{in: "HostName=h;SharedAccessKeyName=iothubowner;SharedAccessKey=k==", want: ConnectionString{HostName: "h", SharedAccessKeyName: "iothubowner", SharedAccessKey: "k=="}},
		{in: "HostName=a;HostName=b;DeviceId=;SharedAccessKey=k", want: ConnectionString{HostName: "b", SharedAccessKey: "k"}},
		{in: "DeviceId=d;SharedAccessKey=k", wantErr: true},
		{in: "HostName=h;DeviceId=d", wantErr: true},
	}
	for _, tc := range cases {
		got, err := ParseConnectionString(tc.in)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%q: err %v", tc.in, err)
		}
		if !tc.wantErr && got != tc.want {
			t.Fatalf("%q: got %+v", tc.in, got)
		}
		if !tc.wantErr {
			if again, _ := ParseConnectionString(got.String()); again != got {
				t.Fatalf("round trip %q: %+v", got.String(), again)
			}
		}
	}
}
