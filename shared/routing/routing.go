// Package routing is the definition of a hub's message routes, in IoT Hub's
// terms: endpoints, routes (a source, a condition in IoT Hub's routing query
// language, endpoints), enrichments and the fallback route. One definition
// serves the CDK stack (infra/hub's Props.Routing) and the local hub
// (`devicehub local --routes file.json`); both validate it with Validate,
// which parses every condition, so a bad query fails `cdk synth` and the
// local hub's start with its position. docs/ROUTING.md explains it.
package routing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/devicehub/devicehub/shared/routequery"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// Kind is an endpoint's service.
type Kind string

// Endpoint kinds.
const (
	Kinesis     Kind = "kinesis"     // a Kinesis stream; partition key = device id
	SQS         Kind = "sqs"         // an SQS queue, standard or FIFO
	S3          Kind = "s3"          // an S3 bucket: JSON-lines objects under Prefix/YYYY/MM/DD/HH/
	EventBridge Kind = "eventbridge" // an EventBridge event bus
)

// BuiltIn is the name of IoT Hub's built-in endpoint: the hub's telemetry
// stream itself. Every message is already on it before the device gets its
// 2xx, so routing to it writes nothing.
const BuiltIn = "events"

// Sources a route can take, IoT Hub's names.
const (
	SourceDeviceMessages        = telemetry.SourceDeviceMessages
	SourceDeviceLifecycleEvents = telemetry.SourceDeviceLifecycleEvents
)

// Limits, IoT Hub's where it has one.
const (
	MaxEndpoints     = 10  // custom endpoints per hub
	MaxRoutes        = 100 // routes per hub
	MaxEnrichments   = 10  // enrichments per hub
	MaxConditionLen  = 1024
	MaxEnrichmentLen = 128 // enrichment key and value
)

