package iothub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// classicPrefix starts the classic Message field: "ErrorCode:<code>;<message>".
const classicPrefix = "ErrorCode:"

// classicTimeLayout is how IoT Hub writes the time in ExceptionMessage.
const classicTimeLayout = "01/02/2006 15:04:05"

// MarshalJSON writes the body with IoT Hub's classic fields filled in from
// the current ones, as IoT Hub answers its REST API:
//
//	{"errorCode":404001,"code":"DeviceNotFound","message":"...","trackingId":"...","timestampUtc":"...",
//	 "Message":"ErrorCode:DeviceNotFound;...","ExceptionMessage":"Tracking ID:...-TimeStamp:11/27/2026 12:07:00"}
//
// The Node service SDK (azure-iothub) maps errors only from Message; the
// .NET and Java SDKs read it too. "Message" comes after "message", so a
// parser that matches keys without case ends on the classic one it expects.
func (e ErrorBody) MarshalJSON() ([]byte, error) {
	if e.ClassicMessage == "" && e.Code != "" {
		e.ClassicMessage = classicPrefix + e.Code + ";" + e.Message
	}
	if e.ExceptionMessage == "" && e.TrackingID != "" {
		ts := e.TimestampUTC
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			ts = t.UTC().Format(classicTimeLayout)
		}
		e.ExceptionMessage = "Tracking ID:" + e.TrackingID + "-TimeStamp:" + ts
	}
	type plain ErrorBody // no methods: no recursion
	return json.Marshal(plain(e))
}

// FillFromClassic completes a body that carries only the classic fields (an
// answer of IoT Hub itself, or of an older service): Code and Message come
// from "ErrorCode:<code>;<message>". A body with a Code is left alone.
func (e *ErrorBody) FillFromClassic() {
	if e.Code != "" || !strings.HasPrefix(e.ClassicMessage, classicPrefix) {
		return
	}
	code, msg, _ := strings.Cut(strings.TrimPrefix(e.ClassicMessage, classicPrefix), ";")
	e.Code = code
	if e.Message == "" {
		e.Message = msg
	}
}

// Count is a device's cloudToDeviceMessageCount. It is written as a number;
// it is read from a number, a numeric string or null, because the Node
// service SDK's Device object defaults it to the string "0" and sends it back
// in every create and update.
type Count int

// UnmarshalJSON accepts 3, "3" and null.
func (c *Count) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(strings.TrimSpace(s))
		if len(b) == 0 {
			*c = 0
			return nil
		}
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return fmt.Errorf("iothub: cloudToDeviceMessageCount %s is not a whole number", b)
	}
	*c = Count(n)
	return nil
}
