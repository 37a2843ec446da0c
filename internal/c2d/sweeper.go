package c2d

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/schema"
)

// SweepStats is what one sweep did.
type SweepStats struct {
	Devices  int `json:"devices"`
	Expired  int `json:"expired"`
	Exceeded int `json:"deliveryCountExceeded"`
	Repaired int `json:"repaired"`
	Failed   int `json:"failed"`
}

// Sweep visits every device whose head is due in the bySweep index (its
// earliest pending expiry, the lock expiry of a last allowed delivery, or a
// send that may have crashed), dead-letters what expired with its feedback,
// finishes interrupted requeues and refreshes the head. Shards are swept in
// parallel; a device that fails is logged and counted, and the others go on.
func (q *Queue) Sweep(ctx context.Context) (SweepStats, error) {
	var (
		mu    sync.Mutex
		total SweepStats
		errs  []error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 4)
	)
	now := q.now().UTC()
	for shard := 0; shard < schema.C2DShards; shard++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			st, err := q.sweepShard(ctx, shard, ms(now))
			mu.Lock()
			defer mu.Unlock()
			total.Devices += st.Devices
			total.Expired += st.Expired
			total.Exceeded += st.Exceeded
			total.Repaired += st.Repaired
			total.Failed += st.Failed
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

func (q *Queue) sweepShard(ctx context.Context, shard int, now int64) (SweepStats, error) {
	var st SweepStats
	cond := "#ss = :ss AND #sa <= :now"
	idx := schema.C2DSweepIndex
	names, vals := expr(map[string]types.AttributeValue{":ss": sS(shardName(shard)), ":now": sN(now)}, cond)
	in := &dynamodb.QueryInput{TableName: &q.table, IndexName: &idx, KeyConditionExpression: &cond,
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals, Limit: aws.Int32(100)}
	for {
		out, err := q.db.Query(ctx, in)
		if err != nil {
			return st, storeErr("read sweep index", err)
		}
		for _, it := range out.Items {
			dev := getS(it, schema.DeviceID)
			ds, err := q.sweepDevice(ctx, dev)
			st.Devices++
			if err != nil {
				st.Failed++
				q.log.WarnContext(ctx, "sweep failed", slog.String("device", dev), slog.Any("error", err))
				continue
			}
			st.Expired += ds.Expired
			st.Exceeded += ds.Exceeded
			st.Repaired += ds.Repaired
		}
		if len(out.LastEvaluatedKey) == 0 {
			return st, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
