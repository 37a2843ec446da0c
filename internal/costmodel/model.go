// Package costmodel prices a synthesized devicehub stack for a fleet: it
// reads the template (API flavour, function memory and logging, stream
// capacity, access logs, alarms, dashboard, keys, schedule, auth cache),
// takes the record size from the telemetry encoder, the functions'
// durations and the DynamoDB units of a C2D lifecycle from measurements,
// and adds up a month of AWS list prices, beside AWS IoT Core and Azure
// IoT Hub for the same traffic.
package costmodel

import (
	"fmt"
	"math"
	"time"

	"github.com/devicehub/devicehub/internal/schema"
)

// Month and size units.
const (
	daysPerMonth = hoursPerMonth / 24.0
	secPerMonth  = hoursPerMonth * 3600.0
	gib          = 1 << 30
	million      = 1e6
)

// Profile is a fleet's traffic.
type Profile struct {
	Name      string
	Devices   float64
	PerDay    float64 // telemetry messages per device per day
	Batch     int     // messages per request: 1 sends each alone, N in IoT Hub's JSON batch
	BodyBytes int
	C2DPerDay float64 // C2D lifecycles (send, receive, complete, feedback) per device per day
}

// Messages is the telemetry messages of a month.
func (f Profile) Messages() float64 { return f.Devices * f.PerDay * daysPerMonth }

func (f Profile) batch() int { return max(f.Batch, 1) }

// Measured are the figures taken outside the template (measured.json).
type Measured struct {
	// DurationMs is the functions' median duration per request kind:
	// telemetry, telemetryBatch100, c2dSend, c2dReceive, c2dComplete,
	// feedbackReceive, feedbackComplete, sweep.
	DurationMs map[string]float64
	// LifecycleWCU and LifecycleRCU are the DynamoDB units of one C2D
	// lifecycle (send, receive, complete, feedback; ack=full, 1 KB).
	LifecycleWCU, LifecycleRCU float64
}

// Options are the model's assumptions beyond template and measurements.
type Options struct {
	Record RecordSize // default: the stack's record version (Stack.RecordVersion)
	// EventualReads prices the registry read of each request as eventually
	// consistent (0.5 RRU) instead of strongly consistent (1 RRU).
	EventualReads bool
	// ResponseBytes is what each response sends back to the internet
	// (status line, headers, TLS record), default 200; a new TLS
	// connection per request adds its handshake (~4-6 KB).
	ResponseBytes float64
	// DeviceBytes is the registry and queue storage per device, default
	// 1 KB; the registry item's size too, which sets a device read's units
	// (one per 4 KB strongly consistent, half that eventually).
	DeviceBytes float64
	// StreamUtilization is the share of a shard's limits provisioned
	// capacity is sized for, default 0.8 (the StreamCapacity alarm).
	StreamUtilization float64
}

func (o Options) withDefaults() Options {
	if o.ResponseBytes == 0 {
		o.ResponseBytes = 200
	}
	if o.DeviceBytes == 0 {
		o.DeviceBytes = 1 << 10
	}
	if o.StreamUtilization == 0 {
		o.StreamUtilization = 0.8
	}
	return o
}

// registryReads is the bill line of the device-key reads.
const registryReads = "registry reads (device keys)"

// Line is one item of a monthly bill.
type Line struct {
	Service string
	What    string
	Month   float64 // dollars a month
}

// Bill is a month of one stack serving one profile.
type Bill struct {
	Stack       string
	Profile     Profile
	Lines       []Line
	Messages    float64 // telemetry messages
	Requests    float64 // requests to the functions (device and service)
	RecordBytes int
	Shards      int     // provisioned shards the traffic needs (at least the template's); 0 on-demand
	CacheHit    float64 // share of device requests served by the warm function's key cache
	Concurrency float64 // ingress instances busy on average
	// Throttled says why the stack cannot carry the profile (capacity
	// below the demand, even at its maximum); empty when it can.
	Throttled []string
}

// Total is the bill's sum.
func (b Bill) Total() float64 {
	t := 0.0
	for _, l := range b.Lines {
		t += l.Month
	}
	return t
}

// By is the sum of a service's lines.
func (b Bill) By(service string) float64 {
	t := 0.0
	for _, l := range b.Lines {
		if l.Service == service {
			t += l.Month
		}
	}
	return t
}

