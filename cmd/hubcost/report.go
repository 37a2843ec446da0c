package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/devicehub/devicehub/internal/costmodel"
)

type report struct {
	w          io.Writer
	p          costmodel.Prices
	m          costmodel.Measured
	mf         costmodel.MeasuredFile
	o          costmodel.Options
	record     costmodel.RecordSize // the header's and the stream rule's
	recordName string
	stacks     []costmodel.Stack
	// synthesized: the stacks are the named configurations.
	synthesized bool
}

var money = costmodel.Money

// services are the bill's columns, in order.
var services = []string{"API Gateway", "Lambda", "CloudWatch Logs", "Kinesis", "DynamoDB"}

func (r *report) print(profiles []costmodel.Profile) {
	w := r.w
	fmt.Fprintf(w, "devicehub cost model: %s list prices of %s, no free tier; a month is 730 hours.\n", r.p.Region, r.p.Date)
	fmt.Fprintf(w, "Record (%s): %s.\n", r.recordName, describeRecord(r.record, 1024))
	fmt.Fprintf(w, "Durations (ms, median; %s, %s):", r.mf.Durations.Where, r.mf.Durations.Date)
	kinds := make([]string, 0, len(r.m.DurationMs))
	for k := range r.m.DurationMs {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, " %s %.1f", k, r.m.DurationMs[k])
	}
	fmt.Fprintf(w, ".\n  Real AWS latency is higher (Kinesis PutRecords and DynamoDB over the network): try -ms telemetry=15.\n")
	fmt.Fprintf(w, "C2D lifecycle (send, receive, complete, feedback; ack=full, 1 KB): %.2f WCU, %.2f RCU (%s).\n\n", r.m.LifecycleWCU, r.m.LifecycleRCU, r.mf.Lifecycle.Command)

	r.configurations()
	for _, f := range profiles {
		r.profile(f)
	}
	r.idle()
	r.c2d()
	r.registry()
	r.streamRule()
	r.targets()
}

func describeRecord(record costmodel.RecordSize, n int) string {
	return fmt.Sprintf("%d B Kinesis record for a %d B body, %d B of envelope", record(n), len(costmodel.ReferenceBody(n)), costmodel.EnvelopeBytes(record, n))
}

func (r *report) table() *tabwriter.Writer {
	return tabwriter.NewWriter(r.w, 2, 8, 2, ' ', tabwriter.AlignRight)
}

