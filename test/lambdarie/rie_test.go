package lambdarie

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devicehub/devicehub/test/testenv"
)

// rieModule is the emulator's command, a tool dependency in go.mod, so the
// module proxy provides it on a fresh machine.
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// repoRoot is the module root, where the functions and events live.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// build compiles each function's bootstrap for this machine's architecture
// the way `make lambdas` does for Lambda's, and the emulator; it returns the
// paths by name ("aws-lambda-rie" for the emulator).
func build(t *testing.T, root string, functions []string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	run := func(env []string, args ...string) {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	lambdaEnv := []string{"GOOS=linux", "GOARCH=" + runtime.GOARCH, "CGO_ENABLED=0"}
	for _, fn := range functions {
		out[fn] = filepath.Join(dir, fn, "bootstrap")
		run(lambdaEnv, "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out[fn], "./functions/"+fn)
	}
	out["aws-lambda-rie"] = filepath.Join(dir, "aws-lambda-rie")
	run(nil, "build", "-o", out["aws-lambda-rie"], rieModule)
	return out
}

// emulator is one function running under aws-lambda-rie.
type emulator struct {
	name string
	cmd  *exec.Cmd
	url  string
	out  *testenv.SyncBuffer
}

// start runs bootstrap under the emulator, both on loopback, with exactly
// env as the function's environment (as in Lambda, nothing inherited).
func start(t *testing.T, rie, name, bootstrap string, env []string) *emulator {
	t.Helper()
	api, runtimeAPI := freePort(t), freePort(t)
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", api,
		"--runtime-api-address", runtimeAPI,
		bootstrap)
	cmd.Env = env
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so stop reaches the bootstrap it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &emulator{name: name, cmd: cmd, url: "http://" + api + "/2015-03-31/functions/function/invocations", out: out}
	t.Cleanup(e.stop)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", api, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: emulator not listening on %s: %v\n%s", name, api, err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// invoke sends one event and returns the function's response payload. An
// error the function returned (errorType in the payload) fails the test.
func (e *emulator) invoke(t *testing.T, event []byte) []byte {
	t.Helper()
	resp, err := http.Post(e.url, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatalf("%s: invoke: %v\n%s", e.name, err, e.out)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var fnErr struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &fnErr) == nil && fnErr.ErrorType != "" {
		t.Fatalf("%s: invoke: %d %s\n%s", e.name, resp.StatusCode, body, e.out)
	}
	return body
}

// stop ends the emulator and its bootstrap (by process group id).
func (e *emulator) stop() {
	if e.cmd.ProcessState != nil {
		return
	}
	pgid := e.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
}

var (
	initPhaseRE    = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	reportedInitRE = regexp.MustCompile(`REPORT RequestId: .*Init Duration: ([0-9.]+) ms`)
)

// initDurations reads the emulator's log: initPhase is the runtime's init
// phase (process start to its first request for work, the INIT REPORT of
// the emulator's rapid core), what Lambda bills as Init Duration; reported is
// the Init Duration of the REPORT line, which this emulator measures around
// its own dispatch of the init only (tens of microseconds).
func (e *emulator) initDurations(t *testing.T) (initPhase, reported time.Duration) {
	t.Helper()
	parse := func(re *regexp.Regexp) time.Duration {
		m := re.FindStringSubmatch(e.out.String())
		if m == nil {
			t.Fatalf("%s: no %s in the emulator's log:\n%s", e.name, re, e.out)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return time.Duration(v * float64(time.Millisecond))
	}
	return parse(initPhaseRE), parse(reportedInitRE)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// event reads a sample event from events/ and puts a fresh Authorization
// header in it (in every header map the event has).
func event(t *testing.T, root, name, authorization string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	replaced := false
	for _, field := range []string{"headers", "multiValueHeaders"} {
		h, _ := ev[field].(map[string]any)
		for k := range h {
			if strings.EqualFold(k, "authorization") {
				if field == "headers" {
					h[k] = authorization
				} else {
					h[k] = []any{authorization}
				}
				replaced = true
			}
		}
	}
	if authorization != "" && !replaced {
		t.Fatalf("%s has no Authorization header", name)
	}
	out, _ := json.Marshal(ev)
	return out
}

// proxyResponse is an API Gateway proxy response (v1 and v2 share these fields).
type proxyResponse struct {
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

func decodeResponse(t *testing.T, payload []byte) proxyResponse {
	t.Helper()
	var r proxyResponse
	if err := json.Unmarshal(payload, &r); err != nil || r.StatusCode == 0 {
		t.Fatalf("not an API Gateway proxy response: %s (%v)", payload, err)
	}
	return r
}

func (r proxyResponse) header(name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (r proxyResponse) String() string {
	return fmt.Sprintf("%d %v %q", r.StatusCode, r.Headers, r.Body)
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func goarch() string { return runtime.GOARCH }
