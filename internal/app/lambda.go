package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/config"
)

// LoadEnvironment reads what every function starts from: the configuration
// from the environment and AWS clients from the default chain (honouring
// AWS_ENDPOINT_URL*).
func LoadEnvironment(ctx context.Context) (config.Config, aws.Config, Clients, error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return config.Config{}, aws.Config{}, Clients{}, err
	}
	awsCfg, err := awsenv.Load(ctx, attemptTimeout)
	if err != nil {
		return config.Config{}, aws.Config{}, Clients{}, err
	}
	return cfg, awsCfg, Clients{DynamoDB: awsenv.DynamoDB(awsCfg, ""), Kinesis: awsenv.Kinesis(awsCfg, "")}, nil
}

// FromEnvironment builds the hub for role the way an API function does:
// LoadEnvironment, then, for the service role only, the owner key from
// Secrets Manager. The device role authenticates device keys alone, so the
// ingress function is granted no access to the owner secret at all.
func FromEnvironment(ctx context.Context, role Role, log *slog.Logger) (*Hub, error) {
	cfg, awsCfg, cl, err := LoadEnvironment(ctx)
	if err != nil {
		return nil, err
	}
	if role&Service != 0 {
		ictx, cancel := context.WithTimeout(ctx, initTimeout)
		err := cfg.ResolveOwnerKey(ictx, awsenv.Secrets{Client: secretsmanager.NewFromConfig(awsCfg)})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
	}
	return Build(ctx, cfg, cl, role, log, nil)
}
