// Package loadtest is a bounded load harness on loopback: devices send
// telemetry to the hub's real handler (internal/app) served by net/http on
// 127.0.0.1, over the emulators, and in the same run the same records are
// written directly with PutRecords, through the writer the hub uses, into
// the same stream: the ceiling the hub is measured against. Rounds
// alternate (hub, ceiling, hub, ...) so both see the same machine.
package loadtest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// Config is one load run.
type Config struct {
	Messages int // messages per round, spread over the devices
	Batch    int // messages per request; 0 sends single messages
	BodySize int // bytes of each message body
	Rounds   int // rounds of each side; default 3
	// Progress receives a progress line every ProgressEvery (default 1s)
	// while a round runs; nil for none.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// Mode names the shape of the run: "single" or "batch of N".
func (c Config) Mode() string {
	if c.Batch == 0 {
		return "single"
	}
	return "batch of " + strconv.Itoa(c.Batch)
}

// Round is one side's figures for one round.
type Round struct {
	Side     string // "hub" or "ceiling"
	Msgs     int    // messages acknowledged
	Errors   int    // requests (or PutRecords calls) that failed
	FirstErr error
	Elapsed  time.Duration
	P50, P99 time.Duration // per request (per PutRecords call)
	// Acked are the acknowledged messages' ids, for checking the stream.
	Acked []string
}

// Rate is acknowledged messages per second.
func (r Round) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Msgs) / r.Elapsed.Seconds()
}

// Result is a run's rounds.
type Result struct {
	Config       Config
	Hub, Ceiling []Round
}

// call is one request's worth of messages of one device.
type call struct {
	ids     []string
	body    []byte      // the hub request's body
	header  http.Header // the hub request's headers
	records [][]byte    // the same messages as the hub's records, for the ceiling
}

// Run runs cfg.Rounds rounds of each side, interleaved, on env.
func Run(ctx context.Context, env *Env, cfg Config) (Result, error) {
	if cfg.Rounds <= 0 {
		cfg.Rounds = 3
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = time.Second
	}
	if cfg.Messages <= 0 || cfg.BodySize < 0 || cfg.Batch < 0 || cfg.Batch > d2c.MaxBatchMessages {
		return Result{}, fmt.Errorf("loadtest: want messages > 0, body size >= 0 and batch in 0..%d", d2c.MaxBatchMessages)
	}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConns: len(env.Devices), MaxIdleConnsPerHost: len(env.Devices), DisableCompression: true,
	}}
	defer client.CloseIdleConnections()
	res := Result{Config: cfg}
	for r := range cfg.Rounds {
		// The side that goes first flips each round: with the hub always
		// first, the batch hub beat the ceiling it writes through, so order
		// matters on the emulator (its store grows as rounds run).
		sides := []string{"hub", "ceiling"}
		if r%2 == 1 {
			slices.Reverse(sides)
		}
		for _, side := range sides {
			// Ids are unique per side, round and mode, so the stream can be checked.
			calls := plan(env.Devices, cfg, side[:1]+strconv.Itoa(r)+"b"+strconv.Itoa(cfg.Batch))
			send := func(ctx context.Context, dev Device, c call) error { return sendHub(ctx, client, env.URL, dev, c) }
			if side == "ceiling" {
				send = func(ctx context.Context, dev Device, c call) error { return putCeiling(ctx, env, dev, c) }
			}
			label := fmt.Sprintf("%s %d/%d %s", side, r+1, cfg.Rounds, cfg.Mode())
			round, err := runRound(ctx, env.Devices, calls, send, cfg, label)
			if err != nil {
				return res, err
			}
			round.Side = side
			if side == "hub" {
				res.Hub = append(res.Hub, round)
			} else {
				res.Ceiling = append(res.Ceiling, round)
			}
		}
	}
	return res, nil
}

// plan builds every device's calls before a round starts, so neither side
// pays for building requests while it is timed.
func plan(devices []Device, cfg Config, tag string) [][]call {
	per := make([][]call, len(devices))
	now := time.Now()
	for d, dev := range devices {
		n := cfg.Messages / len(devices)
		if d < cfg.Messages%len(devices) {
			n++
		}
		size := max(cfg.Batch, 1)
		for start := 0; start < n; start += size {
			var c call
			for i := start; i < min(start+size, n); i++ {
				id := fmt.Sprintf("%s-%s-%d", tag, dev.ID, i)
				c.ids = append(c.ids, id)
				body := Body(id, cfg.BodySize)
				sys := telemetry.SystemProperties{MessageID: id, ContentType: "application/json", ContentEncoding: "utf-8",
					DeviceID: dev.ID, AuthGenerationID: dev.GenerationID, AuthMethod: registry.AuthMethodSAS, EnqueuedTime: now}
				c.records = append(c.records, d2c.EncodeRecord(0, &sys, []iothub.Property{{Name: "seq", Value: strconv.Itoa(i)}}, body))
			}
			c.header, c.body = hubRequest(cfg.Batch > 0, c.ids, cfg.BodySize)
			per[d] = append(per[d], c)
		}
	}
	return per
}

