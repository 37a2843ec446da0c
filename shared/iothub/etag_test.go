package iothub

import "testing"

func TestUnquoteETag(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"abc"`, "abc"},
		{"abc", "abc"},
		{` "abc" `, "abc"},
		{`""`, ""},
		{`"`, `"`},
		{`"abc`, `"abc`},
		{`""abc""`, `"abc"`},
		{"*", "*"},
		{"", ""},
	} {
		if got := UnquoteETag(tc.in); got != tc.want {
			t.Errorf("UnquoteETag(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
