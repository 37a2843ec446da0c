package costmodel

import (
	"math"
	"strings"
	"testing"
	"time"
)

// handStack is a stack as ReadTemplate would describe it, without a template.
func handStack() Stack {
	fn := Function{MemoryMB: 256, Arch: "arm64", LogFormat: "JSON", SystemLogLevel: "WARN"}
	return Stack{
		Name: "hand", API: HTTPAPI,
		Functions:    map[string]Function{Ingress: fn, Service: fn, Sweeper: fn},
		Stream:       Stream{Shards: 1, RetentionHours: 24},
		AlarmMetrics: 30, Dashboards: 1, Secrets: 1, SweepsPerMonth: 43_800,
		AuthCacheTTL: 30 * time.Second, AuthCacheSize: 10_000,
	}
}

func handMeasured() Measured {
	return Measured{
		DurationMs: map[string]float64{
			"telemetry": 10, "telemetryBatch100": 40, "c2dSend": 8, "c2dReceive": 8, "c2dComplete": 5,
			"feedbackReceive": 8, "feedbackComplete": 5, "sweep": 20,
		},
		LifecycleWCU: 10, LifecycleRCU: 2,
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestEstimateByHand holds the model against a month worked out by hand:
// 1,000 devices sending a 1 KB message a minute (43.8 million) through the
// HTTP API to one provisioned shard, records of 1,500 B, no logs.
func TestEstimateByHand(t *testing.T) {
	f := Profile{Name: "hand", Devices: 1000, PerDay: 1440, Batch: 1, BodyBytes: 1024}
	o := Options{Record: FixedEnvelope(476)}
	b := Estimate(handStack(), USEast1(), handMeasured(), o, f)
	const msgs = 43_800_000.0 // 1000 × 1440 × 730/24
	gbs := msgs*0.010*0.25 + 43_800*0.020*0.25
	want := map[string]float64{
		"API Gateway":     msgs / 1e6 * 1.00,
		"Lambda":          (msgs+43_800)/1e6*0.20 + gbs*0.0000133334,
		"CloudWatch Logs": 0,
		// 16.7 records/s of 1,500 B fit one shard; each record is one 25 KB unit.
		"Kinesis": 730*0.015 + msgs/1e6*0.014,
		// A device sending every minute never finds its key in a 30 s cache:
		// one strongly consistent read per message; sweeps read 8 shards at
		// 0.5 units; 1 KB per device stored with point-in-time recovery.
		"DynamoDB":        msgs/1e6*0.125 + 43_800*8*0.5/1e6*0.125 + 1000*1024.0/(1<<30)*(0.25+0.20),
		"KMS":             0,
		"Secrets Manager": 0.40,
		"CloudWatch":      30*0.10 + 3.00,
		"EventBridge":     0,
		"Data transfer":   msgs * 200 / (1 << 30) * 0.09,
	}
	total := 0.0
	for svc, w := range want {
		if got := b.By(svc); !near(got, w) {
			t.Errorf("%s: $%.6f, want $%.6f", svc, got, w)
		}
		total += w
	}
	if !near(b.Total(), total) {
		t.Errorf("total $%.6f, want $%.6f (lines %+v)", b.Total(), total, b.Lines)
	}
	if b.Messages != msgs || b.Shards != 1 || b.RecordBytes != 1500 || b.CacheHit != 0 {
		t.Errorf("messages %v shards %d record %d hits %v", b.Messages, b.Shards, b.RecordBytes, b.CacheHit)
	}
	// What the traffic adds to the idle month, per million messages.
	idle := 43_800/1e6*0.20 + 43_800*0.020*0.25*0.0000133334 + 730*0.015 + 43_800*8*0.5/1e6*0.125 + 0.40 + 30*0.10 + 3.00
	if got, w := PerMillion(handStack(), USEast1(), handMeasured(), o, f), (total-idle)/msgs*1e6; !near(got, w) {
		t.Errorf("per million $%.6f, want $%.6f", got, w)
	}
	// Eventually consistent reads halve the registry's part.
	o.EventualReads = true
	if got, w := Estimate(handStack(), USEast1(), handMeasured(), o, f).By("DynamoDB"), want["DynamoDB"]-msgs/1e6*0.125/2; !near(got, w) {
		t.Errorf("eventual reads: DynamoDB $%.6f, want $%.6f", got, w)
	}
}

// TestEstimateSettings: each template setting moves the line it should.
func TestEstimateSettings(t *testing.T) {
	f := Profile{Devices: 1000, PerDay: 1440, Batch: 1, BodyBytes: 1024}
	p, m, o := USEast1(), handMeasured(), Options{Record: FixedEnvelope(476)}
	base := Estimate(handStack(), p, m, o, f)
	const msgs = 43_800_000.0
	for _, tc := range []struct {
		name    string
		change  func(*Stack)
		service string
		delta   float64
	}{
		{"REST API", func(s *Stack) { s.API = RESTAPI }, "API Gateway", msgs/1e6*3.50 - msgs/1e6*1.00},
		// The service routes stay on the HTTP API; no C2D here.
		{"function URL", func(s *Stack) { s.API = FunctionURL }, "API Gateway", -msgs / 1e6 * 1.00},
		{"on-demand stream", func(s *Stack) { s.Stream.OnDemand = true }, "Kinesis",
			730*0.04 + msgs*2048/(1<<30)*0.08 + msgs*1500/(1<<30)*0.04 - (730*0.015 + msgs/1e6*0.014)},
		{"platform lines", func(s *Stack) {
			fn := s.Functions[Ingress]
			fn.SystemLogLevel = "INFO"
			s.Functions = map[string]Function{Ingress: fn, Service: s.Functions[Service], Sweeper: s.Functions[Sweeper]}
		}, "CloudWatch Logs", msgs * platformBytesJSON / (1 << 30) * (0.50 + logCompressedFraction*0.03)},
		{"access logs", func(s *Stack) { s.AccessLogFormat = `{"status":"$context.status"}` }, "CloudWatch Logs",
			msgs * float64(len(`{"status":"204"}`)+26) / (1 << 30) * (0.50 + logCompressedFraction*0.03)},
		{"128 MB", func(s *Stack) {
			fn := s.Functions[Ingress]
			fn.MemoryMB = 128
			s.Functions = map[string]Function{Ingress: fn, Service: s.Functions[Service], Sweeper: s.Functions[Sweeper]}
		}, "Lambda", -msgs * 0.010 * 0.125 * 0.0000133334},
		{"customer key", func(s *Stack) { s.CustomerKeys, s.Stream.CustomerKey = 1, true }, "KMS", 1.00 + 2*12*730/1e4*0.03},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := handStack()
			tc.change(&s)
			b := Estimate(s, p, m, o, f)
			if got := b.By(tc.service) - base.By(tc.service); !near(got, tc.delta) {
				t.Errorf("%s moved by $%.6f, want $%.6f", tc.service, got, tc.delta)
			}
			if got := b.Total() - base.Total(); !near(got, tc.delta) {
				t.Errorf("total moved by $%.6f, want $%.6f", got, tc.delta)
			}
		})
	}
}

