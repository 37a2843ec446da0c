package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
)

// decode reads JSON as the API does: numbers as written.
func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return m
}

func nested(depth int) string {
	return strings.Repeat(`{"k":`, depth) + `1` + strings.Repeat(`}`, depth)
}

func TestNormalizeTags(t *testing.T) {
	cases := []struct {
		name, tags string
		ok         bool
	}{
		{"values of every kind", `{"s":"x","n":1.5,"i":-7,"b":false,"o":{"p":"q"},"a":[1,"two",{"three":3},null],"e":""}`, true},
		{"empty", `{}`, true},
		{"integer at the top of the range", `{"i":4503599627370495}`, true},
		{"integer at the bottom", `{"i":-4503599627370496}`, true},
		{"integer above the range", `{"i":4503599627370496}`, false},
		{"integer below the range", `{"i":-4503599627370497}`, false},
		{"a number DynamoDB cannot hold", `{"f":1e200}`, false},
		{"a number too small for DynamoDB", `{"f":1e-200}`, false},
		{"zero as a float", `{"f":0.0}`, true},
		{"ten objects deep, as IoT Hub's example", `{"t":` + nested(10) + `}`, true},
		{"eleven deep", `{"t":` + nested(11) + `}`, false},
		{"arrays count as depth", `{"t":` + strings.Repeat("[", 10) + "1" + strings.Repeat("]", 10) + `}`, true},
		{"arrays too deep", `{"t":` + strings.Repeat("[", 11) + "1" + strings.Repeat("]", 11) + `}`, false},
		{"key with a dot", `{"a.b":1}`, false},
		{"key with a dollar", `{"$a":1}`, false},
		{"key with a space", `{"a b":1}`, false},
		{"key with a control character", `{"a\u0007":1}`, false},
		{"key with a C1 control character", `{"a\u0085":1}`, false},
		{"nested bad key", `{"o":{"x.y":1}}`, false},
		{"empty key", `{"":1}`, false},
		{"key of 1 KB", `{"` + strings.Repeat("k", 1024) + `":1}`, true},
		{"key over 1 KB", `{"` + strings.Repeat("k", 1025) + `":1}`, false},
		{"string of 4 KB", `{"s":"` + strings.Repeat("v", 4096) + `"}`, true},
		{"string over 4 KB", `{"s":"` + strings.Repeat("v", 4097) + `"}`, false},
		{"null value", `{"s":null}`, false},
		{"unicode key", `{"ünï":"ok"}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := NormalizeTags(decode(t, tc.tags))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v", err)
			}
			if err != nil && apierr.KindOf(err) != apierr.Invalid {
				t.Fatalf("kind of %v", err)
			}
			if err == nil {
				// Normalized, the tags hold only what the store writes.
				if again, err := NormalizeTags(out); err != nil || !reflect.DeepEqual(again, out) {
					t.Fatalf("not stable: %v %v", again, err)
				}
			}
		})
	}
}

// The size is IoT Hub's count, not the JSON's length.
func TestTagsSize(t *testing.T) {
	cases := []struct {
		tags string
		want int
	}{
		{`{"ab":"cde"}`, 5},
		{`{"n":1}`, 1 + 8},
		{`{"b":true}`, 1 + 4},
		{`{"o":{"k":"v","l":[1,"xy",false]}}`, 1 + (1 + 1) + (1 + 8 + 2 + 4)},
		{`{"ü":"\u0001x"}`, 2 + 1},
	}
	for _, tc := range cases {
		out, err := NormalizeTags(decode(t, tc.tags))
		if err != nil {
			t.Fatal(err)
		}
		if got := tagsSize(out); got != tc.want {
			t.Errorf("%s: size %d, want %d", tc.tags, got, tc.want)
		}
	}
	// Right at the limit, and one byte over.
	at := `{"k":"` + strings.Repeat("v", 4095) + `","l":"` + strings.Repeat("v", 4095) + `"}`
	if _, err := NormalizeTags(decode(t, at)); err != nil {
		t.Errorf("8192 bytes: %v", err)
	}
	over := `{"k":"` + strings.Repeat("v", 4096) + `","l":"` + strings.Repeat("v", 4095) + `"}`
	if _, err := NormalizeTags(decode(t, over)); apierr.KindOf(err) != apierr.Invalid {
		t.Errorf("8193 bytes: %v", err)
	}
}

func TestMergeTags(t *testing.T) {
	cases := []struct{ name, cur, patch, want string }{
		{"add", `{"a":1}`, `{"b":2}`, `{"a":1,"b":2}`},
		{"replace", `{"a":1}`, `{"a":"x"}`, `{"a":"x"}`},
		{"null removes", `{"a":1,"b":2}`, `{"a":null}`, `{"b":2}`},
		{"null of a missing key", `{"a":1}`, `{"z":null}`, `{"a":1}`},
		{"nested merge", `{"loc":{"b":"43","f":1}}`, `{"loc":{"f":2,"r":"12"}}`, `{"loc":{"b":"43","f":2,"r":"12"}}`},
		{"nested null", `{"loc":{"b":"43","f":1}}`, `{"loc":{"f":null}}`, `{"loc":{"b":"43"}}`},
		{"object over a scalar", `{"loc":"x"}`, `{"loc":{"f":1,"g":null}}`, `{"loc":{"f":1}}`},
		{"scalar over an object", `{"loc":{"f":1}}`, `{"loc":3}`, `{"loc":3}`},
		{"arrays replace", `{"l":[1,2]}`, `{"l":[3]}`, `{"l":[3]}`},
		{"into none", `{}`, `{"a":{"b":null,"c":1}}`, `{"a":{"c":1}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cur, _ := NormalizeTags(decode(t, tc.cur))
			before, _ := json.Marshal(cur)
			got, err := NormalizeTags(MergeTags(cur, decode(t, tc.patch)))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := NormalizeTags(decode(t, tc.want))
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			if after, _ := json.Marshal(cur); !bytes.Equal(before, after) {
				t.Fatalf("the patch changed the current tags: %s", after)
			}
		})
	}
}

