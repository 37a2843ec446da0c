package hubapi

import (
	"cmp"
	"encoding/base64"
	"reflect"
	"slices"
	"testing"

	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/shared/iothub"
)

var b64 = base64.StdEncoding.EncodeToString

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
	{"empty array", `[]`, false},
	{"null", `null`, false},
	{"object", `{"body":""}`, false},
	{"null item", `[null]`, false},
	{"no body", `[{"properties":{}}]`, false},
	{"body null", `[{"body":null}]`, false},
	{"body object raw", `[{"body":{"a":1},"base64Encoded":false}]`, false},
	{"escaped body", `[{"body":"a\u0041"}]`, false},
	{"non-ASCII value", `[{"body":"","properties":{"a":"é"}}]`, false},
	{"bad base64", `[{"body":"!!!!"}]`, false},
	{"base64 string flag", `[{"body":"","base64Encoded":"true"}]`, false},
	{"upper-case key", `[{"Body":""}]`, false},
	{"unknown key", `[{"body":"","extra":1}]`, false},
	{"duplicate body", `[{"body":"","body":"QQ=="}]`, false},
	{"duplicate property", `[{"body":"","properties":{"a":"1","A":"2"}}]`, false},
	{"numeric property", `[{"body":"","properties":{"a":1}}]`, false},
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
			checkFastMatchesJSON(t, []byte(tc.in))
		})
	}
}

func FuzzParseBatchFast(f *testing.F) {
	for _, tc := range batchSeeds {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(checkFastMatchesJSON)
}

// checkFastMatchesJSON: whenever the fast path answers, encoding/json must
// accept the batch and give the same messages.
func checkFastMatchesJSON(t *testing.T, in []byte) {
	fast, ok := parseBatchFast(in)
	if !ok {
		return
	}
	slow, err := parseBatch(in)
	if err != nil {
		t.Fatalf("fast path accepted %q, encoding/json path says %v", in, err)
	}
	if !reflect.DeepEqual(normalize(fast), normalize(slow)) {
		t.Fatalf("input %q\nfast %+v\nslow %+v", in, fast, slow)
	}
}

// normalize orders properties fully: the JSON path walks a map, so the
// order of two properties of one name is unspecified there.
func normalize(msgs []d2c.Message) []d2c.Message {
	out := slices.Clone(msgs)
	for i := range out {
		out[i].Properties = slices.Clone(out[i].Properties)
		slices.SortFunc(out[i].Properties, func(a, b iothub.Property) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Value, b.Value))
		})
	}
	return out
}