// Kinesis's write limits per shard and meters.
const (
	shardRecordsPerSecond = 1000
	shardBytesPerSecond   = 1 << 20
	putPayloadUnit        = 25 << 10
	onDemandRecordUnit    = 1 << 10
	httpAPIMeter          = 512 << 10
)

// Log line sizes. CloudWatch Logs bills each event's bytes plus 26 of
// metadata. Lambda's platform lines per invocation (START, END, REPORT as
// text; platform.start and platform.report as JSON) are written only at
// system log level INFO or DEBUG.
const (
	logEventOverhead      = 26
	platformBytesText     = 80 + 60 + 190 + 3*logEventOverhead
	platformBytesJSON     = 170 + 430 + 2*logEventOverhead
	logCompressedFraction = 0.15 // archived logs are billed compressed
)

// Estimate prices a month of profile f on stack s.
func Estimate(s Stack, p Prices, m Measured, o Options, f Profile) Bill {
	o = o.withDefaults()
	record := o.Record
	if record == nil {
		record = s.Record()
	}
	b := Bill{Stack: s.Name, Profile: f, Messages: f.Messages(), RecordBytes: record(f.BodyBytes)}
	add := func(service, what string, month float64) {
		b.Lines = append(b.Lines, Line{Service: service, What: what, Month: month})
	}
	batch := f.batch()
	telemetryReqs := b.Messages / float64(batch)
	lifecycles := f.Devices * f.C2DPerDay * daysPerMonth
	// A C2D lifecycle: the service sends and reads and completes the
	// feedback; the device receives and completes.
	deviceReqs := telemetryReqs + 2*lifecycles
	serviceReqs := 3 * lifecycles
	b.Requests = deviceReqs + serviceReqs

	// API Gateway: every request, or (function URL) the service routes only.
	reqBytes := float64(len(ReferenceBody(f.BodyBytes)))
	if batch > 1 {
		reqBytes = float64(batch) * (math.Ceil(reqBytes/3)*4 + 90) // base64 bodies and three properties each
	}
	meters := math.Ceil(reqBytes / httpAPIMeter)
	switch s.API {
	case HTTPAPI:
		add("API Gateway", "HTTP API requests", tiered((telemetryReqs*meters+2*lifecycles+serviceReqs)/million, p.HTTPAPIPerMillion))
	case RESTAPI:
		add("API Gateway", "REST API requests", tiered(b.Requests/million, p.RESTAPIPerMillion))
	case FunctionURL:
		add("API Gateway", "HTTP API requests (service routes)", tiered(serviceReqs/million, p.HTTPAPIPerMillion))
	}

	// Lambda: requests and GB-seconds, each invocation billed in whole ms.
	d := func(kind string) float64 { return math.Ceil(m.DurationMs[kind]) / 1000 }
	telemetryDur := d("telemetry")
	if batch > 1 {
		single, hundred := m.DurationMs["telemetry"], m.DurationMs["telemetryBatch100"]
		telemetryDur = math.Ceil(single+(hundred-single)*float64(batch-1)/99) / 1000
	}
	gb := func(role string) float64 { return float64(s.Functions[role].MemoryMB) / 1024 }
	ingressSec := telemetryReqs*telemetryDur + lifecycles*(d("c2dReceive")+d("c2dComplete"))
	serviceSec := lifecycles * (d("c2dSend") + d("feedbackReceive") + d("feedbackComplete"))
	sweepSec := s.SweepsPerMonth * d("sweep")
	invocations := b.Requests + s.SweepsPerMonth
	add("Lambda", "requests", invocations/million*p.LambdaRequestPerMillion)
	gbs := map[string]float64{}
	for role, sec := range map[string]float64{Ingress: ingressSec, Service: serviceSec, Sweeper: sweepSec} {
		gbs[s.Functions[role].Arch] += sec * gb(role)
	}
	add("Lambda", "compute (GB-s)", tiered(gbs["arm64"], p.LambdaGBSecondARM)+tiered(gbs["x86_64"], p.LambdaGBSecondX86))

	// CloudWatch Logs: Lambda's platform lines and the API's access log.
	lambdaLogBytes := 0.0
	for role, n := range map[string]float64{Ingress: deviceReqs, Service: serviceReqs, Sweeper: s.SweepsPerMonth} {
		switch fn := s.Functions[role]; {
		case fn.SystemLogLevel == "WARN":
		case fn.LogFormat == "JSON":
			lambdaLogBytes += n * platformBytesJSON
		default:
			lambdaLogBytes += n * platformBytesText
		}
	}
	accessLogBytes := 0.0
	if s.AccessLogFormat != "" {
		through := b.Requests
		if s.API == FunctionURL {
			through = serviceReqs
		}
		accessLogBytes = through * float64(accessLogLineBytes(s.AccessLogFormat)+logEventOverhead)
	}
	add("CloudWatch Logs", "Lambda platform lines (START/END/REPORT)", tiered(lambdaLogBytes/gib, p.LambdaLogsGB))
	add("CloudWatch Logs", "API access logs", accessLogBytes/gib*p.LogsIngestGB)
	add("CloudWatch Logs", "archive (one month, compressed)", (lambdaLogBytes+accessLogBytes)/gib*logCompressedFraction*p.LogsStorageGBMonth)

	// Kinesis: one record per message, read once by one consumer.
	records, rec := b.Messages, float64(b.RecordBytes)
	retained := max(s.Stream.RetentionHours-24, 0)
	if s.Stream.OnDemand {
		add("Kinesis", "on-demand stream-hours", hoursPerMonth*p.KinesisOnDemandStreamHour)
		add("Kinesis", "on-demand data in (records rounded up to 1 KB)", records*math.Ceil(rec/onDemandRecordUnit)*onDemandRecordUnit/gib*p.KinesisOnDemandInGB)
		add("Kinesis", "on-demand data out (one consumer)", records*rec/gib*p.KinesisOnDemandOutGB)
		add("Kinesis", "extended retention", records*rec/gib/daysPerMonth*retained/24*p.KinesisExtendedGBMonth)
	} else {
		rps, bps := records/secPerMonth, records*rec/secPerMonth
		need := int(math.Ceil(max(rps/shardRecordsPerSecond, bps/shardBytesPerSecond) / o.StreamUtilization))
		b.Shards = max(s.Stream.Shards, need)
		add("Kinesis", "shard-hours", float64(b.Shards)*hoursPerMonth*p.KinesisShardHour)
		add("Kinesis", "PUT payload units (25 KB)", records*math.Ceil(rec/putPayloadUnit)/million*p.KinesisPUTUnitPerMillion)
		if retained > 0 {
			add("Kinesis", "extended retention", float64(b.Shards)*hoursPerMonth*p.KinesisExtendedShardHour)
		}
	}

	// DynamoDB: the registry read of each device request the key cache
	// does not serve, the C2D lifecycles, the sweeps, storage.
	deviceRate := deviceReqs / secPerMonth
	b.Concurrency = deviceRate * telemetryDur
	b.CacheHit = CacheHitRate(s.AuthCacheTTL, s.AuthCacheSize, f, deviceReqs, b.Concurrency)
	if n := s.IngressConcurrency; n > 0 && b.Concurrency/instanceUtilization > float64(n) {
		b.Throttled = append(b.Throttled, fmt.Sprintf("the ingress function needs %.0f instances at %.0f%% (%.0f busy on average), above its reserved concurrency of %d",
			math.Ceil(b.Concurrency/instanceUtilization), 100*instanceUtilization, b.Concurrency, n))
	}
	// A read unit reads 4 KB strongly consistent, twice eventually.
	readUnits := math.Ceil(o.DeviceBytes / (4 << 10))
	if o.EventualReads {
		readUnits /= 2
	}
	registryUnits := deviceReqs * (1 - b.CacheHit) * readUnits
	lifecycleRCU := m.LifecycleRCU
	if s.Registry.Provisioned {
		// A C2D send reads the device strongly consistent (one of the
		// lifecycle's measured read units): from the provisioned table.
		lifecycleRCU -= c2dSendRegistryRCU
		b.provisionRegistry(s.Registry, (registryUnits+lifecycles*c2dSendRegistryRCU)/secPerMonth, p, add)
	} else {
		add("DynamoDB", registryReads, registryUnits/million*p.DynamoRRUPerMillion)
	}
	add("DynamoDB", "C2D lifecycles", lifecycles*(m.LifecycleWCU*p.DynamoWRUPerMillion+lifecycleRCU*p.DynamoRRUPerMillion)/million)
	add("DynamoDB", "sweeps (every index shard, eventually consistent)", s.SweepsPerMonth*schema.C2DShards*0.5/million*p.DynamoRRUPerMillion)
	add("DynamoDB", "storage and point-in-time recovery", f.Devices*o.DeviceBytes/gib*(p.DynamoStorageGBMonth+p.DynamoPITRGBMonth))

	// Fixed: keys, secret, alarms, dashboard, schedule.
	if s.Stream.CustomerKey {
		// Kinesis asks for a data key about every five minutes per producer
		// and consumer.
		users := math.Max(1, math.Ceil(b.Concurrency)) + 1
		add("KMS", "stream key requests", users*12*hoursPerMonth/1e4*p.KMSRequestsPer10k)
	}
	add("KMS", "customer managed keys", float64(s.CustomerKeys)*p.KMSKeyMonth)
	add("Secrets Manager", "owner key secret", float64(s.Secrets)*p.SecretMonth)
	add("CloudWatch", "alarm metrics", float64(s.AlarmMetrics+s.Registry.ScalingAlarms)*p.AlarmMetricMonth)
	add("CloudWatch", "dashboards", float64(s.Dashboards)*p.DashboardMonth)
	add("EventBridge", "sweep schedule", s.SweepsPerMonth*p.ScheduledRuleEvent)
	add("Data transfer", "responses to the internet", tiered(b.Requests*o.ResponseBytes/gib, p.DataOutGB))
	return b
}

