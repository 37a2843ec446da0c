package iothub

import (
	"encoding/json"
	"time"
)

// Message routing statistics (beyond IoT Hub, which reports them as Azure
// Monitor metrics): what GET /devicehub/routing answers with the owner
// policy. The router counts, per route and endpoint, the messages it
// delivered and the ones it dead-lettered; it keeps each dead letter for 14
// days.

// Pseudo routes of the statistics, beside the definition's routes.
const (
	// RouteFallback counts the device messages that matched no enabled
	// route and went to the fallback route's endpoints (IoT Hub's name).
	RouteFallback = "$fallback"
	// RouteUnroutable counts the records the router could not evaluate:
	// not a telemetry record, or a device whose tags could not be read for
	// longer than the record may wait. Its endpoint is EndpointNone.
	RouteUnroutable = "$unroutable"
	// EndpointNone is the endpoint of RouteUnroutable.
	EndpointNone = "-"
)

// RoutingStats is the router's counters and its latest dead letters.
type RoutingStats struct {
	Routes      []RouteCount        `json:"routes"`
	DeadLetters []RoutingDeadLetter `json:"deadLetters"`
}

// RouteCount is the count of one route and one of its endpoints, since the
// Routing table was created. Under retries a message may be delivered
// more than once (at least once); each delivery of a batch that the
// router completed counts once.
type RouteCount struct {
	Route        string    `json:"route"`
	Endpoint     string    `json:"endpoint"`
	Delivered    int64     `json:"delivered"`
	DeadLettered int64     `json:"deadLettered"`
	Updated      time.Time `json:"lastUpdatedTimeUtc,omitzero"` // zero: never counted
}

// RoutingDeadLetter is one message the router gave up on for one route and
// endpoint, with the reason.
type RoutingDeadLetter struct {
	Route            string    `json:"route"`
	Endpoint         string    `json:"endpoint"`
	Reason           string    `json:"reason"`
	DeviceID         string    `json:"deviceId,omitempty"`
	MessageID        string    `json:"messageId,omitempty"`
	SequenceNumber   string    `json:"sequenceNumber"` // the record's on the telemetry stream
	EnqueuedTime     time.Time `json:"enqueuedTimeUtc,omitzero"`
	DeadLetteredTime time.Time `json:"deadLetteredTimeUtc"`
	// Size is the routed message's size in bytes.
	Size int `json:"size"`
	// Message is the routed message, a telemetry record (shared/telemetry
	// decodes it), when it is JSON of at most MaxDeadLetterMessage bytes;
	// otherwise it is left out.
	Message json.RawMessage `json:"message,omitempty"`
}

// MaxDeadLetterMessage bounds the message a dead letter carries in
// RoutingStats, so that the answer stays small.
const MaxDeadLetterMessage = 16 << 10
