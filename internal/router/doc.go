// Package router runs a hub's message routes (shared/routing): a Lambda
// function with a Kinesis event source mapping on the telemetry stream (and
// the local hub's stream poller) hands each batch to Router.Handle, which
// evaluates every route per record and delivers to the routes' endpoints.
//
// # Per record
//
// The record is decoded with shared/telemetry; one that does not decode is
// dead-lettered under the pseudo route $unroutable and never blocks the
// shard. Its Source picks the routes: a device message is evaluated against
// every enabled route of source DeviceMessages, in definition order, and
// goes to the fallback route's endpoints (default the built-in endpoint)
// when none matches; a lifecycle event only against the routes of source
// DeviceLifecycleEvents, with no fallback. A message that several matching
// routes send to one endpoint is delivered there once, as in IoT Hub, and
// counted for each of those routes.
//
// A condition reads the record lazily (routequery.Message): system
// properties by IoT Hub's query names (contentType, contentEncoding,
// connectionDeviceId, connectionDeviceGenerationId, connectionAuthMethod,
// messageId, correlationId, userId, and enqueuedTime as ISO 8601 UTC with
// milliseconds; the module id and dt-* are never set), application
// properties (the exact name first, then ignoring case), the body
// (routequery.DecodeBody, decoded at most once per record and only when a
// condition reads it) and the device's tags. Tags are read through
// TagReader at most once per device per invocation and only when a
// condition or an enrichment reads $twin; an unknown device has no tags.
//
// # Routed messages and enrichments
//
// What an endpoint receives is the telemetry record itself, so consumers
// decode every endpoint's messages with shared/telemetry. Enrichments are
// IoT Hub's: per endpoint, application properties on the routed message
// only: a static value, $iothubname (Options.HubName), or
// $twin.tags.<path> (skipped when the device has no such tag or it is not
// a string, number or boolean). An enrichment replaces a device property of
// the same name (names compare without case, as the hub's property rule
// does). Without an enrichment that applies, the record goes out byte for
// byte; with one, it is re-encoded as a version 2 envelope (d2c's encoder)
// with the extra properties and its "s" (source) kept. Endpoints with the
// same enrichments share one encoding per record. The built-in endpoint is
// the telemetry stream itself: delivering to it is a counted no-op, so
// enrichments naming it have no effect.
//
// # Delivery: at least once
//
// Each endpoint gets one Send per attempt with its messages in record
// order; the endpoints' Senders run concurrently. Messages that failed
// transiently are sent again, in order, up to Options.Attempts Sends in
// all, with exponential backoff and jitter, within the invocation's
// deadline less a reserve for the bookkeeping (a quarter of the time left,
// at most 3 s). Then each (message, endpoint) outcome is one of:
//
//   - delivered;
//   - dead-lettered: the Sender's error is permanent (Options.Permanent,
//     endpoints.Permanent), or it is transient but the record arrived on
//     the stream longer than Options.MaxRecordAge ago (default 1 h, below
//     the event source mapping's own maximum age): it has waited long
//     enough and no longer blocks the shard. A record whose device's tags
//     cannot be read for that long is dead-lettered under $unroutable;
//   - undelivered: a transient failure of a younger record, or a failure to
//     read its device's tags. The response's BatchItemFailures then names
//     the earliest such record's sequence number and the event source
//     mapping retries the shard from there: the records after it are
//     delivered again to every endpoint (duplicates: at least once).
//
// Per-device order to an ordered endpoint (a Kinesis stream, a FIFO queue)
// holds: its Sender never delivers a message after an undelivered earlier
// one of the same device in a call, the retries resend the undelivered
// messages in order, a record that could not be evaluated holds back every
// later record of its device in the batch, and the next invocation starts
// at or before the earliest undelivered record.
//
// Handle never returns an error, which would retry the whole batch.
//
// # Counters and dead letters
//
// Both live in the Routing table (internal/schema/routing.go); pseudo
// routes name what no route of the definition does: $fallback (IoT Hub's
// name) and $unroutable, whose endpoint is "-". Only the records before
// the retry point are recorded: they are done, while the event source
// mapping hands the rest to the next invocation, which records them then.
// So a retried batch's deliveries count once, except after a crash or a
// timeout past the bookkeeping.
//
// Dead letters are written (PutItem, concurrently) before the answer; one
// that cannot be written moves the retry point back to its record. A dead
// letter's key is the route, the record's arrival time and sequence number
// and the endpoint, the same every time, so a retried batch overwrites its
// dead letters; it keeps the routed message (its first 350 KB) and the
// reason for 14 days. Counters are added with one atomic UpdateItem per
// route and endpoint touched per invocation, all in one partition so that
// they are read with one Query. A counter update that fails is logged, not
// retried (that would deliver the batch again): counters may then fall
// short. Each invocation logs one line: records, delivered, dead-lettered,
// Sends, duration, and the retry point with its reason.
//
// Stats reads every counter and the latest dead letters of the routes that
// have some, for GET /devicehub/routing and `devicehub routes`. With a
// definition it lists the definition's routes and endpoints first, zeros
// included; the service function has none and lists what was counted.
package router
