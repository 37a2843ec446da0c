package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/devicehub/devicehub/internal/localhub"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/test/testenv"
)

// The CLI runs in-process (its cobra root, the way main runs it) against a
// real hub: the same handler Lambda serves, on kinesalite and dynalite.
func TestMain(m *testing.M) { testenv.Main(m) }

// harness runs the CLI in-process with its own environment, working
// directory and standard input.
type harness struct {
	t        *testing.T
	env      map[string]string
	wd       string
	stdin    string
	hub      *testenv.Env
	requests atomic.Int64 // requests that reached the hub
}

// withHub is a harness against a fresh hub, found through DEVICEHUB_URL and
// DEVICEHUB_CONNECTION_STRING.
func withHub(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, wd: t.TempDir()}
	h.hub = testenv.New(t, testenv.Options{Wrap: h.count})
	h.env = map[string]string{schema.EnvHubURL: h.hub.Server.URL, schema.EnvConnString: h.hub.OwnerConn.String()}
	return h
}

// withoutHub is a harness whose hub answers every request with 500: for
// command lines that must fail before any request.
func withoutHub(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, wd: t.TempDir()}
	srv := httptest.NewServer(h.count(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})))
	t.Cleanup(srv.Close)
	owner := sas.ConnectionString{HostName: testenv.Host, SharedAccessKeyName: "iothubowner", SharedAccessKey: "a2V5"}
	h.env = map[string]string{schema.EnvHubURL: srv.URL, schema.EnvConnString: owner.String()}
	return h
}

func (h *harness) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		next.ServeHTTP(w, r)
	})
}

// run runs devicehub args and returns what it printed and its exit code.
func (h *harness) run(args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code = execute(ctx, args, deps{
		Stdin: strings.NewReader(h.stdin), Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return h.env[k] },
		Getwd:  func() (string, error) { return h.wd, nil },
		Now:    time.Now,
	})
	h.t.Logf("devicehub %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return out.String(), errOut.String(), code
}

// ok runs devicehub args, fails the test unless it exits 0, and returns its output.
func (h *harness) ok(args ...string) string {
	h.t.Helper()
	out, errOut, code := h.run(args...)
	if code != 0 {
		h.t.Fatalf("devicehub %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// jsonLines parses output that must be one JSON object per line.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON object per line: %q: %v", l, err)
		}
		objs = append(objs, m)
	}
	return objs
}

// checkCamelCase fails for any key of v, at any depth, that is not
// camelCase. Maps of user data (application properties, IoT Hub's system
// property names, a JSON body) are values, not keys, and are skipped.
func checkCamelCase(t *testing.T, v any, path string) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if k == "" || k[0] < 'a' || k[0] > 'z' || strings.ContainsAny(k, "-_ ") {
				t.Errorf("key %s.%s is not camelCase", path, k)
			}
			if k != "properties" && k != "systemProperties" && k != "body" {
				checkCamelCase(t, x, path+"."+k)
			}
		}
	case []any:
		for _, x := range v {
			checkCamelCase(t, x, path+"[]")
		}
	}
}

// table parses --output table: cells are cut at the header's column
// offsets, so a misaligned row reads wrong.
func table(t *testing.T, out string) (header []string, rows [][]string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	head := lines[0]
	var starts []int
	for i := 0; i < len(head); i++ {
		if head[i] != ' ' && (i == 0 || i >= 2 && head[i-2:i] == "  ") {
			starts = append(starts, i)
		}
	}
	cut := func(l string) []string {
		cells := make([]string, len(starts))
		for i, s := range starts {
			end := len(l)
			if i+1 < len(starts) {
				end = min(starts[i+1], len(l))
				if end > 0 && end < len(l) && l[end-1] != ' ' {
					t.Errorf("row %q: column %d is not aligned with the header %q", l, i, head)
				}
			}
			if s < len(l) {
				cells[i] = strings.TrimSpace(l[s:end])
			}
		}
		return cells
	}
	header = cut(head)
	for _, l := range lines[1:] {
		rows = append(rows, cut(l))
	}
	return header, rows
}

