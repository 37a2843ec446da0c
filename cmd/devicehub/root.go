package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/devicehub/devicehub/internal/emulator"
	"github.com/devicehub/devicehub/internal/localhub"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/hubclient"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
)

// deps is what the CLI takes from its process. main passes the real ones;
// tests pass buffers, a map for the environment and a fixed clock.
type deps struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Getwd  func() (string, error)
	Now    func() time.Time
}

// cli is the state every command shares: its dependencies and the root's
// persistent flags.
type cli struct {
	deps
	url, conn, stateFile string
	tlsCA                string // --tls-ca: PEM CA(s) to trust for the hub's certificate
	certFile, keyFile    string // --cert/--key: act as an X.509 device (x509.go)
	output               outputFormat

	state    *localhub.State // read once, on first use
	stateErr error
	ran      bool // a command's RunE started: its error is not a usage error
}

const rootLong = `devicehub runs the hub on this machine, manages its device registry, sends
as a device, tails the telemetry stream, and drives cloud-to-device messaging
and delivery feedback.

The hub is found, in this order, from --url and --connection-string, from
DEVICEHUB_URL and DEVICEHUB_CONNECTION_STRING, or from the state file that
'devicehub local' (make run) writes: --state, DEVICEHUB_STATE_FILE, or
.devicehub/local.json at the repository root. With a local hub running no flag
is needed.

Flags go before or after arguments; '--' ends the flags (a BODY that starts
with '-'). Answers print as JSON, one value per line, with camelCase keys;
--output table prints aligned columns instead.`

func newCLI(d deps) *cli { return &cli{deps: d, output: outputJSON} }

// rootCmd builds the command tree.
func (c *cli) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "devicehub",
		Short: "Run and drive a devicehub IoT hub",
		Long:  rootLong,
		Example: `  devicehub local                                   # what 'make run' runs
  devicehub device create thermostat-1 --output table
  devicehub send --device thermostat-1 '{"temperature": 21.5}'
  devicehub tail --from-start --count 10
  devicehub --url https://hub.example.com --connection-string "$OWNER" device list
  source <(devicehub completion bash)`,
		SilenceErrors: true, // execute prints them, once
		SilenceUsage:  true, // a failed request is not a usage error
	}
	root.SetIn(c.Stdin)
	root.SetOut(c.Stdout)
	root.SetErr(c.Stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&c.url, "url", "", "hub base URL (default $"+schema.EnvHubURL+", else the local hub's)")
	pf.StringVar(&c.conn, "connection-string", "", "owner (service) connection string (default $"+schema.EnvConnString+", else the local hub's)")
	pf.StringVar(&c.stateFile, "state", "", "state file of a local hub (default $"+schema.EnvStateFile+", else "+localhub.DefaultStateFile+" at the repository root)")
	pf.StringVar(&c.tlsCA, "tls-ca", "", "PEM file of the CA to trust for the hub's TLS certificate (default $"+schema.EnvTLSCA+", else a local --tls hub's)")
	pf.VarP(&c.output, "output", "o", "output format: json (one value per line) or table")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
	_ = root.MarkPersistentFlagFilename("state", "json")

	root.AddCommand(c.localCmd(), c.deviceCmd(), c.caCmd(), c.sendCmd(), c.tailCmd(), c.c2dCmd(), c.feedbackCmd(), c.routesCmd())
	c.markRuns(root)
	return root
}

// markRuns records that a command's own code started. Every error before
// that is cobra's, about the command line: a usage error.
func (c *cli) markRuns(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			c.ran = true
			return run(cmd, args)
		}
	}
	for _, sub := range cmd.Commands() {
		c.markRuns(sub)
	}
}

