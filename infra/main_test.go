package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/devicehub/devicehub/infra/hub"
	"github.com/devicehub/devicehub/shared/routing"
)

func TestStackPropsFromContext(t *testing.T) {
	ctx := map[string]string{
		"stackName": "Hub2", "api": "rest", "removalPolicy": "destroy", "streamShards": "4",
		"c2dMaxQueue": "200", "sweepRate": "2m", "domainName": "hub.example.com", "certificateArn": "arn:cert",
		"x509Domain": "devices.example.com", "x509CertificateArn": "arn:x509", "x509ClientCertHeader": "X-Chain",
	}
	env := map[string]string{"CDK_DEFAULT_REGION": "us-east-1", "AWS_REGION": "eu-central-1", "CDK_DEFAULT_ACCOUNT": "123456789012"}
	name, p, err := stackProps(func(k string) string { return ctx[k] }, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	h := p.Hub
	if name != "Hub2" || h.API != hub.RESTAPI || h.RemovalPolicy != awscdk.RemovalPolicy_DESTROY || h.StreamShards != 4 ||
		h.C2DMaxQueue != 200 || h.SweepRate != 2*time.Minute || h.Domain == nil || h.Domain.CertificateARN != "arn:cert" ||
		h.X509 == nil || *h.X509 != (hub.X509{Domain: "devices.example.com", CertificateARN: "arn:x509", ClientCertHeader: "X-Chain"}) {
		t.Errorf("%s %+v", name, h)
	}
	// AWS_REGION wins: the CLI overwrites CDK_DEFAULT_REGION with us-east-1
	// when it finds no AWS config.
	if *p.Env.Region != "eu-central-1" || *p.Env.Account != "123456789012" {
		t.Errorf("env %s %s", *p.Env.Region, *p.Env.Account)
	}
}

func TestStackPropsFleetContext(t *testing.T) {
	ctx := map[string]string{
		"lambdaArch": "amd64", "dashboard": "false", "restDetailedMetrics": "true", "deletionProtection": "false",
		"terminationProtection": "false", "throttleRate": "250.5", "throttleBurst": "100", "ingressConcurrency": "50",
		"serviceConcurrency": "none", "alarmEmail": "a@example.com,b@example.com", "alarmErrorRate": "2.5", "alarmDeviceP99": "800ms",
		"api": "url", "accessLogs": "lean", "systemLogLevel": "info", "authCacheTTL": "2m", "authCacheSize": "50000", "streamKey": "aws", "recordVersion": "1",
		"registryReads": "100-40000", "registryWrites": "5-500", "registryTargetUtilization": "60",
	}
	_, p, err := stackProps(func(k string) string { return ctx[k] }, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	h := p.Hub
	want := hub.Props{
		Arch: "amd64", DisableDashboard: true, RESTDetailedMetrics: true, DisableDeletionProtection: true,
		ThrottleRate: 250.5, ThrottleBurst: 100, Concurrency: hub.Concurrency{Ingress: 50, Service: hub.Unreserved},
		AlarmEmails: []string{"a@example.com", "b@example.com"}, Alarms: hub.AlarmThresholds{ErrorRate: 2.5, DeviceP99: 800 * time.Millisecond},
		API: hub.FunctionURL, AccessLogs: hub.LeanAccessLogs, SystemLogLevel: "info", AuthCacheTTL: 2 * time.Minute, AuthCacheSize: 50_000,
		StreamKey: hub.AWSManagedStreamKey, RecordVersion: 1,
		RegistryCapacity: &hub.RegistryCapacity{MinReads: 100, MaxReads: 40_000, MinWrites: 5, MaxWrites: 500, TargetUtilization: 60},
	}
	if !reflect.DeepEqual(h, want) || p.TerminationProtection == nil || *p.TerminationProtection {
		t.Errorf("got %+v (termination protection %v), want %+v", h, p.TerminationProtection, want)
	}
}

// TestThrowawayStackUnprotected: removalPolicy=destroy also turns off the
// protections that would stop the destruction, unless the context keeps them.
func TestThrowawayStackUnprotected(t *testing.T) {
	for _, tc := range []struct {
		ctx     map[string]string
		protect bool
	}{
		{map[string]string{}, true},
		{map[string]string{"removalPolicy": "destroy"}, false},
		{map[string]string{"removalPolicy": "destroy", "terminationProtection": "true"}, true},
	} {
		_, p, err := stackProps(func(k string) string { return tc.ctx[k] }, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		termination := p.TerminationProtection == nil || *p.TerminationProtection // nil: hub.NewStack's default, on
		if termination != tc.protect || p.Hub.DisableDeletionProtection == (tc.ctx["removalPolicy"] != "destroy") {
			t.Errorf("%v: termination protection %v, deletion protection off %v", tc.ctx, p.TerminationProtection, p.Hub.DisableDeletionProtection)
		}
	}
}

// TestLambdaArchDrivesBuildAndTemplate: the one LAMBDA_ARCH setting is what
// `make lambdas` builds and what the stack declares (context lambdaArch);
// LocalStack targets refuse to run without an auth token.
func TestLambdaArchDrivesBuildAndTemplate(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.Command("make", append([]string{"-n", "-C", ".."}, args...)...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "LAMBDA_ARCH=") && !strings.HasPrefix(kv, "LOCALSTACK_AUTH_TOKEN=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, tc := range []struct {
		args []string
		env  []string
		arch string
	}{
		{[]string{"synth"}, nil, "arm64"},
		{[]string{"synth", "LAMBDA_ARCH=amd64"}, nil, "amd64"},
		{[]string{"deploy"}, []string{"LAMBDA_ARCH=amd64"}, "amd64"},
		{[]string{"localstack-deploy", "LAMBDA_ARCH=arm64"}, []string{"LOCALSTACK_AUTH_TOKEN=test"}, "arm64"},
	} {
		out, err := run(tc.env, tc.args...)
		if err != nil {
			t.Fatalf("make -n %v: %v\n%s", tc.args, err, out)
		}
		if !strings.Contains(out, "GOARCH="+tc.arch+" ") || !strings.Contains(out, "-c lambdaArch="+tc.arch+" ") ||
			strings.Count(out, "-c lambdaArch=") != strings.Count(out, "-c lambdaArch="+tc.arch) {
			t.Errorf("make -n %v %v: want GOARCH=%s and -c lambdaArch=%[3]s throughout:\n%s", tc.args, tc.env, tc.arch, out)
		}
		if tc.args[0] == "localstack-deploy" && !strings.Contains(out, "-c dashboard=false") {
			t.Errorf("localstack-deploy keeps the dashboard:\n%s", out)
		}
	}
	out, err := run(nil, "localstack-deploy")
	if err == nil || !strings.Contains(out, "LOCALSTACK_AUTH_TOKEN is not set") {
		t.Errorf("localstack-deploy without LOCALSTACK_AUTH_TOKEN: %v\n%s", err, out)
	}
}

// TestAuthCacheOffByContext: authCacheTTL=0s turns the cache off (a zero
// prop would mean the default).
func TestAuthCacheOffByContext(t *testing.T) {
	_, p, err := stackProps(func(k string) string { return map[string]string{"authCacheTTL": "0s"}[k] }, func(string) string { return "" })
	if err != nil || p.Hub.AuthCacheTTL != hub.DisableAuthCache {
		t.Errorf("authCacheTTL=0s: %v %v, want DisableAuthCache", p.Hub.AuthCacheTTL, err)
	}
}

func TestStackPropsDefaults(t *testing.T) {
	none := func(string) string { return "" }
	name, p, err := stackProps(none, none)
	if err != nil || name != "DeviceHub" || p.Env != nil || !reflect.ValueOf(p.Hub).IsZero() {
		t.Errorf("%s %+v %v", name, p, err)
	}
}

func TestStackPropsRejects(t *testing.T) {
	for key, value := range map[string]string{
		"removalPolicy": "snapshot", "streamShards": "many", "feedbackTTL": "1 hour", "dashboard": "maybe",
		"throttleRate": "fast", "memoryMB": "none", "alarmDeviceP99": "1", "authCacheTTL": "soon", "authCacheSize": "big",
		"exampleConsumer": "perhaps", "routerBatchWindow": "soon", "routerBatchSize": "full", "routes": "no-such-routes.json",
		"registryReads": "100", "registryWrites": "5-500", "registryTargetUtilization": "70",
	} {
		get := func(k string) string {
			if k == key {
				return value
			}
			return ""
		}
		if _, _, err := stackProps(get, func(string) string { return "" }); err == nil {
			t.Errorf("%s=%s accepted", key, value)
		}
	}
}

// TestRoutesFromContext: -c routes=<file> reads the definition `devicehub
// local --routes` reads; a bad condition fails with the route's name and
// the position.
func TestRoutesFromContext(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "routes.json"), filepath.Join(dir, "bad.json")
	def := `{"endpoints":[{"name":"hot","kind":"kinesis"}],"routes":[{"name":"alerts","condition":"$body.temperature > 30","endpoints":["hot"]}]}`
	if err := os.WriteFile(good, []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(strings.Replace(def, "> 30", ">", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := map[string]string{
		"routes": good, "exampleConsumer": "true", "hubName": "my-hub", "routerBatchSize": "500", "routerParallelizationFactor": "2",
		"routerRetryAttempts": "3", "routerBatchWindow": "5s", "routerMaxRecordAge": "1h", "routerConcurrency": "20", "alarmRouterLag": "2m",
		"routeBucketVersioning": "true",
	}
	_, p, err := stackProps(func(k string) string { return ctx[k] }, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want, err := routing.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	h := p.Hub
	r := h.Routing
	if !reflect.DeepEqual(r.Definition, want) || !h.ExampleConsumer || r.HubName != "my-hub" || !r.BucketVersioning ||
		r.StreamReading != (hub.StreamReading{BatchSize: 500, ParallelizationFactor: 2, RetryAttempts: 3, BatchWindow: 5 * time.Second, MaxRecordAge: time.Hour}) ||
		h.Concurrency.Router != 20 || h.Alarms.RouterLag != 2*time.Minute {
		t.Errorf("%+v", h)
	}
	ctx["routes"] = bad
	_, _, err = stackProps(func(k string) string { return ctx[k] }, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), `route "alerts": condition: position`) {
		t.Errorf("bad routes file: %v", err)
	}
}
