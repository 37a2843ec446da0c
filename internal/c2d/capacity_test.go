package c2d_test

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/c2d"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// meter wraps the emulator client and adds up capacity units:
//   - table units as ReturnConsumedCapacity reports them (dynalite applies
//     DynamoDB's rules: writes ceil(max(old, new item size) / 1 KB), reads
//     ceil(bytes / 4 KB) halved when eventually consistent);
//   - a read that returns nothing is charged DynamoDB's minimum (0.5 eventual,
//     1 strong), which dynalite reports as 0 for queries;
//   - global secondary index writes, which dynalite does not report, modelled
//     from the item before and after each write (read outside the meter):
//     entering an index costs ceil(new/1 KB), leaving it ceil(old/1 KB), an
//     update in place ceil(new/1 KB), a change of the index key both.
type meter struct {
	db      *dynamodb.Client
	indexes map[string][]schema.Index // by table name

	mu                     sync.Mutex
	read, write, indexWrit float64
}

func (m *meter) add(read, write float64) {
	m.mu.Lock()
	m.read += read
	m.write += write
	m.mu.Unlock()
}

func units(c *types.ConsumedCapacity) float64 {
	if c == nil || c.CapacityUnits == nil {
		return 0
	}
	return *c.CapacityUnits
}

func minRead(u float64, consistent *bool) float64 {
	if aws.ToBool(consistent) {
		return math.Max(u, 1)
	}
	return math.Max(u, 0.5)
}

func (m *meter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.db.GetItem(ctx, in, o...)
	if err == nil {
		m.add(minRead(units(out.ConsumedCapacity), in.ConsistentRead), 0)
	}
	return out, err
}

func (m *meter) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.db.Query(ctx, in, o...)
	if err == nil {
		m.add(minRead(units(out.ConsumedCapacity), in.ConsistentRead), 0)
	}
	return out, err
}

func (m *meter) Scan(ctx context.Context, in *dynamodb.ScanInput, o ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.db.Scan(ctx, in, o...)
	if err == nil {
		m.add(minRead(units(out.ConsumedCapacity), in.ConsistentRead), 0)
	}
	return out, err
}

func (m *meter) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	k := m.keyOf(*in.TableName, in.Item)
	before := m.peek(ctx, *in.TableName, k)
	out, err := m.db.PutItem(ctx, in, o...)
	if err == nil {
		m.add(0, math.Max(units(out.ConsumedCapacity), 1))
		m.indexCost(*in.TableName, before, m.peek(ctx, *in.TableName, k))
	}
	return out, err
}

func (m *meter) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	before := m.peek(ctx, *in.TableName, in.Key)
	out, err := m.db.UpdateItem(ctx, in, o...)
	var ccf *types.ConditionalCheckFailedException
	if err == nil {
		m.add(0, math.Max(units(out.ConsumedCapacity), 1))
		m.indexCost(*in.TableName, before, m.peek(ctx, *in.TableName, in.Key))
	} else if asCCF(err, &ccf) {
		m.add(0, 1) // DynamoDB charges a failed condition as a write
	}
	return out, err
}

func (m *meter) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	before := m.peek(ctx, *in.TableName, in.Key)
	out, err := m.db.DeleteItem(ctx, in, o...)
	if err == nil {
		m.add(0, math.Max(units(out.ConsumedCapacity), 1))
		m.indexCost(*in.TableName, before, nil)
	}
	return out, err
}

func (m *meter) keyOf(table string, item map[string]types.AttributeValue) map[string]types.AttributeValue {
	k := map[string]types.AttributeValue{}
	for _, t := range schema.Tables() {
		if !strings.HasSuffix(table, t.DefaultName) {
			continue
		}
		k[t.PartitionKey.Name] = item[t.PartitionKey.Name]
		if t.SortKey != nil {
			k[t.SortKey.Name] = item[t.SortKey.Name]
		}
	}
	return k
}

func (m *meter) peek(ctx context.Context, table string, k map[string]types.AttributeValue) map[string]types.AttributeValue {
	if len(m.indexes[table]) == 0 {
		return nil
	}
	out, err := m.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil
	}
	return out.Item
}

func (m *meter) indexCost(table string, before, after map[string]types.AttributeValue) {
	var u float64
	for _, ix := range m.indexes[table] {
		in := func(it map[string]types.AttributeValue) bool {
			_, pk := it[ix.PartitionKey.Name]
			_, sk := it[ix.SortKey.Name]
			return it != nil && pk && sk
		}
		kb := func(it map[string]types.AttributeValue) float64 { return math.Ceil(float64(itemSize(it)) / 1024) }
		switch ob, nb := in(before), in(after); {
		case nb && !ob:
			u += kb(after)
		case ob && !nb:
			u += kb(before)
		case ob && nb:
			same := attrString(before[ix.PartitionKey.Name]) == attrString(after[ix.PartitionKey.Name]) &&
				attrString(before[ix.SortKey.Name]) == attrString(after[ix.SortKey.Name])
			if same {
				u += kb(after)
			} else {
				u += kb(before) + kb(after)
			}
		}
	}
	m.mu.Lock()
	m.indexWrit += u
	m.mu.Unlock()
}

func attrString(v types.AttributeValue) string {
	switch a := v.(type) {
	case *types.AttributeValueMemberS:
		return "S" + a.Value
	case *types.AttributeValueMemberN:
		return "N" + a.Value
	}
	return ""
}

