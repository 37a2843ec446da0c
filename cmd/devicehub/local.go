package main

import (
	"github.com/spf13/cobra"

	"github.com/devicehub/devicehub/internal/app"
	"github.com/devicehub/devicehub/internal/emulator"
	"github.com/devicehub/devicehub/internal/localhub"
)

func (c *cli) localCmd() *cobra.Command {
	var o localhub.Options
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run the whole hub on this machine, emulators included",
		Long: `Installs and starts the emulators of Kinesis and DynamoDB on loopback, creates
the stream and tables, serves the hub's API on 127.0.0.1, and writes the state
file the other commands read. Ctrl-C stops everything it started. This is what
'make run' runs.`,
		Example: `  devicehub local
  devicehub local --port 9000
  devicehub local --port 0 --state /tmp/hub.json   # a free port; scripts read the URL from the state file
  devicehub local --tls                             # HTTPS, for X.509 devices (docs/X509.md)
  devicehub local --routes infra/routes.local.json   # message routing (docs/ROUTING.md)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := emulator.FindRoot(c.getwd())
			if err != nil {
				return err
			}
			o.Root, o.StateFile, o.Getenv = root, c.statePath(), c.Getenv
			o.Out, o.Log = cmd.OutOrStdout(), app.NewLogger(cmd.ErrOrStderr(), c.Getenv)
			return localhub.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Port, "port", 8080, "hub port on 127.0.0.1 (0 picks a free one)")
	f.StringVar(&o.HostName, "host", "localhost", "host name devices put in connection strings")
	f.IntVar(&o.KinesisPort, "kinesis-port", 0, "Kinesis emulator port (0 picks a free one)")
	f.IntVar(&o.DynamoDBPort, "dynamodb-port", 0, "DynamoDB emulator port (0 picks a free one)")
	f.StringVar(&o.Routes, "routes", "", "routing definition file (docs/ROUTING.md): creates its endpoints on the emulators and runs the router on the telemetry stream")
	f.BoolVar(&o.TLS, "tls", false, "serve HTTPS with a certificate issued at start (its CA is written next to the state file) and accept X.509 device certificates")
	return cmd
}
