package hub

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/devicehub/devicehub/shared/routing"
)

// ConsumerOptions configure AddConsumer. The zero value reads the telemetry
// stream, polling, with StreamReading's defaults.
type ConsumerOptions struct {
	// Endpoint is the stream to read: "" or routing.BuiltIn ("events") for
	// the telemetry stream, or the name of a kinesis endpoint of
	// Props.Routing.
	Endpoint string
	// EnhancedFanOut registers a stream consumer for the function: records
	// are pushed to it with its own 2 MB/s per shard, at ~70 ms, instead of
	// its polling share of the shard's 2 MB/s and 5 reads/s, which every
	// polling reader (the router included) divides. Billed per
	// consumer-shard-hour and per GB read (README "Consumers").
	EnhancedFanOut bool
	// OnFailure receives a message per batch the mapping gives up on (the
	// shard and sequence numbers, not the records); default a queue created
	// for it (SSE, TLS only, kept 14 days).
	OnFailure awssqs.IQueue
	StreamReading
}

// Consumer is what AddConsumer built.
type Consumer struct {
	Function       awslambda.IFunction
	Mapping        awslambda.EventSourceMapping
	StreamConsumer awskinesis.StreamConsumer // with EnhancedFanOut
	OnFailure      awssqs.IQueue
	// Alarms: the consumer's lag (its IteratorAge) and the batches it
	// gave up on, notifying the hub's alarm topic.
	Alarms []awscloudwatch.Alarm
}

// AddConsumer attaches fn to the telemetry stream, or to a routing
// endpoint's stream, with the event source mapping settings the router
// uses: from the oldest record (TRIM_HORIZON), partial batch responses
// (return the first failed record, as shared/telemetry.HandleKinesisEvent
// does), a failing batch split in two, bounded retries and record age, and
// an on-failure queue. It grants fn the read (the stream's read actions and
// kms:Decrypt on its key; with EnhancedFanOut also SubscribeToShard and
// DescribeStreamConsumer on its consumer) and adds two alarms and, with the
// dashboard, a row. id names the constructs, under the hub.
func (h *Hub) AddConsumer(id string, fn awslambda.IFunction, o ConsumerOptions) (*Consumer, error) {
	stream, retention, err := h.consumerStream(o.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("hub: consumer %s: %w", id, err)
	}
	if err := o.StreamReading.defaults(retention); err != nil {
		return nil, fmt.Errorf("hub: consumer %s: %w", id, err)
	}
	if fn == nil {
		return nil, fmt.Errorf("hub: consumer %s: no function", id)
	}
	scope := constructs.NewConstruct(h.Construct, jsii.String(id))
	c := &Consumer{Function: fn, OnFailure: o.OnFailure}
	if c.OnFailure == nil {
		c.OnFailure = h.onFailureQueue(scope, "OnFailure", "consumer "+id)
	}
	source := stream.StreamArn()
	if o.EnhancedFanOut {
		c.StreamConsumer = awskinesis.NewStreamConsumer(scope, jsii.String("StreamConsumer"), &awskinesis.StreamConsumerProps{
			Stream: stream,
			// Unique per stream, at most 128 characters.
			StreamConsumerName: awscdk.Names_UniqueResourceName(scope, &awscdk.UniqueResourceNameOptions{MaxLength: jsii.Number(128)}),
		})
		c.StreamConsumer.GrantRead(fn)
		source = c.StreamConsumer.StreamConsumerArn()
	} else {
		stream.GrantRead(fn)
	}
	c.Mapping = readStream(scope, "Mapping", fn, source, o.StreamReading, c.OnFailure)
	c.Alarms = h.addAlarms(scope, h.readerAlarms("", "consumer "+id, fn, c.OnFailure))
	if h.Dashboard != nil {
		h.Dashboard.AddWidgets(h.readerWidgets("Consumer "+id, fn, c.OnFailure)...)
	}
	h.Consumers = append(h.Consumers, c)
	return c, nil
}

// consumerStream is the stream an endpoint name designates and its
// retention (0 when the stack did not create it: unknown).
func (h *Hub) consumerStream(endpoint string) (awskinesis.IStream, time.Duration, error) {
	if endpoint == "" || endpoint == routing.BuiltIn {
		return h.Stream, h.Props.StreamRetention, nil
	}
	if h.Routing == nil {
		return nil, 0, fmt.Errorf("endpoint %q: the hub has no routing endpoints", endpoint)
	}
	s, ok := h.Routing.Streams[endpoint]
	if !ok {
		return nil, 0, fmt.Errorf("endpoint %q is not a kinesis endpoint of the routing definition", endpoint)
	}
	if h.Routing.created[endpoint] {
		return s, endpointStreamRetention, nil
	}
	return s, 0, nil
}

// exampleConsumer deploys functions/consumer on the telemetry stream. It
// takes no reserved concurrency: it is a demonstration, capped anyway by
// the shards it reads.
func (h *Hub) exampleConsumer() error {
	fn := h.newFunction(h.Construct, "ExampleConsumerFunction", "example consumer", ExampleConsumerAsset,
		"devicehub example consumer: logs every telemetry message", exampleConsumerTimeout, map[string]*string{}, Unreserved)
	c, err := h.AddConsumer("ExampleConsumer", fn, ConsumerOptions{})
	h.ExampleConsumer = c
	return err
}

// exampleConsumerTimeout is the example consumer's timeout, in seconds.
const exampleConsumerTimeout = 30
