package d2c_test

import (
	"testing"

	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func do(t *testing.T, env *testenv.Env, method, path, auth string, hdr map[string]string, body []byte) testenv.Reply {
	t.Helper()
	return env.Do(t, method, path, auth, hdr, body)
}
