// Package provision creates the hub's stream and tables from internal/schema,
// the same definitions the CDK stack uses, on the local emulators (or any
// endpoint). It is idempotent. It never calls UpdateTimeToLive: the emulator
// lacks it and correctness never depends on TTL deletion.
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

// CreateStream creates the stream with shards shards unless it exists, and
// waits until it is ACTIVE.
func CreateStream(ctx context.Context, k *kinesis.Client, name string, shards int32) error {
	_, err := k.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: &name, ShardCount: &shards})
	var inUse *kintypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("bootstrap: create stream %s: %w", name, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		out, err := k.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: &name})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == kintypes.StreamStatusActive {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bootstrap: stream %s not active: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TableInput is the CreateTable request for t under the physical name.
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
// missing entries use the default name) and waits until all are ACTIVE.
func CreateTables(ctx context.Context, db *dynamodb.Client, tables []schema.Table, names map[string]string) error {
	for _, t := range tables {
		name := names[t.ID]
		if name == "" {
			name = t.DefaultName
		}
		_, err := db.CreateTable(ctx, TableInput(t, name))
		var inUse *ddbtypes.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("bootstrap: create table %s: %w", name, err)
		}
		w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay = 50 * time.Millisecond
			o.MaxDelay = 200 * time.Millisecond
		})
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, 30*time.Second); err != nil {
			return fmt.Errorf("bootstrap: table %s: %w", name, err)
		}
	}
	return nil
}
