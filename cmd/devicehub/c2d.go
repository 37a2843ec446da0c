package main

import (
	"context"
	"errors"
)

// Placeholder until the cloud-to-device commands land (issue 3).
func runC2D(ctx context.Context, e *cliEnv, args []string) error {
	return errors.New("c2d: not available in this build")
}

func runFeedback(ctx context.Context, e *cliEnv, args []string) error {
	return errors.New("feedback: not available in this build")
}
