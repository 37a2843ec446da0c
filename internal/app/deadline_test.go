package app

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
)

// stalled is an AWS endpoint that accepts connections and never answers.
func stalled(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// With DynamoDB and Kinesis stalled, device and service requests answer 503
// with Retry-After before the invocation's deadline, instead of hanging until
// Lambda kills them.
func TestStalledBackendAnswers503BeforeTheDeadline(t *testing.T) {
	end := stalled(t)
	aws := awsenv.Static("us-east-1")
	cfg := config.Config{HubHost: "hub.example", OwnerKeyName: "iothubowner", OwnerKey: registry.NewKey(), StreamName: "s",
		DevicesTable: "d", C2DTable: "c", FeedbackTable: "f"}
	h, err := Build(context.Background(), cfg, Clients{DynamoDB: awsenv.DynamoDB(aws, end), Kinesis: awsenv.Kinesis(aws, end)}, All, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	handler := Handler(h)
	devTok, _ := sas.New("hub.example/devices/d1", registry.NewKey(), "", time.Now().Add(time.Hour))
	ownerTok, _ := sas.New("hub.example", cfg.OwnerKey, "iothubowner", time.Now().Add(time.Hour))
	for _, tc := range []struct{ name, method, path, auth string }{
		{"telemetry", http.MethodPost, "/devices/d1/messages/events", devTok},
		{"c2d receive", http.MethodGet, "/devices/d1/messages/devicebound", devTok},
		{"registry get", http.MethodGet, "/devices/d1", ownerTok},
		{"c2d send", http.MethodPost, "/devices/d1/messages/devicebound", ownerTok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The invocation's deadline, as aws-lambda-go puts it on the context.
			const invocation = 3 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), invocation)
			defer cancel()
			r := httptest.NewRequestWithContext(ctx, tc.method, tc.path, strings.NewReader("x"))
			r.Header.Set("Authorization", tc.auth)
			w := httptest.NewRecorder()
			start := time.Now()
			handler.ServeHTTP(w, r)
			took := time.Since(start)
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
				t.Fatalf("status %d, Retry-After %q: %s", w.Code, w.Header().Get("Retry-After"), w.Body)
			}
			var e iothub.ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code != "ServiceUnavailable" {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if took >= invocation {
				t.Fatalf("answered after %v, when Lambda would already have ended the invocation (%v)", took, invocation)
			}
		})
	}
}
