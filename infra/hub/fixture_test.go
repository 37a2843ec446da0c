package hub_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/devicehub/devicehub/infra/hub"
)

// TestMain closes the jsii runtime (one Node process per test binary) once.
func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// fixture is one synthesized stack, checked by cdk-nag, as JSON.
type fixture struct {
	stack       awscdk.Stack
	hub         *hub.Hub
	template    map[string]any
	tmpl        assertions.Template
	annotations assertions.Annotations
}

// synth builds a stack from props the way the CDK app does (cdk.json's
// feature flags, the AwsSolutions pack) and synthesizes it. CDK reports
// failures by panicking; synth turns them into test failures.
func synth(t *testing.T, props hub.Props) *fixture {
	t.Helper()
	return synthStack(t, hub.StackProps{Hub: props})
}

// synthStack is synth with stack-level props too; the environment is fixed.
func synthStack(t *testing.T, sp hub.StackProps) *fixture {
	t.Helper()
	return synthWith(t, func(constructs.Construct) hub.StackProps { return sp }, nil)
}

// synthWith is synthStack for props that hold resources of their own (the
// routing endpoints' existing streams, queues, buckets), which props
// imports into scope, another stack of the app; after, when not nil, adds
// to the hub (AddConsumer) before synthesis.
func synthWith(t *testing.T, props func(scope constructs.Construct) hub.StackProps, after func(*hub.Hub)) (f *fixture) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("synth: %v", r)
		}
	}()
	ctx := cdkContext(t)
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())})
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	env := &awscdk.Environment{Region: jsii.String("eu-west-1"), Account: jsii.String("123456789012")}
	existing := awscdk.NewStack(app, jsii.String("Existing"), &awscdk.StackProps{Env: env})
	// A stack needs a resource; imported ones are none.
	awscdk.NewCfnWaitConditionHandle(existing, jsii.String("Placeholder"), nil)
	sp := props(existing)
	sp.Hub.AssetDir = assets(t)
	sp.Env = env
	stack, h, err := hub.NewStack(app, "Test", &sp)
	if err != nil {
		t.Fatal(err)
	}
	if after != nil {
		after(h)
	}
	tmpl := assertions.Template_FromStack(stack, nil)
	f = &fixture{stack: stack, hub: h, template: *tmpl.ToJSON(), tmpl: tmpl, annotations: assertions.Annotations_FromStack(stack)}
	return f
}

// must runs CDK assertions, which panic when they fail, reporting a
// failure as a test error.
func must(t *testing.T, what string, assertions func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	assertions()
}

// logicalID is the logical id of a construct's CloudFormation resource.
func (f *fixture) logicalID(c constructs.IConstruct) string {
	return *f.stack.GetLogicalId(c.Node().DefaultChild().(awscdk.CfnElement))
}

// cdkContext is the context block of the repository's cdk.json, so tests
// synthesize with the feature flags `cdk synth` uses.
func cdkContext(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Context
}

// assets is an asset directory holding a stand-in bootstrap per function
// (the router and the example consumer included): the template refers to
// the asset by hash, its content does not matter here (test/lambdarie runs
// the real ones).
func assets(t *testing.T) string {
	dir := t.TempDir()
	for _, fn := range append(hub.Functions(), hub.Router, hub.ExampleConsumerAsset) {
		if err := os.MkdirAll(filepath.Join(dir, fn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fn, "bootstrap"), []byte("#!/bin/sh\n# "+fn+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// resources returns the Properties of every resource of type typ by logical id.
func (f *fixture) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range f.template["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == typ {
			props, _ := r["Properties"].(map[string]any)
			out[id] = props
		}
	}
	return out
}

// resource returns one resource's full definition (Properties, DeletionPolicy...).
func (f *fixture) resource(t *testing.T, id string) map[string]any {
	t.Helper()
	r, ok := f.template["Resources"].(map[string]any)[id].(map[string]any)
	if !ok {
		t.Fatalf("no resource %s", id)
	}
	return r
}

// ref is the logical id a Ref token (e.g. table.TableName()) resolves to.
func (f *fixture) ref(t *testing.T, token *string) string {
	t.Helper()
	r, ok := f.stack.Resolve(token).(map[string]any)
	id, ok2 := r["Ref"].(string)
	if !ok || !ok2 {
		t.Fatalf("token resolves to %v, not a Ref", f.stack.Resolve(token))
	}
	return id
}

// getAtt is {"Fn::GetAtt": [id, attr]}.
func getAtt(id, attr string) any { return map[string]any{"Fn::GetAtt": []any{id, attr}} }

// canon is a value's canonical JSON, to compare template fragments.
func canon(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// strs reads a string-or-list template field as a sorted list.
func strs(v any) []string {
	var out []string
	switch v := v.(type) {
	case string:
		out = []string{v}
	case []any:
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
	}
	sort.Strings(out)
	return out
}

// list reads a single-or-list template field as a list.
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// dig follows keys through nested objects.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func diffSets(want, got []string) string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, s := range want {
		w[s] = true
	}
	for _, s := range got {
		g[s] = true
	}
	var b strings.Builder
	for _, s := range want {
		if !g[s] {
			fmt.Fprintf(&b, "\n  missing: %s", s)
		}
	}
	for _, s := range got {
		if !w[s] {
			fmt.Fprintf(&b, "\n  unexpected: %s", s)
		}
	}
	return b.String()
}
