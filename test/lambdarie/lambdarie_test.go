// Package lambdarie runs each function's real `bootstrap` under the Lambda
// runtime interface emulator (aws-lambda-rie) with the sample events in
// events/, against the DynamoDB and Kinesis emulators: it proves the Lambda
// wiring (environment, endpoints, payload v1/v2 adapters, binary bodies),
// not only the handlers. It logs each function's binary size and the
// emulator's Init Duration.
package lambdarie

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/telemetry"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const deviceID = "sensor-1" // the device the sample events name

func TestFunctionsUnderRuntimeEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three functions and runs them under aws-lambda-rie")
	}
	root := repoRoot(t)
	env := testenv.New(t, testenv.Options{})
	conn := env.CreateDevice(t, deviceID)

	functions := []string{"ingress", "service", "sweeper"}
	bins := build(t, root, functions)

	cfg := env.Config
	vars := functionEnv(env, "info")
	if len(schema.Tables()) != 4 {
		t.Fatalf("schema has %d tables; pass every table's name in functionEnv", len(schema.Tables()))
	}
	fns := map[string]*emulator{}
	for _, name := range functions {
		fns[name] = start(t, bins["aws-lambda-rie"], name, bins[name], append(vars, "AWS_LAMBDA_FUNCTION_NAME=devicehub-"+name))
	}

	t.Run("telemetry, HTTP API event", func(t *testing.T) {
		r := decodeResponse(t, fns["ingress"].invoke(t, event(t, root, "apigw-http-telemetry.json", env.DeviceToken(t, conn))))
		if r.StatusCode != 204 {
			t.Fatalf("ingress answered %s", r)
		}
		m := findRecord(t, env.Kinesis, cfg.StreamName, "msg-0001")
		if !bytes.Equal(m.Body, []byte(`{"temperature":21.5,"humidity":40.2}`)) || m.Properties["alert"] != "false" || m.DeviceID != deviceID {
			t.Errorf("record %+v body %s", m.SystemProperties, m.Body)
		}
	})
	t.Run("telemetry, REST API event with a binary body", func(t *testing.T) {
		r := decodeResponse(t, fns["ingress"].invoke(t, event(t, root, "apigw-rest-telemetry.json", env.DeviceToken(t, conn))))
		if r.StatusCode != 204 {
			t.Fatalf("ingress answered %s", r)
		}
		m := findRecord(t, env.Kinesis, cfg.StreamName, "msg-0002")
		if want := []byte{0x00, 0xff, 0x10, 0x80, 0x7f, 0x0a, 0x0d, 0xc3, 0x28}; !bytes.Equal(m.Body, want) || m.Properties["format"] != "raw" {
			t.Errorf("body %x props %v, want %x", m.Body, m.Properties, want)
		}
	})
	for _, name := range []string{"apigw-http-registry-get.json", "apigw-rest-registry-get.json"} {
		t.Run("registry get, "+name, func(t *testing.T) {
			r := decodeResponse(t, fns["service"].invoke(t, event(t, root, name, env.OwnerToken(t))))
			var d struct {
				DeviceID string `json:"deviceId"`
			}
			if r.StatusCode != 200 || json.Unmarshal([]byte(r.Body), &d) != nil || d.DeviceID != deviceID {
				t.Fatalf("service answered %s", r)
			}
		})
	}
	t.Run("c2d send (REST, binary) then receive (HTTP API)", func(t *testing.T) {
		r := decodeResponse(t, fns["service"].invoke(t, event(t, root, "apigw-rest-c2d-send.json", env.OwnerToken(t))))
		if r.StatusCode/100 != 2 {
			t.Fatalf("send: %s", r)
		}
		r = decodeResponse(t, fns["ingress"].invoke(t, event(t, root, "apigw-http-c2d-receive.json", env.DeviceToken(t, conn))))
		body := []byte(r.Body)
		if r.IsBase64Encoded {
			var err error
			if body, err = base64.StdEncoding.DecodeString(r.Body); err != nil {
				t.Fatal(err)
			}
		}
		if want := []byte{0x01, 0x02, 0xfe, 0xff, 0x00, 0x80}; r.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Fatalf("receive: %s, body %x want %x", r, body, want)
		}
		if r.header("iothub-messageid") != "c2d-0001" || r.header("ETag") == "" {
			t.Errorf("receive headers %v", r.Headers)
		}
	})
	t.Run("sweeper, scheduled event", func(t *testing.T) {
		payload := fns["sweeper"].invoke(t, event(t, root, "sweeper-scheduled.json", ""))
		var stats map[string]any
		if err := json.Unmarshal(payload, &stats); err != nil || stats == nil {
			t.Fatalf("sweeper returned %s, want its stats object (%v)", payload, err)
		}
		t.Logf("sweep stats %s", payload)
	})

	// The figures for infra/README.md.
	for _, name := range functions {
		fi, err := os.Stat(bins[name])
		if err != nil {
			t.Fatal(err)
		}
		fns[name].stop()
		initPhase, reported := fns[name].initDurations(t)
		t.Logf("%-8s bootstrap linux/%s: %.1f MB; init phase %.1f ms (rapid INIT REPORT); REPORT Init Duration %.2f ms",
			name, goarch(), float64(fi.Size())/1e6, ms(initPhase), ms(reported))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// findRecord reads the whole stream until it finds the record with message id.
func findRecord(t *testing.T, k *kinesis.Client, stream, messageID string) telemetry.Message {
	t.Helper()
	ctx := withTimeout(t, 15*time.Second)
	shards, err := k.ListShards(ctx, &kinesis.ListShardsInput{StreamName: &stream})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for ctx.Err() == nil {
		seen = seen[:0]
		for _, s := range shards.Shards {
			it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: &stream, ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
			if err != nil {
				t.Fatal(err)
			}
			out, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Records {
				m, err := telemetry.Decode(r.Data)
				if err != nil {
					t.Fatalf("record %s does not decode: %v", r.Data, err)
				}
				if m.MessageID == messageID {
					return m
				}
				seen = append(seen, m.MessageID)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no record %s in %s (saw %v)", messageID, stream, seen)
	return telemetry.Message{}
}

// functionEnv is a function's whole environment, as the stack sets it (names
// from internal/schema), pointed at env's emulators with dummy credentials,
// and more settings after it.
func functionEnv(env *testenv.Env, logLevel string, more ...string) []string {
	kinesisURL, dynamoURL := testenv.Endpoints()
	cfg := env.Config
	vars := []string{
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=devicehub", "AWS_SECRET_ACCESS_KEY=devicehub",
		"AWS_ENDPOINT_URL_KINESIS=" + kinesisURL, "AWS_ENDPOINT_URL_DYNAMODB=" + dynamoURL,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_LAMBDA_FUNCTION_TIMEOUT=30", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		schema.EnvHubHost + "=" + cfg.HubHost,
		schema.Telemetry.EnvVar + "=" + cfg.StreamName,
		schema.Devices.EnvVar + "=" + cfg.DevicesTable,
		schema.C2D.EnvVar + "=" + cfg.C2DTable,
		schema.Feedback.EnvVar + "=" + cfg.FeedbackTable,
		schema.Routing.EnvVar + "=" + cfg.RoutingTable,
		// No Secrets Manager emulator: the key itself, which is what the
		// functions resolve the secret into.
		schema.EnvOwnerKeyName + "=" + cfg.OwnerKeyName,
		schema.EnvOwnerKey + "=" + cfg.OwnerKey,
		schema.EnvLogLevel + "=" + logLevel,
	}
	return append(vars, more...)
}
