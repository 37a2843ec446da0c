package router_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/router"
	"github.com/devicehub/devicehub/shared/routing"
)

// nopSender delivers everything, keeping nothing.
type nopSender struct{}

func (nopSender) Send(_ context.Context, msgs []router.Message) []error {
	return make([]error, len(msgs))
}

// nopLedger records nothing.
type nopLedger struct{}

func (nopLedger) WriteDeadLetters(_ context.Context, dls []router.DeadLetter) (int, error) {
	return len(dls), nil
}
func (nopLedger) AddCounts(context.Context, []router.Count) error { return nil }

// BenchmarkRoute is the router's CPU per record: decode, three routes with
// conditions on an application property, a system property and the body,
// one enrichment re-encoding the record for one endpoint, and senders that
// cost nothing. A batch is 100 records of 10 devices; half match a route.
func BenchmarkRoute(b *testing.B) {
	def := routing.Definition{
		Endpoints: []routing.Endpoint{
			{Name: "alerts", Kind: routing.Kinesis, Stream: "alerts"},
			{Name: "archive", Kind: routing.S3, Bucket: "archive"},
		},
		Routes: []routing.Route{
			{Name: "hot", Condition: "$body.temperature > 30", Endpoints: []string{"alerts"}},
			{Name: "flagged", Condition: "alert = 'true'", Endpoints: []string{"archive"}},
			{Name: "pump", Condition: "$connectionDeviceId = 'pump-1' AND $contentType = 'application/json'", Endpoints: []string{"archive"}},
		},
		Enrichments: []routing.Enrichment{
			{Key: "site", Value: "plant-7", Endpoints: []string{"alerts"}},
			{Key: "hub", Value: "$iothubname", Endpoints: []string{"alerts"}},
		},
	}
	r, err := router.New(def, router.Options{
		Senders: map[string]router.Sender{"alerts": nopSender{}, "archive": nopSender{}},
		Ledger:  nopLedger{}, HubName: "contoso", Now: func() time.Time { return now },
	})
	if err != nil {
		b.Fatal(err)
	}
	const records = 100
	var recs []rec
	for i := range records {
		temp := 20 + i%20 // a quarter above 30
		recs = append(recs, rec{
			dev: fmt.Sprintf("pump-%d", i%10), id: fmt.Sprintf("m-%d", i),
			props: map[string]string{"alert": fmt.Sprint(i%4 == 0), "firmware": "1.4.2"},
			body:  fmt.Sprintf(`{"temperature":%d,"humidity":40,"status":"ok"}`, temp),
		})
	}
	ev := batch(recs...)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if resp, err := r.Handle(ctx, ev); err != nil || len(resp.BatchItemFailures) > 0 {
			b.Fatal(resp, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
}
