package lambdarie

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/test/testenv"
)

// EnvMeasureDurations names the file TestMeasureDurations writes; the test
// runs only when it is set (make cost reads the committed
// internal/costmodel/measured.json, written this way).
const EnvMeasureDurations = "DEVICEHUB_MEASURE_DURATIONS"

// durationRE is one invocation's runtime time, from the invoke reaching the
// runtime to its response (the emulator's INVOKE RTDONE line): what Lambda
// bills as Duration. The REPORT line's Duration adds the emulator's own
// dispatch.
var durationRE = regexp.MustCompile(`INVOKE RTDONE\(status: success, produced bytes: \d+, duration: ([0-9.]+)ms\)`)

// TestMeasureDurations runs each request the cost model prices through the
// real bootstraps under aws-lambda-rie, against the emulators, and writes
// the median handler duration of each (the runtime's time per invoke, as Lambda bills it) as JSON:
// telemetry single and in batches of 100 (1 KB bodies, three properties,
// SDK-style message id, content type and encoding), and the C2D lifecycle's
// send, receive, complete and feedback receive and complete.
//
//	DEVICEHUB_MEASURE_DURATIONS=/tmp/durations.json go test -count=1 -run TestMeasureDurations -v ./test/lambdarie/
func TestMeasureDurations(t *testing.T) {
	out := os.Getenv(EnvMeasureDurations)
	if out == "" {
		t.Skip("set " + EnvMeasureDurations + " to the file to write")
	}
	const rounds = 40
	root := repoRoot(t)
	env := testenv.New(t, testenv.Options{})
	conn := env.CreateDevice(t, deviceID)
	bins := build(t, root, []string{"ingress", "service"})
	// A device sending once a minute misses a 30 s cache: every request
	// here reads the registry, as in the fleet.
	vars := functionEnv(env, "warn", schema.EnvAuthCacheTTL+"=0s")
	ingress := start(t, bins["aws-lambda-rie"], "ingress", bins["ingress"], append(vars, "AWS_LAMBDA_FUNCTION_NAME=devicehub-ingress"))
	service := start(t, bins["aws-lambda-rie"], "service", bins["service"], append(vars, "AWS_LAMBDA_FUNCTION_NAME=devicehub-service"))

	body := make([]byte, 1024)
	copy(body, `{"d":"`)
	for i := 6; i < len(body)-2; i++ {
		body[i] = 'a' + byte(i%26)
	}
	copy(body[len(body)-2:], `"}`)
	props := map[string]string{"iothub-app-alert": "false", "iothub-app-site": "plant-7", "iothub-app-unit": "celsius"}
	single := func(i int) events.APIGatewayV2HTTPRequest {
		h := map[string]string{
			"authorization": env.DeviceToken(t, conn), "content-type": "application/json",
			"iothub-messageid": fmt.Sprintf("3f2504e0-4f89-41d3-9a0c-0305e82c%04d", i), "iothub-contenttype": "application/json",
			"iothub-contentencoding": "utf-8",
		}
		for k, v := range props {
			h[k] = v
		}
		return request("POST", "/devices/"+deviceID+"/messages/events", h, body)
	}
	batch := func(int) events.APIGatewayV2HTTPRequest {
		type item struct {
			Body       string            `json:"body"`
			Properties map[string]string `json:"properties"`
		}
		items := make([]item, 100)
		for i := range items {
			items[i] = item{Body: base64.StdEncoding.EncodeToString(body), Properties: map[string]string{"alert": "false", "site": "plant-7", "unit": "celsius"}}
		}
		raw, _ := json.Marshal(items)
		return request("POST", "/devices/"+deviceID+"/messages/events",
			map[string]string{"authorization": env.DeviceToken(t, conn), "content-type": iothub.BatchContentType}, raw)
	}

	type kind struct {
		name string
		fn   *emulator
		req  func(i int) events.APIGatewayV2HTTPRequest
		want int
	}
	var lock, feedbackLock string
	kinds := []kind{
		{"telemetry", ingress, single, 204},
		{"telemetryBatch100", ingress, batch, 204},
		{"c2dSend", service, func(i int) events.APIGatewayV2HTTPRequest {
			return request("POST", "/devices/"+deviceID+"/messages/devicebound", map[string]string{
				"authorization": env.OwnerToken(t), "iothub-messageid": fmt.Sprintf("c2d-%d", i), "iothub-ack": "full",
			}, body)
		}, 200},
		{"c2dReceive", ingress, func(int) events.APIGatewayV2HTTPRequest {
			return request("GET", "/devices/"+deviceID+"/messages/devicebound", map[string]string{"authorization": env.DeviceToken(t, conn)}, nil)
		}, 200},
		{"c2dComplete", ingress, func(int) events.APIGatewayV2HTTPRequest {
			return request("DELETE", "/devices/"+deviceID+"/messages/devicebound/"+lock, map[string]string{"authorization": env.DeviceToken(t, conn)}, nil)
		}, 204},
		{"feedbackReceive", service, func(int) events.APIGatewayV2HTTPRequest {
			return request("GET", "/messages/serviceBound/feedback", map[string]string{"authorization": env.OwnerToken(t)}, nil)
		}, 200},
		{"feedbackComplete", service, func(int) events.APIGatewayV2HTTPRequest {
			return request("DELETE", "/messages/serviceBound/feedback/"+feedbackLock, map[string]string{"authorization": env.OwnerToken(t)}, nil)
		}, 204},
	}
	// One lifecycle per round, in order, so each receive finds a message
	// and each feedback receive a record.
	got := map[string][]float64{}
	invoke := func(k kind, i int) {
		before := len(durationRE.FindAllString(k.fn.out.String(), -1))
		raw, _ := json.Marshal(k.req(i))
		r := decodeResponse(t, k.fn.invoke(t, raw))
		if r.StatusCode != k.want {
			t.Fatalf("%s: %s", k.name, r)
		}
		switch k.name {
		case "c2dReceive":
			lock = strings.Trim(r.header("ETag"), `"`)
		case "feedbackReceive":
			feedbackLock = strings.Trim(r.header("ETag"), `"`)
		}
		// The emulator may write the line after the response.
		var all [][]string
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			all = durationRE.FindAllStringSubmatch(k.fn.out.String(), -1)
			if len(all) > before || time.Now().After(deadline) {
				break
			}
		}
		if len(all) <= before {
			t.Fatalf("%s: no INVOKE RTDONE line:\n%s", k.name, k.fn.out)
		}
		ms, _ := strconv.ParseFloat(all[len(all)-1][1], 64)
		if i > 0 { // the first round warms the connections
			got[k.name] = append(got[k.name], ms)
		}
	}
	for i := range rounds + 1 {
		for _, k := range kinds {
			invoke(k, i)
		}
	}
	medians := map[string]float64{}
	for name, ds := range got {
		slices.Sort(ds)
		medians[name] = ds[len(ds)/2]
		t.Logf("%-18s median %.2f ms (min %.2f, max %.2f, n=%d)", name, medians[name], ds[0], ds[len(ds)-1], len(ds))
	}
	report := map[string]any{
		"date":       time.Now().UTC().Format(time.DateOnly),
		"command":    EnvMeasureDurations + "=<file> go test -count=1 -run TestMeasureDurations -v ./test/lambdarie/",
		"where":      fmt.Sprintf("aws-lambda-rie, linux/%s, %d CPUs, against kinesalite and dynalite on loopback; every request reads the registry", runtime.GOARCH, runtime.NumCPU()),
		"medianMs":   medians,
		"rounds":     rounds,
		"bodyBytes":  len(body),
		"properties": len(props),
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(report); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// request is an HTTP API (payload v2) event.
func request(method, path string, headers map[string]string, body []byte) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: "api-version=2020-03-13",
		Headers: headers, QueryStringParameters: map[string]string{"api-version": "2020-03-13"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.10"},
		},
		Body:            base64.StdEncoding.EncodeToString(body),
		IsBase64Encoded: true,
	}
}
