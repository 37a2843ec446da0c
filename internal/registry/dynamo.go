package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
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

// DynamoDB is the slice of the DynamoDB API the registry store uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// DynamoStore keeps one item per device, keyed by device id; Device's
// dynamodbav tags are the item's layout.
type DynamoStore struct {
	DB    DynamoDB
	Table string
}

// Attributes the conditional writes and projections name: Device.Version,
// Device.Deleted, Device.Tags and Device.PendingEvents.
const (
	attrVersion       = "version"
	attrDeleted       = "deleted"
	attrTags          = "tags"
	attrPendingEvents = "pendingEvents"
)

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{schema.DeviceID: &types.AttributeValueMemberS{Value: id}}
}

func toItem(d Device) (map[string]types.AttributeValue, error) {
	// Items have always held the time in UTC; keep them comparable as text.
	d.StatusUpdatedTime = d.StatusUpdatedTime.UTC()
	item, err := attributevalue.MarshalMap(d)
	if err != nil {
		return nil, fmt.Errorf("registry: encode device %q: %w", d.DeviceID, err)
	}
	return item, nil
}

func fromItem(item map[string]types.AttributeValue) (Device, error) {
	var d Device
	if err := attributevalue.UnmarshalMap(item, &d); err != nil {
		return Device{}, fmt.Errorf("registry: decode device item: %w", err)
	}
	return d, nil
}

// condition builds a write's condition expression.
func condition(c expression.ConditionBuilder) (expression.Expression, error) {
	expr, err := expression.NewBuilder().WithCondition(c).Build()
	if err != nil {
		return expression.Expression{}, fmt.Errorf("registry: build condition: %w", err)
	}
	return expr, nil
}

// errConditionFailed is putIf's answer when the condition does not hold.
var errConditionFailed = errors.New("registry: condition failed")

// putIf writes item into table when c holds: errConditionFailed when it does
// not, a store error when DynamoDB fails.
func putIf(ctx context.Context, db DynamoDB, table, op string, item map[string]types.AttributeValue, c expression.ConditionBuilder) error {
	cond, err := condition(c)
	if err != nil {
		return err
	}
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &table, Item: item,
		ConditionExpression:       cond.Condition(),
		ExpressionAttributeNames:  cond.Names(),
		ExpressionAttributeValues: cond.Values(),
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return errConditionFailed
	case err != nil:
		return storeErr(op, err)
	}
	return nil
}

func storeErr(op string, err error) error {
	return apierr.ServiceUnavailable.Wrap("device registry is unavailable", fmt.Errorf("registry %s: %w", op, err)).WithRetryAfter(time.Second)
}

// Get reads a device with a strongly consistent read, so a disable is seen at once.
func (s *DynamoStore) Get(ctx context.Context, id string) (Device, error) {
	return s.get(ctx, id, true)
}

// GetEventually reads a device from any replica: half the read units of Get,
// and possibly a write behind (DynamoDB's replicas usually agree within a
// second). Authentication reads keys this way on every cache miss.
func (s *DynamoStore) GetEventually(ctx context.Context, id string) (Device, error) {
	return s.get(ctx, id, false)
}

func (s *DynamoStore) get(ctx context.Context, id string, consistent bool) (Device, error) {
	d, err := s.load(ctx, id, consistent)
	if err == nil && d.Deleted {
		return Device{}, ErrDeviceNotFound(id)
	}
	return d, err
}

// Load reads the item of id strongly consistently, a tombstone included.
func (s *DynamoStore) Load(ctx context.Context, id string) (Device, error) {
	return s.load(ctx, id, true)
}

func (s *DynamoStore) load(ctx context.Context, id string, consistent bool) (Device, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: key(id), ConsistentRead: aws.Bool(consistent)})
	if err != nil {
		return Device{}, storeErr("get", err)
	}
	if len(out.Item) == 0 {
		return Device{}, ErrDeviceNotFound(id)
	}
	return fromItem(out.Item)
}

