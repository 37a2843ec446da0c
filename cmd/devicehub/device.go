package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/hubclient"
	"github.com/devicehub/devicehub/shared/iothub"
)

// deviceRow prints a registry device: its IoT Hub JSON, keys included.
type deviceRow iothub.Device

func (deviceRow) header() []string { return []string{"DEVICE ID", "STATUS", "GENERATION ID", "ETAG"} }
func (d deviceRow) cells() []string {
	return []string{d.DeviceID, d.Status, d.GenerationID, d.ETag}
}

// createdRow prints a new device with the connection string to give it.
type createdRow struct {
	iothub.Device
	ConnectionString string `json:"connectionString"`
}

func (createdRow) header() []string { return []string{"DEVICE ID", "STATUS", "CONNECTION STRING"} }
func (d createdRow) cells() []string {
	return []string{d.DeviceID, d.Status, d.ConnectionString}
}

func (c *cli) deviceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Manage the device registry",
		Example: `  devicehub device create thermostat-1 --disabled
  devicehub device list --output table
  devicehub device enable thermostat-1
  devicehub device tags set thermostat-1 '{"site":"b43"}'`,
		// Runnable, so that an unknown subcommand is an error, not help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(c.deviceCreateCmd(), c.deviceGetCmd(), c.deviceListCmd(), c.deviceDeleteCmd(),
		c.deviceStatusCmd("enable", registry.StatusEnabled), c.deviceStatusCmd("disable", registry.StatusDisabled), c.deviceTagsCmd())
	return cmd
}

func (c *cli) deviceCreateCmd() *cobra.Command {
	var primary, secondary, thumb, thumb2 string
	var disabled, caSigned bool
	cmd := &cobra.Command{
		Use:   "create ID",
		Short: "Register a device and print its connection string",
		Long: `Registers a device. By default it authenticates with SAS: the hub generates its
keys unless --primary-key/--secondary-key give them. --thumbprint registers an
X.509 selfSigned device by its certificate's SHA-1 or SHA-256 thumbprint (and
--secondary-thumbprint a second one, for rotation); --ca an X.509 device whose
certificate chains to a verified CA ('devicehub ca') with the device id as its
subject CN. Prints the device with the connection string to give it
("connectionString"; x509=true for X.509 devices).`,
		Example: `  devicehub device create thermostat-1
  devicehub device create thermostat-1 --disabled -o table
  devicehub device create thermostat-1 -o json | jq -r .connectionString
  devicehub device create cam-1 --thumbprint "$(openssl x509 -in cam-1.pem -noout -fingerprint -sha256 | cut -d= -f2)"
  devicehub device create cam-2 --ca`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := c.service()
			if err != nil {
				return err
			}
			in := iothub.Device{}
			if disabled {
				in.Status = registry.StatusDisabled
			}
			switch {
			case caSigned:
				in.Authentication.Type = iothub.AuthCertificateAuthority
			case thumb != "" || thumb2 != "":
				in.Authentication.Type = iothub.AuthSelfSigned
				in.Authentication.X509Thumbprint = &iothub.X509Thumbprint{PrimaryThumbprint: thumb, SecondaryThumbprint: thumb2}
			case primary != "" || secondary != "":
				in.Authentication.SymmetricKey = &iothub.SymmetricKey{PrimaryKey: primary, SecondaryKey: secondary}
			}
			d, err := svc.CreateDevice(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			return c.printOne(cmd, createdRow{Device: d, ConnectionString: connectionString(svc, d)})
		},
	}
	cmd.Flags().StringVar(&primary, "primary-key", "", "base64 primary key (generated when empty)")
	cmd.Flags().StringVar(&secondary, "secondary-key", "", "base64 secondary key (generated when empty)")
	cmd.Flags().BoolVar(&disabled, "disabled", false, "create the device disabled")
	cmd.Flags().StringVar(&thumb, "thumbprint", "", "X.509 selfSigned: the certificate's hex SHA-1 or SHA-256 thumbprint")
	cmd.Flags().StringVar(&thumb2, "secondary-thumbprint", "", "X.509 selfSigned: a second certificate's thumbprint")
	cmd.Flags().BoolVar(&caSigned, "ca", false, "X.509 certificateAuthority: a certificate from a verified CA, subject CN = ID")
	cmd.MarkFlagsMutuallyExclusive("ca", "thumbprint")
	cmd.MarkFlagsMutuallyExclusive("ca", "secondary-thumbprint")
	for _, k := range []string{"primary-key", "secondary-key"} {
		for _, x := range []string{"ca", "thumbprint", "secondary-thumbprint"} {
			cmd.MarkFlagsMutuallyExclusive(k, x)
		}
	}
	return cmd
}

func (c *cli) deviceGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "get ID",
		Short:             "Print a device, keys included",
		Example:           `  devicehub device get thermostat-1 | jq -r .authentication.symmetricKey.primaryKey`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeDeviceArg,
		RunE: c.serviceCall(func(ctx context.Context, svc *hubclient.Client, args []string) (row, error) {
			d, err := svc.GetDevice(ctx, args[0])
			return deviceRow(d), err
		}),
	}
}

func (c *cli) deviceListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Print every device, one per line",
		Example: `  devicehub device list -o table
  devicehub device list | jq -r 'select(.status == "disabled") | .deviceId'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, err := c.service()
			if err != nil {
				return err
			}
			devs, err := svc.ListDevices(cmd.Context())
			if err != nil {
				return err
			}
			p := c.printer(cmd, false)
			for _, d := range devs {
				if err := p.print(deviceRow(d)); err != nil {
					return err
				}
			}
			return p.flush()
		},
	}
}

func (c *cli) deviceDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "delete ID",
		Short:             "Remove a device",
		Example:           `  devicehub device delete thermostat-1`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeDeviceArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := c.service()
			if err != nil {
				return err
			}
			return svc.DeleteDevice(cmd.Context(), args[0], "")
		},
	}
}

// deviceStatusCmd is enable or disable: it sets the device's status and
// prints the device.
func (c *cli) deviceStatusCmd(verb, status string) *cobra.Command {
	return &cobra.Command{
		Use:               verb + " ID",
		Short:             "Set a device's status to " + status,
		Example:           "  devicehub device " + verb + " thermostat-1",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeDeviceArg,
		RunE: c.serviceCall(func(ctx context.Context, svc *hubclient.Client, args []string) (row, error) {
			d, err := svc.UpdateDevice(ctx, args[0], iothub.Device{Status: status}, "")
			return deviceRow(d), err
		}),
	}
}
