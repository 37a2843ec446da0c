// Package hub is devicehub's CDK construct: the whole serverless topology
// (API Gateway, the ingress, service and sweeper functions, the Kinesis
// stream, the DynamoDB tables, the owner-key secret, alarms and a dashboard;
// with routes, the router function and its endpoints; consumers attached
// with AddConsumer).
// Every table, index, attribute and environment variable name comes from
// internal/schema, the definitions the functions and local mode use too.
package hub

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// APIKind selects the API Gateway flavour in front of the functions.
type APIKind string

// API flavours. HTTPAPI and RESTAPI carry every route; FunctionURL puts
// the device routes on the ingress function's own URL and keeps the
// service routes on an HTTP API (README "Gateway-free flavour").
const (
	HTTPAPI     APIKind = "http" // API Gateway HTTP API (payload v2): the default, a third of the price per request
	RESTAPI     APIKind = "rest" // API Gateway REST API (payload v1): what LocalStack's free plan serves
	FunctionURL APIKind = "url"  // device routes on a Lambda function URL (no per-request gateway charge), service routes on an HTTP API
)

// StreamKeyKind is the KMS key that encrypts the telemetry stream.
type StreamKeyKind string

// Stream keys.
const (
	// CustomerStreamKey is a key of the stack's own (rotated yearly): the
	// owner grants kms:Decrypt on it to exactly the consumers it chooses.
	// $1 a month, $3 after two rotations, plus its requests.
	CustomerStreamKey StreamKeyKind = "customer"
	// AWSManagedStreamKey is Kinesis's aws/kinesis key: no monthly charge,
	// but every principal of the account with Kinesis read grants can
	// decrypt; it cannot be scoped to chosen consumers.
	AWSManagedStreamKey StreamKeyKind = "aws"
)

// AccessLogMode says what the API stage writes to its access log group.
type AccessLogMode string

// Access log modes. Each log line is billed as CloudWatch Logs ingestion:
// the full line is ~400 bytes, the lean one ~150.
const (
	FullAccessLogs AccessLogMode = "full" // one JSON object per request with method, path, protocol, latency, user agent... (default)
	LeanAccessLogs AccessLogMode = "lean" // request id, source ip, epoch time, route, status and integration error only
	NoAccessLogs   AccessLogMode = "off"  // none: function error logs and the API metrics remain
)

// Function names: each is a directory under Props.AssetDir holding the
// `bootstrap` that `make lambdas` builds from functions/<name>.
const (
	Ingress = "ingress"
	Service = "service"
	Sweeper = "sweeper"
	// Router runs Props.Routing on the telemetry stream; it exists only
	// when the definition routes something.
	Router = "router"
	// ExampleConsumerAsset is the example telemetry consumer
	// (functions/consumer), deployed only with Props.ExampleConsumer.
	ExampleConsumerAsset = "consumer"
)

// Functions lists the names of the functions every hub has, in creation
// order (Router is added with routes).
func Functions() []string { return []string{Ingress, Service, Sweeper} }

// Domain is an optional custom domain for the API.
type Domain struct {
	Name           string                             // e.g. hub.example.com; becomes the hub host devices sign for
	Certificate    awscertificatemanager.ICertificate // ACM certificate for Name, in the stack's region
	CertificateARN string                             // or the certificate's ARN, imported when Certificate is nil
}

