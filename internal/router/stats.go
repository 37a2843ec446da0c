package router

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/routing"
)

// DefaultStatsDeadLetters is how many of the latest dead letters Stats
// reads by default.
const DefaultStatsDeadLetters = 20

// Stats reads the counters of a definition's routes and endpoints and the
// latest dead letters from the Routing table.
type Stats struct {
	Store      *Store
	Definition routing.Definition
	// DeadLetters is how many of the latest dead letters to read, by the
	// records' arrival (default DefaultStatsDeadLetters).
	DeadLetters int
}

// statsReaders bounds the concurrent dead-letter queries, one per route.
const statsReaders = 8

// ReadStats returns every route and endpoint of the definition (each
// route's, the fallback route's and $unroutable's) with its counters, zero
// when never counted, and the latest dead letters, newest first. A hub
// without routes answers empty lists without reading the table.
func (st *Stats) ReadStats(ctx context.Context) (iothub.RoutingStats, error) {
	out := iothub.RoutingStats{Routes: []iothub.RouteCount{}, DeadLetters: []iothub.RoutingDeadLetter{}}
	if st.Definition.Empty() {
		return out, nil
	}
	out.Routes = statPairs(st.Definition)
	var g errgroup.Group
	g.Go(func() error { return st.Store.readCounts(ctx, out.Routes) })
	g.Go(func() (err error) {
		n := st.DeadLetters
		if n <= 0 {
			n = DefaultStatsDeadLetters
		}
		out.DeadLetters, err = st.Store.readDeadLetters(ctx, statRoutes(st.Definition), n)
		return err
	})
	if err := g.Wait(); err != nil {
		return iothub.RoutingStats{}, err
	}
	return out, nil
}

// statPairs lists the definition's routes and endpoints, in its order,
// then the fallback route's and $unroutable.
func statPairs(def routing.Definition) []iothub.RouteCount {
	var out []iothub.RouteCount
	for _, r := range def.Routes {
		for _, e := range r.Endpoints {
			out = append(out, iothub.RouteCount{Route: r.Name, Endpoint: e})
		}
	}
	for _, e := range def.FallbackEndpoints() {
		out = append(out, iothub.RouteCount{Route: FallbackRoute, Endpoint: e})
	}
	return append(out, iothub.RouteCount{Route: UnroutableRoute, Endpoint: NoEndpoint})
}

// statRoutes lists the routes that may hold dead letters.
func statRoutes(def routing.Definition) []string {
	var out []string
	for _, r := range def.Routes {
		out = append(out, r.Name)
	}
	return append(out, FallbackRoute, UnroutableRoute)
}

// counterItem is a counter as stored.
type counterItem struct {
	PK           string `dynamodbav:"pk"`
	SK           string `dynamodbav:"sk"`
	Delivered    int64  `dynamodbav:"delivered"`
	DeadLettered int64  `dynamodbav:"deadLettered"`
	Updated      int64  `dynamodbav:"updatedAt"`
}

// readCounts fills in the counters of rows with BatchGetItem.
func (s *Store) readCounts(ctx context.Context, rows []iothub.RouteCount) error {
	at := map[[2]string]int{}
	for i, r := range rows {
		at[[2]string{countPrefix + r.Route, r.Endpoint}] = i
	}
	for start := 0; start < len(rows); start += batchGetMax {
		var keys []map[string]types.AttributeValue
		for _, r := range rows[start:min(start+batchGetMax, len(rows))] {
			keys = append(keys, countKey(r.Route, r.Endpoint))
		}
		pending := map[string]types.KeysAndAttributes{s.Table: {Keys: keys}}
		for round := 0; len(pending[s.Table].Keys) > 0; round++ {
			if round == unprocessedRounds {
				return unavailable(fmt.Errorf("routing table: %d counters left unprocessed", len(pending[s.Table].Keys)))
			}
			if round > 0 && !sleep(ctx, time.Duration(50<<round)*time.Millisecond) {
				return ctx.Err()
			}
			out, err := s.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return unavailable(fmt.Errorf("routing table: read counters: %w", err))
			}
			for _, item := range out.Responses[s.Table] {
				var c counterItem
				if err := attributevalue.UnmarshalMap(item, &c); err != nil {
					return fmt.Errorf("routing table: counter: %w", err)
				}
				if i, ok := at[[2]string{c.PK, c.SK}]; ok {
					rows[i].Delivered, rows[i].DeadLettered = c.Delivered, c.DeadLettered
					if c.Updated > 0 {
						rows[i].Updated = time.UnixMilli(c.Updated).UTC()
					}
				}
			}
			pending = out.UnprocessedKeys
		}
	}
	return nil
}

// readDeadLetters reads the latest n dead letters of each route and keeps
// the latest n of all, newest first.
func (s *Store) readDeadLetters(ctx context.Context, routes []string, n int) ([]iothub.RoutingDeadLetter, error) {
	var (
		mu    sync.Mutex
		items []deadLetterItem
	)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(statsReaders)
	for _, route := range routes {
		g.Go(func() error {
			expr, err := expression.NewBuilder().
				WithKeyCondition(expression.Key(schema.RoutingPartition).Equal(expression.Value(deadPrefix + route))).Build()
			if err != nil {
				return fmt.Errorf("routing table: %w", err)
			}
			out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
				TableName: aws.String(s.Table), KeyConditionExpression: expr.KeyCondition(),
				ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
				ScanIndexForward: aws.Bool(false), Limit: aws.Int32(int32(n)),
			})
			if err != nil {
				return unavailable(fmt.Errorf("routing table: read dead letters of %s: %w", route, err))
			}
			var got []deadLetterItem
			if err := attributevalue.UnmarshalListOfMaps(out.Items, &got); err != nil {
				return fmt.Errorf("routing table: dead letter: %w", err)
			}
			mu.Lock()
			items = append(items, got...)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(items, func(a, b deadLetterItem) int { return cmp.Or(cmp.Compare(b.SK, a.SK), cmp.Compare(a.PK, b.PK)) })
	out := make([]iothub.RoutingDeadLetter, 0, min(n, len(items)))
	for _, it := range items[:min(n, len(items))] {
		d := iothub.RoutingDeadLetter{
			Route: it.Route, Endpoint: it.Endpoint, Reason: it.Reason, DeviceID: it.DeviceID, MessageID: it.MessageID,
			SequenceNumber: it.Seq, DeadLetteredTime: time.UnixMilli(it.At).UTC(), Size: it.Size,
		}
		if it.Enqueued > 0 {
			d.EnqueuedTime = time.UnixMilli(it.Enqueued).UTC()
		}
		if len(it.Message) == it.Size && it.Size <= iothub.MaxDeadLetterMessage && json.Valid(it.Message) {
			d.Message = it.Message
		}
		out = append(out, d)
	}
	return out, nil
}
