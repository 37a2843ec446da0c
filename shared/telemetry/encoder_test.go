package telemetry

import (
	"bytes"
	"testing"
	"time"

	"github.com/devicehub/devicehub/shared/iothub"
)

// Encoder.Append must write exactly what Append writes, whichever fields
// are empty (the commas between the message's and the stamped properties
// depend on that).
func TestEncoderMatchesAppend(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	stamped := []SystemProperties{
		{DeviceID: "d1", AuthGenerationID: "g", AuthMethod: `{"scope":"device"}`, EnqueuedTime: at},
		{DeviceID: "d\"2", EnqueuedTime: at},
		{EnqueuedTime: at},
	}
	own := []SystemProperties{
		{},
		{MessageID: "m1"},
		{MessageID: "m1", CorrelationID: "c\n", UserID: "u", ContentType: "application/json", ContentEncoding: "utf-8"},
		{ContentEncoding: "utf-8"},
	}
	props := []iothub.Property{{Name: "a", Value: "1"}, {Name: "b\u2028", Value: "2"}}
	for _, st := range stamped {
		var scratch [8]byte // too small: NewEncoder must grow it
		enc := NewEncoder(scratch[:0], &st)
		for _, o := range own {
			sys := st
			sys.MessageID, sys.CorrelationID, sys.UserID = o.MessageID, o.CorrelationID, o.UserID
			sys.ContentType, sys.ContentEncoding = o.ContentType, o.ContentEncoding
			for _, body := range [][]byte{[]byte(`{"t":1}`), {0xff, 0}} {
				want := Append([]byte("prefix"), &sys, props, body)
				got := enc.Append([]byte("prefix"), &sys, props, body)
				if !bytes.Equal(got, want) {
					t.Fatalf("stamped %+v own %+v\n got %s\nwant %s", st, o, got, want)
				}
				if _, err := Decode(got[len("prefix"):]); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