// execute runs the CLI with args and returns the process exit code: 0; 1
// when a command failed; 2 for a usage error, with a pointer to the help.
func execute(ctx context.Context, args []string, d deps) int {
	c := newCLI(d)
	root := c.rootCmd()
	if args == nil {
		args = []string{} // cobra reads os.Args for nil
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(d.Stderr, "devicehub:", err)
	if !c.ran {
		fmt.Fprintf(d.Stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return 2
	}
	return 1
}

func (c *cli) getwd() string {
	wd, err := c.Getwd()
	if err != nil {
		return "."
	}
	return wd
}

func (c *cli) statePath() string {
	if c.stateFile != "" {
		return c.stateFile
	}
	if p := c.Getenv(schema.EnvStateFile); p != "" {
		return p
	}
	if root, err := emulator.FindRoot(c.getwd()); err == nil {
		return filepath.Join(root, localhub.DefaultStateFile)
	}
	return localhub.DefaultStateFile
}

// localState returns the running local hub's state, if there is one.
func (c *cli) localState() (*localhub.State, error) {
	if c.state == nil && c.stateErr == nil {
		st, err := localhub.ReadState(c.statePath())
		if err != nil {
			c.stateErr = err
		} else {
			c.state = &st
		}
	}
	return c.state, c.stateErr
}

// remote reports whether the hub was named by flag or environment rather
// than found in a local state file.
func (c *cli) remote() bool { return c.url != "" || c.Getenv(schema.EnvHubURL) != "" }

func (c *cli) baseURL() (string, error) {
	for _, v := range []string{c.url, c.Getenv(schema.EnvHubURL)} {
		if v != "" {
			return v, nil
		}
	}
	st, err := c.localState()
	if err != nil {
		return "", fmt.Errorf("no hub URL: pass --url, set %s, or start a local hub with 'make run' (%w)", schema.EnvHubURL, err)
	}
	return st.URL, nil
}

func (c *cli) client(base string, conn sas.ConnectionString) (*hubclient.Client, error) {
	hc := hubclient.New(base, conn)
	hc.Now = c.Now
	roots, err := c.roots()
	if err != nil {
		return nil, err
	}
	if roots != nil {
		hc.SetTLS(roots, nil)
	}
	return hc, nil
}

// service returns a client acting with the owner policy.
func (c *cli) service() (*hubclient.Client, error) {
	u, err := c.baseURL()
	if err != nil {
		return nil, err
	}
	cs := c.conn
	if cs == "" {
		cs = c.Getenv(schema.EnvConnString)
	}
	if cs == "" {
		st, err := c.localState()
		if err != nil {
			return nil, fmt.Errorf("no owner connection string: pass --connection-string, set %s, or start a local hub (%w)", schema.EnvConnString, err)
		}
		cs = st.OwnerConnectionString
	}
	conn, err := sas.ParseConnectionString(cs)
	if err != nil {
		return nil, fmt.Errorf("owner connection string: %w", err)
	}
	return c.client(u, conn)
}

// device returns a client acting as the device of deviceConn.
func (c *cli) device(deviceConn string) (*hubclient.Client, error) {
	u, err := c.baseURL()
	if err != nil {
		return nil, err
	}
	conn, err := sas.ParseConnectionString(deviceConn)
	if err != nil {
		return nil, fmt.Errorf("device connection string: %w", err)
	}
	if conn.DeviceID == "" {
		return nil, errors.New("the device connection string has no DeviceId")
	}
	return c.client(u, conn)
}

// deviceClient resolves --device (its key looked up with the owner policy)
// or --device-connection-string into a client acting as that device; with
// --cert and --key, an X.509 device (x509.go).
func (c *cli) deviceClient(ctx context.Context, id, conn string) (*hubclient.Client, error) {
	if c.certFile != "" {
		return c.x509Device(id, conn)
	}
	if conn != "" {
		return c.device(conn)
	}
	svc, err := c.service()
	if err != nil {
		return nil, err
	}
	d, err := svc.GetDevice(ctx, id)
	if err != nil {
		return nil, err
	}
	if t := d.Authentication.Type; t != "" && t != iothub.AuthSAS {
		return nil, fmt.Errorf("device %s authenticates with X.509 (%s): pass its --cert and --key", id, t)
	}
	return c.device(svc.DeviceConnectionString(d).String())
}

// printer prints rows to the command's standard output in --output's format.
func (c *cli) printer(cmd *cobra.Command, streaming bool) *printer {
	return newPrinter(cmd.OutOrStdout(), c.output, streaming)
}

// serviceCall is the RunE of a command that makes one service call and prints
// its one answer.
func (c *cli) serviceCall(call func(ctx context.Context, svc *hubclient.Client, args []string) (row, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		svc, err := c.service()
		if err != nil {
			return err
		}
		r, err := call(cmd.Context(), svc, args)
		if err != nil {
			return err
		}
		return c.printOne(cmd, r)
	}
}

// printOne prints a command's one answer.
func (c *cli) printOne(cmd *cobra.Command, r row) error {
	p := c.printer(cmd, false)
	if err := p.print(r); err != nil {
		return err
	}
	return p.flush()
}

// deviceFlags adds --device and --device-connection-string, one of them
// required, and --cert/--key for an X.509 device.
func (c *cli) deviceFlags(cmd *cobra.Command, id, conn *string) {
	cmd.Flags().StringVar(id, "device", "", "act as this device (its key is read from the registry)")
	cmd.Flags().StringVar(conn, "device-connection-string", "", "act as the device of this connection string")
	cmd.MarkFlagsMutuallyExclusive("device", "device-connection-string")
	cmd.MarkFlagsOneRequired("device", "device-connection-string")
	cmd.Flags().StringVar(&c.certFile, "cert", "", "act as an X.509 device: its PEM certificate (then its chain)")
	cmd.Flags().StringVar(&c.keyFile, "key", "", "the X.509 device's PEM private key")
	cmd.MarkFlagsRequiredTogether("cert", "key")
	_ = cmd.MarkFlagFilename("cert", "pem", "crt")
	_ = cmd.MarkFlagFilename("key", "pem", "key")
	_ = cmd.RegisterFlagCompletionFunc("device", c.completeDevice)
	_ = cmd.RegisterFlagCompletionFunc("device-connection-string", cobra.NoFileCompletions)
}

// completeDevice offers the hub's device ids for --device.
func (c *cli) completeDevice(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return c.deviceIDs(cmd, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeDeviceArg offers the hub's device ids for a command's first argument.
func (c *cli) completeDeviceArg(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return c.deviceIDs(cmd, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// deviceIDs lists the hub's device ids that start with prefix, each with its
// status; a hub that cannot be reached offers none.
func (c *cli) deviceIDs(cmd *cobra.Command, prefix string) []cobra.Completion {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	svc, err := c.service()
	if err != nil {
		return nil
	}
	devs, err := svc.ListDevices(ctx)
	if err != nil {
		return nil
	}
	var ids []cobra.Completion
	for _, d := range devs {
		if strings.HasPrefix(d.DeviceID, prefix) {
			ids = append(ids, cobra.CompletionWithDesc(d.DeviceID, d.Status))
		}
	}
	return ids
}
