// Package provision creates the hub's Kinesis stream and DynamoDB tables for
// local mode (internal/localhub) and the tests, from the definitions in
// internal/schema that the CDK stack also builds from; infra/hub's tests check
// that TableInput and the stack agree. On AWS the stack creates them instead.
//
// Every call is idempotent: what exists already is waited for, not changed.
// It never calls UpdateTimeToLive (dynalite lacks it), and the hub never
// depends on TTL deletion for correctness.
package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/devicehub/devicehub/internal/schema"
)

// waitFor bounds how long a new stream or table may take to become ACTIVE.
const waitFor = 30 * time.Second

// CreateStream creates the stream with shards shards unless it exists, and
// waits until it is ACTIVE.
func CreateStream(ctx context.Context, k *kinesis.Client, name string, shards int32) error {
	_, err := k.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: &name, ShardCount: &shards})
	var inUse *kintypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("provision: create stream %s: %w", name, err)
	}
	w := kinesis.NewStreamExistsWaiter(k, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 200*time.Millisecond
	})
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: &name}, waitFor); err != nil {
		return fmt.Errorf("provision: stream %s: %w", name, err)
	}
	return nil
}

// TableInput is the CreateTable request for t under the physical name: keys,
// indexes (projecting all attributes) and on-demand billing, as in the stack.
func TableInput(t schema.Table, name string) *dynamodb.CreateTableInput {
	attrs := map[string]schema.AttrType{}
	ks := func(pk schema.Key, sk *schema.Key) []ddbtypes.KeySchemaElement {
		attrs[pk.Name] = pk.Type
		out := []ddbtypes.KeySchemaElement{{AttributeName: aws.String(pk.Name), KeyType: ddbtypes.KeyTypeHash}}
		if sk != nil {
			attrs[sk.Name] = sk.Type
			out = append(out, ddbtypes.KeySchemaElement{AttributeName: aws.String(sk.Name), KeyType: ddbtypes.KeyTypeRange})
		}
		return out
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		KeySchema:   ks(t.PartitionKey, t.SortKey),
	}
	for _, ix := range t.Indexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName:  aws.String(ix.Name),
			KeySchema:  ks(ix.PartitionKey, ix.SortKey),
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
		})
	}
	for n, typ := range attrs {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{AttributeName: aws.String(n), AttributeType: ddbtypes.ScalarAttributeType(typ)})
	}
	return in
}

// CreateTables creates each table (names maps table ID to physical name;
// missing entries use the default name) unless it exists, and waits until
// each is ACTIVE.
func CreateTables(ctx context.Context, db *dynamodb.Client, tables []schema.Table, names map[string]string) error {
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 200*time.Millisecond
	})
	for _, t := range tables {
		name := names[t.ID]
		if name == "" {
			name = t.DefaultName
		}
		_, err := db.CreateTable(ctx, TableInput(t, name))
		var inUse *ddbtypes.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("provision: create table %s: %w", name, err)
		}
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, waitFor); err != nil {
			return fmt.Errorf("provision: table %s: %w", name, err)
		}
	}
	return nil
}
