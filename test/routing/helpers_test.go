// Package routing proves issue 11's message routing end to end on the
// emulators: devices send over the hub's HTTP API (SAS), the stream feeder
// (the local stand-in for Lambda's Kinesis event source mapping) hands the
// telemetry stream to the router, and the tests read what the endpoints
// received: Kinesis streams on kinesalite, JSON-lines objects on the S3
// emulator, the counters and dead letters through GET /devicehub/routing.
// The definition is infra/routes.local.json, the one the docs run, with
// its endpoints resolved to per-test resources.
//
// BenchmarkRouteLatency measures what routing adds between a device's 204
// and the message on a Kinesis endpoint (issue 11's one-second bound).
package routing

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/devicehub/devicehub/internal/app"
	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/endpoints"
	"github.com/devicehub/devicehub/internal/localhub"
	"github.com/devicehub/devicehub/internal/provision"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/internal/streamfeed"
	"github.com/devicehub/devicehub/shared/hubclient"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/routing"
	"github.com/devicehub/devicehub/shared/telemetry"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// definitionFile is the definition docs/ROUTING.md runs locally.
const definitionFile = "../../infra/routes.local.json"

// hubName is $iothubname: set, so that the enrichment's value is shown to
// come from the configuration.
const hubName = "routing-test"

// waitTimeout bounds every wait on the router, generously for a loaded
// 2-core CI machine; the waits poll and return as soon as they can.
const waitTimeout = 45 * time.Second

// hub is a hub on the emulators with the definition's endpoint resources.
type hub struct {
	t   testing.TB
	env *testenv.Env
	def routing.Definition // the definition, its endpoints resolved to this hub's resources
	svc *hubclient.Client  // the owner policy
}

// hubOptions adjust newHub.
type hubOptions struct {
	// missing names endpoints whose resource is named but never created:
	// every send to them fails, permanently.
	missing []string
}

// newHub loads the documented definition and creates a hub and a stream
// or bucket for each endpoint, named after the hub's own resources. As the
// local hub and the stack do, the registry writes lifecycle events when a
// route takes them.
func newHub(t testing.TB, o hubOptions) *hub {
	t.Helper()
	def, err := routing.Load(definitionFile)
	if err != nil {
		t.Fatal(err)
	}
	env := testenv.New(t, testenv.Options{Config: func(c *config.Config) {
		c.HubName = hubName
		c.LifecycleEvents = def.HasLifecycleRoutes()
	}})
	ctx := context.Background()
	// testenv names the stream t-<random>-<default>: the endpoints share
	// its prefix.
	prefix := strings.TrimSuffix(env.Config.StreamName, schema.Telemetry.DefaultName) + "route-"
	def.Endpoints = slices.Clone(def.Endpoints)
	for i := range def.Endpoints {
		ep := &def.Endpoints[i]
		name := prefix + strings.ToLower(strings.ReplaceAll(ep.Name, "_", "-"))
		create := !slices.Contains(o.missing, ep.Name)
		switch ep.Kind {
		case routing.Kinesis:
			ep.Stream = name
			if !create {
				continue
			}
			if err := provision.CreateStream(ctx, env.Kinesis, name, 1); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, _ = env.Kinesis.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: &name})
			})
		case routing.S3:
			ep.Bucket = name
			if !create {
				continue
			}
			if _, err := env.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("endpoint %q: %s endpoints have no emulator here", ep.Name, ep.Kind)
		}
	}
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	svc := hubclient.New(env.Server.URL, env.OwnerConn)
	svc.HTTP = env.Server.Client()
	return &hub{t: t, env: env, def: def, svc: svc}
}

// endpoint returns the definition's endpoint by name.
func (h *hub) endpoint(name string) routing.Endpoint {
	h.t.Helper()
	for _, ep := range h.def.Endpoints {
		if ep.Name == name {
			return ep
		}
	}
	h.t.Fatalf("the definition has no endpoint %q", name)
	return routing.Endpoint{}
}

// device creates a device over the registry API, sets its tags when given
// (the twin API), and returns a client that sends as the device.
func (h *hub) device(id string, tags map[string]any) *hubclient.Client {
	h.t.Helper()
	ctx := context.Background()
	d, err := h.svc.CreateDevice(ctx, id, iothub.Device{})
	if err != nil {
		h.t.Fatal(err)
	}
	if tags != nil {
		if _, err := h.svc.UpdateTags(ctx, id, tags, ""); err != nil {
			h.t.Fatal(err)
		}
	}
	c := hubclient.New(h.env.Server.URL, h.svc.DeviceConnectionString(d))
	c.HTTP = h.env.Server.Client()
	return c
}

