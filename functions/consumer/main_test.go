package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// TestSampleEvent runs the handler on events/kinesis-consumer.json: its
// valid records are logged, its last, undecodable one is the batch's
// reported failure.
func TestSampleEvent(t *testing.T) {
	raw, err := os.ReadFile("../../events/kinesis-consumer.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.KinesisEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	resp := handle(context.Background(), slog.New(slog.NewJSONHandler(&out, nil)), ev)
	last := ev.Records[len(ev.Records)-1].Kinesis.SequenceNumber
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != last {
		t.Errorf("failures %+v, want the last record %s", resp.BatchItemFailures, last)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(ev.Records) {
		t.Fatalf("%d log lines for %d records:\n%s", len(lines), len(ev.Records), out.String())
	}
	var first struct {
		Msg      string
		DeviceID string `json:"deviceId"`
		Body     map[string]any
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Msg != "message" || first.DeviceID == "" || first.Body == nil {
		t.Errorf("first line %s (%v)", lines[0], err)
	}
	if !strings.Contains(lines[len(lines)-1], `"level":"WARN"`) {
		t.Errorf("last line %s, want the stop warning", lines[len(lines)-1])
	}
}
