package d2c_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// faultProxy sits between the hub and the Kinesis emulator and injects the
// failures real Kinesis produces: per-record rejections inside a successful
// PutRecords answer, whole-request throttling, and outages. Everything else
// is forwarded unchanged.
type faultProxy struct {
	target string
	mu     sync.Mutex
	// plan maps the n-th PutRecords call (0-based) to the record indexes
	// Kinesis must reject in it; the others are written for real.
	plan      map[int][]int
	throttle  bool // answer every PutRecords with all records throttled
	down      bool // answer every PutRecords with 500 InternalFailure
	putCalls  int
	callSizes []int
	srv       *httptest.Server
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	p := &faultProxy{target: target, plan: map[int][]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

type putRecords struct {
	Records    []json.RawMessage `json:"Records"`
	StreamName string            `json:"StreamName,omitempty"`
	StreamARN  string            `json:"StreamARN,omitempty"`
}

type putResult struct {
	FailedRecordCount int               `json:"FailedRecordCount"`
	Records           []json.RawMessage `json:"Records"`
}

func (p *faultProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("X-Amz-Target") != "Kinesis_20131202.PutRecords" {
		p.forward(w, r, body)
		return
	}
	var in putRecords
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	p.mu.Lock()
	call := p.putCalls
	p.putCalls++
	p.callSizes = append(p.callSizes, len(in.Records))
	reject, throttle, down := map[int]bool{}, p.throttle, p.down
	for _, i := range p.plan[call] {
		reject[i] = true
	}
	p.mu.Unlock()
	rejected := json.RawMessage(`{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard"}`)
	switch {
	case down:
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(500)
		_, _ = w.Write([]byte(`{"__type":"InternalFailure","message":"injected outage"}`))
		return
	case throttle:
		out := putResult{FailedRecordCount: len(in.Records)}
		for range in.Records {
			out.Records = append(out.Records, rejected)
		}
		writeAmzJSON(w, out)
		return
	}
	kept := putRecords{StreamName: in.StreamName, StreamARN: in.StreamARN}
	for i, rec := range in.Records {
		if !reject[i] {
			kept.Records = append(kept.Records, rec)
		}
	}
	var fwd putResult
	if len(kept.Records) > 0 {
		raw, _ := json.Marshal(kept)
		resp, err := p.roundTrip(r, raw)
		if err != nil || resp.StatusCode != 200 {
			http.Error(w, "forward failed", http.StatusBadGateway)
			return
		}
		_ = json.NewDecoder(resp.Body).Decode(&fwd)
		resp.Body.Close()
	}
	out := putResult{FailedRecordCount: len(reject)}
	next := 0
	for i := range in.Records {
		if reject[i] {
			out.Records = append(out.Records, rejected)
			continue
		}
		out.Records = append(out.Records, fwd.Records[next])
		next++
	}
	writeAmzJSON(w, out)
}

func writeAmzJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func (p *faultProxy) roundTrip(r *http.Request, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		if k != "Content-Length" {
			req.Header[k] = vs
		}
	}
	return http.DefaultClient.Do(req)
}

func (p *faultProxy) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	resp, err := p.roundTrip(r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
