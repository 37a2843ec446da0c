package costmodel

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// API flavours, as the template shows them.
const (
	HTTPAPI     = "http" // API Gateway HTTP API in front of every route
	RESTAPI     = "rest" // API Gateway REST API
	FunctionURL = "url"  // device routes on a Lambda function URL, service routes on an HTTP API
)

// Stack is what the cost model needs to know of a synthesized hub stack.
type Stack struct {
	Name      string
	API       string
	Functions map[string]Function // by role: ingress, service, sweeper
	Stream    Stream
	// AccessLogFormat is the API stage's access log line ("" without
	// access logs); its size is estimated from representative values.
	AccessLogFormat string
	AlarmMetrics    int // metrics the alarms evaluate, each billed
	Dashboards      int
	CustomerKeys    int     // KMS keys the stack creates
	Secrets         int     // Secrets Manager secrets
	SweepsPerMonth  float64 // sweeper schedule
	AuthCacheTTL    time.Duration
	AuthCacheSize   int
	// RecordVersion is the telemetry record the ingress function writes
	// (its DEVICEHUB_RECORD_VERSION; the functions' default when unset).
	RecordVersion int
	// Registry is the device registry table's capacity mode.
	Registry Registry
	// IngressConcurrency is the ingress function's reserved concurrency,
	// the most instances it runs at once; 0 when unreserved.
	IngressConcurrency int
}

// Registry is how the device registry table is billed: on demand (per
// request unit) unless Provisioned.
type Registry struct {
	Provisioned bool
	// Capacity is each provisioned dimension (table and index, read and
	// write) with its auto scaling range, in template order of discovery.
	Capacity []Capacity
	// ScalingAlarms are the CloudWatch alarms target tracking creates
	// outside the template, billed like the stack's own.
	ScalingAlarms int
}

// targetTrackingAlarms: DynamoDB's target tracking keeps four alarms per
// dimension (consumed capacity high and low, provisioned capacity high
// and low).
const targetTrackingAlarms = 4

// Capacity is one provisioned dimension of the registry table.
type Capacity struct {
	Index string // "" for the table itself
	Write bool   // write capacity units; read otherwise
	// Min and Max bound auto scaling; both are the fixed units without it.
	Min, Max float64
	// Target is the utilization percent auto scaling keeps; 100 without it.
	Target float64
}

// TableReads says whether c is the table's own read capacity, the one the
// device-key reads consume.
func (c Capacity) TableReads() bool { return c.Index == "" && !c.Write }

// Function is one function's billed settings.
type Function struct {
	MemoryMB       int
	Arch           string // arm64 or x86_64
	LogFormat      string // Text or JSON
	SystemLogLevel string // INFO (START/END/REPORT written), WARN...
}

// Stream is the telemetry stream's capacity.
type Stream struct {
	OnDemand       bool
	Shards         int
	RetentionHours float64
	CustomerKey    bool
}

// Roles of the functions, as infra/hub names them.
const (
	Ingress = "ingress"
	Service = "service"
	Sweeper = "sweeper"
)

// resource is a template's resource, as far as the model reads it.
type resource struct {
	Type       string
	Properties map[string]any
}

