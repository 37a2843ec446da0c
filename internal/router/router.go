package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/devicehub/devicehub/internal/endpoints"

	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/routequery"
	"github.com/devicehub/devicehub/shared/routing"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// The pseudo routes and endpoint of the counters and dead letters.
const (
	FallbackRoute   = iothub.RouteFallback
	UnroutableRoute = iothub.RouteUnroutable
	NoEndpoint      = iothub.EndpointNone
)

// Defaults of Options.
const (
	DefaultMaxRecordAge = time.Hour
	DefaultAttempts     = 3
	DefaultBackoff      = 100 * time.Millisecond
	// maxReserve bounds the time kept from the invocation's deadline for
	// the dead letters, the counters and the response.
	maxReserve = 3 * time.Second
)

// Message is one routed message for an endpoint.
type Message = endpoints.Message

// Sender delivers messages to one endpoint (internal/endpoints).
type Sender interface {
	// Send returns one error per message, nil when delivered. An ordered
	// endpoint never delivers a message after an undelivered earlier one of
	// the same device in the call.
	Send(ctx context.Context, msgs []Message) []error
}

// TagReader reads a device's tags; an unknown device has none (nil, or an
// error of kind apierr.NotFound).
type TagReader interface {
	Tags(ctx context.Context, deviceID string) (map[string]any, error)
}

// Ledger records what the router gave up on and what it did: the Routing
// table (Store).
type Ledger interface {
	// WriteDeadLetters stores dls in order; n says how many of the first
	// are stored when err is not nil.
	WriteDeadLetters(ctx context.Context, dls []DeadLetter) (n int, err error)
	// AddCounts adds to the counters of each route and endpoint.
	AddCounts(ctx context.Context, counts []Count) error
}

// DeadLetter is one message the router gave up on for one route and
// endpoint.
type DeadLetter struct {
	Route, Endpoint, Reason string
	DeviceID, MessageID     string
	SequenceNumber          string
	ArrivalTime             time.Time // the record's on the stream; with the sequence number, the dead letter's key
	EnqueuedTime            time.Time
	Time                    time.Time // when it was dead-lettered
	Data                    []byte    // the routed message; the record as it is when it does not decode
}

// Count is what an invocation adds to the counters of one route and
// endpoint.
type Count struct {
	Route, Endpoint         string
	Delivered, DeadLettered int64
}

// Options configure a Router.
type Options struct {
	// Senders deliver to the definition's endpoints, by name; the built-in
	// endpoint needs none.
	Senders map[string]Sender
	// Tags reads devices' tags; required when a condition or an enrichment
	// reads $twin.
	Tags TagReader
	// Ledger stores dead letters and counters; required.
	Ledger Ledger
	// HubName is $iothubname in enrichments.
	HubName string
	// MaxRecordAge is how long a record may wait for an endpoint that fails
	// transiently before it is dead-lettered instead (default
	// DefaultMaxRecordAge); its age is taken from its arrival on the stream.
	MaxRecordAge time.Duration
	// Attempts bounds the Sends of one message per invocation (default
	// DefaultAttempts); Backoff is the wait before the second, doubling
	// after (default DefaultBackoff).
	Attempts int
	Backoff  time.Duration
	// Permanent reports whether a Sender's error will never succeed
	// (endpoints.Permanent); nil: every error is transient.
	Permanent func(error) bool
	Logger    *slog.Logger
	Now       func() time.Time
}

// Router runs one routing definition; it is safe for concurrent use.
type Router struct {
	routes    []route // the enabled ones, in definition order
	fallback  []int   // endpoint indexes; none for a disabled fallback
	endpoints []endpoint
	groups    [][]enrichment // distinct enrichment sets; endpoint.group indexes them
	twin      bool           // some condition or enrichment reads $twin

	tags      TagReader
	ledger    Ledger
	hubName   string
	maxAge    time.Duration
	attempts  int
	backoff   time.Duration
	permanent func(error) bool
	log       *slog.Logger
	now       func() time.Time
}

// route is an enabled route, compiled.
type route struct {
	name      string
	source    string
	cond      *routequery.Query
	endpoints []int
}

