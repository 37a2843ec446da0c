package sas_test

import (
	"encoding/base64"
	"fmt"
	"time"

	"github.com/devicehub/devicehub/shared/sas"
)

// A device signs its requests with the key from its connection string.
func ExampleConnectionString_Token() {
	cs, err := sas.ParseConnectionString("HostName=iot-hub-for-test.azure-devices.net;DeviceId=iot-device-for-test;SharedAccessKey=+XLy+MVZ+aTeOnVzN2kLeB16O+kSxmz6g3rS6fAf6rw=")
	if err != nil {
		panic(err)
	}
	header, err := cs.Token(time.Unix(1471936763, 0), time.Hour)
	if err != nil {
		panic(err)
	}
	fmt.Println(header)
	// Output: SharedAccessSignature sr=iot-hub-for-test.azure-devices.net%2Fdevices%2Fiot-device-for-test&sig=SIumZ1ACqqPJZ2okHDlW9MSYKykEpqsQY3z6FMOICd4%3D&se=1471940363
}

// A server reads the token, picks the key its resource names, and verifies it.
// The Key is built once per stored key and kept: verifying then allocates nothing.
func ExampleToken_Verify() {
	header := "SharedAccessSignature sr=iot-hub-for-test.azure-devices.net%2Fdevices%2Fiot-device-for-test&sig=SIumZ1ACqqPJZ2okHDlW9MSYKykEpqsQY3z6FMOICd4%3D&se=1471940363"
	tok, err := sas.Parse(header)
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.Resource)

	raw, _ := base64.StdEncoding.DecodeString("+XLy+MVZ+aTeOnVzN2kLeB16O+kSxmz6g3rS6fAf6rw=")
	key := sas.NewKey(raw)
	fmt.Println(tok.Verify(key, time.Unix(1471940000, 0)))
	fmt.Println(tok.Verify(key, time.Unix(1471940363, 0)))
	// Output:
	// iot-hub-for-test.azure-devices.net/devices/iot-device-for-test
	// <nil>
	// shared access signature expired
}
