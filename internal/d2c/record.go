package d2c

import (
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// EncodeRecord returns the Kinesis record of the envelope version
// (telemetry.V1 or V2; 0 is telemetry.Version) the hub writes for one
// message, by the same encoder Ingest runs; the cost model sizes records
// with it.
func EncodeRecord(version int, sys *telemetry.SystemProperties, props []iothub.Property, body []byte) []byte {
	e := newEnvelopeEncoder(version, nil, sys)
	return e.append(nil, sys, props, body)
}
