package endpoints

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/devicehub/devicehub/shared/routing"
)

// fakeSQS checks SendMessageBatch calls against SQS's rules (no emulator
// speaks the current SDK's JSON protocol) and fails entries on demand.
type fakeSQS struct {
	t       *testing.T
	fifo    bool
	mu      sync.Mutex
	calls   [][]types.SendMessageBatchRequestEntry
	callErr error
	// fail answers an entry's failure, or nil to accept it.
	fail func(body string) *types.BatchResultErrorEntry
}

func (f *fakeSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in.Entries)
	if f.callErr != nil {
		return nil, f.callErr
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		f.t.Errorf("batch of %d entries", len(in.Entries))
	}
	total := 0
	ids := map[string]bool{}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		id := aws.ToString(e.Id)
		if ids[id] {
			f.t.Errorf("entry id %q twice", id)
		}
		ids[id] = true
		total += len(aws.ToString(e.MessageBody))
		for name, a := range e.MessageAttributes {
			total += len(name) + len(aws.ToString(a.DataType)) + len(aws.ToString(a.StringValue))
		}
		if f.fifo && (!fifoIDValid(aws.ToString(e.MessageGroupId)) || !fifoIDValid(aws.ToString(e.MessageDeduplicationId))) {
			f.t.Errorf("FIFO entry with group %q, deduplication id %q", aws.ToString(e.MessageGroupId), aws.ToString(e.MessageDeduplicationId))
		}
		if !f.fifo && (e.MessageGroupId != nil || e.MessageDeduplicationId != nil) {
			f.t.Errorf("standard queue entry with FIFO ids")
		}
		if f.fail != nil {
			if fe := f.fail(aws.ToString(e.MessageBody)); fe != nil {
				fe.Id = e.Id
				out.Failed = append(out.Failed, *fe)
				continue
			}
		}
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("m-" + id)})
	}
	if total > 256<<10 {
		f.t.Errorf("batch of %d bytes", total)
	}
	return out, nil
}

func (f *fakeSQS) entries() []types.SendMessageBatchRequestEntry {
	var out []types.SendMessageBatchRequestEntry
	for _, c := range f.calls {
		out = append(out, c...)
	}
	return out
}

