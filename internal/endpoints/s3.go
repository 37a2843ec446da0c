package endpoints

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

// ContentTypeJSONLines is the content type of the objects the S3 sender
// writes: one JSON message per line.
const ContentTypeJSONLines = "application/x-ndjson"

// s3Sender writes one JSON-lines object per Send and per hour of the
// messages' enqueued times, under Prefix/YYYY/MM/DD/HH/ (UTC), IoT Hub's
// layout for storage endpoints. The object's name derives from its messages
// alone, so a retry of the same messages rewrites the same object instead of
// adding a second copy.
type s3Sender struct {
	api    S3API
	bucket string
	prefix string
}

// s3Object is one object to write: its messages' indexes and lines.
type s3Object struct {
	hour  time.Time
	first time.Time // the earliest message's time
	idx   []int
	ids   []string // what names the object
	body  bytes.Buffer
}

func (s *s3Sender) Send(ctx context.Context, msgs []Message) []error {
	errs := make([]error, len(msgs))
	byHour := map[time.Time]*s3Object{}
	var objects []*s3Object
	for i, m := range msgs {
		if m.Time.IsZero() {
			errs[i] = permanent("s3 %s: message %q has no enqueued time for its key", s.bucket, m.UniqueID)
			continue
		}
		line, err := jsonLine(m.Data)
		if err != nil {
			errs[i] = permanent("s3 %s: message %q: %w", s.bucket, m.UniqueID, err)
			continue
		}
		t := m.Time.UTC()
		h := t.Truncate(time.Hour)
		o := byHour[h]
		if o == nil {
			o = &s3Object{hour: h, first: t}
			byHour[h] = o
			objects = append(objects, o)
		}
		if t.Before(o.first) {
			o.first = t
		}
		o.idx = append(o.idx, i)
		o.ids = append(o.ids, objectToken(m))
		o.body.Write(line)
		o.body.WriteByte('\n')
	}
	var g errgroup.Group
	g.SetLimit(parallelCalls)
	for _, o := range objects {
		g.Go(func() error {
			err := s.put(ctx, o)
			for _, i := range o.idx {
				errs[i] = err
			}
			return nil
		})
	}
	_ = g.Wait() // errors are per object, in errs
	return errs
}

func (s *s3Sender) put(ctx context.Context, o *s3Object) error {
	key := s.key(o)
	_, err := s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(o.body.Bytes()),
		ContentLength: aws.Int64(int64(o.body.Len())),
		ContentType:   aws.String(ContentTypeJSONLines),
	})
	if err != nil {
		return fmt.Errorf("s3 %s: put object %s: %w", s.bucket, key, err)
	}
	return nil
}

// key is Prefix + "YYYY/MM/DD/HH/" + "MMSS-" + 32 hex digits of a hash of
// the messages' ids + ".jsonl". The minute and second of the earliest
// message order an hour's objects in a listing; the hash (sorted, so the
// order the messages came in does not matter) makes the name depend on the
// messages alone.
func (s *s3Sender) key(o *s3Object) string {
	ids := slices.Clone(o.ids)
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%d:%s", len(id), id) // length-prefixed: unambiguous
	}
	return s.prefix + o.hour.Format("2006/01/02/15/") + o.first.Format("0405") + "-" + hex.EncodeToString(h.Sum(nil)[:16]) + ".jsonl"
}

// objectToken identifies a message within an object's name: its device and
// record sequence number, else its unique id, or, lacking both, a hash of
// its data.
func objectToken(m Message) string {
	if m.Sequence != "" {
		return m.DeviceID + "\x00@" + m.Sequence
	}
	if m.UniqueID == "" {
		sum := sha256.Sum256(m.Data)
		return m.DeviceID + "\x00#" + hex.EncodeToString(sum[:])
	}
	return m.DeviceID + "\x00" + m.UniqueID
}

// jsonLine returns data as one line of JSON: as it is when it holds no line
// break (JSON strings escape theirs), compacted otherwise.
func jsonLine(data []byte) ([]byte, error) {
	if !bytes.ContainsAny(data, "\r\n") {
		if !json.Valid(data) {
			return nil, errors.New("data is not JSON")
		}
		return data, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return nil, fmt.Errorf("data is not JSON: %w", err)
	}
	return b.Bytes(), nil
}
