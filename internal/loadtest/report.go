package loadtest

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// Targets are issue 9's hub/ceiling throughput ratios.
const (
	TargetSingle = 0.8
	TargetBatch  = 0.95
)

// Summary is one side's medians over its rounds.
type Summary struct {
	Rate     float64 // msgs/s
	P50, P99 time.Duration
	Msgs     int // acknowledged, all rounds
	Errors   int // all rounds
	FirstErr error
}

// Summarize takes the median of each figure over rounds.
func Summarize(rounds []Round) Summary {
	var s Summary
	var rates []float64
	var p50, p99 []time.Duration
	for _, r := range rounds {
		rates, p50, p99 = append(rates, r.Rate()), append(p50, r.P50), append(p99, r.P99)
		s.Msgs += r.Msgs
		s.Errors += r.Errors
		if s.FirstErr == nil {
			s.FirstErr = r.FirstErr
		}
	}
	s.Rate, s.P50, s.P99 = median(rates), median(p50), median(p99)
	return s
}

// Ratio is the hub's median rate over the ceiling's.
func (r Result) Ratio() float64 {
	c := Summarize(r.Ceiling).Rate
	if c == 0 {
		return 0
	}
	return Summarize(r.Hub).Rate / c
}

// Target is the ratio the issue asks for in this run's mode.
func (r Result) Target() float64 {
	if r.Config.Batch > 0 {
		return TargetBatch
	}
	return TargetSingle
}

// Print writes the run's table: each side's medians, the ratio and whether
// it met its target.
func (r Result) Print(w io.Writer) {
	fmt.Fprintf(w, "%s, %d msgs/round, body %d B, %d rounds (medians):\n",
		r.Config.Mode(), r.Config.Messages, r.Config.BodySize, len(r.Hub))
	for _, side := range []struct {
		name   string
		rounds []Round
	}{{"hub", r.Hub}, {"ceiling", r.Ceiling}} {
		s := Summarize(side.rounds)
		fmt.Fprintf(w, "  %-8s %9.0f msgs/s  p50 %8s  p99 %8s  errors %d\n", side.name, s.Rate,
			s.P50.Round(10*time.Microsecond), s.P99.Round(10*time.Microsecond), s.Errors)
		if s.FirstErr != nil {
			fmt.Fprintf(w, "           first error: %v\n", s.FirstErr)
		}
	}
	verdict := "met"
	if r.Ratio() < r.Target() {
		verdict = "missed"
	}
	fmt.Fprintf(w, "  ratio hub/ceiling %.2f (target >= %.2f: %s)\n", r.Ratio(), r.Target(), verdict)
}

func median[T float64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
