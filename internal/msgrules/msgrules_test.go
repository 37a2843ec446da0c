package msgrules

import (
	"strings"
	"testing"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
)

var (
	d2cLike = Rules{MaxIDLength: 128, Names: Token, Values: Token}
	c2dLike = Rules{MaxIDLength: 128, IDs: Printable, Names: HeaderName, Values: Printable,
		MaxProperties: 3, MaxPropertiesSize: 16, UniqueNames: true}
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
		{"header name with parentheses", c2dLike, p("a(b)", "1"), ""},
		{"header name with colon", c2dLike, p("a:b", "1"), `name "a:b" holds a character outside printable ASCII other than space and colon`},
		{"header name with space", c2dLike, p("a b", "1"), "outside printable ASCII other than space and colon"},
		{"printable value with space", c2dLike, p("a", "x y"), ""},
		{"non-ASCII value", c2dLike, p("a", "caf\xc3\xa9"), `value of application property "a" holds a character outside printable ASCII`},
		{"duplicate refused", c2dLike, p("a", "1", "a", "2"), `application property "a" is given twice`},
		{"duplicate allowed", d2cLike, p("a", "1", "a", "2"), ""},
		{"names differ in case", c2dLike, p("a", "1", "A", "2"), ""},
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
