// Command devicehub is the hub's CLI: it runs the hub locally, manages the
// device registry, sends as a device, tails the telemetry stream, and drives
// cloud-to-device messaging and feedback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/devicehub/devicehub/internal/emulator"
	"github.com/devicehub/devicehub/internal/localhub"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/hubclient"
	"github.com/devicehub/devicehub/shared/sas"
)

const usage = `usage: devicehub [--url URL] [--connection-string CS] [--state FILE] <command> [args]

commands:
  local [--port 8080] [--host localhost]       run the whole hub on this machine (emulators included)
  device create ID [--primary-key K] [--secondary-key K] [--disabled]
  device get ID | list | delete ID | enable ID | disable ID
  send (--device ID | --device-connection-string CS) [--batch] [--prop k=v]... [--message-id ID]
       [--correlation-id ID] [--content-type T] [--content-encoding E] BODY...   ("-" reads stdin)
  tail [--from-start] [--stream NAME] [--count N]   follow every shard, print decoded messages
  c2d send|purge|status|deadletters|requeue ...     cloud-to-device messaging (devicehub c2d -h)
  feedback [--follow]                                delivery feedback (devicehub feedback -h)

The hub URL and owner connection string come from --url/--connection-string,
DEVICEHUB_URL/DEVICEHUB_CONNECTION_STRING, or the state file that
'devicehub local' (make run) writes (.devicehub/local.json).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &cliEnv{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, getenv: os.Getenv}
	if err := run(ctx, e, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "devicehub:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, e *cliEnv, args []string) error {
	fs := flag.NewFlagSet("devicehub", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() { fmt.Fprint(e.Stderr, usage) }
	fs.StringVar(&e.url, "url", "", "hub base URL")
	fs.StringVar(&e.conn, "connection-string", "", "owner (service) connection string")
	fs.StringVar(&e.stateFile, "state", "", "state file of a local hub")
	if err := fs.Parse(args); err != nil {
		return err
	}
	args = fs.Args()
	if len(args) == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	switch args[0] {
	case "local":
		return runLocal(ctx, e, args[1:])
	case "device":
		return runDevice(ctx, e, args[1:])
	case "send":
		return runSend(ctx, e, args[1:])
	case "tail":
		return runTail(ctx, e, args[1:])
	case "c2d":
		return runC2D(ctx, e, args[1:])
	case "feedback":
		return runFeedback(ctx, e, args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(e.Stdout, usage)
		return nil
	default:
		fs.Usage()
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// cliEnv carries the CLI's I/O and how to reach the hub.
type cliEnv struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	getenv         func(string) string

	url, conn, stateFile string
	state                *localhub.State
}

func (e *cliEnv) statePath() string {
	if e.stateFile != "" {
		return e.stateFile
	}
	if p := e.getenv(schema.EnvStateFile); p != "" {
		return p
	}
	wd, _ := os.Getwd()
	if root, err := emulator.FindRoot(wd); err == nil {
		return filepath.Join(root, localhub.DefaultStateFile)
	}
	return localhub.DefaultStateFile
}

// localState returns the running local hub's state, if there is one.
func (e *cliEnv) localState() (*localhub.State, error) {
	if e.state != nil {
		return e.state, nil
	}
	st, err := localhub.ReadState(e.statePath())
	if err != nil {
		return nil, err
	}
	e.state = &st
	return e.state, nil
}

func (e *cliEnv) baseURL() (string, error) {
	for _, v := range []string{e.url, e.getenv(schema.EnvHubURL)} {
		if v != "" {
			return v, nil
		}
	}
	st, err := e.localState()
	if err != nil {
		return "", fmt.Errorf("no hub URL: pass --url, set %s, or start a local hub with 'make run' (%w)", schema.EnvHubURL, err)
	}
	return st.URL, nil
}

// Service returns a client acting with the owner policy.
func (e *cliEnv) Service() (*hubclient.Client, error) {
	u, err := e.baseURL()
	if err != nil {
		return nil, err
	}
	cs := e.conn
	if cs == "" {
		cs = e.getenv(schema.EnvConnString)
	}
	if cs == "" {
		st, err := e.localState()
		if err != nil {
			return nil, fmt.Errorf("no owner connection string: pass --connection-string, set %s, or start a local hub (%w)", schema.EnvConnString, err)
		}
		cs = st.OwnerConnectionString
	}
	conn, err := sas.ParseConnectionString(cs)
	if err != nil {
		return nil, err
	}
	return hubclient.New(u, conn), nil
}

// Device returns a client acting as the device of deviceConn.
func (e *cliEnv) Device(deviceConn string) (*hubclient.Client, error) {
	u, err := e.baseURL()
	if err != nil {
		return nil, err
	}
	conn, err := sas.ParseConnectionString(deviceConn)
	if err != nil {
		return nil, err
	}
	if conn.DeviceID == "" {
		return nil, errors.New("the device connection string has no DeviceId")
	}
	return hubclient.New(u, conn), nil
}
