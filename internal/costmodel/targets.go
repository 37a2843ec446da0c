package costmodel

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// The fleet profiles the targets are stated for.
var (
	// SingleKB: 1 KB messages, each in its own request, one a minute
	// from each of 10,000 devices (a 30 s key cache never hits).
	SingleKB = Profile{Name: "single 1 KB, 10k devices, 1/min", Devices: 10_000, PerDay: 1440, Batch: 1, BodyBytes: 1024}
	// BatchKB: the same messages in IoT Hub batches of 100.
	BatchKB = Profile{Name: "batches of 100 x 1 KB, 10k devices", Devices: 10_000, PerDay: 1440, Batch: 100, BodyBytes: 1024}
	// Fleet: 1,000,000 devices sending one 500 B message a minute.
	Fleet = Profile{Name: "1M devices, 500 B, 1/min", Devices: 1_000_000, PerDay: 1440, Batch: 1, BodyBytes: 500}
	// C2D: cloud-to-device lifecycles of 1 KB messages, no telemetry.
	C2D = Profile{Name: "C2D lifecycles, 1 KB", Devices: 10_000, C2DPerDay: 144, BodyBytes: 1024}
)

// Target is one of issue 9's cost targets.
type Target struct {
	Name    string
	Limit   float64
	Unit    string // "$/M" (per million messages) or "$/month"
	Profile Profile
	// Eligible says which stacks the target is about.
	Eligible func(Stack) bool
}

// Targets are the cost targets, in us-east-1 list prices.
func Targets() []Target {
	all := func(Stack) bool { return true }
	return []Target{
		{"single messages, HTTP API", 1.30, "$/M", SingleKB, func(s Stack) bool { return s.API == HTTPAPI }},
		{"single messages, gateway-free", 0.35, "$/M", SingleKB, func(s Stack) bool { return s.API == FunctionURL }},
		{"batches of 100, best configuration", 0.03, "$/M", BatchKB, all},
		{"idle deployment, cheapest configuration", 15, "$/month", Idle, all},
		{"1M devices, 500 B a minute, best configuration", 12_500, "$/month", Fleet, all},
	}
}

// Verdict is a target against the stacks: the best eligible stack, its
// figure, and when missed, why.
type Verdict struct {
	Target
	Best  string
	Value float64
	Met   bool
	Why   string
}

// Evaluate holds every target against stacks.
func Evaluate(stacks []Stack, p Prices, m Measured, o Options) []Verdict {
	var out []Verdict
	for _, t := range Targets() {
		v := Verdict{Target: t, Value: math.Inf(1)}
		var best Bill
		throttled := 0
		for _, s := range stacks {
			if !t.Eligible(s) {
				continue
			}
			bill := Estimate(s, p, m, o, t.Profile)
			if len(bill.Throttled) > 0 {
				throttled++ // it cannot carry the traffic, whatever it costs
				continue
			}
			value := bill.Total()
			if t.Unit == "$/M" {
				value = PerMillion(s, p, m, o, t.Profile)
			}
			if value < v.Value {
				v.Best, v.Value, best = s.Name, value, bill
			}
		}
		if v.Best == "" {
			v.Why = "no configuration of this kind was priced"
			if throttled > 0 {
				v.Why = fmt.Sprintf("no configuration of this kind can carry the traffic (%d too small for it: see \"cannot carry it\" under the profile)", throttled)
			}
			out = append(out, v)
			continue
		}
		v.Met = v.Value <= t.Limit
		if !v.Met {
			v.Why = why(t, v, best, p, m, o, stacks)
		}
		out = append(out, v)
	}
	return out
}

// why words a miss: how far, and the best stack's largest items.
func why(t Target, v Verdict, best Bill, p Prices, m Measured, o Options, stacks []Stack) string {
	scale, unit := 1.0, "/month"
	var idle Bill
	if t.Unit == "$/M" {
		scale, unit = million/best.Messages, "/M"
		i := slices.IndexFunc(stacks, func(s Stack) bool { return s.Name == v.Best })
		idle = Estimate(stacks[i], p, m, o, Idle)
	}
	byService := map[string]float64{}
	for _, l := range best.Lines {
		byService[l.Service] += l.Month
	}
	for _, l := range idle.Lines {
		byService[l.Service] -= l.Month
	}
	type item struct {
		service string
		cost    float64
	}
	var items []item
	for s, c := range byService {
		if c*scale >= 0.005*v.Value {
			items = append(items, item{s, c * scale})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].cost > items[j].cost })
	var parts []string
	for _, it := range items {
		parts = append(parts, fmt.Sprintf("%s $%s", it.service, money(it.cost)))
	}
	msg := fmt.Sprintf("best is %s at $%s%s, $%s over: %s", v.Best, money(v.Value), unit, money(v.Value-t.Limit), strings.Join(parts, ", "))
	return msg + floor(t, best)
}

// floor says when a miss is the design's, not a setting's: every device
// request is one Lambda invocation and, unless the key cache hits, one
// registry read, whatever the stack's configuration. When those two lines
// alone take the limit, no configuration of this design meets it.
func floor(t Target, best Bill) string {
	var invoke, read float64
	for _, l := range best.Lines {
		switch {
		case l.Service == "Lambda" && l.What == "requests":
			invoke += l.Month
		case l.Service == "DynamoDB" && l.What == registryReads:
			read += l.Month
		}
	}
	if t.Unit != "$/month" || invoke+read < 0.8*t.Limit {
		return ""
	}
	return fmt.Sprintf("; the design's floor: %s requests a month are as many Lambda invocations ($%s at the request price alone) and, with %.0f%% key cache hits, registry reads ($%s): $%s of the $%s before compute, stream and transfer. "+
		"Meeting it needs fewer requests per message (batches: see \"batches of 100\") or authentication without a registry read per request, not a setting",
		commas(fmt.Sprintf("%.0f", best.Requests)), money(invoke), best.CacheHit*100, money(read), money(invoke+read), money(t.Limit))
}

// money formats dollars with the precision a figure needs.
func money(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000:
		return commas(fmt.Sprintf("%.0f", v))
	case a >= 10:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.1:
		return fmt.Sprintf("%.3f", v)
	default:
		return fmt.Sprintf("%.4f", v)
	}
}

// Money formats dollars as the reports do.
func Money(v float64) string { return money(v) }

func commas(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
