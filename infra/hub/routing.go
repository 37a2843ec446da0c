package hub

// Message routing (issue 11, docs/ROUTING.md). The telemetry stream IS IoT
// Hub's built-in endpoint ("events"): every message is on it before the
// device gets its 2xx. With routes, the router function reads the stream
// through an event source mapping and writes the messages each route
// matches to the route's endpoints: Kinesis streams, SQS queues, S3
// buckets, EventBridge buses. Without routes there is no router, no
// mapping, no endpoint and no extra read of the stream.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/routequery"
	"github.com/devicehub/devicehub/shared/routing"
)

// Routing configures IoT Hub's message routing: the definition (the same
// shared/routing JSON `devicehub local --routes` reads, so a route is
// defined once) and the AWS resources behind its endpoints. The zero value
// routes nothing: no router, nothing built.
//
// Each endpoint's resource is, in this order: the resource of its kind
// under its name in Streams, Queues, Buckets or Buses; the one its
// definition names (stream name or ARN, queue URL, bucket name, bus name or
// ARN); or, when neither names one, one the stack creates: a Kinesis stream
// (on-demand, 24 h, encrypted with the telemetry stream's key), an SQS
// queue (SSE, TLS only; for a FIFO endpoint a FIFO queue in high-throughput
// mode, one message group per device), an S3 bucket (SSE-S3, public access
// blocked, TLS only, retained when the stack goes), or for EventBridge the
// account's default bus.
type Routing struct {
	Definition routing.Definition

	// Existing resources by endpoint name. A resource whose key is a
	// customer KMS key should carry it (e.g. Stream_FromStreamAttributes
	// with EncryptionKey): the router is then granted the key too.
	Streams map[string]awskinesis.IStream
	Queues  map[string]awssqs.IQueue
	Buckets map[string]awss3.IBucket
	Buses   map[string]awsevents.IEventBus

	// BucketVersioning turns versioning on in the buckets the stack
	// creates (each routed object is written once; versioning protects
	// against deletes and overwrites by others, at the price of keeping
	// every version).
	BucketVersioning bool
	// HubName is $iothubname in enrichments and hubName in lifecycle
	// events: IoT Hub's rules, 3-50 letters, digits and '-'. Default the
	// first label of the hub host.
	HubName string

	// How the router reads the telemetry stream.
	StreamReading
}

// StreamReading is how an event source mapping reads a Kinesis stream: the
// router's (Routing) and a consumer's (ConsumerOptions). Every mapping the
// hub builds also starts at the oldest record (TRIM_HORIZON), takes partial
// batch responses (ReportBatchItemFailures), splits a failing batch in two
// (BisectBatchOnError) and sends what it gives up on to an on-failure
// queue. Zero fields take the defaults.
type StreamReading struct {
	// BatchSize is the most records per invocation, 1..10000, default 100.
	BatchSize int
	// ParallelizationFactor is how many batches of one shard run at once,
	// 1..10, default 1. Records of one partition key (one device) stay in
	// order at any factor.
	ParallelizationFactor int
	// BatchWindow is how long the mapping gathers records before it
	// invokes, whole seconds up to 5m, default 0: invoke as soon as records
	// arrive. A window makes fuller batches and fewer invocations at low
	// traffic, for that much latency.
	BatchWindow time.Duration
	// RetryAttempts is how often a failing batch is retried (split in two
	// each time) before the mapping gives up on it, 1..10000; NoRetries
	// gives up at once, RetryUntilMaxAge retries until MaxRecordAge.
	// Default 10 for consumers and RetryUntilMaxAge for the router, which
	// dead-letters a record itself once it has failed for an hour
	// (internal/router): a partial batch response counts as a retry, so a
	// count would hand a shard's records to the on-failure queue, unrouted,
	// after minutes of an endpoint's throttling.
	RetryAttempts int
	// MaxRecordAge: records older than this are given up on unread. Whole
	// seconds in 1m..7d (Lambda's bounds) and less than the stream's
	// retention, default 6h. The on-failure queue then holds the shard and
	// the sequence numbers, readable from the stream until its retention
	// ends: the retention minus MaxRecordAge is the time left to replay.
	MaxRecordAge time.Duration
}

