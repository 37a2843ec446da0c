package hubapi

import (
	"encoding/base64"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/msgrules"
	"github.com/devicehub/devicehub/shared/iothub"
)

var b64 = base64.StdEncoding.EncodeToString

// batchOf returns a batch of n messages, each with the given properties JSON
// object (or none when props is empty).
func batchOf(n int, props string) string {
	item := `{"body":""}`
	if props != "" {
		item = `{"body":"","properties":` + props + `}`
	}
	return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
}

// propsOf returns a properties object of n application properties.
func propsOf(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"p` + strconv.Itoa(i) + `":"v"`)
	}
	b.WriteByte('}')
	return b.String()
}

// batchSeeds cover the shape parseBatchFast takes and the ones it must leave
// to encoding/json.
var batchSeeds = []struct {
	name string
	in   string
	fast bool // parseBatchFast must take it
}{
	{"typical", `[{"body":"` + b64([]byte(`{"t":1}`)) + `","properties":{"iothub-messageid":"m1","iothub-app-alert":"true","seq":"1"}}]`, true},
	{"whitespace", " \n[ {\t\"body\" : \"" + b64([]byte("x")) + "\" ,\r\"base64Encoded\":true } ]\n", true},
	{"raw body", `[{"body":"hello","base64Encoded":false},{"body":"` + b64([]byte("b")) + `","base64Encoded":null}]`, true},
	{"empty properties", `[{"properties":{},"body":""}]`, true},
	{"all system properties", `[{"body":"","properties":{"IOTHUB-MESSAGEID":"a","iothub-correlationid":"b","iothub-userid":"c","iothub-contenttype":"d","iothub-contentencoding":"e","iothub-to":"f","Iothub-App-X":"g"}}]`, true},
	{"same name after prefix", `[{"body":"","properties":{"iothub-app-a":"1","a":"2"}}]`, true},
	{"duplicate body", `[{"body":"","body":"QQ=="}]`, true},
	{"duplicate property", `[{"body":"","properties":{"a":"1","A":"2"}}]`, true},
	{"duplicate properties object", `[{"body":"","properties":{"a":"1","b":"2"},"properties":{"c":"3"}}]`, true},
	{"duplicate base64Encoded", `[{"body":"aGk=","base64Encoded":false,"base64Encoded":true}]`, true},
	{"system property twice", `[{"body":"","properties":{"iothub-messageid":"m1","IOTHUB-MESSAGEID":"m2"}}]`, true},
	{"64 properties", batchOf(1, propsOf(msgrules.MaxProperties)), true},
	{"500 messages", batchOf(d2c.MaxBatchMessages, ""), true},
	{"empty array", `[]`, false},
	{"null", `null`, false},
	{"object", `{"body":""}`, false},
	{"null item", `[null]`, false},
	{"no body", `[{"properties":{}}]`, false},
	{"body null", `[{"body":null}]`, false},
	{"body object raw", `[{"body":{"a":1},"base64Encoded":false}]`, false},
	{"escaped body", `[{"body":"a\u0041"}]`, false},
	{"escaped raw body", `[{"body":"caf\u00e9","base64Encoded":false}]`, false},
	{"invalid UTF-8 raw body", "[{\"body\":\"caf\xe9\",\"base64Encoded\":false}]", false},
	{"lone surrogate raw body", `[{"body":"\ud83d","base64Encoded":false}]`, false},
	{"invalid UTF-8 object body", "[{\"body\":{\"a\":\"\xff\"},\"base64Encoded\":false}]", false},
	{"non-ASCII value", `[{"body":"","properties":{"a":"é"}}]`, false},
	{"bad base64", `[{"body":"!!!!"}]`, false},
	{"base64 string flag", `[{"body":"","base64Encoded":"true"}]`, false},
	{"upper-case key", `[{"Body":""}]`, false},
	{"unknown key", `[{"body":"","extra":1}]`, false},
	{"numeric property", `[{"body":"","properties":{"a":1}}]`, false},
	{"null properties after some", `[{"body":"","properties":{"a":"1"},"properties":null}]`, false},
	{"65 properties", batchOf(1, propsOf(msgrules.MaxProperties+1)), false},
	{"501 messages", batchOf(d2c.MaxBatchMessages+1, ""), false},
	{"trailing comma", `[{"body":""},]`, false},
	{"trailing data", `[{"body":""}] x`, false},
	{"truncated", `[{"body":""`, false},
	{"literal run-on", `[{"body":"","base64Encoded":truex}]`, false},
}

func TestParseBatchFastMatchesJSON(t *testing.T) {
	for _, tc := range batchSeeds {
		t.Run(tc.name, func(t *testing.T) {
			_, ok := parseBatchFast([]byte(tc.in))
			if ok != tc.fast {
				t.Fatalf("fast path taken = %v, want %v", ok, tc.fast)
			}
			checkParsersAgree(t, []byte(tc.in))
		})
	}
}

// TestBatchRules: what both parsers make of keys and names given twice, of
// the caps and of raw bodies.
func TestBatchRules(t *testing.T) {
	p := func(kv ...string) []iothub.Property {
		var out []iothub.Property
		for i := 0; i < len(kv); i += 2 {
			out = append(out, iothub.Property{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   string
		want d2c.Message // the first message
		err  string      // code of the refusal, "" when accepted
	}{
		{"prefix and bare name: the last wins", `[{"body":"","properties":{"iothub-app-a":"1","a":"2"}}]`, d2c.Message{Body: []byte{}, Properties: p("a", "2")}, ""},
		{"bare and prefixed name: the last wins", `[{"body":"","properties":{"a":"1","Iothub-App-A":"2"}}]`, d2c.Message{Body: []byte{}, Properties: p("A", "2")}, ""},
		{"Unicode folding makes no system name", `[{"body":"","properties":{"iothub-meſſageid":"spoof"}}]`, d2c.Message{Body: []byte{}}, ""},
		{"message id in two cases: the last wins", `[{"body":"","properties":{"iothub-messageid":"m1","IOTHUB-MESSAGEID":"m2"}}]`, d2c.Message{Body: []byte{}, MessageID: "m2"}, ""},
		{"body twice: the last wins", `[{"body":"QQ==","body":"Qg=="}]`, d2c.Message{Body: []byte("B")}, ""},
		{"body twice, escaped: the last wins", `[{"body":"QQ==","body":"\u0051g=="}]`, d2c.Message{Body: []byte("B")}, ""},
		{"properties twice: the last replaces the first", `[{"body":"","properties":{"a":"1","b":"2"},"properties":{"c":"3"}}]`, d2c.Message{Body: []byte{}, Properties: p("c", "3")}, ""},
		{"properties then null", `[{"body":"","properties":{"a":"1"},"properties":null}]`, d2c.Message{Body: []byte{}}, ""},
		{"base64Encoded twice: the last wins", `[{"body":"aGk=","base64Encoded":true,"base64Encoded":false}]`, d2c.Message{Body: []byte("aGk=")}, ""},
		{"64 properties", batchOf(1, propsOf(64)), d2c.Message{}, ""},
		{"65 properties", batchOf(1, propsOf(65)), d2c.Message{}, "ArgumentInvalid"},
		{"65 properties, two of one name", batchOf(1, strings.Replace(propsOf(65), `"p64"`, `"P0"`, 1)), d2c.Message{}, "ArgumentInvalid"},
		{"system properties do not count", batchOf(1, strings.Replace(propsOf(64), `{`, `{"iothub-messageid":"m","iothub-to":"x",`, 1)), d2c.Message{}, ""},
		{"128 entries", batchOf(1, strings.Replace(propsOf(64), `{`, `{`+strings.Repeat(`"iothub-to":"x",`, 64), 1)), d2c.Message{}, ""},
		{"129 entries", batchOf(1, strings.Replace(propsOf(64), `{`, `{`+strings.Repeat(`"iothub-to":"x",`, 65), 1)), d2c.Message{}, "ArgumentInvalid"},
		{"500 messages", batchOf(500, ""), d2c.Message{Body: []byte{}}, ""},
		{"501 messages", batchOf(501, ""), d2c.Message{}, "MessageTooLarge"},
		{"raw UTF-8 body", `[{"body":"caf\u00e9 ` + "\u00e9" + `","base64Encoded":false}]`, d2c.Message{Body: []byte("caf\u00e9 \u00e9")}, ""},
		{"invalid UTF-8 raw body", "[{\"body\":\"caf\xe9\",\"base64Encoded\":false}]", d2c.Message{}, "ArgumentInvalid"},
		{"lone surrogate raw body", `[{"body":"\ud83d!","base64Encoded":false}]`, d2c.Message{}, "ArgumentInvalid"},
		{"invalid UTF-8 in a JSON body", "[{\"body\":[\"\xff\"],\"base64Encoded\":false}]", d2c.Message{}, "ArgumentInvalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := checkParsersAgree(t, []byte(tc.in))
			if tc.err != "" {
				if e, ok := apierr.As(err); !ok || e.Name != tc.err {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want.Body != nil && !reflect.DeepEqual(msgs[0], tc.want) {
				t.Fatalf("got %+v\nwant %+v", msgs[0], tc.want)
			}
		})
	}
}

// FuzzParseBatch runs both batch parsers against each other: the fast path
// either declines or gives what parseBatch gives, parseBatch gives the same
// result every time, and what it accepts keeps the rules (distinct names,
// caps, UTF-8 raw bodies).
func FuzzParseBatch(f *testing.F) {
	for _, tc := range batchSeeds {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkParsersAgree(t, in) })
}

// checkParsersAgree checks in as FuzzParseBatch describes and returns what
// parseBatch made of it.
func checkParsersAgree(t *testing.T, in []byte) ([]d2c.Message, error) {
	t.Helper()
	slow, err := parseBatch(in)
	again, err2 := parseBatch(in)
	if !reflect.DeepEqual(slow, again) || (err == nil) != (err2 == nil) {
		t.Fatalf("parseBatch(%q) differs between two runs", in)
	}
	fast, ok := parseBatchFast(in)
	if ok && err != nil {
		t.Fatalf("fast path accepted %q, encoding/json path says %v", in, err)
	}
	if ok && !reflect.DeepEqual(fast, slow) {
		t.Fatalf("input %q\nfast %+v\nslow %+v", in, fast, slow)
	}
	if err != nil {
		if _, ok := apierr.As(err); !ok {
			t.Fatalf("parseBatch(%q) error %v is not an API error", in, err)
		}
		return nil, err
	}
	if len(slow) == 0 || len(slow) > d2c.MaxBatchMessages {
		t.Fatalf("parseBatch(%q) gave %d messages", in, len(slow))
	}
	unique := msgrules.Rules{UniqueNames: true, MaxProperties: msgrules.MaxProperties}
	for i, m := range slow {
		if err := unique.CheckProperties(m.Properties); err != nil && strings.Contains(err.Error(), "twice") || len(m.Properties) > msgrules.MaxProperties {
			t.Fatalf("parseBatch(%q) message %d: %v", in, i, err)
		}
	}
	return slow, nil
}

// BenchmarkParseBatchWorstCase parses, as readBatch does (fast path, then
// encoding/json), batches built to cost the most per byte: one message with
// n application properties (refused at the 65th), one with n system
// property names (refused at the 129th entry) and n empty messages (refused
// at the 501st). The fast path stops at the cap; encoding/json still reads
// the one message whole, so the time grows no faster than the input (flat
// ns/prop from 1k to 30k, and falling where the cap stops it).
func BenchmarkParseBatchWorstCase(b *testing.B) {
	parse := func(raw []byte) {
		if _, ok := parseBatchFast(raw); !ok {
			_, _ = parseBatch(raw)
		}
	}
	systemProps := func(n int) string {
		var s strings.Builder
		s.WriteByte('{')
		for i := range n {
			if i > 0 {
				s.WriteByte(',')
			}
			s.WriteString(`"iothub-x` + strconv.Itoa(i) + `":"v"`)
		}
		s.WriteByte('}')
		return s.String()
	}
	for _, n := range []int{1000, 10000, 30000} {
		for _, c := range []struct {
			name  string
			batch string
		}{
			{"app-props", batchOf(1, propsOf(n))},
			{"system-props", batchOf(1, systemProps(n))},
			{"messages", batchOf(n, "")},
		} {
			b.Run(c.name+"/"+strconv.Itoa(n), func(b *testing.B) {
				raw := []byte(c.batch)
				b.SetBytes(int64(len(raw)))
				b.ReportAllocs()
				for b.Loop() {
					parse(raw)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/prop")
			})
		}
	}
}

func TestClassifyProperty(t *testing.T) {
	for k, want := range map[string]propKind{
		"iothub-messageid": propMessageID, "IoTHub-MessageId": propMessageID, "iothub-correlationid": propCorrelationID,
		"IOTHUB-USERID": propUserID, "iothub-contenttype": propContentType, "iothub-ContentEncoding": propContentEncoding,
		"iothub-app-x": propApp, "IOTHUB-APP-": propApp, "iothub-app": propDropped, "iothub-": propDropped,
		"iothub-to": propDropped, "iothub-messageid2": propDropped, "iothub": propUnprefixed, "x": propUnprefixed,
		"": propUnprefixed, "dt-subject": propUnprefixed, "ıothub-messageid": propUnprefixed,
	} {
		if got := classifyProperty(k); got != want {
			t.Errorf("%q: %d, want %d", k, got, want)
		}
	}
}

// Pooled storage, reused, gives exactly what fresh storage gives: nothing of
// the batch before shows through.
func TestBatchStorageReuse(t *testing.T) {
	first := `[{"body":"AAE=","properties":{"iothub-messageid":"m1","iothub-userid":"u","iothub-app-a":"1","b":"2"}},{"body":"AAI=","properties":{"iothub-correlationid":"c"}}]`
	second := `[{"body":""},{"body":"AAM=","properties":{"x":"y"}},{"body":"AAQ="}]`
	st := new(batchStorage)
	for _, in := range []string{first, second, first} {
		got, ok := st.parseFast([]byte(in))
		want, wantOK := parseBatchFast([]byte(in))
		if !ok || !wantOK || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\nreused %+v\n fresh %+v", in, got, want)
		}
		st.reset()
	}
}
