// Package kinesisfake answers Kinesis's JSON 1.1 PutRecords protocol in
// process, as an http.RoundTripper: no sockets, so benchmarks of the ingress
// path measure the hub's code rather than loopback TCP, and tests can inspect
// what was sent.
package kinesisfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Target is the X-Amz-Target of PutRecords.
const Target = "Kinesis_20131202.PutRecords"

// Record is one record as the fake received it (Keep mode only).
type Record struct {
	StreamName     string
	PartitionKey   string
	Data           []byte
	SequenceNumber string
}

// Transport is the fake endpoint. By default it scans each request just
// enough to count the records and answers one result per record with a fresh
// sequence number, as Kinesis does. With Keep set it decodes every request
// fully with encoding/json (base64 Data included) and stores the records.
type Transport struct {
	Keep bool

	mu      sync.Mutex
	seq     uint64
	calls   int
	records []Record
	buf     bytes.Buffer // request body, reused: one call at a time holds mu
}

// Calls returns how many PutRecords calls the fake answered.
func (t *Transport) Calls() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls
}

// Records returns the records received so far (Keep mode).
func (t *Transport) Records() []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Record(nil), t.records...)
}

// seqPrefix makes sequence numbers look like Kinesis's 56-digit ones.
const seqPrefix = "49650000000000000000000000000000000"

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if req.Method != http.MethodPost || req.Header.Get("X-Amz-Target") != Target {
		return respond(req, http.StatusBadRequest, []byte(`{"__type":"UnknownOperationException"}`)), nil
	}
	if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-amz-json-1.1") ||
		!strings.HasPrefix(req.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") ||
		req.Header.Get("X-Amz-Date") == "" {
		return respond(req, http.StatusBadRequest, []byte(`{"__type":"MissingAuthenticationTokenException"}`)), nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Reset()
	if req.Body != nil {
		if _, err := t.buf.ReadFrom(req.Body); err != nil {
			return nil, fmt.Errorf("kinesisfake: read body: %w", err)
		}
	}
	var n int
	var err error
	var kept []Record
	if t.Keep {
		kept, err = decode(t.buf.Bytes())
		n = len(kept)
	} else {
		n, err = countRecords(t.buf.Bytes())
	}
	if err != nil || n == 0 {
		return respond(req, http.StatusBadRequest, []byte(`{"__type":"SerializationException"}`)), nil
	}
	t.calls++
	rb := bodyPool.Get().(*pooledBody)
	rb.closed.Store(false)
	out := slices.Grow(rb.buf[:0], 40+n*(len(seqPrefix)+75))
	out = append(out, `{"FailedRecordCount":0,"Records":[`...)
	for i := range n {
		t.seq++
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"SequenceNumber":"`...)
		start := len(out)
		out = append(out, seqPrefix...)
		out = appendPadded(out, t.seq)
		if t.Keep {
			kept[i].SequenceNumber = string(out[start:])
		}
		out = append(out, `","ShardId":"shardId-000000000000"}`...)
	}
	out = append(out, "]}"...)
	t.records = append(t.records, kept...)
	rb.buf = out
	rb.Reset(out)
	return &http.Response{
		Status: status200, StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": contentType}, Body: rb, ContentLength: int64(len(out)), Request: req,
	}, nil
}

// The answer to a call takes no allocation of its own beyond the
// http.Response and its header, so that benchmarks through the fake measure
// the client rather than the fake.
var (
	status200   = "200 " + http.StatusText(http.StatusOK)
	contentType = []string{"application/x-amz-json-1.1"} // shared, read-only
	bodyPool    = sync.Pool{New: func() any { return new(pooledBody) }}
)

// pooledBody is an answer's body; it goes back to the pool when the client
// closes it (once, however often it is closed).
type pooledBody struct {
	bytes.Reader
	buf    []byte
	closed atomic.Bool
}

func (b *pooledBody) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		bodyPool.Put(b)
	}
	return nil
}

// appendPadded appends v as 21 decimal digits.
func appendPadded(dst []byte, v uint64) []byte {
	const zeros = "000000000000000000000"
	var d [20]byte
	digits := strconv.AppendUint(d[:0], v, 10) // at most 20 digits
	dst = append(dst, zeros[:len(zeros)-len(digits)]...)
	return append(dst, digits...)
}

func respond(req *http.Request, status int, body []byte) *http.Response {
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

var errSyntax = errors.New("kinesisfake: malformed JSON")

// countRecords counts the objects in the top-level "Records" array without
// allocating: a scanner that tracks depth and skips strings.
func countRecords(b []byte) (int, error) {
	depth, n := 0, 0
	inRecords := false
	var key []byte
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			j := closingQuote(b, i+1)
			if j < 0 {
				return 0, errSyntax
			}
			if depth == 1 {
				key = b[i+1 : j]
			}
			i = j
		case '{', '[':
			if depth == 1 && c == '[' && string(key) == "Records" {
				inRecords = true
			}
			if depth == 2 && inRecords && c == '{' {
				n++
			}
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return 0, errSyntax
			}
			if depth == 1 {
				inRecords = false
			}
		}
	}
	if depth != 0 {
		return 0, errSyntax
	}
	return n, nil
}

// closingQuote returns the index of the quote ending the string that starts
// at from, or -1. It jumps between quotes with bytes.IndexByte: records are
// long base64 strings.
func closingQuote(b []byte, from int) int {
	for {
		k := bytes.IndexByte(b[from:], '"')
		if k < 0 {
			return -1
		}
		j := from + k
		bs := 0
		for bs < j && b[j-1-bs] == '\\' {
			bs++
		}
		if bs%2 == 0 {
			return j
		}
		from = j + 1
	}
}

// decode parses a PutRecords request strictly.
func decode(b []byte) ([]Record, error) {
	var in struct {
		StreamName string
		Records    []struct {
			Data         []byte
			PartitionKey string
		}
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("kinesisfake: %w", err)
	}
	if in.StreamName == "" {
		return nil, errors.New("kinesisfake: StreamName is required")
	}
	out := make([]Record, len(in.Records))
	for i, r := range in.Records {
		if r.PartitionKey == "" || len(r.Data) == 0 {
			return nil, errors.New("kinesisfake: PartitionKey and Data are required")
		}
		out[i] = Record{StreamName: in.StreamName, PartitionKey: r.PartitionKey, Data: r.Data}
	}
	return out, nil
}
