package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/devicehub/devicehub/internal/config"
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
		Senders: senders,
		// LEAD: Tags: &registry.DynamoStore{DB: cl.DynamoDB, Table:
		// cfg.DevicesTable}, once its Tags method is merged; until then a
		// definition that reads $twin fails here ("no tag reader").
		Ledger:  NewRoutingStore(cfg, cl),
		HubName: rc.HubName,
		// LEAD: Permanent: endpoints.Permanent, once internal/endpoints is
		// merged; until then every failure is transient.
		Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return r, nil
}

// errNoSenders is EndpointSenders' answer until internal/endpoints is wired.
var errNoSenders = errors.New("app: the router cannot deliver to custom endpoints yet: internal/endpoints is not wired in (app.EndpointSenders)")

// EndpointSenders builds a sender for each of the definition's custom
// endpoints, with clients from awsCfg (the built-in endpoint needs none).
//
// LEAD: after merging internal/endpoints, make router.Message an alias
// (type Message = endpoints.Message) and replace the body with:
//
//	cl := endpoints.Clients{
//		Kinesis: awsenv.Kinesis(awsCfg, ""), S3: awsenv.S3(awsCfg, ""),
//		SQS: awsenv.SQS(awsCfg, ""), EventBridge: awsenv.EventBridge(awsCfg, ""),
//	}
//	out := map[string]router.Sender{}
//	for _, ep := range def.Endpoints {
//		s, err := endpoints.New(ep, cl)
//		if err != nil {
//			return nil, fmt.Errorf("app: %w", err)
//		}
//		out[ep.Name] = s
//	}
//	return out, nil
func EndpointSenders(awsCfg aws.Config, def routing.Definition) (map[string]router.Sender, error) {
	if len(def.Endpoints) > 0 {
		return nil, errNoSenders
	}
	return map[string]router.Sender{}, nil
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
	senders, err := EndpointSenders(awsCfg, rc.Definition)
	if err != nil {
		return nil, err
	}
	return NewRouter(cfg, rc, cl, senders, log)
}