// Endpoint is a destination. Its resource field names an existing resource;
// left empty, the stack (or the local hub) creates one for the endpoint.
type Endpoint struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`

	Stream string `json:"stream,omitempty"` // kinesis: stream name or ARN
	Queue  string `json:"queue,omitempty"`  // sqs: queue URL
	FIFO   bool   `json:"fifo,omitempty"`   // sqs: a FIFO queue (message group = device id, deduplication id = the message's unique id)
	Bucket string `json:"bucket,omitempty"` // s3: bucket name
	Prefix string `json:"prefix,omitempty"` // s3: key prefix, default "devicehub/"
	Bus    string `json:"bus,omitempty"`    // eventbridge: bus name or ARN, default the account's default bus
}

// Route sends the messages of one source that match Condition to its
// endpoints.
type Route struct {
	Name      string   `json:"name"`
	Source    string   `json:"source,omitempty"`    // default SourceDeviceMessages
	Condition string   `json:"condition,omitempty"` // routing query; default "true"
	Endpoints []string `json:"endpoints"`           // endpoint names; BuiltIn allowed
	Disabled  bool     `json:"disabled,omitempty"`
}

// Enrichment adds an application property to messages routed to its
// endpoints. Value is a static string, "$iothubname", or
// "$twin.tags.<path>" (the device's tag, skipped when the device has none).
type Enrichment struct {
	Key       string   `json:"key"`
	Value     string   `json:"value"`
	Endpoints []string `json:"endpoints"`
}

// Fallback is IoT Hub's fallback route: device messages that match no
// enabled route go to its endpoints (default the built-in endpoint).
type Fallback struct {
	Disabled  bool     `json:"disabled,omitempty"`
	Endpoints []string `json:"endpoints,omitempty"`
}

// Definition is a hub's routing.
type Definition struct {
	Endpoints   []Endpoint   `json:"endpoints,omitempty"`
	Routes      []Route      `json:"routes,omitempty"`
	Enrichments []Enrichment `json:"enrichments,omitempty"`
	Fallback    Fallback     `json:"fallback,omitzero"`
}

// Load reads a definition from a JSON file and validates it.
func Load(path string) (Definition, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Definition{}, fmt.Errorf("routing: %w", err)
	}
	d, err := Decode(raw)
	if err != nil {
		return Definition{}, fmt.Errorf("routing: %s: %w", path, err)
	}
	return d, nil
}

// Decode parses a definition (unknown fields are errors) and validates it.
func Decode(raw []byte) (Definition, error) {
	var d Definition
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Definition{}, fmt.Errorf("decode: %w", err)
	}
	if err := d.Validate(); err != nil {
		return Definition{}, err
	}
	return d, nil
}

// Empty reports whether the definition routes nothing: no router runs.
func (d Definition) Empty() bool { return len(d.Routes) == 0 && len(d.Endpoints) == 0 }

// HasLifecycleRoutes reports whether an enabled route takes lifecycle
// events: only then does the registry write them.
func (d Definition) HasLifecycleRoutes() bool {
	for _, r := range d.Routes {
		if !r.Disabled && r.SourceOrDefault() == SourceDeviceLifecycleEvents {
			return true
		}
	}
	return false
}

// SourceOrDefault is the route's source, SourceDeviceMessages when unset.
func (r Route) SourceOrDefault() string {
	if r.Source == "" {
		return SourceDeviceMessages
	}
	return r.Source
}

// ConditionOrDefault is the route's condition, "true" when unset.
func (r Route) ConditionOrDefault() string {
	if strings.TrimSpace(r.Condition) == "" {
		return "true"
	}
	return r.Condition
}

// FallbackEndpoints are the fallback route's endpoints: none when it is
// disabled, the built-in endpoint when it names none.
func (d Definition) FallbackEndpoints() []string {
	switch {
	case d.Fallback.Disabled:
		return nil
	case len(d.Fallback.Endpoints) == 0:
		return []string{BuiltIn}
	}
	return d.Fallback.Endpoints
}

// PrefixOrDefault is an S3 endpoint's key prefix.
func (e Endpoint) PrefixOrDefault() string {
	if e.Prefix == "" {
		return "devicehub/"
	}
	return e.Prefix
}

// Names are IoT Hub's endpoint and route name rules: 1-64 characters of
// letters, digits, '-' and '_'.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks the whole definition and parses every condition; the
// error names the route, endpoint or enrichment at fault and, for a
// condition, the position of the error.
func (d Definition) Validate() error {
	var errs []error
	if len(d.Endpoints) > MaxEndpoints {
		errs = append(errs, fmt.Errorf("%d endpoints, at most %d", len(d.Endpoints), MaxEndpoints))
	}
	if len(d.Routes) > MaxRoutes {
		errs = append(errs, fmt.Errorf("%d routes, at most %d", len(d.Routes), MaxRoutes))
	}
	if len(d.Enrichments) > MaxEnrichments {
		errs = append(errs, fmt.Errorf("%d enrichments, at most %d", len(d.Enrichments), MaxEnrichments))
	}
	endpoints := map[string]bool{BuiltIn: true}
	for _, e := range d.Endpoints {
		if err := e.validate(); err != nil {
			errs = append(errs, fmt.Errorf("endpoint %q: %w", e.Name, err))
		}
		if endpoints[e.Name] {
			errs = append(errs, fmt.Errorf("endpoint %q: name used twice (or the built-in %q)", e.Name, BuiltIn))
		}
		endpoints[e.Name] = true
	}
	checkRefs := func(what string, names []string, needOne bool) {
		if needOne && len(names) == 0 {
			errs = append(errs, fmt.Errorf("%s: names no endpoint", what))
		}
		seen := map[string]bool{}
		for _, n := range names {
			if !endpoints[n] {
				errs = append(errs, fmt.Errorf("%s: unknown endpoint %q", what, n))
			}
			if seen[n] {
				errs = append(errs, fmt.Errorf("%s: endpoint %q named twice", what, n))
			}
			seen[n] = true
		}
	}
	routes := map[string]bool{}
	for _, r := range d.Routes {
		what := fmt.Sprintf("route %q", r.Name)
		if !nameRE.MatchString(r.Name) {
			errs = append(errs, fmt.Errorf("%s: names are 1-64 letters, digits, - and _", what))
		}
		if routes[r.Name] {
			errs = append(errs, fmt.Errorf("%s: name used twice", what))
		}
		routes[r.Name] = true
		switch r.SourceOrDefault() {
		case SourceDeviceMessages, SourceDeviceLifecycleEvents:
		default:
			errs = append(errs, fmt.Errorf("%s: source %q is not %s or %s", what, r.Source, SourceDeviceMessages, SourceDeviceLifecycleEvents))
		}
		if len(r.Condition) > MaxConditionLen {
			errs = append(errs, fmt.Errorf("%s: condition longer than %d characters", what, MaxConditionLen))
		} else if _, err := routequery.Parse(r.ConditionOrDefault()); err != nil {
			errs = append(errs, fmt.Errorf("%s: condition: %w", what, err))
		}
		checkRefs(what, r.Endpoints, true)
	}
	checkRefs("fallback route", d.Fallback.Endpoints, false)
	keys := map[string]bool{}
	for _, en := range d.Enrichments {
		what := fmt.Sprintf("enrichment %q", en.Key)
		if en.Key == "" || len(en.Key) > MaxEnrichmentLen || en.Value == "" || len(en.Value) > MaxEnrichmentLen {
			errs = append(errs, fmt.Errorf("%s: key and value must be 1 to %d characters", what, MaxEnrichmentLen))
		}
		if keys[strings.ToLower(en.Key)] {
			errs = append(errs, fmt.Errorf("%s: key used twice", what))
		}
		keys[strings.ToLower(en.Key)] = true
		if strings.HasPrefix(en.Value, "$") && en.Value != "$iothubname" && !strings.HasPrefix(en.Value, "$twin.tags.") {
			errs = append(errs, fmt.Errorf("%s: value %q: a value starting with $ must be $iothubname or $twin.tags.<path>", what, en.Value))
		}
		checkRefs(what, en.Endpoints, true)
	}
	return errors.Join(errs...)
}

func (e Endpoint) validate() error {
	if !nameRE.MatchString(e.Name) {
		return errors.New("names are 1-64 letters, digits, - and _")
	}
	set := map[Kind]bool{Kinesis: e.Stream != "", SQS: e.Queue != "" || e.FIFO, S3: e.Bucket != "" || e.Prefix != "", EventBridge: e.Bus != ""}
	if _, ok := set[e.Kind]; !ok {
		return fmt.Errorf("kind %q is not kinesis, sqs, s3 or eventbridge", e.Kind)
	}
	for k, isSet := range set {
		if isSet && k != e.Kind {
			return fmt.Errorf("a %s endpoint has a field of a %s endpoint", e.Kind, k)
		}
	}
	if e.Kind == S3 && (strings.HasPrefix(e.Prefix, "/") || strings.Contains(e.Prefix, "//")) {
		return fmt.Errorf("prefix %q must not start with / or hold //", e.Prefix)
	}
	return nil
}
