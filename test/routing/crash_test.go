package routing

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/devicehub/devicehub/internal/endpoints"
	"github.com/devicehub/devicehub/internal/streamfeed"
	"github.com/devicehub/devicehub/shared/hubclient"
	"github.com/devicehub/devicehub/shared/iothub"
)

// killingKinesis kills its process once its after-th PutRecords to stream
// has succeeded: the records are on the endpoint, and the process is gone.
type killingKinesis struct {
	endpoints.KinesisAPI
	stream string
	after  int32
	calls  atomic.Int32
	kill   func()
}

func (k *killingKinesis) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	out, err := k.KinesisAPI.PutRecords(ctx, in, opts...)
	if err == nil && aws.ToString(in.StreamName) == k.stream && k.calls.Add(1) == k.after {
		k.kill()
	}
	return out, err
}

// killingS3 kills its process once its after-th PutObject to bucket has
// succeeded.
type killingS3 struct {
	endpoints.S3API
	bucket string
	after  int32
	calls  atomic.Int32
	kill   func()
}

func (k *killingS3) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	out, err := k.S3API.PutObject(ctx, in, opts...)
	if err == nil && aws.ToString(in.Bucket) == k.bucket && k.calls.Add(1) == k.after {
		k.kill()
	}
	return out, err
}

// inOrder checks got, one device's messages as an ordered endpoint holds
// them, against want, the ones the device sent there, in order: each
// arrived at least once, and none before every earlier one had arrived
// (a replay starts again at or before the first message not yet delivered).
func inOrder(got, want []string) error {
	pos := make(map[string]int, len(want))
	for i, id := range want {
		pos[id] = i
	}
	arrived := 0 // want[:arrived] have all arrived
	for _, id := range got {
		i, ok := pos[id]
		switch {
		case !ok:
			return fmt.Errorf("%s was never sent there", id)
		case i > arrived:
			return fmt.Errorf("%s arrived before %s", id, want[arrived])
		case i == arrived:
			arrived++
		}
	}
	if arrived < len(want) {
		return fmt.Errorf("%d of %d never arrived, from %s on", len(want)-arrived, len(want), want[arrived])
	}
	return nil
}

// A router process killed in the middle of an invocation (some of the
// batch delivered, to some endpoints, nothing recorded) loses nothing: a
// new feeder and router on the same checkpoints deliver every message to
// every endpoint it should reach, at least once, in order per device on
// the Kinesis endpoint, and count each once.
func TestKilledRouterLosesNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// kill wraps the endpoints' clients to kill the process at a call.
		kill func(h *hub, p *process, c endpoints.Clients) endpoints.Clients
		// at is the endpoint the kill follows a call to; partial: its
		// part of the batch was only partly delivered when it died.
		at      string
		partial bool
	}{
		{
			name: "mid-send to hot, after its first PutRecords",
			kill: func(h *hub, p *process, c endpoints.Clients) endpoints.Clients {
				c.Kinesis = &killingKinesis{KinesisAPI: c.Kinesis, stream: h.endpoint("hot").Stream, after: 1, kill: p.kill}
				return c
			},
			at: "hot", partial: true,
		},
		{
			name: "after the first send to archive completed",
			kill: func(h *hub, p *process, c endpoints.Clients) endpoints.Clients {
				c.S3 = &killingS3{S3API: c.S3, bucket: h.endpoint("archive").Bucket, after: 1, kill: p.kill}
				return c
			},
			at: "archive",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHub(t, hubOptions{})
			// Every message is on the telemetry stream before the first
			// router starts, so that each shard's first batch holds all of
			// its records and the kill cuts it; the Kinesis sender then
			// needs one PutRecords per message of the busiest device.
			const devices, perDevice = 4, 12
			var ids []string
			hot := map[string][]string{} // by device, in order
			var clients []*deviceClient
			for d := range devices {
				id := fmt.Sprintf("dev-%d", d)
				clients = append(clients, &deviceClient{id: id, c: h.device(id, map[string]any{"site": id})})
			}
			for j := range perDevice {
				for _, dc := range clients {
					id := fmt.Sprintf("%s-%02d", dc.id, j)
					temp := 35
					if j%3 == 2 {
						temp = 20 // the fallback route: archive only
					} else {
						hot[dc.id] = append(hot[dc.id], id)
					}
					send(t, dc.c, jsonMessage(id, fmt.Sprintf(`{"temperature":%d,"n":%d}`, temp, j)))
					ids = append(ids, id)
				}
			}
			wantHot := 0
			for _, l := range hot {
				wantHot += len(l)
			}

			first := h.startRouter(routerOptions{wrap: func(p *process, ec endpoints.Clients) endpoints.Clients { return c.kill(h, p, ec) }})
			select {
			case <-first.done:
			case <-time.After(waitTimeout):
				t.Fatal("the first router was never killed")
			}
			if !first.dead.Load() {
				t.Fatal("the first router stopped without being killed")
			}
			// Killed mid-invocation: no shard's checkpoint moved.
			cps := streamfeed.DynamoCheckpoints{Client: h.env.DynamoDB, Table: h.env.Config.RoutingTable}
			shards, err := h.env.Kinesis.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: &h.env.Config.StreamName})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range shards.Shards {
				cp, err := cps.Load(context.Background(), h.env.Config.StreamName, aws.ToString(s.ShardId))
				if err != nil || cp != (streamfeed.Checkpoint{}) {
					t.Fatalf("shard %s: checkpoint %+v after the kill (%v)", aws.ToString(s.ShardId), cp, err)
				}
			}
			before := map[string]int{
				"hot":     len(h.mustReadStream(h.endpoint("hot").Stream)),
				"archive": len(h.readBucket(h.endpoint("archive"))),
			}
			want := map[string]int{"hot": wantHot, "archive": len(ids)}
			if n := before[c.at]; n == 0 || (c.partial && n >= want[c.at]) {
				t.Fatalf("before the kill %s got %d of %d messages: the kill did not cut its delivery", c.at, n, want[c.at])
			}
			t.Logf("delivered by the killed router: %v of %v", before, want)

			h.startRouter(routerOptions{})
			// The killed router recorded nothing: the new one counts every
			// message once.
			fallback := int64(len(ids) - wantHot)
			h.waitCounts(map[countKey]counted{
				{"hot", "hot"}: {delivered: int64(wantHot)}, {"hot", "archive"}: {delivered: int64(wantHot)},
				{iothub.RouteFallback, "events"}: {delivered: fallback}, {iothub.RouteFallback, "archive"}: {delivered: fallback},
				{"lifecycle", "registry"}: {delivered: devices},
			})

			onHot := map[string][]string{}
			for _, m := range h.mustReadStream(h.endpoint("hot").Stream) {
				onHot[m.DeviceID] = append(onHot[m.DeviceID], m.MessageID)
			}
			for _, dc := range clients {
				if err := inOrder(onHot[dc.id], hot[dc.id]); err != nil {
					t.Errorf("hot endpoint, %s: %v (it holds %v)", dc.id, err, onHot[dc.id])
				}
			}
			var archived []string
			for _, a := range h.readBucket(h.endpoint("archive")) {
				archived = append(archived, a.msg.MessageID)
			}
			slices.Sort(archived)
			if got := slices.Compact(archived); !slices.Equal(got, slices.Sorted(slices.Values(ids))) {
				t.Errorf("archive holds %v, want every message: %v", got, ids)
			}
		})
	}
}

// deviceClient is a device and the client that sends as it.
type deviceClient struct {
	id string
	c  *hubclient.Client
}
