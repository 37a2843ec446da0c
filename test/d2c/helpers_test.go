package d2c_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func do(t *testing.T, env *testenv.Env, method, path, auth string, hdr map[string]string, body []byte) response {
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
	return response{resp.StatusCode, resp.Header, b}
}

// errorBody decodes and checks the JSON error shape.
func errorBody(t *testing.T, r response) iothub.ErrorBody {
	t.Helper()
	var e iothub.ErrorBody
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("status %d: error body is not JSON: %q", r.Status, r.Body)
	}
	if e.Code == "" || e.Message == "" || e.ErrorCode/1000 != r.Status || e.TrackingID == "" {
		t.Fatalf("status %d: incomplete error body %+v", r.Status, e)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("error content type %q", ct)
	}
	return e
}
