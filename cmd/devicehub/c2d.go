package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/devicehub/devicehub/shared/hubclient"
)

const c2dUsage = `usage: devicehub c2d <command> [flags] ARGS   (flags before arguments)

  send [--ack none|positive|negative|full] [--message-id ID] [--correlation-id ID] [--user-id ID]
       [--content-type T] [--content-encoding E] [--expiry RFC3339 | --ttl DURATION] [--prop k=v]... DEVICE BODY|-
  purge DEVICE                          remove every pending message (answers totalMessagesPurged)
  status DEVICE MESSAGE-ID              state and outcome of a retained message
  deadletters [--top N] [--all] DEVICE  the device's dead-lettered messages
  requeue DEVICE MESSAGE-ID             enqueue a dead-lettered message again as a new one
  receive (--device ID | --device-connection-string CS) [--complete | --reject | --abandon] [--wait DURATION]
                                        act as the device: receive one message and settle it

Answers are printed as JSON, one value per line.
`

func runC2D(ctx context.Context, e *cliEnv, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.Stderr, c2dUsage)
		return flag.ErrHelp
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("c2d "+cmd, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() { fmt.Fprint(e.Stderr, c2dUsage) }
	out := json.NewEncoder(e.Stdout)
	switch cmd {
	case "send":
		m := hubclient.C2DMessage{Properties: props{}}
		fs.StringVar(&m.Ack, "ack", "none", "feedback wanted: none, positive, negative or full")
		fs.StringVar(&m.MessageID, "message-id", "", "message id (generated when empty)")
		fs.StringVar(&m.CorrelationID, "correlation-id", "", "correlation id")
		fs.StringVar(&m.UserID, "user-id", "", "user id")
		fs.StringVar(&m.ContentType, "content-type", "", "content type")
		fs.StringVar(&m.ContentEncoding, "content-encoding", "", "content encoding")
		expiry := fs.String("expiry", "", "absolute expiry, RFC 3339")
		ttl := fs.Duration("ttl", 0, "expiry relative to now (1m to 48h); default: the hub's")
		fs.Var(props(m.Properties), "prop", "application property name=value (repeatable)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() != 2 {
			return errors.New("c2d send: want DEVICE BODY (BODY - reads stdin)")
		}
		switch {
		case *expiry != "" && *ttl != 0:
			return errors.New("c2d send: pass --expiry or --ttl, not both")
		case *expiry != "":
			t, err := time.Parse(time.RFC3339Nano, *expiry)
			if err != nil {
				return fmt.Errorf("c2d send: --expiry: %w", err)
			}
			m.Expiry = t
		case *ttl != 0:
			m.Expiry = time.Now().Add(*ttl)
		}
		m.Body = []byte(fs.Arg(1))
		if fs.Arg(1) == "-" {
			b, err := io.ReadAll(e.Stdin)
			if err != nil {
				return err
			}
			m.Body = b
		}
		svc, err := e.Service()
		if err != nil {
			return err
		}
		sent, err := svc.SendC2D(ctx, fs.Arg(0), m)
		if err != nil {
			return err
		}
		return out.Encode(sent)
	case "purge", "status", "deadletters", "requeue":
		top := fs.Int("top", 100, "deadletters: page size")
		all := fs.Bool("all", false, "deadletters: every page")
		if err := fs.Parse(args); err != nil {
			return err
		}
		want := map[string]int{"purge": 1, "status": 2, "deadletters": 1, "requeue": 2}[cmd]
		if fs.NArg() != want {
			return fmt.Errorf("c2d %s: want %d argument(s); see devicehub c2d -h", cmd, want)
		}
		svc, err := e.Service()
		if err != nil {
			return err
		}
		switch cmd {
		case "purge":
			r, err := svc.PurgeC2D(ctx, fs.Arg(0))
			if err != nil {
				return err
			}
			return out.Encode(r)
		case "status":
			st, err := svc.C2DStatus(ctx, fs.Arg(0), fs.Arg(1))
			if err != nil {
				return err
			}
			return out.Encode(st)
		case "requeue":
			sent, err := svc.RequeueC2D(ctx, fs.Arg(0), fs.Arg(1))
			if err != nil {
				return err
			}
			return out.Encode(sent)
		}
		for cont := ""; ; {
			page, next, err := svc.C2DDeadLetters(ctx, fs.Arg(0), *top, cont)
			if err != nil {
				return err
			}
			for _, st := range page {
				if err := out.Encode(st); err != nil {
					return err
				}
			}
			if next == "" || !*all {
				return nil
			}
			cont = next
		}
	case "receive":
		device := fs.String("device", "", "device id (its key is read from the registry)")
		conn := fs.String("device-connection-string", "", "device connection string")
		complete := fs.Bool("complete", false, "complete the message")
		reject := fs.Bool("reject", false, "reject (dead-letter) the message")
		abandon := fs.Bool("abandon", false, "abandon the message")
		wait := fs.Duration("wait", 0, "poll this long for a message")
		if err := fs.Parse(args); err != nil {
			return err
		}
		c, err := deviceClient(ctx, e, *device, *conn)
		if err != nil {
			return err
		}
		deadline := time.Now().Add(*wait)
		for {
			d, err := c.ReceiveC2D(ctx)
			if err != nil {
				return err
			}
			if d == nil {
				if time.Now().Before(deadline) {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(500 * time.Millisecond):
					}
					continue
				}
				return errors.New("c2d receive: no message is due")
			}
			switch {
			case *complete:
				err = c.CompleteC2D(ctx, d.LockToken)
			case *reject:
				err = c.RejectC2D(ctx, d.LockToken)
			case *abandon:
				err = c.AbandonC2D(ctx, d.LockToken)
			}
			if err != nil {
				return err
			}
			return out.Encode(struct {
				*hubclient.C2DDelivery
				Body string
			}{d, string(d.Body)})
		}
	default:
		fmt.Fprint(e.Stderr, c2dUsage)
		return fmt.Errorf("unknown c2d command %q", cmd)
	}
}

const feedbackUsage = `usage: devicehub feedback [--follow] [--interval 1s] [--abandon]

Reads delivery feedback batches, prints each record as a JSON line and
completes the batch. Without --follow it stops when the queue is empty.
`

func runFeedback(ctx context.Context, e *cliEnv, args []string) error {
	fs := flag.NewFlagSet("feedback", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() { fmt.Fprint(e.Stderr, feedbackUsage) }
	follow := fs.Bool("follow", false, "keep polling")
	interval := fs.Duration("interval", time.Second, "poll interval when the queue is empty")
	abandon := fs.Bool("abandon", false, "print the records but leave them in the queue")
	if err := fs.Parse(args); err != nil {
		return err
	}
	svc, err := e.Service()
	if err != nil {
		return err
	}
	out := json.NewEncoder(e.Stdout)
	for {
		b, err := svc.ReceiveFeedback(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			if !*follow {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(*interval):
			}
			continue
		}
		for _, r := range b.Records {
			if err := out.Encode(r); err != nil {
				return err
			}
		}
		if *abandon {
			return svc.AbandonFeedback(ctx, b.LockToken)
		}
		if err := svc.CompleteFeedback(ctx, b.LockToken); err != nil {
			return err
		}
	}
}