// Body is the deterministic body of message id: JSON naming the id, padded
// to size bytes when size allows.
func Body(id string, size int) []byte {
	b := []byte(`{"id":"` + id + `","pad":"`)
	if pad := size - len(b) - 2; pad > 0 {
		b = append(b, strings.Repeat("x", pad)...)
	}
	return append(b, `"}`...)
}

// hubRequest is the request a device sends over HTTPS, as the IoT SDKs do:
// a single message with its properties as headers, or an IoT Hub JSON batch.
func hubRequest(batch bool, ids []string, size int) (http.Header, []byte) {
	if !batch {
		h := http.Header{"Content-Type": {"application/json"}}
		h.Set("iothub-messageid", ids[0])
		h.Set("iothub-contenttype", "application/json")
		h.Set("iothub-contentencoding", "utf-8")
		h.Set("iothub-app-seq", seqOf(ids[0]))
		return h, Body(ids[0], size)
	}
	type item struct {
		Body       string            `json:"body"`
		Properties map[string]string `json:"properties"`
	}
	items := make([]item, len(ids))
	for i, id := range ids {
		items[i] = item{Body: base64.StdEncoding.EncodeToString(Body(id, size)), Properties: map[string]string{
			"iothub-messageid": id, "iothub-contenttype": "application/json", "iothub-contentencoding": "utf-8",
			"iothub-app-seq": seqOf(id),
		}}
	}
	body, _ := json.Marshal(items) // strings only: cannot fail
	return http.Header{"Content-Type": {iothub.BatchContentType}}, body
}

func seqOf(id string) string { return id[strings.LastIndexByte(id, '-')+1:] }

func sendHub(ctx context.Context, client *http.Client, base string, dev Device, c call) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		base+"/devices/"+dev.ID+"/messages/events?api-version=2021-04-12", bytes.NewReader(c.body))
	if err != nil {
		return err
	}
	req.Header = c.header.Clone()
	req.Header.Set("Authorization", dev.Token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("hub answered %d: %s", resp.StatusCode, msg)
	}
	return nil
}

func putCeiling(ctx context.Context, env *Env, dev Device, c call) error {
	res, err := env.Ceiling.PutRecords(ctx, dev.ID, c.records)
	if err != nil {
		return err
	}
	if res.FailedFrom >= 0 {
		return fmt.Errorf("kinesis rejected records from %d of %d", res.FailedFrom, len(c.records))
	}
	return nil
}

// runRound runs every device's calls, one device per goroutine, each call
// after the last one's answer.
func runRound(ctx context.Context, devices []Device, calls [][]call, send func(context.Context, Device, call) error, cfg Config, label string) (Round, error) {
	var (
		mu     sync.Mutex
		round  Round
		lats   []time.Duration
		done   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	start := time.Now()
	stop := progress(cfg, label, start, &done, &failed)
	for d, dev := range devices {
		wg.Go(func() {
			var acked []string
			own := make([]time.Duration, 0, len(calls[d]))
			var errs int
			var first error
			for _, c := range calls[d] {
				t0 := time.Now()
				err := send(ctx, dev, c)
				own = append(own, time.Since(t0))
				if err != nil {
					errs++
					failed.Add(1)
					first = cmp.Or(first, err)
					continue
				}
				acked = append(acked, c.ids...)
				done.Add(int64(len(c.ids)))
			}
			mu.Lock()
			defer mu.Unlock()
			round.Acked = append(round.Acked, acked...)
			lats = append(lats, own...)
			round.Errors += errs
			round.FirstErr = cmp.Or(round.FirstErr, first)
		})
	}
	wg.Wait()
	round.Elapsed = time.Since(start)
	stop()
	round.Msgs = len(round.Acked)
	round.P50, round.P99 = percentile(lats, 50), percentile(lats, 99)
	return round, ctx.Err()
}

// progress prints a line every cfg.ProgressEvery until the returned stop.
func progress(cfg Config, label string, start time.Time, done, failed *atomic.Int64) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				n := done.Load()
				fmt.Fprintf(cfg.Progress, "%s: %d/%d msgs, %d errors, %.0f msgs/s\n",
					label, n, cfg.Messages, failed.Load(), float64(n)/time.Since(start).Seconds())
			}
		}
	}()
	return func() { close(quit); <-finished }
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*p/100)]
}