// process is one router process's way to the emulators: every AWS client
// of a feeder and its router (endpoints, tags, ledger, checkpoints, the
// telemetry stream) goes through it. kill is the process's death: no
// request leaves it any more, and its feeder's context ends. A request in
// flight completes (within requestTimeout) rather than being aborted, since
// kinesalite and dynalite die of a request cut mid-body (streamfeed's
// detached calls say the same).
type process struct {
	http   aws.HTTPClient
	dead   atomic.Bool
	cancel context.CancelFunc
}

// requestTimeout bounds one request of a process.
const requestTimeout = 30 * time.Second

var errKilled = errors.New("the router process was killed")

func (p *process) Do(req *http.Request) (*http.Response, error) {
	if p.dead.Load() {
		return nil, errKilled
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), requestTimeout)
	resp, err := p.http.Do(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

// cancelOnClose ends a request's context once its response is read.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	defer c.cancel()
	return c.ReadCloser.Close()
}

func (p *process) kill() {
	p.dead.Store(true)
	p.cancel()
}

// routerProcess is a running feeder and router.
type routerProcess struct {
	*process
	done chan struct{} // closed when the feeder has stopped
}

// stop ends the process and waits for its feeder.
func (r *routerProcess) stop() {
	r.cancel()
	<-r.done
}

// routerOptions adjust startRouter.
type routerOptions struct {
	// wrap wraps the endpoints' clients, e.g. to kill the process at a
	// chosen call.
	wrap func(*process, endpoints.Clients) endpoints.Clients
	// batchSize is the feeder's batch size; default the event source
	// mapping's.
	batchSize int
}

// startRouter runs a router process on the hub's telemetry stream, built as
// the local hub builds it (internal/localhub/routing.go): the router of
// app.NewRouter with app.EndpointSenders, fed by a streamfeed.Feeder at
// localhub.FeedPoll whose checkpoints live in the hub's Routing table. It
// stops when the test ends, or at stop or kill.
func (h *hub) startRouter(o routerOptions) *routerProcess {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &process{http: awshttp.NewBuildableClient(), cancel: cancel}
	cfg := awsenv.Static("us-east-1")
	cfg.HTTPClient = p
	// A dead process retries nothing: the SDK's standard retryer, but not
	// for the requests a killed process refuses.
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				if errors.Is(err, errKilled) {
					return aws.FalseTernary
				}
				return aws.UnknownTernary
			})}, o.Retryables...)
		})
	}
	kinesisURL, dynamoURL := testenv.Endpoints()
	cl := app.Clients{Kinesis: awsenv.Kinesis(cfg, kinesisURL), DynamoDB: awsenv.DynamoDB(cfg, dynamoURL)}
	ec := endpoints.Clients{Kinesis: cl.Kinesis, S3: awsenv.S3(cfg, testenv.S3Endpoint())}
	if o.wrap != nil {
		ec = o.wrap(p, ec)
	}
	log := slog.New(slog.NewJSONHandler(h.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	senders, err := app.EndpointSenders(ec, h.def)
	if err != nil {
		h.t.Fatal(err)
	}
	r, err := app.NewRouter(h.env.Config, app.RouterConfig{Definition: h.def, HubName: h.env.Config.HubName}, cl, senders, log)
	if err != nil {
		h.t.Fatal(err)
	}
	f := &streamfeed.Feeder{
		Kinesis: cl.Kinesis, Stream: h.env.Config.StreamName, Poll: localhub.FeedPoll, BatchSize: o.batchSize, Log: log,
		Checkpoints: streamfeed.DynamoCheckpoints{Client: cl.DynamoDB, Table: h.env.Config.RoutingTable},
	}
	rp := &routerProcess{process: p, done: make(chan struct{})}
	go func() {
		defer close(rp.done)
		if err := f.Run(ctx, r.Handle); err != nil {
			h.t.Error("feeder:", err)
		}
	}()
	h.t.Cleanup(rp.stop)
	return rp
}

// readStream returns every record on a Kinesis stream, decoded, each shard
// from its start to its tip.
func readStream(ctx context.Context, k *kinesis.Client, stream string) ([]telemetry.Message, error) {
	shards, err := k.ListShards(ctx, &kinesis.ListShardsInput{StreamName: &stream})
	if err != nil {
		return nil, err
	}
	var out []telemetry.Message
	for _, s := range shards.Shards {
		it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: &stream, ShardId: s.ShardId, ShardIteratorType: kinesistypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			return nil, err
		}
		for iter := it.ShardIterator; iter != nil; {
			recs, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				return nil, err
			}
			for _, r := range recs.Records {
				m, err := telemetry.Decode(r.Data)
				if err != nil {
					return nil, fmt.Errorf("stream %s, record %s: %w\n%s", stream, aws.ToString(r.SequenceNumber), err, r.Data)
				}
				m.SequenceNumber, m.PartitionKey = aws.ToString(r.SequenceNumber), aws.ToString(r.PartitionKey)
				out = append(out, m)
			}
			if len(recs.Records) == 0 && aws.ToInt64(recs.MillisBehindLatest) == 0 {
				break
			}
			iter = recs.NextShardIterator
		}
	}
	return out, nil
}

