package kinesisput_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/devicehub/devicehub/internal/kinesisput"
)

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func asAPIError(err error, target **kinesisput.APIError) bool { return errors.As(err, target) }
