// Package endpoints delivers routed messages to the custom endpoints of a
// routing definition (shared/routing): Kinesis streams, S3 buckets, SQS
// queues and EventBridge buses. The router (internal/router) builds one
// Sender per endpoint with New and hands it the messages a batch routes
// there; each Sender answers one error per message, and Permanent tells the
// router which failures to dead-letter rather than retry.
//
// Ordered endpoints (Kinesis, FIFO SQS) keep each device's order: no call
// carries two messages of one device (they go in "waves", see sendOrdered),
// and after a device's message fails, its later messages of the same Send
// are not attempted. Unordered endpoints (S3, standard SQS, EventBridge)
// send all their calls at once.
//
// Tests: the Kinesis sender runs against kinesalite and the S3 sender
// against the S3 emulator (gofakes3), both over the wire. No emulator here
// speaks the JSON protocol of the current SQS SDK, and EventBridge has none,
// so the SQS and EventBridge senders are tested against fakes of SQSAPI and
// EventBridgeAPI that check the calls' limits and answer partial failures.
package endpoints

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/devicehub/devicehub/shared/routing"
)

// Message is one routed message for one endpoint.
type Message struct {
	// DeviceID is the Kinesis partition key and the SQS FIFO message group.
	DeviceID string
	// UniqueID identifies the message for deduplication: the message id if
	// set, else the source record's sequence number. With DeviceID it makes
	// the SQS FIFO deduplication id and the S3 object name.
	UniqueID string
	// Sequence is the source record's sequence number: unique per record
	// and the same on every retry of it (empty when unknown). It names the
	// message in S3 object names, where two messages with one message id
	// (a device that reuses ids) must not make the same key.
	Sequence string
	// Time is the message's enqueued time: the S3 key's date and hour, and
	// the EventBridge event's time.
	Time time.Time
	// Data is the routed message: a JSON telemetry envelope.
	Data []byte
}

// Sender delivers messages to one endpoint. Implementations are safe for
// concurrent use.
type Sender interface {
	// Send returns one error per message, nil when it was delivered.
	// Ordered endpoints (Kinesis, FIFO SQS) never deliver a message after
	// an undelivered earlier message of the same device within one call.
	Send(ctx context.Context, msgs []Message) []error
}

// KinesisAPI is the part of the Kinesis client the Kinesis sender uses.
type KinesisAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// S3API is the part of the S3 client the S3 sender uses.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// SQSAPI is the part of the SQS client the SQS sender uses.
type SQSAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// EventBridgeAPI is the part of the EventBridge client the EventBridge
// sender uses.
type EventBridgeAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Clients are the service clients senders use; only the kinds a definition
// names need one (awsenv builds them).
type Clients struct {
	Kinesis     KinesisAPI
	S3          S3API
	SQS         SQSAPI
	EventBridge EventBridgeAPI
}

// New returns the Sender of a custom endpoint whose resource is resolved
// (the built-in endpoint has none: the router writes nothing for it).
func New(ep routing.Endpoint, c Clients) (Sender, error) {
	missing := func(what string) error {
		return fmt.Errorf("endpoints: %s endpoint %q: %s", ep.Kind, ep.Name, what)
	}
	switch ep.Kind {
	case routing.Kinesis:
		if ep.Stream == "" {
			return nil, missing("no stream")
		}
		if c.Kinesis == nil {
			return nil, missing("no Kinesis client")
		}
		return &kinesisSender{api: c.Kinesis, stream: ep.Stream}, nil
	case routing.S3:
		if ep.Bucket == "" {
			return nil, missing("no bucket")
		}
		if c.S3 == nil {
			return nil, missing("no S3 client")
		}
		return &s3Sender{api: c.S3, bucket: ep.Bucket, prefix: ep.PrefixOrDefault()}, nil
	case routing.SQS:
		if ep.Queue == "" {
			return nil, missing("no queue URL")
		}
		if c.SQS == nil {
			return nil, missing("no SQS client")
		}
		// A FIFO queue's name ends in .fifo; it rejects messages without a
		// group, so the name alone makes the endpoint FIFO.
		fifo := ep.FIFO || strings.HasSuffix(ep.Queue, ".fifo")
		return &sqsSender{api: c.SQS, queue: ep.Queue, fifo: fifo}, nil
	case routing.EventBridge:
		if c.EventBridge == nil {
			return nil, missing("no EventBridge client")
		}
		return &eventBridgeSender{api: c.EventBridge, bus: ep.Bus}, nil
	}
	return nil, fmt.Errorf("endpoints: endpoint %q: unknown kind %q", ep.Name, ep.Kind)
}
