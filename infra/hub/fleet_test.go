package hub_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/devicehub/devicehub/infra/hub"
	"github.com/devicehub/devicehub/internal/schema"
)

// Issue 8 ("Fleet-ready"), one test per item: 8 floods, 9 alarms that reach
// a person, 10 data safety, 11 LocalStack.

// TestFloodLimits: default route throttling on both API flavours' stages,
// reserved concurrency per function, and a sweeper Lambda never retries.
func TestFloodLimits(t *testing.T) {
	for _, tc := range []struct {
		name        string
		props       hub.Props
		rate, burst float64
		concurrency map[string]any // nil: no reservation
	}{
		{"http defaults", hub.Props{}, 1000, 500, map[string]any{hub.Ingress: 100.0, hub.Service: 20.0, hub.Sweeper: 1.0}},
		{"rest defaults", hub.Props{API: hub.RESTAPI}, 1000, 500, map[string]any{hub.Ingress: 100.0, hub.Service: 20.0, hub.Sweeper: 1.0}},
		{"custom", hub.Props{ThrottleRate: 50, ThrottleBurst: 10, SweepRate: 3 * time.Minute,
			Concurrency: hub.Concurrency{Ingress: 40, Service: hub.Unreserved, Sweeper: 2}},
			50, 10, map[string]any{hub.Ingress: 40.0, hub.Service: nil, hub.Sweeper: 2.0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := synth(t, tc.props)
			throttle := map[string]any{"ThrottlingRateLimit": tc.rate, "ThrottlingBurstLimit": tc.burst}
			if tc.props.API == hub.RESTAPI {
				// The stage's default method settings (every method, "/*").
				setting := map[string]any{"HttpMethod": "*", "ResourcePath": "/*"}
				for k, v := range throttle {
					setting[k] = v
				}
				must(t, "REST stage throttling", func() {
					f.tmpl.HasResourceProperties(jsii.String("AWS::ApiGateway::Stage"), map[string]any{
						"MethodSettings": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&setting)}),
					})
				})
			} else {
				must(t, "HTTP stage throttling", func() {
					f.tmpl.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Stage"), map[string]any{"DefaultRouteSettings": throttle})
				})
			}
			fns := f.resources("AWS::Lambda::Function")
			for name, want := range tc.concurrency {
				if got := fns[f.ref(t, f.hub.Functions[name].FunctionName())]["ReservedConcurrentExecutions"]; got != want {
					t.Errorf("%s reserved concurrency %v, want %v", name, got, want)
				}
			}
			// Lambda's own retries of the async sweep: none, and an event
			// older than a sweep period is dropped (the next run does it).
			age := max(time.Minute, tc.props.SweepRate).Seconds()
			must(t, "sweeper async invoke config", func() {
				f.tmpl.ResourceCountIs(jsii.String("AWS::Lambda::EventInvokeConfig"), jsii.Number(1))
				f.tmpl.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]any{
					"FunctionName": map[string]any{"Ref": f.ref(t, f.hub.Functions[hub.Sweeper].FunctionName())},
					"Qualifier":    "$LATEST", "MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": age,
				})
			})
		})
	}
}

