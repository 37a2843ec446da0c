// Package local proves the README's `make run` flow with the real CLI
// binary: build it, run `devicehub local` (emulators included), drive it with
// the CLI's own commands, and stop it with Ctrl-C.
package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/emulator"
	"github.com/devicehub/devicehub/internal/localhub"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/shared/telemetry"
	"github.com/devicehub/devicehub/test/testenv"
)

// Generous bounds for a loaded 2-core machine; every wait polls and returns
// as soon as its condition holds.
const (
	buildTimeout   = 5 * time.Minute
	startTimeout   = 3 * time.Minute // includes `npm ci` of .tools on a fresh checkout
	commandTimeout = 90 * time.Second
	stopTimeout    = 60 * time.Second
)

// cleanEnv is this process's environment without the variables that would
// point the CLI somewhere other than the state file under test.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == schema.EnvHubURL || k == schema.EnvConnString || k == schema.EnvStateFile ||
			k == schema.EnvStreamName || strings.HasPrefix(k, "AWS_ENDPOINT_URL") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

type cli struct {
	t     *testing.T
	bin   string
	root  string
	state string
}

// run runs the CLI with --state and args, fails the test unless it exits 0
// in time, and returns its stdout.
func (c *cli) run(args ...string) string {
	c.t.Helper()
	return c.runStdin(nil, args...)
}

func (c *cli) runStdin(stdin []byte, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--state", c.state}, args...)...)
	cmd.Dir, cmd.Env = c.root, cleanEnv()
	cmd.WaitDelay = 5 * time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	c.t.Logf("devicehub %s (%s): %v\n%s%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err, stdout.String(), stderr.String())
	if err != nil {
		c.t.Fatalf("devicehub %s: %v (timeout: %v)\nstderr: %s", strings.Join(args, " "), err, ctx.Err() != nil, stderr.String())
	}
	return stdout.String()
}

// children returns the PIDs whose parent is pid, from /proc.
func children(t *testing.T, pid int) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", d.Name(), "status"))
		if err != nil {
			continue // gone meanwhile
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "PPid:"); ok && strings.TrimSpace(v) == strconv.Itoa(pid) {
				out = append(out, p)
			}
		}
	}
	return out
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("bad URL %q: %v", raw, err)
	}
	return u.Host
}

// listening reports whether something accepts connections on addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// tailed is one line of `devicehub tail`.
type tailed struct {
	PartitionKey   string                     `json:"partitionKey"`
	SequenceNumber string                     `json:"sequenceNumber"`
	System         telemetry.SystemProperties `json:"systemProperties"`
	Properties     map[string]string          `json:"properties"`
	Body           json.RawMessage            `json:"body"`
	BodyText       *string                    `json:"bodyText"`
	BodyBase64     []byte                     `json:"bodyBase64"`
}

