package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/devicehub/devicehub/shared/hubclient"
	"github.com/devicehub/devicehub/shared/iothub"
)

// c2dSentRow answers send and requeue.
type c2dSentRow iothub.C2DSent

func (c2dSentRow) header() []string {
	return []string{"DEVICE ID", "MESSAGE ID", "SEQUENCE", "ENQUEUED", "EXPIRES"}
}
func (s c2dSentRow) cells() []string {
	return []string{s.DeviceID, s.MessageID, strconv.FormatInt(s.SequenceNumber, 10), timeCell(s.EnqueuedTime), timeCell(s.Expiry)}
}

// purgeRow answers purge.
type purgeRow iothub.PurgeResult

func (purgeRow) header() []string { return []string{"DEVICE ID", "PURGED"} }
func (r purgeRow) cells() []string {
	return []string{r.DeviceID, strconv.Itoa(r.TotalMessagesPurged)}
}

// c2dStatusRow is one retained message, for status and deadletters.
type c2dStatusRow iothub.C2DStatus

func (c2dStatusRow) header() []string {
	return []string{"MESSAGE ID", "SEQUENCE", "STATE", "REASON", "OUTCOME", "ACK", "DELIVERIES", "ENQUEUED", "EXPIRES"}
}
func (s c2dStatusRow) cells() []string {
	return []string{s.MessageID, strconv.FormatInt(s.SequenceNumber, 10), s.State, s.Reason, string(s.Outcome), string(s.Ack),
		strconv.Itoa(s.DeliveryCount), timeCell(s.EnqueuedTime), timeCell(s.Expiry)}
}

// receivedRow is a message the device received, and what the CLI did with
// it. Its body prints as tail's do, so the delivery's own is left out.
type receivedRow struct {
	hubclient.C2DDelivery
	Settlement string `json:"settlement"` // completed, rejected, abandoned, or locked
	messageBody
}

func newReceivedRow(d *hubclient.C2DDelivery) receivedRow {
	r := receivedRow{C2DDelivery: *d, messageBody: newMessageBody(d.Body)}
	r.C2DDelivery.Body = nil // omitted: messageBody prints it
	return r
}

func (receivedRow) header() []string {
	return []string{"MESSAGE ID", "SEQUENCE", "DELIVERIES", "ACK", "SETTLEMENT", "PROPERTIES", "BODY"}
}
func (r receivedRow) cells() []string {
	return []string{r.MessageID, strconv.FormatInt(r.SequenceNumber, 10), strconv.Itoa(r.DeliveryCount), r.Ack,
		r.Settlement, propsCell(r.Properties), r.cell()}
}
func (r receivedRow) jsonLine() ([]byte, error) { return withBody(r, r.messageBody) }

var ackValues = []string{string(iothub.AckNone), string(iothub.AckPositive), string(iothub.AckNegative), string(iothub.AckFull)}

func (c *cli) c2dCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "c2d",
		Short: "Cloud-to-device messaging: send, inspect, and receive as the device",
		Long: `Sends cloud-to-device messages, looks up their state, purges, lists and requeues
dead letters, and acts as the device to receive and settle one. See docs/C2D.md.`,
		Example: `  devicehub c2d send --ack full --message-id m1 --prop color=red dev1 'hello'
  devicehub c2d receive --device dev1 --complete
  devicehub c2d status dev1 m1 -o table`,
		// Runnable, so that an unknown subcommand is an error, not help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(c.c2dSendCmd(), c.c2dPurgeCmd(), c.c2dStatusCmd(), c.c2dDeadLettersCmd(), c.c2dRequeueCmd(), c.c2dReceiveCmd())
	return cmd
}

func (c *cli) c2dSendCmd() *cobra.Command {
	m := hubclient.C2DMessage{Properties: props{}}
	var expiry string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "send DEVICE BODY",
		Short: "Send a message to a device",
		Long: `Queues BODY for DEVICE ("-" reads it from standard input) and prints what the
hub recorded: message id, sequence number, enqueued and expiry times.`,
		Example: `  devicehub c2d send dev1 'hello'
  devicehub c2d send dev1 'reboot' --ack full --message-id m1 --prop command=reboot
  devicehub c2d send dev1 - --ttl 2m < firmware-notice.json`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: c.completeDeviceArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case expiry != "":
				t, err := time.Parse(time.RFC3339Nano, expiry)
				if err != nil {
					return fmt.Errorf("--expiry: %w", err)
				}
				m.Expiry = t
			case ttl != 0:
				m.Expiry = c.Now().Add(ttl)
			}
			m.Body = []byte(args[1])
			if args[1] == "-" {
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return fmt.Errorf("read standard input: %w", err)
				}
				m.Body = b
			}
			svc, err := c.service()
			if err != nil {
				return err
			}
			sent, err := svc.SendC2D(cmd.Context(), args[0], m)
			if err != nil {
				return err
			}
			return c.printOne(cmd, c2dSentRow(sent))
		},
	}
	f := cmd.Flags()
	f.StringVar(&m.Ack, "ack", string(iothub.AckNone), "feedback wanted: none, positive, negative or full")
	f.StringVar(&m.MessageID, "message-id", "", "message id (generated when empty)")
	f.StringVar(&m.CorrelationID, "correlation-id", "", "correlation id")
	f.StringVar(&m.UserID, "user-id", "", "user id")
	f.StringVar(&m.ContentType, "content-type", "", "content type")
	f.StringVar(&m.ContentEncoding, "content-encoding", "", "content encoding")
	f.StringVar(&expiry, "expiry", "", "absolute expiry, RFC 3339")
	f.DurationVar(&ttl, "ttl", 0, "expiry relative to now (1m to 48h; default: the hub's)")
	f.Var(props(m.Properties), "prop", "application property name=value (repeatable)")
	cmd.MarkFlagsMutuallyExclusive("expiry", "ttl")
	_ = cmd.RegisterFlagCompletionFunc("ack", cobra.FixedCompletions(ackValues, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (c *cli) c2dPurgeCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "purge DEVICE",
		Short:             "Remove every pending message of a device",
		Example:           `  devicehub c2d purge dev1`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeDeviceArg,
		RunE: c.serviceCall(func(ctx context.Context, svc *hubclient.Client, args []string) (row, error) {
			r, err := svc.PurgeC2D(ctx, args[0])
			return purgeRow(r), err
		}),
	}
}

