package registry

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/schema"
)

// pendingShards is the number of partitions of the byPendingEvent index:
// an item owing events goes to the one its device id hashes to, so no
// partition key is written by every registry write. The sweep queries every
// shard, so changing it needs a migration: it is a constant, not a setting.
const pendingShards = 4

// pendingShardOf is the index partition of a device's owed events.
func pendingShardOf(deviceID string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(deviceID))
	return strconv.Itoa(int(h.Sum32() % pendingShards))
}

// ClearPending removes the owed events and the index keys of the item of id
// if its version is still version. Every other write moves the version, so
// the events cleared are exactly the ones of that version, which the caller
// has put on the stream; the version itself does not move, so the device's
// etag stays.
func (s *DynamoStore) ClearPending(ctx context.Context, id string, version int64) error {
	upd := expression.Remove(expression.Name(attrPendingEvents)).
		Remove(expression.Name(schema.DevicePendingShard)).
		Remove(expression.Name(schema.DevicePendingAt))
	expr, err := expression.NewBuilder().WithUpdate(upd).
		WithCondition(expression.Name(attrVersion).Equal(expression.Value(version))).Build()
	if err != nil {
		return fmt.Errorf("registry: build clear: %w", err)
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.Table, Key: key(id),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	return ignoreConditionFailed("clear pending events", err)
}

// isTombstone is the condition of a write over the tombstone of version:
// the version alone could be a device created after the tombstone went.
func isTombstone(version int64) expression.ConditionBuilder {
	return expression.Name(attrVersion).Equal(expression.Value(version)).
		And(expression.Name(attrDeleted).Equal(expression.Value(true)))
}

// ReplaceTombstone writes d (a device created again) over the tombstone of
// version.
func (s *DynamoStore) ReplaceTombstone(ctx context.Context, d Device, version int64) error {
	item, err := toItem(d)
	if err != nil {
		return err
	}
	err = putIf(ctx, s.DB, s.Table, "replace tombstone", item, isTombstone(version))
	if errors.Is(err, errConditionFailed) {
		return apierr.PreconditionFailedETag.New("the deleted device changed meanwhile")
	}
	return err
}

// RemoveTombstone deletes the tombstone of id if it is still the one of
// version: a device created over it meanwhile carries its events.
func (s *DynamoStore) RemoveTombstone(ctx context.Context, id string, version int64) error {
	cond, err := condition(isTombstone(version))
	if err != nil {
		return err
	}
	_, err = s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.Table, Key: key(id),
		ConditionExpression:       cond.Condition(),
		ExpressionAttributeNames:  cond.Names(),
		ExpressionAttributeValues: cond.Values(),
	})
	return ignoreConditionFailed("remove tombstone", err)
}

func ignoreConditionFailed(op string, err error) error {
	var ccf *types.ConditionalCheckFailedException
	if err == nil || errors.As(err, &ccf) {
		return nil
	}
	return storeErr(op, err)
}

// Pending queries every shard of the byPendingEvent index for items whose
// oldest owed event is from before or earlier. The index projects whole
// items, but it is eventually consistent: a caller that acts on an item
// reads it again (Load).
func (s *DynamoStore) Pending(ctx context.Context, before time.Time) ([]Device, error) {
	var devs []Device
	var bad []error
	for shard := range pendingShards {
		kc := expression.Key(schema.DevicePendingShard).Equal(expression.Value(strconv.Itoa(shard))).
			And(expression.Key(schema.DevicePendingAt).LessThanEqual(expression.Value(before.UnixMilli())))
		expr, err := expression.NewBuilder().WithKeyCondition(kc).Build()
		if err != nil {
			return nil, fmt.Errorf("registry: build pending query: %w", err)
		}
		in := &dynamodb.QueryInput{
			TableName: &s.Table, IndexName: aws.String(schema.DevicePendingIndex),
			KeyConditionExpression:    expr.KeyCondition(),
			ExpressionAttributeNames:  expr.Names(),
			ExpressionAttributeValues: expr.Values(),
			Limit:                     aws.Int32(100),
		}
		for {
			out, err := s.DB.Query(ctx, in)
			if err != nil {
				return devs, storeErr("query pending events", err)
			}
			for _, item := range out.Items {
				d, err := fromItem(item)
				if err != nil {
					// One item that does not decode must not hold back
					// the events of every item after it in the index.
					bad = append(bad, err)
					continue
				}
				devs = append(devs, d)
			}
			if len(out.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
	return devs, errors.Join(bad...)
}

// Tags reads a device's tags for routing (enrichments and queries on
// $twin.tags): an eventually consistent read (half the cost of a strong
// one, and at most a second or so behind a tags update) that transfers
// only the tags and what tells a device from a tombstone. It returns
// DeviceNotFound for a device that does not exist or is deleted, and a nil
// map for one without tags.
func (s *DynamoStore) Tags(ctx context.Context, id string) (map[string]any, error) {
	proj := expression.NamesList(expression.Name(schema.DeviceID), expression.Name(attrTags), expression.Name(attrDeleted))
	expr, err := expression.NewBuilder().WithProjection(proj).Build()
	if err != nil {
		return nil, fmt.Errorf("registry: build projection: %w", err)
	}
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.Table, Key: key(id), ConsistentRead: aws.Bool(false),
		ProjectionExpression:     expr.Projection(),
		ExpressionAttributeNames: expr.Names(),
	})
	if err != nil {
		return nil, storeErr("get tags", err)
	}
	var it struct {
		ID      string         `dynamodbav:"deviceId"`
		Tags    map[string]any `dynamodbav:"tags"`
		Deleted bool           `dynamodbav:"deleted"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return nil, fmt.Errorf("registry: decode device tags: %w", err)
	}
	if it.ID == "" || it.Deleted {
		return nil, ErrDeviceNotFound(id)
	}
	return it.Tags, nil
}
