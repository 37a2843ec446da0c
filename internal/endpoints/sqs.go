package endpoints

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS limits.
const (
	sqsMaxEntries = 10
	sqsMaxBytes   = 256 << 10 // a message (body and attributes), and a whole batch
	sqsMaxIDLen   = 128       // message group and deduplication ids
)

// AttrDeviceID is the message attribute naming the device on SQS messages.
const AttrDeviceID = "deviceId"

// sqsSender sends each message's data as the message body, with the device
// id as a string attribute. On a FIFO queue the device id is the message
// group, so a device's messages are delivered in order, and the
// deduplication id derives from the device and the message's unique id, so
// a retry within SQS's five-minute window is dropped rather than delivered
// twice. The deduplication id is scoped by device because message ids are
// the devices' own and two devices may well both send a message "1".
type sqsSender struct {
	api   SQSAPI
	queue string
	fifo  bool
}

func (s *sqsSender) Send(ctx context.Context, msgs []Message) []error {
	b := batcher{max: sqsMaxEntries, maxBytes: sqsMaxBytes, size: sqsSize, check: s.check, put: s.put}
	if s.fifo {
		return b.sendOrdered(ctx, msgs)
	}
	return b.sendUnordered(ctx, msgs)
}

// sqsSize is a message's size as SQS counts it: the body and each
// attribute's name, type and value.
func sqsSize(m Message) int {
	return len(m.Data) + len(AttrDeviceID) + len("String") + len(m.DeviceID)
}

func (s *sqsSender) check(m Message) error {
	if n := sqsSize(m); n > sqsMaxBytes {
		return permanent("sqs %s: message of %d bytes exceeds the %d-byte limit", s.queue, n, sqsMaxBytes)
	}
	if err := sqsBodyValid(m.Data); err != nil {
		return permanent("sqs %s: %w", s.queue, err)
	}
	return nil
}

func (s *sqsSender) put(ctx context.Context, batch []Message) []error {
	in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(s.queue), Entries: make([]types.SendMessageBatchRequestEntry, len(batch))}
	for i, m := range batch {
		e := types.SendMessageBatchRequestEntry{
			Id:          aws.String(strconv.Itoa(i)),
			MessageBody: aws.String(string(m.Data)),
			MessageAttributes: map[string]types.MessageAttributeValue{
				AttrDeviceID: {DataType: aws.String("String"), StringValue: aws.String(m.DeviceID)},
			},
		}
		if s.fifo {
			e.MessageGroupId = aws.String(fifoGroupID(m.DeviceID))
			e.MessageDeduplicationId = aws.String(fifoDeduplicationID(m.DeviceID, m.UniqueID))
		}
		in.Entries[i] = e
	}
	op := "sqs " + s.queue + ": send message batch"
	errs := make([]error, len(batch))
	out, err := s.api.SendMessageBatch(ctx, in)
	if err != nil {
		err = fmt.Errorf("%s: %w", op, err)
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	seen := make([]bool, len(batch))
	for _, ok := range out.Successful {
		if i, err := strconv.Atoi(aws.ToString(ok.Id)); err == nil && i >= 0 && i < len(batch) {
			seen[i] = true
		}
	}
	for _, f := range out.Failed {
		i, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil || i < 0 || i >= len(batch) {
			continue
		}
		seen[i] = true
		code := aws.ToString(f.Code)
		errs[i] = entryError(op, code, aws.ToString(f.Message))
		// SQS says whose fault an entry's failure is; the caller's
		// is permanent unless its code says it passes (throttling).
		if f.SenderFault && !transientCodes[code] {
			errs[i] = &permanentError{errs[i]}
		}
	}
	for i, ok := range seen {
		if !ok {
			errs[i] = fmt.Errorf("%s: entry %d missing from the response", op, i)
		}
	}
	return errs
}

// sqsBodyValid checks SQS's message body rules: 1 character or more, of
// #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
func sqsBodyValid(b []byte) error {
	if len(b) == 0 {
		return errors.New("empty message body")
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return fmt.Errorf("message body is not UTF-8 at byte %d", i)
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0xFFFE, r == 0xFFFF:
			return fmt.Errorf("message body holds character %U, which SQS refuses, at byte %d", r, i)
		}
		i += n
	}
	return nil
}

// fifoIDValid reports whether s can be a message group or deduplication id:
// 1 to 128 characters of ASCII letters, digits and punctuation.
func fifoIDValid(s string) bool {
	if s == "" || len(s) > sqsMaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

// fifoGroupID is the device id, or a hash of it when SQS would refuse it
// (IoT Hub's device ids always fit).
func fifoGroupID(device string) string {
	if fifoIDValid(device) {
		return device
	}
	sum := sha256.Sum256([]byte(device))
	return "h-" + hex.EncodeToString(sum[:])
}

// fifoDeduplicationID is "<device>/<unique id>", or when that is too long or
// holds a character SQS refuses, the hex SHA-256 of device and id. The two
// forms never collide: the first holds a '/', the second none.
func fifoDeduplicationID(device, unique string) string {
	if id := device + "/" + unique; fifoIDValid(id) {
		return id
	}
	sum := sha256.Sum256([]byte(device + "\x00" + unique))
	return hex.EncodeToString(sum[:])
}
