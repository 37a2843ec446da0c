package routequery_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/devicehub/devicehub/shared/routequery"
)

// Hostile conditions fail with a position or parse; none can nest deeper
// than MaxDepth. (Linear time is BenchmarkParseLong's business: a timed
// assertion would fail on a loaded machine.)
func TestLimits(t *testing.T) {
	const d = routequery.MaxDepth
	long := strings.Repeat("a = 'x' OR ", 100_000) + "true"
	for _, tc := range []struct {
		name string
		cond string
		pos  int // 0: parses
	}{
		{"MaxDepth parentheses", strings.Repeat("(", d) + "true" + strings.Repeat(")", d), 0},
		{"one parenthesis too many", strings.Repeat("(", d+1) + "true" + strings.Repeat(")", d+1), d + 1},
		{"MaxDepth NOTs", strings.Repeat("NOT ", d) + "true", 0},
		{"one NOT too many", strings.Repeat("NOT ", d+1) + "true", 4*d + 1},
		{"unary minus", strings.Repeat("-", 1_000_000) + "1", d + 1},
		{"function calls", strings.Repeat("LOWER(", 1_000) + "'a'" + strings.Repeat(")", 1_000), 6*d + 1},
		{"arithmetic chain", "1" + strings.Repeat(" + 1", d-1) + " = 64", 0},
		{"arithmetic chain too long", "1" + strings.Repeat(" + 1", d) + " = 65", 4*d + 3},
		{"100 000 ORs", long, 0},
		{"unclosed parentheses", strings.Repeat("(", 1_000_000), d + 1},
		{"unterminated string", "a = '" + strings.Repeat("x", 1_000_000), 5},
	} {
		_, err := routequery.Parse(tc.cond)
		var se *routequery.SyntaxError
		switch {
		case tc.pos == 0 && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.pos != 0 && !errors.As(err, &se):
			t.Errorf("%s: err = %v, want a syntax error at %d", tc.name, err, tc.pos)
		case tc.pos != 0 && (se.Pos != tc.pos || !strings.Contains(se.Msg, "nested too deeply") && !strings.Contains(se.Msg, "unterminated")):
			t.Errorf("%s: %v, want position %d", tc.name, err, tc.pos)
		}
	}
}
