package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/devicehub/devicehub/infra/hub"
)

// configuration is a named set of stack props that `make cost` prices.
type configuration struct {
	name, about string
	props       hub.Props
}

// configurations are the stacks compared: the default, what it was before
// issue 9's logging change, the REST flavour, and the cheaper settings
// step by step down to the cheapest idle hub.
var configurations = []configuration{
	{"http", "the default: HTTP API, on-demand stream, customer key, full access logs, Lambda system logs at WARN", hub.Props{}},
	{"http-verbose", "the default with Lambda's START/END/REPORT lines (system log level INFO), as before issue 9", hub.Props{SystemLogLevel: "info"}},
	{"rest", "REST API, otherwise the default", hub.Props{API: hub.RESTAPI}},
	{"http-lean", "HTTP API, lean access logs, provisioned stream of 1 shard", hub.Props{AccessLogs: hub.LeanAccessLogs, StreamShards: 1}},
	{"http-min", "HTTP API, no access logs, provisioned stream of 1 shard", hub.Props{AccessLogs: hub.NoAccessLogs, StreamShards: 1}},
	{"url", "device routes on the ingress function's URL, no access logs, provisioned stream of 1 shard", hub.Props{API: hub.FunctionURL, AccessLogs: hub.NoAccessLogs, StreamShards: 1}},
	{"url-idle", "url with the aws/kinesis stream key and no dashboard: the cheapest idle hub", hub.Props{
		API: hub.FunctionURL, AccessLogs: hub.NoAccessLogs, StreamShards: 1, StreamKey: hub.AWSManagedStreamKey, DisableDashboard: true,
	}},
	{"url-fleet", "url-idle with the registry table provisioned (auto scaled at 70% between 100 and 39,000 read units) and 500 ingress instances reserved: a large steady fleet", hub.Props{
		API: hub.FunctionURL, AccessLogs: hub.NoAccessLogs, StreamShards: 1, StreamKey: hub.AWSManagedStreamKey, DisableDashboard: true,
		RegistryCapacity: &hub.RegistryCapacity{MinReads: 100, MaxReads: 39_000, MinWrites: 5, MaxWrites: 1_000},
		Concurrency:      hub.Concurrency{Ingress: 500},
	}},
}

// synthesize builds every configuration as a stack of one CDK app, with
// cdk.json's feature flags, into out; it returns the templates' paths.
// The functions' code is a stand-in: a template refers to its asset by hash.
func synthesize(out string) (paths []string, err error) {
	raw, err := os.ReadFile("cdk.json")
	if err != nil {
		return nil, fmt.Errorf("run from the repository root (cdk.json): %w", err)
	}
	var cdk struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &cdk); err != nil {
		return nil, fmt.Errorf("cdk.json: %w", err)
	}
	assets, err := os.MkdirTemp("", "hubcost-assets")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(assets)
	for _, fn := range hub.Functions() {
		if err := os.MkdirAll(filepath.Join(assets, fn), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(assets, fn, "bootstrap"), []byte("stand-in "+fn), 0o755); err != nil {
			return nil, err
		}
	}
	defer jsii.Close()
	defer func() {
		if r := recover(); r != nil { // CDK reports synth errors by panicking
			err = fmt.Errorf("synth: %v", r)
		}
	}()
	app := awscdk.NewApp(&awscdk.AppProps{Context: &cdk.Context, Outdir: jsii.String(out)})
	for _, c := range configurations {
		p := c.props
		p.AssetDir = assets
		_, _, err := hub.NewStack(app, c.name, &hub.StackProps{
			StackProps: awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("us-east-1"), Account: jsii.String("123456789012")}},
			Hub:        p,
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		paths = append(paths, filepath.Join(out, c.name+".template.json"))
	}
	app.Synth(nil)
	return paths, nil
}
