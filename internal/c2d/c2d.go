// Package c2d is devicehub's cloud-to-device queue and its delivery feedback,
// with IoT Hub's semantics, on DynamoDB without transactions or streams:
// every state change is one conditional write on one item (transitions.go),
// and feedback is part of the settling write itself (the settled message
// enters a sharded sparse index that the feedback reader drains), so no crash
// can separate an outcome from its feedback. The sweeper dead-letters what has
// expired and repairs the few multi-write operations a crash can interrupt.
package c2d

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/msgrules"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
)

// Limits and fixed values, IoT Hub's where it has them.
const (
	MaxBodySize   = 64 << 10         // C2D message size
	MaxIDLength   = 128              // message, correlation and user ids
	LockDuration  = time.Minute      // fixed, as in IoT Hub
	MaxProperties = 64               // application properties per message
	maxPropsSize  = 8 << 10          // names and values together
	inflight      = 30 * time.Second // a send that allocated a number and wrote nothing for this long has crashed
	putDeadline   = 10 * time.Second // a send writes its message within this of allocating its number
)

// ParseAck reads an iothub-ack value; empty means none.
func ParseAck(s string) (iothub.Ack, error) {
	switch a := iothub.Ack(strings.ToLower(strings.TrimSpace(s))); a {
	case "":
		return iothub.AckNone, nil
	case iothub.AckNone, iothub.AckPositive, iothub.AckNegative, iothub.AckFull:
		return a, nil
	}
	return "", invalid("iothub-ack must be none, positive, negative or full, not " + strconv.Quote(s))
}

// wants reports whether the ack asks for feedback with this status code.
func wants(a iothub.Ack, code iothub.StatusCode) bool {
	switch a {
	case iothub.AckFull:
		return true
	case iothub.AckPositive:
		return code == iothub.StatusSuccess
	case iothub.AckNegative:
		return code != iothub.StatusSuccess
	}
	return false
}

// Message is a cloud-to-device message as the service sends it.
type Message struct {
	MessageID       string
	CorrelationID   string
	UserID          string
	ContentType     string
	ContentEncoding string
	Ack             iothub.Ack
	Expiry          time.Time // zero: the hub's default TTL
	Properties      []iothub.Property
	Body            []byte
}

// Delivery is a message received by a device under a lock.
type Delivery struct {
	LockToken      string
	SequenceNumber int64
	EnqueuedTime   time.Time
	Expiry         time.Time
	DeliveryCount  int // earlier deliveries of this message
	Message
}

// Devices reads device identities (the registry).
type Devices interface {
	Get(ctx context.Context, id string) (registry.Device, error)
}

// Defaults, IoT Hub's where it has them. The hub's configuration
// (internal/config) starts from these.
const (
	DefaultTTL         = time.Hour // of a message sent without an expiry
	DefaultMaxDelivery = 10
	DefaultMaxQueue    = 50
	DefaultRetention   = 48 * time.Hour
	DefaultFeedbackTTL = time.Hour
)

// Options configure a Queue; zero values take the defaults above.
type Options struct {
	DefaultTTL  time.Duration
	MaxDelivery int // deliveries of a message before it is dead-lettered
	MaxQueue    int // pending messages per device
	// Retention keeps settled messages (status look-ups, dead-letter lists,
	// requeue) and their bodies.
	Retention time.Duration
	// FeedbackTTL bounds how long an unread feedback record is served.
	FeedbackTTL time.Duration
}

func (o Options) withDefaults() Options {
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = DefaultTTL
	}
	if o.MaxDelivery <= 0 {
		o.MaxDelivery = DefaultMaxDelivery
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = DefaultMaxQueue
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.FeedbackTTL <= 0 {
		o.FeedbackTTL = DefaultFeedbackTTL
	}
	return o
}

// TTL range of a message, as IoT Hub's.
const (
	MinTTL = time.Minute
	MaxTTL = 48 * time.Hour
)

func invalid(msg string) error {
	return apierr.ArgumentInvalid.New(msg)
}

func errLockLost() error {
	return apierr.DeviceMessageLockLost.New("the lock token is unknown, expired, or its message was already settled")
}

func errQueueFull(max int) error {
	return apierr.DeviceMaximumQueueDepthExceeded.New("the device's queue holds its maximum of " + strconv.Itoa(max) + " messages")
}

func storeErr(op string, err error) error {
	if ae, ok := apierr.As(err); ok {
		return ae
	}
	return apierr.ServiceUnavailable.Wrap("the cloud-to-device store is unavailable",
		fmt.Errorf("c2d %s: %w", op, err)).WithRetryAfter(time.Second)
}

// shardOf spreads devices over the index shards.
func shardOf(deviceID string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(deviceID))
	return int(h.Sum32() % schema.C2DShards)
}

func shardName(n int) string { return strconv.Itoa(n) }

// Lock tokens look like GUIDs, as IoT Hub's do (SDKs put them in paths
// unencoded): the first 12 hex digits are the sequence number, the 13th the
// ack, the rest random. Settling compares the whole token with the stored
// one, so a forged sequence number or ack can only fail.
func newLockToken(seq int64, ack iothub.Ack) string {
	var r [10]byte
	_, _ = rand.Read(r[:])
	h := fmt.Sprintf("%012x%x%s", seq, ackDigit(ack), hex.EncodeToString(r[:])[:19])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func ackDigit(a iothub.Ack) int {
	switch a {
	case iothub.AckPositive:
		return 1
	case iothub.AckNegative:
		return 2
	case iothub.AckFull:
		return 3
	}
	return 0
}

// parseLockToken returns the sequence number and ack a token names.
func parseLockToken(tok string) (int64, iothub.Ack, error) {
	tok = iothub.UnquoteETag(tok)
	bad := invalid("malformed lock token " + strconv.Quote(tok))
	if len(tok) != 36 || tok[8] != '-' || tok[13] != '-' || tok[18] != '-' || tok[23] != '-' {
		return 0, "", bad
	}
	h := tok[0:8] + tok[9:13] + tok[14:18] + tok[19:23] + tok[24:36]
	if _, err := hex.DecodeString(h); err != nil {
		return 0, "", bad
	}
	seq, err := strconv.ParseInt(h[:12], 16, 64)
	if err != nil || seq <= 0 {
		return 0, "", bad
	}
	acks := [...]iothub.Ack{iothub.AckNone, iothub.AckPositive, iothub.AckNegative, iothub.AckFull}
	d := int(h[12] - '0')
	if d < 0 || d > 3 {
		return 0, "", bad
	}
	return seq, acks[d], nil
}

// ValidateMessage applies the send rules that do not need the clock.
func ValidateMessage(m *Message) error {
	// The cloud-to-device limits on ids and properties.
	rules := msgrules.Rules{
		MaxIDLength: MaxIDLength, IDs: msgrules.Printable,
		MaxProperties: MaxProperties, MaxPropertiesSize: maxPropsSize, UniqueNames: true,
	}
	if len(m.Body) > MaxBodySize {
		return apierr.MessageTooLarge.New("a cloud-to-device message body is at most 64 KB")
	}
	for _, f := range []struct{ name, v string }{{"message id", m.MessageID}, {"correlation id", m.CorrelationID}, {"user id", m.UserID}} {
		if err := rules.CheckID(f.name, f.v); err != nil {
			return err
		}
	}
	if len(m.ContentType) > MaxIDLength || len(m.ContentEncoding) > MaxIDLength {
		return invalid("content type and encoding are at most 128 characters")
	}
	return rules.CheckProperties(m.Properties)
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
