// Command infra is the devicehub CDK app (cdk.json runs it): one stack
// holding the hub construct of infra/hub, configured from CDK context
// (`cdk deploy -c api=rest -c removalPolicy=destroy ...`), checked by the
// cdk-nag AwsSolutions pack at every synth. `-c routes=routes.json` reads
// the routing definition from the file `devicehub local --routes` reads.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/devicehub/devicehub/infra/hub"
	"github.com/devicehub/devicehub/shared/routing"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	get := func(key string) string {
		if v := app.Node().TryGetContext(jsii.String(key)); v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	name, props, err := stackProps(get, os.Getenv)
	if err == nil {
		_, _, err = hub.NewStack(app, name, props)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devicehub infra:", err)
		os.Exit(1)
	}
	if get("nag") != "false" {
		awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	}
	app.Synth(nil)
}

// stackProps reads the stack's settings from CDK context (get) and the
// environment: every context key is optional.
func stackProps(get, getenv func(string) string) (string, *hub.StackProps, error) {
	name := get("stackName")
	if name == "" {
		name = "DeviceHub"
	}
	p := &hub.StackProps{}
	region := getenv("CDK_DEFAULT_REGION")
	if r := getenv("AWS_REGION"); r != "" {
		region = r // the CLI sets CDK_DEFAULT_REGION to us-east-1 when it finds no AWS config
	}
	if region != "" || getenv("CDK_DEFAULT_ACCOUNT") != "" {
		p.Env = &awscdk.Environment{Region: str(region), Account: str(getenv("CDK_DEFAULT_ACCOUNT"))}
	}
	h := &p.Hub
	h.API = hub.APIKind(get("api"))
	h.Arch = get("lambdaArch")
	h.HubHost = get("hubHost")
	h.LogLevel = get("logLevel")
	h.SystemLogLevel = get("systemLogLevel")
	h.AccessLogs = hub.AccessLogMode(get("accessLogs"))
	h.StreamKey = hub.StreamKeyKind(get("streamKey"))
	h.AlarmTopicARN = get("alarmTopicArn")
	if e := get("alarmEmail"); e != "" {
		h.AlarmEmails = strings.Split(e, ",")
	}
	switch get("removalPolicy") {
	case "", "retain":
	case "destroy":
		h.RemovalPolicy = awscdk.RemovalPolicy_DESTROY
	default:
		return "", nil, fmt.Errorf("context removalPolicy must be retain or destroy")
	}
	if d := get("domainName"); d != "" {
		h.Domain = &hub.Domain{Name: d, CertificateARN: get("certificateArn")}
	}
	if path := get("routes"); path != "" {
		// Validated as it is read: a bad condition fails synth here,
		// naming the route and the position.
		def, err := routing.Load(path)
		if err != nil {
			return "", nil, fmt.Errorf("context routes: %w", err)
		}
		h.Routing.Definition = def
	}
	h.Routing.HubName = get("hubName")
	if d := get("x509Domain"); d != "" {
		h.X509 = &hub.X509{Domain: d, CertificateARN: get("x509CertificateArn"), ClientCertHeader: get("x509ClientCertHeader")}
	}
	// A throwaway stack (removalPolicy=destroy) is unprotected unless the
	// context says otherwise: protection would stop its destruction.
	if h.RemovalPolicy == awscdk.RemovalPolicy_DESTROY {
		h.DisableDeletionProtection = true
		p.TerminationProtection = jsii.Bool(false)
	}
	bools := map[string]func(bool){
		"deletionProtection":    func(on bool) { h.DisableDeletionProtection = !on },
		"terminationProtection": func(on bool) { p.TerminationProtection = &on },
		"dashboard":             func(on bool) { h.DisableDashboard = !on },
		"restDetailedMetrics":   func(on bool) { h.RESTDetailedMetrics = on },
		"exampleConsumer":       func(on bool) { h.ExampleConsumer = on },
		"routeBucketVersioning": func(on bool) { h.Routing.BucketVersioning = on },
	}
	for key, set := range bools {
		if v := get(key); v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				return "", nil, fmt.Errorf("context %s: %w", key, err)
			}
			set(on)
		}
	}
	var err error
	ints := map[string]*int{
		"streamShards": &h.StreamShards, "c2dMaxDelivery": &h.C2DMaxDelivery, "c2dMaxQueue": &h.C2DMaxQueue, "memoryMB": &h.MemoryMB,
		"throttleBurst": &h.ThrottleBurst, "authCacheSize": &h.AuthCacheSize, "recordVersion": &h.RecordVersion,
		"ingressConcurrency": &h.Concurrency.Ingress, "serviceConcurrency": &h.Concurrency.Service, "sweeperConcurrency": &h.Concurrency.Sweeper,
		"routerConcurrency": &h.Concurrency.Router, "routerBatchSize": &h.Routing.BatchSize,
		"routerParallelizationFactor": &h.Routing.ParallelizationFactor, "routerRetryAttempts": &h.Routing.RetryAttempts,
	}
	for key, dst := range ints {
		v := get(key)
		switch {
		case v == "":
		case v == "none" && strings.HasSuffix(key, "Concurrency"):
			*dst = hub.Unreserved
		default:
			if *dst, err = strconv.Atoi(v); err != nil {
				return "", nil, fmt.Errorf("context %s: %w", key, err)
			}
		}
	}
	floats := map[string]*float64{"throttleRate": &h.ThrottleRate, "alarmErrorRate": &h.Alarms.ErrorRate}
	for key, dst := range floats {
		if v := get(key); v != "" {
			if *dst, err = strconv.ParseFloat(v, 64); err != nil {
				return "", nil, fmt.Errorf("context %s: %w", key, err)
			}
		}
	}
	durations := map[string]*time.Duration{
		"streamRetention": &h.StreamRetention, "c2dDefaultTTL": &h.C2DDefaultTTL, "feedbackTTL": &h.FeedbackTTL, "sweepRate": &h.SweepRate,
		"alarmDeviceP99": &h.Alarms.DeviceP99, "alarmServiceP99": &h.Alarms.ServiceP99, "authCacheTTL": &h.AuthCacheTTL,
		"routerBatchWindow": &h.Routing.BatchWindow, "routerMaxRecordAge": &h.Routing.MaxRecordAge, "alarmRouterLag": &h.Alarms.RouterLag,
	}
	for key, dst := range durations {
		if v := get(key); v != "" {
			if *dst, err = time.ParseDuration(v); err != nil {
				return "", nil, fmt.Errorf("context %s: %w", key, err)
			}
		}
	}
	if reads := get("registryReads"); reads != "" {
		// registryReads=MIN-MAX (and registryWrites=MIN-MAX,
		// registryTargetUtilization=PERCENT): a provisioned registry table.
		c := &hub.RegistryCapacity{}
		if c.MinReads, c.MaxReads, err = capacityRange(reads); err != nil {
			return "", nil, fmt.Errorf("context registryReads: %w", err)
		}
		if w := get("registryWrites"); w != "" {
			if c.MinWrites, c.MaxWrites, err = capacityRange(w); err != nil {
				return "", nil, fmt.Errorf("context registryWrites: %w", err)
			}
		}
		if u := get("registryTargetUtilization"); u != "" {
			if c.TargetUtilization, err = strconv.ParseFloat(u, 64); err != nil {
				return "", nil, fmt.Errorf("context registryTargetUtilization: %w", err)
			}
		}
		h.RegistryCapacity = c
	} else if get("registryWrites") != "" || get("registryTargetUtilization") != "" {
		return "", nil, fmt.Errorf("context registryWrites and registryTargetUtilization need registryReads (a provisioned registry table)")
	}
	if get("authCacheTTL") != "" && h.AuthCacheTTL == 0 {
		h.AuthCacheTTL = hub.DisableAuthCache // authCacheTTL=0s: no cache
	}
	return name, p, nil
}

// capacityRange reads MIN-MAX capacity units; hub.New checks the bounds.
func capacityRange(v string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(v, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want MIN-MAX capacity units, e.g. 100-39000", v)
	}
	if lo, err = strconv.Atoi(a); err == nil {
		hi, err = strconv.Atoi(b)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%q: want MIN-MAX capacity units: %w", v, err)
	}
	return lo, hi, nil
}

func str(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
