package iothub

import (
	"encoding/json"
	"strings"
	"testing"
)

// The encoded error carries IoT Hub's classic fields after the current ones,
// and decoding gives every field back as it was, classic ones included.
func TestErrorBodyClassicFields(t *testing.T) {
	in := ErrorBody{ErrorCode: 404001, Code: "DeviceNotFound", Message: `device "d" is not registered`,
		TrackingID: "abc", TimestampUTC: "2026-11-27T12:07:00.333776479Z"}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"errorCode":404001,"code":"DeviceNotFound","message":"device \"d\" is not registered","trackingId":"abc",` +
		`"timestampUtc":"2026-11-27T12:07:00.333776479Z","Message":"ErrorCode:DeviceNotFound;device \"d\" is not registered",` +
		`"ExceptionMessage":"Tracking ID:abc-TimeStamp:11/27/2026 12:07:00"}`
	if string(raw) != want {
		t.Fatalf("encoded\n%s\nwant\n%s", raw, want)
	}
	var out ErrorBody
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	if out.Message != in.Message || out.Code != in.Code || out.ClassicMessage != "ErrorCode:DeviceNotFound;"+in.Message {
		t.Fatalf("decoded %+v", out)
	}
	// A pointer encodes the same way.
	if raw2, _ := json.Marshal(&in); string(raw2) != want {
		t.Fatalf("pointer encoded %s", raw2)
	}
}

// IoT Hub's own classic-only answers fill Code and Message.
func TestFillFromClassic(t *testing.T) {
	for _, tc := range []struct {
		body          string
		code, message string
	}{
		{`{"Message":"ErrorCode:DeviceAlreadyExists;Conflict","ExceptionMessage":"Tracking ID:e4-G:11-TimeStamp:07/16/2016 00:12:41"}`, "DeviceAlreadyExists", "Conflict"},
		{`{"Message":"ErrorCode:IotHubUnauthorizedAccess;Unauthorized"}`, "IotHubUnauthorizedAccess", "Unauthorized"},
		{`{"errorCode":1,"code":"X","message":"m","Message":"ErrorCode:Y;n"}`, "X", "m"},
		{`{"Message":"plain text"}`, "", ""},
	} {
		var e ErrorBody
		if err := json.Unmarshal([]byte(tc.body), &e); err != nil {
			t.Fatal(err)
		}
		e.FillFromClassic()
		if e.Code != tc.code || e.Message != tc.message {
			t.Errorf("%s: code %q message %q, want %q %q", tc.body, e.Code, e.Message, tc.code, tc.message)
		}
	}
}

func TestCountAcceptsNumbersStringsAndNull(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Count
		bad  bool
	}{
		{`3`, 3, false}, {`"0"`, 0, false}, {`"12"`, 12, false}, {`null`, 0, false}, {`""`, 0, false},
		{`"x"`, 0, true}, {`1.5`, 0, true}, {`true`, 0, true},
	} {
		var d Device
		err := json.Unmarshal([]byte(`{"deviceId":"d","cloudToDeviceMessageCount":`+tc.in+`}`), &d)
		if (err != nil) != tc.bad || d.CloudToDeviceMessageCount != tc.want {
			t.Errorf("%s: %d, %v", tc.in, d.CloudToDeviceMessageCount, err)
		}
	}
	raw, _ := json.Marshal(Device{DeviceID: "d", CloudToDeviceMessageCount: 2})
	if !strings.Contains(string(raw), `"cloudToDeviceMessageCount":2`) {
		t.Fatalf("encoded %s", raw)
	}
}
