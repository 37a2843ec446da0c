package hub

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/devicehub/devicehub/internal/schema"
)

// Stack output names: the values a client needs after a deploy.
const (
	OutputHubHost         = "HubHost"         // host name in connection strings (HostName=...)
	OutputAPIURL          = "ApiUrl"          // base URL of the HTTP API (DEVICEHUB_URL)
	OutputOwnerSecretARN  = "OwnerSecretArn"  // secret holding the owner policy key
	OutputOwnerSecretName = "OwnerSecretName" // same secret, by name
	OutputStreamName      = "StreamName"      // telemetry stream
	OutputStreamARN       = "StreamArn"
	OutputStreamKeyARN    = "StreamKeyArn" // KMS key of the stream (customer key only): consumers need kms:Decrypt on it
	OutputAlarmTopicARN   = "AlarmTopicArn"
	OutputDomainTarget    = "DomainTarget"  // DNS target of the custom domain, when one is set
	OutputDashboard       = "DashboardName" // when the dashboard is on
	OutputDeviceURL       = "DeviceUrl"     // base URL of the device routes when they have their own (API url)
	OutputX509Target      = "X509Target"    // DNS target of the X.509 devices' domain, with Props.X509
	// With routes: every endpoint with its resource (JSON, shared/routing's
	// endpoint fields), and the router's on-failure queue.
	OutputRoutingEndpoints = "RoutingEndpoints"
	OutputRouterOnFailure  = "RouterOnFailureQueueUrl"
)

// OutputTableName is the output holding a table's physical name, e.g.
// "DevicesTableName" for schema.Devices.
func OutputTableName(t schema.Table) string { return t.ID + "TableName" }

// StackProps are a stack's settings and its hub's.
type StackProps struct {
	awscdk.StackProps
	Hub Props
}

// NewStack is a stack holding one hub and its outputs: what the devicehub
// CDK app deploys. Apps that embed the hub in their own stack call New.
func NewStack(scope constructs.Construct, id string, props *StackProps) (awscdk.Stack, *Hub, error) {
	if props == nil {
		props = &StackProps{}
	}
	sp := props.StackProps
	if sp.TerminationProtection == nil {
		// The stack holds the registry and the queues: deleting it takes a
		// deliberate step (the app's context terminationProtection=false).
		sp.TerminationProtection = jsii.Bool(true)
	}
	if sp.Description == nil {
		sp.Description = jsii.String("devicehub: serverless device messaging hub (IoT Hub's device and service HTTPS APIs)")
	}
	stack := awscdk.NewStack(scope, &id, &sp)
	h, err := New(stack, "Hub", &props.Hub)
	if err != nil {
		return nil, nil, err
	}
	out := func(name string, value *string, desc string) {
		awscdk.NewCfnOutput(stack, jsii.String(name), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
	}
	out(OutputHubHost, h.HubHost, "HostName for connection strings")
	out(OutputAPIURL, h.APIURL, "Base URL of the hub's HTTP API (DEVICEHUB_URL)")
	out(OutputOwnerSecretARN, h.OwnerSecret.SecretArn(), "Secret holding the owner policy key (JSON keyName, key)")
	out(OutputOwnerSecretName, h.OwnerSecret.SecretName(), "Name of the owner policy secret")
	out(OutputStreamName, h.Stream.StreamName(), "Telemetry Kinesis stream")
	out(OutputStreamARN, h.Stream.StreamArn(), "Telemetry Kinesis stream ARN")
	if h.StreamKey != nil {
		out(OutputStreamKeyARN, h.StreamKey.KeyArn(), "KMS key of the telemetry stream: grant consumers kms:Decrypt on it")
	}
	for _, t := range schema.Tables() {
		out(OutputTableName(t), h.Tables[t.ID].TableName(), t.ID+" DynamoDB table")
	}
	out(OutputAlarmTopicARN, h.AlarmTopic.TopicArn(), "SNS topic every alarm notifies: subscribe whoever is on call")
	if h.Dashboard != nil {
		out(OutputDashboard, h.Dashboard.DashboardName(), "CloudWatch dashboard")
	}
	if h.DeviceURL != nil {
		out(OutputDeviceURL, h.DeviceURL, "Base URL of the device routes (the ingress function's URL); its host is the HostName for SDK devices: deploy again with -c hubHost=<that host>")
	}
	if h.DomainTarget != nil {
		out(OutputDomainTarget, h.DomainTarget, "Point a CNAME (or alias) for the custom domain here")
	}
	if rr := h.Routing; rr != nil {
		out(OutputRoutingEndpoints, jsii.String(endpointsJSON(rr.Definition)), "Routing endpoints with their resources (stream name, queue URL, bucket name, bus name)")
		out(OutputRouterOnFailure, rr.OnFailure.QueueUrl(), "Batches the router gave up on (shard and sequence numbers): replay them before the stream's retention ends")
	}
	if h.X509Target != nil {
		out(OutputX509Target, h.X509Target, "Point a CNAME (or alias) for the X.509 devices' domain here (the mTLS load balancer)")
	}
	return stack, h, nil
}