// instanceUtilization is the share of the ingress function's reserved
// concurrency a steady profile may keep busy on average, as shards are
// sized at 80 %: requests do not arrive evenly.
const instanceUtilization = 0.8

// c2dSendRegistryRCU is the registry read of a C2D send (strongly
// consistent, an item under 4 KB), part of Measured.LifecycleRCU.
const c2dSendRegistryRCU = 1.0

// provisionRegistry prices a provisioned registry table: each dimension
// at the capacity its auto scaling settles on for a steady demand (the
// demand over the target utilization, within its range). The table's
// reads carry readsPerSec, the device-key reads; the rest (registry
// writes, the sweeper's index queries) are rare enough to sit at their
// minimum.
func (b *Bill) provisionRegistry(r Registry, readsPerSec float64, p Prices, add func(service, what string, month float64)) {
	var reads, other float64
	for _, c := range r.Capacity {
		demand := 0.0
		if c.TableReads() {
			demand = readsPerSec
		}
		units := math.Max(c.Min, demand/(c.Target/100))
		if units > c.Max {
			b.Throttled = append(b.Throttled, fmt.Sprintf("the registry table needs %.0f read capacity units at %.0f%% utilization, above its maximum of %.0f", math.Ceil(units), c.Target, c.Max))
			units = c.Max
		}
		price := p.DynamoRCUHour
		if c.Write {
			price = p.DynamoWCUHour
		}
		if c.TableReads() {
			reads += units * hoursPerMonth * price
		} else {
			other += units * hoursPerMonth * price
		}
	}
	add("DynamoDB", registryReads, reads)
	add("DynamoDB", "registry writes and index (provisioned minimum)", other)
}

