package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/schema"
)

// DynamoDB is the slice of the DynamoDB API the registry store uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// DynamoStore keeps one item per device, keyed by device id.
type DynamoStore struct {
	DB    DynamoDB
	Table string
}

const (
	attrGeneration   = "generationId"
	attrVersion      = "version"
	attrStatus       = "status"
	attrStatusReason = "statusReason"
	attrStatusTime   = "statusUpdatedTime"
	attrPrimary      = "primaryKey"
	attrSecondary    = "secondaryKey"
)

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{schema.DeviceID: &types.AttributeValueMemberS{Value: id}}
}

func toItem(d Device) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		schema.DeviceID: &types.AttributeValueMemberS{Value: d.DeviceID},
		attrGeneration:  &types.AttributeValueMemberS{Value: d.GenerationID},
		attrVersion:     &types.AttributeValueMemberN{Value: strconv.FormatInt(d.Version, 10)},
		attrStatus:      &types.AttributeValueMemberS{Value: d.Status},
		attrStatusTime:  &types.AttributeValueMemberS{Value: d.StatusUpdatedTime.UTC().Format(time.RFC3339Nano)},
		attrPrimary:     &types.AttributeValueMemberS{Value: d.PrimaryKey},
		attrSecondary:   &types.AttributeValueMemberS{Value: d.SecondaryKey},
	}
	if d.StatusReason != "" {
		item[attrStatusReason] = &types.AttributeValueMemberS{Value: d.StatusReason}
	}
	return item
}

func fromItem(item map[string]types.AttributeValue) (Device, error) {
	s := func(k string) string {
		if v, ok := item[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	d := Device{
		DeviceID: s(schema.DeviceID), GenerationID: s(attrGeneration), Status: s(attrStatus),
		StatusReason: s(attrStatusReason), PrimaryKey: s(attrPrimary), SecondaryKey: s(attrSecondary),
	}
	if v, ok := item[attrVersion].(*types.AttributeValueMemberN); ok {
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			return Device{}, fmt.Errorf("registry: bad version %q: %w", v.Value, err)
		}
		d.Version = n
	}
	if t, err := time.Parse(time.RFC3339Nano, s(attrStatusTime)); err == nil {
		d.StatusUpdatedTime = t
	}
	return d, nil
}

func storeErr(op string, err error) error {
	return apierr.ServiceUnavailable.Wrap("device registry is unavailable", fmt.Errorf("registry %s: %w", op, err)).WithRetryAfter(time.Second)
}

// Get reads a device with a strongly consistent read, so a disable is seen at once.
func (s *DynamoStore) Get(ctx context.Context, id string) (Device, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: key(id), ConsistentRead: aws.Bool(true)})
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
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.Table, Item: toItem(d),
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": schema.DeviceID},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return apierr.DeviceAlreadyExists.New("device " + strconv.Quote(d.DeviceID) + " already exists")
	}
	if err != nil {
		return storeErr("create", err)
	}
	return nil
}

// Replace writes d when the stored version is prevVersion.
func (s *DynamoStore) Replace(ctx context.Context, d Device, prevVersion int64) error {
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.Table, Item: toItem(d),
		ConditionExpression:       aws.String("#v = :v"),
		ExpressionAttributeNames:  map[string]string{"#v": attrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(prevVersion, 10)}},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return apierr.PreconditionFailedETag.New("the device changed or was deleted meanwhile")
	}
	if err != nil {
		return storeErr("replace", err)
	}
	return nil
}

// Delete removes the device, guarded by version when version >= 0.
func (s *DynamoStore) Delete(ctx context.Context, id string, version int64) error {
	in := &dynamodb.DeleteItemInput{
		TableName: &s.Table, Key: key(id),
		ConditionExpression:      aws.String("attribute_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": schema.DeviceID},
	}
	if version >= 0 {
		in.ConditionExpression = aws.String("attribute_exists(#id) AND #v = :v")
		in.ExpressionAttributeNames["#v"] = attrVersion
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(version, 10)}}
	}
	_, err := s.DB.DeleteItem(ctx, in)
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

// List scans the table; the cursor is the last device id, base64url encoded.
func (s *DynamoStore) List(ctx context.Context, limit int, cursor string) ([]Device, string, error) {
	in := &dynamodb.ScanInput{TableName: &s.Table, Limit: aws.Int32(int32(limit))}
	if cursor != "" {
		id, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil {
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
		devs = append(devs, d)
	}
	next := ""
	if v, ok := out.LastEvaluatedKey[schema.DeviceID].(*types.AttributeValueMemberS); ok {
		next = base64.RawURLEncoding.EncodeToString([]byte(v.Value))
	}
	return devs, next, nil
}
