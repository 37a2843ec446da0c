package msgrules

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
)

var (
	d2cLike = Rules{MaxIDLength: 128}
	// c2dLike is what internal/c2d sets: printable ids and, as on every side,
	// token property names and values.
	c2dLike = Rules{MaxIDLength: 128, IDs: Printable, MaxProperties: 3, MaxPropertiesSize: 16, UniqueNames: true}
)

func TestCheckID(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules Rules
		id    string
		want  string // part of the error message; "" for no error
	}{
		{"empty", c2dLike, "", ""},
		{"128 characters", c2dLike, strings.Repeat("m", 128), ""},
		{"129 characters", d2cLike, strings.Repeat("m", 129), "message id exceeds 128 characters"},
		{"space is printable", c2dLike, "a b", ""},
		{"control character", c2dLike, "a\nb", "message id holds a character outside printable ASCII"},
		{"any byte", d2cLike, "caf\xc3\xa9\n", ""},
		{"no length limit", Rules{}, strings.Repeat("m", 1000), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.rules.CheckID("message id", tc.id), tc.want)
		})
	}
}

func TestCheckProperties(t *testing.T) {
	p := func(kv ...string) []iothub.Property {
		var out []iothub.Property
		for i := 0; i < len(kv); i += 2 {
			out = append(out, iothub.Property{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		rules Rules
		props []iothub.Property
		want  string
	}{
		{"none", c2dLike, nil, ""},
		{"plain", d2cLike, p("a", "1", "b-c", "x~y"), ""},
		{"empty name", d2cLike, p("", "1"), "application property name is empty"},
		{"empty value", d2cLike, p("a", ""), ""},
		{"token name", d2cLike, p("a(b)", "1"), `name "a(b)" holds a character outside ASCII letters`},
		{"token value", d2cLike, p("a", "x y"), `value of application property "a" holds a character outside ASCII letters`},
		// One charset for both directions: C2D's wider sets no longer apply.
		{"header name with parentheses", c2dLike, p("a(b)", "1"), `name "a(b)" holds a character outside ASCII letters`},
		{"header name with colon", c2dLike, p("a:b", "1"), `name "a:b" holds a character outside ASCII letters`},
		{"header name with space", c2dLike, p("a b", "1"), "outside ASCII letters"},
		{"printable value with space", c2dLike, p("a", "x y"), `value of application property "a" holds a character outside ASCII letters`},
		{"non-ASCII value", c2dLike, p("a", "caf\xc3\xa9"), `value of application property "a" holds a character outside ASCII letters`},
		{"duplicate refused", c2dLike, p("a", "1", "a", "2"), `application property "a" is given twice`},
		{"duplicate allowed", d2cLike, p("a", "1", "a", "2"), ""},
		// Names compare ignoring case, both directions.
		{"names differ in case", c2dLike, p("a", "1", "A", "2"), `application property "a" is given twice`},
		{"names differ in case among many", Rules{UniqueNames: true}, manyNames(20, "Name-7"), `application property "name-7" is given twice`},
		{"many distinct names", Rules{UniqueNames: true}, manyNames(20, ""), ""},
		{"too many", c2dLike, p("a", "1", "b", "2", "c", "3", "d", "4"), "at most 3 application properties"},
		{"at the size limit", c2dLike, p("abcd", "1234", "efgh", "5678"), ""},
		{"over the size limit", c2dLike, p("abcd", "1234", "efgh", "56789"), "application properties exceed 16 bytes"},
		{"over in KB", Rules{MaxPropertiesSize: 1 << 10}, p("a", strings.Repeat("x", 1<<10)), "application properties exceed 1 KB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.rules.CheckProperties(tc.props), tc.want)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	e, ok := apierr.As(err)
	if !ok || e.Kind != apierr.Invalid || e.Name != "ArgumentInvalid" {
		t.Fatalf("error %v, want ArgumentInvalid", err)
	}
	if !strings.Contains(e.Message, want) {
		t.Fatalf("message %q does not hold %q", e.Message, want)
	}
}

// Token is RFC 7230's tchar exactly.
func TestTokenCharset(t *testing.T) {
	const tchar = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for c := range 256 {
		got := Token.allows(string([]byte{byte(c)}))
		if want := strings.IndexByte(tchar, byte(c)) >= 0; got != want {
			t.Errorf("byte %#x: allowed %v, want %v", c, got, want)
		}
	}
}

// manyNames returns n properties name-0 ... name-<n-1>, and extra last when
// it is not empty.
func manyNames(n int, extra string) []iothub.Property {
	var out []iothub.Property
	for i := range n {
		out = append(out, iothub.Property{Name: "name-" + strconv.Itoa(i), Value: "v"})
	}
	if extra != "" {
		out = append(out, iothub.Property{Name: extra, Value: "last"})
	}
	return out
}

func TestLastWins(t *testing.T) {
	p := func(kv ...string) []iothub.Property {
		out := []iothub.Property{}
		for i := 0; i < len(kv); i += 2 {
			out = append(out, iothub.Property{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		in, want []iothub.Property
	}{
		{"none", p(), p()},
		{"one", p("a", "1"), p("a", "1")},
		{"distinct keep their order", p("b", "1", "a", "2"), p("b", "1", "a", "2")},
		{"last of a name wins", p("a", "1", "b", "2", "a", "3"), p("b", "2", "a", "3")},
		{"names compare ignoring case; the last spelling is kept", p("Seq", "1", "SEQ", "2", "seq", "3"), p("seq", "3")},
		{"first spelling, last value wins when last", p("a", "1", "A", "2"), p("A", "2")},
		{"non-ASCII letters are not folded", p("\u00e9", "1", "\u00c9", "2"), p("\u00e9", "1", "\u00c9", "2")},
		{"many, sorted path", append(manyNames(20, "NAME-3"), manyNames(2, "")...),
			slices.Concat(manyNames(3, "")[2:], manyNames(20, "")[4:], p("NAME-3", "last"), manyNames(2, ""))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := LastWins(slices.Clone(tc.in))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("LastWins(%v)\n got %v\nwant %v", tc.in, got, tc.want)
			}
		})
	}
}

// The sorting path of LastWins keeps what the pairwise one keeps.
func FuzzLastWins(f *testing.F) {
	f.Add([]byte("aAbBaaAa"), uint8(3))
	f.Add([]byte("abcdefghijklmnopqrstABCDEFGHIJ"), uint8(1))
	f.Fuzz(func(t *testing.T, names []byte, width uint8) {
		w := int(width%3) + 1
		var props []iothub.Property
		for i := 0; i+w <= len(names) && len(props) < 200; i += w {
			props = append(props, iothub.Property{Name: string(names[i : i+w]), Value: strconv.Itoa(i)})
		}
		got := LastWins(slices.Clone(props))
		if want := lastWinsReference(props); !slices.Equal(got, want) {
			t.Fatalf("LastWins(%v)\n got %v\nwant %v", props, got, want)
		}
		r := Rules{UniqueNames: true}
		if err := r.CheckProperties(got); err != nil && !strings.Contains(err.Error(), "holds a character") && !strings.Contains(err.Error(), "is empty") {
			t.Fatalf("LastWins left a repeated name: %v", err)
		}
	})
}

// lastWinsReference is LastWins written the obvious way.
func lastWinsReference(props []iothub.Property) []iothub.Property {
	out := []iothub.Property{}
	for i, p := range props {
		later := false
		for _, q := range props[i+1:] {
			if lowerASCIIOnly(p.Name) == lowerASCIIOnly(q.Name) {
				later = true
			}
		}
		if !later {
			out = append(out, p)
		}
	}
	return out
}

func lowerASCIIOnly(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
