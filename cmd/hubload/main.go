// Command hubload is the loopback load harness (make load): devices send
// telemetry to the hub's real handler on 127.0.0.1 over the emulators, and
// the same records go straight to the stream with PutRecords as the
// ceiling; see internal/loadtest.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/devicehub/devicehub/internal/loadtest"
)

func main() {
	devices := flag.Int("devices", 20, "devices sending at once (one request in flight each)")
	messages := flag.Int("messages", 5000, "messages per round")
	batch := flag.Int("batch", 100, "messages per batch request in the batch run; 0 skips it")
	single := flag.Bool("single", true, "run single messages")
	body := flag.Int("body", 200, "message body size in bytes")
	rounds := flag.Int("rounds", 3, "rounds of each side (hub, ceiling, interleaved)")
	shards := flag.Int("shards", 4, "shards of the stream")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *devices, *shards, *single, *batch, loadtest.Config{
		Messages: *messages, BodySize: *body, Rounds: *rounds, Progress: os.Stderr,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "hubload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, devices, shards int, single bool, batch int, cfg loadtest.Config) error {
	env, err := loadtest.Start(ctx, loadtest.EnvOptions{Devices: devices, Shards: int32(shards)})
	if err != nil {
		return err
	}
	defer env.Close()
	fmt.Printf("hubload: %d devices, stream %s (%d shards), hub %s\n", devices, env.Stream, shards, env.URL)
	var modes []int
	if single {
		modes = append(modes, 0)
	}
	if batch > 0 {
		modes = append(modes, batch)
	}
	for _, b := range modes {
		cfg.Batch = b
		res, err := loadtest.Run(ctx, env, cfg)
		if err != nil {
			return err
		}
		res.Print(os.Stdout)
	}
	return nil
}
