package app

import (
	"context"
	"strings"
	"testing"

	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/routing"
)

func TestRouterConfigFromEnv(t *testing.T) {
	const def = `{"routes":[{"name":"all","endpoints":["events"]}]}`
	cases := []struct {
		name    string
		vars    map[string]string
		hubName string
		routes  int
		err     string
	}{
		{"no routes", nil, "hub", 0, ""},
		{"a definition", map[string]string{schema.EnvRoutes: def}, "hub", 1, ""},
		{"a hub name", map[string]string{schema.EnvHubName: "contoso"}, "contoso", 0, ""},
		{"not JSON", map[string]string{schema.EnvRoutes: "{"}, "", 0, schema.EnvRoutes},
		{"invalid", map[string]string{schema.EnvRoutes: `{"routes":[{"name":"r","endpoints":["nowhere"]}]}`}, "", 0, "unknown endpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := RouterConfigFromEnv(func(k string) string { return tc.vars[k] }, "hub.example.com")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || rc.HubName != tc.hubName || len(rc.Definition.Routes) != tc.routes {
				t.Fatalf("%+v, %v", rc, err)
			}
		})
	}
}

func TestNewRouter(t *testing.T) {
	aws := awsenv.Static("us-east-1")
	cl := Clients{DynamoDB: awsenv.DynamoDB(aws, "http://127.0.0.1:9")}
	cfg := config.Config{DevicesTable: "d", RoutingTable: "r"}
	builtIn := routing.Definition{Routes: []routing.Route{{Name: "all", Endpoints: []string{routing.BuiltIn}}}}
	senders, err := EndpointSenders(AWSEndpointClients(aws), builtIn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRouter(cfg, RouterConfig{Definition: builtIn, HubName: "hub"}, cl, senders, nil); err != nil {
		t.Fatal(err)
	}
	custom := routing.Definition{
		Endpoints: []routing.Endpoint{{Name: "out", Kind: routing.Kinesis, Stream: "out"}},
		Routes:    []routing.Route{{Name: "all", Endpoints: []string{"out"}}},
	}
	all, err := EndpointSenders(AWSEndpointClients(aws), custom)
	if err != nil || all["out"] == nil {
		t.Fatalf("senders %v, err %v", all, err)
	}
	if _, err := NewRouter(cfg, RouterConfig{Definition: custom}, cl, nil, nil); err == nil || !strings.Contains(err.Error(), "no sender") {
		t.Fatalf("err %v", err)
	}
}

// The service role serves the routing statistics; the device role does not.
func TestBuildRoutingStats(t *testing.T) {
	aws := awsenv.Static("us-east-1")
	cl := Clients{DynamoDB: awsenv.DynamoDB(aws, "http://127.0.0.1:9"), Kinesis: awsenv.Kinesis(aws, "http://127.0.0.1:9")}
	cfg := config.Config{HubHost: "hub.example", OwnerKeyName: "iothubowner", OwnerKey: "a2V5", StreamName: "s", RoutingTable: "r"}
	for role, want := range map[Role]bool{Device: false, Service: true, All: true} {
		h, err := Build(context.Background(), cfg, cl, role, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Deps.Routing != nil; got != want {
			t.Errorf("role %d: routing statistics %t, want %t", role, got, want)
		}
	}
}
