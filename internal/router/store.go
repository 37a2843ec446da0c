package router

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/schema"
)

// DynamoDB is the part of the DynamoDB client the Routing table needs.
type DynamoDB interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store is the Routing table (internal/schema/routing.go): the router's
// Ledger, and what Stats reads.
type Store struct {
	DB    DynamoDB
	Table string
	Now   func() time.Time // for the counters' update time and the dead letters' expiry
}

var _ Ledger = (*Store)(nil)

// Item attributes of the Routing table besides its keys.
const (
	attrRoute        = "route"
	attrEndpoint     = "endpoint"
	attrDelivered    = "delivered"
	attrDeadLettered = "deadLettered"
	attrUpdated      = "updatedAt" // N: epoch ms of the last count
)

// Keys: the counters' partition, the prefix of a route's dead letters'
// partition, and the separator in sort keys (route and endpoint names
// never hold it).
const (
	countPartition = "count"
	deadPrefix     = "dead#"
	keySep         = "#"
)

// concurrency bounds the concurrent requests of one call.
const concurrency = 8

// maxStoredMessage bounds the routed message a dead letter keeps, under
// DynamoDB's 400 KB item limit with room for the other attributes.
const maxStoredMessage = 350 << 10

// maxReason bounds a dead letter's reason.
const maxReason = 1024

// deadLetterItem is a dead letter as stored.
type deadLetterItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Route     string `dynamodbav:"route"`
	Endpoint  string `dynamodbav:"endpoint"`
	Reason    string `dynamodbav:"reason"`
	DeviceID  string `dynamodbav:"deviceId,omitempty"`
	MessageID string `dynamodbav:"messageId,omitempty"`
	Seq       string `dynamodbav:"seq"`
	Enqueued  int64  `dynamodbav:"enqueuedAt,omitempty"` // epoch ms
	At        int64  `dynamodbav:"at"`                   // epoch ms, when dead-lettered
	Size      int    `dynamodbav:"size"`                 // of the routed message
	Message   []byte `dynamodbav:"message,omitempty"`    // its first maxStoredMessage bytes
	TTL       int64  `dynamodbav:"ttl"`                  // epoch s
}

// skTimeLayout is the dead letters' sort key time: fixed width, so the keys
// sort by time.
const skTimeLayout = "2006-01-02T15:04:05.000Z"

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func unavailable(err error) error {
	return apierr.ServiceUnavailable.Wrap("the routing table is unavailable", err).WithRetryAfter(time.Second)
}

// deadLetterKey is a dead letter's sort key: the record's arrival time,
// sequence number and the endpoint, the same for the same record and
// endpoint every time, so a retried batch overwrites its dead letters.
func deadLetterKey(d DeadLetter) string {
	t := d.ArrivalTime
	if t.IsZero() {
		t = d.EnqueuedTime
	}
	return t.UTC().Format(skTimeLayout) + keySep + d.SequenceNumber + keySep + d.Endpoint
}

func (s *Store) item(d DeadLetter) (map[string]types.AttributeValue, error) {
	it := deadLetterItem{
		PK: deadPrefix + d.Route, SK: deadLetterKey(d), Route: d.Route, Endpoint: d.Endpoint,
		Reason: truncate(d.Reason, maxReason), DeviceID: d.DeviceID, MessageID: d.MessageID, Seq: d.SequenceNumber,
		At: d.Time.UnixMilli(), Size: len(d.Data), Message: d.Data,
		TTL: d.Time.Add(schema.RoutingDeadLetterDays * 24 * time.Hour).Unix(),
	}
	if !d.EnqueuedTime.IsZero() {
		it.Enqueued = d.EnqueuedTime.UnixMilli()
	}
	if len(it.Message) > maxStoredMessage {
		it.Message = it.Message[:maxStoredMessage]
	}
	return attributevalue.MarshalMap(it)
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// WriteDeadLetters puts each dead letter, concurrently; n counts the
// leading ones stored when one fails.
func (s *Store) WriteDeadLetters(ctx context.Context, dls []DeadLetter) (int, error) {
	errs := make([]error, len(dls))
	var g errgroup.Group
	g.SetLimit(concurrency)
	for i, d := range dls {
		g.Go(func() error {
			item, err := s.item(d)
			if err != nil {
				errs[i] = fmt.Errorf("routing table: dead letter: %w", err)
				return nil
			}
			if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
				errs[i] = unavailable(fmt.Errorf("routing table: write dead letter: %w", err))
			}
			return nil
		})
	}
	_ = g.Wait()
	for i, err := range errs {
		if err != nil {
			return i, err
		}
	}
	return len(dls), nil
}

// countKey is the key of one route's and endpoint's counters.
func countKey(route, endpoint string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		schema.RoutingPartition: &types.AttributeValueMemberS{Value: countPartition},
		schema.RoutingSortKey:   &types.AttributeValueMemberS{Value: route + keySep + endpoint},
	}
}

// AddCounts adds each count with one atomic UpdateItem, concurrently.
func (s *Store) AddCounts(ctx context.Context, counts []Count) error {
	now := s.now().UnixMilli()
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for _, c := range counts {
		g.Go(func() error {
			u := expression.
				Add(expression.Name(attrDelivered), expression.Value(c.Delivered)).
				Add(expression.Name(attrDeadLettered), expression.Value(c.DeadLettered)).
				Set(expression.Name(attrRoute), expression.Value(c.Route)).
				Set(expression.Name(attrEndpoint), expression.Value(c.Endpoint)).
				Set(expression.Name(attrUpdated), expression.Value(now))
			expr, err := expression.NewBuilder().WithUpdate(u).Build()
			if err != nil {
				return fmt.Errorf("routing table: counters: %w", err)
			}
			_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: aws.String(s.Table), Key: countKey(c.Route, c.Endpoint),
				UpdateExpression: expr.Update(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
			})
			if err != nil {
				return unavailable(fmt.Errorf("routing table: count %s/%s: %w", c.Route, c.Endpoint, err))
			}
			return nil
		})
	}
	return g.Wait()
}