// TestAlarmsReachAPerson: an alarm topic exists (created, or the one given)
// and every alarm notifies it when it fires and when it clears; the alarms
// watch rates, the sweeper's heartbeat and every table and sharded index;
// the dashboard shows 4xx.
func TestAlarmsReachAPerson(t *testing.T) {
	t.Run("created topic", func(t *testing.T) {
		f := synth(t, hub.Props{AlarmEmails: []string{"oncall@example.com"}})
		topic := createdTopic(t, f)
		must(t, "topic", func() {
			f.tmpl.ResourceCountIs(jsii.String("AWS::SNS::Topic"), jsii.Number(1))
			// cdk-nag SNS3: publishers must use TLS.
			f.tmpl.HasResourceProperties(jsii.String("AWS::SNS::TopicPolicy"), map[string]any{
				"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
					"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
				})})},
			})
			f.tmpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]any{
				"Protocol": "email", "Endpoint": "oncall@example.com", "TopicArn": topic,
			})
			f.tmpl.AllResourcesProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
				"AlarmActions": []any{topic}, "OKActions": []any{topic},
			})
			f.tmpl.HasOutput(jsii.String(hub.OutputAlarmTopicARN), map[string]any{"Value": topic})
		})
		must(t, "rates, heartbeat, throttles", func() {
			alarm := func(props map[string]any) { f.tmpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), props) }
			metrics := func(ms ...map[string]any) any {
				var want []any
				for _, m := range ms {
					want = append(want, assertions.Match_ObjectLike(&m))
				}
				return assertions.Match_ArrayWith(&want)
			}
			stat := func(namespace, name string, dims ...any) map[string]any {
				m := map[string]any{"Namespace": namespace, "MetricName": name}
				if dims != nil {
					m["Dimensions"] = assertions.Match_ArrayWith(&dims)
				}
				return map[string]any{"MetricStat": map[string]any{"Metric": m}}
			}
			rate := map[string]any{"Expression": assertions.Match_StringLikeRegexp(jsii.String(`100 \* FILL\(failed, 0\)`))}
			alarm(map[string]any{"Metrics": metrics(rate, stat("AWS/ApiGateway", "5xx"), stat("AWS/ApiGateway", "Count"))})
			alarm(map[string]any{"Metrics": metrics(rate, stat("AWS/Kinesis", "WriteProvisionedThroughputExceeded"), stat("AWS/Kinesis", "IncomingRecords"))})
			sweeper := map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": f.ref(t, f.hub.Functions[hub.Sweeper].FunctionName())}}
			alarm(map[string]any{
				"ComparisonOperator": "LessThanThreshold", "Threshold": 1, "TreatMissingData": "breaching",
				"Metrics": metrics(stat("AWS/Lambda", "Errors", sweeper), stat("AWS/Lambda", "Invocations", sweeper)), // arrayWith keeps order: by id
			})
			for _, ix := range schema.C2D.Indexes {
				dim := map[string]any{"Name": "GlobalSecondaryIndexName", "Value": ix.Name}
				alarm(map[string]any{"Metrics": metrics(stat("AWS/DynamoDB", "ReadThrottleEvents", dim), stat("AWS/DynamoDB", "WriteThrottleEvents", dim))})
			}
			for _, name := range []string{hub.Ingress, hub.Service} {
				fn := map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": f.ref(t, f.hub.Functions[name].FunctionName())}}
				alarm(map[string]any{"MetricName": "Duration", "ExtendedStatistic": "p99", "Dimensions": []any{fn}})
			}
		})
		body := canon(f.resource(t, f.logicalID(f.hub.Dashboard))["Properties"])
		if !strings.Contains(body, `\"AWS/ApiGateway\",\"4xx\"`) {
			t.Errorf("dashboard has no API 4xx graph: %s", body)
		}
	})
	t.Run("given topic", func(t *testing.T) {
		const arn = "arn:aws:sns:eu-west-1:123456789012:ops"
		f := synth(t, hub.Props{API: hub.RESTAPI, AlarmTopicARN: arn, AlarmEmails: []string{"oncall@example.com"}})
		must(t, "given topic", func() {
			f.tmpl.ResourceCountIs(jsii.String("AWS::SNS::Topic"), jsii.Number(0))
			f.tmpl.AllResourcesProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
				"AlarmActions": []any{arn}, "OKActions": []any{arn},
			})
			f.tmpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]any{"Protocol": "email", "TopicArn": arn})
		})
		body := canon(f.resource(t, f.logicalID(f.hub.Dashboard))["Properties"])
		if !strings.Contains(body, `\"AWS/ApiGateway\",\"4XXError\"`) {
			t.Errorf("dashboard has no API 4xx graph: %s", body)
		}
	})
}

