package localhub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/devicehub/devicehub/internal/app"
	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/emulator"
	"github.com/devicehub/devicehub/internal/endpoints"
	"github.com/devicehub/devicehub/internal/provision"
	"github.com/devicehub/devicehub/internal/router"
	"github.com/devicehub/devicehub/internal/streamfeed"
	"github.com/devicehub/devicehub/shared/routing"
)

// localRouting is the local stand-in for the stack's router: endpoint
// resources on the emulators, the same router the Lambda function runs, and
// a stream feeder in place of Lambda's event source mapping.
type localRouting struct {
	def      routing.Definition // endpoints resolved to their local resources
	s3       string             // the S3 emulator's endpoint, when an endpoint needs one
	stopS3   func()
	router   *router.Router
	feeder   *streamfeed.Feeder
	feedDone chan struct{}
}

// FeedPoll is how long the local feeder waits after an empty read of a
// shard: Lambda's mapping polls each shard about once a second; locally a
// tenth keeps routing latency well inside a second.
const FeedPoll = 100 * time.Millisecond

// routeResourcePrefix names what the local hub creates for an endpoint
// that names no resource.
const routeResourcePrefix = "devicehub-route-"

// startRouting creates def's endpoint resources on the emulators and starts
// feeding the telemetry stream to the router. Kinesis endpoints live on the
// Kinesis emulator, S3 endpoints on an in-process S3 emulator; SQS and
// EventBridge have no emulator here, so a definition using them does not
// start locally.
func startRouting(ctx context.Context, def routing.Definition, cfg config.Config, cl app.Clients, log *slog.Logger) (*localRouting, error) {
	lr := &localRouting{def: def, stopS3: func() {}}
	lr.def.Endpoints = append([]routing.Endpoint(nil), def.Endpoints...)
	var s3c *s3.Client
	for i := range lr.def.Endpoints {
		ep := &lr.def.Endpoints[i]
		switch ep.Kind {
		case routing.Kinesis:
			if ep.Stream == "" {
				ep.Stream = routeResourcePrefix + ep.Name
			}
			if err := provision.CreateStream(ctx, cl.Kinesis, ep.Stream, 1); err != nil {
				lr.stopS3()
				return nil, err
			}
		case routing.S3:
			if s3c == nil {
				url, stop, err := emulator.StartS3(ctx, 0)
				if err != nil {
					return nil, err
				}
				lr.s3, lr.stopS3 = url, stop
				s3c = awsenv.S3(awsenv.Static("us-east-1"), url)
			}
			if ep.Bucket == "" {
				ep.Bucket = bucketName(ep.Name)
			}
			if err := createBucket(ctx, s3c, ep.Bucket); err != nil {
				lr.stopS3()
				return nil, err
			}
		default:
			lr.stopS3()
			return nil, fmt.Errorf("localhub: endpoint %q: %s endpoints do not run locally (no emulator of %s is available here; docs/ROUTING.md); deploy the stack to use them", ep.Name, ep.Kind, ep.Kind)
		}
	}
	senders, err := app.EndpointSenders(endpoints.Clients{Kinesis: cl.Kinesis, S3: s3c}, lr.def)
	if err == nil {
		lr.router, err = app.NewRouter(cfg, app.RouterConfig{Definition: lr.def, HubName: cfg.HubName}, cl, senders, log)
	}
	if err != nil {
		lr.stopS3()
		return nil, err
	}
	lr.feeder = &streamfeed.Feeder{
		Kinesis: cl.Kinesis, Stream: cfg.StreamName, Poll: FeedPoll, Log: log,
		Checkpoints: streamfeed.DynamoCheckpoints{Client: cl.DynamoDB, Table: cfg.RoutingTable},
	}
	lr.feedDone = make(chan struct{})
	return lr, nil
}

// run feeds the router until ctx ends.
func (lr *localRouting) run(ctx context.Context, log *slog.Logger) {
	defer close(lr.feedDone)
	if err := lr.feeder.Run(ctx, lr.router.Handle); err != nil {
		log.Error("routing stopped", slog.Any("error", err))
	}
}

// stop waits for the feeder (its ctx must have ended) and stops the S3
// emulator.
func (lr *localRouting) stop() {
	<-lr.feedDone
	lr.stopS3()
}

// resources names each endpoint's local resource, for the state file.
func (lr *localRouting) resources() map[string]string {
	out := map[string]string{}
	for _, ep := range lr.def.Endpoints {
		switch ep.Kind {
		case routing.Kinesis:
			out[ep.Name] = "kinesis stream " + ep.Stream
		case routing.S3:
			out[ep.Name] = "s3 bucket " + ep.Bucket + " prefix " + ep.PrefixOrDefault()
		}
	}
	return out
}

var notBucketChar = regexp.MustCompile(`[^a-z0-9-]+`)

// bucketName makes a valid S3 bucket name from an endpoint name (endpoint
// names may hold upper case and '_', bucket names may not).
func bucketName(endpoint string) string {
	n := routeResourcePrefix + notBucketChar.ReplaceAllString(strings.ToLower(endpoint), "-")
	return strings.TrimRight(n[:min(len(n), 63)], "-")
}

func createBucket(ctx context.Context, c *s3.Client, bucket string) error {
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
	var owned *s3types.BucketAlreadyOwnedByYou
	var exists *s3types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("localhub: create bucket %s: %w", bucket, err)
	}
	return nil
}