func TestProvisionedShardsFollowTraffic(t *testing.T) {
	// 1M devices a minute: 16,667 records/s of 1,500 B = 23.8 MiB/s: 24
	// shards by bytes at full use, 30 at 80 %.
	b := Estimate(handStack(), USEast1(), handMeasured(), Options{Record: FixedEnvelope(476)}, Profile{Devices: 1e6, PerDay: 1440, Batch: 1, BodyBytes: 1024})
	if b.Shards != 30 {
		t.Errorf("%d shards, want 30", b.Shards)
	}
}

func TestCacheHitRate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ttl         time.Duration
		devices     float64
		every       time.Duration
		concurrency float64
		want        float64
	}{
		{"off", 0, 100, 10 * time.Second, 1, 0},
		{"sends slower than the TTL", 30 * time.Second, 100, time.Minute, 1, 0},
		{"one warm instance", 30 * time.Second, 100, 10 * time.Second, 0.1, 1},
		// Two earlier requests within the TTL, each on one of 4 instances.
		{"four instances", 30 * time.Second, 100, 15 * time.Second, 4, 1 - 0.75*0.75},
		// 53 requests/s over 2 instances: each sees 800 requests (all 800
		// devices) in 30 s and keeps 100 of them.
		{"cache too small", 30 * time.Second, 800, 15 * time.Second, 1.5, (1 - 0.5*0.5) * 100 / 800},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Profile{Devices: tc.devices, PerDay: 86400 / tc.every.Seconds()}
			size := 10_000
			if tc.name == "cache too small" {
				size = 100
			}
			if got := CacheHitRate(tc.ttl, size, f, f.Messages(), tc.concurrency); !near(got, tc.want) {
				t.Errorf("hit rate %v, want %v", got, tc.want)
			}
		})
	}
}

