package hub

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/devicehub/devicehub/internal/schema"
)

// RESTStage is the REST API's stage: its name is the first path segment of
// the REST API's execute-api URL.
const RESTStage = "hub"

// The functions authenticate every request themselves, with IoT Hub's SAS
// tokens (device keys and the owner policy key), as IoT Hub clients expect;
// API Gateway authorizers cannot verify those tokens without a second
// function call per request.
var authSuppressions = []*cdknag.NagPackSuppression{
	{Id: jsii.String("AwsSolutions-APIG4"), Reason: jsii.String("Every route is authorized in the function by IoT Hub SAS tokens (device key or owner policy key), the protocol IoT Hub clients speak.")},
	{Id: jsii.String("AwsSolutions-COG4"), Reason: jsii.String("IoT Hub clients authenticate with SAS tokens, not Cognito; the function verifies them.")},
}

// api creates the API flavour chosen by Props.API, its access logs and
// routes, and hands each function the host name devices sign for.
func (h *Hub) api() error {
	p := h.Props
	if err := checkRoutes(Routes()); err != nil {
		return err
	}
	if p.AccessLogs != NoAccessLogs {
		h.AccessLogs = awslogs.NewLogGroup(h.Construct, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
			Retention:     p.LogRetention,
			RemovalPolicy: p.RemovalPolicy,
		})
	}
	// The execute-api host is built from the API id, not read from the
	// stage URL: the stage depends on the functions, which need the host.
	var apiID *string
	basePath := "/"
	switch p.API {
	case HTTPAPI:
		apiID = h.httpAPI(Routes())
	case RESTAPI:
		apiID = h.restAPI()
		basePath = "/" + RESTStage + "/"
	case FunctionURL:
		apiID = h.httpAPI(routesOf(Service))
		h.deviceURL()
	}
	execHost := awscdk.Fn_Join(jsii.String(""), &[]*string{apiID, jsii.String(".execute-api."), awscdk.Aws_REGION(), jsii.String("."), awscdk.Aws_URL_SUFFIX()})
	h.APIURL = awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("https://"), execHost, jsii.String(basePath)})
	h.HubHost = execHost
	if p.Domain != nil {
		h.HubHost = jsii.String(p.Domain.Name)
		h.APIURL = jsii.String("https://" + p.Domain.Name + "/")
	}
	if p.HubHost != "" {
		h.HubHost = jsii.String(p.HubHost)
	}
	for _, fn := range h.Functions {
		fn.AddEnvironment(jsii.String(schema.EnvHubHost), h.HubHost, nil)
	}
	return nil
}

// deviceURL gives the ingress function a public URL (AuthType NONE: the
// function verifies every device's SAS token itself, as behind the API).
// The URL reaches only the device routes: the ingress function serves
// nothing else and holds no grant beyond them.
//
// A function cannot be told its own URL (the URL depends on the function),
// so the hub host stays the service API's host, or Props.HubHost: deploy
// once, then again with HubHost set to the DeviceUrl output's host, so that
// SDK devices, which sign for the host they connect to, are accepted.
func (h *Hub) deviceURL() {
	fn := h.Functions[Ingress]
	url := fn.AddFunctionUrl(&awslambda.FunctionUrlOptions{
		AuthType:   awslambda.FunctionUrlAuthType_NONE,
		InvokeMode: awslambda.InvokeMode_BUFFERED,
	})
	// Since October 2025 a public URL also needs lambda:InvokeFunction,
	// allowed only through the URL.
	fn.AddPermission(jsii.String("InvokeViaFunctionUrl"), &awslambda.Permission{
		Principal:             awsiam.NewAnyPrincipal(),
		Action:                jsii.String("lambda:InvokeFunction"),
		InvokedViaFunctionUrl: jsii.Bool(true),
	})
	h.DeviceURL = url.Url()
}

// routesOf are the routes served by function.
func routesOf(function string) []Route {
	var out []Route
	for _, r := range Routes() {
		if r.Function == function {
			out = append(out, r)
		}
	}
	return out
}

// checkRoutes refuses a route table API Gateway would reject or that would
// route a path to a function that does not serve it.
func checkRoutes(routes []Route) error {
	seen := map[string]bool{}
	for _, r := range routes {
		if _, ok := timeouts[r.Function]; !ok || r.Function == Sweeper {
			return fmt.Errorf("hub: route %s %s: no API function %q", r.Method, r.Path, r.Function)
		}
		key := r.Method + " " + r.Path
		if seen[key] {
			return fmt.Errorf("hub: route %s twice", key)
		}
		seen[key] = true
	}
	return nil
}

