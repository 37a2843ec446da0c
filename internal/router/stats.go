package router

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/sync/errgroup"

	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/routing"
)

// DefaultStatsDeadLetters is how many of the latest dead letters Stats
// reads by default.
const DefaultStatsDeadLetters = 20

// Stats reads the router's counters and latest dead letters from the
// Routing table.
type Stats struct {
	Store *Store
	// Definition, when known (the router's process, the local hub), puts
	// its routes and endpoints first, in its order, with zeros for the
	// ones never counted. Without it (the service function) the answer
	// holds what was counted.
	Definition routing.Definition
	// DeadLetters is how many of the latest dead letters to read, by the
	// records' arrival (default DefaultStatsDeadLetters).
	DeadLetters int
}

// ReadStats returns the counters of every route and endpoint and the
// latest dead letters, newest first: those of the routes whose counters
// count some.
func (st *Stats) ReadStats(ctx context.Context) (iothub.RoutingStats, error) {
	counted, err := st.Store.readCounts(ctx)
	if err != nil {
		return iothub.RoutingStats{}, err
	}
	out := iothub.RoutingStats{Routes: mergeCounts(statPairs(st.Definition), counted)}
	var dead []string
	for _, c := range out.Routes {
		if c.DeadLettered > 0 && !slices.Contains(dead, c.Route) {
			dead = append(dead, c.Route)
		}
	}
	n := st.DeadLetters
	if n <= 0 {
		n = DefaultStatsDeadLetters
	}
	if out.DeadLetters, err = st.Store.readDeadLetters(ctx, dead, n); err != nil {
		return iothub.RoutingStats{}, err
	}
	return out, nil
}

// statPairs lists a definition's routes and endpoints, in its order, then
// the fallback route's and $unroutable; none for an empty definition.
func statPairs(def routing.Definition) []iothub.RouteCount {
	out := []iothub.RouteCount{}
	if def.Empty() {
		return out
	}
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

// mergeCounts fills rows in with the counted ones and appends the counted
// ones rows lacks (a route since removed, or every one without a
// definition), in key order.
func mergeCounts(rows, counted []iothub.RouteCount) []iothub.RouteCount {
	at := map[[2]string]int{}
	for i, r := range rows {
		at[[2]string{r.Route, r.Endpoint}] = i
	}
	for _, c := range counted {
		if i, ok := at[[2]string{c.Route, c.Endpoint}]; ok {
			rows[i] = c
			continue
		}
		rows = append(rows, c)
	}
	return rows
}

// counterItem is a counter as stored.
type counterItem struct {
	SK           string `dynamodbav:"sk"` // <route>#<endpoint>
	Delivered    int64  `dynamodbav:"delivered"`
	DeadLettered int64  `dynamodbav:"deadLettered"`
	Updated      int64  `dynamodbav:"updatedAt"`
}

// readCounts reads every counter: one partition, in key order.
func (s *Store) readCounts(ctx context.Context) ([]iothub.RouteCount, error) {
	expr, err := expression.NewBuilder().
		WithKeyCondition(expression.Key(schema.RoutingPartition).Equal(expression.Value(countPartition))).Build()
	if err != nil {
		return nil, fmt.Errorf("routing table: %w", err)
	}
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.Table), KeyConditionExpression: expr.KeyCondition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}
	var out []iothub.RouteCount
	for p := dynamodb.NewQueryPaginator(s.DB, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, unavailable(fmt.Errorf("routing table: read counters: %w", err))
		}
		var items []counterItem
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return nil, fmt.Errorf("routing table: counter: %w", err)
		}
		for _, it := range items {
			route, endpoint, ok := strings.Cut(it.SK, keySep)
			if !ok {
				continue
			}
			c := iothub.RouteCount{Route: route, Endpoint: endpoint, Delivered: it.Delivered, DeadLettered: it.DeadLettered}
			if it.Updated > 0 {
				c.Updated = time.UnixMilli(it.Updated).UTC()
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// readDeadLetters reads the latest n dead letters of each route and keeps
// the latest n of all, newest first.
func (s *Store) readDeadLetters(ctx context.Context, routes []string, n int) ([]iothub.RoutingDeadLetter, error) {
	var (
		mu    sync.Mutex
		items []deadLetterItem
	)
	if len(routes) == 0 {
		return []iothub.RoutingDeadLetter{}, nil
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
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