// Props configure a Hub. The zero value is a working hub.
type Props struct {
	API APIKind // default HTTPAPI

	// StreamShards is the Kinesis capacity: 0 is on-demand (the default),
	// N > 0 provisioned with N shards, each taking 1 MB/s and 1,000
	// records/s of writes (README "Stream capacity" says when each wins).
	StreamShards    int
	StreamRetention time.Duration // Kinesis retention, 24h (default) to 8760h: how long a stopped consumer may catch up
	StreamKey       StreamKeyKind // the stream's encryption key, default CustomerStreamKey

	// RegistryCapacity bills the device registry table by provisioned,
	// auto-scaled capacity instead of on demand (nil, the default): every
	// device request the key cache misses reads it, so a large steady fleet
	// pays per hour of capacity rather than per read (infra/README.md
	// "Registry capacity" says when each wins).
	RegistryCapacity *RegistryCapacity

	C2DDefaultTTL  time.Duration // default expiry of a cloud-to-device message; 1m..48h, default 1h
	C2DMaxDelivery int           // deliveries before dead-lettering; 1..100, default 10
	C2DMaxQueue    int           // pending messages per device; 1..5000, default 50
	FeedbackTTL    time.Duration // how long delivery feedback is retained; 1m..48h, default 1h
	SweepRate      time.Duration // how often the sweeper runs, whole minutes, default 1m

	Arch         string                // GOARCH the bootstraps were built for (make's LAMBDA_ARCH): arm64 (default) or amd64
	MemoryMB     int                   // function memory, default 256
	LogRetention awslogs.RetentionDays // function and access logs, default one month
	// LogLevel is the functions' application log level, debug, info
	// (default), warn or error: the functions' own filter
	// (DEVICEHUB_LOG_LEVEL) and Lambda's (ApplicationLogLevel).
	LogLevel string
	// SystemLogLevel is the level of Lambda's own log lines for the
	// functions: warn (default) leaves out the START, END and REPORT lines
	// of every invocation, which would cost more than the request itself
	// (the Duration, Errors and Throttles metrics stay); info or debug
	// writes them. The functions log in Lambda's JSON format.
	SystemLogLevel string
	AccessLogs     AccessLogMode // the API's access log, default FullAccessLogs

	// The device-key cache of a warm function: how long a device's keys
	// are trusted (default 30s, at most 5m; DisableAuthCache reads the
	// registry on every request) and how many devices it holds (default
	// 10,000). A device that sends less often than the TTL never hits it.
	AuthCacheTTL  time.Duration
	AuthCacheSize int

	// RecordVersion is the telemetry record envelope the ingress function
	// writes to the stream: 2 (default), the compact one, or 1. Consumers
	// decoding with shared/telemetry read both.
	RecordVersion int

	// Flood limits. Each API route gets its own token bucket of
	// ThrottleRate requests per second and ThrottleBurst at once (API
	// Gateway's default route throttling); Concurrency caps and reserves
	// each function's share of the account's Lambda concurrency.
	ThrottleRate  float64     // default 1000
	ThrottleBurst int         // default 500
	Concurrency   Concurrency // default ingress 100, service 20, sweeper 1, router 10 or more (Concurrency.Router)

	Domain        *Domain         // optional custom domain
	X509          *X509           // optional: the mutual-TLS front door for X.509 devices (x509.go)
	HubHost       string          // overrides the host name devices sign for (e.g. behind a proxy); default the domain or the API's host
	AlarmTopic    awssns.ITopic   // alarms notify it (alarm and OK); one is created when neither it nor AlarmTopicARN is set
	AlarmTopicARN string          // or the topic's ARN, imported when AlarmTopic is nil
	AlarmEmails   []string        // addresses subscribed to the alarm topic (each confirms the subscription by mail)
	Alarms        AlarmThresholds // when alarms fire
	// DisableDashboard leaves out the CloudWatch dashboard (LocalStack has
	// no CloudFormation provider for one).
	DisableDashboard bool

	// Routing is IoT Hub's message routing: the definition (endpoints,
	// routes, enrichments, fallback route) and the router's settings
	// (routing.go). The zero value routes nothing and builds nothing.
	Routing Routing
	// ExampleConsumer deploys functions/consumer (asset
	// Props.AssetDir/consumer) on the telemetry stream with AddConsumer:
	// it logs every message.
	ExampleConsumer bool

	// RESTDetailedMetrics turns on the REST stage's per-method CloudWatch
	// metrics, billed as custom metrics (five per method, 80 for the hub's
	// 16 routes: about $24 a month). The alarms and the dashboard use the
	// API-wide metrics, which are free.
	RESTDetailedMetrics bool

	AssetDir      string               // where the bootstraps are, default "build" (relative to the cdk app's working directory)
	RemovalPolicy awscdk.RemovalPolicy // for tables, stream, key, secret and logs; default RETAIN
	// DisableDeletionProtection creates the tables without deletion
	// protection, for development stacks; RemovalPolicy DESTROY needs it.
	DisableDeletionProtection bool
}