func TestComparisons(t *testing.T) {
	p := USEast1()
	if tier, units, month, ok := IoTHubBill(p, Fleet); !ok || tier.Name != "S3" || units != 5 || month != 12_500 {
		t.Errorf("fleet on IoT Hub: %d x %s $%v (%v), want 5 x S3 $12,500", units, tier.Name, month, ok)
	}
	if tier, units, _, _ := IoTHubBill(p, SingleKB); tier.Name != "S2" || units != 3 {
		t.Errorf("14.4M messages a day: %d x %s, want 3 x S2", units, tier.Name)
	}
	for name, want := range map[string]float64{"S1": 25 / (400_000 * 730 / 24.0) * 1e6, "S3": 2500 / (300e6 * 730 / 24.0) * 1e6} {
		for _, tier := range p.IoTHub {
			if tier.Name == name && !near(IoTHubFullQuota(tier), want) {
				t.Errorf("%s full quota $%v/M, want %v", name, IoTHubFullQuota(tier), want)
			}
		}
	}
	// A million 1 KB messages over HTTPS: messaging, a rule and an action.
	f := Profile{Devices: 1e6 / (730 / 24.0), PerDay: 1, BodyBytes: 1024}
	b := IoTCoreBill(p, f, false, false)
	if got := b.By("AWS IoT Core"); !near(got, 1.00+0.15+0.15) {
		t.Errorf("IoT Core $%v per million, want 1.30", got)
	}
	if got := IoTCoreBill(p, f, true, false).By("AWS IoT Core"); !near(got, 0.30) {
		t.Errorf("Basic Ingest $%v per million, want 0.30", got)
	}
}

// TestRecordSize: the v1 and v2 envelopes of the reference message, from
// the real encoder (issue 9: v2 at most 200 B), and a stand-in format.
func TestRecordSize(t *testing.T) {
	if n := len(ReferenceBody(1024)); n != 1024 {
		t.Fatalf("reference body %d B", n)
	}
	env := EnvelopeBytes(V1Record, 1024)
	if env < 400 || env > 600 {
		t.Errorf("v1 envelope %d B: not the ~525 B of issue 9", env)
	}
	if EnvelopeBytes(V1Record, 500) != env {
		t.Errorf("the envelope depends on the body's size")
	}
	if env2 := EnvelopeBytes(V2Record, 1024); env2 > 200 || env2 != EnvelopeBytes(V2Record, 500) {
		t.Errorf("v2 envelope %d B (%d B for a 500 B body), want at most 200 B whatever the body", env2, EnvelopeBytes(V2Record, 500))
	}
	if EnvelopeBytes(FixedEnvelope(120), 1024) != 120 {
		t.Error("fixed envelope")
	}
}

func TestTargetsSayWhy(t *testing.T) {
	s := handStack()
	vs := Evaluate([]Stack{s}, USEast1(), handMeasured(), Options{})
	if len(vs) != len(Targets()) {
		t.Fatalf("%d verdicts", len(vs))
	}
	for _, v := range vs {
		switch {
		case v.Unit == "$/M" && v.Target.Eligible(s) == false:
			if v.Best != "" || v.Met || !strings.Contains(v.Why, "no configuration") {
				t.Errorf("%s: %+v", v.Name, v)
			}
		case !v.Met:
			if !strings.Contains(v.Why, "best is hand") || !strings.Contains(v.Why, "over:") {
				t.Errorf("%s missed without a reason: %q", v.Name, v.Why)
			}
		}
	}
}

