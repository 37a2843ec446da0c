// Package localhub runs the whole hub on one machine: it installs and starts
// the pinned emulators, creates the stream and tables from internal/schema,
// serves the same handlers Lambda serves on 127.0.0.1, runs the sweeper on a
// schedule, and writes a state file that scripts and the CLI read. It never
// touches a real AWS account: every client uses the emulator endpoints and
// fixed dummy credentials.
package localhub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/devicehub/devicehub/internal/app"
	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/emulator"
	"github.com/devicehub/devicehub/internal/provision"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/router"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/routing"
	"github.com/devicehub/devicehub/shared/sas"
)

// State is what a running local hub publishes in its state file.
type State struct {
	URL                   string            `json:"url"`
	HostName              string            `json:"hostName"`
	OwnerConnectionString string            `json:"ownerConnectionString"`
	Region                string            `json:"region"`
	KinesisEndpoint       string            `json:"kinesisEndpoint"`
	DynamoDBEndpoint      string            `json:"dynamodbEndpoint"`
	StreamName            string            `json:"streamName"`
	Tables                map[string]string `json:"tables"`
	PID                   int               `json:"pid"`
	// S3Endpoint is the S3 emulator's URL when a route has an S3 endpoint.
	S3Endpoint string `json:"s3Endpoint,omitempty"`
	// Endpoints names each routing endpoint's local resource.
	Endpoints map[string]string `json:"endpoints,omitempty"`
	// TLSCAFile is, with Options.TLS, the PEM of the CA that issued the
	// hub's server certificate: clients trust it (the SDKs' ca option).
	TLSCAFile string `json:"tlsCaFile,omitempty"`
}

// DefaultStateFile is where the state goes, relative to the repository root.
const DefaultStateFile = ".devicehub/local.json"

// ReadState reads a state file.
func ReadState(path string) (State, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return State{}, fmt.Errorf("localhub: %w", err)
	}
	var s State
	if err := json.Unmarshal(raw, &s); err != nil {
		return State{}, fmt.Errorf("localhub: state file %s: %w", path, err)
	}
	return s, nil
}

// Options configure Run.
type Options struct {
	Root          string // repository root (holds .tools)
	Port          int    // hub port on 127.0.0.1; 0 picks a free one
	HostName      string // host name in connection strings and SAS resources; default localhost
	StateFile     string // default <Root>/.devicehub/local.json
	KinesisPort   int    // 0 picks a free port
	DynamoDBPort  int
	SweepInterval time.Duration       // default 1 minute
	Getenv        func(string) string // hub settings (C2D limits, TTLs); os.Getenv in main
	Out           io.Writer           // the banner
	Log           *slog.Logger
	Ready         func(State) // called once the hub serves
	Limits        Limits      // connection limits; DefaultLimits of the request timeout when zero
	// TLS serves HTTPS with a server certificate issued at start-up and
	// asks clients for a certificate, which the hub's own code verifies
	// against the registry (X.509 devices); see tls.go.
	TLS bool
	// Routes is a routing definition file (shared/routing JSON, the one the
	// stack's `-c routes=` takes): its endpoints are created on the
	// emulators and the router runs on the telemetry stream.
	Routes string
}

