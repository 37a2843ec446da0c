package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"

	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// tailLine is how tail prints a message: one JSON object per line.
type tailLine struct {
	PartitionKey   string                     `json:"partitionKey"`
	SequenceNumber string                     `json:"sequenceNumber"`
	System         telemetry.SystemProperties `json:"systemProperties"`
	Properties     map[string]string          `json:"properties"`
	BodyText       string                     `json:"bodyText,omitempty"`
	BodyBase64     []byte                     `json:"bodyBase64,omitempty"`
}

var errEnough = errors.New("enough")

func runTail(ctx context.Context, e *cliEnv, args []string) error {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fromStart := fs.Bool("from-start", false, "read from the oldest record instead of new ones")
	stream := fs.String("stream", "", "stream name (default: the local hub's, or "+schema.EnvStreamName+")")
	count := fs.Int("count", 0, "stop after N messages (0: follow until Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t := &telemetry.Tailer{Stream: *stream, FromStart: *fromStart}
	if st, err := e.localState(); err == nil && e.url == "" && e.getenv(schema.EnvHubURL) == "" {
		// A local hub: read its emulator, never an AWS account.
		t.Client = awsenv.Kinesis(awsenv.Static(st.Region), st.KinesisEndpoint)
		if t.Stream == "" {
			t.Stream = st.StreamName
		}
	} else {
		cfg, err := awsenv.Load(ctx)
		if err != nil {
			return err
		}
		t.Client = awsenv.Kinesis(cfg, "")
		if t.Stream == "" {
			t.Stream = e.getenv(schema.EnvStreamName)
		}
	}
	if t.Stream == "" {
		return errors.New("tail: no stream: pass --stream or set " + schema.EnvStreamName)
	}
	n := 0
	err := t.Run(ctx, func(m telemetry.Message) error {
		line := tailLine{PartitionKey: m.PartitionKey, SequenceNumber: m.SequenceNumber, System: m.SystemProperties, Properties: m.Properties}
		isJSON := telemetry.BodyIsJSON(m.Body)
		switch {
		case isJSON:
		case isText(m.Body):
			line.BodyText = string(m.Body)
		default:
			line.BodyBase64 = m.Body
		}
		out, err := json.Marshal(line)
		if err != nil {
			return err
		}
		if isJSON {
			// Splice the body in as it is: an encoder would re-format it.
			out = append(append(append(out[:len(out)-1], `,"body":`...), m.Body...), '}')
		}
		if _, err := e.Stdout.Write(append(out, '\n')); err != nil {
			return err
		}
		n++
		if *count > 0 && n >= *count {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}

func isText(b []byte) bool {
	for _, r := range string(b) {
		if r == 0xFFFD || (r < 0x20 && r != '\n' && r != '\r' && r != '\t') {
			return false
		}
	}
	return true
}
