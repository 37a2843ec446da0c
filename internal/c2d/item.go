package c2d

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
)

// Item attribute names, short because every byte of a message's state item
// is paid for on each of its writes. Expressions name them through these
// constants; the item structs below carry the same names in their tags
// (TestItemAttributeNames holds the two together).
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
	return map[string]types.AttributeValue{
		schema.DeviceID:   &types.AttributeValueMemberS{Value: dev},
		schema.C2DSortKey: &types.AttributeValueMemberS{Value: sk},
	}
}

func msgKey(dev string, seq int64) map[string]types.AttributeValue {
	return key(dev, seqKey(msgPrefix, seq))
}

// head is a device queue's head item. The head is only ever written by
// update expressions; it is read whole.
type head struct {
	Seq   int64 `dynamodbav:"seq"`
	Head  int64 `dynamodbav:"head"`
	Lim   int64 `dynamodbav:"lim"`
	SeqAt int64 `dynamodbav:"sat"`
	Swa   int64 `dynamodbav:"swa"` // 0: the device may have no sweep marker

	exists bool
}

func decodeHead(it map[string]types.AttributeValue) (head, error) {
	var h head
	if len(it) == 0 {
		return h, nil
	}
	if err := attributevalue.UnmarshalMap(it, &h); err != nil {
		return head{}, fmt.Errorf("c2d: bad queue head: %w", err)
	}
	h.exists = true
	return h, nil
}

// marker is a device's sweep marker.
type marker struct {
	SweepAt int64 `dynamodbav:"sweepAt"` // 0: no marker
}

// body is a message's body item, written once by the send.
type body struct {
	Dev  string `dynamodbav:"deviceId"`
	SK   string `dynamodbav:"sk"`
	Body []byte `dynamodbav:"b"`
	TTL  int64  `dynamodbav:"ttl"`
}

// msg is a message's state item. A new message's item holds no lock,
// settle, feedback or requeue attributes: they are omitted when zero.
type msg struct {
	Dev       string            `dynamodbav:"deviceId"`
	SK        string            `dynamodbav:"sk"` // m#<Seq>
	Seq       int64             `dynamodbav:"-"`
	Gen       string            `dynamodbav:"gen"`
	ID        string            `dynamodbav:"mid"`
	CID       string            `dynamodbav:"cid,omitempty"`
	UID       string            `dynamodbav:"uid,omitempty"`
	CType     string            `dynamodbav:"ct,omitempty"`
	CEnc      string            `dynamodbav:"ce,omitempty"`
	Ack       iothub.Ack        `dynamodbav:"ack"`
	Props     map[string]string `dynamodbav:"p,omitempty"`
	Enq       int64             `dynamodbav:"enq"`
	Exp       int64             `dynamodbav:"exp"`
	State     State             `dynamodbav:"st"`
	Lock      string            `dynamodbav:"lk,omitempty"`
	LockUntil int64             `dynamodbav:"lu,omitempty"`
	Count     int               `dynamodbav:"n"`
	Ver       int64             `dynamodbav:"v"`
	Settled   int64             `dynamodbav:"at,omitempty"`
	FbShard   string            `dynamodbav:"fbShard,omitempty"`
	FbKey     string            `dynamodbav:"fbKey,omitempty"`
	ReqAs     int64             `dynamodbav:"rqa,omitempty"`
	ReqOf     int64             `dynamodbav:"rqo,omitempty"`
	TTL       int64             `dynamodbav:"ttl"`
}

func decodeMsg(it map[string]types.AttributeValue) (msg, error) {
	var m msg
	if err := attributevalue.UnmarshalMap(it, &m); err != nil {
		return msg{}, fmt.Errorf("c2d: bad message item: %w", err)
	}
	if len(m.SK) != len(msgPrefix)+seqDigits || m.SK[:len(msgPrefix)] != msgPrefix {
		return msg{}, fmt.Errorf("c2d: not a message item: %q", m.SK)
	}
	seq, err := strconv.ParseInt(m.SK[len(msgPrefix):], 10, 64)
	if err != nil {
		return msg{}, fmt.Errorf("c2d: bad sequence in %q: %w", m.SK, err)
	}
	m.Seq = seq
	if m.Ack == "" {
		m.Ack = iothub.AckNone
	}
	return m, nil
}

// newItem is the item a send puts: Enqueued, never delivered.
func (m msg) newItem() (map[string]types.AttributeValue, error) {
	m.SK = seqKey(msgPrefix, m.Seq)
	m.State, m.Count, m.Ver = Enqueued, 0, 1
	it, err := attributevalue.MarshalMap(m)
	if err != nil {
		return nil, fmt.Errorf("c2d: encode message: %w", err)
	}
	return it, nil
}

func propsMap(ps []iothub.Property) map[string]string {
	if len(ps) == 0 {
		return nil // no attribute at all, rather than an empty map
	}
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.Name] = p.Value
	}
	return m
}

func (m *msg) properties() []iothub.Property {
	var ps []iothub.Property
	for k, v := range m.Props {
		ps = append(ps, iothub.Property{Name: k, Value: v})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps
}

func (m *msg) message() Message {
	return Message{MessageID: m.ID, CorrelationID: m.CID, UserID: m.UID, ContentType: m.CType,
		ContentEncoding: m.CEnc, Ack: m.Ack, Expiry: fromMS(m.Exp), Properties: m.properties()}
}

func (m *msg) status() iothub.C2DStatus {
	s := iothub.C2DStatus{DeviceID: m.Dev, MessageID: m.ID, CorrelationID: m.CID, SequenceNumber: m.Seq,
		Ack: m.Ack, DeliveryCount: m.Count, EnqueuedTime: fromMS(m.Enq), Expiry: fromMS(m.Exp),
		RequeuedAs: m.ReqAs, FeedbackQueued: m.FbKey != ""}
	s.State, s.Reason = m.State.names()
	if m.ReqAs > 0 {
		s.State = "Requeued"
	}
	if code, ok := m.State.outcome(); ok {
		s.Outcome = code
	}
	if m.State == Invisible {
		t := fromMS(m.LockUntil)
		s.LockedUntil = &t
	}
	if m.Settled > 0 {
		t := fromMS(m.Settled)
		s.SettledTime = &t
	}
	return s
}

func (m *msg) feedback() iothub.FeedbackRecord {
	code, _ := m.State.outcome()
	return iothub.FeedbackRecord{OriginalMessageID: m.ID, DeviceID: m.Dev, DeviceGenerationID: m.Gen,
		StatusCode: code, Description: describe(code), EnqueuedTimeUTC: fromMS(m.Settled)}
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
