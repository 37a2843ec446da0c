package endpoints_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/devicehub/devicehub/internal/awsenv"
	"github.com/devicehub/devicehub/internal/endpoints"
	"github.com/devicehub/devicehub/internal/provision"
	"github.com/devicehub/devicehub/shared/routing"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newStream(t *testing.T, shards int32) (*kinesis.Client, string) {
	t.Helper()
	url, _ := testenv.Endpoints()
	k := awsenv.Kinesis(awsenv.Static(""), url)
	name := "endpoints-" + suffix()
	if err := provision.CreateStream(context.Background(), k, name, shards); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = k.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: &name})
	})
	return k, name
}

// readStream returns every record of the stream, per partition key in
// shard order.
func readStream(t *testing.T, k *kinesis.Client, stream string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	shards, err := k.ListShards(ctx, &kinesis.ListShardsInput{StreamName: &stream})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, s := range shards.Shards {
		it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: &stream, ShardId: s.ShardId, ShardIteratorType: kinesistypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			recs, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs.Records {
				out[*r.PartitionKey] = append(out[*r.PartitionKey], string(r.Data))
			}
			if len(recs.Records) == 0 {
				break
			}
			iter = recs.NextShardIterator
		}
	}
	return out
}

func TestKinesisOnKinesalite(t *testing.T) {
	k, stream := newStream(t, 2)
	s, err := endpoints.New(routing.Endpoint{Name: "k", Kind: routing.Kinesis, Stream: stream}, endpoints.Clients{Kinesis: k})
	if err != nil {
		t.Fatal(err)
	}
	// 600 devices with 2 messages each, interleaved, and one device with
	// 5: the first wave (601 records) takes two calls; a record too large
	// for Kinesis stops its device only.
	var in []endpoints.Message
	want := map[string][]string{}
	add := func(dev string, data string) {
		in = append(in, endpoints.Message{DeviceID: dev, UniqueID: fmt.Sprint(len(in)), Data: []byte(data)})
	}
	for round := range 2 {
		for d := range 600 {
			dev := fmt.Sprintf("dev-%03d", d)
			data := fmt.Sprintf(`{"d":%q,"n":%d}`, dev, round)
			add(dev, data)
			want[dev] = append(want[dev], data)
		}
	}
	for n := range 5 {
		data := fmt.Sprintf(`{"d":"busy","n":%d}`, n)
		if n == 3 {
			data = `{"big":"` + strings.Repeat("x", 1<<20) + `"}`
		}
		add("busy", data)
		if n < 3 {
			want["busy"] = append(want["busy"], data)
		}
	}
	start := time.Now()
	errs := s.Send(context.Background(), in)
	t.Logf("%d messages in %s", len(in), time.Since(start))
	for i, err := range errs {
		switch {
		case in[i].DeviceID == "busy" && i == len(in)-2:
			if !endpoints.Permanent(err) {
				t.Errorf("too large record: %v, want permanent", err)
			}
		case in[i].DeviceID == "busy" && i == len(in)-1:
			if err == nil || endpoints.Permanent(err) {
				t.Errorf("after the too large record: %v, want not attempted", err)
			}
		case err != nil:
			t.Errorf("message %d: %v", i, err)
		}
	}
	got := readStream(t, k, stream)
	for dev, w := range want {
		if !slices.Equal(got[dev], w) {
			t.Errorf("device %s: stream holds %v, want %v", dev, got[dev], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d partition keys on the stream, want %d", len(got), len(want))
	}
}

func TestKinesisMissingStream(t *testing.T) {
	url, _ := testenv.Endpoints()
	k := awsenv.Kinesis(awsenv.Static(""), url)
	s, err := endpoints.New(routing.Endpoint{Name: "k", Kind: routing.Kinesis, Stream: "no-such-stream-" + suffix()}, endpoints.Clients{Kinesis: k})
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range s.Send(context.Background(), []endpoints.Message{{DeviceID: "a", Data: []byte(`{}`)}, {DeviceID: "b", Data: []byte(`{}`)}}) {
		if !endpoints.Permanent(err) {
			t.Errorf("message %d to a missing stream: %v, want permanent", i, err)
		}
	}
}

func newBucket(t *testing.T) (*s3.Client, string) {
	t.Helper()
	c := awsenv.S3(awsenv.Static(""), testenv.S3Endpoint())
	b := "endpoints-" + suffix()
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &b}); err != nil {
		t.Fatal(err)
	}
	return c, b
}

func listKeys(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	slices.Sort(keys)
	return keys
}

