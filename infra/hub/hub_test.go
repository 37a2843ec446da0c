package hub_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/devicehub/devicehub/infra/hub"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/lambdagc"
	"github.com/devicehub/devicehub/internal/provision"
	"github.com/devicehub/devicehub/internal/schema"
)

func TestHTTPStack(t *testing.T) {
	f := synth(t, hub.Props{})
	checkCommon(t, f)
	t.Run("routes", func(t *testing.T) { checkHTTPRoutes(t, f) })
	t.Run("access logs", func(t *testing.T) {
		stages := f.resources("AWS::ApiGatewayV2::Stage")
		if len(stages) != 1 {
			t.Fatalf("%d stages, want 1", len(stages))
		}
		for _, s := range stages {
			if s["StageName"] != "$default" || s["AutoDeploy"] != true {
				t.Errorf("stage %v %v, want $default auto-deployed", s["StageName"], s["AutoDeploy"])
			}
			if got, want := canon(dig(s, "AccessLogSettings", "DestinationArn")), canon(getAtt(f.ref(t, f.hub.AccessLogs.LogGroupName()), "Arn")); got != want {
				t.Errorf("access log destination %s, want %s", got, want)
			}
			var format map[string]string
			if err := json.Unmarshal([]byte(dig(s, "AccessLogSettings", "Format").(string)), &format); err != nil || format["status"] != "$context.status" || format["routeKey"] != "$context.routeKey" {
				t.Errorf("access log format %v (%v)", dig(s, "AccessLogSettings", "Format"), err)
			}
		}
	})
	t.Run("alarms", func(t *testing.T) { checkAlarms(t, f, "5xx", createdTopic(t, f)) })
}

func TestRESTStack(t *testing.T) {
	f := synth(t, hub.Props{API: hub.RESTAPI})
	checkCommon(t, f)
	t.Run("routes", func(t *testing.T) { checkRESTRoutes(t, f) })
	t.Run("binary bodies and stage", func(t *testing.T) {
		apis := f.resources("AWS::ApiGateway::RestApi")
		if len(apis) != 1 {
			t.Fatalf("%d REST APIs", len(apis))
		}
		for _, a := range apis {
			if got := canon(a["BinaryMediaTypes"]); got != `["*/*"]` {
				t.Errorf("BinaryMediaTypes %s, want [*/*]", got)
			}
		}
		stages := f.resources("AWS::ApiGateway::Stage")
		if len(stages) != 1 {
			t.Fatalf("%d stages", len(stages))
		}
		for _, s := range stages {
			if s["StageName"] != hub.RESTStage {
				t.Errorf("stage %v", s["StageName"])
			}
			// The log group's ARN without its ":*" suffix (cdk.json's
			// logGroupDestinationArnWithoutWildcard flag).
			if got, want := canon(dig(s, "AccessLogSetting", "DestinationArn")), canon(map[string]any{"Ref": f.ref(t, f.hub.AccessLogs.LogGroupName())}); !strings.Contains(got, ":log-group:\","+want) {
				t.Errorf("access log destination %s, want the ARN of %s", got, want)
			}
			// Detailed (per-method) metrics are billed: off by default.
			ms := list(s["MethodSettings"])
			if len(ms) == 0 || dig(ms[0], "LoggingLevel") != "ERROR" || dig(ms[0], "MetricsEnabled") != false {
				t.Errorf("method settings %s", canon(s["MethodSettings"]))
			}
		}
	})
	t.Run("alarms", func(t *testing.T) { checkAlarms(t, f, "5XXError", createdTopic(t, f)) })
}