// endpoint is one endpoint of the definition, or the built-in one.
type endpoint struct {
	name   string
	sender Sender // nil: the built-in endpoint
	group  int    // index in Router.groups; -1: no enrichment applies
}

// enrichment is one enrichment, compiled: a static value, the hub name, or
// a path under the device's tags.
type enrichment struct {
	key   string
	value string   // the static value
	tag   []string // $twin.tags.<path>, split at dots; nil otherwise
}

const (
	valueHubName = "$iothubname"
	valueTags    = "$twin.tags."
)

// New compiles def (validated again here) into a Router.
func New(def routing.Definition, o Options) (*Router, error) {
	if err := def.Validate(); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	if o.Ledger == nil {
		return nil, errors.New("router: no ledger for dead letters and counters")
	}
	r := &Router{
		tags: o.Tags, ledger: o.Ledger, hubName: o.HubName, maxAge: o.MaxRecordAge,
		attempts: o.Attempts, backoff: o.Backoff, permanent: o.Permanent, log: o.Logger, now: o.Now,
	}
	if r.maxAge <= 0 {
		r.maxAge = DefaultMaxRecordAge
	}
	if r.attempts <= 0 {
		r.attempts = DefaultAttempts
	}
	if r.backoff <= 0 {
		r.backoff = DefaultBackoff
	}
	if r.permanent == nil {
		r.permanent = func(error) bool { return false }
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}

	index := map[string]int{}
	addEndpoint := func(name string, s Sender) {
		index[name] = len(r.endpoints)
		r.endpoints = append(r.endpoints, endpoint{name: name, sender: s, group: -1})
	}
	addEndpoint(routing.BuiltIn, nil)
	for _, e := range def.Endpoints {
		s := o.Senders[e.Name]
		if s == nil {
			return nil, fmt.Errorf("router: endpoint %q has no sender", e.Name)
		}
		addEndpoint(e.Name, s)
	}
	indexes := func(names []string) []int {
		out := make([]int, len(names))
		for i, n := range names {
			out[i] = index[n]
		}
		return out
	}

	for _, rt := range def.Routes {
		if rt.Disabled {
			continue
		}
		cond, err := routequery.Parse(rt.ConditionOrDefault())
		if err != nil {
			return nil, fmt.Errorf("router: route %q: condition: %w", rt.Name, err)
		}
		r.twin = r.twin || cond.UsesTwin()
		r.routes = append(r.routes, route{name: rt.Name, source: rt.SourceOrDefault(), cond: cond, endpoints: indexes(rt.Endpoints)})
	}
	r.fallback = indexes(def.FallbackEndpoints())

	// Each endpoint's enrichments, in definition order; endpoints with the
	// same ones share a group, encoded once per record.
	perEndpoint := make([][]enrichment, len(r.endpoints))
	for _, en := range def.Enrichments {
		c := enrichment{key: en.Key, value: en.Value}
		if path, ok := strings.CutPrefix(en.Value, valueTags); ok {
			c.tag = strings.Split(path, ".")
		}
		for _, ei := range indexes(en.Endpoints) {
			if r.endpoints[ei].sender == nil {
				r.log.Warn("router: an enrichment names the built-in endpoint, whose records are already on the stream: it has no effect",
					slog.String("key", en.Key))
				continue
			}
			perEndpoint[ei] = append(perEndpoint[ei], c)
		}
	}
	keys := map[string]int{}
	for ei, ens := range perEndpoint {
		if len(ens) == 0 {
			continue
		}
		var sig strings.Builder
		for _, en := range ens {
			fmt.Fprintf(&sig, "%q=%q;", en.key, en.value)
			r.twin = r.twin || en.tag != nil
		}
		g, ok := keys[sig.String()]
		if !ok {
			g = len(r.groups)
			keys[sig.String()] = g
			r.groups = append(r.groups, ens)
		}
		r.endpoints[ei].group = g
	}
	if r.twin && r.tags == nil {
		return nil, errors.New("router: a condition or an enrichment reads $twin, but there is no tag reader")
	}
	return r, nil
}

// sourceMessages is the source of device messages, the only one with a
// fallback route.
const sourceMessages = telemetry.SourceDeviceMessages
