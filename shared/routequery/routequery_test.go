package routequery_test

import (
	"errors"
	"testing"

	"github.com/devicehub/devicehub/shared/routequery"
)

// weatherBody is the body of the sample message in Microsoft's "IoT Hub
// message routing query syntax", sent as application/json in UTF-8.
const weatherBody = `{
  "Weather": {
    "Temperature": 50,
    "Time": "2017-03-09T00:00:00.000Z",
    "PrevTemperatures": [20, 30, 40],
    "IsEnabled": true,
    "Location": {"Street": "One Microsoft Way", "City": "Redmond", "State": "WA"},
    "HistoricalData": [
      {"Month": "Feb", "Temperature": 40},
      {"Month": "Jan", "Temperature": 30}
    ]
  }
}`

// twinChangeBody is a twin change notification's body, as the doc's notes
// on filtering them assume.
const twinChangeBody = `{"properties": {"desired": {"telemetryConfig": {"sendFrequency": 15}, "$version": 2}}}`

func mustBody(t testing.TB, body string) any {
	t.Helper()
	v, ok := routequery.DecodeBody("application/json", "UTF-8", []byte(body))
	if !ok {
		t.Fatalf("DecodeBody(%q) failed", body)
	}
	return v
}

// sample is the doc's sample message: its system properties, one choice of
// its application properties (processingPath hot, verbose true, severity
// 3, testDevice false, and the JavaScript sample's Status), its body, and
// the doc's sample twin's tags.
func sample(t testing.TB) routequery.Values {
	return routequery.Values{
		System: map[string]string{
			routequery.SystemContentType:        "application/json",
			routequery.SystemContentEncoding:    "UTF-8",
			routequery.SystemEnqueuedTime:       "2017-05-08T18:55:31.8514657Z",
			routequery.SystemConnectionDeviceID: "myDevice",
			"iothub-message-source":             "deviceMessages",
		},
		App: map[string]string{
			"processingPath": "hot",
			"verbose":        "true",
			"severity":       "3",
			"testDevice":     "false",
			"Status":         "Active",
		},
		JSON: mustBody(t, weatherBody),
		Tags: map[string]any{
			"deploymentLocation": map[string]any{"building": "43", "floor": "1"},
		},
	}
}

func TestMatchDocExamples(t *testing.T) {
	msg := sample(t)
	twinChange := sample(t)
	twinChange.JSON = mustBody(t, twinChangeBody)
	noBody := sample(t)
	noBody.JSON = nil
	for _, tc := range []struct {
		cond string
		m    routequery.Values
		want bool
	}{
		// "Query based on message properties"
		{`$contentEncoding = 'UTF-8'`, msg, true},
		{`processingPath = 'hot'`, msg, true},
		{`$contentEncoding = 'UTF-8' AND processingPath = 'hot'`, msg, true},
		// "Query based on message body"
		{`$body.Weather.HistoricalData[0].Month = 'Feb'`, msg, true},
		{`$body.Weather.Temperature = 50 AND $body.Weather.IsEnabled`, msg, true},
		{`length($body.Weather.Location.State) = 2`, msg, true},
		{`$body.Weather.Temperature = 50 AND processingPath = 'hot'`, msg, true},
		{`$body.Weather.Temperature = 50`, noBody, false}, // body not routable JSON
		// the notes on twin change notifications
		{`$body.properties.desired.telemetryConfig.sendFrequency > 10`, twinChange, true},
		{`is_defined($body.properties.desired.telemetryConfig.sendFrequency)`, twinChange, true},
		{`is_defined($body.properties.desired.telemetryConfig.sendFrequency)`, msg, false},
		// "the following query is not supported and will return undefined"
		{`$body[0] = 'Feb'`, msg, false},
		// "Query based on device twin": this hub has no twin properties, so
		// $twin.properties is undefined.
		{`$twin.properties.desired.telemetryConfig.sendFrequency = '5m'`, msg, false},
		{`$body.Weather.Temperature = 50 AND $twin.properties.desired.telemetryConfig.sendFrequency = '5m'`, msg, false},
		// The sample twin's floor is the string "1": a number does not equal
		// it (different types compare undefined); the string does.
		{`$twin.tags.deploymentLocation.floor = 1`, msg, false},
		{`$twin.tags.deploymentLocation.floor = '1'`, msg, true},
		{`AS_NUMBER($twin.tags.deploymentLocation.floor) = 1`, msg, true},
	} {
		q, err := routequery.Parse(tc.cond)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.cond, err)
			continue
		}
		if got := q.Match(tc.m); got != tc.want {
			t.Errorf("Parse(%q).Match = %v, want %v", tc.cond, got, tc.want)
		}
	}
}

