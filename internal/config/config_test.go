package config

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/schema"
)

func TestFromEnv(t *testing.T) {
	base := map[string]string{schema.EnvHubHost: "hub.example"}
	cases := []struct {
		name  string
		vars  map[string]string
		check func(Config) bool
		err   bool
	}{
		{"defaults", nil, func(c Config) bool {
			return c.C2DDefaultTTL == time.Hour && c.C2DMaxDelivery == 10 && c.C2DMaxQueue == 50 && c.AuthCacheTTL == 30*time.Second &&
				c.AuthCacheSize == 10_000 && c.RequestTimeout == 8*time.Second && c.StreamName == schema.Telemetry.DefaultName && c.DevicesTable == schema.Devices.DefaultName && c.OwnerKeyName == "iothubowner"
		}, false},
		{"overrides", map[string]string{schema.EnvC2DDefaultTTL: "2m", schema.EnvC2DMaxQueue: "1000", schema.EnvAuthCacheTTL: "0s", schema.EnvDevicesTable: "t1"},
			func(c Config) bool {
				return c.C2DDefaultTTL == 2*time.Minute && c.C2DMaxQueue == 1000 && c.AuthCacheTTL == 0 && c.DevicesTable == "t1"
			}, false},
		{"routing table", map[string]string{schema.EnvRoutingTable: "r1"}, func(c Config) bool { return c.RoutingTable == "r1" }, false},
		{"routing table default", nil, func(c Config) bool { return c.RoutingTable == schema.Routing.DefaultName }, false},
		{"cache size and request timeout", map[string]string{schema.EnvAuthCacheSize: "200000", schema.EnvRequestTimeout: "20s"},
			func(c Config) bool { return c.AuthCacheSize == 200_000 && c.RequestTimeout == 20*time.Second }, false},
		{"cache size 0", map[string]string{schema.EnvAuthCacheSize: "0"}, nil, true},
		{"record version default 2", nil, func(c Config) bool { return c.RecordVersion == 2 }, false},
		{"record version 1", map[string]string{schema.EnvRecordVersion: "1"}, func(c Config) bool { return c.RecordVersion == 1 }, false},
		{"record version 3", map[string]string{schema.EnvRecordVersion: "3"}, nil, true},
		{"hub name and lifecycle events by default", nil, func(c Config) bool { return c.HubName == "hub" && !c.LifecycleEvents }, false},
		{"hub name and lifecycle events", map[string]string{schema.EnvHubName: "fleet-1", schema.EnvLifecycleEvents: "1"},
			func(c Config) bool { return c.HubName == "fleet-1" && c.LifecycleEvents }, false},
		{"lifecycle events 0", map[string]string{schema.EnvLifecycleEvents: "0"}, func(c Config) bool { return !c.LifecycleEvents }, false},
		{"lifecycle events yes", map[string]string{schema.EnvLifecycleEvents: "yes"}, nil, true},
		{"request timeout under a second", map[string]string{schema.EnvRequestTimeout: "500ms"}, nil, true},
		{"no host", map[string]string{schema.EnvHubHost: ""}, nil, true},
		{"ttl too short", map[string]string{schema.EnvC2DDefaultTTL: "30s"}, nil, true},
		{"ttl too long", map[string]string{schema.EnvC2DDefaultTTL: "49h"}, nil, true},
		{"ttl not a duration", map[string]string{schema.EnvC2DDefaultTTL: "soon"}, nil, true},
		{"max delivery 0", map[string]string{schema.EnvC2DMaxDelivery: "0"}, nil, true},
		{"max delivery 101", map[string]string{schema.EnvC2DMaxDelivery: "101"}, nil, true},
		{"queue not a number", map[string]string{schema.EnvC2DMaxQueue: "many"}, nil, true},
		{"owner key not base64", map[string]string{schema.EnvOwnerKey: "%%"}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range base {
				vars[k] = v
			}
			for k, v := range tc.vars {
				vars[k] = v
			}
			c, err := FromEnv(func(k string) string { return vars[k] })
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if !tc.err && !tc.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

type secretFake map[string]string

func (s secretFake) SecretString(_ context.Context, arn string) (string, error) {
	v, ok := s[arn]
	if !ok {
		return "", errors.New("no such secret")
	}
	return v, nil
}

func TestResolveOwnerKey(t *testing.T) {
	secrets := secretFake{"good": `{"keyName":"owner","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`, "bad": `{"key":"%%"}`, "text": "plain"}
	cases := []struct {
		arn, key string
		want     string
		err      bool
	}{
		{arn: "good", want: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		{arn: "bad", err: true},
		{arn: "text", err: true},
		{arn: "missing", err: true},
		{key: "c2VjcmV0", want: "c2VjcmV0"},
		{err: true},
	}
	for _, tc := range cases {
		c := Config{OwnerSecretARN: tc.arn, OwnerKey: tc.key, OwnerKeyName: "iothubowner"}
		err := c.ResolveOwnerKey(context.Background(), secrets)
		if (err != nil) != tc.err || (!tc.err && c.OwnerKey != tc.want) {
			t.Errorf("arn %q key %q: err %v key %q", tc.arn, tc.key, err, c.OwnerKey)
		}
		if tc.arn == "good" && c.OwnerKeyName != "owner" {
			t.Errorf("key name %q", c.OwnerKeyName)
		}
	}
}
