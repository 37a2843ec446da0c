// Package emulator installs, starts and stops the local emulators of the AWS
// APIs devicehub uses: kinesalite (Kinesis) and dynalite (DynamoDB), pinned in
// .tools/package-lock.json and bound to loopback only.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Variables naming emulators that are already running (CI starts them once
// for the whole suite); the tests and the load harness start their own when
// these are unset.
const (
	EnvKinesis  = "DEVICEHUB_TEST_KINESIS_ENDPOINT"
	EnvDynamoDB = "DEVICEHUB_TEST_DYNAMODB_ENDPOINT"
)

// FindRoot walks up from dir to the repository root (the folder holding
// .tools/package.json).
func FindRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".tools", "package.json")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("emulator: no .tools/package.json above " + dir)
		}
	}
}

// Install runs `npm ci` in root/.tools when its node_modules is missing or
// older than the lockfile.
func Install(ctx context.Context, root string, out io.Writer) error {
	tools := filepath.Join(root, ".tools")
	lock, err := os.Stat(filepath.Join(tools, "package-lock.json"))
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	if mods, err := os.Stat(filepath.Join(tools, "node_modules", ".package-lock.json")); err == nil && !mods.ModTime().Before(lock.ModTime()) {
		return nil
	}
	cmd := exec.CommandContext(ctx, "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", tools)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("emulator: npm ci: %w", err)
	}
	return nil
}

// Options configure Start. Zero ports pick free ones.
type Options struct {
	Root         string // repository root
	KinesisPort  int
	DynamoDBPort int
	Log          io.Writer // emulator output; nil discards
}

// Running emulators.
type Running struct {
	Kinesis  string // base URL
	DynamoDB string
	procs    []*exec.Cmd
}

// Start launches both emulators and waits until they answer.
func Start(ctx context.Context, o Options) (*Running, error) {
	var err error
	if o.KinesisPort == 0 {
		if o.KinesisPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	if o.DynamoDBPort == 0 {
		if o.DynamoDBPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	mods := filepath.Join(o.Root, ".tools", "node_modules")
	preload := filepath.Join(o.Root, ".tools", "loopback.js")
	r := &Running{
		Kinesis:  "http://127.0.0.1:" + strconv.Itoa(o.KinesisPort),
		DynamoDB: "http://127.0.0.1:" + strconv.Itoa(o.DynamoDBPort),
	}
	specs := []struct {
		name   string
		args   []string
		url    string
		target string
	}{
		{"kinesalite", []string{"-r", preload, filepath.Join(mods, "kinesalite", "cli.js"), "--port", strconv.Itoa(o.KinesisPort), "--createStreamMs", "50", "--deleteStreamMs", "50", "--shardLimit", "100"},
			r.Kinesis, "Kinesis_20131202.ListStreams"},
		{"dynalite", []string{"-r", preload, filepath.Join(mods, "dynalite", "cli.js"), "--host", "127.0.0.1", "--port", strconv.Itoa(o.DynamoDBPort), "--createTableMs", "50", "--deleteTableMs", "50", "--updateTableMs", "50"},
			r.DynamoDB, "DynamoDB_20120810.ListTables"},
	}
	for _, s := range specs {
		// Not CommandContext: the emulators outlive Start's ctx, until Stop.
		cmd := exec.Command("node", s.args...)
		cmd.Stdout, cmd.Stderr = o.Log, o.Log
		// Own process group, so Stop ends the emulator and nothing else.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			r.Stop()
			return nil, fmt.Errorf("emulator: start %s: %w", s.name, err)
		}
		r.procs = append(r.procs, cmd)
	}
	for _, s := range specs {
		if err := WaitReady(ctx, s.url, s.target, 20*time.Second); err != nil {
			r.Stop()
			return nil, err
		}
	}
	return r, nil
}

// Stop ends the emulators this Running started: each runs in its own process
// group, which Stop signals by id, so nothing else is touched.
func (r *Running) Stop() {
	for _, p := range r.procs {
		if p.Process != nil {
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
			_, _ = p.Process.Wait()
		}
	}
	r.procs = nil
}

// WaitReady polls an emulator with a signed-looking list call until it answers 200.
func WaitReady(ctx context.Context, url, target string, timeout time.Duration) error {
	ct := "application/x-amz-json-1.1" // Kinesis
	if strings.HasPrefix(target, "DynamoDB") {
		ct = "application/x-amz-json-1.0"
	}
	deadline := time.Now().Add(timeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
		if err != nil {
			return fmt.Errorf("emulator: %w", err)
		}
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("X-Amz-Date", "20200101T000000Z")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=devicehub/20200101/us-east-1/x/aws4_request, SignedHeaders=host, Signature=0")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("emulator at %s not ready after %s: %w", url, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("emulator: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