// StreamReading.RetryAttempts values beyond a count.
const (
	NoRetries        = -1 // give up on a failing batch at once
	RetryUntilMaxAge = -2 // retry until the records are MaxRecordAge old (Lambda's -1)
)

// Defaults of StreamReading.
const (
	defaultBatchSize     = 100
	defaultRetryAttempts = 10
	defaultMaxRecordAge  = 6 * time.Hour
)

// RoutingResources is what Props.Routing built.
type RoutingResources struct {
	Function  awslambda.Function           // the router
	Mapping   awslambda.EventSourceMapping // the router's mapping on the telemetry stream
	OnFailure awssqs.Queue                 // where the mapping records batches it gave up on
	// Definition is Props.Routing.Definition with every endpoint's
	// resource filled in (deploy-time values as CDK tokens): what the
	// router reads from DEVICEHUB_ROUTES.
	Definition routing.Definition
	// Every endpoint's resource by endpoint name, given, named or created.
	Streams map[string]awskinesis.IStream
	Queues  map[string]awssqs.IQueue
	Buckets map[string]awss3.IBucket
	Buses   map[string]awsevents.IEventBus

	created map[string]bool // endpoints whose resource the stack created
}

// defaults checks the reading settings and fills in the defaults;
// retention is the stream's, 0 when unknown (an existing stream).
func (r *StreamReading) defaults(retention time.Duration) error {
	if r.BatchSize == 0 {
		r.BatchSize = defaultBatchSize
	}
	if r.BatchSize < 1 || r.BatchSize > 10_000 {
		return fmt.Errorf("BatchSize %d must be in 1..10000", r.BatchSize)
	}
	if r.ParallelizationFactor == 0 {
		r.ParallelizationFactor = 1
	}
	if r.ParallelizationFactor < 1 || r.ParallelizationFactor > 10 {
		return fmt.Errorf("ParallelizationFactor %d must be in 1..10", r.ParallelizationFactor)
	}
	if r.BatchWindow < 0 || r.BatchWindow > 5*time.Minute || r.BatchWindow%time.Second != 0 {
		return fmt.Errorf("BatchWindow %s must be whole seconds up to 5m", r.BatchWindow)
	}
	if r.RetryAttempts == 0 {
		r.RetryAttempts = defaultRetryAttempts
	}
	if r.RetryAttempts != NoRetries && r.RetryAttempts != RetryUntilMaxAge && (r.RetryAttempts < 1 || r.RetryAttempts > 10_000) {
		return fmt.Errorf("RetryAttempts %d must be in 1..10000, NoRetries or RetryUntilMaxAge", r.RetryAttempts)
	}
	if r.MaxRecordAge == 0 {
		r.MaxRecordAge = defaultMaxRecordAge
	}
	if r.MaxRecordAge < time.Minute || r.MaxRecordAge > 7*24*time.Hour || r.MaxRecordAge%time.Second != 0 {
		return fmt.Errorf("MaxRecordAge %s must be whole seconds in 1m..168h", r.MaxRecordAge)
	}
	if retention > 0 && r.MaxRecordAge >= retention {
		return fmt.Errorf("MaxRecordAge %s must be less than the stream's retention %s, or a record given up on is gone before it can be replayed", r.MaxRecordAge, retention)
	}
	return nil
}

// IoT Hub's hub names.
var hubNameRE = regexp.MustCompile(`^[A-Za-z0-9-]{3,50}$`)

