package routequery_test

import (
	"testing"

	"github.com/devicehub/devicehub/shared/routequery"
)

func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ cond, want string }{
		{`a = 'x'`, `a = 'x'`},
		{`a="x"`, `a = 'x'`},
		{`$contentType = 'application/json' and processingPath <> "hot"`, `$contentType = 'application/json' AND processingPath != 'hot'`},
		{`(a = 'x' OR b = 'y') AND c = 'z'`, `(a = 'x' OR b = 'y') AND c = 'z'`},
		{`((a = 'x')) or (b = 'y' and c = 'z')`, `a = 'x' OR b = 'y' AND c = 'z'`},
		{`not (a = 'x')`, `NOT a = 'x'`},
		{`(NOT a) = b`, `(NOT a) = b`},
		{`1 - (2 - 3) = 1 - 2 - 3`, `1 - (2 - 3) = 1 - 2 - 3`},
		{`(1 + 2) * 3 = -(-x)`, `(1 + 2) * 3 = - -x`},
		{`-(-(5))`, `5`},
		{`-(-'a')`, `- -'a'`},
		{`- 5 = +5`, `-5 = 5`},
		{`+x = 0x10`, `0 + x = 16`},
		{`length($body.a['b c'][0].$version) = 2`, `LENGTH($body.a['b c'][0].$version) = 2`},
		{`$TWIN.tags.x["y"] in ['a', -1, true, null]`, `$twin.tags.x.y IN ['a', -1, true, null]`},
		{`$twin.properties.desired.x = 1`, `undefined = 1`},
		{`'it\'s' = "say \"hi\"" AND '\u00e9\\' = 'é\\'`, `'it\'s' = 'say "hi"' AND 'é\\' = 'é\\'`},
	} {
		q, err := routequery.Parse(tc.cond)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.cond, err)
		}
		if got := q.Canonical(); got != tc.want {
			t.Errorf("Parse(%q).Canonical() = %q, want %q", tc.cond, got, tc.want)
		}
	}
}
