package routequery_test

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/devicehub/devicehub/shared/routequery"
)

// FuzzParse checks that Parse never panics, that a syntax error points
// into the condition, that a parsed condition's canonical form parses to
// the same canonical form and matches alike, and that Match never panics.
// `go test` runs the seeds; `go test -fuzz=FuzzParse` explores.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`$contentEncoding = 'UTF-8' AND processingPath = 'hot'`,
		`$body.Weather.HistoricalData[0].Month = 'Feb'`,
		`$body.Weather.Temperature = 50 AND $body.Weather.IsEnabled`,
		`length($body.Weather.Location.State) = 2`,
		`is_defined($body.properties.desired.telemetryConfig.sendFrequency)`,
		`$body[0] = 'Feb'`,
		`$twin.properties.desired.telemetryConfig.sendFrequency = '5m'`,
		`$twin.tags.deploymentLocation.floor = 1`,
		`NOT (a = "x" OR b <> 'y') AND -(1 + 2) * 3 % 4 / 5 >= -0x1F`,
		`processingPath NIN ['warm', -1.5e3, true, null] OR undefined`,
		`CONCAT(a, 'b', LOWER(UPPER($dt-subject))) = SUBSTRING('abc', 1, 2)`,
		`STARTS_WITH(a, 'x') AND ENDS_WITH(a, 'y') AND CONTAINS(a, 'z') AND INDEX_OF(a, 'é') > -1`,
		`ABS(x) + CEILING(x) + EXP(x) + FLOOR(x) + SIGN(x) + POWER(x, 2) + SQUARE(x) + SQRT(x) > AS_NUMBER(severity)`,
		`IS_NULL(a) OR IS_BOOL(a) OR IS_NUMBER(a) OR IS_STRING(a) OR IS_OBJECT(a) OR IS_ARRAY(a) OR IS_PRIMITIVE(a)`,
		`$body.a['b c'].$version = '\u00e9\\\'' AND $twin.tags.x["y"] = ""`,
		`((((((((((true))))))))))`,
		`NOT NOT NOT NOT -+-+-1 = 1`,
		`a = 'x`, `(a`, `a.b`, `$`, `1 = 1 = 1`, `foo(1)`, `0x`, `1e`, `'\q'`, "a = '\xff'",
	} {
		f.Add(s)
	}
	msgs := []routequery.Values{sample(f), {}}
	f.Fuzz(func(t *testing.T, src string) {
		q, err := routequery.Parse(src)
		if err != nil {
			var se *routequery.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, not a *SyntaxError", src, err)
			}
			if se.Pos < 1 || se.Pos > utf8.RuneCountInString(src)+1 {
				t.Fatalf("Parse(%q): position %d outside the condition", src, se.Pos)
			}
			return
		}
		if q.String() != src {
			t.Fatalf("String() = %q, want %q", q.String(), src)
		}
		c := q.Canonical()
		q2, err := routequery.Parse(c)
		if err != nil {
			t.Fatalf("Parse(%q) ok, its canonical form %q: %v", src, c, err)
		}
		if c2 := q2.Canonical(); c2 != c {
			t.Fatalf("canonical form of %q: %q, then %q", src, c, c2)
		}
		for _, m := range msgs {
			if q.Match(m) != q2.Match(m) {
				t.Fatalf("%q and its canonical form %q match differently", src, c)
			}
		}
	})
}
