// Package security tests the hub as an attacker meets it: over HTTP against
// the real handler on the emulators, every refusal is checked for its status,
// its IoT Hub error code and the absence of any effect.
package security

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r reply) errorBody(t *testing.T) iothub.ErrorBody {
	t.Helper()
	var e iothub.ErrorBody
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("status %d: error body is not IoT Hub JSON: %q", r.Status, r.Body)
	}
	return e
}

func do(t *testing.T, env *testenv.Env, method, path, auth string, hdr map[string]string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(method, env.Server.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
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

func wantUnauthorized(t *testing.T, r reply) {
	t.Helper()
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401: %s", r.Status, r.Body)
	}
	if e := r.errorBody(t); e.Code != "IotHubUnauthorizedAccess" || e.ErrorCode != 401002 || e.Message != unauthorized {
		t.Fatalf("401 body %+v, want the one IotHubUnauthorizedAccess answer", e)
	}
}