// TestCustomProps synthesizes every optional prop, in both flavours.
func TestCustomProps(t *testing.T) {
	for _, api := range []hub.APIKind{hub.HTTPAPI, hub.RESTAPI} {
		t.Run(string(api), func(t *testing.T) {
			const topic = "arn:aws:sns:eu-west-1:123456789012:ops"
			f := synth(t, hub.Props{
				API: api, StreamShards: 3, StreamRetention: 48 * time.Hour,
				C2DDefaultTTL: 2 * time.Hour, C2DMaxDelivery: 5, C2DMaxQueue: 1000, FeedbackTTL: 30 * time.Minute,
				SweepRate: 5 * time.Minute, MemoryMB: 512, LogRetention: awslogs.RetentionDays_ONE_WEEK, LogLevel: "debug",
				Domain:        &hub.Domain{Name: "hub.example.com", CertificateARN: "arn:aws:acm:eu-west-1:123456789012:certificate/abc"},
				AlarmTopicARN: topic, RemovalPolicy: awscdk.RemovalPolicy_DESTROY, DisableDeletionProtection: true,
				RESTDetailedMetrics: true, SystemLogLevel: "info", AccessLogs: hub.LeanAccessLogs,
				AuthCacheTTL: 5 * time.Minute, AuthCacheSize: 50_000, RecordVersion: 1,
			})
			checkNag(t, f)
			env := map[string]string{
				schema.EnvHubHost: "hub.example.com", schema.EnvC2DDefaultTTL: "2h0m0s", schema.EnvC2DMaxDelivery: "5",
				schema.EnvC2DMaxQueue: "1000", schema.EnvFeedbackTTL: "30m0s", schema.EnvLogLevel: "debug",
				schema.EnvAuthCacheTTL: "5m0s", schema.EnvAuthCacheSize: "50000", schema.EnvRecordVersion: "1",
			}
			for id, fn := range f.resources("AWS::Lambda::Function") {
				vars := dig(fn, "Environment", "Variables").(map[string]any)
				for k, v := range env {
					if vars[k] != v {
						t.Errorf("%s: %s=%v, want %s", id, k, vars[k], v)
					}
				}
				if fn["MemorySize"] != 512.0 {
					t.Errorf("%s: memory %v", id, fn["MemorySize"])
				}
				if vars[lambdagc.EnvGOMEMLIMIT] != "409MiB" {
					t.Errorf("%s: %s=%v, want 409MiB, 80%% of 512 MB", id, lambdagc.EnvGOMEMLIMIT, vars[lambdagc.EnvGOMEMLIMIT])
				}
				if lc := dig(fn, "LoggingConfig"); dig(lc, "LogFormat") != "JSON" || dig(lc, "SystemLogLevel") != "INFO" || dig(lc, "ApplicationLogLevel") != "DEBUG" {
					t.Errorf("%s: logging %s, want JSON, system INFO, application DEBUG", id, canon(lc))
				}
			}
			for _, s := range f.resources("AWS::Kinesis::Stream") {
				if s["ShardCount"] != 3.0 || dig(s, "StreamModeDetails", "StreamMode") != "PROVISIONED" || s["RetentionPeriodHours"] != 48.0 {
					t.Errorf("stream %s", canon(s))
				}
			}
			for id, lg := range f.resources("AWS::Logs::LogGroup") {
				if lg["RetentionInDays"] != 7.0 {
					t.Errorf("%s retention %v", id, lg["RetentionInDays"])
				}
			}
			for _, r := range f.resources("AWS::Events::Rule") {
				if r["ScheduleExpression"] != "rate(5 minutes)" {
					t.Errorf("schedule %v", r["ScheduleExpression"])
				}
			}
			for _, tb := range schema.Tables() {
				if r := f.resource(t, f.ref(t, f.hub.Tables[tb.ID].TableName())); r["DeletionPolicy"] != "Delete" {
					t.Errorf("%s deletion policy %v", tb.ID, r["DeletionPolicy"])
				}
			}
			domains := map[hub.APIKind]string{hub.HTTPAPI: "AWS::ApiGatewayV2::DomainName", hub.RESTAPI: "AWS::ApiGateway::DomainName"}[api]
			mappings := map[hub.APIKind]string{hub.HTTPAPI: "AWS::ApiGatewayV2::ApiMapping", hub.RESTAPI: "AWS::ApiGateway::BasePathMapping"}[api]
			if n, m := len(f.resources(domains)), len(f.resources(mappings)); n != 1 || m != 1 {
				t.Errorf("%d %s and %d %s, want 1 each", n, domains, m, mappings)
			}
			if _, ok := dig(f.template, "Outputs", hub.OutputDomainTarget).(map[string]any); !ok {
				t.Errorf("no %s output", hub.OutputDomainTarget)
			}
			checkAlarms(t, f, map[hub.APIKind]string{hub.HTTPAPI: "5xx", hub.RESTAPI: "5XXError"}[api], topic)
			if n := len(f.resources("AWS::SNS::Topic")); n != 0 {
				t.Errorf("%d topics created beside the given one", n)
			}
			// Lean access logs: the fields to trace a request, no more.
			stageType, formatPath := "AWS::ApiGatewayV2::Stage", []string{"AccessLogSettings", "Format"}
			if api == hub.RESTAPI {
				stageType, formatPath = "AWS::ApiGateway::Stage", []string{"AccessLogSetting", "Format"}
			}
			for _, s := range f.resources(stageType) {
				var format map[string]string
				if err := json.Unmarshal([]byte(fmt.Sprint(dig(s, formatPath...))), &format); err != nil {
					t.Fatalf("access log format %v: %v", dig(s, formatPath...), err)
				}
				if d := diffSets([]string{"requestId", "ip", "requestTime", "routeKey", "status", "integrationError"}, slices.Collect(maps.Keys(format))); d != "" ||
					format["requestTime"] != "$context.requestTimeEpoch" {
					t.Errorf("lean access log format %v:%s", format, d)
				}
			}
			if api == hub.RESTAPI {
				for _, s := range f.resources("AWS::ApiGateway::Stage") {
					if ms := list(s["MethodSettings"]); dig(ms[0], "MetricsEnabled") != true {
						t.Errorf("RESTDetailedMetrics: method settings %s", canon(s["MethodSettings"]))
					}
				}
			}
		})
	}
}

func TestPropsValidation(t *testing.T) {
	bad := map[string]hub.Props{
		"api kind":       {API: "websocket"},
		"url and domain": {API: hub.FunctionURL, Domain: &hub.Domain{Name: "hub.example.com", CertificateARN: "arn:cert"}},
		"access logs":    {AccessLogs: "verbose"},
		"stream key":     {StreamKey: "none"},
		"system level":   {SystemLogLevel: "error"},
		"auth cache ttl": {AuthCacheTTL: 10 * time.Minute},
		"negative ttl":   {AuthCacheTTL: -time.Second},
		"cache size":     {AuthCacheSize: 2_000_000},
		"record version": {RecordVersion: 3},
		"queue depth":    {C2DMaxQueue: config.MaxQueueLimit + 1},
		"delivery count": {C2DMaxDelivery: 101},
		"c2d ttl":        {C2DDefaultTTL: 30 * time.Second},
		"feedback ttl":   {FeedbackTTL: 72 * time.Hour},
		"sweep rate":     {SweepRate: 90 * time.Second},
		"retention":      {StreamRetention: 12 * time.Hour},
		"memory":         {MemoryMB: 64},
		"log level":      {LogLevel: "verbose"},
		"domain":         {Domain: &hub.Domain{Name: "hub.example.com"}},
		"long sweeps":    {SweepRate: 13 * time.Hour},
		"arch":           {Arch: "x86_64"},
		"throttle":       {ThrottleRate: -1},
		"burst":          {ThrottleBurst: -5},
		"concurrency":    {Concurrency: hub.Concurrency{Service: -2}},
		"error rate":     {Alarms: hub.AlarmThresholds{ErrorRate: 150}},
		"device p99":     {Alarms: hub.AlarmThresholds{DeviceP99: 10 * time.Second}},
		"service p99":    {Alarms: hub.AlarmThresholds{ServiceP99: time.Microsecond}},
		"registry reads": {RegistryCapacity: &hub.RegistryCapacity{MinReads: 10, MaxReads: 5, MinWrites: 1, MaxWrites: 1}},
		"registry zero":  {RegistryCapacity: &hub.RegistryCapacity{}},
		"registry quota": {RegistryCapacity: &hub.RegistryCapacity{MinReads: 1, MaxReads: 50_000, MinWrites: 1, MaxWrites: 1}},
		// The quota counts the index (reading in the write range) with the table.
		"registry quota with index": {RegistryCapacity: &hub.RegistryCapacity{MinReads: 1, MaxReads: 39_500, MinWrites: 1, MaxWrites: 1000}},
		"registry writes quota":     {RegistryCapacity: &hub.RegistryCapacity{MinReads: 1, MaxReads: 10, MinWrites: 1, MaxWrites: 20_001}},
		"registry target NaN":       {RegistryCapacity: &hub.RegistryCapacity{MinReads: 1, MaxReads: 5, TargetUtilization: math.NaN()}},
		"registry target":           {RegistryCapacity: &hub.RegistryCapacity{MinReads: 1, MaxReads: 5, MinWrites: 1, MaxWrites: 1, TargetUtilization: 95}},
		// CloudFormation cannot delete protected tables: the stack's
		// deletion would fail half way.
		"destroy protected tables": {RemovalPolicy: awscdk.RemovalPolicy_DESTROY},
	}
	for name, p := range bad {
		t.Run(name, func(t *testing.T) {
			app := awscdk.NewApp(nil)
			stack := awscdk.NewStack(app, jsii.String("V"), nil)
			if _, err := hub.New(stack, "Hub", &p); err == nil {
				t.Errorf("New accepted %+v", p)
			}
		})
	}
}

