package hub_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/devicehub/devicehub/infra/hub"
	"github.com/devicehub/devicehub/internal/costmodel"
	"github.com/devicehub/devicehub/internal/schema"
)

// TestGatewayFreeFlavour synthesizes the cheapest configuration in one
// stack: device routes on the ingress function's URL (service routes on an
// HTTP API of their own), a provisioned stream with its capacity alarm,
// encrypted with the aws/kinesis key, and no access logs.
func TestGatewayFreeFlavour(t *testing.T) {
	f := synth(t, hub.Props{API: hub.FunctionURL, StreamShards: 2, AccessLogs: hub.NoAccessLogs, StreamKey: hub.AWSManagedStreamKey})
	t.Run("cdk-nag", func(t *testing.T) { checkNag(t, f) })
	// Nor any other warning (CDK's own, e.g. a metric math expression it
	// cannot parse).
	must(t, "warnings", func() { f.annotations.HasNoWarning(jsii.String("*"), assertions.Match_AnyValue()) })
	t.Run("functions", func(t *testing.T) { checkFunctions(t, f) })
	t.Run("environment", func(t *testing.T) { checkEnvironment(t, f) })
	t.Run("iam", func(t *testing.T) { checkIAM(t, f) })
	t.Run("alarms", func(t *testing.T) { checkAlarms(t, f, "5xx", createdTopic(t, f)) })

	ingress := f.ref(t, f.hub.Functions[hub.Ingress].FunctionName())
	t.Run("device URL", func(t *testing.T) {
		must(t, "function URL", func() {
			f.tmpl.ResourceCountIs(jsii.String("AWS::Lambda::Url"), jsii.Number(1))
			f.tmpl.HasResourceProperties(jsii.String("AWS::Lambda::Url"), map[string]any{
				"AuthType": "NONE", "InvokeMode": "BUFFERED", "TargetFunctionArn": getAtt(ingress, "Arn"),
			})
			f.tmpl.HasOutput(jsii.String(hub.OutputDeviceURL), map[string]any{"Value": assertions.Match_ObjectLike(&map[string]any{
				"Fn::GetAtt": assertions.Match_ArrayWith(&[]any{"FunctionUrl"}),
			})})
		})
		// Public, but only through the URL: the URL's own permission
		// (InvokeFunctionUrl, auth NONE) and InvokeFunction limited to
		// invocations via the URL. Every other permission is API Gateway's
		// (service function) or EventBridge's (sweeper), scoped to its source.
		var public []string
		for id, p := range f.resources("AWS::Lambda::Permission") {
			fnID := ""
			if l, ok := dig(p, "FunctionName", "Fn::GetAtt").([]any); ok {
				fnID, _ = l[0].(string)
			}
			switch {
			case p["Principal"] == "*":
				if fnID != ingress {
					t.Errorf("%s: public permission on %s", id, fnID)
				}
				switch p["Action"] {
				case "lambda:InvokeFunctionUrl":
					if p["FunctionUrlAuthType"] != "NONE" {
						t.Errorf("%s: %s", id, canon(p))
					}
				case "lambda:InvokeFunction":
					if p["InvokedViaFunctionUrl"] != true {
						t.Errorf("%s: InvokeFunction for anyone, not only via the URL: %s", id, canon(p))
					}
				default:
					t.Errorf("%s: %s", id, canon(p))
				}
				public = append(public, p["Action"].(string))
			case fnID == ingress:
				t.Errorf("%s: the ingress function is invoked only through its URL: %s", id, canon(p))
			case p["SourceArn"] == nil:
				t.Errorf("%s: unscoped %s", id, canon(p))
			}
		}
		if d := diffSets([]string{"lambda:InvokeFunction", "lambda:InvokeFunctionUrl"}, public); d != "" {
			t.Errorf("public permissions:%s", d)
		}
		// Until the stack is told the URL's host, devices sign for the
		// service API's host (a function cannot learn its own URL).
		vars := dig(f.resources("AWS::Lambda::Function")[ingress], "Environment", "Variables").(map[string]any)
		if host := canon(vars[schema.EnvHubHost]); !strings.Contains(host, ".execute-api.") {
			t.Errorf("hub host %s, want the service API's host", host)
		}
	})
	t.Run("service routes stay on the API", func(t *testing.T) {
		integrations := map[string]string{} // integration id -> function id
		for id, in := range f.resources("AWS::ApiGatewayV2::Integration") {
			if l, ok := dig(in, "IntegrationUri", "Fn::GetAtt").([]any); ok {
				integrations[id] = l[0].(string)
			}
		}
		got := map[string]string{}
		for _, r := range f.resources("AWS::ApiGatewayV2::Route") {
			for integ, fn := range integrations {
				if strings.Contains(canon(r["Target"]), `"`+integ+`"`) {
					got[r["RouteKey"].(string)] = fn
				}
			}
		}
		want := map[string]string{}
		for k, fn := range wantRoutes(t, f) {
			if fn != ingress {
				want[k] = fn
			}
		}
		compareRoutes(t, want, got)
	})
	t.Run("no access logs", func(t *testing.T) {
		if f.hub.AccessLogs != nil {
			t.Error("access log group built")
		}
		for id, s := range f.resources("AWS::ApiGatewayV2::Stage") {
			if s["AccessLogSettings"] != nil {
				t.Errorf("%s: %s", id, canon(s["AccessLogSettings"]))
			}
		}
		if n := len(f.resources("AWS::Logs::LogGroup")); n != len(hub.Functions()) {
			t.Errorf("%d log groups, want one per function", n)
		}
	})
	// The cost model reads what was built.
	t.Run("cost model reads it", func(t *testing.T) {
		raw, _ := json.Marshal(f.template)
		s, err := costmodel.ReadTemplate("url", raw)
		if err != nil {
			t.Fatal(err)
		}
		if s.API != costmodel.FunctionURL || s.Stream.OnDemand || s.Stream.Shards != 2 || s.Stream.CustomerKey || s.CustomerKeys != 0 ||
			s.AccessLogFormat != "" || s.Dashboards != 1 || s.Functions[costmodel.Ingress].SystemLogLevel != "WARN" ||
			s.AlarmMetrics != 34 || s.SweepsPerMonth != 730*60 {
			t.Errorf("%+v", s)
		}
	})
	t.Run("provisioned stream, aws/kinesis key", func(t *testing.T) {
		must(t, "stream", func() {
			f.tmpl.HasResourceProperties(jsii.String("AWS::Kinesis::Stream"), map[string]any{
				"ShardCount": 2, "StreamModeDetails": map[string]any{"StreamMode": "PROVISIONED"},
				"StreamEncryption": map[string]any{"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
			})
			f.tmpl.ResourceCountIs(jsii.String("AWS::KMS::Key"), jsii.Number(0))
		})
		if f.hub.StreamKey != nil {
			t.Error("a stream key built")
		}
		if _, ok := dig(f.template, "Outputs", hub.OutputStreamKeyARN).(map[string]any); ok {
			t.Errorf("output %s without a customer key", hub.OutputStreamKeyARN)
		}
	})
}

// TestRegistryCapacity: RegistryCapacity makes the registry table (and its
// index) provisioned under target-tracking auto scaling, leaves the other
// tables on demand, stays cdk-nag clean, and is what the cost model reads.
func TestRegistryCapacity(t *testing.T) {
	c := &hub.RegistryCapacity{MinReads: 100, MaxReads: 20_000, MinWrites: 5, MaxWrites: 500}
	f := synth(t, hub.Props{RegistryCapacity: c})
	t.Run("cdk-nag", func(t *testing.T) { checkNag(t, f) })
	if c.TargetUtilization != 0 {
		t.Error("the caller's props were changed")
	}
	devices := f.ref(t, f.hub.Tables[schema.Devices.ID].TableName())
	for id, tb := range f.resources("AWS::DynamoDB::Table") {
		if id != devices {
			if tb["BillingMode"] != "PAY_PER_REQUEST" || tb["ProvisionedThroughput"] != nil {
				t.Errorf("%s: %s, want on demand", id, canon(tb["BillingMode"]))
			}
			continue
		}
		// CDK leaves out BillingMode PROVISIONED, CloudFormation's default.
		if (tb["BillingMode"] != nil && tb["BillingMode"] != "PROVISIONED") || canon(tb["ProvisionedThroughput"]) != canon(map[string]any{"ReadCapacityUnits": 100, "WriteCapacityUnits": 5}) {
			t.Errorf("registry table: %s %s", canon(tb["BillingMode"]), canon(tb["ProvisionedThroughput"]))
		}
		for _, ix := range list(tb["GlobalSecondaryIndexes"]) {
			if canon(dig(ix, "ProvisionedThroughput")) != canon(map[string]any{"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}) {
				t.Errorf("index %v: %s", dig(ix, "IndexName"), canon(dig(ix, "ProvisionedThroughput")))
			}
		}
	}
	// One target per dimension, each with a target-tracking policy at 70 %.
	want := map[string][2]float64{
		"dynamodb:table:ReadCapacityUnits":  {100, 20_000},
		"dynamodb:table:WriteCapacityUnits": {5, 500},
		"dynamodb:index:ReadCapacityUnits":  {5, 500},
		"dynamodb:index:WriteCapacityUnits": {5, 500},
	}
	targets := f.resources("AWS::ApplicationAutoScaling::ScalableTarget")
	if len(targets) != len(want) {
		t.Errorf("%d scalable targets, want %d", len(targets), len(want))
	}
	policies := map[string]map[string]any{}
	for _, p := range f.resources("AWS::ApplicationAutoScaling::ScalingPolicy") {
		policies[dig(p, "ScalingTargetId", "Ref").(string)] = p
	}
	for id, tg := range targets {
		dim, _ := tg["ScalableDimension"].(string)
		w, ok := want[dim]
		if !ok || tg["MinCapacity"] != w[0] || tg["MaxCapacity"] != w[1] || !strings.Contains(canon(tg["ResourceId"]), devices) {
			t.Errorf("%s: %s", id, canon(tg))
		}
		delete(want, dim)
		if v := dig(policies[id], "TargetTrackingScalingPolicyConfiguration", "TargetValue"); v != 70.0 {
			t.Errorf("%s (%s): target utilization %v, want 70", id, dim, v)
		}
	}
	if len(want) != 0 {
		t.Errorf("dimensions not auto scaled: %v", want)
	}
	t.Run("cost model reads it", func(t *testing.T) {
		raw, _ := json.Marshal(f.template)
		s, err := costmodel.ReadTemplate("fleet", raw)
		if err != nil {
			t.Fatal(err)
		}
		got := map[costmodel.Capacity]bool{}
		for _, c := range s.Registry.Capacity {
			got[c] = true
		}
		for _, c := range []costmodel.Capacity{
			{Min: 100, Max: 20_000, Target: 70}, {Write: true, Min: 5, Max: 500, Target: 70},
			{Index: schema.DevicePendingIndex, Min: 5, Max: 500, Target: 70}, {Index: schema.DevicePendingIndex, Write: true, Min: 5, Max: 500, Target: 70},
		} {
			if !got[c] {
				t.Errorf("the model did not read %+v: %+v", c, s.Registry)
			}
		}
		if !s.Registry.Provisioned || len(s.Registry.Capacity) != 4 {
			t.Errorf("%+v", s.Registry)
		}
	})
	t.Run("default is on demand", func(t *testing.T) {
		d := synth(t, hub.Props{})
		if n := len(d.resources("AWS::ApplicationAutoScaling::ScalableTarget")); n != 0 {
			t.Errorf("%d scalable targets without RegistryCapacity", n)
		}
	})
}
