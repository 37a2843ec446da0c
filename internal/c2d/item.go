package c2d

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
)

// DynamoDB is the slice of the DynamoDB API the queue uses: single-item
// conditional writes and queries, nothing the emulator lacks.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Item attribute names, short because every byte of a message's state item
// is paid for on each of its writes.
const (
	aSeq     = "seq"  // head: last allocated sequence number
	aHead    = "head" // head: lowest sequence number that may be pending
	aLim     = "lim"  // head: highest sequence number admissible without a recount
	aSeqAt   = "sat"  // head: when the last number was allocated (ms)
	aSwa     = "swa"  // head: a time no earlier than the sweep marker's sweepAt (ms)
	aMsgID   = "mid"
	aCorrID  = "cid"
	aUserID  = "uid"
	aCType   = "ct"
	aCEnc    = "ce"
	aAck     = "ack"
	aProps   = "p"
	aEnq     = "enq" // enqueued (ms)
	aExp     = "exp" // expiry (ms)
	aGen     = "gen" // device generation at send
	aState   = "st"
	aLock    = "lk"
	aLockTil = "lu" // lock expiry (ms)
	aCount   = "n"  // deliveries so far
	aVer     = "v"  // bumped by every write; guards transitions decided on a read
	aSettled = "at" // settle time (ms)
	aReqAs   = "rqa"
	aReqOf   = "rqo"
	aBody    = "b"
)

