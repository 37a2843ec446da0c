package kinesisput_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/kinesisput"
	"github.com/devicehub/devicehub/internal/kinesisput/kinesisfake"
)

var _ d2c.Stream = (*kinesisput.Client)(nil)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func response(status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
}

// The Authorization header must be exactly what the SDK's own SigV4 signer
// computes for the same request, headers and instant (the client signs
// with it: this checks the request it hands the signer), and the fixed
// vector each case had when the client carried its own SigV4 code, checked
// then against the SDK's signer: a change of what is signed shows.
func TestSignatureMatchesSDKSigner(t *testing.T) {
	at := time.Date(2026, 3, 9, 23, 59, 58, 0, time.UTC)
	cases := []struct {
		name     string
		endpoint string
		region   string
		creds    aws.Credentials
		vector   string // the Authorization header's signature
	}{
		{"emulator", "http://127.0.0.1:4567", "us-east-1", aws.Credentials{AccessKeyID: "devicehub", SecretAccessKey: "devicehub"},
			"8548c3bd3545b032188b31c18ba73d0ee3eb4f423550fbecea0c1448bcc4a8ef"},
		{"aws default endpoint", "", "eu-west-1", aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
			"615f220158b3c08ebb35c45c6788e3ac73ca418861e2beaab3cd95663568bbf0"},
		{"role credentials", "https://kinesis.ap-southeast-2.amazonaws.com:443", "ap-southeast-2",
			aws.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret/with+chars", SessionToken: "FwoGZXIvYXdzEPT//////////wEaD+token="},
			"85024ac5544036ac59091a014bf152c6e0ddd2c7e68d01ff76b7372eabf8b598"},
		// A base path the signer escapes again: the client leaves it the escaping.
		{"proxy path", "http://127.0.0.1:4567/kinesis%20proxy/v1", "us-east-1", aws.Credentials{AccessKeyID: "devicehub", SecretAccessKey: "devicehub"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got *http.Request
			var body []byte
			c, err := kinesisput.New(kinesisput.Config{
				Region: tc.region, Endpoint: tc.endpoint, StreamName: "telemetry",
				Credentials: credentials.StaticCredentialsProvider{Value: tc.creds},
				Now:         func() time.Time { return at },
				HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					got = r
					body, _ = io.ReadAll(r.Body)
					r.Body.Close()
					return response(200, `{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"s"}]}`), nil
				})},
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.PutRecords(context.Background(), "dev1", [][]byte{[]byte(`{"v":1}`)}); err != nil {
				t.Fatal(err)
			}

			// The same request for the SDK signer: same URL, Host and the
			// headers kinesisput signs (Content-Length unsigned, as ours).
			want, _ := http.NewRequest(http.MethodPost, got.URL.String(), nil)
			want.Host = got.Host
			for _, h := range []string{"Content-Type", "X-Amz-Target"} {
				want.Header.Set(h, got.Header.Get(h))
			}
			sum := sha256.Sum256(body)
			err = v4.NewSigner().SignHTTP(context.Background(), tc.creds, want, hex.EncodeToString(sum[:]), "kinesis", tc.region, at)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(want.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="+tc.creds.AccessKeyID+"/20260309/"+tc.region+"/kinesis/aws4_request, ") {
				t.Fatalf("SDK signed %q", want.Header.Get("Authorization"))
			}
			for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
				if got.Header.Get(h) != want.Header.Get(h) {
					t.Errorf("%s\n got %q\nwant %q", h, got.Header.Get(h), want.Header.Get(h))
				}
			}
			if auth := got.Header.Get("Authorization"); tc.vector != "" && !strings.HasSuffix(auth, ", Signature="+tc.vector) || got.Header.Get("X-Amz-Date") != "20260309T235958Z" {
				t.Errorf("Authorization %q at %q, want the signature %s", auth, got.Header.Get("X-Amz-Date"), tc.vector)
			}
			wantURL := tc.endpoint
			if wantURL == "" {
				wantURL = "https://kinesis." + tc.region + ".amazonaws.com"
			}
			if u, _ := url.Parse(wantURL); u.Path == "" {
				wantURL += "/"
			}
			if got.URL.String() != wantURL || got.Method != http.MethodPost {
				t.Errorf("request %s %s", got.Method, got.URL)
			}
		})
	}
}