// Concurrency is each function's reserved concurrency: a share of the
// account's Lambda concurrency that no other function can take, and a cap
// on the function itself, so a flood of device traffic can neither starve
// the service routes and the sweeper nor exhaust the account. 0 means the
// default; Unreserved means no reservation (the account's shared pool).
type Concurrency struct {
	Ingress int // device routes, default 100
	Service int // service routes, default 20
	Sweeper int // default 1: sweeps never overlap
	// Router, with routes: one invocation runs per shard and
	// ParallelizationFactor, so it must be at least their product or the
	// mapping is throttled and routing lags (RouterThrottleRate,
	// RouterIteratorAge). Default the larger of 10 and that product (an
	// on-demand stream counted at its initial 4 shards).
	Router int
}

// RegistryCapacity is the device registry table's provisioned capacity.
// Application Auto Scaling keeps the consumed share of it near
// TargetUtilization, between the minimum and the maximum, per dimension;
// its sparse pending-event index follows the table's writes (each write
// that sets or clears a pending event writes it too) and is read by one
// sweeper query a minute, so it scales in the write range for both.
//
// Reads are what a fleet pays for: one eventually consistent read (half
// a unit for an item up to 4 KB) per device request the key cache misses.
// Capacity that a burst outruns throttles, and the device gets 503 with
// Retry-After until auto scaling catches up (minutes; DynamoDB's burst
// capacity, up to 300 seconds of unused reads, absorbs short peaks),
// which the throttle alarms report.
//
// A deploy sets the table to the minimums: switching a live fleet from
// on-demand, or changing a minimum later, resets capacity to them, and
// target tracking climbs back only by about 1/target per step, since
// throttled reads are not consumed ones. Switch with MinReads at or above
// the peak reads per second ÷ 2 ÷ (TargetUtilization/100), then lower it
// in a later deploy. Raise MinWrites before a bulk device import.
type RegistryCapacity struct {
	MinReads, MaxReads   int     // read capacity units of the table, 1 <= min <= max
	MinWrites, MaxWrites int     // write capacity units of the table, and the index's reads and writes; default 5..1000 when both are 0
	TargetUtilization    float64 // percent of provisioned capacity consumed that auto scaling aims at, 20..90, default 70
	// TableQuota is the account's per-table capacity quota, which counts
	// the table and its index together, per dimension: MaxReads +
	// MaxWrites and 2 × MaxWrites must fit it. Default 40,000, AWS's
	// default; set it only after AWS raised it.
	TableQuota int
}

// Auto scaling bounds of RegistryCapacity.
const (
	defaultTableQuota        = 40_000
	defaultTargetUtilization = 70
)

func (c *RegistryCapacity) defaults() error {
	if c.TargetUtilization == 0 {
		c.TargetUtilization = defaultTargetUtilization
	}
	if c.MinWrites == 0 && c.MaxWrites == 0 {
		c.MinWrites, c.MaxWrites = 5, 1000
	}
	if c.TableQuota == 0 {
		c.TableQuota = defaultTableQuota
	}
	if !(c.TargetUtilization >= 20 && c.TargetUtilization <= 90) { // NaN too
		return fmt.Errorf("hub: RegistryCapacity.TargetUtilization %v must be a percentage in 20..90", c.TargetUtilization)
	}
	for _, r := range []struct {
		what     string
		min, max int
	}{{"Reads", c.MinReads, c.MaxReads}, {"Writes", c.MinWrites, c.MaxWrites}} {
		if r.min < 1 || r.min > r.max {
			return fmt.Errorf("hub: RegistryCapacity Min%s %d and Max%s %d must satisfy 1 <= min <= max", r.what, r.min, r.what, r.max)
		}
	}
	// The index reads and writes in the write range (data.go's autoScale).
	if c.MaxReads+c.MaxWrites > c.TableQuota || 2*c.MaxWrites > c.TableQuota {
		return fmt.Errorf("hub: RegistryCapacity MaxReads %d + MaxWrites %d (the index's reads) and 2 x MaxWrites (table and index writes) must fit the per-table quota of %d",
			c.MaxReads, c.MaxWrites, c.TableQuota)
	}
	return nil
}

