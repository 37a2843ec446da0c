package main

import (
	"context"
	"flag"
	"os"

	"github.com/devicehub/devicehub/internal/app"
	"github.com/devicehub/devicehub/internal/emulator"
	"github.com/devicehub/devicehub/internal/localhub"
)

func runLocal(ctx context.Context, e *cliEnv, args []string) error {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	port := fs.Int("port", 8080, "hub port on 127.0.0.1 (0 picks a free one)")
	host := fs.String("host", "localhost", "host name devices put in connection strings")
	kport := fs.Int("kinesis-port", 0, "Kinesis emulator port (0 picks a free one)")
	dport := fs.Int("dynamodb-port", 0, "DynamoDB emulator port (0 picks a free one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	wd, _ := os.Getwd()
	root, err := emulator.FindRoot(wd)
	if err != nil {
		return err
	}
	return localhub.Run(ctx, localhub.Options{
		Root: root, Port: *port, HostName: *host, StateFile: e.stateFile,
		KinesisPort: *kport, DynamoDBPort: *dport,
		Getenv: e.getenv, Out: e.Stdout, Log: app.NewLogger(e.Stderr, e.getenv),
	})
}
