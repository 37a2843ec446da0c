package hub_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/devicehub/devicehub/infra/hub"
	"github.com/devicehub/devicehub/internal/app"
	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/schema"
)

func nagMessage() any { return assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")) }

// wantRoutes is Routes() as "METHOD /path" -> function logical id.
func wantRoutes(t *testing.T, f *fixture) map[string]string {
	out := map[string]string{}
	for _, r := range hub.Routes() {
		out[r.Method+" "+r.Path] = f.ref(t, f.hub.Functions[r.Function].FunctionName())
	}
	return out
}

func checkHTTPRoutes(t *testing.T, f *fixture) {
	integrations := map[string]string{} // integration id -> function id
	for id, in := range f.resources("AWS::ApiGatewayV2::Integration") {
		if in["IntegrationType"] != "AWS_PROXY" || in["PayloadFormatVersion"] != "2.0" {
			t.Errorf("integration %s: %s", id, canon(in))
		}
		if l, ok := dig(in, "IntegrationUri", "Fn::GetAtt").([]any); ok {
			integrations[id] = l[0].(string)
		}
	}
	got := map[string]string{}
	for id, r := range f.resources("AWS::ApiGatewayV2::Route") {
		target := canon(r["Target"])
		for integ, fn := range integrations {
			if strings.Contains(target, `"`+integ+`"`) {
				got[r["RouteKey"].(string)] = fn
			}
		}
		if _, ok := got[r["RouteKey"].(string)]; !ok {
			t.Errorf("route %s (%s) has no Lambda integration: %s", r["RouteKey"], id, target)
		}
	}
	compareRoutes(t, wantRoutes(t, f), got)
}

func checkRESTRoutes(t *testing.T, f *fixture) {
	resources := f.resources("AWS::ApiGateway::Resource")
	var path func(ref any) string
	path = func(ref any) string {
		if dig(ref, "Fn::GetAtt") != nil { // the API's root resource
			return ""
		}
		id, _ := dig(ref, "Ref").(string)
		r, ok := resources[id]
		if !ok {
			t.Fatalf("unknown resource %v", ref)
		}
		return path(r["ParentId"]) + "/" + r["PathPart"].(string)
	}
	fnIDs := map[string]bool{}
	for _, name := range hub.Functions() {
		fnIDs[f.ref(t, f.hub.Functions[name].FunctionName())] = true
	}
	got := map[string]string{}
	for id, m := range f.resources("AWS::ApiGateway::Method") {
		key := m["HttpMethod"].(string) + " " + path(m["ResourceId"])
		if m["AuthorizationType"] != "NONE" || dig(m, "Integration", "Type") != "AWS_PROXY" || dig(m, "Integration", "IntegrationHttpMethod") != "POST" {
			t.Errorf("%s (%s): %s", key, id, canon(m))
		}
		uri := canon(dig(m, "Integration", "Uri"))
		for fn := range fnIDs {
			if strings.Contains(uri, `"`+fn+`"`) {
				got[key] = fn
			}
		}
	}
	compareRoutes(t, wantRoutes(t, f), got)
}

func compareRoutes(t *testing.T, want, got map[string]string) {
	t.Helper()
	for k, fn := range want {
		if got[k] != fn {
			t.Errorf("route %s goes to %q, want %q", k, got[k], fn)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected route %s", k)
		}
	}
}

// TestRoutesServedByTheirFunction: every API Gateway route reaches a
// handler in the function it targets (the function's own internal/app role
// answers 401 to a request without a token, not 404/405), and not in the
// other one. hub.Routes is internal/hubapi.Routes, which the handler's own
// test holds equal to what its mux serves.
func TestRoutesServedByTheirFunction(t *testing.T) {
	vars := map[string]string{
		schema.EnvHubHost:  "hub.test",
		schema.EnvOwnerKey: base64.StdEncoding.EncodeToString(make([]byte, 32)),
	}
	cfg, err := config.FromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	// Clients that can never reach anything: no request below gets past
	// authentication.
	aws := awsenv.Static("us-east-1")
	cl := app.Clients{DynamoDB: awsenv.DynamoDB(aws, "http://127.0.0.1:9"), Kinesis: awsenv.Kinesis(aws, "http://127.0.0.1:9")}
	handlers := map[string]http.Handler{}
	for fn, role := range map[string]app.Role{hub.Ingress: app.Device, hub.Service: app.Service} {
		h, err := app.Build(context.Background(), cfg, cl, role, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		handlers[fn] = app.Handler(h)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, r := range hub.Routes() {
		path := strings.ReplaceAll(r.Path, "{sb}", "serviceBound")
		path = param.ReplaceAllString(path, "p1")
		for fn, h := range handlers {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(r.Method, path, strings.NewReader("{}")))
			served := rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed
			if fn == r.Function && rec.Code != http.StatusUnauthorized {
				t.Errorf("%s %s on %s: %d, want 401 from its handler: %s", r.Method, path, fn, rec.Code, rec.Body)
			}
			if fn != r.Function && served {
				t.Errorf("%s %s is also served by %s (%d): which function should get it?", r.Method, path, fn, rec.Code)
			}
		}
	}
}
