// Package config reads the hub's settings from environment variables named
// in internal/schema, with IoT Hub's defaults and ranges.
package config

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/devicehub/devicehub/internal/c2d"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// Config is everything a function needs to build its stores and handlers.
type Config struct {
	HubHost       string
	StreamName    string
	DevicesTable  string
	C2DTable      string
	FeedbackTable string
	RoutingTable  string

	OwnerKeyName   string
	OwnerKey       string // base64
	OwnerSecretARN string

	C2DDefaultTTL  time.Duration
	C2DMaxDelivery int
	C2DMaxQueue    int
	FeedbackTTL    time.Duration
	AuthCacheTTL   time.Duration
	AuthCacheSize  int
	// RequestTimeout bounds a request with no deadline of its own (the local
	// server); in Lambda the invocation's deadline bounds it too.
	RequestTimeout time.Duration
	// EventFormat is the API Gateway payload version the function's front
	// door sends (EventFormatV1 or EventFormatV2); empty: probe each event.
	EventFormat string
	// RecordVersion is the telemetry record envelope the ingress writes:
	// telemetry.V2 (default, compact) or telemetry.V1.
	RecordVersion int
	// HubName is the hub's name in lifecycle events (hubName): by default
	// the first label of HubHost.
	HubName string
	// LifecycleEvents makes the registry write device lifecycle events to
	// the telemetry stream (a route takes them).
	LifecycleEvents bool
}

// API Gateway payload versions, as the events' "version" field spells them.
const (
	EventFormatV1 = "1.0" // REST API
	EventFormatV2 = "2.0" // HTTP API, Lambda function URLs
)

// Defaults and limits, as IoT Hub's where it has them. The queue's defaults
// are the c2d package's own, so a hub configured with nothing and a queue
// built with zero Options behave alike.
const (
	DefaultC2DTTL         = c2d.DefaultTTL
	MinC2DTTL             = c2d.MinTTL // the default TTL must be one a message may have
	MaxC2DTTL             = c2d.MaxTTL
	DefaultMaxDelivery    = c2d.DefaultMaxDelivery
	MaxDeliveryLimit      = 100
	DefaultMaxQueue       = c2d.DefaultMaxQueue
	MaxQueueLimit         = 5000
	DefaultFeedbackTTL    = c2d.DefaultFeedbackTTL
	MinFeedbackTTL        = time.Minute
	MaxFeedbackTTL        = 48 * time.Hour
	DefaultAuthCache      = 30 * time.Second
	DefaultAuthCacheSize  = 10_000
	MaxAuthCacheSize      = 1_000_000
	DefaultRequestTimeout = 8 * time.Second // below the functions' 10 s timeout in the stack
	MinRequestTimeout     = time.Second
	MaxRequestTimeout     = 5 * time.Minute
	MaxAuthCache          = 5 * time.Minute
)

