package hub_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/devicehub/devicehub/infra/hub"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/costmodel"
	"github.com/devicehub/devicehub/internal/lambdagc"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/routing"
)

// routedDefinition has an endpoint of every kind, created by the stack or
// named by the definition, a $twin condition and a lifecycle route.
func routedDefinition() routing.Definition {
	return routing.Definition{
		Endpoints: []routing.Endpoint{
			{Name: "hot", Kind: routing.Kinesis},
			{Name: "partner", Kind: routing.Kinesis, Stream: "partner-stream"},
			{Name: "orders", Kind: routing.SQS, FIFO: true},
			{Name: "alerts", Kind: routing.SQS, Queue: "https://sqs.eu-west-1.amazonaws.com/123456789012/alerts"},
			{Name: "archive", Kind: routing.S3, Prefix: "telemetry/"},
			{Name: "lake", Kind: routing.S3}, // Routing.Buckets, under a customer key
			{Name: "bus", Kind: routing.EventBridge},
		},
		Routes: []routing.Route{
			{Name: "alerts", Condition: "$body.temperature > 30", Endpoints: []string{"hot", "alerts", routing.BuiltIn}},
			{Name: "all", Endpoints: []string{"archive", "lake"}},
			{Name: "eu", Condition: "$twin.tags.region = 'eu'", Endpoints: []string{"orders"}},
			{Name: "lifecycle", Source: routing.SourceDeviceLifecycleEvents, Endpoints: []string{"bus", "partner"}},
		},
		Enrichments: []routing.Enrichment{{Key: "hub", Value: "$iothubname", Endpoints: []string{"hot"}}},
	}
}

// The existing resources of the routed stack.
const (
	lakeKeyARN     = "arn:aws:kms:eu-west-1:123456789012:key/lake"
	lakeBucketName = "lake-bucket"
)

// The test's own consumer functions.
const (
	pollingConsumer = "Analytics"
	fanOutConsumer  = "HotReader"
)

// TestRoutingOff: without routes the hub is what it was: no router, no
// mapping, no queue, bucket or extra stream, no lifecycle events, no
// routing output, and the alarms watch the same metrics (the Routing table
// exists for the statistics route, but unwritten it is not watched).
func TestRoutingOff(t *testing.T) {
	f := synth(t, hub.Props{})
	if f.hub.Routing != nil || f.hub.Functions[hub.Router] != nil || f.hub.ExampleConsumer != nil {
		t.Errorf("routing resources built: %+v", f.hub.Routing)
	}
	must(t, "no routing resources", func() {
		for typ, n := range map[string]int{
			"AWS::Lambda::EventSourceMapping": 0, "AWS::SQS::Queue": 0, "AWS::S3::Bucket": 0, "AWS::Kinesis::StreamConsumer": 0,
			"AWS::Kinesis::Stream": 1, "AWS::Lambda::Function": len(hub.Functions()), "AWS::DynamoDB::Table": len(schema.Tables()),
		} {
			f.tmpl.ResourceCountIs(jsii.String(typ), jsii.Number(n))
		}
	})
	for _, name := range hub.Functions() {
		vars := functionEnv(t, f, f.hub.Functions[name])
		for _, k := range []string{schema.EnvLifecycleEvents, schema.EnvHubName, schema.EnvRoutes} {
			if vars[k] != nil {
				t.Errorf("%s: %s=%s without routes", name, k, canon(vars[k]))
			}
		}
	}
	for _, o := range []string{hub.OutputRoutingEndpoints, hub.OutputRouterOnFailure} {
		if dig(f.template, "Outputs", o) != nil {
			t.Errorf("output %s without routes", o)
		}
	}
	raw, _ := json.Marshal(f.template)
	if s, err := costmodel.ReadTemplate("off", raw); err != nil || s.AlarmMetrics != 30 {
		t.Errorf("alarm metrics %d (%v), want the 30 of a hub without routes", s.AlarmMetrics, err)
	}
}