// defaults checks the routing props and fills in the defaults. The
// definition's own Validate parses every condition: a bad one fails synth
// here, with the route's name and the position.
func (r *Routing) defaults(retention time.Duration) error {
	if r.StreamReading.RetryAttempts == 0 {
		r.StreamReading.RetryAttempts = RetryUntilMaxAge
	}
	if err := r.StreamReading.defaults(retention); err != nil {
		return fmt.Errorf("hub: Routing: %w", err)
	}
	if r.HubName != "" && !hubNameRE.MatchString(r.HubName) {
		return fmt.Errorf("hub: Routing.HubName %q must be 3-50 letters, digits and '-'", r.HubName)
	}
	if err := r.Definition.Validate(); err != nil {
		return fmt.Errorf("hub: Routing: %w", err)
	}
	endpoints := map[string]routing.Endpoint{}
	for _, e := range r.Definition.Endpoints {
		endpoints[e.Name] = e
	}
	errs := slices.Concat(
		checkResources("Streams", routing.Kinesis, r.Streams, endpoints, nil),
		checkResources("Queues", routing.SQS, r.Queues, endpoints, func(e routing.Endpoint, q awssqs.IQueue) error {
			if f := q.Fifo(); f != nil && *f != e.FIFO {
				return fmt.Errorf("the queue's FIFO is %t, the endpoint's %t", *f, e.FIFO)
			}
			return nil
		}),
		checkResources("Buckets", routing.S3, r.Buckets, endpoints, nil),
		checkResources("Buses", routing.EventBridge, r.Buses, endpoints, nil),
	)
	for _, e := range r.Definition.Endpoints {
		if e.Kind == routing.SQS && e.Queue != "" {
			if _, _, _, err := parseQueueURL(e.Queue); err != nil {
				errs = append(errs, fmt.Errorf("endpoint %q: %w", e.Name, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("hub: Routing: %w", err)
	}
	return nil
}

// checkResources checks one map of existing resources against the
// definition's endpoints.
func checkResources[T any](field string, kind routing.Kind, m map[string]T, endpoints map[string]routing.Endpoint, check func(routing.Endpoint, T) error) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(m)) {
		e, ok := endpoints[name]
		var err error
		switch {
		case !ok:
			err = errors.New("the definition has no such endpoint")
		case e.Kind != kind:
			err = fmt.Errorf("the endpoint is of kind %s, not %s", e.Kind, kind)
		case any(m[name]) == nil:
			err = errors.New("nil")
		case resourceField(e) != "":
			err = fmt.Errorf("the definition names its resource too (%q): give one or the other", resourceField(e))
		case check != nil:
			err = check(e, m[name])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%q]: %w", field, name, err))
		}
	}
	return errs
}

// resourceField is the resource an endpoint's definition names, if any.
func resourceField(e routing.Endpoint) string {
	return map[routing.Kind]string{routing.Kinesis: e.Stream, routing.SQS: e.Queue, routing.S3: e.Bucket, routing.EventBridge: e.Bus}[e.Kind]
}

// parseQueueURL reads a queue URL, https://sqs.<region>.amazonaws.com/<account>/<name>
// (or the legacy https://<region>.queue.amazonaws.com/...), for its ARN.
func parseQueueURL(raw string) (region, account, name string, err error) {
	u, err := url.Parse(raw)
	bad := fmt.Errorf("queue %q is not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)", raw)
	if err != nil || u.Scheme != "https" {
		return "", "", "", bad
	}
	path := strings.Split(strings.Trim(u.Path, "/"), "/")
	labels := strings.Split(u.Host, ".")
	if len(path) != 2 || len(path[0]) != 12 || strings.Trim(path[0], "0123456789") != "" || path[1] == "" || len(labels) < 4 {
		return "", "", "", bad
	}
	switch {
	case labels[0] == "sqs":
		region = labels[1]
	case labels[1] == "queue":
		region = labels[0]
	default:
		return "", "", "", bad
	}
	return region, path[0], path[1], nil
}

// routing builds the router, its mapping and the endpoints' resources when
// Props.Routing routes something.
func (h *Hub) routing() error {
	p := h.Props
	def := p.Routing.Definition
	if def.Empty() {
		return nil
	}
	// "Routing" is the Routing table's id.
	scope := constructs.NewConstruct(h.Construct, jsii.String("MessageRouting"))
	rr := &RoutingResources{
		Streams: map[string]awskinesis.IStream{}, Queues: map[string]awssqs.IQueue{},
		Buckets: map[string]awss3.IBucket{}, Buses: map[string]awsevents.IEventBus{},
		created: map[string]bool{},
	}
	def.Endpoints = slices.Clone(def.Endpoints)
	var g writeGrants
	endpoints := constructs.NewConstruct(scope, jsii.String("Endpoints"))
	for i := range def.Endpoints {
		if err := h.endpoint(endpoints, &def.Endpoints[i], rr, &g); err != nil {
			return err
		}
	}
	rr.Definition = def

	hubName := h.hubName()
	env := h.environment(Router)
	env[schema.EnvHubHost] = h.HubHost
	env[schema.EnvRoutes] = jsii.String(routesJSON(def))
	env[schema.EnvHubName] = hubName
	if n := environmentSize(*h.withGoRuntime(env)); n > lambdaEnvironmentLimit {
		return fmt.Errorf("hub: Routing: the router's environment would be about %d bytes with the definition, over Lambda's %d: shorten conditions or names, or route fewer", n, lambdaEnvironmentLimit)
	}
	fn := h.newFunction(scope, "Router", Router, Router, descriptions[Router], timeouts[Router], env, p.Concurrency.Router)
	h.Functions[Router] = fn
	rr.Function = fn
	rr.OnFailure = h.onFailureQueue(scope, "RouterOnFailure", "the router")
	// The mapping's read: the stream's read actions and kms:Decrypt on its key.
	h.Stream.GrantRead(fn)
	rr.Mapping = readStream(scope, "TelemetryMapping", fn, h.Stream.StreamArn(), p.Routing.StreamReading, rr.OnFailure)

	role := fn.Role()
	// Counters (atomic ADD) and dead letters, and their reads.
	role.AddToPrincipalPolicy(allow([]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}, h.Tables[schema.Routing.ID].TableArn()))
	if usesTwin(def) {
		// A device's tags, for $twin conditions and enrichments.
		role.AddToPrincipalPolicy(allow([]string{"dynamodb:GetItem"}, h.Tables[schema.Devices.ID].TableArn()))
	}
	g.apply(role)
	if def.HasLifecycleRoutes() {
		h.lifecycleEvents(hubName)
	}
	h.Routing = rr
	return nil
}

