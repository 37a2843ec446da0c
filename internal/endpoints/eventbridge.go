package endpoints

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/devicehub/devicehub/shared/telemetry"
)

// The EventBridge events' source and detail types: rules match on them.
const (
	EventSource              = "devicehub"
	DetailTypeDeviceMessage  = "DeviceMessage"
	DetailTypeLifecycleEvent = "DeviceLifecycleEvent"
)

// EventBridge limits.
const (
	eventBridgeMaxEntries = 10
	eventBridgeMaxBytes   = 256 << 10 // an entry, and a whole call
	eventBridgeTimeBytes  = 14        // what a set Time counts for
)

// eventBridgeSender puts each message as one event on the bus: source
// "devicehub", detail type DeviceMessage (or DeviceLifecycleEvent for a
// lifecycle event), detail = the message, time = its enqueued time.
// EventBridge keeps no order, so neither does the sender.
type eventBridgeSender struct {
	api EventBridgeAPI
	bus string // name or ARN; empty: the account's default bus
}

func (e *eventBridgeSender) Send(ctx context.Context, msgs []Message) []error {
	return batcher{
		max: eventBridgeMaxEntries, maxBytes: eventBridgeMaxBytes,
		size:  eventSize,
		check: e.check,
		put:   e.put,
	}.sendUnordered(ctx, msgs)
}

// eventSize bounds an entry's size as EventBridge counts it (Time, Source,
// DetailType, Detail, Resources), with the longer detail type, so the
// detail need not be parsed twice.
func eventSize(m Message) int {
	n := len(EventSource) + len(DetailTypeLifecycleEvent) + len(m.Data)
	if !m.Time.IsZero() {
		n += eventBridgeTimeBytes
	}
	return n
}

func (e *eventBridgeSender) check(m Message) error {
	if n := eventSize(m); n > eventBridgeMaxBytes {
		return permanent("eventbridge %s: event of %d bytes exceeds the %d-byte limit", e.busName(), n, eventBridgeMaxBytes)
	}
	if d := bytes.TrimLeft(m.Data, " \t\r\n"); len(d) == 0 || d[0] != '{' || !json.Valid(d) {
		return permanent("eventbridge %s: detail must be a JSON object", e.busName())
	}
	return nil
}

func (e *eventBridgeSender) busName() string {
	if e.bus == "" {
		return "default"
	}
	return e.bus
}

func (e *eventBridgeSender) put(ctx context.Context, batch []Message) []error {
	in := &eventbridge.PutEventsInput{Entries: make([]types.PutEventsRequestEntry, len(batch))}
	for i, m := range batch {
		en := types.PutEventsRequestEntry{
			Source:     aws.String(EventSource),
			DetailType: aws.String(detailType(m.Data)),
			Detail:     aws.String(string(m.Data)),
		}
		if e.bus != "" {
			en.EventBusName = aws.String(e.bus)
		}
		if !m.Time.IsZero() {
			en.Time = aws.Time(m.Time)
		}
		in.Entries[i] = en
	}
	op := "eventbridge " + e.busName() + ": put events"
	errs := make([]error, len(batch))
	out, err := e.api.PutEvents(ctx, in)
	if err == nil && len(out.Entries) != len(batch) {
		err = fmt.Errorf("%d results for %d entries", len(out.Entries), len(batch))
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", op, err)
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for i, r := range out.Entries {
		if r.ErrorCode != nil {
			errs[i] = entryError(op, *r.ErrorCode, aws.ToString(r.ErrorMessage))
		}
	}
	return errs
}

// detailType reads the envelope's routing source ("s"): lifecycle events
// have their own detail type; telemetry has no "s".
func detailType(data []byte) string {
	var env struct {
		S string `json:"s"`
	}
	if json.Unmarshal(data, &env) == nil && env.S == telemetry.SourceDeviceLifecycleEvents {
		return DetailTypeLifecycleEvent
	}
	return DetailTypeDeviceMessage
}