func sS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func sN(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

const seqDigits = 16

func seqKey(prefix string, seq int64) string {
	return fmt.Sprintf("%s%0*d", prefix, seqDigits, seq)
}

const (
	headSK    = "q"
	markerSK  = "w" // the device's sweep marker, the only item in bySweep
	msgPrefix = "m#"
	bodyPfx   = "r#"
)

var maxMsgKey = msgPrefix + "9999999999999999"

func key(dev, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{schema.DeviceID: sS(dev), schema.C2DSortKey: sS(sk)}
}

// head is a device queue's head item.
type head struct {
	exists bool
	seq    int64
	head   int64
	lim    int64
	seqAt  int64
	swa    int64 // 0: the device may have no sweep marker
}

// msg is a message's state item.
type msg struct {
	dev, gen       string
	seq            int64
	id, cid, uid   string
	ctype, cenc    string
	ack            iothub.Ack
	props          []iothub.Property
	enq, exp       int64
	state          State
	lock           string
	lockUntil      int64
	count          int
	ver            int64
	settled        int64
	fbKey          string
	reqAs, reqOf   int64
	ttl            int64
	lockedNow      bool // decoded: lock valid at decode time (not stored)
	hasFeedbackKey bool
}

func getS(it map[string]types.AttributeValue, k string) string {
	if v, ok := it[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(it map[string]types.AttributeValue, k string) int64 {
	if v, ok := it[k].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

func decodeHead(it map[string]types.AttributeValue) head {
	if len(it) == 0 {
		return head{}
	}
	return head{exists: true, seq: getN(it, aSeq), head: getN(it, aHead), lim: getN(it, aLim),
		seqAt: getN(it, aSeqAt), swa: getN(it, aSwa)}
}

func decodeMsg(it map[string]types.AttributeValue) (msg, error) {
	sk := getS(it, schema.C2DSortKey)
	if len(sk) != len(msgPrefix)+seqDigits || sk[:len(msgPrefix)] != msgPrefix {
		return msg{}, fmt.Errorf("c2d: not a message item: %q", sk)
	}
	seq, err := strconv.ParseInt(sk[len(msgPrefix):], 10, 64)
	if err != nil {
		return msg{}, fmt.Errorf("c2d: bad sequence in %q: %w", sk, err)
	}
	m := msg{
		dev: getS(it, schema.DeviceID), gen: getS(it, aGen), seq: seq,
		id: getS(it, aMsgID), cid: getS(it, aCorrID), uid: getS(it, aUserID),
		ctype: getS(it, aCType), cenc: getS(it, aCEnc), ack: iothub.Ack(getS(it, aAck)),
		enq: getN(it, aEnq), exp: getN(it, aExp), state: State(getS(it, aState)),
		lock: getS(it, aLock), lockUntil: getN(it, aLockTil), count: int(getN(it, aCount)),
		ver: getN(it, aVer), settled: getN(it, aSettled), fbKey: getS(it, schema.C2DFeedbackKey),
		reqAs: getN(it, aReqAs), reqOf: getN(it, aReqOf), ttl: getN(it, schema.TTLAttribute),
	}
	m.hasFeedbackKey = m.fbKey != ""
	if m.ack == "" {
		m.ack = iothub.AckNone
	}
	if p, ok := it[aProps].(*types.AttributeValueMemberM); ok {
		for k, v := range p.Value {
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				m.props = append(m.props, iothub.Property{Name: k, Value: s.Value})
			}
		}
		sort.Slice(m.props, func(i, j int) bool { return m.props[i].Name < m.props[j].Name })
	}
	return m, nil
}

// encodeNew is the item a send puts: Enqueued, never delivered.
func (m *msg) encodeNew() map[string]types.AttributeValue {
	it := key(m.dev, seqKey(msgPrefix, m.seq))
	it[aGen] = sS(m.gen)
	it[aMsgID] = sS(m.id)
	it[aAck] = sS(string(m.ack))
	it[aEnq] = sN(m.enq)
	it[aExp] = sN(m.exp)
	it[aState] = sS(string(Enqueued))
	it[aCount] = sN(0)
	it[aVer] = sN(1)
	it[schema.TTLAttribute] = sN(m.ttl)
	for k, v := range map[string]string{aCorrID: m.cid, aUserID: m.uid, aCType: m.ctype, aCEnc: m.cenc} {
		if v != "" {
			it[k] = sS(v)
		}
	}
	if m.reqOf > 0 {
		it[aReqOf] = sN(m.reqOf)
	}
	if len(m.props) > 0 {
		p := make(map[string]types.AttributeValue, len(m.props))
		for _, pr := range m.props {
			p[pr.Name] = sS(pr.Value)
		}
		it[aProps] = &types.AttributeValueMemberM{Value: p}
	}
	return it
}

func (m *msg) message() Message {
	return Message{MessageID: m.id, CorrelationID: m.cid, UserID: m.uid, ContentType: m.ctype,
		ContentEncoding: m.cenc, Ack: m.ack, Expiry: fromMS(m.exp), Properties: m.props}
}

func (m *msg) status() iothub.C2DStatus {
	s := iothub.C2DStatus{DeviceID: m.dev, MessageID: m.id, CorrelationID: m.cid, SequenceNumber: m.seq,
		Ack: m.ack, DeliveryCount: m.count, EnqueuedTime: fromMS(m.enq), Expiry: fromMS(m.exp),
		RequeuedAs: m.reqAs, FeedbackQueued: m.hasFeedbackKey}
	s.State, s.Reason = m.state.names()
	if m.reqAs > 0 {
		s.State = "Requeued"
	}
	if code, ok := m.state.outcome(); ok {
		s.Outcome = code
	}
	if m.state == Invisible {
		t := fromMS(m.lockUntil)
		s.LockedUntil = &t
	}
	if m.settled > 0 {
		t := fromMS(m.settled)
		s.SettledTime = &t
	}
	return s
}

func (m *msg) feedback() iothub.FeedbackRecord {
	code, _ := m.state.outcome()
	return iothub.FeedbackRecord{OriginalMessageID: m.id, DeviceID: m.dev, DeviceGenerationID: m.gen,
		StatusCode: code, Description: describe(code), EnqueuedTimeUTC: fromMS(m.settled)}
}

func describe(c iothub.StatusCode) string {
	switch c {
	case iothub.StatusSuccess:
		return "Success"
	case iothub.StatusExpired:
		return "Message expired"
	case iothub.StatusDeliveryCountExceeded:
		return "Message delivery count exceeded"
	case iothub.StatusRejected:
		return "Message rejected"
	case iothub.StatusPurged:
		return "Message purged"
	}
	return string(c)
}

// feedbackKey orders a shard of byFeedback by settle time; the device and
// sequence number make it unique.
func feedbackKey(settled time.Time, dev string, seq int64) string {
	return fmt.Sprintf("%013d#%s#%0*d", ms(settled), dev, seqDigits, seq)
}
