// Package e2e drives the hub with the real Azure IoT device SDK for Node
// (azure-iot-device + azure-iot-device-http from .tools/node_modules) against
// a hub served by testenv on the emulators.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/emulator"
	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var repoRootCache struct {
	once sync.Once
	dir  string
	err  error
}

// repoRoot returns the repository root (the folder holding .tools).
func repoRoot(t testing.TB) string {
	t.Helper()
	repoRootCache.once.Do(func() {
		wd, err := os.Getwd()
		if err != nil {
			repoRootCache.err = err
			return
		}
		repoRootCache.dir, repoRootCache.err = emulator.FindRoot(wd)
	})
	if repoRootCache.err != nil {
		t.Fatal(repoRootCache.err)
	}
	return repoRootCache.dir
}

// nodeResult is what a finished node process left behind.
type nodeResult struct {
	Stdout, Stderr string
	Err            error // nil on exit status 0; context.DeadlineExceeded on timeout
}

// execNode runs `node script` (script is relative to this package's folder or
// absolute) with NODE_PATH set to .tools/node_modules plus the given
// variables, and kills it after timeout. It never fails the test; use it to
// assert on failures. Both streams are logged.
func execNode(t testing.TB, script string, vars map[string]string, timeout time.Duration) nodeResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not on PATH:", err)
	}
	abs, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, abs)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(repoRoot(t), ".tools", "node_modules"))
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(context.DeadlineExceeded, err)
	}
	t.Logf("node %s: %v after %s\n--- stdout\n%s--- stderr\n%s", filepath.Base(script), err,
		time.Since(start).Round(time.Millisecond), stdout.String(), stderr.String())
	return nodeResult{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// runNode is execNode that fails the test unless the script exits 0 in time,
// and returns its stdout.
func runNode(t testing.TB, script string, vars map[string]string, timeout time.Duration) string {
	t.Helper()
	r := execNode(t, script, vars, timeout)
	if r.Err != nil {
		t.Fatalf("node %s: %v\nstderr:\n%s", script, r.Err, r.Stderr)
	}
	return r.Stdout
}

// sdkVars returns the variables the device scripts read: DEVICE_CONNECTION_STRING
// (HostName stays the hub host the tokens are signed for) and HUB_PORT, the
// plain-HTTP port on 127.0.0.1 the SDK's agent must connect to.
func sdkVars(t testing.TB, env *testenv.Env, cs sas.ConnectionString) map[string]string {
	t.Helper()
	u, err := url.Parse(env.Server.URL)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(host, "127.") {
		t.Fatalf("hub server is not on loopback: %s", u.Host)
	}
	return map[string]string{"DEVICE_CONNECTION_STRING": cs.String(), "HUB_PORT": port}
}
