package hub

import (
	"maps"
	"path/filepath"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/lambdagc"
	"github.com/devicehub/devicehub/internal/schema"
)

// DynamoDB actions, exactly what the stores call. Query is the only action
// the functions run on an index.
var (
	itemRead  = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
	itemWrite = []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
	indexRead = []string{"dynamodb:Query"}
)

// Timeouts: API Gateway gives up on an integration after 29 s (REST) or
// 30 s (HTTP); the sweeper has until its next run; the router has a
// batch's endpoint writes and their retries.
var timeouts = map[string]float64{Ingress: 10, Service: 10, Sweeper: 55, Router: 60}

var descriptions = map[string]string{
	Ingress: "devicehub device routes: telemetry in, cloud-to-device out",
	Service: "devicehub service routes: registry, cloud-to-device send, feedback",
	Sweeper: "devicehub sweeper: expires and dead-letters C2D messages, finishes interrupted transitions",
	Router:  "devicehub router: IoT Hub message routes, from the telemetry stream to their endpoints",
}

// functions creates the three functions, each with its own role holding
// only the grants its code needs, and its own log group.
func (h *Hub) functions() {
	p := h.Props
	h.Functions = map[string]awslambda.Function{}
	for _, name := range Functions() {
		h.Functions[name] = h.newFunction(h.Construct, title(name), name, name, descriptions[name], timeouts[name], h.environment(name), p.Concurrency.of(name))
	}
	// EventBridge invokes the sweeper asynchronously. Lambda would retry a
	// failed sweep twice and hold a throttled one (a sweep still running)
	// for up to six hours; the next scheduled run does the same work, so
	// neither: no retry, and an event older than one period is dropped.
	h.Functions[Sweeper].ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(0),
		MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(min(p.SweepRate.Seconds(), maxEventAge.Seconds()))),
	})
	h.grants()
}

// newFunction creates one function from the bootstrap in the asset directory
// named asset, with the settings every devicehub function shares: its own
// role (the caller adds its grants) and log group, the hub's memory and
// architecture, and Lambda's JSON logging at the configured levels. id
// prefixes the construct ids (id, idRole, idLogs).
func (h *Hub) newFunction(scope constructs.Construct, id, name, asset, description string, timeout float64, env map[string]*string, concurrency int) awslambda.Function {
	p := h.Props
	role := awsiam.NewRole(scope, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("devicehub " + name + " function"),
	})
	logs := awslogs.NewLogGroup(scope, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     p.LogRetention,
		RemovalPolicy: p.RemovalPolicy,
	})
	// The role writes to this log group only (no managed
	// AWSLambdaBasicExecutionRole, which allows every log group).
	role.AddToPrincipalPolicy(allow([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, logs.LogGroupArn()))
	fp := &awslambda.FunctionProps{
		Description:  jsii.String(description),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: architectures[p.Arch],
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(p.AssetDir, asset)), nil),
		MemorySize:   jsii.Number(p.MemoryMB),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(timeout)),
		Environment:  h.withGoRuntime(env),
		Role:         role,
		LogGroup:     logs,
		// Lambda's JSON log format lets it filter by level: the system
		// level decides whether the START/END/REPORT lines of each
		// invocation are written, the application level drops the
		// functions' own JSON lines below it (their "level" field).
		LoggingFormat:         awslambda.LoggingFormat_JSON,
		SystemLogLevelV2:      systemLogLevels[p.SystemLogLevel],
		ApplicationLogLevelV2: applicationLogLevels[p.LogLevel],
	}
	if concurrency != Unreserved {
		fp.ReservedConcurrentExecutions = jsii.Number(concurrency)
	}
	return awslambda.NewFunction(scope, jsii.String(id), fp)
}

// withGoRuntime is env (a copy) with the Go runtime's garbage collector
// settings for the function's memory size, which every devicehub function,
// a Go binary, runs with: see internal/lambdagc for the choice. The limit
// follows Props.MemoryMB.
func (h *Hub) withGoRuntime(env map[string]*string) *map[string]*string {
	out := maps.Clone(env)
	if out == nil {
		out = map[string]*string{}
	}
	for k, v := range lambdagc.Env(h.Props.MemoryMB) {
		out[k] = jsii.String(v)
	}
	return &out
}

// maxEventAge is the longest age Lambda accepts for an async event.
const maxEventAge = 6 * time.Hour

// of is the reserved concurrency of the named function.
func (c Concurrency) of(name string) int {
	return map[string]int{Ingress: c.Ingress, Service: c.Service, Sweeper: c.Sweeper, Router: c.Router}[name]
}

