package endpoints

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/devicehub/devicehub/shared/routing"
)

// fakeKinesis checks PutRecords' limits, keeps the accepted records per
// partition key and fails records on demand (kinesalite never fails a
// single record).
type fakeKinesis struct {
	t        *testing.T
	mu       sync.Mutex
	calls    int
	accepted map[string][]string
	fail     func(data string) string // an error code, or "" to accept
}

func (f *fakeKinesis) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(in.Records) == 0 || len(in.Records) > 500 {
		f.t.Errorf("call of %d records", len(in.Records))
	}
	if aws.ToString(in.StreamName) == "" && aws.ToString(in.StreamARN) == "" {
		f.t.Error("call names no stream")
	}
	total := 0
	out := &kinesis.PutRecordsOutput{}
	for _, r := range in.Records {
		total += len(r.Data) + len(aws.ToString(r.PartitionKey))
		res := types.PutRecordsResultEntry{SequenceNumber: aws.String("1"), ShardId: aws.String("shardId-0")}
		if code := f.fail(string(r.Data)); code != "" {
			res = types.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("no")}
			out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
		} else {
			k := aws.ToString(r.PartitionKey)
			f.accepted[k] = append(f.accepted[k], string(r.Data))
		}
		out.Records = append(out.Records, res)
	}
	if total > 5<<20 {
		f.t.Errorf("call of %d bytes", total)
	}
	return out, nil
}

func TestKinesisPartialFailure(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failing   map[string]string // data -> error code
		permanent []string          // data whose error is permanent
		stopped   []string          // devices whose messages after the failure are not attempted
	}{
		{name: "none"},
		{
			name:    "throttled record",
			failing: map[string]string{"b-1": "ProvisionedThroughputExceededException"},
			stopped: []string{"b"},
		},
		{
			name:      "kms record failure",
			failing:   map[string]string{"a-0": "KMSAccessDeniedException", "c-2": "InternalFailure"},
			permanent: []string{"a-0"},
			stopped:   []string{"a", "c"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeKinesis{t: t, accepted: map[string][]string{}, fail: func(d string) string { return tc.failing[d] }}
			s, err := New(routing.Endpoint{Name: "k", Kind: routing.Kinesis, Stream: "arn:aws:kinesis:us-east-1:1:stream/s"}, Clients{Kinesis: f})
			if err != nil {
				t.Fatal(err)
			}
			var in []Message
			for n := range 4 {
				for _, d := range []string{"a", "b", "c"} {
					in = append(in, Message{DeviceID: d, Data: fmt.Appendf(nil, "%s-%d", d, n)})
				}
			}
			errs := s.Send(context.Background(), in)
			failedAt := map[string]int{}
			for i, m := range in {
				data := string(m.Data)
				n := int(data[len(data)-1] - '0')
				if _, bad := tc.failing[data]; bad {
					failedAt[m.DeviceID] = n
					if errs[i] == nil || !strings.Contains(errs[i].Error(), tc.failing[data]) {
						t.Errorf("%s: %v, want %s", data, errs[i], tc.failing[data])
					}
					want := false
					for _, p := range tc.permanent {
						want = want || p == data
					}
					if Permanent(errs[i]) != want {
						t.Errorf("%s: Permanent = %v, want %v", data, !want, want)
					}
					continue
				}
				if at, ok := failedAt[m.DeviceID]; ok && n > at {
					if errs[i] == nil || Permanent(errs[i]) {
						t.Errorf("%s after the device's failure: %v, want not attempted", data, errs[i])
					}
					continue
				}
				if errs[i] != nil {
					t.Errorf("%s: %v", data, errs[i])
				}
			}
			// The stream holds each device's prefix up to its failure, in order.
			for _, d := range []string{"a", "b", "c"} {
				var want []string
				for n := range 4 {
					if at, ok := failedAt[d]; ok && n >= at {
						break
					}
					want = append(want, fmt.Sprintf("%s-%d", d, n))
				}
				if fmt.Sprint(f.accepted[d]) != fmt.Sprint(want) {
					t.Errorf("device %s: stream holds %v, want %v", d, f.accepted[d], want)
				}
			}
		})
	}
}

func TestKinesisBytesPerCall(t *testing.T) {
	f := &fakeKinesis{t: t, accepted: map[string][]string{}, fail: func(string) string { return "" }}
	s, err := New(routing.Endpoint{Name: "k", Kind: routing.Kinesis, Stream: "s"}, Clients{Kinesis: f})
	if err != nil {
		t.Fatal(err)
	}
	// 20 devices' 600 KB records: one wave, 8 records (4.8 MB) a call.
	var in []Message
	for d := range 20 {
		in = append(in, Message{DeviceID: fmt.Sprint("d", d), Data: make([]byte, 600_000)})
	}
	for i, err := range s.Send(context.Background(), in) {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	if f.calls != 3 {
		t.Errorf("%d calls, want 3", f.calls)
	}
}

func TestNew(t *testing.T) {
	fk, fs := &fakeKinesis{}, &fakeSQS{}
	for _, tc := range []struct {
		name string
		ep   routing.Endpoint
		c    Clients
		ok   bool
	}{
		{"kinesis", routing.Endpoint{Name: "e", Kind: routing.Kinesis, Stream: "s"}, Clients{Kinesis: fk}, true},
		{"kinesis without client", routing.Endpoint{Name: "e", Kind: routing.Kinesis, Stream: "s"}, Clients{}, false},
		{"kinesis without stream", routing.Endpoint{Name: "e", Kind: routing.Kinesis}, Clients{Kinesis: fk}, false},
		{"s3 without bucket", routing.Endpoint{Name: "e", Kind: routing.S3}, Clients{}, false},
		{"sqs", routing.Endpoint{Name: "e", Kind: routing.SQS, Queue: "q"}, Clients{SQS: fs}, true},
		{"sqs without queue", routing.Endpoint{Name: "e", Kind: routing.SQS}, Clients{SQS: fs}, false},
		{"eventbridge default bus", routing.Endpoint{Name: "e", Kind: routing.EventBridge}, Clients{EventBridge: &fakeEventBridge{}}, true},
		{"eventbridge without client", routing.Endpoint{Name: "e", Kind: routing.EventBridge}, Clients{}, false},
		{"built-in", routing.Endpoint{Name: routing.BuiltIn}, Clients{}, false},
		{"unknown kind", routing.Endpoint{Name: "e", Kind: "sns"}, Clients{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.ep, tc.c)
			if (err == nil) != tc.ok {
				t.Errorf("New: %v", err)
			}
		})
	}
	s, _ := New(routing.Endpoint{Name: "e", Kind: routing.SQS, Queue: "https://sqs/1/q.fifo"}, Clients{SQS: fs})
	if !s.(*sqsSender).fifo {
		t.Error("a queue named .fifo is FIFO")
	}
}