// TestMakeRunFlow follows the README: `make run` (devicehub local), create
// devices, send single and batch messages, tail them, then Ctrl-C.
func TestMakeRunFlow(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := emulator.FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	c := &cli{t: t, bin: filepath.Join(tmp, "devicehub"), root: root,
		state: filepath.Join(tmp, ".devicehub", "local.json")} // its folder does not exist yet

	// Build the CLI as a user would.
	{
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		build := exec.CommandContext(ctx, "go", "build", "-o", c.bin, "./cmd/devicehub")
		build.Dir = root
		out, err := build.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}

	// make run: in its own process group, as a terminal runs a job.
	var stdout, stderr testenv.SyncBuffer
	local := exec.Command(c.bin, "--state", c.state, "local", "--port", "0")
	local.Dir, local.Env = root, cleanEnv()
	local.Stdout, local.Stderr = &stdout, &stderr
	local.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := local.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- local.Wait() }()
	var emulatorPIDs []int
	stopped := false
	t.Cleanup(func() {
		if !stopped { // the test failed before Ctrl-C: leave nothing behind
			_ = syscall.Kill(-local.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		for _, pid := range emulatorPIDs {
			if alive(pid) {
				_ = syscall.Kill(-pid, syscall.SIGKILL) // each emulator leads its own group
			}
		}
		t.Logf("devicehub local stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	})

	// Wait for the state file (written once the hub serves).
	var st localhub.State
	deadline := time.Now().Add(startTimeout)
	for {
		if s, err := localhub.ReadState(c.state); err == nil {
			st = s
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("state file: %v", err)
		}
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("devicehub local exited before it was ready: %v\nstderr:\n%s", err, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no state file after %s\nstdout:\n%s\nstderr:\n%s", startTimeout, stdout.String(), stderr.String())
		}
	}
	emulatorPIDs = children(t, local.Process.Pid)
	if len(emulatorPIDs) != 2 {
		t.Errorf("devicehub local runs %d child processes, want 2 emulators: %v", len(emulatorPIDs), emulatorPIDs)
	}
	if fi, err := os.Stat(c.state); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode: %v %v (it holds the owner key: want 0600)", fi.Mode(), err)
	}
	hubAddr, kinesisAddr, dynamoAddr := hostPort(t, st.URL), hostPort(t, st.KinesisEndpoint), hostPort(t, st.DynamoDBEndpoint)
	if h, p, _ := net.SplitHostPort(hubAddr); h != "127.0.0.1" || p == "0" || p == "8080" {
		t.Errorf("--port 0: hub listens on %s, want 127.0.0.1 and a picked port", hubAddr)
	}
	for _, a := range []string{hubAddr, kinesisAddr, dynamoAddr} {
		if !listening(a) {
			t.Errorf("nothing listens on %s", a)
		}
	}
	if st.PID != local.Process.Pid || st.StreamName == "" || st.OwnerConnectionString == "" {
		t.Errorf("state: %+v", st)
	}
	if !strings.Contains(stdout.String(), st.URL) {
		t.Errorf("the banner does not show the hub URL %s:\n%s", st.URL, stdout.String())
	}

	// Devices; a flag before the id (it used to be taken for the id).
	conns := map[string]sas.ConnectionString{}
	for _, args := range [][]string{{"sensor-1"}, {"sensor-2"}, {"--disabled", "sensor-3"}} {
		id := args[len(args)-1]
		var created struct {
			DeviceID         string `json:"deviceId"`
			Status           string `json:"status"`
			ConnectionString string `json:"connectionString"`
		}
		out := c.run(append([]string{"device", "create"}, args...)...)
		if err := json.Unmarshal([]byte(out), &created); err != nil {
			t.Fatalf("device create %s printed %q: %v", id, out, err)
		}
		cs, err := sas.ParseConnectionString(created.ConnectionString)
		if err != nil {
			t.Fatalf("device create %s: connection string %q: %v", id, created.ConnectionString, err)
		}
		if created.DeviceID != id || cs.DeviceID != id || cs.HostName != st.HostName || cs.SharedAccessKey == "" {
			t.Errorf("device create %s: %+v, connection string %q", id, created, created.ConnectionString)
		}
		conns[id] = cs
	}
	list := c.run("device", "list", "--output", "table")
	var listed []string
	for i, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(line)
		if i == 0 {
			if !strings.HasPrefix(line, "DEVICE ID  ") {
				t.Errorf("device list -o table: header %q", line)
			}
			continue
		}
		if len(f) < 2 {
			t.Fatalf("device list -o table: row %q", line)
		}
		listed = append(listed, f[0]+" "+f[1])
	}
	slices.Sort(listed) // the registry lists in no particular order
	if !slices.Equal(listed, []string{"sensor-1 enabled", "sensor-2 enabled", "sensor-3 disabled"}) {
		t.Errorf("device list:\n%s", list)
	}

	// Telemetry: singles by device id (key from the registry), a batch and a
	// binary body from stdin by connection string.
	sent := func(out string, messages int, batch bool) {
		t.Helper()
		var s struct {
			Messages int  `json:"messages"`
			Batch    bool `json:"batch"`
		}
		if err := json.Unmarshal([]byte(out), &s); err != nil || s.Messages != messages || s.Batch != batch {
			t.Errorf("send printed %q (%v), want %d message(s), batch %v", out, err, messages, batch)
		}
	}
	sent(c.run("send", "--device", "sensor-1", "--prop", "Unit=celsius", "--prop", "alert=true",
		"--message-id", "m1", "--correlation-id", "c1", "--content-type", "application/json", "--content-encoding", "utf-8",
		`{"temp": 21.5, "where": "Küche"}`), 1, false)
	sent(c.run("send", "--device-connection-string", conns["sensor-2"].String(), "--batch", "--prop", "Kind=batch",
		"--message-id", "b", "hello, wörld", `{"n":2}`, "[3]"), 3, true)
	binary := []byte{0x00, 0x01, 0xfe, 0xff, 0x80}
	sent(c.runStdin(binary, "send", "--device", "sensor-1", "--message-id", "m2", "-"), 1, false)

	out := c.run("tail", "--from-start", "--count", "5")
	var lines []tailed
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l tailed
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("tail printed %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 5 {
		t.Fatalf("tail --count 5 printed %d messages:\n%s", len(lines), out)
	}
	perDevice := map[string][]tailed{}
	for _, l := range lines {
		perDevice[l.System.DeviceID] = append(perDevice[l.System.DeviceID], l)
		if l.System.AuthMethod == "" || l.System.AuthGenerationID == "" || l.System.EnqueuedTime.IsZero() || l.SequenceNumber == "" {
			t.Errorf("tail: hub stamps missing: %+v", l)
		}
	}
	type exp struct {
		msgID, text, b64 string
		json             string
		props            map[string]string
	}
	want := map[string][]exp{
		"sensor-1": {
			{msgID: "m1", json: `{"temp": 21.5, "where": "Küche"}`, props: map[string]string{"unit": "celsius", "alert": "true"}},
			{msgID: "m2", b64: string(binary), props: map[string]string{}},
		},
		"sensor-2": {
			{msgID: "b-0", text: "hello, wörld", props: map[string]string{"Kind": "batch"}},
			{msgID: "b-1", json: `{"n":2}`, props: map[string]string{"Kind": "batch"}},
			{msgID: "b-2", json: `[3]`, props: map[string]string{"Kind": "batch"}},
		},
	}
	for dev, ws := range want {
		got := perDevice[dev]
		if len(got) != len(ws) {
			t.Errorf("%s: tail shows %d messages, want %d", dev, len(got), len(ws))
			continue
		}
		for i, w := range ws {
			g := got[i]
			where := fmt.Sprintf("%s message %d", dev, i)
			if g.System.MessageID != w.msgID {
				t.Errorf("%s: message id %q, want %q (order kept per device)", where, g.System.MessageID, w.msgID)
			}
			if g.Properties == nil {
				g.Properties = map[string]string{}
			}
			if fmt.Sprint(g.Properties) != fmt.Sprint(w.props) {
				t.Errorf("%s: properties %v, want %v", where, g.Properties, w.props)
			}
			switch {
			case w.json != "":
				// tail prints JSON bodies as they are in the stream, byte for byte.
				if string(g.Body) != w.json {
					t.Errorf("%s: body %s, want JSON %s", where, g.Body, w.json)
				}
			case w.text != "":
				if g.BodyText == nil || *g.BodyText != w.text {
					t.Errorf("%s: bodyText %v, want %q", where, g.BodyText, w.text)
				}
			default:
				if string(g.BodyBase64) != w.b64 {
					t.Errorf("%s: bodyBase64 %x, want %x", where, g.BodyBase64, w.b64)
				}
			}
		}
	}
	if s := perDevice["sensor-1"]; len(s) > 0 && (s[0].System.CorrelationID != "c1" ||
		s[0].System.ContentType != "application/json" || s[0].System.ContentEncoding != "utf-8") {
		t.Errorf("sensor-1 message 0: system properties %+v", s[0].System)
	}

	// Ctrl-C: SIGINT to the job's process group, as a terminal sends it.
	if err := syscall.Kill(-local.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("devicehub local after Ctrl-C: %v (want exit status 0)\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(stopTimeout):
		t.Fatalf("devicehub local still runs %s after Ctrl-C", stopTimeout)
	}
	for _, pid := range emulatorPIDs {
		if alive(pid) {
			t.Errorf("emulator process %d outlives devicehub local", pid)
		}
	}
	for _, a := range []string{hubAddr, kinesisAddr, dynamoAddr} {
		if listening(a) {
			t.Errorf("something still listens on %s after devicehub local stopped", a)
		}
	}
	if _, err := os.Stat(c.state); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state file after stop: %v (want it removed)", err)
	}
}
