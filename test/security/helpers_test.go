// Package security tests the hub as an attacker meets it: over HTTP against
// the real handler on the emulators, every refusal is checked for its status,
// its IoT Hub error code and the absence of any effect.
package security

import (
	"net/http"
	"testing"
	"time"

	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func do(t *testing.T, env *testenv.Env, method, path, auth string, hdr map[string]string, body []byte) testenv.Reply {
	t.Helper()
	return env.Do(t, method, path, auth, hdr, body)
}

// ownerToken signs an owner-policy token for resource sr.
func ownerToken(t *testing.T, env *testenv.Env, sr string) string {
	t.Helper()
	tok, err := sas.New(sr, env.OwnerConn.SharedAccessKey, env.OwnerConn.SharedAccessKeyName, env.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unauthorized is the one answer every failed credential gets.
const unauthorized = "the credentials are not valid for this resource"

func wantUnauthorized(t *testing.T, r testenv.Reply) {
	t.Helper()
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401: %s", r.Status, r.Body)
	}
	if e := r.ErrorBody(t); e.Code != "IotHubUnauthorizedAccess" || e.ErrorCode != 401002 || e.Message != unauthorized {
		t.Fatalf("401 body %+v, want the one IotHubUnauthorizedAccess answer", e)
	}
}