// Run starts everything and blocks until ctx ends, then stops all it started.
func Run(ctx context.Context, o Options) error {
	if o.HostName == "" {
		o.HostName = "localhost"
	}
	if o.StateFile == "" {
		o.StateFile = filepath.Join(o.Root, DefaultStateFile)
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Minute
	}

	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var def routing.Definition
	if o.Routes != "" {
		var err error
		// A bad definition (a condition that does not parse, with its
		// position) stops the start before anything runs.
		if def, err = routing.Load(o.Routes); err != nil {
			return err
		}
	}
	if err := emulator.Install(ctx, o.Root, os.Stderr); err != nil {
		return err
	}
	emu, err := emulator.Start(ctx, emulator.Options{Root: o.Root, KinesisPort: o.KinesisPort, DynamoDBPort: o.DynamoDBPort})
	if err != nil {
		return err
	}
	defer emu.Stop()

	key := registry.NewKey()
	vars := map[string]string{schema.EnvHubHost: o.HostName, schema.EnvOwnerKey: key}
	if def.HasLifecycleRoutes() {
		vars[schema.EnvLifecycleEvents] = "1"
	}
	cfg, err := config.FromEnv(func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return o.Getenv(k)
	})
	if err != nil {
		return err
	}
	awsCfg := awsenv.Static("us-east-1")
	cl := app.Clients{DynamoDB: awsenv.DynamoDB(awsCfg, emu.DynamoDB), Kinesis: awsenv.Kinesis(awsCfg, emu.Kinesis)}
	if err := provision.CreateStream(ctx, cl.Kinesis, cfg.StreamName, 2); err != nil {
		return err
	}
	names := map[string]string{schema.Devices.ID: cfg.DevicesTable, schema.C2D.ID: cfg.C2DTable, schema.Feedback.ID: cfg.FeedbackTable, schema.Routing.ID: cfg.RoutingTable}
	if err := provision.CreateTables(ctx, cl.DynamoDB, schema.Tables(), names); err != nil {
		return err
	}
	hub, err := app.Build(ctx, cfg, cl, app.All, o.Log, nil)
	if err != nil {
		return err
	}
	var routes *localRouting
	if !def.Empty() {
		if routes, err = startRouting(ctx, def, cfg, cl, o.Log); err != nil {
			return err
		}
		// The statistics list every route of the definition, zeros included.
		hub.Deps.Routing = &router.Stats{Store: app.NewRoutingStore(cfg, cl), Definition: routes.def}
		feedCtx, stopFeed := context.WithCancel(ctx)
		go routes.run(feedCtx, o.Log)
		defer routes.stop()
		defer stopFeed()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(o.Port))
	if err != nil {
		return fmt.Errorf("localhub: listen: %w", err)
	}
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits(cfg.RequestTimeout)
	}
	srv := newServer(app.Handler(hub), o.Limits)
	scheme, caFile := "http", ""
	if o.TLS {
		if caFile, err = serveTLS(srv, o.HostName, filepath.Join(filepath.Dir(o.StateFile), tlsCAFileName)); err != nil {
			return err
		}
		defer os.Remove(caFile)
		scheme = "https"
	}
	serveErr := make(chan error, 1)
	go func() {
		if o.TLS {
			serveErr <- srv.ServeTLS(ln, "", "")
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	defer func() {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()

	owner := sas.ConnectionString{HostName: o.HostName, SharedAccessKeyName: cfg.OwnerKeyName, SharedAccessKey: key}
	st := State{
		URL: scheme + "://" + ln.Addr().String(), HostName: o.HostName, OwnerConnectionString: owner.String(),
		Region: awsCfg.Region, KinesisEndpoint: emu.Kinesis, DynamoDBEndpoint: emu.DynamoDB,
		StreamName: cfg.StreamName, Tables: names, PID: os.Getpid(), TLSCAFile: caFile,
	}
	if routes != nil {
		st.S3Endpoint, st.Endpoints = routes.s3, routes.resources()
	}
	if err := writeState(o.StateFile, st); err != nil {
		return err
	}
	defer os.Remove(o.StateFile)
	if o.Out != nil {
		fmt.Fprintf(o.Out, "devicehub is running (Ctrl-C stops it and its emulators)\n"+
			"  hub URL:                  %s\n  owner connection string:  %s\n"+
			"  Kinesis emulator:         %s  (stream %s)\n  DynamoDB emulator:        %s\n  state file:               %s\n",
			st.URL, st.OwnerConnectionString, st.KinesisEndpoint, st.StreamName, st.DynamoDBEndpoint, o.StateFile)
		if caFile != "" {
			fmt.Fprintf(o.Out, "  TLS CA (clients trust it): %s  (client certificates: X.509 devices)\n", caFile)
		}
		if routes != nil {
			fmt.Fprintf(o.Out, "  routes:                   %d from %s ('devicehub routes' shows counts)\n", len(def.Routes), o.Routes)
			for _, ep := range routes.def.Endpoints {
				fmt.Fprintf(o.Out, "    endpoint %-16s %s\n", ep.Name, st.Endpoints[ep.Name])
			}
			if st.S3Endpoint != "" {
				fmt.Fprintf(o.Out, "  S3 emulator:              %s\n", st.S3Endpoint)
			}
		}
	}
	if o.Ready != nil {
		o.Ready(st)
	}
	tick := time.NewTicker(o.SweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-serveErr:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("localhub: serve: %w", err)
		case <-tick.C:
			if hub.Sweep != nil {
				if err := hub.Sweep(ctx); err != nil {
					o.Log.Warn("sweep failed", slog.Any("error", err))
				}
			}
		}
	}
}

func writeState(path string, st State) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("localhub: %w", err)
	}
	raw, _ := json.MarshalIndent(st, "", "  ")
	// The state holds the owner key: readable by this user only.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("localhub: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("localhub: %w", err)
	}
	return nil
}