// endpoint resolves (or creates) one endpoint's resource, records it in rr
// and the router's grants in g, and fills in the endpoint's resource field.
func (h *Hub) endpoint(scope constructs.Construct, e *routing.Endpoint, rr *RoutingResources, g *writeGrants) error {
	r := h.Props.Routing
	id := jsii.String(e.Name)
	stack := awscdk.Stack_Of(scope)
	switch e.Kind {
	case routing.Kinesis:
		s := r.Streams[e.Name]
		switch {
		case s != nil:
			e.Stream = *s.StreamName()
		case e.Stream != "":
			arn := jsii.String(e.Stream)
			if !strings.HasPrefix(e.Stream, "arn:") {
				arn = stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("kinesis"), Resource: jsii.String("stream"), ResourceName: jsii.String(e.Stream)})
			}
			s = awskinesis.Stream_FromStreamArn(scope, id, arn)
		default:
			s = h.endpointStream(scope, id)
			e.Stream = *s.StreamName()
			rr.created[e.Name] = true
		}
		rr.Streams[e.Name] = s
		g.putRecords = appendNew(g.putRecords, s.StreamArn())
		if k := s.EncryptionKey(); k != nil {
			g.dataKeys = appendNew(g.dataKeys, k.KeyArn())
		}
	case routing.SQS:
		q := r.Queues[e.Name]
		switch {
		case q != nil:
			e.Queue = *q.QueueUrl()
		case e.Queue != "":
			region, account, name, err := parseQueueURL(e.Queue)
			if err != nil {
				return fmt.Errorf("hub: Routing: endpoint %q: %w", e.Name, err)
			}
			arn := stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("sqs"), Region: jsii.String(region), Account: jsii.String(account),
				Resource: jsii.String(name), ArnFormat: awscdk.ArnFormat_NO_RESOURCE_NAME})
			q = awssqs.Queue_FromQueueAttributes(scope, id, &awssqs.QueueAttributes{QueueArn: arn, QueueUrl: jsii.String(e.Queue), Fifo: jsii.Bool(e.FIFO)})
		default:
			q = h.endpointQueue(scope, id, e.FIFO)
			e.Queue = *q.QueueUrl()
			rr.created[e.Name] = true
		}
		rr.Queues[e.Name] = q
		g.sendMessage = appendNew(g.sendMessage, q.QueueArn())
		// SendMessage to a queue under a customer key needs both.
		if k := q.EncryptionMasterKey(); k != nil {
			g.dataKeys = appendNew(g.dataKeys, k.KeyArn())
			g.decryptKeys = appendNew(g.decryptKeys, k.KeyArn())
		}
	case routing.S3:
		b := r.Buckets[e.Name]
		switch {
		case b != nil:
			e.Bucket = *b.BucketName()
		case e.Bucket != "":
			b = awss3.Bucket_FromBucketName(scope, id, jsii.String(e.Bucket))
		default:
			b = h.endpointBucket(scope, id)
			e.Bucket = *b.BucketName()
			rr.created[e.Name] = true
		}
		rr.Buckets[e.Name] = b
		// The router writes objects under the endpoint's prefix only.
		g.putObject = appendNew(g.putObject, b.ArnForObjects(jsii.String(e.PrefixOrDefault()+"*")))
		g.prefixes = append(g.prefixes, e.PrefixOrDefault())
		if k := b.EncryptionKey(); k != nil {
			g.dataKeys = appendNew(g.dataKeys, k.KeyArn())
		}
	case routing.EventBridge:
		bus := r.Buses[e.Name]
		switch {
		case bus != nil:
			e.Bus = *bus.EventBusName()
		case strings.HasPrefix(e.Bus, "arn:"):
			bus = awsevents.EventBus_FromEventBusArn(scope, id, jsii.String(e.Bus))
		default:
			if e.Bus == "" {
				e.Bus = "default" // the account's default bus
			}
			bus = awsevents.EventBus_FromEventBusName(scope, id, jsii.String(e.Bus))
		}
		rr.Buses[e.Name] = bus
		g.putEvents = appendNew(g.putEvents, bus.EventBusArn())
	}
	return nil
}