// Idle is the profile of a hub without traffic.
var Idle = Profile{Name: "idle"}

// PerMillion is what a million messages of profile f add to the idle
// bill of s, in dollars.
func PerMillion(s Stack, p Prices, m Measured, o Options, f Profile) float64 {
	busy, idle := Estimate(s, p, m, o, f), Estimate(s, p, m, o, Idle)
	if busy.Messages == 0 {
		return 0
	}
	return (busy.Total() - idle.Total()) / busy.Messages * million
}

// CacheHitRate is the share of device requests whose device key a warm
// ingress function still has cached. Lambda spreads a device's requests
// over its warm instances (about the concurrency), so a request hits only
// if one of the device's requests within the TTL before it reached the
// same instance, and that instance kept the key among the size most recent
// devices it saw within the TTL.
func CacheHitRate(ttl time.Duration, size int, f Profile, deviceReqs, concurrency float64) float64 {
	if ttl <= 0 || f.Devices == 0 || deviceReqs == 0 {
		return 0
	}
	interval := secPerMonth * f.Devices / deviceReqs // seconds between one device's requests
	earlier := math.Floor(ttl.Seconds() / interval)
	if earlier < 1 {
		return 0
	}
	n := math.Max(1, math.Ceil(concurrency))
	same := 1 - math.Pow(1-1/n, earlier)
	seen := math.Min(f.Devices, deviceReqs/secPerMonth/n*ttl.Seconds()) // devices one instance sees within the TTL
	return same * math.Min(1, float64(size)/seen)
}