// ReadTemplate reads a CloudFormation template as `cdk synth` writes it.
func ReadTemplate(name string, raw []byte) (Stack, error) {
	var t struct {
		Resources map[string]resource
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return Stack{}, fmt.Errorf("costmodel: template %s: %w", name, err)
	}
	s := Stack{Name: name, Functions: map[string]Function{}, AuthCacheTTL: defaultAuthCacheTTL, AuthCacheSize: defaultAuthCacheSize, RecordVersion: telemetry.Version}
	api := ""
	hasURL := false
	// The registry table is the one the ingress function is told of.
	var registryID string
	for id, r := range t.Resources {
		if r.Type == "AWS::Lambda::Function" && functionRole(id) == Ingress {
			registryID, _ = dig(r.Properties, "Environment", "Variables", schema.EnvDevicesTable, "Ref").(string)
		}
	}
	if tb, ok := t.Resources[registryID]; ok && tb.Type == "AWS::DynamoDB::Table" {
		s.Registry = readRegistry(tb.Properties)
	}
	for id, r := range t.Resources {
		p := r.Properties
		switch r.Type {
		case "AWS::ApplicationAutoScaling::ScalableTarget":
			if registryID != "" {
				if err := s.Registry.scaling(id, p, registryID, t.Resources); err != nil {
					return Stack{}, fmt.Errorf("costmodel: %s: %w", name, err)
				}
			}
		case "AWS::Lambda::Function":
			role := functionRole(id)
			if role == "" {
				continue
			}
			f := Function{MemoryMB: 128, Arch: "x86_64", LogFormat: "Text", SystemLogLevel: "INFO"}
			if m, ok := p["MemorySize"].(float64); ok {
				f.MemoryMB = int(m)
			}
			if a, ok := p["Architectures"].([]any); ok && len(a) == 1 {
				f.Arch = fmt.Sprint(a[0])
			}
			if lc, ok := p["LoggingConfig"].(map[string]any); ok {
				if v, ok := lc["LogFormat"].(string); ok {
					f.LogFormat = v
				}
				if v, ok := lc["SystemLogLevel"].(string); ok && f.LogFormat == "JSON" {
					f.SystemLogLevel = v
				}
			}
			s.Functions[role] = f
			if role == Ingress {
				if n, ok := p["ReservedConcurrentExecutions"].(float64); ok {
					s.IngressConcurrency = int(n)
				}
				vars, _ := dig(p, "Environment", "Variables").(map[string]any)
				if v, ok := vars[schema.EnvAuthCacheTTL].(string); ok {
					d, err := time.ParseDuration(v)
					if err != nil {
						return Stack{}, fmt.Errorf("costmodel: %s: %s=%q: %w", name, schema.EnvAuthCacheTTL, v, err)
					}
					s.AuthCacheTTL = d
				}
				if v, ok := vars[envAuthCacheSize].(string); ok {
					n, err := strconv.Atoi(v)
					if err != nil {
						return Stack{}, fmt.Errorf("costmodel: %s: %s=%q: %w", name, envAuthCacheSize, v, err)
					}
					s.AuthCacheSize = n
				}
				if v, ok := vars[schema.EnvRecordVersion].(string); ok {
					n, err := strconv.Atoi(v)
					if _, known := Records()[RecordName(n)]; err != nil || !known {
						return Stack{}, fmt.Errorf("costmodel: %s: %s=%q is no record version the model knows", name, schema.EnvRecordVersion, v)
					}
					s.RecordVersion = n
				}
			}
		case "AWS::Kinesis::Stream":
			// The telemetry stream (Hub/Telemetry), not a routing endpoint's
			// (Hub/MessageRouting/Endpoints/...), which the routing figures price.
			if !strings.Contains(id, schema.Telemetry.ID) || strings.Contains(id, "MessageRouting") {
				continue
			}
			s.Stream.RetentionHours = 24
			if h, ok := p["RetentionPeriodHours"].(float64); ok {
				s.Stream.RetentionHours = h
			}
			s.Stream.OnDemand = dig(p, "StreamModeDetails", "StreamMode") != "PROVISIONED"
			if n, ok := p["ShardCount"].(float64); ok {
				s.Stream.Shards = int(n)
			}
			s.Stream.CustomerKey = dig(p, "StreamEncryption", "KeyId") != "alias/aws/kinesis" && dig(p, "StreamEncryption") != nil
		case "AWS::ApiGatewayV2::Api":
			if api == "" {
				api = HTTPAPI
			}
		case "AWS::ApiGateway::RestApi":
			api = RESTAPI
		case "AWS::Lambda::Url":
			hasURL = true
		case "AWS::ApiGatewayV2::Stage":
			if f, ok := dig(p, "AccessLogSettings", "Format").(string); ok {
				s.AccessLogFormat = f
			}
		case "AWS::ApiGateway::Stage":
			if f, ok := dig(p, "AccessLogSetting", "Format").(string); ok {
				s.AccessLogFormat = f
			}
		case "AWS::CloudWatch::Alarm":
			if p["MetricName"] != nil {
				s.AlarmMetrics++
				continue
			}
			ms, _ := p["Metrics"].([]any)
			for _, m := range ms {
				if dig(m, "MetricStat") != nil {
					s.AlarmMetrics++
				}
			}
		case "AWS::CloudWatch::Dashboard":
			s.Dashboards++
		case "AWS::KMS::Key":
			s.CustomerKeys++
		case "AWS::SecretsManager::Secret":
			s.Secrets++
		case "AWS::Events::Rule":
			if e, ok := p["ScheduleExpression"].(string); ok {
				every, err := rate(e)
				if err != nil {
					return Stack{}, fmt.Errorf("costmodel: %s: %w", name, err)
				}
				s.SweepsPerMonth += hoursPerMonth * float64(time.Hour) / float64(every)
			}
		}
	}
	s.API = api
	if hasURL {
		s.API = FunctionURL
	}
	for _, role := range []string{Ingress, Service, Sweeper} {
		if _, ok := s.Functions[role]; !ok {
			return Stack{}, fmt.Errorf("costmodel: %s: no %s function: not a devicehub template", name, role)
		}
	}
	if s.API == "" {
		return Stack{}, fmt.Errorf("costmodel: %s: no API", name)
	}
	return s, nil
}

// functionRole is the role of a function by the hub's construct ids
// (Hub/Ingress, Hub/Service, Hub/Sweeper), "" for any other function.
func functionRole(id string) string {
	for _, name := range []string{Ingress, Service, Sweeper} {
		if strings.Contains(id, strings.ToUpper(name[:1])+name[1:]) {
			return name
		}
	}
	return ""
}