func TestReadTemplate(t *testing.T) {
	tmpl := `{"Resources":{
	  "HubIngressAB12":{"Type":"AWS::Lambda::Function","Properties":{"MemorySize":512,"Architectures":["arm64"],
	    "LoggingConfig":{"LogFormat":"JSON","SystemLogLevel":"WARN"},
	    "Environment":{"Variables":{"DEVICEHUB_AUTH_CACHE_TTL":"5m0s","DEVICEHUB_AUTH_CACHE_SIZE":"50000","DEVICEHUB_RECORD_VERSION":"1"}}}},
	  "HubServiceCD34":{"Type":"AWS::Lambda::Function","Properties":{"MemorySize":256}},
	  "HubSweeperEF56":{"Type":"AWS::Lambda::Function","Properties":{}},
	  "HubIngressFunctionUrl":{"Type":"AWS::Lambda::Url","Properties":{}},
	  "HubHttpApi":{"Type":"AWS::ApiGatewayV2::Api","Properties":{}},
	  "HubTelemetry":{"Type":"AWS::Kinesis::Stream","Properties":{"ShardCount":2,"StreamModeDetails":{"StreamMode":"PROVISIONED"},
	    "StreamEncryption":{"EncryptionType":"KMS","KeyId":"alias/aws/kinesis"},"RetentionPeriodHours":48}},
	  "A1":{"Type":"AWS::CloudWatch::Alarm","Properties":{"MetricName":"Duration"}},
	  "A2":{"Type":"AWS::CloudWatch::Alarm","Properties":{"Metrics":[{"Expression":"x"},{"MetricStat":{}},{"MetricStat":{}}]}},
	  "S":{"Type":"AWS::SecretsManager::Secret","Properties":{}},
	  "R":{"Type":"AWS::Events::Rule","Properties":{"ScheduleExpression":"rate(5 minutes)"}}}}`
	s, err := ReadTemplate("t", []byte(tmpl))
	if err != nil {
		t.Fatal(err)
	}
	in := s.Functions[Ingress]
	if s.API != FunctionURL || in.MemoryMB != 512 || in.SystemLogLevel != "WARN" || s.Functions[Service].SystemLogLevel != "INFO" ||
		s.Stream.OnDemand || s.Stream.Shards != 2 || s.Stream.CustomerKey || s.Stream.RetentionHours != 48 ||
		s.AlarmMetrics != 3 || s.Secrets != 1 || s.SweepsPerMonth != 730*12 || s.AuthCacheTTL != 5*time.Minute || s.AuthCacheSize != 50_000 ||
		s.AccessLogFormat != "" || s.Dashboards != 0 || s.RecordVersion != 1 {
		t.Errorf("%+v", s)
	}
	// With no record format given, a bill prices the stack's own.
	f := Profile{Name: "r", Devices: 1, PerDay: 1, Batch: 1, BodyBytes: 1024}
	if b := Estimate(s, USEast1(), handMeasured(), Options{}, f); b.RecordBytes != V1Record(1024) {
		t.Errorf("a v1 stack priced records of %d B, want %d", b.RecordBytes, V1Record(1024))
	}
	s.RecordVersion = 2
	if b := Estimate(s, USEast1(), handMeasured(), Options{}, f); b.RecordBytes != V2Record(1024) {
		t.Errorf("a v2 stack priced records of %d B, want %d", b.RecordBytes, V2Record(1024))
	}
	bad := strings.Replace(tmpl, `"DEVICEHUB_RECORD_VERSION":"1"`, `"DEVICEHUB_RECORD_VERSION":"7"`, 1)
	if _, err := ReadTemplate("t", []byte(bad)); err == nil {
		t.Error("a template with an unknown record version was read")
	}
	if _, err := ReadTemplate("t", []byte(`{"Resources":{}}`)); err == nil {
		t.Error("a template without the hub's functions was read")
	}
}