// endpointStream creates a Kinesis endpoint's stream: on-demand, 24 h,
// encrypted as the telemetry stream is.
func (h *Hub) endpointStream(scope constructs.Construct, id *string) awskinesis.Stream {
	sp := &awskinesis.StreamProps{
		Encryption:      awskinesis.StreamEncryption_MANAGED,
		RetentionPeriod: awscdk.Duration_Hours(jsii.Number(endpointStreamRetention.Hours())),
		StreamMode:      awskinesis.StreamMode_ON_DEMAND,
		RemovalPolicy:   h.Props.RemovalPolicy,
	}
	if h.StreamKey != nil {
		sp.Encryption, sp.EncryptionKey = awskinesis.StreamEncryption_KMS, h.StreamKey
	}
	s := awskinesis.NewStream(scope, id, sp)
	if h.StreamKey != nil {
		suppressCustomerStreamKey(s)
	}
	return s
}

// endpointStreamRetention is the retention of the endpoint streams the
// stack creates: the 24 h included in Kinesis's price.
const endpointStreamRetention = 24 * time.Hour

// endpointQueue creates an SQS endpoint's queue.
func (h *Hub) endpointQueue(scope constructs.Construct, id *string, fifo bool) awssqs.Queue {
	qp := &awssqs.QueueProps{
		Encryption:    awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:    jsii.Bool(true),
		RemovalPolicy: h.Props.RemovalPolicy,
	}
	if fifo {
		// High-throughput FIFO: ordering and deduplication per message
		// group (a device), so the queue's limits apply per device, not
		// to the whole hub.
		qp.Fifo = jsii.Bool(true)
		qp.DeduplicationScope = awssqs.DeduplicationScope_MESSAGE_GROUP
		qp.FifoThroughputLimit = awssqs.FifoThroughputLimit_PER_MESSAGE_GROUP_ID
	}
	q := awssqs.NewQueue(scope, id, qp)
	cdknag.NagSuppressions_AddResourceSuppressions(q, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("A routing endpoint's queue is read by the owner's application, which chooses its redrive policy; " +
			"to have one, pass your own queue in Routing.Queues."),
	}}, jsii.Bool(false))
	return q
}

