package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// template is the least of a hub template the model reads: the three
// functions, a function URL with its service API, one provisioned shard.
const template = `{"Resources":{
  "HubIngressAB12":{"Type":"AWS::Lambda::Function","Properties":{"MemorySize":256,"Architectures":["arm64"],
    "LoggingConfig":{"LogFormat":"JSON","SystemLogLevel":"WARN"}}},
  "HubServiceCD34":{"Type":"AWS::Lambda::Function","Properties":{"MemorySize":256,"Architectures":["arm64"],
    "LoggingConfig":{"LogFormat":"JSON","SystemLogLevel":"WARN"}}},
  "HubSweeperEF56":{"Type":"AWS::Lambda::Function","Properties":{"MemorySize":256,"Architectures":["arm64"],
    "LoggingConfig":{"LogFormat":"JSON","SystemLogLevel":"WARN"}}},
  "HubIngressFunctionUrl":{"Type":"AWS::Lambda::Url","Properties":{}},
  "HubHttpApi":{"Type":"AWS::ApiGatewayV2::Api","Properties":{}},
  "HubTelemetry":{"Type":"AWS::Kinesis::Stream","Properties":{"ShardCount":1,"StreamModeDetails":{"StreamMode":"PROVISIONED"},
    "StreamEncryption":{"EncryptionType":"KMS","KeyId":"alias/aws/kinesis"}}},
  "R":{"Type":"AWS::Events::Rule","Properties":{"ScheduleExpression":"rate(1 minute)"}}}}`

func TestRunPricesGivenTemplates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lean.template.json")
	if err := os.WriteFile(path, []byte(template), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"-template", path, "-ms", "telemetry=15", "-envelope", "120", "-devices", "500", "-per-day", "96"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"1144 B Kinesis record for a 1024 B body, 120 B of envelope", "telemetry 15.0", `Profile "custom"`, "IoT Hub (",
		"C2D lifecycle", "Registry reads", "Stream capacity", "single messages, gateway-free", "idle deployment",
		"  lean  ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "the default: HTTP API") {
		t.Errorf("the named configurations described for a given template:\n%s", out.String())
	}
	// No HTTP API configuration was given: that target names no stack.
	if !strings.Contains(out.String(), "no configuration of this kind was priced") {
		t.Errorf("the HTTP API target was judged without an HTTP API stack:\n%s", out.String())
	}
}

func TestRunRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"-ms", "telemetry"}, {"-ms", "warp=3"}, {"-ms", "telemetry=-1"}, {"-record", "v9"}, {"-template", "/nonexistent.json"},
	} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