// environment is a function's configuration. Every function gets every
// table and stream name, so none falls back to a local-mode default (IAM
// decides what each may use); only the service function, which
// authenticates owner-policy tokens, is told where the owner key is.
func (h *Hub) environment(name string) map[string]*string {
	env := map[string]*string{
		schema.Telemetry.EnvVar: h.Stream.StreamName(),
	}
	if name == Service {
		env[schema.EnvOwnerSecretARN] = h.OwnerSecret.SecretArn()
	}
	for _, t := range schema.Tables() {
		env[t.EnvVar] = h.Tables[t.ID].TableName()
	}
	for k, v := range h.Props.settings() {
		env[k] = jsii.String(v)
	}
	if name == Ingress || name == Service {
		// The payload version the front door sends, so the function decodes
		// each event once, into its type: REST is 1.0; HTTP API and function
		// URLs are 2.0.
		format := config.EventFormatV2
		if h.Props.API == RESTAPI {
			format = config.EventFormatV1
		}
		env[schema.EnvEventFormat] = jsii.String(format)
	}
	// EnvHubHost is added by api(), once the API exists.
	return env
}

// grants gives each function exactly what its code calls, on exact ARNs.
func (h *Hub) grants() {
	devices, c2d, feedback := h.Tables[schema.Devices.ID], h.Tables[schema.C2D.ID], h.Tables[schema.Feedback.ID]
	secret := allow([]string{"secretsmanager:GetSecretValue"}, h.OwnerSecret.SecretArn())
	rw := append(append([]string{}, itemRead...), itemWrite...)

	h.deviceGrants(h.Functions[Ingress].Role())

	svc := h.Functions[Service].Role()
	svc.AddToPrincipalPolicy(allow([]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Scan"}, devices.TableArn()))
	svc.AddToPrincipalPolicy(allow(rw, c2d.TableArn(), feedback.TableArn()))
	if ix := append(indexARNs(c2d, schema.C2D), indexARNs(feedback, schema.Feedback)...); len(ix) > 0 {
		svc.AddToPrincipalPolicy(allow(indexRead, ix...))
	}
	svc.AddToPrincipalPolicy(secret)
	// The routing statistics route reads the router's counters and dead
	// letters; only the router writes them.
	svc.AddToPrincipalPolicy(allow([]string{"dynamodb:GetItem", "dynamodb:Query"}, h.Tables[schema.Routing.ID].TableArn()))

	// The sweeper finds due devices in the sweep index and settles their
	// queues; it reads no feedback and authenticates nobody.
	sw := h.Functions[Sweeper].Role()
	sw.AddToPrincipalPolicy(allow(rw, c2d.TableArn()))
	sw.AddToPrincipalPolicy(allow(indexRead, indexARN(c2d, schema.C2DSweepIndex)))
}

// deviceGrants are what a function serving the device routes calls: the
// ingress function's, and the mTLS front door's.
func (h *Hub) deviceGrants(role awsiam.IRole) {
	h.telemetryWriter(role)
	// The authenticator reads device keys; it never writes the registry.
	role.AddToPrincipalPolicy(allow([]string{"dynamodb:GetItem"}, h.Tables[schema.Devices.ID].TableArn()))
	// A device's queue is its own partition: no index, and no owner key
	// (the device routes verify device keys only).
	role.AddToPrincipalPolicy(allow(append(append([]string{}, itemRead...), itemWrite...), h.Tables[schema.C2D.ID].TableArn()))
}

// telemetryWriter lets role put records on the telemetry stream.
func (h *Hub) telemetryWriter(role awsiam.IRole) {
	role.AddToPrincipalPolicy(allow([]string{"kinesis:PutRecords"}, h.Stream.StreamArn()))
	// A producer to a stream encrypted with a customer key needs a data key
	// from it (the aws/kinesis key's policy admits the account's producers).
	if h.StreamKey != nil {
		role.AddToPrincipalPolicy(allow([]string{"kms:GenerateDataKey"}, h.StreamKey.KeyArn()))
	}
}

// indexARNs are the ARNs of t's indexes, one per index named in schema.
func indexARNs(table awsdynamodb.Table, t schema.Table) []*string {
	var out []*string
	for _, ix := range t.Indexes {
		out = append(out, indexARN(table, ix.Name))
	}
	return out
}

func indexARN(table awsdynamodb.Table, name string) *string {
	return awscdk.Fn_Join(jsii.String(""), &[]*string{table.TableArn(), jsii.String("/index/" + name)})
}

func allow(actions []string, resources ...*string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	})
}

func title(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