// TestRouting: every endpoint kind, a $twin condition, a lifecycle route,
// and two consumers (polling on the telemetry stream, enhanced fan-out on
// an endpoint stream).
func TestRouting(t *testing.T) {
	var consumers map[string]*hub.Consumer
	f := synthWith(t, func(scope constructs.Construct) hub.StackProps {
		key := awskms.Key_FromKeyArn(scope, jsii.String("LakeKey"), jsii.String(lakeKeyARN))
		lake := awss3.Bucket_FromBucketAttributes(scope, jsii.String("Lake"), &awss3.BucketAttributes{BucketName: jsii.String(lakeBucketName), EncryptionKey: key})
		return hub.StackProps{Hub: hub.Props{Routing: hub.Routing{Definition: routedDefinition(), Buckets: map[string]awss3.IBucket{"lake": lake}}}}
	}, func(h *hub.Hub) {
		consumers = map[string]*hub.Consumer{}
		for id, o := range map[string]hub.ConsumerOptions{
			pollingConsumer: {},
			fanOutConsumer:  {Endpoint: "hot", EnhancedFanOut: true, StreamReading: hub.StreamReading{BatchSize: 50}},
		} {
			c, err := h.AddConsumer(id, userFunction(h, id), o)
			if err != nil {
				t.Fatal(err)
			}
			consumers[id] = c
		}
	})
	rr := f.hub.Routing
	if rr == nil {
		t.Fatal("no routing resources")
	}
	t.Run("cdk-nag", func(t *testing.T) { checkNag(t, f) })
	t.Run("router", func(t *testing.T) { checkRouter(t, f, 10) })
	t.Run("mapping", func(t *testing.T) {
		checkMapping(t, f, rr.Mapping, getAtt(f.ref(t, f.hub.Stream.StreamName()), "Arn"), rr.OnFailure, hub.StreamReading{
			BatchSize: 100, ParallelizationFactor: 1, RetryAttempts: hub.RetryUntilMaxAge, MaxRecordAge: 6 * time.Hour,
		})
	})
	t.Run("definition in the environment", func(t *testing.T) {
		def := routesEnv(t, functionEnv(t, f, rr.Function)[schema.EnvRoutes])
		want := routedDefinition()
		ref := func(token *string) string { return "<<Ref " + f.ref(t, token) + ">>" }
		want.Endpoints[0].Stream = ref(rr.Streams["hot"].StreamName())
		want.Endpoints[2].Queue = ref(rr.Queues["orders"].QueueUrl())
		want.Endpoints[4].Bucket = ref(rr.Buckets["archive"].BucketName())
		want.Endpoints[5].Bucket = lakeBucketName
		want.Endpoints[6].Bus = "default"
		if got, w := canon(def), canon(want); got != w {
			t.Errorf("routes\n got %s\nwant %s", got, w)
		}
	})
	t.Run("endpoints", func(t *testing.T) {
		key := getAtt(f.ref(t, f.hub.StreamKey.KeyId()), "Arn")
		hot := f.resources("AWS::Kinesis::Stream")[f.ref(t, rr.Streams["hot"].StreamName())]
		if dig(hot, "StreamEncryption", "EncryptionType") != "KMS" || canon(dig(hot, "StreamEncryption", "KeyId")) != canon(key) ||
			dig(hot, "StreamModeDetails", "StreamMode") != "ON_DEMAND" || hot["RetentionPeriodHours"] != 24.0 {
			t.Errorf("hot stream %s", canon(hot))
		}
		orders := f.resources("AWS::SQS::Queue")[f.ref(t, rr.Queues["orders"].QueueUrl())]
		if orders["FifoQueue"] != true || orders["SqsManagedSseEnabled"] != true || orders["DeduplicationScope"] != "messageGroup" ||
			orders["FifoThroughputLimit"] != "perMessageGroupId" {
			t.Errorf("orders queue %s", canon(orders))
		}
		archiveID := f.ref(t, rr.Buckets["archive"].BucketName())
		archive := f.resources("AWS::S3::Bucket")[archiveID]
		if canon(dig(archive, "BucketEncryption")) != `{"ServerSideEncryptionConfiguration":[{"ServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}` ||
			canon(archive["PublicAccessBlockConfiguration"]) != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` ||
			archive["VersioningConfiguration"] != nil || f.resource(t, archiveID)["DeletionPolicy"] != "Retain" {
			t.Errorf("archive bucket %s", canon(f.resource(t, archiveID)))
		}
		// Created: the hot stream and the orders queue and archive bucket;
		// besides them only the on-failure queues (router, two consumers).
		if n := len(f.resources("AWS::Kinesis::Stream")); n != 2 {
			t.Errorf("%d streams, want the telemetry and hot streams", n)
		}
		if n := len(f.resources("AWS::SQS::Queue")); n != 4 {
			t.Errorf("%d queues, want orders and three on-failure queues", n)
		}
		if n := len(f.resources("AWS::S3::Bucket")); n != 1 {
			t.Errorf("%d buckets, want archive", n)
		}
		// Every created queue and bucket refuses plain HTTP.
		for typ, field := range map[string]string{"AWS::SQS::QueuePolicy": "Queues", "AWS::S3::BucketPolicy": "Bucket"} {
			want := len(f.resources(map[string]string{"AWS::SQS::QueuePolicy": "AWS::SQS::Queue", "AWS::S3::BucketPolicy": "AWS::S3::Bucket"}[typ]))
			n := 0
			for _, p := range f.resources(typ) {
				if strings.Contains(canon(p["PolicyDocument"]), `"Condition":{"Bool":{"aws:SecureTransport":"false"}},"Effect":"Deny"`) && p[field] != nil {
					n++
				}
			}
			if n != want {
				t.Errorf("%d %s enforce TLS, want %d", n, typ, want)
			}
		}
		for _, q := range []awssqs.IQueue{rr.OnFailure, consumers[pollingConsumer].OnFailure} {
			if p := f.resources("AWS::SQS::Queue")[f.ref(t, q.QueueUrl())]; p["MessageRetentionPeriod"] != 1209600.0 || p["SqsManagedSseEnabled"] != true {
				t.Errorf("on-failure queue %s", canon(p))
			}
		}
	})
	t.Run("grants", func(t *testing.T) { checkRoutedGrants(t, f, consumers) })
	t.Run("lifecycle events", func(t *testing.T) {
		hubName := functionEnv(t, f, rr.Function)[schema.EnvHubName]
		if !strings.Contains(canon(hubName), `"Fn::Select":[0,{"Fn::Split":[".",`) {
			t.Errorf("hub name %s, want the host's first label", canon(hubName))
		}
		for _, name := range hub.Functions() {
			vars := functionEnv(t, f, f.hub.Functions[name])
			on := name != hub.Ingress
			if (vars[schema.EnvLifecycleEvents] == "1") != on || (canon(vars[schema.EnvHubName]) == canon(hubName)) != on {
				t.Errorf("%s: %s=%v %s=%s, want them only on the service function and the sweeper", name,
					schema.EnvLifecycleEvents, vars[schema.EnvLifecycleEvents], schema.EnvHubName, canon(vars[schema.EnvHubName]))
			}
		}
	})
	t.Run("alarms", func(t *testing.T) {
		checkAlarms(t, f, "5xx", createdTopic(t, f))
		byID := alarmsByID(f)
		age := byID["RouterIteratorAge"]
		if canon(alarmMetrics(age)) != canon([]string{"AWS/Lambda IteratorAge FunctionName=" + f.ref(t, rr.Function.FunctionName())}) ||
			age["Statistic"] != "Maximum" || age["Threshold"] != 60000.0 || age["EvaluationPeriods"] != 3.0 || age["DatapointsToAlarm"] != 2.0 {
			t.Errorf("RouterIteratorAge %s", canon(age))
		}
		failed := byID["RouterFailedBatches"]
		if failed["Namespace"] != "AWS/SQS" || failed["MetricName"] != "ApproximateNumberOfMessagesVisible" || failed["Threshold"] != 1.0 ||
			!strings.Contains(canon(failed["Dimensions"]), canon(getAtt(f.ref(t, rr.OnFailure.QueueUrl()), "QueueName"))) {
			t.Errorf("RouterFailedBatches %s", canon(failed))
		}
		topic := canon([]any{createdTopic(t, f)})
		for id, c := range consumers {
			if len(c.Alarms) != 2 || !slices.Contains(f.hub.Consumers, c) {
				t.Errorf("consumer %s: %d alarms, in Hub.Consumers %t", id, len(c.Alarms), slices.Contains(f.hub.Consumers, c))
			}
			for _, a := range c.Alarms {
				props := f.resources("AWS::CloudWatch::Alarm")[f.logicalID(a)]
				if canon(props["AlarmActions"]) != topic || canon(props["OKActions"]) != topic {
					t.Errorf("consumer %s: alarm %s notifies %s", id, *a.Node().Id(), canon(props["AlarmActions"]))
				}
			}
		}
		body := canon(f.resource(t, f.logicalID(f.hub.Dashboard))["Properties"])
		for _, s := range []string{`\"IteratorAge\"`, `\"GetRecords.IteratorAgeMilliseconds\"`, `\"ApproximateNumberOfMessagesVisible\"`, "Consumer " + fanOutConsumer} {
			if !strings.Contains(body, s) {
				t.Errorf("dashboard lacks %s", s)
			}
		}
	})
	t.Run("consumers", func(t *testing.T) {
		polling, fanOut := consumers[pollingConsumer], consumers[fanOutConsumer]
		if polling.StreamConsumer != nil {
			t.Error("a stream consumer for a polling consumer")
		}
		reading := hub.StreamReading{BatchSize: 100, ParallelizationFactor: 1, RetryAttempts: 10, MaxRecordAge: 6 * time.Hour}
		checkMapping(t, f, polling.Mapping, getAtt(f.ref(t, f.hub.Stream.StreamName()), "Arn"), polling.OnFailure, reading)
		scs := f.resources("AWS::Kinesis::StreamConsumer")
		if len(scs) != 1 {
			t.Fatalf("%d stream consumers, want 1", len(scs))
		}
		for _, sc := range scs {
			if canon(sc["StreamARN"]) != canon(getAtt(f.ref(t, rr.Streams["hot"].StreamName()), "Arn")) || sc["ConsumerName"] == nil {
				t.Errorf("stream consumer %s", canon(sc))
			}
		}
		reading.BatchSize = 50
		checkMapping(t, f, fanOut.Mapping, f.stack.Resolve(fanOut.StreamConsumer.StreamConsumerArn()), fanOut.OnFailure, reading)
		if n := len(f.resources("AWS::Lambda::EventSourceMapping")); n != 3 {
			t.Errorf("%d mappings, want the router's and the two consumers'", n)
		}
	})
	t.Run("outputs", func(t *testing.T) {
		if got, want := canon(dig(f.template, "Outputs", hub.OutputRouterOnFailure, "Value")), canon(map[string]any{"Ref": f.ref(t, rr.OnFailure.QueueUrl())}); got != want {
			t.Errorf("on-failure output %s, want %s", got, want)
		}
		var eps []routing.Endpoint
		if err := json.Unmarshal([]byte(joined(t, dig(f.template, "Outputs", hub.OutputRoutingEndpoints, "Value"))), &eps); err != nil || len(eps) != 7 || eps[6].Bus != "default" {
			t.Errorf("endpoints output %v (%v)", eps, err)
		}
	})
	t.Run("no example consumer unless asked", func(t *testing.T) {
		if f.hub.ExampleConsumer != nil {
			t.Error("example consumer built")
		}
		// The hub's four and the test's two.
		if n := len(f.resources("AWS::Lambda::Function")); n != 6 {
			t.Errorf("%d functions", n)
		}
	})
}

// checkRouter: the router is a devicehub function like the others, with
// the hub's configuration, the definition and the hub name.
func checkRouter(t *testing.T, f *fixture, concurrency int) {
	rr := f.hub.Routing
	fn := f.resources("AWS::Lambda::Function")[f.ref(t, rr.Function.FunctionName())]
	if fn["Runtime"] != "provided.al2023" || canon(fn["Architectures"]) != `["arm64"]` || fn["Handler"] != "bootstrap" || dig(fn, "Code", "S3Key") == nil ||
		fn["Timeout"] != 60.0 || fn["MemorySize"] != 256.0 || fn["ReservedConcurrentExecutions"] != float64(concurrency) ||
		dig(fn, "LoggingConfig", "LogFormat") != "JSON" || dig(fn, "LoggingConfig", "SystemLogLevel") != "WARN" {
		t.Errorf("router %s", canon(fn))
	}
	if got, want := canon(fn["Role"]), canon(getAtt(f.ref(t, rr.Function.Role().RoleName()), "Arn")); got != want {
		t.Errorf("router role %s, want its own %s", got, want)
	}
	vars := functionEnv(t, f, rr.Function)
	want := []string{
		lambdagc.EnvGOGC, lambdagc.EnvGOMEMLIMIT, schema.EnvHubHost, schema.Telemetry.EnvVar, schema.EnvRoutes, schema.EnvHubName,
		schema.EnvC2DDefaultTTL, schema.EnvC2DMaxDelivery, schema.EnvC2DMaxQueue, schema.EnvFeedbackTTL, schema.EnvLogLevel,
		schema.EnvAuthCacheTTL, schema.EnvAuthCacheSize, schema.EnvRecordVersion,
	}
	for _, tb := range schema.Tables() {
		want = append(want, tb.EnvVar)
		if canon(vars[tb.EnvVar]) != canon(map[string]any{"Ref": f.ref(t, f.hub.Tables[tb.ID].TableName())}) {
			t.Errorf("router: %s=%s", tb.EnvVar, canon(vars[tb.EnvVar]))
		}
	}
	if d := diffSets(want, slices.Collect(maps.Keys(vars))); d != "" {
		t.Errorf("router environment:%s", d)
	}
	if _, err := config.FromEnv(func(k string) string {
		if s, ok := vars[k].(string); ok {
			return s
		}
		if vars[k] != nil {
			return "deploy-time-value"
		}
		return ""
	}); err != nil {
		t.Errorf("config.FromEnv rejects the router's environment: %v", err)
	}
}

// checkMapping: a mapping with the hub's safe settings on source.
func checkMapping(t *testing.T, f *fixture, m awslambda.EventSourceMapping, source any, onFailure awssqs.IQueue, r hub.StreamReading) {
	t.Helper()
	got := f.resources("AWS::Lambda::EventSourceMapping")[f.logicalID(m)]
	var retries any = r.RetryAttempts
	switch r.RetryAttempts {
	case hub.NoRetries:
		retries = 0
	case hub.RetryUntilMaxAge:
		retries = nil // unset: Lambda retries until MaximumRecordAgeInSeconds
	}
	want := map[string]any{
		"EventSourceArn": source, "StartingPosition": "TRIM_HORIZON", "FunctionResponseTypes": []any{"ReportBatchItemFailures"},
		"BisectBatchOnFunctionError": true, "BatchSize": r.BatchSize, "ParallelizationFactor": r.ParallelizationFactor,
		"MaximumBatchingWindowInSeconds": r.BatchWindow.Seconds(), "MaximumRetryAttempts": retries, "MaximumRecordAgeInSeconds": r.MaxRecordAge.Seconds(),
		"DestinationConfig": map[string]any{"OnFailure": map[string]any{"Destination": getAtt(f.ref(t, onFailure.QueueUrl()), "Arn")}},
	}
	for k, v := range want {
		if canon(got[k]) != canon(v) {
			t.Errorf("mapping %s: %s=%s, want %s", f.logicalID(m), k, canon(got[k]), canon(v))
		}
	}
}

// checkRoutedGrants: every function's exact grants in the routed stack.
func checkRoutedGrants(t *testing.T, f *fixture, consumers map[string]*hub.Consumer) {
	rr := f.hub.Routing
	res := func(token *string) any { return f.stack.Resolve(token) }
	stream, key := res(f.hub.Stream.StreamArn()), res(f.hub.StreamKey.KeyArn())
	devices := res(f.hub.Tables[schema.Devices.ID].TableArn())
	streamRead := []string{"kinesis:DescribeStream", "kinesis:DescribeStreamConsumer", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
		"kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:ListStreams", "kinesis:SubscribeToShard"}
	onFailure := func(q awssqs.IQueue) grant {
		return grant{[]string{"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}, []any{res(q.QueueArn())}}
	}
	want := baseGrants(t, f)
	// Lifecycle events: the service function and the sweeper put them on
	// the telemetry stream; the sweeper finds owed ones in the index.
	for _, name := range []string{hub.Service, hub.Sweeper} {
		want[name] = append(want[name],
			grant{[]string{"kinesis:PutRecords"}, []any{stream}},
			grant{[]string{"kms:GenerateDataKey"}, []any{key}})
	}
	want[hub.Service] = append(want[hub.Service], grant{[]string{"dynamodb:UpdateItem"}, []any{devices}})
	want[hub.Sweeper] = append(want[hub.Sweeper],
		grant{[]string{"dynamodb:Query"}, []any{map[string]any{"Fn::Join": []any{"", []any{devices, "/index/" + schema.DevicePendingIndex}}}}},
		grant{[]string{"dynamodb:UpdateItem", "dynamodb:DeleteItem"}, []any{devices}})
	want[hub.Router] = []grant{
		logGrant(t, f, rr.Function),
		{streamRead, []any{stream}}, {[]string{"kms:Decrypt"}, []any{key}},
		onFailure(rr.OnFailure),
		{[]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}, []any{res(f.hub.Tables[schema.Routing.ID].TableArn())}},
		{[]string{"dynamodb:GetItem"}, []any{devices}}, // $twin
		{[]string{"kinesis:PutRecords"}, []any{res(rr.Streams["hot"].StreamArn()), "arn:aws:kinesis:eu-west-1:123456789012:stream/partner-stream"}},
		{[]string{"sqs:SendMessage"}, []any{res(rr.Queues["orders"].QueueArn()), "arn:aws:sqs:eu-west-1:123456789012:alerts"}},
		{[]string{"s3:PutObject"}, []any{
			map[string]any{"Fn::Join": []any{"", []any{res(rr.Buckets["archive"].BucketArn()), "/telemetry/*"}}},
			"arn:aws:s3:::" + lakeBucketName + "/devicehub/*",
		}},
		{[]string{"events:PutEvents"}, []any{"arn:aws:events:eu-west-1:123456789012:event-bus/default"}},
		{[]string{"kms:GenerateDataKey"}, []any{key, lakeKeyARN}},
	}
	checkGrants(t, f, want)

	polling, fanOut := consumers[pollingConsumer], consumers[fanOutConsumer]
	consumerARN := res(fanOut.StreamConsumer.StreamConsumerArn())
	for id, g := range map[string][]grant{
		pollingConsumer: {{streamRead, []any{stream}}, {[]string{"kms:Decrypt"}, []any{key}}, onFailure(polling.OnFailure)},
		fanOutConsumer: {
			{streamRead, []any{res(rr.Streams["hot"].StreamArn())}}, {[]string{"kms:Decrypt"}, []any{key}},
			{[]string{"kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"}, []any{consumerARN}},
			onFailure(fanOut.OnFailure),
		},
	} {
		checkRoleGrants(t, f, id, f.ref(t, consumers[id].Function.Role().RoleName()), g)
	}
}

// TestRoutingMinimal: one created Kinesis endpoint, the aws/kinesis key, no
// $twin, no lifecycle route, custom reading settings and the example
// consumer: the router gets no KMS and no registry grant, the other
// functions nothing new.
func TestRoutingMinimal(t *testing.T) {
	f := synth(t, hub.Props{
		StreamKey: hub.AWSManagedStreamKey, ExampleConsumer: true,
		Routing: hub.Routing{
			Definition: routing.Definition{
				Endpoints: []routing.Endpoint{{Name: "hot", Kind: routing.Kinesis}},
				Routes:    []routing.Route{{Name: "all", Endpoints: []string{"hot"}}},
			},
			HubName: "my-hub",
			StreamReading: hub.StreamReading{
				BatchSize: 500, ParallelizationFactor: 3, BatchWindow: 2 * time.Second, RetryAttempts: hub.NoRetries, MaxRecordAge: time.Hour,
			},
		},
	})
	rr := f.hub.Routing
	checkNag(t, f)
	checkIAM(t, f) // the three functions: nothing new
	checkAlarms(t, f, "5xx", createdTopic(t, f))
	checkRouter(t, f, 12)          // 4 on-demand shards × 3
	checkGoRuntime(t, f, "204MiB") // the router and the example consumer too
	checkMapping(t, f, rr.Mapping, getAtt(f.ref(t, f.hub.Stream.StreamName()), "Arn"), rr.OnFailure, hub.StreamReading{
		BatchSize: 500, ParallelizationFactor: 3, BatchWindow: 2 * time.Second, RetryAttempts: hub.NoRetries, MaxRecordAge: time.Hour,
	})
	res := func(token *string) any { return f.stack.Resolve(token) }
	stream := res(f.hub.Stream.StreamArn())
	streamRead := []string{"kinesis:DescribeStream", "kinesis:DescribeStreamConsumer", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
		"kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:ListStreams", "kinesis:SubscribeToShard"}
	queue := func(q awssqs.IQueue) grant {
		return grant{[]string{"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}, []any{res(q.QueueArn())}}
	}
	checkGrants(t, f, map[string][]grant{hub.Router: {
		logGrant(t, f, rr.Function), {streamRead, []any{stream}}, queue(rr.OnFailure),
		{[]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}, []any{res(f.hub.Tables[schema.Routing.ID].TableArn())}},
		{[]string{"kinesis:PutRecords"}, []any{res(rr.Streams["hot"].StreamArn())}},
	}})
	if v := functionEnv(t, f, rr.Function)[schema.EnvHubName]; v != "my-hub" {
		t.Errorf("hub name %v", v)
	}
	for _, name := range hub.Functions() {
		if v := functionEnv(t, f, f.hub.Functions[name])[schema.EnvLifecycleEvents]; v != nil {
			t.Errorf("%s: %s=%v without lifecycle routes", name, schema.EnvLifecycleEvents, v)
		}
	}
	hot := f.resources("AWS::Kinesis::Stream")[f.ref(t, rr.Streams["hot"].StreamName())]
	if canon(hot["StreamEncryption"]) != `{"EncryptionType":"KMS","KeyId":"alias/aws/kinesis"}` {
		t.Errorf("hot stream encryption %s, want the aws/kinesis key as the telemetry stream's", canon(hot["StreamEncryption"]))
	}
	must(t, "resources", func() {
		f.tmpl.ResourceCountIs(jsii.String("AWS::KMS::Key"), jsii.Number(0))
		f.tmpl.ResourceCountIs(jsii.String("AWS::S3::Bucket"), jsii.Number(0))
	})

	t.Run("example consumer", func(t *testing.T) {
		c := f.hub.ExampleConsumer
		if c == nil {
			t.Fatal("no example consumer")
		}
		fn := f.resources("AWS::Lambda::Function")[f.ref(t, c.Function.FunctionName())]
		if fn["ReservedConcurrentExecutions"] != nil || fn["Runtime"] != "provided.al2023" || dig(fn, "Code", "S3Key") == nil {
			t.Errorf("example consumer %s", canon(fn))
		}
		checkMapping(t, f, c.Mapping, getAtt(f.ref(t, f.hub.Stream.StreamName()), "Arn"), c.OnFailure, hub.StreamReading{
			BatchSize: 100, ParallelizationFactor: 1, RetryAttempts: 10, MaxRecordAge: 6 * time.Hour,
		})
		checkRoleGrants(t, f, "example consumer", f.ref(t, c.Function.Role().RoleName()),
			[]grant{logGrant(t, f, c.Function), {streamRead, []any{stream}}, queue(c.OnFailure)})
	})
}

func TestRoutingValidation(t *testing.T) {
	def := routedDefinition
	with := func(change func(*routing.Definition)) routing.Definition {
		d := def()
		change(&d)
		return d
	}
	long := routing.Definition{Endpoints: []routing.Endpoint{{Name: "hot", Kind: routing.Kinesis}}}
	for i := range 30 {
		long.Routes = append(long.Routes, routing.Route{
			Name: fmt.Sprintf("route%d", i), Condition: "$body.site = '" + strings.Repeat("x", 150) + "'", Endpoints: []string{"hot"},
		})
	}
	for _, tc := range []struct {
		name  string
		props func(scope constructs.Construct) hub.Props
		want  string
	}{
		{"bad condition", routed(func(r *hub.Routing) {
			r.Definition = with(func(d *routing.Definition) { d.Routes[0].Condition = "$body.temperature >" })
		}), `route "alerts": condition: position`},
		{"unknown endpoint in a map", func(scope constructs.Construct) hub.Props {
			return hub.Props{Routing: hub.Routing{Definition: def(), Streams: map[string]awskinesis.IStream{"nowhere": existingStream(scope)}}}
		}, `Streams["nowhere"]: the definition has no such endpoint`},
		{"kind mismatch", func(scope constructs.Construct) hub.Props {
			return hub.Props{Routing: hub.Routing{Definition: def(), Streams: map[string]awskinesis.IStream{"orders": existingStream(scope)}}}
		}, `Streams["orders"]: the endpoint is of kind sqs, not kinesis`},
		{"resource twice", func(scope constructs.Construct) hub.Props {
			return hub.Props{Routing: hub.Routing{Definition: def(), Streams: map[string]awskinesis.IStream{"partner": existingStream(scope)}}}
		}, `names its resource too ("partner-stream")`},
		{"fifo mismatch", func(scope constructs.Construct) hub.Props {
			q := awssqs.Queue_FromQueueArn(scope, jsii.String("Std"), jsii.String("arn:aws:sqs:eu-west-1:123456789012:standard"))
			return hub.Props{Routing: hub.Routing{Definition: def(), Queues: map[string]awssqs.IQueue{"orders": q}}}
		}, `Queues["orders"]: the queue's FIFO is false, the endpoint's true`},
		{"queue url", routed(func(r *hub.Routing) {
			r.Definition = with(func(d *routing.Definition) { d.Endpoints[3].Queue = "http://example.com/alerts" })
		}), `endpoint "alerts": queue "http://example.com/alerts" is not an SQS queue URL`},
		{"batch size", routed(func(r *hub.Routing) { r.BatchSize = 20_000 }), "BatchSize"},
		{"parallelization", routed(func(r *hub.Routing) { r.ParallelizationFactor = 11 }), "ParallelizationFactor"},
		{"batch window", routed(func(r *hub.Routing) { r.BatchWindow = 1500 * time.Millisecond }), "BatchWindow"},
		{"retries", routed(func(r *hub.Routing) { r.RetryAttempts = -3 }), "RetryAttempts"},
		{"record age", routed(func(r *hub.Routing) { r.MaxRecordAge = 30 * time.Second }), "MaxRecordAge"},
		{"record age outlives the stream", routed(func(r *hub.Routing) { r.MaxRecordAge = 24 * time.Hour }), "less than the stream's retention 24h0m0s"},
		{"hub name", routed(func(r *hub.Routing) { r.HubName = "a.b" }), "HubName"},
		{"environment too large", routed(func(r *hub.Routing) { r.Definition = long }), "over Lambda's 4096"},
		{"lag alarm within the batch window", func(constructs.Construct) hub.Props {
			return hub.Props{Routing: hub.Routing{Definition: def(), StreamReading: hub.StreamReading{BatchWindow: 2 * time.Minute}},
				Alarms: hub.AlarmThresholds{RouterLag: time.Minute}}
		}, "RouterLag"},
		{"router concurrency", func(constructs.Construct) hub.Props {
			return hub.Props{Routing: hub.Routing{Definition: def()}, Concurrency: hub.Concurrency{Router: -2}}
		}, "router concurrency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := awscdk.NewApp(nil)
			stack := awscdk.NewStack(app, jsii.String("V"), nil)
			p := tc.props(stack)
			p.AssetDir = assets(t)
			_, err := hub.New(stack, "Hub", &p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestAddConsumerRefuses: a consumer reads a Kinesis stream of the hub,
// with valid settings.
func TestAddConsumerRefuses(t *testing.T) {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("V"), nil)
	p := hub.Props{AssetDir: assets(t), Routing: hub.Routing{Definition: routing.Definition{
		Endpoints: []routing.Endpoint{{Name: "q", Kind: routing.SQS}},
		Routes:    []routing.Route{{Name: "all", Endpoints: []string{"q"}}},
	}}}
	h, err := hub.New(stack, "Hub", &p)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := hub.New(awscdk.NewStack(app, jsii.String("Plain"), nil), "Hub", &hub.Props{AssetDir: p.AssetDir})
	if err != nil {
		t.Fatal(err)
	}
	fn := userFunction(h, "Fn")
	for _, tc := range []struct {
		name string
		h    *hub.Hub
		o    hub.ConsumerOptions
		want string
	}{
		{"unknown endpoint", h, hub.ConsumerOptions{Endpoint: "nowhere"}, `"nowhere" is not a kinesis endpoint`},
		{"queue endpoint", h, hub.ConsumerOptions{Endpoint: "q"}, `"q" is not a kinesis endpoint`},
		{"no routing", plain, hub.ConsumerOptions{Endpoint: "q"}, "no routing endpoints"},
		{"record age", h, hub.ConsumerOptions{StreamReading: hub.StreamReading{MaxRecordAge: 48 * time.Hour}}, "less than the stream's retention"},
		{"batch size", h, hub.ConsumerOptions{StreamReading: hub.StreamReading{BatchSize: -1}}, "BatchSize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.h.AddConsumer("C"+strings.ReplaceAll(tc.name, " ", ""), fn, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("AddConsumer: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// routed is props with the routed definition, changed by change.
func routed(change func(*hub.Routing)) func(constructs.Construct) hub.Props {
	return func(constructs.Construct) hub.Props {
		p := hub.Props{Routing: hub.Routing{Definition: routedDefinition()}}
		change(&p.Routing)
		return p
	}
}

func existingStream(scope constructs.Construct) awskinesis.IStream {
	return awskinesis.Stream_FromStreamArn(scope, jsii.String("Existing"), jsii.String("arn:aws:kinesis:eu-west-1:123456789012:stream/existing"))
}

// userFunction is an application's function, as a deployment adds one: its
// own role, no managed policy.
func userFunction(h *hub.Hub, id string) awslambda.Function {
	role := awsiam.NewRole(h.Construct, jsii.String(id+"Role"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)})
	return awslambda.NewFunction(h.Construct, jsii.String(id+"Function"), &awslambda.FunctionProps{
		Runtime: awslambda.Runtime_PROVIDED_AL2023(), Architecture: awslambda.Architecture_ARM_64(), Handler: jsii.String("bootstrap"),
		Code: awslambda.Code_FromAsset(jsii.String(filepath.Join(h.Props.AssetDir, hub.ExampleConsumerAsset)), nil), Role: role,
	})
}

// functionEnv is a function's environment variables in the template.
func functionEnv(t *testing.T, f *fixture, fn awslambda.IFunction) map[string]any {
	t.Helper()
	vars, _ := dig(f.resources("AWS::Lambda::Function")[f.ref(t, fn.FunctionName())], "Environment", "Variables").(map[string]any)
	return vars
}

// routesEnv decodes the router's DEVICEHUB_ROUTES as the router will, with
// shared/routing (which validates it), each deploy-time reference written
// as <<Ref id>>.
func routesEnv(t *testing.T, v any) routing.Definition {
	t.Helper()
	d, err := routing.Decode([]byte(joined(t, v)))
	if err != nil {
		t.Fatalf("%s: %v", canon(v), err)
	}
	return d
}

// joined reassembles a string or an Fn::Join of strings and references,
// writing each reference as <<Ref id>>.
func joined(t *testing.T, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		return s
	}
	parts, ok := dig(v, "Fn::Join").([]any)
	if !ok || len(parts) != 2 || parts[0] != "" {
		t.Fatalf("not a join: %s", canon(v))
	}
	var b strings.Builder
	for _, p := range list(parts[1]) {
		switch p := p.(type) {
		case string:
			b.WriteString(p)
		default:
			ref, ok := dig(p, "Ref").(string)
			if !ok {
				t.Fatalf("part %s of %s", canon(p), canon(v))
			}
			b.WriteString("<<Ref " + ref + ">>")
		}
	}
	return b.String()
}