// TestDataSafety: deletion protection on the tables and termination
// protection on the stack unless turned off; the stream's retention; the
// outputs a consumer needs; and no grant the code does not use.
func TestDataSafety(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		f := synth(t, hub.Props{})
		if tp := f.stack.TerminationProtection(); tp == nil || !*tp {
			t.Errorf("termination protection %v, want on", tp)
		}
		must(t, "tables and outputs", func() {
			f.tmpl.AllResourcesProperties(jsii.String("AWS::DynamoDB::Table"), map[string]any{"DeletionProtectionEnabled": true})
			f.tmpl.HasResourceProperties(jsii.String("AWS::Kinesis::Stream"), map[string]any{"RetentionPeriodHours": 24})
			f.tmpl.HasOutput(jsii.String(hub.OutputStreamKeyARN), map[string]any{
				"Value": getAtt(f.ref(t, f.hub.StreamKey.KeyId()), "Arn"),
			})
			for _, tb := range schema.Tables() {
				f.tmpl.HasOutput(jsii.String(hub.OutputTableName(tb)), map[string]any{
					"Value": map[string]any{"Ref": f.ref(t, f.hub.Tables[tb.ID].TableName())},
				})
			}
		})
		// The device routes verify device keys only: the ingress function
		// gets neither the owner secret nor an index of the queue table.
		ingress := f.resources("AWS::Lambda::Function")[f.ref(t, f.hub.Functions[hub.Ingress].FunctionName())]
		if v := dig(ingress, "Environment", "Variables", schema.EnvOwnerSecretARN); v != nil {
			t.Errorf("ingress has %s=%s", schema.EnvOwnerSecretARN, canon(v))
		}
		role := f.ref(t, f.hub.Functions[hub.Ingress].Role().RoleName())
		for id, p := range f.resources("AWS::IAM::Policy") {
			if !strings.Contains(canon(p["Roles"]), `"`+role+`"`) {
				continue
			}
			if doc := canon(p["PolicyDocument"]); strings.Contains(doc, "secretsmanager:") || strings.Contains(doc, "/index/") {
				t.Errorf("ingress policy %s grants the secret or an index: %s", id, doc)
			}
		}
	})
	t.Run("development", func(t *testing.T) {
		f := synthStack(t, hub.StackProps{
			StackProps: awscdk.StackProps{TerminationProtection: jsii.Bool(false)},
			Hub:        hub.Props{DisableDeletionProtection: true, RemovalPolicy: awscdk.RemovalPolicy_DESTROY, StreamRetention: 168 * time.Hour},
		})
		if tp := f.stack.TerminationProtection(); tp == nil || *tp {
			t.Errorf("termination protection %v, want off", tp)
		}
		must(t, "unprotected tables", func() {
			f.tmpl.AllResourcesProperties(jsii.String("AWS::DynamoDB::Table"), map[string]any{"DeletionProtectionEnabled": false})
			f.tmpl.HasResourceProperties(jsii.String("AWS::Kinesis::Stream"), map[string]any{"RetentionPeriodHours": 168})
		})
	})
}

// TestLocalStackSettings: what `make localstack-deploy` synthesizes (REST
// API, no dashboard, the functions built for this machine) deploys on a
// current LocalStack: no dashboard resource or output, the functions'
// architecture is the one built, and the REST stage's billed per-method
// metrics are off.
func TestLocalStackSettings(t *testing.T) {
	f := synth(t, hub.Props{API: hub.RESTAPI, DisableDashboard: true, Arch: "amd64"})
	checkNag(t, f)
	if f.hub.Dashboard != nil {
		t.Error("dashboard built")
	}
	if _, ok := dig(f.template, "Outputs", hub.OutputDashboard).(map[string]any); ok {
		t.Errorf("output %s without a dashboard", hub.OutputDashboard)
	}
	must(t, "localstack template", func() {
		f.tmpl.ResourceCountIs(jsii.String("AWS::CloudWatch::Dashboard"), jsii.Number(0))
		f.tmpl.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(len(hub.Functions())))
		f.tmpl.AllResourcesProperties(jsii.String("AWS::Lambda::Function"), map[string]any{"Architectures": []any{"x86_64"}})
		f.tmpl.HasResourceProperties(jsii.String("AWS::ApiGateway::Stage"), map[string]any{
			"MethodSettings": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{"MetricsEnabled": false})}),
		})
	})
	if n := len(f.hub.Alarms); n == 0 {
		t.Error("no alarms without the dashboard")
	}
}