// A monthly target that the per-request lines alone nearly take is
// reported as the design's floor; one they do not approach is not.
func TestFloor(t *testing.T) {
	bill := Bill{Requests: 43.8e9, Lines: []Line{
		{Service: "Lambda", What: "requests", Month: 8760},
		{Service: "DynamoDB", What: registryReads, Month: 2737.5},
		{Service: "Kinesis", What: "records", Month: 843},
	}}
	monthly := Target{Limit: 12_500, Unit: "$/month"}
	got := floor(monthly, bill)
	for _, want := range []string{"43,800,000,000 requests", "$8,760", "$2,738", "$11,498 of the $12,500"} {
		if !strings.Contains(got, want) {
			t.Errorf("floor = %q, want it to hold %q", got, want)
		}
	}
	if got := floor(Target{Limit: 100_000, Unit: "$/month"}, bill); got != "" {
		t.Errorf("floor under a far limit = %q, want none", got)
	}
	if got := floor(Target{Limit: 1.3, Unit: "$/M"}, bill); got != "" {
		t.Errorf("floor of a per-million target = %q, want none", got)
	}
}

// TestProvisionedRegistry holds a provisioned registry against a month
// worked out by hand: the table's reads auto scale to the key reads over
// the target utilization, everything else stays at its minimum, and a
// demand above the maximum makes the stack unfit for the profile.
func TestProvisionedRegistry(t *testing.T) {
	s := handStack()
	s.Registry = Registry{Provisioned: true, Capacity: []Capacity{
		{Min: 100, Max: 40_000, Target: 70},
		{Write: true, Min: 5, Max: 1000, Target: 70},
		{Index: "byPendingEvent", Min: 5, Max: 1000, Target: 70},
		{Index: "byPendingEvent", Write: true, Min: 5, Max: 1000, Target: 70},
	}}
	o := Options{Record: FixedEnvelope(476), EventualReads: true}
	others := (5*0.00065 + 5*0.00013 + 5*0.00065) * 730
	for _, tc := range []struct {
		name    string
		devices float64
		reads   float64 // read capacity units auto scaling settles on
	}{
		// 1M devices a minute, no cache hits: 16,666.7 reads/s at half a
		// unit, 8,333.3 units consumed, 11,904.8 provisioned at 70 %.
		{"fleet", 1e6, 1e6 / 60 * 0.5 / 0.7},
		// 1,000 devices: 8.3 units consumed, 11.9 needed: the minimum holds.
		{"small", 1000, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Profile{Devices: tc.devices, PerDay: 1440, Batch: 1, BodyBytes: 1024}
			b := Estimate(s, USEast1(), handMeasured(), o, f)
			onDemand := Estimate(handStack(), USEast1(), handMeasured(), o, f)
			registry := func(b Bill) float64 {
				for _, l := range b.Lines {
					if l.What == registryReads {
						return l.Month
					}
				}
				return math.NaN()
			}
			if got, w := registry(b), tc.reads*730*0.00013; !near(got, w) {
				t.Errorf("registry reads $%.4f, want $%.4f", got, w)
			}
			// The rest of the DynamoDB bill is the on-demand stack's, less
			// its per-read line, plus the minimum of the other dimensions.
			if got, w := b.By("DynamoDB"), onDemand.By("DynamoDB")-registry(onDemand)+tc.reads*730*0.00013+others; !near(got, w) {
				t.Errorf("DynamoDB $%.4f, want $%.4f", got, w)
			}
			if len(b.Throttled) != 0 {
				t.Errorf("throttled: %v", b.Throttled)
			}
		})
	}
	fleet := Profile{Devices: 1e6, PerDay: 1440, Batch: 1, BodyBytes: 1024}
	line := func(b Bill, what string) float64 {
		for _, l := range b.Lines {
			if l.What == what {
				return l.Month
			}
		}
		return math.NaN()
	}
	// Items over 4 KB (tags) take a unit per eventually consistent read.
	big := o
	big.DeviceBytes = 5 << 10
	if got, w := line(Estimate(s, USEast1(), handMeasured(), big, fleet), registryReads), 1e6/60*1/0.7*730*0.00013; !near(got, w) {
		t.Errorf("5 KB items: registry reads $%.4f, want $%.4f", got, w)
	}
	// A C2D send's strongly consistent device read comes out of the
	// provisioned capacity, not the lifecycle's on-demand units.
	c2d := Profile{Devices: 1000, C2DPerDay: 1440, BodyBytes: 1024}
	lifecycles := 1000 * 1440 * 730 / 24.0
	b := Estimate(s, USEast1(), handMeasured(), o, c2d)
	if got, w := line(b, "C2D lifecycles"), lifecycles*(10*0.625+(2-1)*0.125)/1e6; !near(got, w) {
		t.Errorf("C2D lifecycles $%.4f, want $%.4f", got, w)
	}
	// Device receives and completes (2 per lifecycle, half a unit each)
	// and the send's read (1 unit): 2 units per lifecycle, 16.7 lifecycles
	// a second: 33 units consumed, 48 at 70 %, under the 100-unit minimum.
	if got, w := line(b, registryReads), 100*730*0.00013; !near(got, w) {
		t.Errorf("C2D registry reads $%.4f, want $%.4f", got, w)
	}
	// An ingress function reserved below the profile's instances cannot
	// carry it: 16,667 requests/s of 10 ms keep 167 busy, 209 at 80 %.
	capped := s
	capped.IngressConcurrency = 200
	if b := Estimate(capped, USEast1(), handMeasured(), o, fleet); len(b.Throttled) != 1 || !strings.Contains(b.Throttled[0], "needs 209 instances") {
		t.Errorf("reserved concurrency 200: throttled %q", b.Throttled)
	}
	capped.IngressConcurrency = 210
	if b := Estimate(capped, USEast1(), handMeasured(), o, fleet); len(b.Throttled) != 0 {
		t.Errorf("reserved concurrency 210: throttled %q", b.Throttled)
	}

	s.Registry.Capacity[0].Max = 10_000
	b = Estimate(s, USEast1(), handMeasured(), o, fleet)
	if len(b.Throttled) != 1 || !strings.Contains(b.Throttled[0], "11905 read capacity units") {
		t.Errorf("a table whose maximum is below the demand: throttled %q", b.Throttled)
	}
	// Such a stack is no candidate for a target it cannot carry.
	for _, v := range Evaluate([]Stack{s}, USEast1(), handMeasured(), o) {
		if v.Profile.Devices == 1e6 && (v.Best != "" || !strings.Contains(v.Why, "can carry the traffic")) {
			t.Errorf("%s: best %q, why %q", v.Name, v.Best, v.Why)
		}
	}
}