func newSQSSender(t *testing.T, f *fakeSQS, queue string) Sender {
	t.Helper()
	s, err := New(routing.Endpoint{Name: "q", Kind: routing.SQS, Queue: queue, FIFO: f.fifo}, Clients{SQS: f})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSQSStandard(t *testing.T) {
	f := &fakeSQS{t: t}
	s := newSQSSender(t, f, "https://sqs.us-east-1.amazonaws.com/1/q")
	var in []Message
	for i := range 25 {
		in = append(in, msgs("dev"+string(rune('a'+i%3))+":m"+string(rune('a'+i)))...)
	}
	for i, err := range s.Send(context.Background(), in) {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	if len(f.calls) != 3 {
		t.Errorf("%d calls, want 3 (25 messages, 10 a call)", len(f.calls))
	}
	// The calls run in parallel: match entries by body.
	byBody := map[string]types.SendMessageBatchRequestEntry{}
	for _, e := range f.entries() {
		byBody[aws.ToString(e.MessageBody)] = e
	}
	for _, m := range in {
		e, ok := byBody[string(m.Data)]
		if !ok {
			t.Fatalf("no entry has %s as its body", m.Data)
		}
		if a := e.MessageAttributes[AttrDeviceID]; aws.ToString(a.DataType) != "String" || aws.ToString(a.StringValue) != m.DeviceID {
			t.Errorf("deviceId attribute %s %s, want String %s", aws.ToString(a.DataType), aws.ToString(a.StringValue), m.DeviceID)
		}
	}
}

func TestSQSBytesPerCall(t *testing.T) {
	f := &fakeSQS{t: t}
	s := newSQSSender(t, f, "q")
	big := `{"b":"` + strings.Repeat("x", 100<<10) + `"}` // 100 KiB: two fit a call, three do not
	var in []Message
	for i := range 5 {
		in = append(in, Message{DeviceID: "d", UniqueID: string(rune('a' + i)), Data: []byte(big)})
	}
	for i, err := range s.Send(context.Background(), in) {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	if len(f.calls) != 3 {
		t.Errorf("%d calls, want 3", len(f.calls))
	}
}

func TestSQSFIFO(t *testing.T) {
	throttled := &types.BatchResultErrorEntry{Code: aws.String("RequestThrottled"), SenderFault: true, Message: aws.String("slow down")}
	invalid := &types.BatchResultErrorEntry{Code: aws.String("InvalidParameterValue"), SenderFault: true}
	internal := &types.BatchResultErrorEntry{Code: aws.String("InternalError"), SenderFault: false}
	for _, tc := range []struct {
		name      string
		fail      map[string]*types.BatchResultErrorEntry // by message id in the body
		permanent map[string]bool                         // failed, permanently
		transient map[string]bool                         // failed, transiently (incl. not attempted)
	}{
		{name: "all delivered"},
		{
			name:      "throttled entry: the device's later messages wait",
			fail:      map[string]*types.BatchResultErrorEntry{"a2": throttled},
			transient: map[string]bool{"a2": true, "a3": true},
		},
		{
			name:      "sender fault: permanent",
			fail:      map[string]*types.BatchResultErrorEntry{"b1": invalid},
			permanent: map[string]bool{"b1": true},
			transient: map[string]bool{"b2": true},
		},
		{
			name:      "service fault: transient",
			fail:      map[string]*types.BatchResultErrorEntry{"a1": internal},
			transient: map[string]bool{"a1": true, "a2": true, "a3": true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeSQS{t: t, fifo: true, fail: func(body string) *types.BatchResultErrorEntry {
				for id, fe := range tc.fail {
					if strings.Contains(body, `"`+id+`"`) {
						c := *fe
						return &c
					}
				}
				return nil
			}}
			s := newSQSSender(t, f, "https://sqs.us-east-1.amazonaws.com/1/q.fifo")
			in := msgs("a:a1", "b:b1", "a:a2", "b:b2", "a:a3")
			errs := s.Send(context.Background(), in)
			for i, m := range in {
				id := m.UniqueID
				switch {
				case tc.permanent[id]:
					if !Permanent(errs[i]) {
						t.Errorf("%s: %v, want permanent", id, errs[i])
					}
				case tc.transient[id]:
					if errs[i] == nil || Permanent(errs[i]) {
						t.Errorf("%s: %v, want transient", id, errs[i])
					}
				case errs[i] != nil:
					t.Errorf("%s: %v", id, errs[i])
				}
			}
			// A device's entries carry its group, in order, one per call.
			seen := map[string]int{}
			for _, call := range f.calls {
				groups := map[string]bool{}
				for _, e := range call {
					g := aws.ToString(e.MessageGroupId)
					if groups[g] {
						t.Errorf("call holds two messages of group %s", g)
					}
					groups[g] = true
					seen[g]++
					if want := g + "/" + g + string(rune('0'+seen[g])); aws.ToString(e.MessageDeduplicationId) != want {
						t.Errorf("deduplication id %q, want %q", aws.ToString(e.MessageDeduplicationId), want)
					}
				}
			}
		})
	}
}

func TestSQSRejects(t *testing.T) {
	f := &fakeSQS{t: t}
	s := newSQSSender(t, f, "q")
	in := []Message{
		{DeviceID: "d", UniqueID: "big", Data: []byte(`"` + strings.Repeat("x", 256<<10) + `"`)},
		{DeviceID: "d", UniqueID: "ctl", Data: []byte("{\"a\":\"\x01\"}")},
		{DeviceID: "d", UniqueID: "utf8", Data: []byte{'"', 0xff, '"'}},
		{DeviceID: "d", UniqueID: "empty"},
		{DeviceID: "d", UniqueID: "ok", Data: []byte("{\"a\":\"tab\tand line\nbreak\"}")},
	}
	errs := s.Send(context.Background(), in)
	for i, m := range in[:4] {
		if !Permanent(errs[i]) {
			t.Errorf("%s: %v, want permanent", m.UniqueID, errs[i])
		}
	}
	if errs[4] != nil {
		t.Errorf("ok: %v", errs[4])
	}
	if n := len(f.entries()); n != 1 {
		t.Errorf("%d entries sent, want 1", n)
	}
}

func TestSQSCallError(t *testing.T) {
	f := &fakeSQS{t: t, callErr: sdkError(400, &types.QueueDoesNotExist{})}
	for _, err := range newSQSSender(t, f, "q").Send(context.Background(), msgs("a:1", "b:2")) {
		if !Permanent(err) || !strings.Contains(err.Error(), "QueueDoesNotExist") {
			t.Errorf("missing queue: %v, want permanent", err)
		}
	}
	f = &fakeSQS{t: t, callErr: errors.New("connection reset")}
	for _, err := range newSQSSender(t, f, "q").Send(context.Background(), msgs("a:1", "b:2")) {
		if err == nil || Permanent(err) {
			t.Errorf("connection reset: %v, want transient", err)
		}
	}
}

func TestFIFODeduplicationID(t *testing.T) {
	long := strings.Repeat("x", 130)
	for _, tc := range []struct {
		device, unique string
		want           string // "" = hashed
	}{
		{"dev1", "msg-1", "dev1/msg-1"},
		{"dev1", "12345678901234567890", "dev1/12345678901234567890"},
		{"dev1", long, ""},
		{"dev1", "has space", ""},
		{"dev1", "ünïcode", ""},
	} {
		got := fifoDeduplicationID(tc.device, tc.unique)
		if tc.want != "" && got != tc.want {
			t.Errorf("(%q, %q) = %q, want %q", tc.device, tc.unique, got, tc.want)
		}
		if tc.want == "" && (len(got) != 64 || strings.Contains(got, "/") || !fifoIDValid(got)) {
			t.Errorf("(%q, %q) = %q, want a 64-digit hash", tc.device, tc.unique, got)
		}
	}
	if fifoDeduplicationID("a", "1") == fifoDeduplicationID("b", "1") {
		t.Error("two devices' message 1 share a deduplication id")
	}
	if fifoDeduplicationID("d", long) == fifoDeduplicationID("d", long+"y") {
		t.Error("hashing ignores part of the id")
	}
	if g := fifoGroupID(long); len(g) > 128 || !fifoIDValid(g) {
		t.Errorf("group id %q", g)
	}
}
