package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/devicehub/devicehub/shared/iothub"
)

// Reply is an answer of the hub, read whole.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends one request to the hub's server: auth, when not empty, is the
// Authorization header; hdr holds more headers.
func (e *Env) Do(t testing.TB, method, path, auth string, hdr map[string]string, body []byte) Reply {
	t.Helper()
	req, err := http.NewRequest(method, e.Server.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// ErrorBody decodes IoT Hub's JSON error and checks its shape: a name, a
// message, a tracking id, a number whose first three digits are the status,
// and the JSON content type.
func (r Reply) ErrorBody(t testing.TB) iothub.ErrorBody {
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