func (r *report) configurations() {
	fmt.Fprintln(r.w, "Configurations (read from their synthesized templates):")
	t := tabwriter.NewWriter(r.w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(t, "  name\tAPI\tmemory\tLambda system logs\taccess log line\tstream\tkey\tregistry\talarm metrics\tdashboards\tkey cache")
	for _, s := range r.stacks {
		fn := s.Functions[costmodel.Ingress]
		stream := "on-demand"
		if !s.Stream.OnDemand {
			stream = fmt.Sprintf("%d shard(s)", s.Stream.Shards)
		}
		key := "aws/kinesis"
		if s.Stream.CustomerKey {
			key = "customer"
		}
		logs := "off"
		if s.AccessLogFormat != "" {
			logs = fmt.Sprintf("~%d B", costmodel.AccessLogLineBytes(s.AccessLogFormat))
		}
		registry := "on-demand"
		for _, c := range s.Registry.Capacity {
			if c.TableReads() {
				registry = fmt.Sprintf("%.0f-%.0f RCU at %.0f%%", c.Min, c.Max, c.Target)
			}
		}
		fmt.Fprintf(t, "  %s\t%s\t%d MB %s\t%s %s\t%s\t%s\t%s\t%s\t%d\t%d\t%s, %d\n", s.Name, s.API, fn.MemoryMB, fn.Arch, fn.LogFormat, fn.SystemLogLevel,
			logs, stream, key, registry, s.AlarmMetrics, s.Dashboards, s.AuthCacheTTL, s.AuthCacheSize)
	}
	t.Flush()
	if r.synthesized {
		for _, c := range configurations {
			fmt.Fprintf(r.w, "  %-13s %s\n", c.name, c.about)
		}
	}
	fmt.Fprintln(r.w)
}

// profile prints a month of f on every stack, beside IoT Core and IoT Hub.
func (r *report) profile(f costmodel.Profile) {
	msgs := f.Messages()
	fmt.Fprintf(r.w, "Profile %q: %s devices x %g messages a day, %d B bodies, %d per request: %s messages a month.\n",
		f.Name, money(f.Devices), f.PerDay, f.BodyBytes, max(f.Batch, 1), money(msgs))
	t := r.table()
	fmt.Fprintf(t, "  \t$/month\t$/M messages\t%s\tother\tshards\tkey cache hits\t\n", strings.Join(services, "\t"))
	var throttled []string
	for _, s := range r.stacks {
		b := costmodel.Estimate(s, r.p, r.m, r.o, f)
		for _, why := range b.Throttled {
			throttled = append(throttled, s.Name+": "+why)
		}
		perM := costmodel.PerMillion(s, r.p, r.m, r.o, f)
		fmt.Fprintf(t, "  %s\t%s\t%s\t", s.Name, money(b.Total()), money(perM))
		rest := b.Total()
		for _, svc := range services {
			v := b.By(svc)
			rest -= v
			fmt.Fprintf(t, "%s\t", money(v/msgs*1e6))
		}
		shards := "-"
		if b.Shards > 0 {
			shards = fmt.Sprint(b.Shards)
		}
		fmt.Fprintf(t, "%s\t%s\t%.0f%%\t\n", money(rest/msgs*1e6), shards, 100*b.CacheHit)
	}
	for _, c := range []struct {
		name        string
		basic, mqtt bool
	}{{"IoT Core (HTTPS publish)", false, false}, {"IoT Core Basic Ingest (HTTPS)", true, false}, {"IoT Core (MQTT connected)", false, true}, {"IoT Core Basic Ingest (MQTT)", true, true}} {
		b := costmodel.IoTCoreBill(r.p, f, c.basic, c.mqtt)
		fmt.Fprintf(t, "  %s\t%s\t%s\t\t\t\t%s\t\t\t\t\t\n", c.name, money(b.Total()), money(b.Total()/msgs*1e6), money(b.By("Kinesis")/msgs*1e6))
	}
	if tier, units, month, ok := costmodel.IoTHubBill(r.p, f); ok {
		fmt.Fprintf(t, "  IoT Hub (%d x %s)\t%s\t%s\t\t\t\t\t\t\t\t\t\n", units, tier.Name, money(month), money(month/msgs*1e6))
	} else {
		fmt.Fprintf(t, "  IoT Hub\tno edition carries it\t\t\t\t\t\t\t\t\t\t\n")
	}
	t.Flush()
	fmt.Fprintln(r.w, "  (per-service columns are $ per million messages of the whole month, fixed costs included; $/M messages is what the traffic adds to the idle month)")
	for _, th := range throttled {
		fmt.Fprintf(r.w, "  cannot carry it: %s (not a candidate for the targets)\n", th)
	}
	fmt.Fprintln(r.w)
}

func (r *report) idle() {
	fmt.Fprintln(r.w, "Idle month (no traffic):")
	t := r.table()
	for _, s := range r.stacks {
		b := costmodel.Estimate(s, r.p, r.m, r.o, costmodel.Idle)
		var items []string
		for _, l := range b.Lines {
			if l.Month >= 0.005 {
				items = append(items, fmt.Sprintf("%s %s", l.What, money(l.Month)))
			}
		}
		fmt.Fprintf(t, "  %s\t$%s\t  %s\n", s.Name, money(b.Total()), strings.Join(items, ", "))
	}
	t.Flush()
	fmt.Fprintln(r.w)
}

func (r *report) c2d() {
	f := costmodel.C2D
	lifecycles := f.Devices * f.C2DPerDay * 730 / 24
	fmt.Fprintln(r.w, "C2D lifecycle (send, receive, complete, feedback receive and complete; 1 KB, ack=full), $ per million lifecycles:")
	t := r.table()
	fmt.Fprintf(t, "  \ttotal\t%s\tother\t\n", strings.Join(services, "\t"))
	for _, s := range r.stacks {
		b := costmodel.Estimate(s, r.p, r.m, r.o, f)
		idle := costmodel.Estimate(s, r.p, r.m, r.o, costmodel.Idle)
		fmt.Fprintf(t, "  %s\t%s\t", s.Name, money((b.Total()-idle.Total())/lifecycles*1e6))
		rest := b.Total() - idle.Total()
		for _, svc := range services {
			v := b.By(svc) - idle.By(svc)
			rest -= v
			fmt.Fprintf(t, "%s\t", money(v/lifecycles*1e6))
		}
		fmt.Fprintf(t, "%s\t\n", money(rest/lifecycles*1e6))
	}
	t.Flush()
	for _, tier := range r.p.IoTHub {
		fmt.Fprintf(r.w, "  IoT Hub %s: a C2D send counts as one message (receive, complete and feedback do not): $%s per million at full quota\n",
			tier.Name, money(costmodel.IoTHubFullQuota(tier)))
	}
	fmt.Fprintln(r.w)
}

// registry shows the device-key reads per million requests against the
// send interval and the cache, strongly and eventually consistent.
func (r *report) registry() {
	fmt.Fprintln(r.w, "Registry reads (device keys), $ per million device requests, by send interval and key cache TTL (size 10,000):")
	t := r.table()
	fmt.Fprintln(t, "  fleet\tsend every\tTTL\tingress instances\tcache hits\tstrongly consistent\teventually consistent\t")
	for _, devices := range []float64{100, 10_000, 1_000_000} {
		for _, every := range []time.Duration{10 * time.Second, time.Minute, 10 * time.Minute} {
			for _, ttl := range []time.Duration{30 * time.Second, 5 * time.Minute} {
				f := costmodel.Profile{Devices: devices, PerDay: 86400 / every.Seconds(), Batch: 1, BodyBytes: 1024}
				reqs := f.Messages()
				conc := reqs / (730 * 3600) * math.Ceil(r.m.DurationMs["telemetry"]) / 1000
				hit := costmodel.CacheHitRate(ttl, 10_000, f, reqs, conc)
				rru := r.p.DynamoRRUPerMillion
				fmt.Fprintf(t, "  %s\t%s\t%s\t%.0f\t%.0f%%\t%s\t%s\t\n", money(devices), every, ttl, math.Max(1, math.Ceil(conc)), 100*hit,
					money((1-hit)*rru), money((1-hit)*0.5*rru))
			}
		}
	}
	t.Flush()
	fmt.Fprintln(r.w, "  A device that sends less often than the TTL never hits; at fleet scale Lambda spreads a device's requests over many instances, so even a long TTL rarely hits.")
	fmt.Fprintln(r.w)
}

// streamRule prints when provisioned capacity beats on-demand for the
// reference record.
func (r *report) streamRule() {
	rec := float64(r.record(1024))
	p := r.p
	onDemandPerM := (math.Ceil(rec/1024)*1024/(1<<30)*p.KinesisOnDemandInGB + rec/(1<<30)*p.KinesisOnDemandOutGB) * 1e6
	provisionedPerM := math.Ceil(rec/(25<<10)) * p.KinesisPUTUnitPerMillion
	shardMonth := 730 * p.KinesisShardHour
	perShard := math.Min(1000, (1<<20)/rec) * 0.8 * 730 * 3600 / 1e6 // million records a shard carries at 80%
	fmt.Fprintf(r.w, "Stream capacity (records of %.0f B): on-demand $%s a month + $%s per million records (written, read once);\n", rec,
		money(730*p.KinesisOnDemandStreamHour), money(onDemandPerM))
	fmt.Fprintf(r.w, "  provisioned $%s per shard-month (up to %s million records a month at 80%%) + $%s per million records.\n",
		money(shardMonth), money(perShard), money(provisionedPerM))
	fmt.Fprintf(r.w, "  Provisioned wins at any steady rate: one shard costs less than on-demand's stream-hours alone, and each further shard (%s M records)\n", money(perShard))
	fmt.Fprintf(r.w, "  costs $%s where on-demand would charge $%s for those records. On-demand wins only for traffic that is spiky or unknown:\n", money(shardMonth), money(perShard*onDemandPerM))
	fmt.Fprintln(r.w, "  it follows a peak at once (up to its limits), while provisioned throttles above its shards until resharded (StreamCapacity alarm at 80%).")
	fmt.Fprintln(r.w)
}

func (r *report) targets() {
	fmt.Fprintln(r.w, "Targets ($ per million 1 KB messages unless stated; registry reads eventually consistent, as the hub does them, and strongly consistent for comparison):")
	eo, so := r.o, r.o
	eo.EventualReads, so.EventualReads = true, false
	eventual := costmodel.Evaluate(r.stacks, r.p, r.m, eo)
	strong := costmodel.Evaluate(r.stacks, r.p, r.m, so)
	for i, e := range eventual {
		v := strong[i]
		mark := func(v costmodel.Verdict) string {
			if v.Met {
				return "MET"
			}
			return "MISSED"
		}
		fmt.Fprintf(r.w, "  %-48s ≤ $%s %s\n", e.Name, money(e.Limit), strings.TrimPrefix(e.Unit, "$"))
		for _, c := range []struct {
			reads string
			v     costmodel.Verdict
		}{{"eventually consistent:", e}, {"strongly consistent:  ", v}} {
			if c.v.Best == "" {
				fmt.Fprintf(r.w, "    %s %s\n", c.reads, c.v.Why)
				continue
			}
			fmt.Fprintf(r.w, "    %s %-6s best %s $%s\n", c.reads, mark(c.v), c.v.Best, money(c.v.Value))
			if c.v.Why != "" {
				fmt.Fprintf(r.w, "      why: %s\n", c.v.Why)
			}
		}
	}
	fmt.Fprintln(r.w, "  C2D lifecycle per million: shown above, beside IoT Hub.")
}
