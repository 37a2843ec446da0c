package c2d

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/devicehub/devicehub/internal/schema"
)

// Queue is every device's cloud-to-device queue in one DynamoDB table. Its
// use cases live in send.go, receive.go, settle.go, admin.go and
// sweeper.go; each state change is a row of transitions.go.
type Queue struct {
	db      DynamoDB
	table   string
	devices Devices
	opt     Options
	now     func() time.Time
	log     *slog.Logger

	// hints caches, per device, a sequence number below which every message
	// is settled. Settled is terminal, so a hint never goes stale in the
	// unsafe direction; it only saves reading settled items.
	mu    sync.Mutex
	hints map[string]int64
}

// NewQueue returns the queue on table, reading devices from the registry.
func NewQueue(db DynamoDB, table string, devices Devices, opt Options, now func() time.Time, log *slog.Logger) *Queue {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Queue{db: db, table: table, devices: devices, opt: opt.withDefaults(), now: now, log: log, hints: map[string]int64{}}
}

const maxHints = 10_000

func (q *Queue) hint(dev string) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.hints[dev]
}

func (q *Queue) setHint(dev string, h int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if h <= q.hints[dev] {
		return
	}
	if len(q.hints) >= maxHints {
		for k := range q.hints { // drop an arbitrary entry; a hint is only an optimisation
			delete(q.hints, k)
			break
		}
	}
	q.hints[dev] = h
}

func (q *Queue) getHead(ctx context.Context, dev string, consistent bool) (head, error) {
	out, err := q.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &q.table, Key: key(dev, headSK), ConsistentRead: aws.Bool(consistent)})
	if err != nil {
		return head{}, storeErr("read queue head", err)
	}
	h, err := decodeHead(out.Item)
	if err != nil {
		return head{}, storeErr("read queue head", err)
	}
	return h, nil
}

// scan pages through a device's message items from sequence number from,
// calling fn for each until it returns false.
func (q *Queue) scan(ctx context.Context, dev string, from int64, consistent bool, fn func(m msg) (bool, error)) error {
	in := query(q.table, "", expression.Key(schema.DeviceID).Equal(value(dev)).
		And(expression.Key(schema.C2DSortKey).Between(value(seqKey(msgPrefix, from)), value(maxMsgKey))))
	in.ConsistentRead = aws.Bool(consistent)
	in.Limit = aws.Int32(64)
	for {
		out, err := q.db.Query(ctx, in)
		if err != nil {
			return storeErr("read queue", err)
		}
		for _, it := range out.Items {
			m, err := decodeMsg(it)
			if err != nil {
				return storeErr("read queue", err)
			}
			more, err := fn(m)
			if err != nil || !more {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
