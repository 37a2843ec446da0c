// Package kinesisput is a lean Kinesis PutRecords client for the ingress hot
// path. The AWS SDK's generic middleware stack costs hundreds of allocations
// per call; this client speaks Kinesis's JSON 1.1 protocol over net/http,
// signs with SigV4 using a cached signing key, and reuses its buffers, so a
// request costs a few dozen allocations. Everything else (stream creation,
// reads) stays on the SDK.
package kinesisput

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/jsonstr"
)

// HTTPClient sends requests; *http.Client and the SDK's BuildableClient fit.
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
	creds      aws.CredentialsProvider
	http       HTTPClient
	url        url.URL
	path       string // canonical URI
	host       string // as signed and sent
	region     string
	now        func() time.Time
	bodyTail   []byte // `],"StreamName":"..."}`
	scopeTail  string // "/<region>/kinesis/aws4_request"
	signingKey atomic.Pointer[signingKey]
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
	return &Client{
		creds: creds, http: c.HTTPClient, url: *u, path: u.EscapedPath(), host: signedHost(u), region: c.Region, now: c.Now,
		bodyTail: tail, scopeTail: "/" + c.Region + "/" + service + "/aws4_request",
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
	algorithm   = "AWS4-HMAC-SHA256"
)

// Constant header values are shared, read-only: http.Header.Set and Add
// replace or copy a value slice, never write into it.
var (
	hdrTarget      = []string{target}
	hdrContentType = []string{contentType}
)

// buffers is the per-call scratch space, pooled: the request body, the
// SHA-256 state and the canonical request. It is the request's Body.
type buffers struct {
	body    []byte
	reader  bytes.Reader
	closed  atomic.Bool
	scratch []byte
	sha     hash.Hash
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
	bufferPool   = sync.Pool{New: func() any { return &buffers{sha: sha256.New(), scratch: make([]byte, 0, 1024)} }}
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
	for i, r := range records {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"Data":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, r)
		dst = append(dst, `","PartitionKey":`...)
		dst = jsonstr.Append(dst, partitionKey)
		dst = append(dst, '}')
	}
	return append(dst, c.bodyTail...)
}

func (c *Client) newRequest(ctx context.Context, b *buffers, creds aws.Credentials) (*http.Request, error) {
	now := c.now().UTC()
	var stamp [16]byte // 20060102T150405Z
	appendAmzDate(stamp[:0], now)
	date := stamp[:8]

	// The canonical request is hashed as it is written, into b.scratch.
	var payloadHash [64]byte
	b.sha.Reset()
	b.sha.Write(b.body)
	hex.Encode(payloadHash[:], b.sha.Sum(b.scratch[:0]))

	cr := b.scratch[:0]
	cr = append(cr, "POST\n"...)
	cr = append(cr, c.path...)
	cr = append(cr, "\n\ncontent-type:"+contentType+"\nhost:"...)
	cr = append(cr, c.host...)
	cr = append(cr, "\nx-amz-date:"...)
	cr = append(cr, stamp[:]...)
	if creds.SessionToken != "" {
		cr = append(cr, "\nx-amz-security-token:"...)
		cr = append(cr, creds.SessionToken...)
	}
	cr = append(cr, "\nx-amz-target:"+target+"\n\n"...)
	cr = append(cr, signedHeaders(creds.SessionToken != "")...)
	cr = append(cr, '\n')
	cr = append(cr, payloadHash[:]...)
	var crHash [64]byte
	b.sha.Reset()
	b.sha.Write(cr)
	hex.Encode(crHash[:], b.sha.Sum(cr[len(cr):]))

	// String to sign, reusing the scratch buffer.
	sts := cr[:0]
	sts = append(sts, algorithm+"\n"...)
	sts = append(sts, stamp[:]...)
	sts = append(sts, '\n')
	sts = append(sts, date...)
	sts = append(sts, c.scopeTail...)
	sts = append(sts, '\n')
	sts = append(sts, crHash[:]...)

	key := c.key(date, creds)
	var sig [sha256.Size]byte
	key.sign(b.sha, sts, sig[:0])
	b.scratch = sts[:0]

	// Authorization: one string built in one allocation.
	sh := signedHeaders(creds.SessionToken != "")
	var auth strings.Builder
	auth.Grow(len(algorithm) + len(" Credential=") + len(creds.AccessKeyID) + 9 + len(c.scopeTail) +
		len(", SignedHeaders=") + len(sh) + len(", Signature=") + 64)
	auth.WriteString(algorithm + " Credential=")
	auth.WriteString(creds.AccessKeyID)
	auth.WriteByte('/')
	auth.Write(date)
	auth.WriteString(c.scopeTail)
	auth.WriteString(", SignedHeaders=")
	auth.WriteString(sh)
	auth.WriteString(", Signature=")
	var sigHex [64]byte
	hex.Encode(sigHex[:], sig[:])
	auth.Write(sigHex[:])

	// Per-request header values share one backing array.
	vals := new([3][1]string)
	vals[0][0] = string(stamp[:])
	vals[1][0] = auth.String()
	h := make(http.Header, 6)
	h["Content-Type"] = hdrContentType
	h["X-Amz-Target"] = hdrTarget
	h["X-Amz-Date"] = vals[0][:]
	h["Authorization"] = vals[1][:]
	if creds.SessionToken != "" {
		vals[2][0] = creds.SessionToken
		h["X-Amz-Security-Token"] = vals[2][:]
	}
	u := c.url // a copy: the client never shares mutable request state
	req := &http.Request{
		Method: http.MethodPost, URL: &u, Host: c.host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: b, ContentLength: int64(len(b.body)),
	}
	return req.WithContext(ctx), nil
}