// DisableAuthCache, as Props.AuthCacheTTL, turns the device-key cache off.
const DisableAuthCache time.Duration = -1

// Unreserved, as a Concurrency field, leaves that function in the account's
// unreserved pool: for accounts whose concurrency quota cannot hold the
// reservations (AWS keeps 100 unreserved).
const Unreserved = -1

// AlarmThresholds say when the alarms fire (README "Alarms" has the list).
// Zero fields take the defaults.
type AlarmThresholds struct {
	// ErrorRate is the share of failures, in percent, that raises the
	// API 5xx, function error, function throttle and Kinesis write
	// throttle alarms; default 1.
	ErrorRate float64
	// DeviceP99 and ServiceP99 are the p99 durations of the ingress
	// (device routes) and service (service routes) functions above which,
	// for 15 minutes, the latency alarms fire; default 1s and 3s.
	DeviceP99, ServiceP99 time.Duration
	// RouterLag is the age of the oldest record the router (or a consumer
	// added with AddConsumer) reads above which, in 2 of 3 five-minute
	// periods, its IteratorAge alarm fires; default 1m, more than the
	// mapping's BatchWindow.
	RouterLag time.Duration
}

// Architectures by GOARCH, the names `make lambdas` builds for.
var architectures = map[string]awslambda.Architecture{
	"arm64": awslambda.Architecture_ARM_64(),
	"amd64": awslambda.Architecture_X86_64(),
}

// Hub is the constructed topology; its fields let an embedding app grant
// its own consumers access (e.g. Stream.GrantRead for a telemetry reader).
type Hub struct {
	constructs.Construct
	Props       Props // with defaults applied
	Stream      awskinesis.Stream
	StreamKey   awskms.Key                   // nil with Props.StreamKey AWSManagedStreamKey
	Tables      map[string]awsdynamodb.Table // by schema.Table.ID
	OwnerSecret awssecretsmanager.Secret
	Functions   map[string]awslambda.Function // by function name
	// HubHost is the host devices put in their SAS tokens' resource (sr);
	// APIURL is the base URL clients send requests to (DEVICEHUB_URL).
	HubHost *string
	APIURL  *string
	// DomainTarget is the API Gateway domain to point a DNS record at when
	// Props.Domain is set (nil otherwise).
	DomainTarget *string
	AccessLogs   awslogs.LogGroup
	AlarmTopic   awssns.ITopic // the topic every alarm notifies (Props.AlarmTopic or the one created)
	// With Props.X509: the function behind the mTLS load balancer, the load
	// balancer, and the DNS name to point Props.X509.Domain at.
	X509Function awslambda.Function
	LoadBalancer awselasticloadbalancingv2.ApplicationLoadBalancer
	X509Target   *string
	Alarms       []awscloudwatch.Alarm   // the hub's own (each consumer's are in Consumers)
	Dashboard    awscloudwatch.Dashboard // nil with Props.DisableDashboard
	// DeviceURL is the base URL of the device routes when they are not on
	// the API (Props.API FunctionURL): the ingress function's URL.
	DeviceURL *string
	// Routing is what Props.Routing built (the router, its mapping and
	// on-failure queue, every endpoint's resource); nil without routes.
	Routing *RoutingResources
	// Consumers are those AddConsumer attached, in order (each with its
	// own alarms, beside the hub's in Alarms); ExampleConsumer is the
	// example one, with Props.ExampleConsumer.
	Consumers       []*Consumer
	ExampleConsumer *Consumer

	apiMetrics apiMetrics
}