// httpAPI builds the HTTP API with its $default stage and routes; it
// returns the API id.
func (h *Hub) httpAPI(routes []Route) *string {
	p := h.Props
	api := awsapigatewayv2.NewHttpApi(h.Construct, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		Description:        jsii.String("devicehub device and service API"),
		CreateDefaultStage: jsii.Bool(false),
		// With a custom domain, devices must use it: their SAS tokens name it.
		DisableExecuteApiEndpoint: jsii.Bool(p.Domain != nil),
	})
	stageProps := &awsapigatewayv2.HttpStageProps{
		HttpApi:    api,
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		// The stage's default route settings: each route its own bucket.
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(p.ThrottleRate),
			BurstLimit: jsii.Number(p.ThrottleBurst),
		},
	}
	if h.AccessLogs != nil {
		stageProps.AccessLogSettings = &accessLogSettings{
			destination: awsapigatewayv2.NewLogGroupLogDestination(h.AccessLogs),
			format:      awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat(HTTPAPI, p.AccessLogs))),
		}
	}
	if p.Domain != nil {
		dn := awsapigatewayv2.NewDomainName(h.Construct, jsii.String("Domain"), &awsapigatewayv2.DomainNameProps{
			DomainName:  jsii.String(p.Domain.Name),
			Certificate: p.Domain.Certificate,
		})
		stageProps.DomainMapping = &awsapigatewayv2.DomainMappingOptions{DomainName: dn}
		h.DomainTarget = dn.RegionalDomainName()
	}
	stage := awsapigatewayv2.NewHttpStage(h.Construct, jsii.String("HttpStage"), stageProps)
	if h.AccessLogs == nil {
		cdknag.NagSuppressions_AddResourceSuppressions(stage, &[]*cdknag.NagPackSuppression{noAccessLogs}, jsii.Bool(false))
	}

	integrations := map[string]awsapigatewayv2.HttpRouteIntegration{}
	for _, r := range routes {
		if integrations[r.Function] != nil {
			continue
		}
		integrations[r.Function] = awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(title(r.Function)+"Integration"), h.Functions[r.Function],
			&awsapigatewayv2integrations.HttpLambdaIntegrationProps{PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0()})
	}
	for _, r := range routes {
		api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(r.Path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
			Integration: integrations[r.Function],
		})
	}
	cdknag.NagSuppressions_AddResourceSuppressions(api, &authSuppressions, jsii.Bool(true))
	h.apiMetrics = apiMetrics{
		count: api.MetricCount(nil), clientErrors: api.MetricClientError(nil),
		serverErrors: api.MetricServerError(nil), latency: api.MetricLatency(nil),
	}
	return api.ApiId()
}