func signedHeaders(token bool) string {
	if token {
		return "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
	}
	return "content-type;host;x-amz-date;x-amz-target"
}

// signingKey is the SigV4 key of one day, region, service and secret, kept
// as its HMAC pads so each signature is two SHA-256 passes and no allocation.
type signingKey struct {
	date       [8]byte
	accessKey  string
	secret     string
	ipad, opad [sha256.BlockSize]byte
}

func (c *Client) key(date []byte, creds aws.Credentials) *signingKey {
	if k := c.signingKey.Load(); k != nil && string(k.date[:]) == string(date) &&
		k.secret == creds.SecretAccessKey && k.accessKey == creds.AccessKeyID {
		return k
	}
	mac := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	derived := mac([]byte("AWS4"+creds.SecretAccessKey), string(date))
	derived = mac(derived, c.region)
	derived = mac(derived, service)
	derived = mac(derived, "aws4_request")
	k := &signingKey{accessKey: creds.AccessKeyID, secret: creds.SecretAccessKey}
	copy(k.date[:], date)
	for i := range k.ipad {
		var d byte
		if i < len(derived) {
			d = derived[i]
		}
		k.ipad[i], k.opad[i] = d^0x36, d^0x5c
	}
	c.signingKey.Store(k)
	return k
}

// sign appends HMAC-SHA256(key, msg) to dst, using h as scratch.
func (k *signingKey) sign(h hash.Hash, msg, dst []byte) []byte {
	h.Reset()
	h.Write(k.ipad[:])
	h.Write(msg)
	var inner [sha256.Size]byte
	h.Sum(inner[:0])
	h.Reset()
	h.Write(k.opad[:])
	h.Write(inner[:])
	return h.Sum(dst)
}

// appendAmzDate appends t (UTC) as 20060102T150405Z without fmt.
func appendAmzDate(dst []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	hh, mm, ss := t.Clock()
	dst = appendDigits(dst, y, 4)
	dst = appendDigits(dst, int(mo), 2)
	dst = appendDigits(dst, d, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hh, 2)
	dst = appendDigits(dst, mm, 2)
	dst = appendDigits(dst, ss, 2)
	return append(dst, 'Z')
}

func appendDigits(dst []byte, v, width int) []byte {
	var d [4]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, d[:width]...)
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
