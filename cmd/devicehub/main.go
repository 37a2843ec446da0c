// Command devicehub is the hub's CLI: it runs the hub locally, manages the
// device registry, sends as a device, tails the telemetry stream, and drives
// cloud-to-device messaging and feedback. The commands are in root.go and
// the files it names; main only hands them the process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], deps{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, Getwd: os.Getwd, Now: time.Now,
	})
	stop()
	os.Exit(code)
}