// endpointBucket creates an S3 endpoint's bucket. It is retained with the
// stack: it holds the routed messages, and emptying a bucket on deletion
// takes a custom-resource function.
func (h *Hub) endpointBucket(scope constructs.Construct, id *string) awss3.Bucket {
	b := awss3.NewBucket(scope, id, &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		Versioned:         jsii.Bool(h.Props.Routing.BucketVersioning),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(b, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-S1"),
		Reason: jsii.String("Only the router's role may write this bucket (s3:PutObject under the endpoint's prefix); server access logs " +
			"would add a log object per routed batch. CloudTrail data events audit it when wanted."),
	}}, jsii.Bool(false))
	return b
}

// onFailureQueue is an event source mapping's on-failure destination: one
// message per batch given up on, naming the shard and the sequence
// numbers (not the records), kept the longest SQS allows to replay them.
func (h *Hub) onFailureQueue(scope constructs.Construct, id, reader string) awssqs.Queue {
	q := awssqs.NewQueue(scope, jsii.String(id), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		RemovalPolicy:   h.Props.RemovalPolicy,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(q, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is itself a dead-letter destination: " + reader + "'s event source mapping records the batches it gave up on here."),
	}}, jsii.Bool(false))
	return q
}

// readStream attaches fn to a stream (or an enhanced fan-out consumer's)
// ARN with the hub's safe settings: from the oldest record, partial batch
// responses, a failing batch split in two, bounded retries and record age,
// and the batches given up on recorded in onFailure (the mapping's bind
// grants fn sqs:SendMessage on it). The caller grants the read.
func readStream(scope constructs.Construct, id string, fn awslambda.IFunction, source *string, r StreamReading, onFailure awssqs.IQueue) awslambda.EventSourceMapping {
	var retries *float64 // unset: Lambda's -1, until MaxRecordAge (CDK refuses -1 itself)
	switch r.RetryAttempts {
	case NoRetries:
		retries = jsii.Number(0)
	case RetryUntilMaxAge:
	default:
		retries = jsii.Number(r.RetryAttempts)
	}
	return awslambda.NewEventSourceMapping(scope, jsii.String(id), &awslambda.EventSourceMappingProps{
		Target:                  fn,
		EventSourceArn:          source,
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(r.BatchSize),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(r.BatchWindow.Seconds())),
		ParallelizationFactor:   jsii.Number(r.ParallelizationFactor),
		ReportBatchItemFailures: jsii.Bool(true),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           retries,
		MaxRecordAge:            awscdk.Duration_Seconds(jsii.Number(r.MaxRecordAge.Seconds())),
		OnFailure:               awslambdaeventsources.NewSqsDlq(onFailure),
	})
}

// writeGrants are the router's writes to its endpoints, one statement per
// action, each on exactly the endpoints' resources.
type writeGrants struct {
	putRecords, sendMessage, putObject, putEvents []*string
	dataKeys, decryptKeys                         []*string // customer keys of endpoint resources
	prefixes                                      []string  // the S3 endpoints' key prefixes
}