// The issue: `device create --disabled thermostat-1` created an enabled
// device named --disabled. Flags now go before or after the argument.
func TestDeviceCreateFlagsBeforeOrAfterTheID(t *testing.T) {
	h := withHub(t)
	for _, args := range [][]string{
		{"device", "create", "thermostat-1", "--disabled"},
		{"device", "create", "--disabled", "thermostat-1"},
		{"-o", "json", "device", "create", "--disabled", "thermostat-1"},
		{"device", "create", "--disabled=true", "thermostat-1", "--output=json"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			h.t = t
			got := jsonLines(t, h.ok(args...))
			if len(got) != 1 || got[0]["deviceId"] != "thermostat-1" || got[0]["status"] != "disabled" {
				t.Fatalf("created %v, want thermostat-1 disabled", got)
			}
			cs, err := sas.ParseConnectionString(got[0]["connectionString"].(string))
			if err != nil || cs.DeviceID != "thermostat-1" || cs.HostName != testenv.Host || cs.SharedAccessKey == "" {
				t.Errorf("connectionString %v: %+v %v", got[0]["connectionString"], cs, err)
			}
			// The registry agrees, and holds no device named after a flag.
			d, err := h.hub.Hub.Registry.Get(context.Background(), "thermostat-1")
			if err != nil || d.Status != "disabled" {
				t.Errorf("registry: %+v %v", d, err)
			}
			list := jsonLines(t, h.ok("device", "list"))
			if len(list) != 1 || list[0]["deviceId"] != "thermostat-1" {
				t.Errorf("device list: %v", list)
			}
			if out := h.ok("device", "delete", "thermostat-1"); out != "" {
				t.Errorf("delete printed %q", out)
			}
		})
	}
}

// Wrong command lines fail with exit code 2, a message and a pointer to the
// help, before any request.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"device", "create"}, "accepts 1 arg(s), received 0"},
		{[]string{"device", "create", "a", "b"}, "accepts 1 arg(s), received 2"},
		{[]string{"device", "create", "a", "--disabled", "b"}, "accepts 1 arg(s), received 2"},
		{[]string{"device", "get", "a", "b"}, "accepts 1 arg(s), received 2"},
		{[]string{"device", "list", "a"}, `unknown command "a" for "devicehub device list"`},
		{[]string{"device", "enable"}, "accepts 1 arg(s), received 0"},
		{[]string{"device", "frob"}, `unknown command "frob" for "devicehub device"`},
		{[]string{"devic"}, `unknown command "devic" for "devicehub"`},
		{[]string{"device", "create", "a", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"device", "get", "a", "--disabled"}, "unknown flag: --disabled"},
		{[]string{"-o", "yaml", "device", "list"}, `invalid argument "yaml" for "-o, --output" flag: want json or table`},
		{[]string{"send", "--device", "d"}, "requires at least 1 arg(s), only received 0"},
		{[]string{"send", "body"}, "at least one of the flags in the group [device device-connection-string] is required"},
		{[]string{"send", "--device", "d", "--device-connection-string", "x", "body"}, "none of the others can be"},
		{[]string{"send", "--device", "d", "--prop", "novalue", "body"}, `invalid argument "novalue" for "--prop" flag: want name=value`},
		{[]string{"tail", "extra"}, `unknown command "extra" for "devicehub tail"`},
		{[]string{"c2d", "send", "dev1"}, "accepts 2 arg(s), received 1"},
		{[]string{"c2d", "send", "dev1", "hello", "world"}, "accepts 2 arg(s), received 3"},
		{[]string{"c2d", "send", "dev1", "hi", "--ttl", "1m", "--expiry", "2030-01-01T00:00:00Z"}, "none of the others can be"},
		{[]string{"c2d", "send", "dev1", "hi", "--ttl", "soon"}, `invalid argument "soon" for "--ttl" flag`},
		{[]string{"c2d", "purge"}, "accepts 1 arg(s), received 0"},
		{[]string{"c2d", "status", "dev1"}, "accepts 2 arg(s), received 1"},
		{[]string{"c2d", "deadletters", "dev1", "x"}, "accepts 1 arg(s), received 2"},
		{[]string{"c2d", "requeue", "dev1"}, "accepts 2 arg(s), received 1"},
		{[]string{"c2d", "receive", "--device", "d", "extra"}, `unknown command "extra" for "devicehub c2d receive"`},
		{[]string{"c2d", "receive", "--device", "d", "--complete", "--reject"}, "none of the others can be"},
		{[]string{"feedback", "extra"}, `unknown command "extra" for "devicehub feedback"`},
		{[]string{"local", "extra"}, `unknown command "extra" for "devicehub local"`},
	}
	h := withoutHub(t)
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			h.t = t
			out, errOut, code := h.run(tc.args...)
			if code != 2 || out != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, out)
			}
			if !strings.HasPrefix(errOut, "devicehub: ") || !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q, want it to say %q", errOut, tc.want)
			}
			if !strings.Contains(errOut, "Run 'devicehub") || !strings.Contains(errOut, "--help' for usage.") {
				t.Errorf("stderr %q does not point to the help", errOut)
			}
		})
	}
	if n := h.requests.Load(); n != 0 {
		t.Errorf("%d requests reached the hub", n)
	}
}