// FromEnv reads the configuration through getenv (os.Getenv in main).
func FromEnv(getenv func(string) string) (Config, error) {
	str := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	c := Config{
		HubHost:        getenv(schema.EnvHubHost),
		StreamName:     str(schema.EnvStreamName, schema.Telemetry.DefaultName),
		DevicesTable:   str(schema.EnvDevicesTable, schema.Devices.DefaultName),
		C2DTable:       str(schema.EnvC2DTable, schema.C2D.DefaultName),
		FeedbackTable:  str(schema.EnvFeedbackTable, schema.Feedback.DefaultName),
		RoutingTable:   str(schema.EnvRoutingTable, schema.Routing.DefaultName),
		OwnerKeyName:   str(schema.EnvOwnerKeyName, schema.OwnerPolicyName),
		OwnerKey:       getenv(schema.EnvOwnerKey),
		OwnerSecretARN: getenv(schema.EnvOwnerSecretARN),
	}
	var err error
	if c.C2DDefaultTTL, err = duration(getenv, schema.EnvC2DDefaultTTL, DefaultC2DTTL, MinC2DTTL, MaxC2DTTL); err != nil {
		return Config{}, err
	}
	if c.FeedbackTTL, err = duration(getenv, schema.EnvFeedbackTTL, DefaultFeedbackTTL, MinFeedbackTTL, MaxFeedbackTTL); err != nil {
		return Config{}, err
	}
	if c.AuthCacheTTL, err = duration(getenv, schema.EnvAuthCacheTTL, DefaultAuthCache, 0, MaxAuthCache); err != nil {
		return Config{}, err
	}
	if c.AuthCacheSize, err = integer(getenv, schema.EnvAuthCacheSize, DefaultAuthCacheSize, 1, MaxAuthCacheSize); err != nil {
		return Config{}, err
	}
	if c.RequestTimeout, err = duration(getenv, schema.EnvRequestTimeout, DefaultRequestTimeout, MinRequestTimeout, MaxRequestTimeout); err != nil {
		return Config{}, err
	}
	switch c.EventFormat = getenv(schema.EnvEventFormat); c.EventFormat {
	case "", EventFormatV1, EventFormatV2:
	default:
		return Config{}, fmt.Errorf("config: %s must be %s or %s, not %q", schema.EnvEventFormat, EventFormatV1, EventFormatV2, c.EventFormat)
	}
	if c.RecordVersion, err = integer(getenv, schema.EnvRecordVersion, telemetry.Version, telemetry.V1, telemetry.V2); err != nil {
		return Config{}, err
	}
	if c.C2DMaxDelivery, err = integer(getenv, schema.EnvC2DMaxDelivery, DefaultMaxDelivery, 1, MaxDeliveryLimit); err != nil {
		return Config{}, err
	}
	if c.C2DMaxQueue, err = integer(getenv, schema.EnvC2DMaxQueue, DefaultMaxQueue, 1, MaxQueueLimit); err != nil {
		return Config{}, err
	}
	if c.HubHost == "" {
		return Config{}, fmt.Errorf("config: %s is required", schema.EnvHubHost)
	}
	c.HubName = str(schema.EnvHubName, strings.SplitN(c.HubHost, ".", 2)[0])
	switch v := getenv(schema.EnvLifecycleEvents); v {
	case "", "0":
	case "1":
		c.LifecycleEvents = true
	default:
		return Config{}, fmt.Errorf("config: %s must be 1 or 0, not %q", schema.EnvLifecycleEvents, v)
	}
	if c.OwnerKey != "" {
		if _, err := base64.StdEncoding.DecodeString(c.OwnerKey); err != nil {
			return Config{}, fmt.Errorf("config: %s is not base64: %w", schema.EnvOwnerKey, err)
		}
	}
	return c, nil
}

func duration(getenv func(string) string, name string, def, lo, hi time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("config: %s: %w", name, err)
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("config: %s=%s is outside %s..%s", name, v, lo, hi)
	}
	return d, nil
}

func integer(getenv func(string) string, name string, def, lo, hi int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("config: %s: %w", name, err)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("config: %s=%d is outside %d..%d", name, n, lo, hi)
	}
	return n, nil
}

// SecretGetter reads a secret's string value (Secrets Manager in AWS).
type SecretGetter interface {
	SecretString(ctx context.Context, arn string) (string, error)
}

// OwnerSecret is the JSON stored in the owner policy secret.
type OwnerSecret struct {
	KeyName string `json:"keyName"`
	Key     string `json:"key"`
}

// ResolveOwnerKey fills OwnerKey from the secret when only its ARN is set.
func (c *Config) ResolveOwnerKey(ctx context.Context, sg SecretGetter) error {
	if c.OwnerKey != "" {
		return nil
	}
	if c.OwnerSecretARN == "" {
		return fmt.Errorf("config: set %s or %s", schema.EnvOwnerKey, schema.EnvOwnerSecretARN)
	}
	raw, err := sg.SecretString(ctx, c.OwnerSecretARN)
	if err != nil {
		return fmt.Errorf("config: read owner secret: %w", err)
	}
	var s OwnerSecret
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return fmt.Errorf("config: owner secret is not JSON: %w", err)
	}
	if _, err := base64.StdEncoding.DecodeString(s.Key); err != nil || s.Key == "" {
		return fmt.Errorf("config: owner secret key is not base64")
	}
	c.OwnerKey = s.Key
	if s.KeyName != "" {
		c.OwnerKeyName = s.KeyName
	}
	return nil
}
