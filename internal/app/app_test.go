package app

import (
	"context"
	"strings"
	"testing"

	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/registry"
)

// The device role builds without the owner key (the ingress function is not
// granted the owner secret) and refuses every service token; the service role
// refuses to start without it.
func TestBuildOwnerKeyByRole(t *testing.T) {
	cfg := config.Config{HubHost: "hub.example", OwnerKeyName: "iothubowner", StreamName: "s"}
	// Building makes no AWS call; the clients only need to exist.
	aws := awsenv.Static("us-east-1")
	cl := Clients{DynamoDB: awsenv.DynamoDB(aws, "http://127.0.0.1:9"), Kinesis: awsenv.Kinesis(aws, "http://127.0.0.1:9")}
	h, err := Build(context.Background(), cfg, cl, Device, nil, nil)
	if err != nil {
		t.Fatalf("device role without owner key: %v", err)
	}
	if err := h.Auth.Service(context.Background(), "SharedAccessSignature sr=hub.example&sig=x&se=9999999999&skn=iothubowner", "/devices"); err == nil {
		t.Fatal("a function without the owner key accepted a service token")
	}
	for _, role := range []Role{Service, All} {
		if _, err := Build(context.Background(), cfg, cl, role, nil, nil); err == nil || !strings.Contains(err.Error(), "owner policy key") {
			t.Fatalf("role %d without owner key: err = %v, want a start-up error", role, err)
		}
	}
	cfg.OwnerKey = registry.NewKey()
	if _, err := Build(context.Background(), cfg, cl, Service, nil, nil); err != nil {
		t.Fatalf("service role with owner key: %v", err)
	}
}
