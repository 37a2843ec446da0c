// Package app assembles the hub from its configuration and AWS clients: the
// one place that turns config into stores, domain services and the API's
// dependencies. Lambda main.go files and the local runner both call it, so
// local mode runs exactly the handlers Lambda runs.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/hubapi"
	"github.com/devicehub/devicehub/internal/kinesisput"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/schema"
)

// Role selects which routes a process serves.
type Role int

// Roles: the device-facing function, the service-facing function, or both
// (local mode).
const (
	Device Role = 1 << iota
	Service
	All = Device | Service
)

// Clients are the AWS clients the hub uses.
type Clients struct {
	DynamoDB *dynamodb.Client
	Kinesis  *kinesis.Client
}

// Hub is an assembled hub.
type Hub struct {
	Deps     hubapi.Deps
	Auth     *registry.Authenticator
	Registry *registry.Service
	CAs      *registry.CAService // CA certificates, with the service role
	// Sweep runs one sweeper pass (cloud-to-device expiry and repair, and
	// the lifecycle events a crash left owed when the registry writes them). The
	// local runner calls it on a schedule, as EventBridge does in AWS; nil
	// when the role has no sweeper.
	Sweep func(ctx context.Context) error

	requestTimeout time.Duration
	eventFormat    string
}

// Build wires config and clients into the API's dependencies for role.
func Build(ctx context.Context, cfg config.Config, cl Clients, role Role, log *slog.Logger, now func() time.Time) (*Hub, error) {
	if now == nil {
		now = time.Now
	}
	if log != nil {
		// Lines the queue logs while serving a request carry its id and device.
		log = slog.New(hubapi.LogHandler(log.Handler()))
	}
	if role&Service != 0 && cfg.OwnerKey == "" {
		return nil, fmt.Errorf("app: the service role needs the owner policy key (%s or %s)", schema.EnvOwnerKey, schema.EnvOwnerSecretARN)
	}
	store := &registry.DynamoStore{DB: cl.DynamoDB, Table: cfg.DevicesTable}
	caStore := &registry.DynamoCAStore{DB: cl.DynamoDB, Table: cfg.DevicesTable}
	auth, err := registry.NewAuthenticator(registry.AuthConfig{
		HubHost: cfg.HubHost, Devices: store, CAs: caStore, PolicyKey: cfg.OwnerKey, Policy: cfg.OwnerKeyName,
		Now: now, CacheTTL: cfg.AuthCacheTTL, CacheSize: cfg.AuthCacheSize,
	})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	timeout := cfg.RequestTimeout
	if timeout <= 0 {
		timeout = config.DefaultRequestTimeout
	}
	h := &Hub{Auth: auth, Deps: hubapi.Deps{Auth: auth, Logger: log, Now: now}, requestTimeout: timeout, eventFormat: cfg.EventFormat}
	if role&Service != 0 {
		lifecycle, err := NewLifecycle(cfg, cl, log)
		if err != nil {
			return nil, err
		}
		h.Registry = &registry.Service{Store: store, Now: now, Cache: auth, Lifecycle: lifecycle}
		h.Deps.Registry = h.Registry
		h.CAs = &registry.CAService{Store: caStore, Now: now, Cache: auth}
		h.Deps.CAs = h.CAs
	}
	if role&Device != 0 {
		// The lean PutRecords client takes the SDK client's region, endpoint,
		// credentials and HTTP client; the SDK's per-call cost is the bulk of
		// the ingress path otherwise (see BENCHMARKS.md).
		stream, err := kinesisput.FromSDK(cl.Kinesis, cfg.StreamName)
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
		h.Deps.Telemetry = &d2c.Ingestor{Stream: stream, Now: now, RecordVersion: cfg.RecordVersion}
	}
	buildRouting(h, cfg, cl, role)
	if err := buildC2D(ctx, h, cfg, cl, role, log, now); err != nil {
		return nil, err
	}
	addLifecycleSweep(h, log)
	return h, nil
}

// LambdaHandler is the hub's API as a Lambda handler for the payload version
// the configuration names.
func (h *Hub) LambdaHandler() any { return LambdaHandler(Handler(h), h.eventFormat) }

// Handler returns the API handler of an assembled hub, with the request
// deadline that bounds its AWS calls (deadline.go).
func Handler(h *Hub) http.Handler { return withDeadline(hubapi.New(h.Deps), h.requestTimeout) }
