package d2c

import (
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// EncodeRecord returns the Kinesis record the hub writes for one message, by
// the same encoder Ingest runs; the cost model sizes records with it.
func EncodeRecord(sys *telemetry.SystemProperties, props []iothub.Property, body []byte) []byte {
	e := newEnvelopeEncoder(nil, sys)
	return e.append(nil, sys, props, body)
}
