// Package kinesisput is a lean Kinesis PutRecords client for the ingress hot
// path. The AWS SDK's generic middleware stack costs hundreds of allocations
// per call; this client speaks Kinesis's JSON 1.1 protocol over net/http,
// signs with the SDK's SigV4 signer (aws/signer/v4) alone, and reuses its
// buffers, so a request costs a few dozen allocations. Everything else (stream creation,
// reads) stays on the SDK.
package kinesisput

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/jsonstr"
)

// HTTPClient sends requests; *http.Client and the SDK's BuildableClient fit.
//
// Calls go through the client's Do, not straight to its transport, though
// http.Client.Do costs six allocations a call (the header copy kept for
// redirects, a request copy, the URL's): in Lambda the client is the SDK
// configuration's BuildableClient (FromSDK), whose http.Client carries the
// per-attempt timeout (awsenv.Load), reading the body included, its redirect
// policy and any read timeout, on one connection pool with the SDK's
// clients. Reaching past it would mean copying its transport
// (BuildableClient.GetTransport returns a copy, without a read timeout) and
// re-implementing the timeout, for ~1 µs of a ~35 µs invocation.
type HTTPClient interface {
	Do(*http.Request) (*http.Response, error)
}

// Config configures a Client.
type Config struct {
	Region      string
	Credentials aws.CredentialsProvider // wrapped in an aws.CredentialsCache unless it is one
	HTTPClient  HTTPClient              // default http.DefaultClient
	// Endpoint is the base URL, e.g. http://127.0.0.1:4567; default
	// https://kinesis.<region>.amazonaws.com.
	Endpoint   string
	StreamName string
	Now        func() time.Time // signing clock; default time.Now
}

// Client writes records to one stream with PutRecords. It implements
// d2c.Stream and is safe for concurrent use.
type Client struct {
	creds    aws.CredentialsProvider
	http     HTTPClient
	url      url.URL
	path     string // canonical URI
	host     string // as signed and sent
	region   string
	now      func() time.Time
	bodyTail []byte // `],"StreamName":"..."}`
	signer   *v4.Signer
}

// New builds a Client.
func New(c Config) (*Client, error) {
	if c.Region == "" {
		return nil, errors.New("kinesisput: region is required")
	}
	if c.StreamName == "" {
		return nil, errors.New("kinesisput: stream name is required")
	}
	if c.Credentials == nil {
		return nil, errors.New("kinesisput: credentials are required")
	}
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint(c.Region)
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("kinesisput: endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("kinesisput: endpoint %q is not an http(s) base URL", c.Endpoint)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	if c.HTTPClient == nil {
		c.HTTPClient = http.DefaultClient
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	creds := c.Credentials
	if !aws.IsCredentialsProvider(creds, (*aws.CredentialsCache)(nil)) {
		creds = aws.NewCredentialsCache(creds)
	}
	tail := []byte(`],"StreamName":`)
	tail = jsonstr.Append(tail, c.StreamName)
	tail = append(tail, '}')
	path := u.EscapedPath()
	// The signer escapes the canonical URI once more (smithy-go's
	// httpbinding.EscapePath), which for a path of unreserved characters and
	// slashes (Kinesis's "/") changes nothing: then it may skip the
	// escaping, and its two allocations.
	plainPath := strings.Trim(path, "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == ""
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = plainPath })
	return &Client{
		creds: creds, http: c.HTTPClient, url: *u, path: path, host: signedHost(u), region: c.Region, now: c.Now,
		bodyTail: tail, signer: signer,
	}, nil
}

// FromSDK builds a Client with the region, credentials, HTTP client and base
// endpoint of an SDK Kinesis client, so it resolves AWS_ENDPOINT_URL_KINESIS,
// shared config and role credentials exactly as the SDK client did.
func FromSDK(k *kinesis.Client, streamName string) (*Client, error) {
	o := k.Options()
	c := Config{Region: o.Region, Credentials: o.Credentials, HTTPClient: o.HTTPClient, StreamName: streamName}
	if o.BaseEndpoint != nil {
		c.Endpoint = *o.BaseEndpoint
	}
	return New(c)
}

// DefaultEndpoint is Kinesis's regional endpoint.
func DefaultEndpoint(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "https://kinesis." + region + ".amazonaws.com.cn"
	}
	return "https://kinesis." + region + ".amazonaws.com"
}

