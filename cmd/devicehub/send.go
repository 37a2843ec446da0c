package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/devicehub/devicehub/shared/hubclient"
)

// props collects repeated --prop name=value flags; a value may hold '=' and ','.
type props map[string]string

func (p props) String() string {
	var kv []string
	for k, v := range p {
		kv = append(kv, k+"="+v)
	}
	slices.Sort(kv)
	return "[" + strings.Join(kv, ",") + "]"
}

func (p props) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return errors.New("want name=value")
	}
	p[k] = v
	return nil
}

func (p props) Type() string { return "name=value" }

// sentRow answers send.
type sentRow struct {
	DeviceID string `json:"deviceId"`
	Messages int    `json:"messages"`
	Batch    bool   `json:"batch"`
}

func (sentRow) header() []string { return []string{"DEVICE ID", "MESSAGES", "BATCH"} }
func (s sentRow) cells() []string {
	return []string{s.DeviceID, fmt.Sprint(s.Messages), fmt.Sprint(s.Batch)}
}

func (c *cli) sendCmd() *cobra.Command {
	var device, conn, msgID, corrID, ctype, cenc string
	var batch bool
	p := props{}
	cmd := &cobra.Command{
		Use:   "send (--device ID | --device-connection-string CS) BODY...",
		Short: "Send device-to-cloud messages as a device",
		Long: `Sends each BODY as one message, as the device would over HTTPS, or all of them
as one IoT Hub batch with --batch. A BODY of "-" is read from standard input.
With several bodies, --message-id ID numbers them ID-0, ID-1, ...`,
		Example: `  devicehub send --device thermostat-1 '{"temperature": 21.5}' --prop alert=false
  devicehub send --device thermostat-1 --batch one two three
  devicehub send --device-connection-string "$DEVICE" - < reading.bin
  devicehub send --device thermostat-1 -- -5                # a body that starts with '-'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, bodies []string) error {
			msgs := make([]hubclient.Message, len(bodies))
			for i, b := range bodies {
				body := []byte(b)
				if b == "-" {
					var err error
					if body, err = io.ReadAll(cmd.InOrStdin()); err != nil {
						return fmt.Errorf("read standard input: %w", err)
					}
				}
				msgs[i] = hubclient.Message{Body: body, CorrelationID: corrID, ContentType: ctype, ContentEncoding: cenc, Properties: p}
				if msgID != "" {
					msgs[i].MessageID = msgID
					if len(bodies) > 1 {
						msgs[i].MessageID = fmt.Sprintf("%s-%d", msgID, i)
					}
				}
			}
			dev, err := c.deviceClient(cmd.Context(), device, conn)
			if err != nil {
				return err
			}
			if batch {
				err = dev.SendEventBatch(cmd.Context(), msgs)
			} else {
				for i, m := range msgs {
					if err = dev.SendEvent(cmd.Context(), m); err != nil {
						if len(msgs) > 1 {
							err = fmt.Errorf("message %d of %d (the ones before were sent): %w", i+1, len(msgs), err)
						}
						break
					}
				}
			}
			if err != nil {
				return err
			}
			return c.printOne(cmd, sentRow{DeviceID: dev.Conn.DeviceID, Messages: len(msgs), Batch: batch})
		},
	}
	f := cmd.Flags()
	c.deviceFlags(cmd, &device, &conn)
	f.BoolVar(&batch, "batch", false, "send all bodies as one batch")
	f.Var(p, "prop", "application property name=value (repeatable)")
	f.StringVar(&msgID, "message-id", "", "message id")
	f.StringVar(&corrID, "correlation-id", "", "correlation id")
	f.StringVar(&ctype, "content-type", "", "content type, e.g. application/json")
	f.StringVar(&cenc, "content-encoding", "", "content encoding, e.g. utf-8")
	return cmd
}
