package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicehub/devicehub/shared/awsenv"
	"github.com/devicehub/devicehub/shared/config"
)

// FromEnvironment builds the hub for role the way a Lambda function does:
// configuration from the environment, AWS clients from the default chain
// (honouring AWS_ENDPOINT_URL*), the owner key from Secrets Manager.
func FromEnvironment(ctx context.Context, role Role, log *slog.Logger) (*Hub, error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsenv.Load(ctx)
	if err != nil {
		return nil, err
	}
	if err := cfg.ResolveOwnerKey(ctx, awsenv.Secrets{Client: secretsmanager.NewFromConfig(awsCfg)}); err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	cl := Clients{DynamoDB: awsenv.DynamoDB(awsCfg, ""), Kinesis: awsenv.Kinesis(awsCfg, "")}
	return Build(ctx, cfg, cl, role, log, nil)
}