// readRegistry reads the registry table's billing mode and provisioned
// throughput (table and indexes); auto scaling ranges come after.
func readRegistry(p map[string]any) Registry {
	if p["BillingMode"] == "PAY_PER_REQUEST" {
		return Registry{} // CloudFormation's default, and CDK's omission, is PROVISIONED
	}
	reg := Registry{Provisioned: true}
	add := func(index string, tp any) {
		for _, w := range []bool{false, true} {
			key := "ReadCapacityUnits"
			if w {
				key = "WriteCapacityUnits"
			}
			n, _ := dig(tp, key).(float64)
			reg.Capacity = append(reg.Capacity, Capacity{Index: index, Write: w, Min: n, Max: n, Target: 100})
		}
	}
	add("", p["ProvisionedThroughput"])
	gsis, _ := p["GlobalSecondaryIndexes"].([]any)
	for _, g := range gsis {
		name, _ := dig(g, "IndexName").(string)
		add(name, dig(g, "ProvisionedThroughput"))
	}
	return reg
}

// scaling applies one auto scaling target (and its target-tracking policy)
// to the registry dimension it scales, if it scales one: its ResourceId is
// table/<registry table>[/index/<name>].
func (r *Registry) scaling(id string, p map[string]any, registryID string, resources map[string]resource) error {
	parts, _ := dig(p, "ResourceId", "Fn::Join").([]any)
	if len(parts) != 2 {
		return nil
	}
	elems, _ := parts[1].([]any)
	refsRegistry, index := false, ""
	for _, e := range elems {
		switch v := e.(type) {
		case map[string]any:
			refsRegistry = refsRegistry || v["Ref"] == registryID
		case string:
			if _, name, ok := strings.Cut(v, "/index/"); ok {
				index = name
			}
		}
	}
	if !refsRegistry {
		return nil
	}
	dim, _ := p["ScalableDimension"].(string)
	write := strings.HasSuffix(dim, ":WriteCapacityUnits")
	target := 0.0
	for _, res := range resources {
		if res.Type == "AWS::ApplicationAutoScaling::ScalingPolicy" && dig(res.Properties, "ScalingTargetId", "Ref") == id {
			target, _ = dig(res.Properties, "TargetTrackingScalingPolicyConfiguration", "TargetValue").(float64)
			r.ScalingAlarms += targetTrackingAlarms
		}
	}
	if target <= 0 || target > 100 {
		return fmt.Errorf("auto scaling target %s (%s) has no target-tracking utilization the model can price", id, dim)
	}
	for i := range r.Capacity {
		c := &r.Capacity[i]
		if c.Index == index && c.Write == write {
			c.Min, _ = p["MinCapacity"].(float64)
			c.Max, _ = p["MaxCapacity"].(float64)
			c.Target = target
			return nil
		}
	}
	return fmt.Errorf("auto scaling target %s scales %s %q, which the registry table does not provision", id, dim, index)
}

// Defaults of the functions' device-key cache, for templates that do not
// set it (internal/config's TTL, registry.AuthConfig's size).
const (
	defaultAuthCacheTTL  = 30 * time.Second
	defaultAuthCacheSize = 10_000
	envAuthCacheSize     = "DEVICEHUB_AUTH_CACHE_SIZE" // infra/hub.EnvAuthCacheSize
)

var rateRE = regexp.MustCompile(`^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$`)

// rate reads an EventBridge rate expression.
func rate(expr string) (time.Duration, error) {
	m := rateRE.FindStringSubmatch(expr)
	if m == nil {
		return 0, fmt.Errorf("schedule %q is not a rate expression", expr)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[strings.TrimSuffix(m[2], "s")]
	return time.Duration(n) * unit, nil
}

// dig follows keys through nested objects.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// contextValues are representative values of the access log variables, to
// estimate a line's size: a device's telemetry POST.
var contextValues = map[string]string{
	"requestId": "Ab1Cd2Ef3Gh4Ij=", "extendedRequestId": "Ab1Cd2Ef3Gh4Ij=", "identity.sourceIp": "203.0.113.10",
	"requestTime": "27/Nov/2026:09:00:00 +0000", "requestTimeEpoch": "1795683600000", "httpMethod": "POST",
	"routeKey": "POST /devices/{id}/messages/events", "resourcePath": "/devices/{id}/messages/events",
	"path": "/devices/device-000001/messages/events", "status": "204", "protocol": "HTTP/1.1", "responseLength": "0",
	"integrationLatency": "12", "integrationErrorMessage": "-", "integration.error": "-",
	"identity.userAgent": "azure-iot-device/1.18.4 (node v20.20.2; Linux; x64)", "identity.caller": "-", "identity.user": "-",
}

var contextVarRE = regexp.MustCompile(`\$context\.([A-Za-z.]+)`)

// accessLogLineBytes is the estimated size of one access log line.
func accessLogLineBytes(format string) int {
	return len(contextVarRE.ReplaceAllStringFunc(format, func(v string) string {
		if val, ok := contextValues[strings.TrimPrefix(v, "$context.")]; ok {
			return val
		}
		return "0123456789abcdef"
	}))
}

const hoursPerMonth = 730

// AccessLogLineBytes is the estimated size of one access log line of format.
func AccessLogLineBytes(format string) int { return accessLogLineBytes(format) }
