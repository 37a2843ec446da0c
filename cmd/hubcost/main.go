// Command hubcost is `make cost`: it synthesizes the hub's named
// configurations with infra/hub (or reads the templates it is given),
// prices each for the fleet profiles of issue 9 with internal/costmodel,
// beside AWS IoT Core and Azure IoT Hub, and holds the result against the
// cost targets.
//
//	go run ./cmd/hubcost                      # every configuration, every profile
//	go run ./cmd/hubcost -template cdk.out/DeviceHub.template.json
//	go run ./cmd/hubcost -ms telemetry=15,c2dSend=20 -envelope 120 -devices 5000 -per-day 96 -body 200
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/devicehub/devicehub/internal/costmodel"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hubcost:", err)
		os.Exit(1)
	}
}

// templates collects repeated -template flags.
type templates []string

func (t *templates) String() string     { return strings.Join(*t, ",") }
func (t *templates) Set(v string) error { *t = append(*t, v); return nil }

func run(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("hubcost", flag.ContinueOnError)
	var tmpl templates
	fs.Var(&tmpl, "template", "a synthesized template to price (repeatable); default: synthesize the named configurations")
	out := fs.String("out", filepath.Join("cdk.out", "cost"), "where the synthesized configurations' templates go")
	ms := fs.String("ms", "", "override measured durations, kind=ms,... (telemetry, telemetryBatch100, c2dSend, c2dReceive, c2dComplete, feedbackReceive, feedbackComplete, sweep)")
	record := fs.String("record", "", "telemetry record format whose size is priced (v1, v2); default: the one each stack writes")
	envelope := fs.Int("envelope", -1, "price a record of body + this many bytes instead of -record (a format under design)")
	response := fs.Float64("response-bytes", 200, "bytes each response sends to the internet")
	devices := fs.Float64("devices", 0, "add a profile: devices")
	perDay := fs.Float64("per-day", 1440, "  its messages per device per day")
	batch := fs.Int("batch", 1, "  its messages per request")
	body := fs.Int("body", 1024, "  its body bytes")
	c2d := fs.Float64("c2d-per-day", 0, "  its C2D lifecycles per device per day")
	strongReads := fs.Bool("strong-reads", false, "price each request's registry read as strongly consistent (the hub reads device keys eventually consistently)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, mf, err := costmodel.DefaultMeasured()
	if err != nil {
		return err
	}
	if err := override(m.DurationMs, *ms); err != nil {
		return err
	}
	o := costmodel.Options{ResponseBytes: *response, EventualReads: !*strongReads}
	recordName := *record
	switch {
	case *envelope >= 0:
		o.Record, recordName = costmodel.FixedEnvelope(*envelope), fmt.Sprintf("body + %d B", *envelope)
	case *record != "":
		var ok bool
		if o.Record, ok = costmodel.Records()[*record]; !ok {
			return fmt.Errorf("-record %q: known formats are v1 and v2", *record)
		}
	}

	var stacks []costmodel.Stack
	synthesized := len(tmpl) == 0
	if synthesized {
		paths, err := synthesize(*out)
		if err != nil {
			return err
		}
		tmpl = paths
	}
	for _, path := range tmpl {
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.Base(path), ".template.json")
		s, err := costmodel.ReadTemplate(name, raw)
		if err != nil {
			return err
		}
		stacks = append(stacks, s)
	}
	header := o.Record
	if header == nil {
		header, recordName = costmodel.V2Record, "v2"
	}
	if o.Record == nil && len(stacks) > 0 {
		// The header and the stream rule describe the first stack's record;
		// each bill prices its own stack's.
		header, recordName = stacks[0].Record(), costmodel.RecordName(stacks[0].RecordVersion)+", as the stack writes it"
	}
	profiles := []costmodel.Profile{costmodel.SingleKB, costmodel.BatchKB, costmodel.Fleet}
	if *devices > 0 {
		profiles = append(profiles, costmodel.Profile{Name: "custom", Devices: *devices, PerDay: *perDay, Batch: *batch, BodyBytes: *body, C2DPerDay: *c2d})
	}
	r := report{w: w, p: costmodel.USEast1(), m: m, mf: mf, o: o, record: header, recordName: recordName, stacks: stacks, synthesized: synthesized}
	r.print(profiles)
	return nil
}

// override applies -ms.
func override(d map[string]float64, spec string) error {
	if spec == "" {
		return nil
	}
	for _, kv := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if _, known := d[k]; !ok || !known {
			return fmt.Errorf("-ms %q: want kind=ms with a known kind", kv)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			return fmt.Errorf("-ms %q: %v", kv, err)
		}
		d[k] = f
	}
	return nil
}
