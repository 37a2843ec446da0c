// Package d2c takes device-to-cloud messages from authenticated devices,
// validates them against IoT Hub's limits, stamps the system properties the
// hub owns, encodes each as the record envelope shared/telemetry decodes
// (envelope.go), and writes them to a Stream in per-device order.
// internal/kinesisput is the Stream the hub runs on.
package d2c

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/msgrules"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// Limits, IoT Hub's where it has them.
const (
	MaxMessageSize = 256 << 10 // one message: body plus property names and values
	MaxBatchSize   = 256 << 10 // one HTTPS request, all messages together
	MaxIDLength    = 128       // message id, correlation id and user id
	// MaxBatchMessages bounds the messages of one request (IoT Hub bounds
	// only the bytes): 30,000 empty messages fit in 256 KB and would each be
	// a Kinesis record, billed at 1 KiB and counted against a shard's 1,000
	// records a second. 500 is one PutRecords call, and still admits a full
	// 256 KB batch of messages that average 512 bytes or more.
	MaxBatchMessages = MaxRecordsPerCall
)

// Message is one device-to-cloud message as the device sent it.
type Message struct {
	Body            []byte
	MessageID       string
	CorrelationID   string
	UserID          string
	ContentType     string
	ContentEncoding string
	Properties      []iothub.Property // application properties, prefix removed
}

// size is what IoT Hub counts against the message limit.
func (m *Message) size() int {
	n := len(m.Body) + len(m.MessageID) + len(m.CorrelationID) + len(m.UserID) + len(m.ContentType) + len(m.ContentEncoding)
	for _, p := range m.Properties {
		n += len(p.Name) + len(p.Value)
	}
	return n
}

// Result says how far a PutRecords call got: FailedFrom is the index of the
// first rejected record, or -1 when Kinesis accepted all of them.
type Result struct {
	FailedFrom int
	Throttled  bool // the first rejection was a throughput throttle
}

// Stream writes records that share one partition key, in order. The
// records are valid only during the call (Ingest reuses their storage): an
// implementation that keeps them copies them.
type Stream interface {
	PutRecords(ctx context.Context, partitionKey string, records [][]byte) (Result, error)
}

// MaxRecordsPerCall is Kinesis's PutRecords limit.
const MaxRecordsPerCall = 500

// Ingestor validates, stamps and writes messages.
type Ingestor struct {
	Stream Stream
	Now    func() time.Time
	// Retries bounds how often a rejected suffix is sent again within one
	// request before the device is told to retry (429/503). Default 3.
	Retries int
	// Backoff is the first retry's delay, doubled for each next one. Default 25ms.
	Backoff time.Duration
	// RecordVersion is the envelope version written: telemetry.V1 or V2
	// (0 is telemetry.Version, the compact V2).
	RecordVersion int
}

// rules are the device-to-cloud limits on ids and properties, msgrules'
// shared ones. The properties' size counts against the message size, not a
// limit of its own. Names are distinct: the HTTP layer resolves repeated
// names with msgrules.LastWins before they get here.
var rules = msgrules.Rules{MaxIDLength: MaxIDLength, IDs: msgrules.Printable, MaxProperties: msgrules.MaxProperties, UniqueNames: true}

// ValidateMessage applies the per-message rules.
func ValidateMessage(m *Message) error {
	for _, id := range [...]struct{ what, v string }{
		{"message id", m.MessageID}, {"correlation id", m.CorrelationID}, {"user id", m.UserID},
	} {
		if err := rules.CheckID(id.what, id.v); err != nil {
			return err
		}
	}
	if err := rules.CheckProperties(m.Properties); err != nil {
		return err
	}
	if m.size() > MaxMessageSize {
		return apierr.MessageTooLarge.New("message exceeds 256 KB (body plus properties)")
	}
	return nil
}

func invalid(msg string) error {
	return apierr.ArgumentInvalid.New(msg)
}