// Create writes d only when no device has its id.
func (s *DynamoStore) Create(ctx context.Context, d Device) error {
	item, err := toItem(d)
	if err != nil {
		return err
	}
	err = putIf(ctx, s.DB, s.Table, "create", item, expression.AttributeNotExists(expression.Name(schema.DeviceID)))
	if errors.Is(err, errConditionFailed) {
		return apierr.DeviceAlreadyExists.New("device " + strconv.Quote(d.DeviceID) + " already exists")
	}
	return err
}

// Replace writes d when the stored version is prevVersion.
func (s *DynamoStore) Replace(ctx context.Context, d Device, prevVersion int64) error {
	item, err := toItem(d)
	if err != nil {
		return err
	}
	err = putIf(ctx, s.DB, s.Table, "replace", item, expression.Name(attrVersion).Equal(expression.Value(prevVersion)))
	if errors.Is(err, errConditionFailed) {
		return apierr.PreconditionFailedETag.New("the device changed or was deleted meanwhile")
	}
	return err
}

// Delete removes the device, guarded by version when version >= 0.
func (s *DynamoStore) Delete(ctx context.Context, id string, version int64) error {
	c := expression.AttributeExists(expression.Name(schema.DeviceID))
	if version >= 0 {
		c = c.And(expression.Name(attrVersion).Equal(expression.Value(version)))
	}
	cond, err := condition(c)
	if err != nil {
		return err
	}
	_, err = s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.Table, Key: key(id),
		ConditionExpression:       cond.Condition(),
		ExpressionAttributeNames:  cond.Names(),
		ExpressionAttributeValues: cond.Values(),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if version < 0 {
			return ErrDeviceNotFound(id)
		}
		if _, gerr := s.Get(ctx, id); apierr.KindOf(gerr) == apierr.NotFound {
			return gerr
		}
		return apierr.PreconditionFailedETag.New("If-Match does not match the device's etag")
	}
	if err != nil {
		return storeErr("delete", err)
	}
	return nil
}

// notCAItem filters the CA item (castore.go) out of scans.
var notCAItem = expression.Name(schema.DeviceID).NotEqual(expression.Value(caItemID))

// List scans the table; the cursor is the last device id, base64url encoded.
// A page may hold fewer than limit devices when it passed the CA item or a
// tombstone (left out here rather than by the filter, so that a hub without
// lifecycle events scans as it always has).
func (s *DynamoStore) List(ctx context.Context, limit int, cursor string) ([]Device, string, error) {
	filter, err := expression.NewBuilder().WithFilter(notCAItem).Build()
	if err != nil {
		return nil, "", fmt.Errorf("registry: build filter: %w", err)
	}
	in := &dynamodb.ScanInput{
		TableName: &s.Table, Limit: aws.Int32(int32(limit)),
		FilterExpression:          filter.Filter(),
		ExpressionAttributeNames:  filter.Names(),
		ExpressionAttributeValues: filter.Values(),
	}
	if cursor != "" {
		// A token this hub made names a device id; anything else is forged.
		id, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || ValidateDeviceID(string(id)) != nil {
			return nil, "", apierr.ArgumentInvalid.New("bad continuation token")
		}
		in.ExclusiveStartKey = key(string(id))
	}
	out, err := s.DB.Scan(ctx, in)
	if err != nil {
		return nil, "", storeErr("list", err)
	}
	devs := make([]Device, 0, len(out.Items))
	for _, item := range out.Items {
		d, err := fromItem(item)
		if err != nil {
			return nil, "", err
		}
		if !d.Deleted {
			devs = append(devs, d)
		}
	}
	next := ""
	if v, ok := out.LastEvaluatedKey[schema.DeviceID].(*types.AttributeValueMemberS); ok {
		next = base64.RawURLEncoding.EncodeToString([]byte(v.Value))
	}
	return devs, next, nil
}