// A failed request exits 1 with the hub's answer, and no pointer to the help.
func TestHubErrors(t *testing.T) {
	h := withHub(t)
	out, errOut, code := h.run("device", "get", "nope")
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	if want := "devicehub: hub answered 404 DeviceNotFound: "; !strings.HasPrefix(errOut, want) || strings.Contains(errOut, "--help") {
		t.Errorf("stderr %q, want %q and no usage", errOut, want)
	}
	h.env = map[string]string{} // and no local hub either
	_, errOut, code = h.run("device", "list")
	if code != 1 || !strings.Contains(errOut, "no hub URL: pass --url, set DEVICEHUB_URL, or start a local hub") {
		t.Errorf("without a hub: exit %d, %q", code, errOut)
	}
}

func TestHelp(t *testing.T) {
	h := withoutHub(t)
	for _, args := range [][]string{{"--help"}, {"help", "device", "create"}, {"device", "create", "-h"}, {"c2d"}, {"device"}, {}} {
		out, errOut, code := h.run(args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "Usage:") {
			t.Errorf("devicehub %v: exit %d, stderr %q, stdout %q", args, code, errOut, out)
		}
	}
	// Every command says what it does, and every one that runs shows an example.
	root := newCLI(deps{Getenv: func(string) string { return "" }}).rootCmd()
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Short == "" {
			t.Errorf("%s has no short help", cmd.CommandPath())
		}
		if cmd.Example == "" {
			t.Errorf("%s has no example", cmd.CommandPath())
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if h.requests.Load() != 0 {
		t.Error("help reached the hub")
	}
}

// --output json prints one camelCase JSON object per line; --output table
// prints aligned columns under a header.
func TestOutputFormats(t *testing.T) {
	h := withHub(t)
	h.ok("device", "create", "sensor-a")
	h.ok("device", "create", "sensor-b", "--disabled")

	for _, args := range [][]string{{"device", "list"}, {"device", "list", "-o", "json"}, {"--output", "json", "device", "list"}} {
		devs := jsonLines(t, h.ok(args...))
		var got []string
		for _, d := range devs {
			checkCamelCase(t, d, "device")
			got = append(got, d["deviceId"].(string)+"/"+d["status"].(string))
		}
		slices.Sort(got)
		if !slices.Equal(got, []string{"sensor-a/enabled", "sensor-b/disabled"}) {
			t.Errorf("%v: %v", args, got)
		}
	}

	header, rows := table(t, h.ok("device", "list", "-o", "table"))
	if !slices.Equal(header, []string{"DEVICE ID", "STATUS", "GENERATION ID", "ETAG"}) {
		t.Errorf("header %q", header)
	}
	slices.SortFunc(rows, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	if len(rows) != 2 || rows[0][0] != "sensor-a" || rows[0][1] != "enabled" || rows[1][0] != "sensor-b" || rows[1][1] != "disabled" ||
		rows[0][2] == "" || rows[0][3] == "" {
		t.Errorf("rows %q", rows)
	}

	header, rows = table(t, h.ok("--output", "table", "device", "create", "sensor-c"))
	if !slices.Equal(header, []string{"DEVICE ID", "STATUS", "CONNECTION STRING"}) || len(rows) != 1 || rows[0][0] != "sensor-c" {
		t.Fatalf("create -o table: %q %q", header, rows)
	}
	if d, err := h.hub.Hub.Registry.Get(context.Background(), "sensor-c"); err != nil ||
		rows[0][2] != (sas.ConnectionString{HostName: testenv.Host, DeviceID: "sensor-c", SharedAccessKey: d.PrimaryKey}).String() {
		t.Errorf("create -o table: connection string %q (%v)", rows[0][2], err)
	}
	if _, rows = table(t, h.ok("device", "disable", "sensor-c", "-o", "table")); len(rows) != 1 || rows[0][1] != "disabled" {
		t.Errorf("disable -o table: %q", rows)
	}
	if d := jsonLines(t, h.ok("device", "enable", "sensor-c")); d[0]["status"] != "enabled" {
		t.Errorf("enable: %v", d)
	}
	d := jsonLines(t, h.ok("device", "get", "sensor-a"))
	checkCamelCase(t, d[0], "device")
	if key, _ := d[0]["authentication"].(map[string]any)["symmetricKey"].(map[string]any)["primaryKey"].(string); key == "" {
		t.Errorf("device get shows no key: %v", d)
	}

	out := h.ok("send", "--device", "sensor-a", "one", "two")
	if s := jsonLines(t, out); len(s) != 1 || s[0]["deviceId"] != "sensor-a" || s[0]["messages"] != 2.0 || s[0]["batch"] != false {
		t.Errorf("send: %s", out)
	}
	header, rows = table(t, h.ok("send", "--batch", "-o", "table", "three", "--device", "sensor-a"))
	if !slices.Equal(header, []string{"DEVICE ID", "MESSAGES", "BATCH"}) || !slices.Equal(rows[0], []string{"sensor-a", "1", "true"}) {
		t.Errorf("send -o table: %q %q", header, rows)
	}
}

// c2d receive prints camelCase JSON like every other command (it printed
// LockToken, MessageID and Body), with the body shown as tail shows it.
func TestC2DReceiveJSON(t *testing.T) {
	h := withHub(t)
	h.ok("device", "create", "dev1")

	sent := jsonLines(t, h.ok("c2d", "send", "dev1", "hello", "--ack", "full", "--message-id", "m1", "--prop", "color=red", "--ttl", "10m"))
	checkCamelCase(t, sent[0], "sent")
	if sent[0]["messageId"] != "m1" || sent[0]["deviceId"] != "dev1" || sent[0]["sequenceNumber"] == nil {
		t.Errorf("c2d send: %v", sent)
	}
	if exp, err := time.Parse(time.RFC3339, sent[0]["expiryTimeUtc"].(string)); err != nil || time.Until(exp) < 9*time.Minute || time.Until(exp) > 11*time.Minute {
		t.Errorf("--ttl 10m: expiry %v %v", sent[0]["expiryTimeUtc"], err)
	}

	got := jsonLines(t, h.ok("c2d", "receive", "--device", "dev1", "--complete"))
	r := got[0]
	checkCamelCase(t, r, "receive")
	wantKeys := []string{"ack", "bodyText", "deliveryCount", "enqueuedTimeUtc", "expiryTimeUtc", "lockToken", "messageId",
		"properties", "sequenceNumber", "settlement"}
	var keys []string
	for k := range r {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("receive keys %v, want %v", keys, wantKeys)
	}
	if r["messageId"] != "m1" || r["ack"] != "full" || r["bodyText"] != "hello" || r["settlement"] != "completed" ||
		r["deliveryCount"] != 0.0 || r["lockToken"] == "" || r["properties"].(map[string]any)["color"] != "red" {
		t.Errorf("receive: %v", r)
	}

	fb := jsonLines(t, h.ok("feedback"))
	checkCamelCase(t, fb[0], "feedback")
	if len(fb) != 1 || fb[0]["originalMessageId"] != "m1" || fb[0]["statusCode"] != "Success" || fb[0]["deviceId"] != "dev1" {
		t.Errorf("feedback: %v", fb)
	}
	if out := h.ok("feedback"); out != "" {
		t.Errorf("feedback after completing: %q", out)
	}
	st := jsonLines(t, h.ok("c2d", "status", "dev1", "m1"))
	checkCamelCase(t, st[0], "status")
	if len(st) != 1 || st[0]["state"] != "Completed" || st[0]["outcome"] != "Success" {
		t.Errorf("status: %v", st)
	}

	// A JSON body is printed inline, byte for byte; a binary one as base64.
	h.stdin = "\x00\xff"
	h.ok("c2d", "send", "dev1", `{"a": [1, 2]}`, "--message-id", "m2")
	h.ok("c2d", "send", "--message-id", "m3", "dev1", "-")
	out := h.ok("c2d", "receive", "--device", "dev1", "--reject")
	if !strings.HasSuffix(out, `,"body":{"a": [1, 2]}}`+"\n") {
		t.Errorf("JSON body: %s", out)
	}
	if r := jsonLines(t, out)[0]; r["settlement"] != "rejected" || r["messageId"] != "m2" {
		t.Errorf("reject: %v", r)
	}
	header, rows := table(t, h.ok("c2d", "receive", "--device", "dev1", "-o", "table", "--abandon"))
	if !slices.Equal(header, []string{"MESSAGE ID", "SEQUENCE", "DELIVERIES", "ACK", "SETTLEMENT", "PROPERTIES", "BODY"}) ||
		len(rows) != 1 || rows[0][0] != "m3" || rows[0][4] != "abandoned" || rows[0][6] != "base64:AP8=" {
		t.Errorf("receive -o table: %q %q", header, rows)
	}
	if r := jsonLines(t, h.ok("c2d", "receive", "--device", "dev1")); r[0]["bodyBase64"] != "AP8=" || r[0]["deliveryCount"] != 1.0 || r[0]["settlement"] != "locked" {
		t.Errorf("binary body: %v", r)
	}

	dl := jsonLines(t, h.ok("c2d", "deadletters", "dev1", "--all"))
	if len(dl) != 1 || dl[0]["messageId"] != "m2" || dl[0]["reason"] != "Rejected" {
		t.Errorf("deadletters: %v", dl)
	}
	if re := jsonLines(t, h.ok("c2d", "requeue", "dev1", "m2")); re[0]["messageId"] != "m2" {
		t.Errorf("requeue: %v", re)
	}
	header, rows = table(t, h.ok("c2d", "purge", "dev1", "-o", "table"))
	if !slices.Equal(header, []string{"DEVICE ID", "PURGED"}) || len(rows) != 1 || rows[0][0] != "dev1" || rows[0][1] != "2" {
		t.Errorf("purge -o table: %q %q", header, rows)
	}
	if _, errOut, code := h.run("c2d", "receive", "--device", "dev1"); code != 1 || !strings.Contains(errOut, "no message is due") {
		t.Errorf("receive from an empty queue: exit %d %q", code, errOut)
	}
}

// The local hub's state file is found as documented: --state,
// DEVICEHUB_STATE_FILE, or .devicehub/local.json above the working
// directory; tail then reads the hub's Kinesis emulator.
func TestLocalStateAndTail(t *testing.T) {
	h := withHub(t)
	kinesisURL, _ := testenv.Endpoints()
	st := localhub.State{URL: h.hub.Server.URL, HostName: testenv.Host, OwnerConnectionString: h.hub.OwnerConn.String(),
		Region: "us-east-1", KinesisEndpoint: kinesisURL, StreamName: h.hub.Config.StreamName}
	raw, _ := json.Marshal(st)
	repo := t.TempDir() // a repository root: it holds .tools/package.json
	for _, f := range []string{".tools/package.json", localhub.DefaultStateFile} {
		if err := os.MkdirAll(filepath.Join(repo, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, f), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	stateFile := filepath.Join(t.TempDir(), "hub.json")
	if err := os.WriteFile(stateFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	h.env = map[string]string{}
	h.wd = filepath.Join(repo, ".tools")
	h.ok("device", "create", "sensor-1") // found from the working directory
	h.wd = t.TempDir()
	if _, _, code := h.run("device", "get", "sensor-1"); code != 1 {
		t.Errorf("outside the repository with no state: exit %d, want 1", code)
	}
	h.ok("--state", stateFile, "send", "--device", "sensor-1", `{"temp": 21.5}`, "--prop", "unit=celsius", "--message-id", "t1")
	h.env[schema.EnvStateFile] = stateFile
	h.stdin = "plain text"
	h.ok("send", "--device", "sensor-1", "--message-id", "t2", "-")

	lines := jsonLines(t, h.ok("tail", "--from-start", "--count", "2"))
	if len(lines) != 2 {
		t.Fatalf("tail --count 2: %d lines", len(lines))
	}
	for _, l := range lines {
		checkCamelCase(t, l, "tail")
	}
	sys := lines[0]["systemProperties"].(map[string]any)
	if sys["message-id"] != "t1" || sys["iothub-connection-device-id"] != "sensor-1" || lines[0]["partitionKey"] != "sensor-1" ||
		lines[0]["properties"].(map[string]any)["unit"] != "celsius" || lines[1]["bodyText"] != "plain text" {
		t.Errorf("tail: %v", lines)
	}
	out := h.ok("tail", "--from-start", "--count", "1")
	if !strings.HasSuffix(out, `"body":{"temp": 21.5}}`+"\n") {
		t.Errorf("tail does not print the JSON body as sent: %s", out)
	}
	header, rows := table(t, h.ok("tail", "--from-start", "--count", "2", "-o", "table"))
	if !slices.Equal(header, []string{"ENQUEUED", "DEVICE ID", "MESSAGE ID", "PROPERTIES", "BODY"}) || len(rows) != 2 ||
		!slices.Equal(rows[0][1:], []string{"sensor-1", "t1", "unit=celsius", `{"temp": 21.5}`}) ||
		!slices.Equal(rows[1][1:], []string{"sensor-1", "t2", "", "plain text"}) {
		t.Errorf("tail -o table: %q %q", header, rows)
	}
	if _, err := time.Parse(time.RFC3339, rows[0][0]); err != nil {
		t.Errorf("enqueued %q: %v", rows[0][0], err)
	}
}

// A body that starts with '-' follows "--".
func TestSendDashBody(t *testing.T) {
	h := withHub(t)
	h.ok("device", "create", "d")
	h.ok("send", "--device", "d", "--message-id", "neg", "--", "-5")
	msgs := h.hub.ReadStream(t)
	if len(msgs) != 1 || string(msgs[0].Body) != "-5" || msgs[0].MessageID != "neg" {
		t.Errorf("stream: %+v", msgs)
	}
}

func TestCompletion(t *testing.T) {
	h := withHub(t)
	h.ok("device", "create", "alpha-1")
	h.ok("device", "create", "alpha-2", "--disabled")
	h.ok("device", "create", "beta")
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if out := h.ok("completion", shell); !strings.Contains(out, "devicehub") {
			t.Errorf("completion %s: %.200s", shell, out)
		}
	}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"device", "get", "al"}, []string{"alpha-1\tenabled", "alpha-2\tdisabled"}},
		{[]string{"c2d", "send", ""}, []string{"alpha-1\tenabled", "alpha-2\tdisabled", "beta\tenabled"}},
		{[]string{"c2d", "send", "beta", ""}, nil},
		{[]string{"send", "--device", "b"}, []string{"beta\tenabled"}},
		{[]string{"device", "list", "-o", ""}, []string{"json", "table"}},
		{[]string{"c2d", "send", "beta", "x", "--ack", ""}, []string{"none", "positive", "negative", "full"}},
	}
	for _, tc := range cases {
		out := h.ok(append([]string{"__complete"}, tc.args...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		got := lines[:len(lines)-1] // the last line is the directive
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("complete %q: %q, want %q", tc.args, got, want)
		}
	}
}
