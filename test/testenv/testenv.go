// Package testenv gives integration tests a hub wired to real emulators of
// the AWS APIs over the wire. It uses the emulators named by
// DEVICEHUB_TEST_KINESIS_ENDPOINT and DEVICEHUB_TEST_DYNAMODB_ENDPOINT (CI
// starts them), or starts its own from .tools for the test binary's lifetime;
// likewise DEVICEHUB_TEST_S3_ENDPOINT, or an S3 emulator served in-process.
// Each Env gets its own stream and tables, so tests never share state.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/devicehub/devicehub/internal/app"
	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/emulator"
	"github.com/devicehub/devicehub/internal/provision"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/sas"
)

// Host is the hub host name tests sign tokens for.
const Host = "devicehub.test"

var endpoints struct{ kinesis, dynamodb, s3 string }

// Main runs a test binary's tests with emulators available: pass it m from
// TestMain. It starts emulators only when the variables above are unset.
func Main(m *testing.M) {
	endpoints.kinesis, endpoints.dynamodb = os.Getenv(emulator.EnvKinesis), os.Getenv(emulator.EnvDynamoDB)
	var running *emulator.Running
	if endpoints.kinesis == "" || endpoints.dynamodb == "" {
		ctx := context.Background()
		wd, _ := os.Getwd()
		root, err := emulator.FindRoot(wd)
		if err == nil {
			err = emulator.Install(ctx, root, os.Stderr)
		}
		if err == nil {
			running, err = emulator.Start(ctx, emulator.Options{Root: root})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "testenv: cannot start emulators:", err)
			os.Exit(1)
		}
		endpoints.kinesis, endpoints.dynamodb = running.Kinesis, running.DynamoDB
	}
	stopS3 := func() {}
	if endpoints.s3 = os.Getenv(emulator.EnvS3); endpoints.s3 == "" {
		var err error
		if endpoints.s3, stopS3, err = emulator.StartS3(context.Background(), 0); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: cannot start the S3 emulator:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	stopS3()
	if running != nil {
		running.Stop()
	}
	os.Exit(code)
}

// Env is one isolated hub on the emulators.
type Env struct {
	Config    config.Config
	AWS       aws.Config
	Kinesis   *kinesis.Client
	DynamoDB  *dynamodb.Client
	S3        *s3.Client // the S3 emulator; tests create their own buckets
	Hub       *app.Hub
	Handler   http.Handler
	Server    *httptest.Server
	OwnerConn sas.ConnectionString
	Now       func() time.Time
}

// Options adjust New.
type Options struct {
	Now    func() time.Time                // clock for the hub; time.Now by default
	Config func(*config.Config)            // edits the configuration before the hub is built
	Wrap   func(http.Handler) http.Handler // wraps the handler served by Server
	Shards int32                           // stream shards, default 2
	// KinesisEndpoint replaces the emulator endpoint for the hub's Kinesis
	// client (e.g. a fault-injecting proxy in front of it).
	KinesisEndpoint string
}

// Endpoints returns the Kinesis and DynamoDB emulator URLs.
func Endpoints() (kinesisURL, dynamodbURL string) { return endpoints.kinesis, endpoints.dynamodb }

// S3Endpoint returns the S3 emulator URL; awsenv.S3 makes a client for it.
func S3Endpoint() string { return endpoints.s3 }

// New creates a fresh stream and tables with unique names and a hub serving
// every route over httptest.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	if endpoints.kinesis == "" {
		t.Fatal("testenv: call testenv.Main from TestMain")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Shards == 0 {
		o.Shards = 2
	}
	ctx := context.Background()
	suffix := randomHex(4)
	cfgAWS := awsenv.Static("us-east-1")
	env := &Env{AWS: cfgAWS, Now: o.Now}
	env.Kinesis = awsenv.Kinesis(cfgAWS, endpoints.kinesis)
	env.DynamoDB = awsenv.DynamoDB(cfgAWS, endpoints.dynamodb)
	env.S3 = awsenv.S3(cfgAWS, endpoints.s3)
	key := registry.NewKey()
	vars := map[string]string{
		schema.EnvHubHost:      Host,
		schema.EnvStreamName:   "t-" + suffix + "-" + schema.Telemetry.DefaultName,
		schema.EnvOwnerKey:     key,
		schema.EnvOwnerKeyName: schema.OwnerPolicyName,
	}
	names := map[string]string{}
	for _, tb := range schema.Tables() {
		names[tb.ID] = "t-" + suffix + "-" + tb.DefaultName
		vars[tb.EnvVar] = names[tb.ID]
	}
	cfg, err := config.FromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	// The emulators run on a shared, busy test machine; a request's deadline
	// there is generous, so tests see the hub's logic, not the machine's load.
	// internal/app tests the deadline itself.
	cfg.RequestTimeout = time.Minute
	if o.Config != nil {
		o.Config(&cfg)
	}
	env.Config = cfg
	if err := provision.CreateStream(ctx, env.Kinesis, cfg.StreamName, o.Shards); err != nil {
		t.Fatal(err)
	}
	// Give the shards back: the emulator caps the shards it holds (CI starts
	// kinesalite with --shardLimit 100), and a suite creates many streams.
	t.Cleanup(func() {
		_, _ = env.Kinesis.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: aws.String(cfg.StreamName)})
	})
	if err := provision.CreateTables(ctx, env.DynamoDB, schema.Tables(), names); err != nil {
		t.Fatal(err)
	}
	hubKinesis := env.Kinesis
	if o.KinesisEndpoint != "" {
		hubKinesis = awsenv.Kinesis(cfgAWS, o.KinesisEndpoint)
	}
	log := slog.New(slog.NewJSONHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	env.Hub, err = app.Build(ctx, cfg, app.Clients{DynamoDB: env.DynamoDB, Kinesis: hubKinesis}, app.All, log, o.Now)
	if err != nil {
		t.Fatal(err)
	}
	env.Handler = app.Handler(env.Hub)
	served := env.Handler
	if o.Wrap != nil {
		served = o.Wrap(served)
	}
	env.Server = httptest.NewServer(served)
	t.Cleanup(env.Server.Close)
	env.OwnerConn = sas.ConnectionString{HostName: Host, SharedAccessKeyName: schema.OwnerPolicyName, SharedAccessKey: key}
	return env
}

// OwnerToken returns a valid owner-policy Authorization header.
func (e *Env) OwnerToken(t testing.TB) string {
	t.Helper()
	tok, err := e.OwnerConn.Token(e.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// CreateDevice registers a device and returns its connection string.
func (e *Env) CreateDevice(t testing.TB, id string) sas.ConnectionString {
	t.Helper()
	d, err := e.Hub.Registry.Create(context.Background(), id, registry.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	return sas.ConnectionString{HostName: Host, DeviceID: id, SharedAccessKey: d.PrimaryKey}
}

// DeviceToken returns a valid device Authorization header.
func (e *Env) DeviceToken(t testing.TB, c sas.ConnectionString) string {
	t.Helper()
	tok, err := c.Token(e.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