// itemSize follows DynamoDB's item size rules: names plus values; numbers
// take about one byte per two digits plus one.
func itemSize(it map[string]types.AttributeValue) int {
	n := 0
	for k, v := range it {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch a := v.(type) {
	case *types.AttributeValueMemberS:
		return len(a.Value)
	case *types.AttributeValueMemberN:
		return (len(strings.TrimLeft(a.Value, "-0"))+1)/2 + 1
	case *types.AttributeValueMemberB:
		return len(a.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberM:
		return 3 + len(a.Value) + itemSize(a.Value)
	case *types.AttributeValueMemberL:
		s := 3
		for _, e := range a.Value {
			s += 1 + valueSize(e)
		}
		return s
	}
	return 0
}

func asCCF(err error, target **types.ConditionalCheckFailedException) bool {
	return err != nil && strings.Contains(err.Error(), "ConditionalCheckFailed")
}

type rig struct {
	m   *meter
	q   *c2d.Queue
	fb  *c2d.FeedbackReader
	id  registry.Identity
	env *testenv.Env
}

func newRig(b testing.TB) *rig {
	env := testenv.New(b, testenv.Options{})
	m := &meter{db: env.DynamoDB, indexes: map[string][]schema.Index{env.Config.C2DTable: schema.C2D.Indexes}}
	devices := &registry.DynamoStore{DB: m, Table: env.Config.DevicesTable}
	q := c2d.NewQueue(m, env.Config.C2DTable, devices, c2d.Options{}, nil, nil)
	d, err := env.Hub.Registry.Create(context.Background(), "bench", registry.Spec{})
	if err != nil {
		b.Fatal(err)
	}
	return &rig{m: m, q: q, fb: c2d.NewFeedbackReader(q, env.Config.FeedbackTable, c2d.FeedbackOptions{}),
		id: registry.Identity{DeviceID: "bench", GenerationID: d.GenerationID}, env: env}
}

// lifecycle sends a 1 KB ack=full message, receives and completes it.
func (r *rig) lifecycle(b testing.TB, body []byte, i int) {
	ctx := context.Background()
	if _, err := r.q.Send(ctx, "bench", c2d.Message{MessageID: "m" + strconv.Itoa(i), Ack: iothub.AckFull, Body: body}); err != nil {
		b.Fatal(err)
	}
	d, err := r.q.Receive(ctx, r.id)
	if err != nil || d == nil {
		b.Fatalf("receive: %v %v", d, err)
	}
	if err := r.q.Complete(ctx, r.id, d.LockToken); err != nil {
		b.Fatal(err)
	}
}

// readBatch reads one feedback batch and completes it; it returns its size.
func (r *rig) readBatch(b testing.TB) int {
	ctx := context.Background()
	batch, err := r.fb.Receive(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if batch == nil {
		return 0
	}
	if err := r.fb.Complete(ctx, batch.LockToken); err != nil {
		b.Fatal(err)
	}
	return len(batch.Records)
}

func (r *rig) report(b *testing.B, n int) {
	b.ReportMetric(r.m.write/float64(n), "tableWCU/op")
	b.ReportMetric(r.m.indexWrit/float64(n), "indexWCU/op")
	b.ReportMetric((r.m.write+r.m.indexWrit)/float64(n), "WCU/op")
	b.ReportMetric(r.m.read/float64(n), "RCU/op")
}

// BenchmarkLifecycleCapacity: capacity per lifecycle of a 1 KB ack=full
// message: send, receive, complete, then the feedback read and completed
// on its own (one record per batch, the worst case).
func BenchmarkLifecycleCapacity(b *testing.B) {
	r := newRig(b)
	body := make([]byte, 1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.lifecycle(b, body, i)
		if n := r.readBatch(b); n != 1 {
			b.Fatalf("feedback: %d records, want 1", n)
		}
	}
	b.StopTimer()
	r.report(b, b.N)
}

// BenchmarkLifecycleCapacityBatchedFeedback: the same, with feedback read
// in batches of 64 as a busy reader sees it.
func BenchmarkLifecycleCapacityBatchedFeedback(b *testing.B) {
	r := newRig(b)
	body := make([]byte, 1024)
	b.ResetTimer()
	got := 0
	for i := 0; i < b.N; i++ {
		r.lifecycle(b, body, i)
		if (i+1)%c2d.FeedbackBatchSize == 0 {
			got += r.readBatch(b)
		}
	}
	for got < b.N {
		n := r.readBatch(b)
		if n == 0 {
			break
		}
		got += n
	}
	b.StopTimer()
	if got != b.N {
		b.Fatalf("feedback: %d records, want %d", got, b.N)
	}
	r.report(b, b.N)
}

// TestLifecycleCapacityBudget keeps the figures of the benchmark within the
// issue's budget (12 WCU, 4 RCU per lifecycle) over a short run.
func TestLifecycleCapacityBudget(t *testing.T) {
	r := newRig(t)
	body := make([]byte, 1024)
	const n = 60 // past one admission recount (max queue 50)
	for i := 0; i < n; i++ {
		r.lifecycle(t, body, i)
		if got := r.readBatch(t); got != 1 {
			t.Fatalf("feedback: %d records, want 1", got)
		}
	}
	w, rd := (r.m.write+r.m.indexWrit)/n, r.m.read/n
	t.Logf("per lifecycle: %.2f WCU (%.2f table + %.2f index), %.2f RCU", w, r.m.write/n, r.m.indexWrit/n, rd)
	if w > 12 || rd > 4 {
		t.Errorf("over budget: %.2f WCU (max 12), %.2f RCU (max 4)", w, rd)
	}
}