// mustReadStream is readStream for a test's own reads.
func (h *hub) mustReadStream(stream string) []telemetry.Message {
	h.t.Helper()
	msgs, err := readStream(context.Background(), h.env.Kinesis, stream)
	if err != nil {
		h.t.Fatal(err)
	}
	return msgs
}

// archived is one line of an object an S3 endpoint wrote.
type archived struct {
	key string
	msg telemetry.Message
}

// hourKey is the layout of an S3 endpoint's keys after the prefix: the
// enqueued time's UTC hour, then the object's name.
var hourKey = regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\d{2}/[^/]+\.jsonl$`)

// readBucket returns every line of every object under the endpoint's
// prefix, decoded with telemetry.Decode, and checks the layout: keys under
// Prefix/YYYY/MM/DD/HH/ of each message's enqueued hour, JSON lines.
func (h *hub) readBucket(ep routing.Endpoint) []archived {
	h.t.Helper()
	ctx := context.Background()
	var out []archived
	in := &s3.ListObjectsV2Input{Bucket: &ep.Bucket, Prefix: aws.String(ep.PrefixOrDefault())}
	for p := s3.NewListObjectsV2Paginator(h.env.S3, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !hourKey.MatchString(strings.TrimPrefix(key, ep.PrefixOrDefault())) {
				h.t.Errorf("object %s is not under %sYYYY/MM/DD/HH/", key, ep.PrefixOrDefault())
			}
			obj, err := h.env.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &ep.Bucket, Key: &key})
			if err != nil {
				h.t.Fatal(err)
			}
			body, err := io.ReadAll(obj.Body)
			_ = obj.Body.Close()
			if err != nil {
				h.t.Fatal(err)
			}
			if ct := aws.ToString(obj.ContentType); ct != endpoints.ContentTypeJSONLines {
				h.t.Errorf("object %s: content type %q", key, ct)
			}
			sc := bufio.NewScanner(bytes.NewReader(body))
			sc.Buffer(nil, 2<<20)
			for sc.Scan() {
				m, err := telemetry.Decode(sc.Bytes())
				if err != nil {
					h.t.Fatalf("object %s: %v\n%s", key, err, sc.Bytes())
				}
				if want := ep.PrefixOrDefault() + m.EnqueuedTime.UTC().Format("2006/01/02/15/"); !strings.HasPrefix(key, want) {
					h.t.Errorf("message %s enqueued at %v is in %s, want under %s", m.MessageID, m.EnqueuedTime, key, want)
				}
				out = append(out, archived{key: key, msg: m})
			}
		}
	}
	return out
}

// countKey names a route's and endpoint's counters.
type countKey struct{ route, endpoint string }

// counted is what the statistics count, delivered and dead-lettered.
type counted struct{ delivered, deadLettered int64 }

// counts reads GET /devicehub/routing: the rows that count something, and
// the whole answer.
func (h *hub) counts(ctx context.Context) (map[countKey]counted, iothub.RoutingStats, error) {
	st, err := h.svc.RoutingStats(ctx)
	if err != nil {
		return nil, st, err
	}
	out := map[countKey]counted{}
	for _, r := range st.Routes {
		if r.Delivered != 0 || r.DeadLettered != 0 {
			out[countKey{r.Route, r.Endpoint}] = counted{r.Delivered, r.DeadLettered}
		}
	}
	return out, st, nil
}

// waitCounts waits until the statistics count exactly want, and returns
// them. The router counts a batch after delivering it, so once the counts
// are complete every endpoint has what it will get.
func (h *hub) waitCounts(want map[countKey]counted) iothub.RoutingStats {
	h.t.Helper()
	var st iothub.RoutingStats
	eventually(h.t, "routing statistics", func() (bool, string) {
		got, s, err := h.counts(context.Background())
		if err != nil {
			return false, err.Error()
		}
		st = s
		return maps.Equal(got, want), fmt.Sprintf("counts %v, want %v", got, want)
	})
	return st
}

// eventually polls cond until it holds or waitTimeout passes, then fails
// the test with cond's last note.
func eventually(t testing.TB, what string, cond func() (ok bool, note string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, note := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, waitTimeout, note)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// send sends one message as a device and fails the test on an error.
func send(t testing.TB, dev *hubclient.Client, m hubclient.Message) {
	t.Helper()
	if err := dev.SendEvent(context.Background(), m); err != nil {
		t.Fatalf("device %s, message %s: %v", dev.Conn.DeviceID, m.MessageID, err)
	}
}

// jsonMessage is a telemetry message with a JSON body, as IoT Hub needs
// it for $body conditions (content type and encoding).
func jsonMessage(id, body string) hubclient.Message {
	return hubclient.Message{MessageID: id, Body: []byte(body), ContentType: "application/json", ContentEncoding: "utf-8"}
}