// signedHost is the Host header value: the URL's host without a default port,
// as the SDK signer sanitizes it.
func signedHost(u *url.URL) string {
	if p := u.Port(); (u.Scheme == "http" && p == "80") || (u.Scheme == "https" && p == "443") {
		return strings.TrimSuffix(u.Host, ":"+p)
	}
	return u.Host
}

const (
	service     = "kinesis"
	target      = "Kinesis_20131202.PutRecords"
	contentType = "application/x-amz-json-1.1"
)

// Constant header values are shared, read-only: http.Header.Set and Add
// replace or copy a value slice, never write into it.
var (
	hdrTarget      = []string{target}
	hdrContentType = []string{contentType}
)

// buffers is the per-call scratch space, pooled: the request body. It is
// the request's Body.
type buffers struct {
	body   []byte
	reader bytes.Reader
	closed atomic.Bool
}

// Close returns the buffers to the pool once the transport is done with the
// request body: a transport may still read it after Do returns, and may close
// it more than once.
func (b *buffers) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		bufferPool.Put(b)
	}
	return nil
}

func (b *buffers) Read(p []byte) (int, error) { return b.reader.Read(p) }

var (
	bufferPool   = sync.Pool{New: func() any { return new(buffers) }}
	responsePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// PutRecords implements d2c.Stream: one PutRecords call, records in order
// under one partition key.
func (c *Client) PutRecords(ctx context.Context, partitionKey string, records [][]byte) (d2c.Result, error) {
	if len(records) == 0 {
		return d2c.Result{FailedFrom: -1}, nil
	}
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return d2c.Result{}, fmt.Errorf("kinesis put records: credentials: %w", err)
	}
	b := bufferPool.Get().(*buffers)
	b.closed.Store(false)
	b.body = c.appendBody(b.body[:0], partitionKey, records)
	b.reader.Reset(b.body)

	req, err := c.newRequest(ctx, b, creds)
	if err != nil {
		_ = b.Close()
		return d2c.Result{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return d2c.Result{}, fmt.Errorf("kinesis put records: %w", err)
	}
	// The response has a buffer of its own: the request's go back to the
	// pool only when the transport closes the request body.
	rb := responsePool.Get().(*bytes.Buffer)
	rb.Reset()
	_, err = rb.ReadFrom(resp.Body)
	resp.Body.Close()
	res, err := c.result(resp.StatusCode, rb.Bytes(), len(records), err)
	responsePool.Put(rb)
	return res, err
}

// appendBody writes the JSON 1.1 request:
// {"Records":[{"Data":"<base64>","PartitionKey":"<key>"},...],"StreamName":"<name>"}.
func (c *Client) appendBody(dst []byte, partitionKey string, records [][]byte) []byte {
	n := len(c.bodyTail) + 16
	for _, r := range records {
		n += base64.StdEncoding.EncodedLen(len(r)) + len(partitionKey)*6 + 36
	}
	if cap(dst) < n {
		dst = make([]byte, 0, n)
	}
	dst = append(dst, `{"Records":[`...)
	keyAt := -1 // where the first record's `","PartitionKey":"..."}` is: the others copy it
	keyLen := 0
	for i, r := range records {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"Data":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, r)
		if keyAt < 0 {
			keyAt = len(dst)
			dst = append(dst, `","PartitionKey":`...)
			dst = jsonstr.Append(dst, partitionKey)
			dst = append(dst, '}')
			keyLen = len(dst) - keyAt
			continue
		}
		dst = append(dst, dst[keyAt:keyAt+keyLen]...)
	}
	return append(dst, c.bodyTail...)
}