// The examples of Microsoft's "IoT Hub query language" that apply to
// routing, written for a route: twin paths with $twin, the device id as
// $connectionDeviceId. The twin is the doc's sample: tags.location.region
// "US", tags.location.plant "Redmond43".
func TestMatchQueryLanguageExamples(t *testing.T) {
	msg := sample(t)
	msg.Tags = map[string]any{"location": map[string]any{"region": "US", "plant": "Redmond43"}}
	for _, tc := range []struct {
		cond string
		want bool
	}{
		{`$twin.tags.location.region = 'US'`, true},
		{`$twin.tags.location.region = 'US' AND $body.Weather.Temperature >= 60`, false},
		{`$twin.tags.location.region IN ['US', 'EU']`, true},
		{`$twin.tags.location.region NIN ['US', 'EU']`, false},
		{`$connectionDeviceId IN ['device1', 'device2']`, false},
		{`$connectionDeviceId IN ['myDevice', 'device2']`, true},
		{`is_defined($twin.tags.location)`, true},
		{`is_defined($twin.tags.connectivity)`, false},
		// "comparisons are supported only between primitive types"
		{`$body.Weather.Location = $body.Weather.Location`, false},
		{`$body.Weather.PrevTemperatures = $body.Weather.PrevTemperatures`, false},
		{`$body.Weather.Location IN ['x']`, false},
		// "Any constant different than Boolean true is considered as false"
		{`$body.Weather.Location`, false},
		{`$body.Weather.Time`, false},
		{`$body.Weather.Temperature`, false},
	} {
		q, err := routequery.Parse(tc.cond)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.cond, err)
			continue
		}
		if got := q.Match(msg); got != tc.want {
			t.Errorf("Parse(%q).Match = %v, want %v", tc.cond, got, tc.want)
		}
	}
}