// Results and errors map as the SDK-based stream mapped them.
func TestResultMapping(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		netErr    error
		want      d2c.Result
		wantErr   bool
		throttled bool // the error wraps d2c.ErrThrottled
	}{
		{name: "all accepted", status: 200, body: `{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"s"},{"SequenceNumber":"2","ShardId":"s"},{"SequenceNumber":"3","ShardId":"s"}]}`, want: d2c.Result{FailedFrom: -1}},
		{name: "count after records", status: 200, body: `{"Records":[{"SequenceNumber":"1","ShardId":"s"}], "FailedRecordCount" : 0}`, want: d2c.Result{FailedFrom: -1}},
		{name: "throttled record", status: 200, body: `{"FailedRecordCount":1,"Records":[{"SequenceNumber":"1","ShardId":"s"},{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded"},{"SequenceNumber":"3","ShardId":"s"}]}`, want: d2c.Result{FailedFrom: 1, Throttled: true}},
		{name: "internal failure record", status: 200, body: `{"FailedRecordCount":2,"Records":[{"ErrorCode":"InternalFailure","ErrorMessage":"x"},{"ErrorCode":"ProvisionedThroughputExceededException"},{"SequenceNumber":"3"}]}`, want: d2c.Result{FailedFrom: 0}},
		{name: "failures without codes", status: 200, body: `{"FailedRecordCount":1,"Records":[{"SequenceNumber":"1"}]}`, wantErr: true},
		{name: "not JSON", status: 200, body: `<html>`, wantErr: true},
		{name: "call throttled", status: 400, body: `{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded for stream"}`, wantErr: true, throttled: true},
		{name: "namespaced throttle", status: 400, body: `{"__type":"com.amazonaws.kinesis.v20131202#ProvisionedThroughputExceededException","message":"x"}`, wantErr: true, throttled: true},
		{name: "limit exceeded", status: 400, body: `{"__type":"LimitExceededException","message":"x"}`, wantErr: true, throttled: true},
		{name: "no such stream", status: 400, body: `{"__type":"ResourceNotFoundException","message":"Stream t not found"}`, wantErr: true},
		{name: "outage", status: 500, body: `{"__type":"InternalFailure","message":"injected outage"}`, wantErr: true},
		{name: "gateway", status: 502, body: `bad gateway`, wantErr: true},
		{name: "network", netErr: errors.New("connection refused"), wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, roundTripFunc(func(r *http.Request) (*http.Response, error) {
				r.Body.Close()
				if tc.netErr != nil {
					return nil, tc.netErr
				}
				return response(tc.status, tc.body), nil
			}))
			got, err := c.PutRecords(context.Background(), "dev1", [][]byte{[]byte("a"), []byte("b"), []byte("c")})
			if (err != nil) != tc.wantErr || errors.Is(err, d2c.ErrThrottled) != tc.throttled {
				t.Fatalf("err = %v, want error %v, throttled %v", err, tc.wantErr, tc.throttled)
			}
			if err == nil && got != tc.want {
				t.Fatalf("result %+v, want %+v", got, tc.want)
			}
		})
	}
}

