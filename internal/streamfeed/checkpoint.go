package streamfeed

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/schema"
)

// Checkpoint is how far a shard has been handled.
type Checkpoint struct {
	// Sequence is the sequence number of the last record handled; empty
	// when none was.
	Sequence string
	// Ended: the shard is closed and all its records were handled.
	Ended bool
}

// CheckpointStore keeps checkpoints per stream and shard.
type CheckpointStore interface {
	// Load returns the shard's checkpoint, the zero Checkpoint when it has
	// none.
	Load(ctx context.Context, stream, shard string) (Checkpoint, error)
	// Save records cp unless the stored checkpoint is as far or further
	// (a later sequence number, or ended): checkpoints never move back, so
	// a feeder that lags another cannot undo its progress. Being behind is
	// not an error.
	Save(ctx context.Context, stream, shard string, cp Checkpoint) error
}

// CheckpointPartitionPrefix starts the partition key of a stream's
// checkpoints in the Routing table: "checkpoint#<stream>", sort key the
// shard id.
const CheckpointPartitionPrefix = "checkpoint#"

// Checkpoint item attributes, besides the table's keys.
const (
	attrSequence = "sequence" // S: the last sequence number handled
	attrPosition = "position" // S: the same, zero-padded, so it orders as a string
	attrEnded    = "ended"    // BOOL: the shard is done
	attrUpdated  = "updatedAt"
)

// positionDigits is wider than any sequence number: Kinesis's are at most
// 129 decimal digits.
const positionDigits = 130

// DynamoDB is the part of the DynamoDB client DynamoCheckpoints uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// DynamoCheckpoints keeps checkpoints in the Routing table (schema.Routing),
// one item per shard, moved forward by conditional writes only.
type DynamoCheckpoints struct {
	Client DynamoDB
	Table  string
	Now    func() time.Time // default time.Now
}

func checkpointKey(stream, shard string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		schema.RoutingPartition: &types.AttributeValueMemberS{Value: CheckpointPartitionPrefix + stream},
		schema.RoutingSortKey:   &types.AttributeValueMemberS{Value: shard},
	}
}

// Load implements CheckpointStore with a strongly consistent read.
func (d DynamoCheckpoints) Load(ctx context.Context, stream, shard string) (Checkpoint, error) {
	out, err := d.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(d.Table), Key: checkpointKey(stream, shard), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("streamfeed: load checkpoint %s/%s: %w", stream, shard, err)
	}
	var item struct {
		Sequence string `dynamodbav:"sequence"`
		Ended    bool   `dynamodbav:"ended"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &item); err != nil {
		return Checkpoint{}, fmt.Errorf("streamfeed: checkpoint %s/%s: %w", stream, shard, err)
	}
	return Checkpoint{Sequence: item.Sequence, Ended: item.Ended}, nil
}

// Save implements CheckpointStore: ending is final; a sequence number is
// written only over none or an earlier one, and never once the shard ended.
func (d DynamoCheckpoints) Save(ctx context.Context, stream, shard string, cp Checkpoint) error {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	upd := expression.Set(expression.Name(attrUpdated), expression.Value(now().UTC().Format(time.RFC3339Nano)))
	b := expression.NewBuilder()
	switch {
	case cp.Ended:
		upd = upd.Set(expression.Name(attrEnded), expression.Value(true))
	case cp.Sequence != "":
		pos, err := position(cp.Sequence)
		if err != nil {
			return fmt.Errorf("streamfeed: save checkpoint %s/%s: %w", stream, shard, err)
		}
		upd = upd.Set(expression.Name(attrSequence), expression.Value(cp.Sequence)).
			Set(expression.Name(attrPosition), expression.Value(pos))
		b = b.WithCondition(expression.AttributeNotExists(expression.Name(attrEnded)).And(
			expression.AttributeNotExists(expression.Name(attrPosition)).Or(expression.Name(attrPosition).LessThan(expression.Value(pos)))))
	default:
		return nil // nothing handled yet: nothing to record
	}
	e, err := b.WithUpdate(upd).Build()
	if err != nil {
		return fmt.Errorf("streamfeed: checkpoint expression: %w", err)
	}
	_, err = d.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(d.Table), Key: checkpointKey(stream, shard),
		ConditionExpression: e.Condition(), UpdateExpression: e.Update(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil // the stored checkpoint is as far or further
	}
	if err != nil {
		return fmt.Errorf("streamfeed: save checkpoint %s/%s: %w", stream, shard, err)
	}
	return nil
}

// position is a sequence number left-padded with zeros to a fixed width, so
// that string order is numeric order.
func position(seq string) (string, error) {
	if len(seq) == 0 || len(seq) > positionDigits || strings.Trim(seq, "0123456789") != "" {
		return "", fmt.Errorf("sequence number %q is not 1 to %d decimal digits", seq, positionDigits)
	}
	return strings.Repeat("0", positionDigits-len(seq)) + seq, nil
}
