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
  devicehub device enable thermostat-1`,
		// Runnable, so that an unknown subcommand is an error, not help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(c.deviceCreateCmd(), c.deviceGetCmd(), c.deviceListCmd(), c.deviceDeleteCmd(),
		c.deviceStatusCmd("enable", registry.StatusEnabled), c.deviceStatusCmd("disable", registry.StatusDisabled))
	return cmd
}

func (c *cli) deviceCreateCmd() *cobra.Command {
	var primary, secondary string
	var disabled bool
	cmd := &cobra.Command{
		Use:   "create ID",
		Short: "Register a device and print its connection string",
		Long: `Registers a device with SAS authentication. The hub generates its keys unless
--primary-key/--secondary-key give them. Prints the device with the connection
string to give it ("connectionString").`,
		Example: `  devicehub device create thermostat-1
  devicehub device create thermostat-1 --disabled -o table
  devicehub device create thermostat-1 -o json | jq -r .connectionString`,
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
			if primary != "" || secondary != "" {
				in.Authentication.SymmetricKey = &iothub.SymmetricKey{PrimaryKey: primary, SecondaryKey: secondary}
			}
			d, err := svc.CreateDevice(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			return c.printOne(cmd, createdRow{Device: d, ConnectionString: svc.DeviceConnectionString(d).String()})
		},
	}
	cmd.Flags().StringVar(&primary, "primary-key", "", "base64 primary key (generated when empty)")
	cmd.Flags().StringVar(&secondary, "secondary-key", "", "base64 secondary key (generated when empty)")
	cmd.Flags().BoolVar(&disabled, "disabled", false, "create the device disabled")
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
