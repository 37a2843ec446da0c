package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/endpoints"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/router"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/routing"
)

// RouterConfig is what the router needs beyond config.Config.
type RouterConfig struct {
	// Definition is the routing definition with every endpoint's resource
	// filled in (schema.EnvRoutes), validated.
	Definition routing.Definition
	// HubName is $iothubname (schema.EnvHubName, default the first label
	// of the hub host).
	HubName string
}

// RouterConfigFromEnv reads the router's configuration through getenv;
// hubHost is config.Config's.
func RouterConfigFromEnv(getenv func(string) string, hubHost string) (RouterConfig, error) {
	var rc RouterConfig
	if raw := getenv(schema.EnvRoutes); raw != "" {
		def, err := routing.Decode([]byte(raw))
		if err != nil {
			return RouterConfig{}, fmt.Errorf("app: %s: %w", schema.EnvRoutes, err)
		}
		rc.Definition = def
	}
	rc.HubName = getenv(schema.EnvHubName)
	if rc.HubName == "" {
		rc.HubName, _, _ = strings.Cut(hubHost, ".")
	}
	return rc, nil
}

// NewRoutingStore is the Routing table of cfg: the router's dead letters
// and counters.
func NewRoutingStore(cfg config.Config, cl Clients) *router.Store {
	return &router.Store{DB: cl.DynamoDB, Table: cfg.RoutingTable}
}

// buildRouting serves the routing statistics with the service role. The
// service function has no definition: the answer holds what was counted.
func buildRouting(h *Hub, cfg config.Config, cl Clients, role Role) {
	if role&Service != 0 {
		h.Deps.Routing = &router.Stats{Store: NewRoutingStore(cfg, cl)}
	}
}

// NewRouter assembles the router of rc's definition: senders deliver to
// its endpoints (EndpointSenders), the registry reads devices' tags, and
// the Routing table keeps dead letters and counters. The router function
// and the local hub's stream poller call it.
func NewRouter(cfg config.Config, rc RouterConfig, cl Clients, senders map[string]router.Sender, log *slog.Logger) (*router.Router, error) {
	r, err := router.New(rc.Definition, router.Options{
		Senders:   senders,
		Tags:      &registry.DynamoStore{DB: cl.DynamoDB, Table: cfg.DevicesTable},
		Ledger:    NewRoutingStore(cfg, cl),
		HubName:   rc.HubName,
		Permanent: endpoints.Permanent,
		Logger:    log,
	})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return r, nil
}

// EndpointSenders builds a sender for each of the definition's custom
// endpoints on clients c (the built-in endpoint needs none).
func EndpointSenders(c endpoints.Clients, def routing.Definition) (map[string]router.Sender, error) {
	out := make(map[string]router.Sender, len(def.Endpoints))
	for _, ep := range def.Endpoints {
		s, err := endpoints.New(ep, c)
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
		out[ep.Name] = s
	}
	return out, nil
}

// AWSEndpointClients are the endpoint senders' clients on awsCfg, at AWS's
// own endpoints (or the standard AWS_ENDPOINT_URL_* variables).
func AWSEndpointClients(awsCfg aws.Config) endpoints.Clients {
	return endpoints.Clients{
		Kinesis: awsenv.Kinesis(awsCfg, ""), S3: awsenv.S3(awsCfg, ""),
		SQS: awsenv.SQS(awsCfg, ""), EventBridge: awsenv.EventBridge(awsCfg, ""),
	}
}

// RouterFromEnvironment builds the router function's router: the
// configuration from the environment, AWS clients from the default chain.
func RouterFromEnvironment(ctx context.Context, log *slog.Logger) (*router.Router, error) {
	cfg, awsCfg, cl, err := LoadEnvironment(ctx)
	if err != nil {
		return nil, err
	}
	rc, err := RouterConfigFromEnv(os.Getenv, cfg.HubHost)
	if err != nil {
		return nil, err
	}
	senders, err := EndpointSenders(AWSEndpointClients(awsCfg), rc.Definition)
	if err != nil {
		return nil, err
	}
	return NewRouter(cfg, rc, cl, senders, log)
}