// apiMetrics are the API-wide metrics of whichever API flavour was built.
type apiMetrics struct {
	count, clientErrors, serverErrors, latency awscloudwatch.Metric
}

// New builds the hub under scope. It validates props before creating
// anything, with the same rules the functions apply to their environment.
func New(scope constructs.Construct, id string, props *Props) (*Hub, error) {
	p := Props{}
	if props != nil {
		p = *props
	}
	if err := p.defaults(); err != nil {
		return nil, err
	}
	h := &Hub{Construct: constructs.NewConstruct(scope, &id), Props: p}
	if d := p.Domain; d != nil && d.Certificate == nil {
		c := *d
		c.Certificate = awscertificatemanager.Certificate_FromCertificateArn(h.Construct, jsii.String("Certificate"), jsii.String(d.CertificateARN))
		h.Props.Domain = &c
	}
	h.data()
	h.functions()
	if err := h.api(); err != nil {
		return nil, err
	}
	h.x509()
	if err := h.routing(); err != nil {
		return nil, err
	}
	h.sweepSchedule()
	h.monitoring()
	if p.ExampleConsumer {
		if err := h.exampleConsumer(); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func (p *Props) defaults() error {
	if p.API == "" {
		p.API = HTTPAPI
	}
	if p.API != HTTPAPI && p.API != RESTAPI && p.API != FunctionURL {
		return fmt.Errorf("hub: API must be %q, %q or %q, not %q", HTTPAPI, RESTAPI, FunctionURL, p.API)
	}
	if p.API == FunctionURL && p.Domain != nil {
		// A function URL answers on its own host only; a custom domain
		// needs CloudFront in front of it, which this construct does not build.
		return fmt.Errorf("hub: a custom Domain needs API %q or %q: a function URL has no custom domain without CloudFront", HTTPAPI, RESTAPI)
	}
	if p.StreamKey == "" {
		p.StreamKey = CustomerStreamKey
	}
	if p.StreamKey != CustomerStreamKey && p.StreamKey != AWSManagedStreamKey {
		return fmt.Errorf("hub: StreamKey %q must be %q or %q", p.StreamKey, CustomerStreamKey, AWSManagedStreamKey)
	}
	if p.AccessLogs == "" {
		p.AccessLogs = FullAccessLogs
	}
	switch p.AccessLogs {
	case FullAccessLogs, LeanAccessLogs, NoAccessLogs:
	default:
		return fmt.Errorf("hub: AccessLogs %q must be %q, %q or %q", p.AccessLogs, FullAccessLogs, LeanAccessLogs, NoAccessLogs)
	}
	if p.StreamRetention == 0 {
		p.StreamRetention = 24 * time.Hour
	}
	if p.StreamRetention < 24*time.Hour || p.StreamRetention > 8760*time.Hour || p.StreamRetention%time.Hour != 0 {
		return fmt.Errorf("hub: StreamRetention %s must be whole hours in 24h..8760h", p.StreamRetention)
	}
	if p.StreamShards < 0 {
		return fmt.Errorf("hub: StreamShards must not be negative")
	}
	if c := p.RegistryCapacity; c != nil {
		cp := *c // the caller's struct stays as given
		if err := cp.defaults(); err != nil {
			return err
		}
		p.RegistryCapacity = &cp
	}
	if p.C2DDefaultTTL == 0 {
		p.C2DDefaultTTL = config.DefaultC2DTTL
	}
	if p.C2DMaxDelivery == 0 {
		p.C2DMaxDelivery = config.DefaultMaxDelivery
	}
	if p.C2DMaxQueue == 0 {
		p.C2DMaxQueue = config.DefaultMaxQueue
	}
	if p.FeedbackTTL == 0 {
		p.FeedbackTTL = config.DefaultFeedbackTTL
	}
	if p.SweepRate == 0 {
		p.SweepRate = time.Minute
	}
	// The heartbeat alarm watches two sweep periods, and CloudWatch
	// evaluates at most a day.
	if p.SweepRate < time.Minute || p.SweepRate > 12*time.Hour || p.SweepRate%time.Minute != 0 {
		return fmt.Errorf("hub: SweepRate %s must be whole minutes in 1m..12h", p.SweepRate)
	}
	if p.Arch == "" {
		p.Arch = "arm64"
	}
	if _, ok := architectures[p.Arch]; !ok {
		return fmt.Errorf("hub: Arch %q must be arm64 or amd64", p.Arch)
	}
	if p.MemoryMB == 0 {
		p.MemoryMB = 256
	}
	if p.MemoryMB < 128 || p.MemoryMB > 10240 {
		return fmt.Errorf("hub: MemoryMB %d must be in 128..10240", p.MemoryMB)
	}
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_MONTH
	}
	if p.LogLevel == "" {
		p.LogLevel = "info"
	}
	if _, ok := applicationLogLevels[p.LogLevel]; !ok {
		return fmt.Errorf("hub: LogLevel %q must be debug, info, warn or error", p.LogLevel)
	}
	if p.SystemLogLevel == "" {
		p.SystemLogLevel = "warn"
	}
	if _, ok := systemLogLevels[p.SystemLogLevel]; !ok {
		return fmt.Errorf("hub: SystemLogLevel %q must be debug, info or warn", p.SystemLogLevel)
	}
	switch {
	case p.AuthCacheTTL == 0:
		p.AuthCacheTTL = config.DefaultAuthCache
	case p.AuthCacheTTL < 0 && p.AuthCacheTTL != DisableAuthCache:
		return fmt.Errorf("hub: AuthCacheTTL %s must be positive or DisableAuthCache", p.AuthCacheTTL)
	}
	if p.AuthCacheSize == 0 {
		p.AuthCacheSize = defaultAuthCacheSize
	}
	if p.AuthCacheSize < 1 || p.AuthCacheSize > maxAuthCacheSize {
		return fmt.Errorf("hub: AuthCacheSize %d must be in 1..%d", p.AuthCacheSize, maxAuthCacheSize)
	}
	if p.RecordVersion == 0 {
		p.RecordVersion = telemetry.Version
	}
	if p.RecordVersion != telemetry.V1 && p.RecordVersion != telemetry.V2 {
		return fmt.Errorf("hub: RecordVersion %d must be %d or %d", p.RecordVersion, telemetry.V1, telemetry.V2)
	}
	if p.ThrottleRate == 0 {
		p.ThrottleRate = 1000
	}
	if p.ThrottleBurst == 0 {
		p.ThrottleBurst = 500
	}
	if p.ThrottleRate < 0 || p.ThrottleBurst < 0 {
		return fmt.Errorf("hub: ThrottleRate and ThrottleBurst must not be negative")
	}
	c := &p.Concurrency
	for _, f := range []struct {
		name string
		n    *int
		def  int
	}{{Ingress, &c.Ingress, 100}, {Service, &c.Service, 20}, {Sweeper, &c.Sweeper, 1}, {Router, &c.Router, p.defaultRouterConcurrency()}} {
		if *f.n == 0 {
			*f.n = f.def
		}
		if *f.n < Unreserved {
			return fmt.Errorf("hub: %s concurrency %d must be positive or Unreserved", f.name, *f.n)
		}
	}
	a := &p.Alarms
	if a.ErrorRate == 0 {
		a.ErrorRate = 1
	}
	if a.ErrorRate < 0 || a.ErrorRate > 100 {
		return fmt.Errorf("hub: Alarms.ErrorRate %v must be a percentage", a.ErrorRate)
	}
	if a.DeviceP99 == 0 {
		a.DeviceP99 = time.Second
	}
	if a.ServiceP99 == 0 {
		a.ServiceP99 = 3 * time.Second
	}
	for name, d := range map[string]time.Duration{Ingress: a.DeviceP99, Service: a.ServiceP99} {
		if d < time.Millisecond || d.Seconds() >= timeouts[name] {
			return fmt.Errorf("hub: %s p99 alarm threshold %s must be between 1ms and the function's %vs timeout", name, d, timeouts[name])
		}
	}
	if err := p.Routing.defaults(p.StreamRetention); err != nil {
		return err
	}
	if a.RouterLag == 0 {
		a.RouterLag = time.Minute
	}
	if a.RouterLag < time.Second || a.RouterLag <= p.Routing.BatchWindow {
		return fmt.Errorf("hub: Alarms.RouterLag %s must be at least 1s and more than Routing.BatchWindow %s", a.RouterLag, p.Routing.BatchWindow)
	}
	if p.Domain != nil && (p.Domain.Name == "" || p.Domain.Certificate == nil && p.Domain.CertificateARN == "") {
		return fmt.Errorf("hub: Domain needs a Name and a Certificate or CertificateARN")
	}
	if err := p.x509Defaults(); err != nil {
		return err
	}
	if p.AssetDir == "" {
		p.AssetDir = "build"
	}
	if p.RemovalPolicy == "" {
		p.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	if p.RemovalPolicy == awscdk.RemovalPolicy_DESTROY && !p.DisableDeletionProtection {
		// CloudFormation cannot delete a protected table: the stack's
		// deletion would fail half way.
		return fmt.Errorf("hub: RemovalPolicy DESTROY needs DisableDeletionProtection")
	}
	// The functions refuse to start on a bad setting; refuse it at synth
	// instead, by the functions' own rules (placeholders stand in for the
	// names only known at deploy).
	vars := p.settings()
	vars[schema.EnvHubHost] = "synth.invalid"
	if _, err := config.FromEnv(func(k string) string { return vars[k] }); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

// defaultRouterConcurrency is Concurrency.Router's default: one
// invocation per shard and ParallelizationFactor (an on-demand stream at
// its initial 4 shards), at least 10.
func (p *Props) defaultRouterConcurrency() int {
	shards := p.StreamShards
	if shards == 0 {
		shards = onDemandInitialShards
	}
	return max(10, shards*max(1, p.Routing.ParallelizationFactor))
}

// onDemandInitialShards is the shard count of a new on-demand stream.
const onDemandInitialShards = 4

// The device-key cache's size: registry.AuthConfig's default, and a bound
// on a function's memory (an entry is well under 1 KB).
const (
	defaultAuthCacheSize = 10_000
	maxAuthCacheSize     = 1_000_000
)

// Lambda's log levels by the names Props uses.
var (
	applicationLogLevels = map[string]awslambda.ApplicationLogLevel{
		"debug": awslambda.ApplicationLogLevel_DEBUG, "info": awslambda.ApplicationLogLevel_INFO,
		"warn": awslambda.ApplicationLogLevel_WARN, "error": awslambda.ApplicationLogLevel_ERROR,
	}
	systemLogLevels = map[string]awslambda.SystemLogLevel{
		"debug": awslambda.SystemLogLevel_DEBUG, "info": awslambda.SystemLogLevel_INFO, "warn": awslambda.SystemLogLevel_WARN,
	}
)

// settings are the environment variables that carry Props into the functions.
func (p *Props) settings() map[string]string {
	ttl := p.AuthCacheTTL
	if ttl == DisableAuthCache {
		ttl = 0 // internal/config: 0 disables the cache
	}
	return map[string]string{
		schema.EnvC2DDefaultTTL:  p.C2DDefaultTTL.String(),
		schema.EnvC2DMaxDelivery: strconv.Itoa(p.C2DMaxDelivery),
		schema.EnvC2DMaxQueue:    strconv.Itoa(p.C2DMaxQueue),
		schema.EnvFeedbackTTL:    p.FeedbackTTL.String(),
		schema.EnvLogLevel:       p.LogLevel,
		schema.EnvAuthCacheTTL:   ttl.String(),
		schema.EnvAuthCacheSize:  strconv.Itoa(p.AuthCacheSize),
		schema.EnvRecordVersion:  strconv.Itoa(p.RecordVersion),
	}
}