func TestReadRegistryTemplate(t *testing.T) {
	tmpl := `{"Resources":{
	  "HubIngressAB12":{"Type":"AWS::Lambda::Function","Properties":{"ReservedConcurrentExecutions":500,
	    "Environment":{"Variables":{"DEVICEHUB_DEVICES_TABLE":{"Ref":"HubDevices12"}}}}},
	  "HubServiceCD34":{"Type":"AWS::Lambda::Function","Properties":{}},
	  "HubSweeperEF56":{"Type":"AWS::Lambda::Function","Properties":{}},
	  "HubHttpApi":{"Type":"AWS::ApiGatewayV2::Api","Properties":{}},
	  "HubDevicesArchive":{"Type":"AWS::DynamoDB::Table","Properties":{"BillingMode":"PAY_PER_REQUEST"}},
	  "HubDevices12":{"Type":"AWS::DynamoDB::Table","Properties":{"BillingMode":"PROVISIONED",
	    "ProvisionedThroughput":{"ReadCapacityUnits":100,"WriteCapacityUnits":5},
	    "GlobalSecondaryIndexes":[{"IndexName":"byPendingEvent","ProvisionedThroughput":{"ReadCapacityUnits":5,"WriteCapacityUnits":5}}]}},
	  "HubC2D34":{"Type":"AWS::DynamoDB::Table","Properties":{"BillingMode":"PAY_PER_REQUEST"}},
	  "ReadTarget":{"Type":"AWS::ApplicationAutoScaling::ScalableTarget","Properties":{"MinCapacity":100,"MaxCapacity":40000,
	    "ResourceId":{"Fn::Join":["",["table/",{"Ref":"HubDevices12"}]]},"ScalableDimension":"dynamodb:table:ReadCapacityUnits"}},
	  "ReadPolicy":{"Type":"AWS::ApplicationAutoScaling::ScalingPolicy","Properties":{"ScalingTargetId":{"Ref":"ReadTarget"},
	    "TargetTrackingScalingPolicyConfiguration":{"TargetValue":70}}},
	  "IndexTarget":{"Type":"AWS::ApplicationAutoScaling::ScalableTarget","Properties":{"MinCapacity":5,"MaxCapacity":1000,
	    "ResourceId":{"Fn::Join":["",["table/",{"Ref":"HubDevices12"},"/index/byPendingEvent"]]},"ScalableDimension":"dynamodb:index:WriteCapacityUnits"}},
	  "IndexPolicy":{"Type":"AWS::ApplicationAutoScaling::ScalingPolicy","Properties":{"ScalingTargetId":{"Ref":"IndexTarget"},
	    "TargetTrackingScalingPolicyConfiguration":{"TargetValue":50}}},
	  "OtherTarget":{"Type":"AWS::ApplicationAutoScaling::ScalableTarget","Properties":{"MinCapacity":1,"MaxCapacity":2,
	    "ResourceId":{"Fn::Join":["",["table/",{"Ref":"HubC2D34"}]]},"ScalableDimension":"dynamodb:table:ReadCapacityUnits"}}}}`
	s, err := ReadTemplate("t", []byte(tmpl))
	if err != nil {
		t.Fatal(err)
	}
	want := []Capacity{
		{Min: 100, Max: 40_000, Target: 70},
		{Write: true, Min: 5, Max: 5, Target: 100}, // not auto scaled: fixed
		{Index: "byPendingEvent", Min: 5, Max: 5, Target: 100},
		{Index: "byPendingEvent", Write: true, Min: 5, Max: 1000, Target: 50},
	}
	// The registry is the table the ingress function reads, not any
	// table named like it; each policy brings target tracking's alarms.
	if !s.Registry.Provisioned || len(s.Registry.Capacity) != len(want) || s.Registry.ScalingAlarms != 2*targetTrackingAlarms || s.IngressConcurrency != 500 {
		t.Fatalf("registry %+v, ingress concurrency %d", s.Registry, s.IngressConcurrency)
	}
	for i, c := range s.Registry.Capacity {
		if c != want[i] {
			t.Errorf("capacity %d: %+v, want %+v", i, c, want[i])
		}
	}
	// Each target applies to its own dimension.
	s, err = ReadTemplate("t", []byte(strings.Replace(tmpl, `"dynamodb:index:WriteCapacityUnits"`, `"dynamodb:index:ReadCapacityUnits"`, 1)))
	if err != nil {
		t.Fatalf("an index read target: %v", err)
	}
	if got, w := s.Registry.Capacity[2], (Capacity{Index: "byPendingEvent", Min: 5, Max: 1000, Target: 50}); got != w {
		t.Errorf("index read target applied as %+v, want %+v", got, w)
	}
	// A target on a dimension the table does not provision is an error,
	// not a guess.
	noIndex := strings.Replace(tmpl, `"GlobalSecondaryIndexes":[{"IndexName":"byPendingEvent","ProvisionedThroughput":{"ReadCapacityUnits":5,"WriteCapacityUnits":5}}]`, `"X":[]`, 1)
	if _, err := ReadTemplate("t", []byte(noIndex)); err == nil {
		t.Error("a target on an index the table lacks was read")
	}
	onDemand := tmpl[:strings.Index(tmpl, `"HubDevices12":`)] + `"HubDevices12":{"Type":"AWS::DynamoDB::Table","Properties":{"BillingMode":"PAY_PER_REQUEST"}}}}`
	if s, err := ReadTemplate("t", []byte(onDemand)); err != nil || s.Registry.Provisioned {
		t.Errorf("on-demand registry read as %+v, %v", s.Registry, err)
	}
}
