package hubapi

import (
	"context"
	"testing"
	"time"
)

// The record a Lambda adapter offers is taken once, by the first ServeHTTP;
// a record made later (a nested handler) still carries the gateway's id.
func TestGatewayRequestRecord(t *testing.T) {
	ctx, cancel := context.WithTimeout(WithGatewayRequestID(context.Background(), "gw-1"), time.Minute)
	defer cancel()
	if !takeRequest(ctx) || takeRequest(ctx) {
		t.Fatal("the offered record is not taken exactly once")
	}
	if rq := requestFrom(ctx); rq == nil || rq.ID() != "gw-1" {
		t.Fatalf("record %+v", rq)
	}
	inner := withRequest(ctx)
	if rq := requestFrom(inner); rq == requestFrom(ctx) || rq.ID() != "gw-1" || takeRequest(inner) {
		t.Fatalf("nested record %+v", rq)
	}
	if _, ok := inner.Deadline(); !ok {
		t.Fatal("the record's context lost its parent's deadline")
	}
	plain := withRequest(context.Background())
	if rq := requestFrom(plain); rq.ID() == "" || rq.gateway != "" {
		t.Fatalf("a request without a gateway: %+v", rq)
	}
}
