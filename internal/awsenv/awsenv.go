// Package awsenv is the one place that builds AWS SDK configuration and
// clients, for the four programs that need them: the Lambda functions
// (internal/app), local mode (internal/localhub), the CLI (cmd/devicehub) and
// the tests (test/testenv). Load follows the SDK's default chain, so regions,
// credentials and the standard AWS_ENDPOINT_URL* variables work as in any AWS
// tool (AWS itself, LocalStack); Static is the emulators' configuration, with
// dummy credentials and no shared config, so local mode and tests can never
// reach a real account; Kinesis, DynamoDB, S3, SQS and EventBridge point a
// client at an explicit endpoint when one is given. Without it each caller
// would repeat the same choices and could drift, e.g. a test that picks up
// real credentials.
//
// Secrets adapts Secrets Manager to the owner-key lookup of internal/config.
package awsenv

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Load reads the default AWS configuration chain (environment, shared config,
// IMDS/Lambda role). AWS_ENDPOINT_URL* variables are honoured by the SDK.
// attempt bounds each HTTP attempt (0: no bound), so a stalled connection
// leaves the SDK's retryer time for another attempt within the caller's
// deadline.
func Load(ctx context.Context, attempt time.Duration) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(attempt)))
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	return cfg, nil
}

// Emulators are local endpoints of the AWS APIs.
type Emulators struct {
	Region   string
	Kinesis  string // base URL, e.g. http://127.0.0.1:4567
	DynamoDB string
}

// Static returns a configuration for the local emulators with fixed dummy
// credentials, independent of the machine's AWS configuration, so local mode
// and tests can never reach a real account.
func Static(region string) aws.Config {
	if region == "" {
		region = "us-east-1"
	}
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("devicehub", "devicehub", ""),
		HTTPClient:  awshttp.NewBuildableClient(),
	}
}

// Kinesis returns a client; endpoint overrides the base endpoint when set.
func Kinesis(cfg aws.Config, endpoint string) *kinesis.Client {
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}

// DynamoDB returns a client; endpoint overrides the base endpoint when set.
func DynamoDB(cfg aws.Config, endpoint string) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}

// S3 returns a client; endpoint, when set, is an S3 emulator (or another
// S3-compatible server): the client then addresses buckets by path, since a
// loopback endpoint has no per-bucket host names, and computes checksums
// only when an operation requires one: recent SDKs otherwise may send
// aws-chunked bodies with trailing checksums, which some emulators refuse.
// (gofakes3 v1.2.0, internal/emulator's, took the SDK's default PutObject
// of a seekable body over HTTP and HTTPS alike.) Against AWS (no endpoint)
// the SDK's defaults stand.
func S3(cfg aws.Config, endpoint string) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
}

// SQS returns a client; endpoint overrides the base endpoint when set.
func SQS(cfg aws.Config, endpoint string) *sqs.Client {
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}

// EventBridge returns a client; endpoint overrides the base endpoint when set.
func EventBridge(cfg aws.Config, endpoint string) *eventbridge.Client {
	return eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}
