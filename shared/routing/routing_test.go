package routing

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func valid() Definition {
	return Definition{
		Endpoints: []Endpoint{
			{Name: "hot", Kind: Kinesis},
			{Name: "archive", Kind: S3, Prefix: "telemetry/"},
		},
		Routes: []Route{
			{Name: "alerts", Condition: "$body.temperature > 30", Endpoints: []string{"hot", BuiltIn}},
			{Name: "all", Endpoints: []string{"archive"}},
			{Name: "lifecycle", Source: SourceDeviceLifecycleEvents, Endpoints: []string{"hot"}},
		},
		Enrichments: []Enrichment{{Key: "hub", Value: "$iothubname", Endpoints: []string{"hot"}}},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Definition)
		want   string // substring of the error; "" for valid
	}{
		{"valid", func(*Definition) {}, ""},
		{"empty", func(d *Definition) { *d = Definition{} }, ""},
		{"bad condition names route and position", func(d *Definition) { d.Routes[0].Condition = "$body.temperature >" }, `route "alerts": condition: position`},
		{"unknown endpoint", func(d *Definition) { d.Routes[1].Endpoints = []string{"nowhere"} }, `route "all": unknown endpoint "nowhere"`},
		{"route without endpoints", func(d *Definition) { d.Routes[1].Endpoints = nil }, `route "all": names no endpoint`},
		{"endpoint twice in a route", func(d *Definition) { d.Routes[1].Endpoints = []string{"hot", "hot"} }, `endpoint "hot" named twice`},
		{"duplicate route", func(d *Definition) { d.Routes[1].Name = "alerts" }, `route "alerts": name used twice`},
		{"bad route name", func(d *Definition) { d.Routes[1].Name = "a b" }, `names are 1-64`},
		{"unknown source", func(d *Definition) { d.Routes[2].Source = "TwinChangeEvents" }, `source "TwinChangeEvents"`},
		{"endpoint named like the built-in", func(d *Definition) { d.Endpoints[0].Name = BuiltIn }, `name used twice (or the built-in`},
		{"unknown kind", func(d *Definition) { d.Endpoints[0].Kind = "kafka" }, `kind "kafka"`},
		{"field of another kind", func(d *Definition) { d.Endpoints[0].Bucket = "b" }, `a kinesis endpoint has a field of a s3 endpoint`},
		{"absolute prefix", func(d *Definition) { d.Endpoints[1].Prefix = "/x/" }, `must not start with /`},
		{"enrichment $ value", func(d *Definition) { d.Enrichments[0].Value = "$deviceId" }, `must be $iothubname or $twin.tags.<path>`},
		{"enrichment twin tag", func(d *Definition) { d.Enrichments[0].Value = "$twin.tags.site" }, ""},
		{"enrichment key twice", func(d *Definition) {
			d.Enrichments = append(d.Enrichments, Enrichment{Key: "HUB", Value: "x", Endpoints: []string{"hot"}})
		}, `key used twice`},
		{"fallback unknown endpoint", func(d *Definition) { d.Fallback.Endpoints = []string{"nope"} }, `fallback route: unknown endpoint "nope"`},
		{"too long condition", func(d *Definition) { d.Routes[0].Condition = strings.Repeat("a", MaxConditionLen+1) }, `longer than 1024`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := valid()
			tt.change(&d)
			err := d.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate passed, want an error with %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate: %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	d := valid()
	if got := d.FallbackEndpoints(); len(got) != 1 || got[0] != BuiltIn {
		t.Errorf("default fallback = %v, want [%s]", got, BuiltIn)
	}
	d.Fallback = Fallback{Endpoints: []string{"archive"}}
	if got := d.FallbackEndpoints(); len(got) != 1 || got[0] != "archive" {
		t.Errorf("fallback = %v", got)
	}
	d.Fallback.Disabled = true
	if got := d.FallbackEndpoints(); got != nil {
		t.Errorf("disabled fallback = %v", got)
	}
	if !d.HasLifecycleRoutes() {
		t.Error("HasLifecycleRoutes = false with a lifecycle route")
	}
	d.Routes[2].Disabled = true
	if d.HasLifecycleRoutes() {
		t.Error("HasLifecycleRoutes = true with the lifecycle route disabled")
	}
	if r := (Route{}); r.ConditionOrDefault() != "true" || r.SourceOrDefault() != SourceDeviceMessages {
		t.Errorf("route defaults = %q, %q", r.ConditionOrDefault(), r.SourceOrDefault())
	}
	if (Endpoint{}).PrefixOrDefault() != "devicehub/" {
		t.Error("default prefix")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"endpoints":[{"name":"hot","kind":"kinesis"}],
	  "routes":[{"name":"r","condition":"$body.t > 1","endpoints":["hot"]}]}`)
	d, err := Load(good)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(d.Routes) != 1 || d.Routes[0].Endpoints[0] != "hot" {
		t.Fatalf("Load = %+v", d)
	}
	for name, body := range map[string]string{
		"unknown-field.json": `{"routes":[],"rutes":[]}`,
		"bad-query.json":     `{"routes":[{"name":"r","condition":"(a = 1","endpoints":["events"]}]}`,
		"not-json.json":      `{`,
	} {
		if _, err := Load(write(name, body)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Load(%s) = %v, want an error naming the file", name, err)
		}
	}
}
