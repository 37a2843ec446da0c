package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/schema"
)

// caItemID is the key of the one item that holds the hub's CA certificates,
// in the devices table. '#' is no device id character (ValidateDeviceID), so
// no device can take the key, and DynamoStore.List leaves the item out.
//
// Why an item in the devices table rather than a table of its own: the
// authenticator needs the whole (small: MaxCAs) set, and a single
// GetItem on a table the device-facing function may already read costs no
// new table, grant, alarm or backup setting in the stack; every write is one
// conditional put of the set.
const caItemID = "#certificates"

// caItem is the CA item's layout.
type caItem struct {
	ID      string        `dynamodbav:"deviceId"` // caItemID
	Version int64         `dynamodbav:"version"`
	CAs     map[string]CA `dynamodbav:"certificates"`
}

// DynamoCAStore keeps the CA set as one item of the devices table.
type DynamoCAStore struct {
	DB    DynamoDB
	Table string
}

// LoadCAs reads the set with a strongly consistent read.
func (s *DynamoCAStore) LoadCAs(ctx context.Context) (CASet, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: key(caItemID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return CASet{}, storeErr("load CAs", err)
	}
	set := CASet{CAs: map[string]CA{}}
	if len(out.Item) == 0 {
		return set, nil
	}
	var it caItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return CASet{}, fmt.Errorf("registry: decode CA item: %w", err)
	}
	set.Version = it.Version
	for name, c := range it.CAs {
		cert, err := ParseCertificatePEM(c.PEM)
		if err != nil {
			return CASet{}, apierr.ServerError.Wrap("stored CA certificate does not parse", fmt.Errorf("CA %q: %w", name, err))
		}
		c.Name, c.Cert = name, cert
		set.CAs[name] = c
	}
	return set, nil
}

// SaveCAs writes the set as version set.Version+1 if the stored one is
// still set.Version (absent for 0).
func (s *DynamoCAStore) SaveCAs(ctx context.Context, set CASet) error {
	it := caItem{ID: caItemID, Version: set.Version + 1, CAs: set.CAs}
	for name, c := range it.CAs {
		c.Created, c.Updated = c.Created.UTC(), c.Updated.UTC()
		it.CAs[name] = c
	}
	item, err := attributevalue.MarshalMap(it)
	if err != nil {
		return fmt.Errorf("registry: encode CA item: %w", err)
	}
	c := expression.AttributeNotExists(expression.Name(schema.DeviceID))
	if set.Version > 0 {
		c = expression.Name(attrVersion).Equal(expression.Value(set.Version))
	}
	err = putIf(ctx, s.DB, s.Table, "save CAs", item, c)
	if errors.Is(err, errConditionFailed) {
		return errCASetChanged
	}
	return err
}