// Ingest writes msgs for the authenticated device and returns only once
// Kinesis has accepted every one of them, in order. On any failure it
// returns a Throttled or Unavailable error for the device to retry.
func (in *Ingestor) Ingest(ctx context.Context, id registry.Identity, msgs []Message) error {
	if len(msgs) == 0 {
		return invalid("a batch must hold at least one message")
	}
	if len(msgs) > MaxBatchMessages {
		return TooManyMessages()
	}
	total, size := 0, 0
	for i := range msgs {
		if err := ValidateMessage(&msgs[i]); err != nil {
			if len(msgs) > 1 {
				if e, ok := apierr.As(err); ok {
					e.Message = "message " + strconv.Itoa(i) + ": " + e.Message
				}
			}
			return err
		}
		total += msgs[i].size()
	}
	if total > MaxBatchSize {
		return apierr.MessageTooLarge.New("batch exceeds 256 KB")
	}
	sys := telemetry.SystemProperties{
		DeviceID: id.DeviceID, AuthGenerationID: id.GenerationID, AuthMethod: id.AuthMethod,
		EnqueuedTime: in.Now().UTC(),
	}
	// The stamped properties are the same for every message: encode them once.
	var scratch [512]byte
	enc := newEnvelopeEncoder(in.RecordVersion, scratch[:0], &sys)
	for i := range msgs {
		size += enc.estimate(&msgs[i])
	}
	// One buffer for every record of the request, pooled between requests
	// (a record with escapes may grow it: those before keep their storage).
	sc := recordPool.Get().(*recordStorage)
	defer sc.release()
	buf := slices.Grow(sc.buf[:0], size)
	records := slices.Grow(sc.records[:0], len(msgs))[:len(msgs)]
	for i := range msgs {
		m := &msgs[i]
		sys.MessageID, sys.CorrelationID, sys.UserID = m.MessageID, m.CorrelationID, m.UserID
		sys.ContentType, sys.ContentEncoding = m.ContentType, m.ContentEncoding
		start := len(buf)
		buf = enc.append(buf, &sys, m.Properties, m.Body)
		records[i] = buf[start:len(buf):len(buf)]
	}
	sc.buf, sc.records = buf, records
	return in.put(ctx, id.DeviceID, records)
}

// recordStorage is a request's records, pooled: a batch's are tens of
// kilobytes, which the Stream copies into its request.
type recordStorage struct {
	buf     []byte
	records [][]byte
}

var recordPool = sync.Pool{New: func() any { return new(recordStorage) }}

// maxPooledRecords bounds the record storage kept between requests.
const maxPooledRecords = 1 << 20

func (sc *recordStorage) release() {
	clear(sc.records) // a grown buffer's old storage is not kept alive
	if cap(sc.buf) > maxPooledRecords {
		sc.buf = nil
	}
	recordPool.Put(sc)
}

// put writes records in order. Kinesis may reject some records of a
// PutRecords call and accept later ones; to keep per-device order the hub
// sends everything again from the first rejected record on. Consumers may
// therefore see duplicates, never a message whose predecessors are missing
// from the final, in-order run (see README, "Ordering").
func (in *Ingestor) put(ctx context.Context, partitionKey string, records [][]byte) error {
	retries, backoff := in.Retries, in.Backoff
	if retries <= 0 {
		retries = 3
	}
	if backoff <= 0 {
		backoff = 25 * time.Millisecond
	}
	pos, failures := 0, 0
	for pos < len(records) {
		end := min(pos+MaxRecordsPerCall, len(records))
		res, err := in.Stream.PutRecords(ctx, partitionKey, records[pos:end])
		switch {
		case err == nil && res.FailedFrom < 0:
			pos = end
			continue
		case err == nil:
			pos += res.FailedFrom
		}
		failures++
		if failures > retries || ctx.Err() != nil {
			return failure(err, res.Throttled)
		}
		t := time.NewTimer(backoff << (failures - 1))
		select {
		case <-ctx.Done():
			t.Stop()
			return failure(ctx.Err(), false)
		case <-t.C:
		}
	}
	return nil
}

// TooManyMessages refuses a batch of more than MaxBatchMessages. It is
// MessageTooLarge, as a batch over 256 KB is: the batch is too large, and a
// device that splits it succeeds.
func TooManyMessages() error {
	return apierr.MessageTooLarge.New("a batch holds at most " + strconv.Itoa(MaxBatchMessages) + " messages")
}

// ErrThrottled marks a throughput throttle from the stream.
var ErrThrottled = errors.New("stream throttled")

func failure(cause error, throttled bool) error {
	if throttled || errors.Is(cause, ErrThrottled) {
		return apierr.ThrottlingException.Wrap("the telemetry stream is throttling; retry later", cause).WithRetryAfter(time.Second)
	}
	return apierr.ServiceUnavailable.Wrap("the telemetry stream did not accept the message; retry later", cause).WithRetryAfter(time.Second)
}
