package routequery_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/devicehub/devicehub/shared/routequery"
)

func TestFunctions(t *testing.T) {
	msg := sample(t)
	msg.App["name"] = "Zürich 🌡"
	msg.App["$custom"] = "app"
	for _, cond := range []string{
		// type checks: false, never undefined, for undefined
		`NOT IS_DEFINED(nothing) AND NOT IS_NULL(nothing) AND NOT IS_STRING(nothing) AND NOT IS_PRIMITIVE(nothing)`,
		`IS_NULL(null) AND IS_PRIMITIVE(null) AND IS_DEFINED(null)`,
		`IS_BOOL(false) AND IS_NUMBER(-1.5) AND IS_STRING('') AND IS_STRING(Status)`,
		`is_defined(Status) AND Is_Defined($contentType)`,
		// AS_NUMBER
		`AS_NUMBER('42') = 42 AND AS_NUMBER(' -1.5e2 ') = -150 AND AS_NUMBER(7) = 7`,
		`NOT IS_DEFINED(AS_NUMBER('0x10')) AND NOT IS_DEFINED(AS_NUMBER('NaN')) AND NOT IS_DEFINED(AS_NUMBER('')) AND NOT IS_DEFINED(AS_NUMBER(true))`,
		// strings, in characters
		`CONCAT('a', 'b', Status) = 'abActive'`,
		`NOT IS_DEFINED(CONCAT('a', 1))`,
		`LENGTH(name) = 8 AND LENGTH('') = 0`,
		`NOT IS_DEFINED(LENGTH(5))`,
		`LOWER(name) = 'zürich 🌡' AND UPPER(name) = 'ZÜRICH 🌡'`,
		`SUBSTRING(name, 1, 5) = 'ürich' AND SUBSTRING(name, 7) = '🌡' AND SUBSTRING(name, 7, 100) = '🌡'`,
		`SUBSTRING(name, 100) = '' AND SUBSTRING(name, 0, 0) = '' AND SUBSTRING(name, -3, 2) = 'Zü' AND SUBSTRING(name, 1.9, 1.9) = 'ü'`,
		`NOT IS_DEFINED(SUBSTRING(name, '1'))`,
		`INDEX_OF(name, 'rich') = 2 AND INDEX_OF(name, '🌡') = 7 AND INDEX_OF(name, 'x') = -1 AND INDEX_OF(name, '') = 0`,
		`STARTS_WITH(name, 'Zü') AND ENDS_WITH(name, '🌡') AND CONTAINS(name, 'rich ')`,
		`NOT STARTS_WITH(name, 'ü') AND NOT ENDS_WITH(name, 'Z') AND NOT CONTAINS(name, 'Rich')`,
		`NOT IS_DEFINED(CONTAINS(name, 1)) AND NOT IS_DEFINED(STARTS_WITH(1, '1'))`,
		// math
		`ABS(-2) = 2 AND CEILING(1.2) = 2 AND FLOOR(-1.2) = -2 AND SIGN(-3) = -1 AND SIGN(0) = 0 AND SIGN(0.5) = 1`,
		`POWER(2, 10) = 1024 AND SQUARE(-3) = 9 AND SQRT(16) = 4 AND EXP(0) = 1`,
		`NOT IS_DEFINED(SQRT(-1)) AND NOT IS_DEFINED(EXP(1000)) AND NOT IS_DEFINED(ABS('1'))`,
		`FLOOR($body.Weather.Temperature / 20) = 2 AND $body.Weather.Temperature % 7 = 1`,
		// a $name that is no system property is looked up among the
		// application properties, with its '$'
		`$custom = 'app'`,
		`NOT IS_DEFINED($unknown)`,
	} {
		q, err := routequery.Parse(cond)
		if err != nil {
			t.Errorf("Parse(%q): %v", cond, err)
			continue
		}
		if !q.Match(msg) {
			t.Errorf("%s: false", cond)
		}
	}
}

// A body decoded elsewhere, with json.Number or Go integers, routes alike.
func TestBodyNumberTypes(t *testing.T) {
	dec := json.NewDecoder(bytes.NewReader([]byte(`{"t": 50, "big": 12345678901234567890}`)))
	dec.UseNumber()
	var withNumbers any
	if err := dec.Decode(&withNumbers); err != nil {
		t.Fatal(err)
	}
	q, err := routequery.Parse(`$body.t = 50 AND $body.big > 1e19`)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []any{
		withNumbers,
		map[string]any{"t": 50, "big": uint64(12345678901234567890)},
		map[string]any{"t": int64(50), "big": 1.2345678901234567e19},
	} {
		if !q.Match(routequery.Values{JSON: body}) {
			t.Errorf("%#v: no match", body)
		}
	}
}

// counting is a Message that counts its calls.
type counting struct {
	routequery.Values
	body, tags int
}

func (c *counting) Body() (any, bool) {
	c.body++
	return c.Values.Body()
}

func (c *counting) TwinTags() (map[string]any, bool) {
	c.tags++
	return c.Values.TwinTags()
}

// Match reads the body and the tags at most once, and not at all when the
// condition is decided without them.
func TestMatchReadsLazily(t *testing.T) {
	for _, tc := range []struct {
		cond       string
		want       bool
		body, tags int
	}{
		{`$body.Weather.Temperature = 50 AND $body.Weather.IsEnabled AND $twin.tags.deploymentLocation.floor = '1' AND IS_DEFINED($twin.tags.deploymentLocation)`, true, 1, 1},
		{`processingPath = 'cold' AND $body.Weather.Temperature = 50`, false, 0, 0},
		{`processingPath = 'hot' OR $twin.tags.deploymentLocation.floor = '1'`, true, 0, 0},
		{`processingPath = 'cold' OR $twin.tags.deploymentLocation.floor = '1'`, true, 0, 1},
		{`missing = 'x' AND $body.Weather.Temperature = 51`, false, 1, 0}, // undefined AND ...: the body may make it false
	} {
		q, err := routequery.Parse(tc.cond)
		if err != nil {
			t.Fatal(err)
		}
		m := &counting{Values: sample(t)}
		if got := q.Match(m); got != tc.want || m.body != tc.body || m.tags != tc.tags {
			t.Errorf("%s: Match = %v, Body() %d calls, TwinTags() %d; want %v, %d, %d", tc.cond, got, m.body, m.tags, tc.want, tc.body, tc.tags)
		}
	}
}