// Tags writes: guarded by the twin's etag, retried on a lost race when
// unguarded, nothing written when nothing changes, and the device's etag
// moves with the twin's (one version).
func TestServiceTags(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	svc := &Service{Store: store, Now: time.Now}
	d, err := svc.Create(ctx, "d", Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if d.TwinETag() != "AAAAAAAAAAE=" {
		t.Fatalf("twin etag %s", d.TwinETag())
	}
	d2, err := svc.UpdateTags(ctx, "d", decode(t, `{"site":"b43","loc":{"floor":1}}`), `"`+d.TwinETag()+`"`)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Version != 2 || d2.TwinETag() != "AAAAAAAAAAI=" || d2.ETag() == d.ETag() || d2.Tags["site"] != "b43" {
		t.Fatalf("after the patch: %+v", d2)
	}
	if _, err := svc.UpdateTags(ctx, "d", decode(t, `{"site":"x"}`), d.TwinETag()); apierr.KindOf(err) != apierr.PreconditionFailed {
		t.Fatalf("stale twin etag: %v", err)
	}
	if _, err := svc.UpdateTags(ctx, "d", decode(t, `{"site":"x"}`), d2.ETag()); apierr.KindOf(err) != apierr.PreconditionFailed {
		t.Fatalf("the device's etag is not the twin's: %v", err)
	}
	same, err := svc.UpdateTags(ctx, "d", decode(t, `{"loc":{"floor":1}}`), "*")
	if err != nil || same.Version != 2 {
		t.Fatalf("a patch that changes nothing wrote: %+v %v", same, err)
	}
	if _, err := svc.UpdateTags(ctx, "d", decode(t, `{"bad.key":1}`), "*"); apierr.KindOf(err) != apierr.Invalid {
		t.Fatalf("bad key: %v", err)
	}
	d3, err := svc.ReplaceTags(ctx, "d", nil, "")
	if err != nil || d3.Tags != nil || d3.Version != 3 {
		t.Fatalf("replace with none: %+v %v", d3, err)
	}
	if _, err := svc.UpdateTags(ctx, "missing", decode(t, `{"a":1}`), "*"); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("missing device: %v", err)
	}
	// A device update keeps the tags.
	if _, err := svc.UpdateTags(ctx, "d", decode(t, `{"a":1}`), "*"); err != nil {
		t.Fatal(err)
	}
	if u, err := svc.Update(ctx, "d", Spec{Status: StatusDisabled}, "*"); err != nil || u.Tags["a"] != 1.0 {
		t.Fatalf("update lost the tags: %+v %v", u, err)
	}
}

// racingStore loses the first Replace to another writer, as DynamoDB's
// condition would.
type racingStore struct {
	*memStore
	lost bool
}

func (s *racingStore) Replace(ctx context.Context, d Device, prev int64) error {
	if !s.lost {
		s.lost = true
		cur := s.m[d.DeviceID]
		cur.Version++
		cur.Tags = map[string]any{"other": "writer"}
		s.m[d.DeviceID] = cur
	}
	return s.memStore.Replace(ctx, d, prev)
}

func TestServiceTagsRace(t *testing.T) {
	ctx := context.Background()
	store := &racingStore{memStore: newMemStore()}
	svc := &Service{Store: store, Now: time.Now}
	if _, err := svc.Create(ctx, "d", Spec{}); err != nil {
		t.Fatal(err)
	}
	d, err := svc.UpdateTags(ctx, "d", decode(t, `{"mine":1}`), "*")
	if err != nil || d.Tags["other"] != "writer" || d.Tags["mine"] != 1.0 {
		t.Fatalf("an unguarded patch applies to the winner's tags: %+v %v", d, err)
	}
	store.lost = false
	if _, err := svc.UpdateTags(ctx, "d", decode(t, `{"mine":2}`), d.TwinETag()); apierr.KindOf(err) != apierr.PreconditionFailed {
		t.Fatalf("a guarded patch that lost: %v", err)
	}
}