func (g *writeGrants) apply(role awsiam.IRole) {
	if len(g.prefixes) > 0 {
		// The one wildcard: objects under each S3 endpoint's prefix.
		var appliesTo []any
		for _, p := range g.prefixes {
			appliesTo = append(appliesTo, &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::.*\/` + strings.ReplaceAll(regexp.QuoteMeta(p), "/", `\/`) + `\*$/`)})
		}
		cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-IAM5"),
			Reason: jsii.String("s3:PutObject on the objects under each S3 endpoint's prefix, no more: the router writes a new object per batch, " +
				"whose key (prefix/YYYY/MM/DD/HH/...) exists only once written."),
			AppliesTo: &appliesTo,
		}}, jsii.Bool(true))
	}
	for _, s := range []struct {
		action    string
		resources []*string
	}{
		{"kinesis:PutRecords", g.putRecords}, {"sqs:SendMessage", g.sendMessage}, {"s3:PutObject", g.putObject},
		{"events:PutEvents", g.putEvents}, {"kms:GenerateDataKey", g.dataKeys}, {"kms:Decrypt", g.decryptKeys},
	} {
		if len(s.resources) > 0 {
			role.AddToPrincipalPolicy(allow([]string{s.action}, s.resources...))
		}
	}
}

// appendNew appends v unless list holds it (the same key or stream serves
// several endpoints).
func appendNew(list []*string, v *string) []*string {
	if slices.ContainsFunc(list, func(w *string) bool { return *w == *v }) {
		return list
	}
	return append(list, v)
}

// lifecycleEvents: with a DeviceLifecycleEvents route the registry writes
// lifecycle events. The service function puts each on the telemetry stream
// after the registry write that owes it and then clears the owed mark; the
// sweeper finishes what a crash left owed (the byPendingEvent index),
// removing a delete's tombstone once its event is out.
func (h *Hub) lifecycleEvents(hubName *string) {
	devices := h.Tables[schema.Devices.ID]
	for _, name := range []string{Service, Sweeper} {
		fn := h.Functions[name]
		fn.AddEnvironment(jsii.String(schema.EnvLifecycleEvents), jsii.String("1"), nil)
		fn.AddEnvironment(jsii.String(schema.EnvHubName), hubName, nil)
		h.telemetryWriter(fn.Role())
	}
	h.Functions[Service].Role().AddToPrincipalPolicy(allow([]string{"dynamodb:UpdateItem"}, devices.TableArn()))
	sw := h.Functions[Sweeper].Role()
	sw.AddToPrincipalPolicy(allow(indexRead, indexARN(devices, schema.DevicePendingIndex)))
	sw.AddToPrincipalPolicy(allow([]string{"dynamodb:UpdateItem", "dynamodb:DeleteItem"}, devices.TableArn()))
}

// usesTwin reports whether an enabled route's condition or an enrichment
// reads the device's tags: only then may the router read the registry.
func usesTwin(d routing.Definition) bool {
	for _, en := range d.Enrichments {
		if strings.HasPrefix(en.Value, "$twin.") {
			return true
		}
	}
	for _, r := range d.Routes {
		if r.Disabled {
			continue
		}
		// Validated in defaults: it parses.
		if q, err := routequery.Parse(r.ConditionOrDefault()); err == nil && q.UsesTwin() {
			return true
		}
	}
	return false
}

// hubName is $iothubname: Routing.HubName, or the hub host's first label
// (computed at deploy when the host is the API's).
func (h *Hub) hubName() *string {
	if n := h.Props.Routing.HubName; n != "" {
		return jsii.String(n)
	}
	if !*awscdk.Token_IsUnresolved(h.HubHost) {
		return jsii.String(strings.SplitN(*h.HubHost, ".", 2)[0])
	}
	return awscdk.Fn_Select(jsii.Number(0), awscdk.Fn_Split(jsii.String("."), h.HubHost, nil))
}

// routesJSON is the definition as the router reads it. Deploy-time values
// are CDK tokens inside the string, which CloudFormation fills in.
func routesJSON(d routing.Definition) string { return compactJSON(d) }

// endpointsJSON is the definition's endpoints, for the stack's output.
func endpointsJSON(d routing.Definition) string { return compactJSON(d.Endpoints) }

// compactJSON marshals v without HTML escaping: conditions hold < and >,
// and the environment's size is limited.
func compactJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // plain strings, slices and bools: it cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

// Lambda's limit on a function's environment, names and values together;
// a deploy-time value (a name, URL or ARN) is counted as tokenSize bytes.
const (
	lambdaEnvironmentLimit = 4096
	tokenSize              = 100
)

var tokenRE = regexp.MustCompile(`\$\{Token\[[^\]]*\]\}`)

// environmentSize estimates the size Lambda counts of an environment.
func environmentSize(env map[string]*string) int {
	n := 0
	for k, v := range env {
		n += len(k) + len(tokenRE.ReplaceAllString(*v, strings.Repeat("x", tokenSize)))
	}
	return n
}
