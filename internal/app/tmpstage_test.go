package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/devicehub/devicehub/internal/kinesisput"
	"github.com/devicehub/devicehub/internal/kinesisput/kinesisfake"
)

func BenchmarkTmpStage(b *testing.B) {
	_, raw := newLambdaIngress(b, &kinesisfake.Transport{}, 0)
	b.Run("adapter-noop", func(b *testing.B) {
		noop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
		h := lambda.NewHandler(LambdaHandler(noop, "2.0"))
		for b.Loop() {
			h.Invoke(context.Background(), raw)
		}
	})
	token := "IQoJb3JpZ2luX2VjE" + strings.Repeat("Kf8/BENCHsessionTOKEN+", 50)
	b.Run("putrecords", func(b *testing.B) {
		stream, _ := kinesisput.New(kinesisput.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("ASIABENCHEXAMPLE", "bench-secret", token),
			HTTPClient: &http.Client{Transport: &kinesisfake.Transport{}}, StreamName: "bench-telemetry"})
		rec := [][]byte{make([]byte, 200)}
		for b.Loop() {
			stream.PutRecords(context.Background(), "bench-device-1", rec)
		}
	})
	for _, tok := range []string{"", token} {
		b.Run("sign-token"+map[bool]string{true: "yes", false: "no"}[tok != ""], func(b *testing.B) {
			s := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
			creds := aws.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: tok}
			u, _ := url.Parse("https://kinesis.us-east-1.amazonaws.com/")
			sum := sha256.Sum256(nil)
			hs := hex.EncodeToString(sum[:])
			now := time.Now()
			for b.Loop() {
				h := http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {"Kinesis_20131202.PutRecords"}}
				uu := *u
				req := &http.Request{Method: "POST", URL: &uu, Header: h, Host: u.Host}
				s.SignHTTP(context.Background(), creds, req, hs, "kinesis", "us-east-1", now)
			}
		})
	}
	b.Run("sha-420B", func(b *testing.B) {
		buf := make([]byte, 420)
		for b.Loop() {
			sha256.Sum256(buf)
		}
	})
}