// checkCommon asserts what both API flavours share.
func checkCommon(t *testing.T, f *fixture) {
	t.Run("cdk-nag", func(t *testing.T) { checkNag(t, f) })
	t.Run("tables match the local bootstrap", func(t *testing.T) { checkTables(t, f) })
	t.Run("functions", func(t *testing.T) { checkFunctions(t, f) })
	t.Run("environment", func(t *testing.T) { checkEnvironment(t, f) })
	t.Run("go runtime", func(t *testing.T) { checkGoRuntime(t, f, "204MiB") })
	t.Run("iam", func(t *testing.T) { checkIAM(t, f) })
	t.Run("stream", func(t *testing.T) { checkStream(t, f) })
	t.Run("owner secret", func(t *testing.T) { checkSecret(t, f) })
	t.Run("schedule", func(t *testing.T) { checkSchedule(t, f) })
	t.Run("invoke permissions", func(t *testing.T) { checkPermissions(t, f) })
	t.Run("outputs", func(t *testing.T) { checkOutputs(t, f) })
}

// checkNag: the AwsSolutions pack reports no unsuppressed error or warning.
// (Suppressions without a reason are themselves refused by cdk-nag.)
func checkNag(t *testing.T, f *fixture) {
	any := jsii.String("*")
	must(t, "cdk-nag errors", func() { f.annotations.HasNoError(any, nagMessage()) })
	must(t, "cdk-nag warnings", func() { f.annotations.HasNoWarning(any, nagMessage()) })
}

