package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/devicehub/devicehub/shared/hubclient"
)

// props collects repeated --prop k=v flags.
type props map[string]string

func (p props) String() string { return fmt.Sprint(map[string]string(p)) }
func (p props) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return errors.New("want name=value")
	}
	p[k] = v
	return nil
}

// deviceClient resolves --device (looked up with the owner policy) or
// --device-connection-string into a client acting as that device.
func deviceClient(ctx context.Context, e *cliEnv, id, conn string) (*hubclient.Client, error) {
	if conn != "" {
		return e.Device(conn)
	}
	if id == "" {
		return nil, errors.New("pass --device ID or --device-connection-string CS")
	}
	svc, err := e.Service()
	if err != nil {
		return nil, err
	}
	d, err := svc.GetDevice(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.Device(svc.DeviceConnectionString(d).String())
}

func runSend(ctx context.Context, e *cliEnv, args []string) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	device := fs.String("device", "", "device id (its key is read from the registry)")
	conn := fs.String("device-connection-string", "", "device connection string")
	batch := fs.Bool("batch", false, "send all bodies as one batch")
	p := props{}
	fs.Var(p, "prop", "application property name=value (repeatable)")
	msgID := fs.String("message-id", "", "message id")
	corrID := fs.String("correlation-id", "", "correlation id")
	ctype := fs.String("content-type", "", "content type, e.g. application/json")
	cenc := fs.String("content-encoding", "", "content encoding, e.g. utf-8")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bodies := fs.Args()
	if len(bodies) == 0 {
		return errors.New("send: want at least one BODY (or - for stdin)")
	}
	c, err := deviceClient(ctx, e, *device, *conn)
	if err != nil {
		return err
	}
	msgs := make([]hubclient.Message, len(bodies))
	for i, b := range bodies {
		body := []byte(b)
		if b == "-" {
			if body, err = io.ReadAll(e.Stdin); err != nil {
				return err
			}
		}
		msgs[i] = hubclient.Message{Body: body, CorrelationID: *corrID, ContentType: *ctype, ContentEncoding: *cenc, Properties: p}
		if *msgID != "" {
			msgs[i].MessageID = *msgID
			if len(bodies) > 1 {
				msgs[i].MessageID = fmt.Sprintf("%s-%d", *msgID, i)
			}
		}
	}
	if *batch {
		if err := c.SendEventBatch(ctx, msgs); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "sent a batch of %d message(s)\n", len(msgs))
		return nil
	}
	for _, m := range msgs {
		if err := c.SendEvent(ctx, m); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.Stdout, "sent %d message(s)\n", len(msgs))
	return nil
}
