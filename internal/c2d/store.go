package c2d

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB is the slice of the DynamoDB API the queue uses: single-item
// conditional writes and queries, nothing the emulator lacks.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Every expression the package sends is built here, from attribute name
// constants and typed values, so each request carries exactly the names and
// values its expressions use.

func name(n string) expression.NameBuilder { return expression.Name(n) }

func value(v any) expression.ValueBuilder { return expression.Value(v) }

// build compiles expressions made of constant names and plain values; it
// fails only on a builder left unset, a bug every test run would show.
func build(b expression.Builder) expression.Expression {
	e, err := b.Build()
	if err != nil {
		panic("c2d: bad expression: " + err.Error())
	}
	return e
}

// updateIf performs one conditional UpdateItem and returns the attributes
// ret asks for. ok is false, with no error, when the condition does not
// hold; other errors are the store's, unwrapped.
func updateIf(ctx context.Context, db DynamoDB, table string, key map[string]types.AttributeValue,
	cond expression.ConditionBuilder, upd expression.UpdateBuilder, ret types.ReturnValue) (map[string]types.AttributeValue, bool, error) {
	e := build(expression.NewBuilder().WithCondition(cond).WithUpdate(upd))
	out, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &table, Key: key, ConditionExpression: e.Condition(), UpdateExpression: e.Update(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(), ReturnValues: ret,
	})
	if isConditionFailed(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return out.Attributes, true, nil
}

// query returns a QueryInput on table (index: optional) for a key condition.
func query(table, index string, kc expression.KeyConditionBuilder) *dynamodb.QueryInput {
	e := build(expression.NewBuilder().WithKeyCondition(kc))
	in := &dynamodb.QueryInput{TableName: &table, KeyConditionExpression: e.KeyCondition(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()}
	if index != "" {
		in.IndexName = &index
	}
	return in
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
