package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/devicehub/devicehub/internal/app"
	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/emulator"
	"github.com/devicehub/devicehub/internal/kinesisput"
	"github.com/devicehub/devicehub/internal/provision"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/sas"
)

// hubHost is the host name devices sign their tokens for.
const hubHost = "load.devicehub.test"

// EnvOptions configure Start.
type EnvOptions struct {
	Devices int
	Shards  int32 // stream shards; default 4
	// Root is the repository root, for starting emulators when the
	// variables above are unset; default: found from the working directory.
	Root string
}

// Env is a hub served by net/http on 127.0.0.1, on a fresh stream and fresh
// tables in the emulators, with registered devices.
type Env struct {
	URL     string
	Stream  string
	Kinesis *kinesis.Client
	// Ceiling writes to the stream with the hub's own PutRecords client.
	Ceiling *kinesisput.Client
	Devices []Device

	db     *dynamodb.Client
	tables []string
	srv    *http.Server
	emu    *emulator.Running
}

// Device is a registered device and its SAS token.
type Device struct {
	ID           string
	GenerationID string
	Token        string
}

// Start builds the environment; Close takes it down.
func Start(ctx context.Context, o EnvOptions) (_ *Env, err error) {
	if o.Devices <= 0 {
		return nil, errors.New("loadtest: at least one device")
	}
	if o.Shards <= 0 {
		o.Shards = 4
	}
	e := &Env{}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	kinURL, ddbURL := os.Getenv(emulator.EnvKinesis), os.Getenv(emulator.EnvDynamoDB)
	if kinURL == "" || ddbURL == "" {
		if kinURL, ddbURL, err = e.startEmulators(ctx, o.Root); err != nil {
			return nil, err
		}
	}
	awsCfg := awsenv.Static("us-east-1")
	e.Kinesis, e.db = awsenv.Kinesis(awsCfg, kinURL), awsenv.DynamoDB(awsCfg, ddbURL)

	suffix := randomHex(4)
	key := registry.NewKey()
	vars := map[string]string{
		schema.EnvHubHost:    hubHost,
		schema.EnvStreamName: "load-" + suffix + "-" + schema.Telemetry.DefaultName,
		schema.EnvOwnerKey:   key,
	}
	names := map[string]string{}
	for _, t := range schema.Tables() {
		names[t.ID] = "load-" + suffix + "-" + t.DefaultName
		vars[t.EnvVar] = names[t.ID]
	}
	cfg, err := config.FromEnv(func(k string) string { return vars[k] })
	if err != nil {
		return nil, err
	}
	// A loaded emulator answers slowly; the deadline is not what is measured.
	cfg.RequestTimeout = time.Minute
	if err := provision.CreateStream(ctx, e.Kinesis, cfg.StreamName, o.Shards); err != nil {
		return nil, err
	}
	e.Stream = cfg.StreamName
	if err := provision.CreateTables(ctx, e.db, schema.Tables(), names); err != nil {
		return nil, err
	}
	for _, n := range names {
		e.tables = append(e.tables, n)
	}
	hub, err := app.Build(ctx, cfg, app.Clients{DynamoDB: e.db, Kinesis: e.Kinesis}, app.All, nil, nil)
	if err != nil {
		return nil, err
	}
	if e.Ceiling, err = kinesisput.FromSDK(e.Kinesis, cfg.StreamName); err != nil {
		return nil, err
	}
	for i := range o.Devices {
		id := "load-device-" + strconv.Itoa(i)
		d, err := hub.Registry.Create(ctx, id, registry.Spec{})
		if err != nil {
			return nil, fmt.Errorf("loadtest: register %s: %w", id, err)
		}
		tok, err := sas.ConnectionString{HostName: hubHost, DeviceID: id, SharedAccessKey: d.PrimaryKey}.Token(time.Now(), 24*time.Hour)
		if err != nil {
			return nil, err
		}
		e.Devices = append(e.Devices, Device{ID: id, GenerationID: d.GenerationID, Token: tok})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loadtest: listen: %w", err)
	}
	e.srv = &http.Server{Handler: app.Handler(hub), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	e.URL = "http://" + ln.Addr().String()
	return e, nil
}

func (e *Env) startEmulators(ctx context.Context, root string) (kinesisURL, dynamodbURL string, err error) {
	if root == "" {
		wd, _ := os.Getwd()
		if root, err = emulator.FindRoot(wd); err != nil {
			return "", "", err
		}
	}
	if err := emulator.Install(ctx, root, os.Stderr); err != nil {
		return "", "", err
	}
	if e.emu, err = emulator.Start(ctx, emulator.Options{Root: root}); err != nil {
		return "", "", err
	}
	return e.emu.Kinesis, e.emu.DynamoDB, nil
}

// Close stops the server, deletes the stream and tables (an emulator caps
// the shards it holds) and stops emulators Start started.
func (e *Env) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e.srv != nil {
		_ = e.srv.Shutdown(ctx)
	}
	if e.Stream != "" {
		_, _ = e.Kinesis.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(e.Stream)})
	}
	for _, t := range e.tables {
		_, _ = e.db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(t)})
	}
	if e.emu != nil {
		e.emu.Stop()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