func TestMatch(t *testing.T) {
	msg := sample(t)
	for _, tc := range []struct {
		cond string
		want bool
	}{
		// literals and logic
		{`true`, true},
		{`false`, false},
		{`TRUE`, true},
		{`null`, false},
		{`undefined`, false},
		{`'true'`, false}, // a string is no boolean
		{`1`, false},
		{`NOT false`, true},
		{`not not true`, true},
		{`NOT undefined`, false},
		{`NOT (NOT undefined)`, false},
		{`true AND undefined`, false},
		{`NOT (true AND undefined)`, false}, // undefined, not false
		{`NOT (false AND undefined)`, true}, // false wins
		{`NOT (undefined AND false)`, true},
		{`true OR undefined`, true},
		{`undefined OR true`, true},
		{`NOT (false OR undefined)`, false},
		{`false or false or true`, true},
		{`true and true and false`, false},
		{`(true OR false) AND NOT false`, true},
		{`true OR false AND false`, true}, // AND binds tighter
		{`(true OR false) AND false`, false},
		// system properties: names are case-insensitive
		{`$contentType = 'application/json'`, true},
		{`$CONTENTTYPE = 'application/json'`, true},
		{`$connectionDeviceId = 'myDevice'`, true},
		{`$enqueuedTime > '2017-05-08'`, true},
		{`$connectionModuleId = 'm'`, false},
		{`is_defined($connectionModuleId)`, false},
		{`$iothub-message-source = 'deviceMessages'`, true},
		// application properties are strings
		{`Status = 'Active'`, true},
		{`status = 'Active'`, true}, // not case-sensitive (Values)
		{`Status = "Active"`, true},
		{`Status <> 'Active'`, false},
		{`Status != 'Inactive'`, true},
		{`severity = '3'`, true},
		{`severity = 3`, false}, // string vs number: undefined
		{`severity > 2`, false},
		{`NOT (severity > 2)`, false},
		{`AS_NUMBER(severity) > 2`, true},
		{`AS_NUMBER(severity) + 1 = 4`, true},
		{`verbose = 'true'`, true},
		{`verbose = true`, false},
		{`missing = 'x'`, false},
		{`missing != 'x'`, false},
		{`NOT IS_DEFINED(missing)`, true},
		// body
		{`$body.Weather.Temperature >= 50`, true},
		{`$body.Weather.Temperature < 50.5`, true},
		{`$body.Weather.PrevTemperatures[2] = 40`, true},
		{`$body.Weather.PrevTemperatures[3] = 40`, false},
		{`$body.Weather.HistoricalData[1]['Month'] = 'Jan'`, true},
		{`$body.Weather.Location.City = 'Redmond'`, true},
		{`$body.weather.location.city = 'Redmond'`, false}, // body paths are case-sensitive
		{`$body.Weather.IsEnabled = true`, true},
		{`$body.Weather.Temperature = '50'`, false},
		{`IS_OBJECT($body.Weather.Location)`, true},
		{`IS_ARRAY($body.Weather.PrevTemperatures)`, true},
		{`IS_PRIMITIVE($body.Weather.Location)`, false},
		{`IS_NUMBER($body.Weather.Temperature)`, true},
		{`IS_STRING($body.Weather.Time)`, true},
		{`IS_BOOL($body.Weather.IsEnabled)`, true},
		{`IS_DEFINED($body)`, false},
		// twin tags: not case-sensitive
		{`$twin.tags.deploymentLocation.building = '43'`, true},
		{`$twin.TAGS.DeploymentLocation.Building = '43'`, true},
		{`$twin.tags.nothing = '43'`, false},
		// arithmetic
		{`1 + 2 * 3 = 7`, true},
		{`(1 + 2) * 3 = 9`, true},
		{`7 % 4 = 3`, true},
		{`-$body.Weather.Temperature = -50`, true},
		{`1 / 0 = 1`, false},
		{`NOT (1 / 0 = 1)`, false},
		{`0x1F = 31`, true},
		{`1e2 = 100`, true},
		{`'a' + 'b' = 'ab'`, false},
		// IN
		{`processingPath IN ['warm', 'hot']`, true},
		{`processingPath NIN ['warm', 'hot']`, false},
		{`processingPath IN []`, false},
		{`missing IN ['hot']`, false},
		{`NOT (missing NIN ['hot'])`, false},
	} {
		q, err := routequery.Parse(tc.cond)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.cond, err)
			continue
		}
		if got := q.Match(msg); got != tc.want {
			t.Errorf("Parse(%q).Match = %v, want %v", tc.cond, got, tc.want)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		cond string
		pos  int
		msg  string
	}{
		{``, 1, "empty condition"},
		{`a = 'x`, 5, "unterminated string"},
		{`(a = 'x'`, 9, "expected ')' to close the '(' at position 1, found end of condition"},
		{`a = `, 5, "expected an expression after '='"},
		{`a = 'x' b = 'y'`, 9, "unexpected 'b' after a complete expression (missing AND or OR?)"},
		{`foo(1)`, 1, "unknown function 'foo'"},
		{`LENGTH('a', 'b')`, 1, "LENGTH takes 1 argument, got 2"},
		{`a.b = 1`, 2, "application property 'a' is a string and has no members; a body path starts with $body, a tag path with $twin.tags"},
		{`1 = 1 = 1`, 7, "comparisons do not chain: join them with AND"},
		{`é = 'x' AND`, 12, "unexpected end of condition: expected an expression"},
		{`a = 'x' # b`, 9, "unexpected character '#'"},
		{`a = 'x')`, 8, "unexpected ')' after a complete expression (missing AND or OR?)"},
		{`a ! 'x'`, 3, "unexpected '!' (not equal is != or <>)"},
		{`a = 'it\'s \n'`, 12, `unknown escape '\n' (allowed: \' \" \\ \uXXXX)`},
		{`a = '\u12'`, 6, `expected 4 hexadecimal digits after \u`},
		{`a = 0x`, 5, "expected hexadecimal digits after '0x'"},
		{`a = 12ab`, 5, "malformed number '12ab'"},
		{`a = 1.2.3`, 5, "malformed number '1.2.3'"},
		{`a = 1e+`, 5, "malformed number '1e+': expected exponent digits"},
		{`a = 1e999`, 5, "number '1e999' out of range"},
		{`$ = 1`, 1, "expected a property name after '$'"},
		{`$body. = 1`, 8, "expected a name after '.', found '='"},
		{`$body.a[-1] = 1`, 9, "expected an array index (0, 1...) or a quoted name after '[', found '-'"},
		{`$body.a[1.5] = 1`, 9, "expected an array index (0, 1...) or a quoted name after '[', found '1.5'"},
		{`$body.a[0 = 1`, 11, "expected ']' to close the '[' at position 8, found '='"},
		{`$contentType.x = 1`, 13, "system property '$contentType' is a string and has no members; a body path starts with $body, a tag path with $twin.tags"},
		{`$foo(1)`, 1, "unknown function '$foo'"},
		{`a IN 'x'`, 6, "expected '[' to start a list, found ''x''"},
		{`a IN ['x' 'y']`, 11, "expected ',' or ']' in the list opened at position 6, found ''y''"},
		{`a IN [b]`, 7, "expected a constant (number, string, true, false or null), found 'b'"},
		{`a IN [-'x']`, 8, "expected a number after '-'"},
		{`SUBSTRING('abc')`, 1, "SUBSTRING takes 2 or 3 arguments, got 1"},
		{`CONCAT('a')`, 1, "CONCAT takes at least 2 arguments, got 1"},
		{`LOWER('a' 'b')`, 11, "expected ',' or ')' in the arguments of LOWER, found ''b''"},
		{`()`, 2, "expected an expression inside '(' ')'"},
		{`a = 'x' AND AND`, 13, "expected an expression, found keyword 'AND'"},
		{`NOT`, 4, "unexpected end of condition: expected an expression"},
		{`1 + * 2`, 5, "expected an expression, found '*'"},
		{"a = '\xff'", 6, "invalid UTF-8"},
		{"é = 'ü' AND ü =", 16, "expected an expression after '='"},
	} {
		_, err := routequery.Parse(tc.cond)
		var se *routequery.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", tc.cond, err)
			continue
		}
		if se.Pos != tc.pos || se.Msg != tc.msg {
			t.Errorf("Parse(%q) = %d %q, want %d %q", tc.cond, se.Pos, se.Msg, tc.pos, tc.msg)
		}
	}
}

func TestUses(t *testing.T) {
	for _, tc := range []struct {
		cond       string
		body, twin bool
	}{
		{`a = 'b'`, false, false},
		{`$body.a = 1`, true, false},
		{`$twin.tags.a = 1`, false, true},
		{`$twin.properties.desired.a = 1`, false, false},
		{`$body.a = 1 OR $twin.tags.x = 'y'`, true, true},
	} {
		q, err := routequery.Parse(tc.cond)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.cond, err)
		}
		if q.UsesBody() != tc.body || q.UsesTwin() != tc.twin {
			t.Errorf("Parse(%q): UsesBody %v UsesTwin %v, want %v %v", tc.cond, q.UsesBody(), q.UsesTwin(), tc.body, tc.twin)
		}
		if q.String() != tc.cond {
			t.Errorf("String() = %q, want %q", q.String(), tc.cond)
		}
	}
}