func (c *Client) newRequest(ctx context.Context, b *buffers, creds aws.Credentials) (*http.Request, error) {
	sum := sha256.Sum256(b.body)
	var payloadHash [2 * sha256.Size]byte
	hex.Encode(payloadHash[:], sum[:])

	h := make(http.Header, 6)
	h["Content-Type"] = hdrContentType
	h["X-Amz-Target"] = hdrTarget
	// The signer sets these with append(h[k][:0], v): slots of one array
	// spare it an allocation each. Authorization is not signed, and the
	// signer sets X-Amz-Date before it reads the headers; the token slot is
	// made only when there is a token to fill it.
	slots := make([]string, 3)
	h["X-Amz-Date"] = slots[0:1:1]
	h["Authorization"] = slots[1:2:2]
	if creds.SessionToken != "" {
		h["X-Amz-Security-Token"] = slots[2:3:3]
	}
	u := c.url // a copy: the client never shares mutable request state
	req := (&http.Request{
		Method: http.MethodPost, URL: &u, Host: c.host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: b,
	}).WithContext(ctx)
	// The SDK's signer, without the SDK's middleware stack: it caches the
	// day's derived key and adds X-Amz-Date, X-Amz-Security-Token and
	// Authorization. Content-Length is set after signing, so it is not a
	// signed header (the signer would sign it when it is known).
	if err := c.signer.SignHTTP(ctx, creds, req, string(payloadHash[:]), service, c.region, c.now().UTC()); err != nil {
		return nil, fmt.Errorf("kinesis put records: sign: %w", err)
	}
	req.ContentLength = int64(len(b.body))
	return req, nil
}

// APIError is an error answer of the Kinesis API.
type APIError struct {
	StatusCode int
	Code       string // __type without its namespace, e.g. ProvisionedThroughputExceededException
	Message    string
}

func (e *APIError) Error() string {
	return "http " + strconv.Itoa(e.StatusCode) + " " + e.Code + ": " + e.Message
}

// result interprets the answer to a call of n records.
func (c *Client) result(status int, body []byte, n int, readErr error) (d2c.Result, error) {
	if readErr != nil {
		return d2c.Result{}, fmt.Errorf("kinesis put records: read response: %w", readErr)
	}
	if status != http.StatusOK {
		e := apiError(status, body)
		switch e.Code {
		case "ProvisionedThroughputExceededException", "LimitExceededException":
			return d2c.Result{}, fmt.Errorf("kinesis put records: %w: %w", d2c.ErrThrottled, e)
		case "ExpiredTokenException", "ExpiredToken", "UnrecognizedClientException", "InvalidSignatureException":
			// Rotated or revoked role credentials: fetch fresh ones next call.
			if cc, ok := c.creds.(*aws.CredentialsCache); ok {
				cc.Invalidate()
			}
		}
		return d2c.Result{}, fmt.Errorf("kinesis put records: %w", e)
	}
	// Fast path: nothing failed, so the per-record results need no decoding.
	if failed, ok := failedRecordCount(body); ok && failed == 0 {
		return d2c.Result{FailedFrom: -1}, nil
	}
	var out struct {
		FailedRecordCount *int
		Records           []struct{ ErrorCode, ErrorMessage string }
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return d2c.Result{}, fmt.Errorf("kinesis put records: decode response: %w", err)
	}
	if out.FailedRecordCount == nil || *out.FailedRecordCount == 0 {
		return d2c.Result{FailedFrom: -1}, nil
	}
	for i, r := range out.Records {
		if r.ErrorCode != "" {
			return d2c.Result{FailedFrom: i, Throttled: r.ErrorCode == "ProvisionedThroughputExceededException"}, nil
		}
	}
	return d2c.Result{}, fmt.Errorf("kinesis put records: %d failures reported but no record of %d carries an error code", *out.FailedRecordCount, n)
}

func apiError(status int, body []byte) *APIError {
	var e struct {
		Type     string `json:"__type"`
		Message  string `json:"message"`
		Message2 string `json:"Message"`
	}
	_ = json.Unmarshal(body, &e) // a body that is not JSON leaves the code empty
	code := e.Type
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	msg := e.Message
	if msg == "" {
		msg = e.Message2
	}
	if code == "" {
		code = http.StatusText(status)
		if msg == "" {
			msg = string(body[:min(len(body), 256)])
		}
	}
	return &APIError{StatusCode: status, Code: code, Message: msg}
}

// failedRecordCount finds the top-level "FailedRecordCount" number without
// decoding the rest of the answer.
func failedRecordCount(b []byte) (int, bool) {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(b) {
				return 0, false
			}
			key := b[i+1 : j]
			i = j
			if depth != 1 || string(key) != "FailedRecordCount" {
				continue
			}
			k := i + 1
			for k < len(b) && (b[k] == ' ' || b[k] == ':' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
				k++
			}
			v, end := 0, k
			for end < len(b) && '0' <= b[end] && b[end] <= '9' {
				v = v*10 + int(b[end]-'0')
				end++
			}
			return v, end > k
		}
	}
	return 0, false
}