func (c *cli) c2dStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status DEVICE MESSAGE-ID",
		Short: "Print the state and outcome of a retained message",
		Long: `Prints each retained message of DEVICE with MESSAGE-ID (one per line in JSON):
its state (Enqueued, Invisible, Completed, DeadLettered, Purged, Requeued),
why it was dead-lettered, its feedback outcome, and its times.`,
		Example:           `  devicehub c2d status dev1 m1 -o table`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: c.completeDeviceArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := c.service()
			if err != nil {
				return err
			}
			sts, err := svc.C2DStatus(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			p := c.printer(cmd, false)
			for _, st := range sts {
				if err := p.print(c2dStatusRow(st)); err != nil {
					return err
				}
			}
			return p.flush()
		},
	}
}

func (c *cli) c2dDeadLettersCmd() *cobra.Command {
	var top int
	var all bool
	cmd := &cobra.Command{
		Use:   "deadletters DEVICE",
		Short: "List a device's dead-lettered messages",
		Example: `  devicehub c2d deadletters dev1
  devicehub c2d deadletters dev1 --all -o table`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeDeviceArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := c.service()
			if err != nil {
				return err
			}
			p := c.printer(cmd, false)
			for cont := ""; ; {
				page, next, err := svc.C2DDeadLetters(cmd.Context(), args[0], top, cont)
				if err != nil {
					return err
				}
				for _, st := range page {
					if err := p.print(c2dStatusRow(st)); err != nil {
						return err
					}
				}
				if next == "" || !all {
					return p.flush()
				}
				cont = next
			}
		},
	}
	cmd.Flags().IntVar(&top, "top", 100, "page size")
	cmd.Flags().BoolVar(&all, "all", false, "every page, not only the first")
	return cmd
}

func (c *cli) c2dRequeueCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "requeue DEVICE MESSAGE-ID",
		Short:             "Enqueue a dead-lettered message again, as a new one",
		Example:           `  devicehub c2d requeue dev1 m2`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: c.completeDeviceArg,
		RunE: c.serviceCall(func(ctx context.Context, svc *hubclient.Client, args []string) (row, error) {
			sent, err := svc.RequeueC2D(ctx, args[0], args[1])
			return c2dSentRow(sent), err
		}),
	}
}

func (c *cli) c2dReceiveCmd() *cobra.Command {
	var device, conn string
	var complete, reject, abandon bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "receive (--device ID | --device-connection-string CS)",
		Short: "Act as the device: receive one message and settle it",
		Long: `Receives the device's next due message and prints it, then completes, rejects
(dead-letters) or abandons it as asked; without one of those its lock lapses
and the message comes back. With --wait it polls that long for a message.`,
		Example: `  devicehub c2d receive --device dev1 --complete
  devicehub c2d receive --device dev1 --wait 30s --reject -o table`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dev, err := c.deviceClient(ctx, device, conn)
			if err != nil {
				return err
			}
			deadline := c.Now().Add(wait)
			for {
				d, err := dev.ReceiveC2D(ctx)
				if err != nil {
					return err
				}
				if d == nil {
					if !c.Now().Before(deadline) {
						return errors.New("no message is due")
					}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(500 * time.Millisecond):
					}
					continue
				}
				r := newReceivedRow(d)
				switch {
				case complete:
					r.Settlement, err = "completed", dev.CompleteC2D(ctx, d.LockToken)
				case reject:
					r.Settlement, err = "rejected", dev.RejectC2D(ctx, d.LockToken)
				case abandon:
					r.Settlement, err = "abandoned", dev.AbandonC2D(ctx, d.LockToken)
				default:
					r.Settlement = "locked"
				}
				if err != nil {
					return err
				}
				return c.printOne(cmd, r)
			}
		},
	}
	f := cmd.Flags()
	c.deviceFlags(cmd, &device, &conn)
	f.BoolVar(&complete, "complete", false, "complete the message")
	f.BoolVar(&reject, "reject", false, "reject (dead-letter) the message")
	f.BoolVar(&abandon, "abandon", false, "abandon the message")
	f.DurationVar(&wait, "wait", 0, "poll this long for a message")
	cmd.MarkFlagsMutuallyExclusive("complete", "reject", "abandon")
	return cmd
}