func TestS3OnEmulator(t *testing.T) {
	c, bucket := newBucket(t)
	s, err := endpoints.New(routing.Endpoint{Name: "archive", Kind: routing.S3, Bucket: bucket, Prefix: "hub1/"}, endpoints.Clients{S3: c})
	if err != nil {
		t.Fatal(err)
	}
	h10 := time.Date(2026, 5, 6, 10, 59, 58, 0, time.FixedZone("CET", 3600)) // 09 UTC
	in := []endpoints.Message{
		{DeviceID: "a", UniqueID: "1", Time: h10, Data: []byte(`{"v":2,"i":"1"}`)},
		{DeviceID: "b", UniqueID: "2", Time: h10.Add(3 * time.Second), Data: []byte("{\"v\": 2,\n \"i\": \"2\"}")}, // 10 UTC
		{DeviceID: "a", UniqueID: "3", Time: h10.Add(time.Second), Data: []byte(`{"v":2,"i":"3"}`)},
		{DeviceID: "a", UniqueID: "4", Time: h10, Data: []byte(`not json`)},
		{DeviceID: "a", UniqueID: "5", Data: []byte(`{"v":2,"i":"5"}`)},
	}
	errs := s.Send(context.Background(), in)
	for i := range 3 {
		if errs[i] != nil {
			t.Errorf("message %d: %v", i, errs[i])
		}
	}
	for i := 3; i < 5; i++ {
		if !endpoints.Permanent(errs[i]) {
			t.Errorf("message %d: %v, want permanent", i, errs[i])
		}
	}
	keys := listKeys(t, c, bucket)
	if len(keys) != 2 || !strings.HasPrefix(keys[0], "hub1/2026/05/06/09/5958-") || !strings.HasPrefix(keys[1], "hub1/2026/05/06/10/0001-") {
		t.Fatalf("keys %v, want one object in hour 09 (from 59:58) and one in 10 (from 00:01)", keys)
	}
	for i, want := range []string{"{\"v\":2,\"i\":\"1\"}\n{\"v\":2,\"i\":\"3\"}\n", "{\"v\":2,\"i\":\"2\"}\n"} {
		obj, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &keys[i]})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if string(body) != want {
			t.Errorf("%s holds %q, want %q", keys[i], body, want)
		}
		if ct := aws.ToString(obj.ContentType); ct != endpoints.ContentTypeJSONLines {
			t.Errorf("%s content type %q", keys[i], ct)
		}
	}

	// A retry of the same messages, in another order, rewrites the same
	// objects.
	retry := []endpoints.Message{in[2], in[1], in[0]}
	for i, err := range s.Send(context.Background(), retry) {
		if err != nil {
			t.Errorf("retry %d: %v", i, err)
		}
	}
	if again := listKeys(t, c, bucket); !slices.Equal(again, keys) {
		t.Errorf("after a retry: keys %v, want %v", again, keys)
	}
	// Other messages in the same hour make another object.
	other := []endpoints.Message{{DeviceID: "a", UniqueID: "6", Time: h10, Data: []byte(`{}`)}}
	if err := s.Send(context.Background(), other)[0]; err != nil {
		t.Fatal(err)
	}
	if n := len(listKeys(t, c, bucket)); n != 3 {
		t.Errorf("%d objects, want 3", n)
	}
}

func TestS3MissingBucket(t *testing.T) {
	c := awsenv.S3(awsenv.Static(""), testenv.S3Endpoint())
	s, err := endpoints.New(routing.Endpoint{Name: "archive", Kind: routing.S3, Bucket: "no-such-bucket-" + suffix()}, endpoints.Clients{S3: c})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), []endpoints.Message{{DeviceID: "a", UniqueID: "1", Time: time.Now(), Data: []byte(`{}`)}})[0]
	if !endpoints.Permanent(err) || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("missing bucket: %v, want permanent NoSuchBucket", err)
	}
}

func TestS3DefaultPrefix(t *testing.T) {
	c, bucket := newBucket(t)
	s, err := endpoints.New(routing.Endpoint{Name: "archive", Kind: routing.S3, Bucket: bucket}, endpoints.Clients{S3: c})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.Send(context.Background(), []endpoints.Message{{DeviceID: "a", UniqueID: "1", Time: at, Data: bytes.Repeat([]byte(" "), 3)}})[0]; !endpoints.Permanent(err) {
		t.Errorf("blank data: %v, want permanent", err)
	}
	if err := s.Send(context.Background(), []endpoints.Message{{DeviceID: "a", UniqueID: "1", Time: at, Data: []byte(`{}`)}})[0]; err != nil {
		t.Fatal(err)
	}
	if keys := listKeys(t, c, bucket); len(keys) != 1 || !strings.HasPrefix(keys[0], "devicehub/2026/01/02/03/0405-") || !strings.HasSuffix(keys[0], ".jsonl") {
		t.Errorf("keys %v", keys)
	}
}
