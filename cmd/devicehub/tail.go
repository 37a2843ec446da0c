package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// tailRow is how tail prints a message.
type tailRow struct {
	PartitionKey   string                     `json:"partitionKey"`
	SequenceNumber string                     `json:"sequenceNumber"`
	System         telemetry.SystemProperties `json:"systemProperties"`
	Properties     map[string]string          `json:"properties"`
	messageBody
}

func (tailRow) header() []string {
	return []string{"ENQUEUED", "DEVICE ID", "MESSAGE ID", "PROPERTIES", "BODY"}
}

func (m tailRow) cells() []string {
	return []string{timeCell(m.System.EnqueuedTime), m.System.DeviceID, m.System.MessageID, propsCell(m.Properties), m.cell()}
}

func (m tailRow) jsonLine() ([]byte, error) { return withBody(m, m.messageBody) }

var errEnough = errors.New("enough")

func (c *cli) tailCmd() *cobra.Command {
	var fromStart bool
	var stream string
	var count int
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Follow every shard of the telemetry stream and print decoded messages",
		Long: `Reads every shard of the telemetry stream and prints each message: its
system properties as the hub stamped them, its application properties, and
its body (in JSON: "body" when the body is JSON, as sent; "bodyText" for
text; "bodyBase64" otherwise). Against a local hub it reads the hub's
emulator; with --url or DEVICEHUB_URL it uses your AWS credentials and
--stream (or DEVICEHUB_STREAM_NAME).`,
		Example: `  devicehub tail
  devicehub tail --from-start --count 10 -o table
  devicehub --url "$URL" tail --stream devicehub-telemetry | jq .body`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			t := &telemetry.Tailer{Stream: stream, FromStart: fromStart}
			if st, err := c.localState(); err == nil && !c.remote() {
				// A local hub: read its emulator, never an AWS account.
				t.Client = awsenv.Kinesis(awsenv.Static(st.Region), st.KinesisEndpoint)
				if t.Stream == "" {
					t.Stream = st.StreamName
				}
			} else {
				cfg, err := awsenv.Load(ctx, 0)
				if err != nil {
					return err
				}
				t.Client = awsenv.Kinesis(cfg, "")
				if t.Stream == "" {
					t.Stream = c.Getenv(schema.EnvStreamName)
				}
			}
			if t.Stream == "" {
				return errors.New("no stream: pass --stream or set " + schema.EnvStreamName)
			}
			p := c.printer(cmd, true)
			n := 0
			err := t.Run(ctx, func(m telemetry.Message) error {
				r := tailRow{PartitionKey: m.PartitionKey, SequenceNumber: m.SequenceNumber, System: m.SystemProperties,
					Properties: m.Properties, messageBody: newMessageBody(m.Body)}
				if err := p.print(r); err != nil {
					return err
				}
				if n++; count > 0 && n >= count {
					return errEnough
				}
				return nil
			})
			if errors.Is(err, errEnough) || ctx.Err() != nil {
				return nil // --count reached, or Ctrl-C: how a tail ends
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&fromStart, "from-start", false, "read from the oldest record instead of new ones")
	f.StringVar(&stream, "stream", "", "stream name (default: the local hub's, or $"+schema.EnvStreamName+")")
	f.IntVar(&count, "count", 0, "stop after N messages (0: follow until Ctrl-C)")
	return cmd
}
