package routequery_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/devicehub/devicehub/shared/routequery"
)

// A typical condition: a body value, an application property, a system
// property.
const typical = `$body.Weather.Temperature > 40 AND processingPath = 'hot' AND $connectionDeviceId = 'myDevice'`

func BenchmarkMatch(b *testing.B) {
	q, err := routequery.Parse(typical)
	if err != nil {
		b.Fatal(err)
	}
	var m routequery.Message = sample(b) // converted once: Match's own cost only
	if !q.Match(m) {
		b.Fatal("no match")
	}
	b.ReportAllocs()
	for b.Loop() {
		q.Match(m)
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := routequery.Parse(typical); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBody(b *testing.B) {
	body := []byte(weatherBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, ok := routequery.DecodeBody("application/json", "UTF-8", body); !ok {
			b.Fatal("not decoded")
		}
	}
}

// BenchmarkParseLong shows parsing is linear: ns/op per clause stays flat
// from 1,000 to 100,000 ORed clauses.
func BenchmarkParseLong(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		cond := strings.Repeat("a = 'x' OR ", n) + "true"
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := routequery.Parse(cond); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/clause")
		})
	}
}
