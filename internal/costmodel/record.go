package costmodel

import (
	"strconv"
	"time"

	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// RecordSize is the size of the Kinesis record the hub writes for one
// reference message with a body of n bytes. The telemetry record format
// decides it: V2Record (new stacks) or V1Record.
type RecordSize func(n int) int

// ReferenceBody is a JSON body of exactly n bytes (n ≥ 8), which the
// envelope carries inline: {"d":"abc..."}.
func ReferenceBody(n int) []byte {
	n = max(n, 8)
	b := make([]byte, n)
	copy(b, `{"d":"`)
	for i := 6; i < n-2; i++ {
		b[i] = 'a' + byte(i%26)
	}
	copy(b[n-2:], `"}`)
	return b
}

// ReferenceMessage is the message the model prices, as the Azure IoT SDKs
// send it: an SDK-style message id (a UUID), content type and encoding,
// three application properties; the hub stamps the device id, a generation
// id, the SAS auth method and the enqueued time.
func ReferenceMessage(n int) (telemetry.SystemProperties, []iothub.Property, []byte) {
	sys := telemetry.SystemProperties{
		MessageID: "3f2504e0-4f89-41d3-9a0c-0305e82c3301", ContentType: "application/json", ContentEncoding: "utf-8",
		DeviceID: "device-000001", AuthGenerationID: "638672845123456789", AuthMethod: registry.AuthMethodSAS,
		EnqueuedTime: time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC),
	}
	props := []iothub.Property{{Name: "alert", Value: "false"}, {Name: "site", Value: "plant-7"}, {Name: "unit", Value: "celsius"}}
	return sys, props, ReferenceBody(n)
}

// V1Record is the size of the version 1 envelope (internal/d2c's encoder,
// the one the ingress function runs) of the reference message.
func V1Record(n int) int { return encodedRecord(telemetry.V1, n) }

// V2Record is the size of the compact version 2 envelope, the one new
// stacks write, of the reference message.
func V2Record(n int) int { return encodedRecord(telemetry.V2, n) }

func encodedRecord(version, n int) int {
	sys, props, body := ReferenceMessage(n)
	return len(d2c.EncodeRecord(version, &sys, props, body))
}

// EnvelopeBytes is what a record format adds to a body of n bytes.
func EnvelopeBytes(record RecordSize, n int) int { return record(n) - len(ReferenceBody(n)) }

// Records names the record formats the model knows, for its -record flag.
func Records() map[string]RecordSize {
	return map[string]RecordSize{"v1": V1Record, "v2": V2Record}
}

// RecordName is the Records key of a record version: v1, v2.
func RecordName(version int) string { return "v" + strconv.Itoa(version) }

// Record is the size of the records the stack's ingress function writes.
func (s Stack) Record() RecordSize {
	if r, ok := Records()[RecordName(s.RecordVersion)]; ok {
		return r
	}
	return V2Record // telemetry.Version, what a function writes when told nothing
}

// FixedEnvelope is a record format that adds a fixed number of bytes to the
// body: a stand-in for a format under design (e.g. -envelope 120).
func FixedEnvelope(bytes int) RecordSize {
	return func(n int) int { return len(ReferenceBody(n)) + bytes }
}