func checkTables(t *testing.T, f *fixture) {
	tables := f.resources("AWS::DynamoDB::Table")
	if len(tables) != len(schema.Tables()) {
		t.Errorf("%d tables, schema has %d", len(tables), len(schema.Tables()))
	}
	for _, tb := range schema.Tables() {
		id := f.ref(t, f.hub.Tables[tb.ID].TableName())
		got := tables[id]
		want := provision.TableInput(tb, "unused")
		keySchema := func(in any) string {
			var out []string
			for _, k := range list(in) {
				out = append(out, dig(k, "AttributeName").(string)+" "+dig(k, "KeyType").(string))
			}
			return strings.Join(out, ", ")
		}
		var wantKS []string
		for _, k := range want.KeySchema {
			wantKS = append(wantKS, *k.AttributeName+" "+string(k.KeyType))
		}
		if g, w := keySchema(got["KeySchema"]), strings.Join(wantKS, ", "); g != w {
			t.Errorf("%s key schema: stack %q, bootstrap %q", tb.ID, g, w)
		}
		var gotAttrs, wantAttrs []string
		for _, a := range list(got["AttributeDefinitions"]) {
			gotAttrs = append(gotAttrs, dig(a, "AttributeName").(string)+":"+dig(a, "AttributeType").(string))
		}
		for _, a := range want.AttributeDefinitions {
			wantAttrs = append(wantAttrs, *a.AttributeName+":"+string(a.AttributeType))
		}
		if d := diffSets(wantAttrs, gotAttrs); d != "" {
			t.Errorf("%s attribute definitions differ from bootstrap:%s", tb.ID, d)
		}
		var gotIx, wantIx []string
		if got["GlobalSecondaryIndexes"] != nil {
			for _, ix := range list(got["GlobalSecondaryIndexes"]) {
				gotIx = append(gotIx, dig(ix, "IndexName").(string)+" ["+keySchema(dig(ix, "KeySchema"))+"] "+dig(ix, "Projection", "ProjectionType").(string))
			}
		}
		for _, ix := range want.GlobalSecondaryIndexes {
			var ks []string
			for _, k := range ix.KeySchema {
				ks = append(ks, *k.AttributeName+" "+string(k.KeyType))
			}
			wantIx = append(wantIx, *ix.IndexName+" ["+strings.Join(ks, ", ")+"] "+string(ix.Projection.ProjectionType))
		}
		if d := diffSets(wantIx, gotIx); d != "" {
			t.Errorf("%s indexes differ from bootstrap:%s", tb.ID, d)
		}
		if got["LocalSecondaryIndexes"] != nil || len(want.LocalSecondaryIndexes) != 0 {
			t.Errorf("%s: local secondary indexes are not in the schema", tb.ID)
		}
		if got["BillingMode"] != string(want.BillingMode) {
			t.Errorf("%s billing %v, bootstrap %v", tb.ID, got["BillingMode"], want.BillingMode)
		}
		if dig(got, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true {
			t.Errorf("%s: no point-in-time recovery", tb.ID)
		}
		if dig(got, "SSESpecification", "SSEEnabled") != true {
			t.Errorf("%s: not KMS-encrypted", tb.ID)
		}
		ttl := dig(got, "TimeToLiveSpecification")
		if tb.TTLAttribute == "" && ttl != nil {
			t.Errorf("%s: TTL %v but the schema has none", tb.ID, ttl)
		}
		if tb.TTLAttribute != "" && (dig(ttl, "AttributeName") != tb.TTLAttribute || dig(ttl, "Enabled") != true) {
			t.Errorf("%s: TTL %v, want %s enabled", tb.ID, ttl, tb.TTLAttribute)
		}
		if r := f.resource(t, id); r["DeletionPolicy"] != "Retain" {
			t.Errorf("%s deletion policy %v, want Retain by default", tb.ID, r["DeletionPolicy"])
		}
		if got["DeletionProtectionEnabled"] != true {
			t.Errorf("%s: deletion protection %v, want on by default", tb.ID, got["DeletionProtectionEnabled"])
		}
	}
}

func checkFunctions(t *testing.T, f *fixture) {
	fns := f.resources("AWS::Lambda::Function")
	if len(fns) != len(hub.Functions()) {
		t.Errorf("%d functions, want %d", len(fns), len(hub.Functions()))
	}
	for _, name := range hub.Functions() {
		fn := fns[f.ref(t, f.hub.Functions[name].FunctionName())]
		if fn["Runtime"] != "provided.al2023" || canon(fn["Architectures"]) != `["arm64"]` || fn["Handler"] != "bootstrap" {
			t.Errorf("%s: runtime %v %v handler %v", name, fn["Runtime"], fn["Architectures"], fn["Handler"])
		}
		if fn["MemorySize"] != 256.0 {
			t.Errorf("%s: memory %v", name, fn["MemorySize"])
		}
		if to, _ := fn["Timeout"].(float64); to < 1 || name != hub.Sweeper && to > 29 {
			t.Errorf("%s: timeout %v", name, fn["Timeout"])
		}
		if dig(fn, "Code", "S3Key") == nil {
			t.Errorf("%s: code is not an asset: %v", name, fn["Code"])
		}
		// Lambda's JSON log format, its own lines at WARN (no
		// START/END/REPORT) and the functions' at their level.
		if lc := dig(fn, "LoggingConfig"); dig(lc, "LogFormat") != "JSON" || dig(lc, "SystemLogLevel") != "WARN" || dig(lc, "ApplicationLogLevel") != "INFO" {
			t.Errorf("%s: logging %s, want JSON, system WARN, application INFO", name, canon(lc))
		}
		lg := dig(fn, "LoggingConfig", "LogGroup")
		logID, _ := dig(lg, "Ref").(string)
		logs := f.resources("AWS::Logs::LogGroup")[logID]
		if logs == nil || logs["RetentionInDays"] != 30.0 {
			t.Errorf("%s: log group %v with %v", name, lg, logs)
		}
		if got, want := canon(fn["Role"]), canon(getAtt(f.ref(t, f.hub.Functions[name].Role().RoleName()), "Arn")); got != want {
			t.Errorf("%s: role %s, want its own %s", name, got, want)
		}
	}
}

// checkGoRuntime: every function in f, all the hub's, runs with the
// garbage collector settings internal/lambdagc chose for its memory size;
// limit is what they give at the default 256 MB.
func checkGoRuntime(t *testing.T, f *fixture, limit string) {
	t.Helper()
	for id, fn := range f.resources("AWS::Lambda::Function") {
		mem, _ := fn["MemorySize"].(float64)
		want := lambdagc.Env(int(mem))
		if mem == 256 && want[lambdagc.EnvGOMEMLIMIT] != limit {
			t.Errorf("lambdagc gives %s=%s at 256 MB, want %s", lambdagc.EnvGOMEMLIMIT, want[lambdagc.EnvGOMEMLIMIT], limit)
		}
		vars, _ := dig(fn, "Environment", "Variables").(map[string]any)
		for _, k := range []string{lambdagc.EnvGOGC, lambdagc.EnvGOMEMLIMIT} {
			if vars[k] != want[k] {
				t.Errorf("%s (%v MB): %s=%v, want %s", id, mem, k, vars[k], want[k])
			}
		}
		if vars[lambdagc.EnvGOGC] != "off" {
			t.Errorf("%s: GOGC=%v, want off", id, vars[lambdagc.EnvGOGC])
		}
	}
}

// checkEnvironment: every function gets every table and stream name and
// every setting; only the service function, the one that verifies
// owner-policy tokens, learns where the owner key is.
func checkEnvironment(t *testing.T, f *fixture) {
	common := []string{
		lambdagc.EnvGOGC, lambdagc.EnvGOMEMLIMIT, schema.EnvHubHost, schema.Telemetry.EnvVar,
		schema.EnvC2DDefaultTTL, schema.EnvC2DMaxDelivery, schema.EnvC2DMaxQueue, schema.EnvFeedbackTTL, schema.EnvLogLevel,
		schema.EnvAuthCacheTTL, schema.EnvAuthCacheSize, schema.EnvRecordVersion,
	}
	for _, tb := range schema.Tables() {
		common = append(common, tb.EnvVar)
	}
	refs := map[string]string{
		schema.Telemetry.EnvVar: f.ref(t, f.hub.Stream.StreamName()),
	}
	for _, tb := range schema.Tables() {
		refs[tb.EnvVar] = f.ref(t, f.hub.Tables[tb.ID].TableName())
	}
	for _, name := range hub.Functions() {
		want, refs := slices.Clone(common), maps.Clone(refs)
		if name == hub.Service {
			want = append(want, schema.EnvOwnerSecretARN)
			refs[schema.EnvOwnerSecretARN] = f.ref(t, f.hub.OwnerSecret.SecretArn())
		}
		if name != hub.Sweeper {
			want = append(want, schema.EnvEventFormat)
		}
		vars := dig(f.resources("AWS::Lambda::Function")[f.ref(t, f.hub.Functions[name].FunctionName())], "Environment", "Variables").(map[string]any)
		// The API functions decode events as the front door sends them.
		if wantFormat := map[bool]string{true: config.EventFormatV1, false: config.EventFormatV2}[f.hub.Props.API == hub.RESTAPI]; name != hub.Sweeper && vars[schema.EnvEventFormat] != wantFormat {
			t.Errorf("%s: %s=%v, want %s for the %s API", name, schema.EnvEventFormat, vars[schema.EnvEventFormat], wantFormat, f.hub.Props.API)
		}
		var got []string
		for k := range vars {
			got = append(got, k)
		}
		if d := diffSets(want, got); d != "" {
			t.Errorf("%s environment names differ from internal/schema:%s", name, d)
		}
		for k, id := range refs {
			if canon(vars[k]) != canon(map[string]any{"Ref": id}) {
				t.Errorf("%s: %s=%s, want Ref %s", name, k, canon(vars[k]), id)
			}
		}
		if !strings.Contains(canon(vars[schema.EnvHubHost]), ".execute-api.") && vars[schema.EnvHubHost] != "hub.example.com" {
			t.Errorf("%s: host %s", name, canon(vars[schema.EnvHubHost]))
		}
		if p := f.hub.Props; p.AuthCacheTTL == config.DefaultAuthCache && (vars[schema.EnvAuthCacheTTL] != "30s" || vars[schema.EnvAuthCacheSize] != "10000") {
			t.Errorf("%s: auth cache %v, %v, want 30s and 10000 by default", name, vars[schema.EnvAuthCacheTTL], vars[schema.EnvAuthCacheSize])
		}
		if want := strconv.Itoa(f.hub.Props.RecordVersion); vars[schema.EnvRecordVersion] != want || (f.hub.Props.RecordVersion != 1 && want != "2") {
			t.Errorf("%s: %s=%v, want %s (2 by default)", name, schema.EnvRecordVersion, vars[schema.EnvRecordVersion], want)
		}
		// The functions must accept their configuration as synthesized.
		if _, err := config.FromEnv(func(k string) string {
			if s, ok := vars[k].(string); ok {
				return s
			}
			if vars[k] != nil {
				return "deploy-time-value"
			}
			return ""
		}); err != nil {
			t.Errorf("%s: config.FromEnv rejects the environment: %v", name, err)
		}
	}
}

// checkIAM compares every function role's grants, as (action, resource)
// pairs, with exactly what that function needs.
func checkIAM(t *testing.T, f *fixture) {
	checkGrants(t, f, baseGrants(t, f))
}

// grant is actions on resources (template values).
type grant struct {
	actions   []string
	resources []any
}

// baseGrants are the grants of the three functions every hub has, by
// function name, without routing's.
func baseGrants(t *testing.T, f *fixture) map[string][]grant {
	arn := func(token *string) any { return getAtt(f.ref(t, token), "Arn") }
	tables := map[string]any{}
	for _, tb := range schema.Tables() {
		tables[tb.ID] = arn(f.hub.Tables[tb.ID].TableName())
	}
	index := func(tb schema.Table, name string) any {
		return map[string]any{"Fn::Join": []any{"", []any{tables[tb.ID], "/index/" + name}}}
	}
	indexes := func(tb schema.Table) []any {
		var out []any
		for _, ix := range tb.Indexes {
			out = append(out, index(tb, ix.Name))
		}
		return out
	}
	secret := map[string]any{"Ref": f.ref(t, f.hub.OwnerSecret.SecretArn())}
	rw := []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
	logs := func(name string) grant { return logGrant(t, f, f.hub.Functions[name]) }
	c2dAndFeedback := []any{tables[schema.C2D.ID], tables[schema.Feedback.ID]}
	want := map[string][]grant{
		hub.Ingress: {
			logs(hub.Ingress),
			{[]string{"kinesis:PutRecords"}, []any{arn(f.hub.Stream.StreamName())}},
			{[]string{"dynamodb:GetItem"}, []any{tables[schema.Devices.ID]}},
			{rw, []any{tables[schema.C2D.ID]}},
		},
		hub.Service: {
			logs(hub.Service),
			{[]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Scan"}, []any{tables[schema.Devices.ID]}},
			{rw, c2dAndFeedback},
			{[]string{"dynamodb:Query"}, append(indexes(schema.C2D), indexes(schema.Feedback)...)},
			{[]string{"secretsmanager:GetSecretValue"}, []any{secret}},
			// The routing statistics route reads; only the router writes.
			{[]string{"dynamodb:GetItem", "dynamodb:Query"}, []any{tables[schema.Routing.ID]}},
		},
		hub.Sweeper: {
			logs(hub.Sweeper),
			{rw, []any{tables[schema.C2D.ID]}},
			{[]string{"dynamodb:Query"}, []any{index(schema.C2D, schema.C2DSweepIndex)}},
		},
	}
	// A customer stream key: the ingress function needs a data key from it.
	if f.hub.StreamKey != nil {
		want[hub.Ingress] = append(want[hub.Ingress], grant{[]string{"kms:GenerateDataKey"}, []any{arn(f.hub.StreamKey.KeyId())}})
	}
	return want
}

// logGrant is a function's grant on its own log group.
func logGrant(t *testing.T, f *fixture, fn awslambda.IFunction) grant {
	props := f.resources("AWS::Lambda::Function")[f.ref(t, fn.FunctionName())]
	return grant{[]string{"logs:CreateLogStream", "logs:PutLogEvents"}, []any{getAtt(dig(props, "LoggingConfig", "LogGroup", "Ref").(string), "Arn")}}
}

// checkGrants compares each named function role's grants, as (action,
// resource) pairs, with want, and finds no wildcard in any policy.
func checkGrants(t *testing.T, f *fixture, want map[string][]grant) {
	t.Helper()
	policies := f.resources("AWS::IAM::Policy")
	for _, name := range slices.Sorted(maps.Keys(want)) {
		role := f.ref(t, f.hub.Functions[name].Role().RoleName())
		checkRoleGrants(t, f, name, role, want[name])
	}
	// No wildcard resource or action anywhere.
	for id, p := range policies {
		for _, st := range list(dig(p, "PolicyDocument", "Statement")) {
			if strings.Contains(canon(dig(st, "Resource")), `"*"`) || strings.Contains(canon(dig(st, "Action")), "*") {
				t.Errorf("%s: wildcard in %s", id, canon(st))
			}
		}
	}
}

// checkRoleGrants compares the grants of one role (its logical id) with
// want, as (action, resource) pairs: exactly those, allowed, without
// conditions, and no managed or inline policy.
func checkRoleGrants(t *testing.T, f *fixture, name, role string, want []grant) {
	t.Helper()
	var wantPairs, gotPairs []string
	for _, g := range want {
		for _, a := range g.actions {
			for _, r := range g.resources {
				wantPairs = append(wantPairs, a+" on "+canon(r))
			}
		}
	}
	for _, p := range f.resources("AWS::IAM::Policy") {
		if !strings.Contains(canon(p["Roles"]), `"`+role+`"`) {
			continue
		}
		for _, st := range list(dig(p, "PolicyDocument", "Statement")) {
			if dig(st, "Effect") != "Allow" || dig(st, "Condition") != nil {
				t.Errorf("%s: unexpected statement %s", name, canon(st))
			}
			for _, a := range strs(dig(st, "Action")) {
				for _, r := range list(dig(st, "Resource")) {
					gotPairs = append(gotPairs, a+" on "+canon(r))
				}
			}
		}
	}
	if d := diffSets(wantPairs, gotPairs); d != "" {
		t.Errorf("%s grants differ:%s", name, d)
	}
	if r := f.resources("AWS::IAM::Role")[role]; r["ManagedPolicyArns"] != nil || r["Policies"] != nil {
		t.Errorf("%s role has managed or inline policies: %s", name, canon(r))
	}
}

func checkStream(t *testing.T, f *fixture) {
	id := f.ref(t, f.hub.Stream.StreamName())
	s := f.resources("AWS::Kinesis::Stream")[id]
	if dig(s, "StreamEncryption", "EncryptionType") != "KMS" || canon(dig(s, "StreamEncryption", "KeyId")) != canon(getAtt(f.ref(t, f.hub.StreamKey.KeyId()), "Arn")) {
		t.Errorf("stream encryption %s", canon(s["StreamEncryption"]))
	}
	if dig(s, "StreamModeDetails", "StreamMode") != "ON_DEMAND" || s["ShardCount"] != nil || s["RetentionPeriodHours"] != 24.0 {
		t.Errorf("stream capacity %s", canon(s))
	}
	if k := f.resources("AWS::KMS::Key")[f.ref(t, f.hub.StreamKey.KeyId())]; k["EnableKeyRotation"] != true {
		t.Errorf("stream key rotation off: %s", canon(k))
	}
}

// checkSecret: the generated secret is what internal/config reads.
func checkSecret(t *testing.T, f *fixture) {
	s := f.resources("AWS::SecretsManager::Secret")[f.ref(t, f.hub.OwnerSecret.SecretArn())]
	gen := dig(s, "GenerateSecretString").(map[string]any)
	if gen["PasswordLength"] != float64(hub.OwnerKeyLength) || gen["ExcludePunctuation"] != true || gen["IncludeSpace"] != false {
		t.Fatalf("generator %s", canon(gen))
	}
	// What Secrets Manager generates: the template plus the key field, a
	// random alphanumeric string of the configured length.
	var secret map[string]string
	if err := json.Unmarshal([]byte(gen["SecretStringTemplate"].(string)), &secret); err != nil {
		t.Fatal(err)
	}
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, hub.OwnerKeyLength)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	secret[gen["GenerateStringKey"].(string)] = string(b)
	raw, _ := json.Marshal(secret)
	cfg := config.Config{OwnerSecretARN: "arn"}
	if err := cfg.ResolveOwnerKey(context.Background(), secretString(raw)); err != nil {
		t.Fatalf("internal/config cannot read the generated secret %s: %v", raw, err)
	}
	if cfg.OwnerKey != string(b) || cfg.OwnerKeyName != schema.OwnerPolicyName {
		t.Errorf("owner key %q name %q from %s", cfg.OwnerKey, cfg.OwnerKeyName, raw)
	}
}

type secretString []byte

func (s secretString) SecretString(context.Context, string) (string, error) { return string(s), nil }

func checkSchedule(t *testing.T, f *fixture) {
	rules := f.resources("AWS::Events::Rule")
	if len(rules) != 1 {
		t.Fatalf("%d rules", len(rules))
	}
	for _, r := range rules {
		targets := list(r["Targets"])
		if r["ScheduleExpression"] != "rate(1 minute)" || len(targets) != 1 ||
			canon(dig(targets[0], "Arn")) != canon(getAtt(f.ref(t, f.hub.Functions[hub.Sweeper].FunctionName()), "Arn")) {
			t.Errorf("schedule %s", canon(r))
		}
	}
}

// checkPermissions: only API Gateway may invoke the API functions, only
// EventBridge the sweeper, each scoped to its source.
func checkPermissions(t *testing.T, f *fixture) {
	principal := map[string]string{}
	for _, name := range hub.Functions() {
		principal[f.ref(t, f.hub.Functions[name].FunctionName())] = map[string]string{
			hub.Ingress: "apigateway.amazonaws.com", hub.Service: "apigateway.amazonaws.com", hub.Sweeper: "events.amazonaws.com",
		}[name]
	}
	for id, p := range f.resources("AWS::Lambda::Permission") {
		fn := dig(p, "FunctionName", "Fn::GetAtt")
		fnID := ""
		if l, ok := fn.([]any); ok {
			fnID, _ = l[0].(string)
		}
		if principal[fnID] == "" || p["Principal"] != principal[fnID] || p["SourceArn"] == nil || p["Action"] != "lambda:InvokeFunction" {
			t.Errorf("%s: %s", id, canon(p))
		}
	}
}

func checkOutputs(t *testing.T, f *fixture) {
	names := []string{hub.OutputHubHost, hub.OutputAPIURL, hub.OutputOwnerSecretARN, hub.OutputOwnerSecretName, hub.OutputStreamName,
		hub.OutputStreamARN, hub.OutputStreamKeyARN, hub.OutputAlarmTopicARN, hub.OutputDashboard}
	for _, tb := range schema.Tables() {
		names = append(names, hub.OutputTableName(tb))
	}
	for _, name := range names {
		if dig(f.template, "Outputs", name, "Value") == nil {
			t.Errorf("no output %s", name)
		}
	}
	if got, want := canon(dig(f.template, "Outputs", hub.OutputStreamName, "Value")), canon(map[string]any{"Ref": f.ref(t, f.hub.Stream.StreamName())}); got != want {
		t.Errorf("stream output %s, want %s", got, want)
	}
}

// checkAlarms: the alarm set, each alarm notifying topic when it fires
// and when it clears, rates rather than counts, the heartbeat breaching on
// missing data; and the dashboard.
func checkAlarms(t *testing.T, f *fixture, api5xx string, topic any) {
	byID := alarmsByID(f)
	want := []string{"Api5xxRate", "DeviceLatencyP99", "ServiceLatencyP99", "SweeperHeartbeat", "StreamWriteThrottleRate"}
	props := f.hub.Props
	if props.StreamShards > 0 {
		want = append(want, "StreamCapacity")
	}
	if props.API == hub.FunctionURL {
		want = append(want, "DeviceUrl5xxRate")
	}
	for _, name := range functionNames(f) {
		want = append(want, title(name)+"ErrorRate", title(name)+"ThrottleRate")
	}
	for _, tb := range watchedTables(f) {
		want = append(want, tb.ID+"Throttles")
		for _, ix := range tb.Indexes {
			want = append(want, tb.ID+title(ix.Name)+"Throttles")
		}
	}
	if f.hub.Routing != nil {
		want = append(want, "RouterIteratorAge", "RouterFailedBatches")
	}
	if d := diffSets(want, slices.Collect(maps.Keys(byID))); d != "" {
		t.Errorf("alarms differ:%s", d)
	}
	// Besides the hub's, each consumer (AddConsumer) has two of its own.
	if n := len(f.resources("AWS::CloudWatch::Alarm")); n != len(want)+2*len(f.hub.Consumers) {
		t.Errorf("%d alarms, want %d and %d per consumer", n, len(want), 2)
	}
	fn := func(name string) string { return f.ref(t, f.hub.Functions[name].FunctionName()) }
	for id, a := range byID {
		if canon(a["AlarmActions"]) != canon([]any{topic}) || canon(a["OKActions"]) != canon([]any{topic}) {
			t.Errorf("%s: actions %s, OK actions %s, want %s", id, canon(a["AlarmActions"]), canon(a["OKActions"]), canon(topic))
		}
		metrics := alarmMetrics(a)
		switch {
		case id == "SweeperHeartbeat":
			if a["ComparisonOperator"] != "LessThanThreshold" || a["Threshold"] != 1.0 || a["TreatMissingData"] != "breaching" ||
				!strings.Contains(expression(a), "inv - FILL(err, 0)") {
				t.Errorf("%s: %s", id, canon(a))
			}
			// At least 5 minutes and two sweep periods.
			window := max(5*time.Minute, 2*f.hub.Props.SweepRate).Seconds()
			for _, q := range list(a["Metrics"]) {
				if p := dig(q, "MetricStat", "Period"); p != nil && p != window {
					t.Errorf("%s: period %v, want %v", id, p, window)
				}
			}
			wantMetrics := []string{"AWS/Lambda Invocations FunctionName=" + fn(hub.Sweeper), "AWS/Lambda Errors FunctionName=" + fn(hub.Sweeper)}
			if d := diffSets(wantMetrics, metrics); d != "" {
				t.Errorf("%s metrics:%s", id, d)
			}
			continue
		case id == "StreamCapacity":
			// Per-minute sums against the shards' limits per minute.
			shards := float64(props.StreamShards)
			wantExpr := fmt.Sprintf("100 * MAX([FILL(bytes, 0) / %d, FILL(records, 0) / %d])", int(60*shards*(1<<20)), int(60*shards*1000))
			if a["Threshold"] != float64(hub.StreamCapacityPercent) || a["EvaluationPeriods"] != 5.0 || a["DatapointsToAlarm"] != 5.0 || expression(a) != wantExpr {
				t.Errorf("%s: %s, want expression %s", id, canon(a), wantExpr)
			}
		case strings.HasSuffix(id, "LatencyP99"):
			name, ms := hub.Ingress, 1000.0
			if id == "ServiceLatencyP99" {
				name, ms = hub.Service, 3000.0
			}
			if a["ExtendedStatistic"] != "p99" || a["Threshold"] != ms || a["EvaluationPeriods"] != 3.0 || a["DatapointsToAlarm"] != 3.0 ||
				canon(metrics) != canon([]string{"AWS/Lambda Duration FunctionName=" + fn(name)}) {
				t.Errorf("%s: %s", id, canon(a))
			}
		case strings.HasSuffix(id, "Rate"):
			// A failure share in percent, 0 without traffic.
			if a["Threshold"] != 1.0 || !strings.Contains(expression(a), "100 * FILL(failed, 0) /") {
				t.Errorf("%s: not a 1%% rate: %s", id, canon(a))
			}
		case strings.HasSuffix(id, "Throttles"):
			if a["Threshold"] != 1.0 || a["EvaluationPeriods"] != 5.0 || a["DatapointsToAlarm"] != 3.0 || expression(a) != "FILL(r, 0) + FILL(w, 0)" {
				t.Errorf("%s: %s", id, canon(a))
			}
		}
		if a["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || a["TreatMissingData"] != "notBreaching" {
			t.Errorf("%s: %s", id, canon(a))
		}
	}
	wantMetrics := map[string][]string{
		"Api5xxRate":              {"AWS/ApiGateway " + api5xx, "AWS/ApiGateway Count"},
		"StreamWriteThrottleRate": {"AWS/Kinesis WriteProvisionedThroughputExceeded", "AWS/Kinesis IncomingRecords"},
	}
	if props.StreamShards > 0 {
		wantMetrics["StreamCapacity"] = []string{"AWS/Kinesis IncomingBytes", "AWS/Kinesis IncomingRecords"}
	}
	if props.API == hub.FunctionURL {
		in := "FunctionName=" + fn(hub.Ingress)
		wantMetrics["DeviceUrl5xxRate"] = []string{"AWS/Lambda Url5xxCount " + in, "AWS/Lambda UrlRequestCount " + in}
	}
	for _, name := range functionNames(f) {
		wantMetrics[title(name)+"ErrorRate"] = []string{"AWS/Lambda Errors FunctionName=" + fn(name), "AWS/Lambda Invocations FunctionName=" + fn(name)}
		wantMetrics[title(name)+"ThrottleRate"] = []string{"AWS/Lambda Throttles FunctionName=" + fn(name), "AWS/Lambda Invocations FunctionName=" + fn(name)}
	}
	for _, tb := range watchedTables(f) {
		table := "TableName=" + f.ref(t, f.hub.Tables[tb.ID].TableName())
		wantMetrics[tb.ID+"Throttles"] = []string{"AWS/DynamoDB ReadThrottleEvents " + table, "AWS/DynamoDB WriteThrottleEvents " + table}
		for _, ix := range tb.Indexes {
			dims := "GlobalSecondaryIndexName=" + ix.Name + " " + table
			wantMetrics[tb.ID+title(ix.Name)+"Throttles"] = []string{"AWS/DynamoDB ReadThrottleEvents " + dims, "AWS/DynamoDB WriteThrottleEvents " + dims}
		}
	}
	for id, want := range wantMetrics {
		var got []string
		for _, m := range alarmMetrics(byID[id]) {
			// API and stream dimensions are the resources' ids: drop them.
			if strings.HasPrefix(m, "AWS/ApiGateway") || strings.HasPrefix(m, "AWS/Kinesis") {
				m = strings.Join(strings.Fields(m)[:2], " ")
			}
			got = append(got, m)
		}
		if d := diffSets(want, got); d != "" {
			t.Errorf("%s metrics:%s", id, d)
		}
	}
	if n := len(f.resources("AWS::CloudWatch::Dashboard")); n != 1 {
		t.Errorf("%d dashboards", n)
	}
	body := canon(f.resource(t, f.logicalID(f.hub.Dashboard))["Properties"])
	if props.API == hub.FunctionURL && !strings.Contains(body, `\"AWS/Lambda\",\"Url5xxCount\"`) {
		t.Errorf("dashboard has no device URL graphs: %s", body)
	}
	if props.StreamShards > 0 && !strings.Contains(body, `\"AWS/Kinesis\",\"IncomingBytes\"`) {
		t.Errorf("dashboard has no stream bytes graph: %s", body)
	}
}

// functionNames are the hub's functions: the router too with routes.
func functionNames(f *fixture) []string {
	if f.hub.Routing != nil {
		return append(hub.Functions(), hub.Router)
	}
	return hub.Functions()
}

// watchedTables are the tables and indexes the alarms watch: the Routing
// table only with routes (only the router writes it), the Devices table's
// byPendingEvent index only with lifecycle routes (only lifecycle events
// write it). Unwritten, they cannot throttle; each watched metric is billed.
func watchedTables(f *fixture) []schema.Table {
	routed := f.hub.Routing != nil
	lifecycle := routed && f.hub.Props.Routing.Definition.HasLifecycleRoutes()
	var out []schema.Table
	for _, tb := range schema.Tables() {
		if tb.ID == schema.Routing.ID && !routed {
			continue
		}
		var ixs []schema.Index
		for _, ix := range tb.Indexes {
			if ix.Name != schema.DevicePendingIndex || lifecycle {
				ixs = append(ixs, ix)
			}
		}
		tb.Indexes = ixs
		out = append(out, tb)
	}
	return out
}

// alarmsByID maps each of the hub's alarms by construct id to its properties.
func alarmsByID(f *fixture) map[string]map[string]any {
	all := f.resources("AWS::CloudWatch::Alarm")
	out := map[string]map[string]any{}
	for _, a := range f.hub.Alarms {
		out[*a.Node().Id()] = all[f.logicalID(a)]
	}
	return out
}

// alarmMetrics lists an alarm's metrics, single or in metric math, as
// "namespace name dim=value..." with dimensions sorted; a Ref value is the
// referenced logical id.
func alarmMetrics(a map[string]any) []string {
	one := func(m any) string {
		out := []string{dig(m, "Namespace").(string), dig(m, "MetricName").(string)}
		var dims []string
		for _, d := range list(dig(m, "Dimensions")) {
			if d == nil {
				continue
			}
			v := dig(d, "Value")
			if ref, ok := dig(v, "Ref").(string); ok {
				v = ref
			}
			dims = append(dims, fmt.Sprintf("%s=%v", dig(d, "Name"), v))
		}
		sort.Strings(dims)
		return strings.Join(append(out, dims...), " ")
	}
	if a["MetricName"] != nil {
		return []string{one(a)}
	}
	var out []string
	for _, q := range list(a["Metrics"]) {
		if m := dig(q, "MetricStat", "Metric"); m != nil {
			out = append(out, one(m))
		}
	}
	return out
}

// expression is a metric-math alarm's expression.
func expression(a map[string]any) string {
	for _, q := range list(a["Metrics"]) {
		if e, ok := dig(q, "Expression").(string); ok {
			return e
		}
	}
	return ""
}

// createdTopic is the Ref of the alarm topic the hub created.
func createdTopic(t *testing.T, f *fixture) any {
	topics := f.resources("AWS::SNS::Topic")
	if len(topics) != 1 {
		t.Fatalf("%d topics, want the one created for alarms", len(topics))
	}
	return map[string]any{"Ref": f.ref(t, f.hub.AlarmTopic.TopicArn())}
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
