package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
)

func runDevice(ctx context.Context, e *cliEnv, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("device: want create|get|list|delete|enable|disable")
	}
	c, err := e.Service()
	if err != nil {
		return err
	}
	sub, args := args[0], args[1:]
	if sub == "list" {
		devs, err := c.ListDevices(ctx)
		if err != nil {
			return err
		}
		for _, d := range devs {
			fmt.Fprintf(e.Stdout, "%s\t%s\n", d.DeviceID, d.Status)
		}
		return nil
	}
	fs := flag.NewFlagSet("device "+sub, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	primary := fs.String("primary-key", "", "base64 primary key (generated when empty)")
	secondary := fs.String("secondary-key", "", "base64 secondary key (generated when empty)")
	disabled := fs.Bool("disabled", false, "create the device disabled")
	if len(args) == 0 {
		return fmt.Errorf("device %s: want a device id", sub)
	}
	id := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch sub {
	case "create":
		in := iothub.Device{}
		if *disabled {
			in.Status = registry.StatusDisabled
		}
		if *primary != "" || *secondary != "" {
			in.Authentication.SymmetricKey = &iothub.SymmetricKey{PrimaryKey: *primary, SecondaryKey: *secondary}
		}
		d, err := c.CreateDevice(ctx, id, in)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.Stdout, c.DeviceConnectionString(d).String())
		return nil
	case "get":
		d, err := c.GetDevice(ctx, id)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	case "delete":
		return c.DeleteDevice(ctx, id, "")
	case "enable", "disable":
		status := registry.StatusEnabled
		if sub == "disable" {
			status = registry.StatusDisabled
		}
		d, err := c.UpdateDevice(ctx, id, iothub.Device{Status: status}, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "%s\t%s\n", d.DeviceID, d.Status)
		return nil
	default:
		return fmt.Errorf("device: unknown subcommand %q", sub)
	}
}
