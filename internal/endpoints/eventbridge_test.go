package endpoints

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/devicehub/devicehub/shared/routing"
)

// fakeEventBridge checks PutEvents calls against EventBridge's rules (there
// is no EventBridge emulator) and fails entries on demand.
type fakeEventBridge struct {
	t     *testing.T
	mu    sync.Mutex
	calls [][]types.PutEventsRequestEntry
	// fail answers an entry's error code, or "" to accept it.
	fail func(detail string) string
}

func (f *fakeEventBridge) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in.Entries)
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		f.t.Errorf("call of %d entries", len(in.Entries))
	}
	total := 0
	out := &eventbridge.PutEventsOutput{}
	for _, e := range in.Entries {
		if e.Time != nil {
			total += 14
		}
		total += len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
		r := types.PutEventsResultEntry{EventId: aws.String("e")}
		if f.fail != nil {
			if c := f.fail(aws.ToString(e.Detail)); c != "" {
				r = types.PutEventsResultEntry{ErrorCode: aws.String(c), ErrorMessage: aws.String("no")}
				out.FailedEntryCount++
			}
		}
		out.Entries = append(out.Entries, r)
	}
	if total > 256<<10 {
		f.t.Errorf("call of %d bytes", total)
	}
	return out, nil
}

func TestEventBridge(t *testing.T) {
	f := &fakeEventBridge{t: t, fail: func(detail string) string {
		switch {
		case strings.Contains(detail, `"i":"throttled"`):
			return "ThrottlingException"
		case strings.Contains(detail, `"i":"malformed"`):
			return "MalformedDetail"
		}
		return ""
	}}
	s, err := New(routing.Endpoint{Name: "eb", Kind: routing.EventBridge, Bus: "devices"}, Clients{EventBridge: f})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	in := []Message{
		{DeviceID: "d1", UniqueID: "1", Time: at, Data: []byte(`{"v":2,"i":"1","d":"d1","b":{"t":1}}`)},
		{DeviceID: "d1", UniqueID: "2", Time: at, Data: []byte(`{"v":2,"s":"DeviceLifecycleEvents","d":"d1","b":{"opType":"createDeviceIdentity"}}`)},
		{DeviceID: "d1", UniqueID: "3", Time: at, Data: []byte(`{"v":2,"i":"throttled","d":"d1"}`)},
		{DeviceID: "d1", UniqueID: "4", Time: at, Data: []byte(`{"v":2,"i":"malformed","d":"d1"}`)},
		{DeviceID: "d1", UniqueID: "5", Time: at, Data: []byte(`[1,2]`)},
		{DeviceID: "d1", UniqueID: "6", Time: at, Data: []byte(`{"b":"` + strings.Repeat("x", 256<<10) + `"}`)},
		{DeviceID: "d2", UniqueID: "7", Time: at, Data: []byte(`{"v":2,"i":"7","d":"d2"}`)},
	}
	errs := s.Send(context.Background(), in)
	want := []string{"", "", "transient", "permanent", "permanent", "permanent", ""}
	for i, w := range want {
		switch {
		case w == "" && errs[i] != nil:
			t.Errorf("message %d: %v", i+1, errs[i])
		case w == "transient" && (errs[i] == nil || Permanent(errs[i])):
			t.Errorf("message %d: %v, want transient", i+1, errs[i])
		case w == "permanent" && !Permanent(errs[i]):
			t.Errorf("message %d: %v, want permanent", i+1, errs[i])
		}
	}
	if len(f.calls) != 1 || len(f.calls[0]) != 5 {
		t.Fatalf("calls %d, want 1 of the 5 messages that pass the checks", len(f.calls))
	}
	for i, e := range f.calls[0] {
		wantType := DetailTypeDeviceMessage
		if i == 1 {
			wantType = DetailTypeLifecycleEvent
		}
		if aws.ToString(e.Source) != EventSource || aws.ToString(e.DetailType) != wantType ||
			aws.ToString(e.EventBusName) != "devices" || !aws.ToTime(e.Time).Equal(at) {
			t.Errorf("entry %d: source %q, type %q, bus %q, time %v", i, aws.ToString(e.Source), aws.ToString(e.DetailType), aws.ToString(e.EventBusName), aws.ToTime(e.Time))
		}
	}
	if got := aws.ToString(f.calls[0][0].Detail); got != string(in[0].Data) {
		t.Errorf("detail %s, want the message", got)
	}
}

func TestEventBridgeBatching(t *testing.T) {
	f := &fakeEventBridge{t: t}
	s, err := New(routing.Endpoint{Name: "eb", Kind: routing.EventBridge}, Clients{EventBridge: f})
	if err != nil {
		t.Fatal(err)
	}
	var in []Message
	for i := range 23 {
		in = append(in, Message{DeviceID: "d", UniqueID: string(rune('a' + i)), Data: []byte(`{"x":1}`)})
	}
	big := []byte(`{"b":"` + strings.Repeat("x", 100<<10) + `"}`)
	for range 5 {
		in = append(in, Message{DeviceID: "d", Data: big})
	}
	for i, err := range s.Send(context.Background(), in) {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	// 10 and 10 small ones, the last 3 with two big ones, then 2 and 1
	// big ones (the fake fails the test if a call is over 256 KiB).
	if len(f.calls) != 5 {
		t.Errorf("%d calls, want 5", len(f.calls))
	}
	for _, c := range f.calls {
		if e := c[0]; e.EventBusName != nil {
			t.Errorf("default bus: EventBusName %q, want unset", aws.ToString(e.EventBusName))
		}
	}
}