// restAPI builds the REST API and its stage; it returns the API id.
func (h *Hub) restAPI() *string {
	p := h.Props
	props := &awsapigateway.RestApiProps{
		Description: jsii.String("devicehub device and service API"),
		// Bodies reach the functions base64-encoded and byte for byte,
		// whatever their content type (C2D and D2C bodies are opaque).
		BinaryMediaTypes: jsii.Strings("*/*"),
		EndpointTypes:    &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL},
		// REST API stage logs need the account-level CloudWatch role.
		CloudWatchRole:              jsii.Bool(true),
		CloudWatchRoleRemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		DeployOptions: &awsapigateway.StageOptions{
			StageName:    jsii.String(RESTStage),
			LoggingLevel: awsapigateway.MethodLoggingLevel_ERROR,
			// Per-method metrics are custom metrics, billed; the API-wide
			// ones the alarms use are free.
			MetricsEnabled: jsii.Bool(p.RESTDetailedMetrics),
			// The default method throttling: each method its own bucket.
			ThrottlingRateLimit:  jsii.Number(p.ThrottleRate),
			ThrottlingBurstLimit: jsii.Number(p.ThrottleBurst),
		},
		DisableExecuteApiEndpoint: jsii.Bool(p.Domain != nil),
	}
	switch p.AccessLogs {
	case FullAccessLogs:
		props.DeployOptions.AccessLogDestination = awsapigateway.NewLogGroupLogDestination(h.AccessLogs)
		props.DeployOptions.AccessLogFormat = awsapigateway.AccessLogFormat_JsonWithStandardFields(&awsapigateway.JsonWithStandardFieldProps{
			Caller: jsii.Bool(true), HttpMethod: jsii.Bool(true), Ip: jsii.Bool(true), Protocol: jsii.Bool(true),
			RequestTime: jsii.Bool(true), ResourcePath: jsii.Bool(true), ResponseLength: jsii.Bool(true),
			Status: jsii.Bool(true), User: jsii.Bool(true),
		})
	case LeanAccessLogs:
		props.DeployOptions.AccessLogDestination = awsapigateway.NewLogGroupLogDestination(h.AccessLogs)
		props.DeployOptions.AccessLogFormat = awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat(RESTAPI, LeanAccessLogs)))
	}
	if p.Domain != nil {
		props.DomainName = &awsapigateway.DomainNameOptions{
			DomainName:     jsii.String(p.Domain.Name),
			Certificate:    p.Domain.Certificate,
			EndpointType:   awsapigateway.EndpointType_REGIONAL,
			SecurityPolicy: awsapigateway.SecurityPolicy_TLS_1_2,
		}
	}
	api := awsapigateway.NewRestApi(h.Construct, jsii.String("RestApi"), props)
	if p.Domain != nil {
		h.DomainTarget = api.DomainName().DomainNameAliasDomainName()
	}
	integrations := map[string]awsapigateway.Integration{}
	for _, name := range []string{Ingress, Service} {
		integrations[name] = awsapigateway.NewLambdaIntegration(h.Functions[name], &awsapigateway.LambdaIntegrationOptions{
			Proxy: jsii.Bool(true),
			// No console test-invoke permission: only the deployed stage calls the function.
			AllowTestInvoke: jsii.Bool(false),
		})
	}
	for _, r := range Routes() {
		res := api.Root().ResourceForPath(jsii.String(strings.TrimPrefix(r.Path, "/")))
		res.AddMethod(jsii.String(r.Method), integrations[r.Function], &awsapigateway.MethodOptions{
			AuthorizationType: awsapigateway.AuthorizationType_NONE,
		})
	}
	suppressions := []*cdknag.NagPackSuppression{
		authSuppressions[0], authSuppressions[1],
		{Id: jsii.String("AwsSolutions-APIG2"), Reason: jsii.String("Requests are proxied whole to the function, which validates headers and bodies against IoT Hub's protocol and answers IoT Hub's error shape.")},
		{Id: jsii.String("AwsSolutions-APIG3"), Reason: jsii.String("WAF is a deployment choice with its own price; attach a web ACL to the stage where the threat model asks for it. The functions reject unauthenticated calls before any storage access.")},
		{Id: jsii.String("AwsSolutions-IAM4"), Reason: jsii.String("The account-level API Gateway logging role uses AWS's own AmazonAPIGatewayPushToCloudWatchLogs policy, the documented policy for it: API Gateway names the log groups it writes."),
			AppliesTo: &[]interface{}{jsii.String("Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")}},
	}
	if h.AccessLogs == nil {
		suppressions = append(suppressions, noAccessLogs)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(api, &suppressions, jsii.Bool(true))
	h.apiMetrics = apiMetrics{
		count: api.MetricCount(nil), clientErrors: api.MetricClientError(nil),
		serverErrors: api.MetricServerError(nil), latency: api.MetricLatency(nil),
	}
	return api.RestApiId()
}

// noAccessLogs justifies a stage without access logs (Props.AccessLogs off).
var noAccessLogs = &cdknag.NagPackSuppression{
	Id: jsii.String("AwsSolutions-APIG1"),
	Reason: jsii.String("Access logs are off by the deployment's choice (AccessLogs off): each line is billed as log ingestion, " +
		"which at one line per device message costs more than the compute. Failed requests are still logged by the functions, and the API metrics remain."),
}

// accessLogFormat is the access log line, one JSON object per request, of
// an API flavour (HTTP API or REST API variables) in mode full or lean.
// The REST API's full format is CDK's standard fields instead.
func accessLogFormat(api APIKind, mode AccessLogMode) string {
	fields := map[string]string{
		"requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
		"status": "$context.status",
	}
	switch api {
	case RESTAPI:
		fields["routeKey"] = "$context.httpMethod $context.resourcePath"
		fields["integrationError"] = "$context.integration.error"
	default:
		fields["routeKey"] = "$context.routeKey"
		fields["integrationError"] = "$context.integrationErrorMessage"
	}
	if mode == LeanAccessLogs {
		fields["requestTime"] = "$context.requestTimeEpoch"
	} else {
		for k, v := range map[string]string{
			"requestTime": "$context.requestTime", "httpMethod": "$context.httpMethod", "path": "$context.path",
			"protocol": "$context.protocol", "responseLength": "$context.responseLength",
			"integrationLatency": "$context.integrationLatency", "userAgent": "$context.identity.userAgent",
		} {
			fields[k] = v
		}
	}
	b, _ := json.Marshal(fields)
	return string(b)
}

// accessLogSettings implements awsapigatewayv2.IAccessLogSettings.
type accessLogSettings struct {
	destination awsapigatewayv2.IAccessLogDestination
	format      awsapigateway.AccessLogFormat
}

func (a *accessLogSettings) Destination() awsapigatewayv2.IAccessLogDestination { return a.destination }
func (a *accessLogSettings) Format() awsapigateway.AccessLogFormat              { return a.format }