func newClient(t *testing.T, rt http.RoundTripper) *kinesisput.Client {
	t.Helper()
	c, err := kinesisput.New(kinesisput.Config{
		Region: "us-east-1", StreamName: "telemetry", HTTPClient: &http.Client{Transport: rt},
		Credentials: credentials.NewStaticCredentialsProvider("id", "secret", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Concurrent calls share pooled buffers; every record must still arrive
// intact, in order, under its own partition key (run with -race).
func TestConcurrentPutsKeepRecordsIntact(t *testing.T) {
	fake := &kinesisfake.Transport{Keep: true}
	c := newClient(t, fake)
	const workers, calls = 8, 25
	var wg sync.WaitGroup
	var failed atomic.Int32
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("dev\"%d", w) // a quote, to exercise escaping
			for i := range calls {
				recs := [][]byte{[]byte(fmt.Sprintf("%s/%d/a", key, i)), bytes.Repeat([]byte{byte(w)}, 100+i)}
				if res, err := c.PutRecords(context.Background(), key, recs); err != nil || res.FailedFrom != -1 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d calls failed", failed.Load())
	}
	next := map[string]int{}
	recs := fake.Records()
	if len(recs) != workers*calls*2 {
		t.Fatalf("%d records", len(recs))
	}
	for i := 0; i < len(recs); i += 2 {
		a, b := recs[i], recs[i+1]
		var w int
		fmt.Sscanf(strings.TrimPrefix(a.PartitionKey, `dev"`), "%d", &w)
		n := next[a.PartitionKey]
		next[a.PartitionKey]++
		if string(a.Data) != fmt.Sprintf("%s/%d/a", a.PartitionKey, n) || b.PartitionKey != a.PartitionKey ||
			!bytes.Equal(b.Data, bytes.Repeat([]byte{byte(w)}, 100+n)) || a.StreamName != "telemetry" {
			t.Fatalf("records %d, %d: %q %q / %q %d bytes", i, i+1, a.PartitionKey, a.Data, b.PartitionKey, len(b.Data))
		}
	}
}

// Expired role credentials are dropped from the cache, so the next call
// signs with fresh ones.
func TestExpiredTokenRefreshesCredentials(t *testing.T) {
	var fetched atomic.Int32
	provider := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		n := fetched.Add(1)
		return aws.Credentials{AccessKeyID: fmt.Sprint("AKID", n), SecretAccessKey: "s", CanExpire: true, Expires: time.Now().Add(time.Hour)}, nil
	})
	var auths []string
	c, err := kinesisput.New(kinesisput.Config{
		Region: "us-east-1", StreamName: "telemetry", Credentials: provider,
		HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r.Body.Close()
			auths = append(auths, r.Header.Get("Authorization"))
			if len(auths) == 1 {
				return response(400, `{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}`), nil
			}
			return response(200, `{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1"}]}`), nil
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRecords(context.Background(), "d", [][]byte{[]byte("x")}); err == nil {
		t.Fatal("expired token accepted")
	}
	if _, err := c.PutRecords(context.Background(), "d", [][]byte{[]byte("x")}); err != nil {
		t.Fatal(err)
	}
	if fetched.Load() != 2 || !strings.Contains(auths[1], "Credential=AKID2/") {
		t.Fatalf("fetched %d times; second call signed %q", fetched.Load(), auths[1])
	}
}

// FromSDK takes the endpoint the SDK resolved, including the standard
// AWS_ENDPOINT_URL_KINESIS variable, and the SDK's region and credentials.
func TestFromSDKResolvesEndpointAsTheSDK(t *testing.T) {
	cases := []struct {
		name, env, base, want string
	}{
		{"default", "", "", "https://kinesis.eu-central-1.amazonaws.com/"},
		{"service variable", "http://127.0.0.1:4567", "", "http://127.0.0.1:4567/"},
		{"explicit base endpoint", "http://127.0.0.1:4567", "http://localhost:9999", "http://localhost:9999/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL", "")
			t.Setenv("AWS_ENDPOINT_URL_KINESIS", tc.env)
			if tc.env == "" {
				t.Setenv("AWS_ENDPOINT_URL_KINESIS", "")
			}
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
			t.Setenv("AWS_REGION", "eu-central-1")
			t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
			cfg, err := config.LoadDefaultConfig(context.Background(), config.WithHTTPClient(awshttp.NewBuildableClient()))
			if err != nil {
				t.Fatal(err)
			}
			k := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
				if tc.base != "" {
					o.BaseEndpoint = aws.String(tc.base)
				}
			})
			var sent *http.Request
			o := k.Options()
			c, err := kinesisput.New(kinesisput.Config{
				Region: o.Region, Credentials: o.Credentials, Endpoint: aws.ToString(o.BaseEndpoint), StreamName: "s",
				HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					r.Body.Close()
					sent = r
					return response(200, `{"FailedRecordCount":0,"Records":[{}]}`), nil
				})},
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.PutRecords(context.Background(), "d", [][]byte{[]byte("x")}); err != nil {
				t.Fatal(err)
			}
			if sent.URL.String() != tc.want || !strings.Contains(sent.Header.Get("Authorization"), "Credential=AKIDFROMENV/") {
				t.Fatalf("sent to %s with %s", sent.URL, sent.Header.Get("Authorization"))
			}
			if fromSDK, err := kinesisput.FromSDK(k, "s"); err != nil || fromSDK == nil {
				t.Fatalf("FromSDK: %v", err)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("a", "b", "")
	cases := []struct {
		name string
		cfg  kinesisput.Config
	}{
		{"no region", kinesisput.Config{StreamName: "s", Credentials: creds}},
		{"no stream", kinesisput.Config{Region: "r", Credentials: creds}},
		{"no credentials", kinesisput.Config{Region: "r", StreamName: "s"}},
		{"not http", kinesisput.Config{Region: "r", StreamName: "s", Credentials: creds, Endpoint: "ftp://x"}},
		{"no host", kinesisput.Config{Region: "r", StreamName: "s", Credentials: creds, Endpoint: "http://"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := kinesisput.New(tc.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
