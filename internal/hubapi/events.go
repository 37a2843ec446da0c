package hubapi

import (
	"context"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/msgrules"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
)

// Telemetry ingests device-to-cloud messages.
// The messages are valid only during the call (a batch's storage is
// reused): an implementation that keeps them copies them.
type Telemetry interface {
	Ingest(ctx context.Context, id registry.Identity, msgs []d2c.Message) error
}

// maxBatchBody bounds the JSON of a batch: 256 KB of messages grow by a third
// in base64, plus JSON punctuation and property names.
const maxBatchBody = d2c.MaxBatchSize*4/3 + 64<<10

func (s *server) postEvents(w http.ResponseWriter, r *http.Request, id registry.Identity) error {
	var msgs []d2c.Message
	var err error
	if isBatch(r.Header.Get("Content-Type")) {
		st := batchPool.Get().(*batchStorage)
		defer st.release()
		msgs, err = readBatch(w, r, st)
	} else {
		msgs, err = readSingle(w, r)
	}
	if err != nil {
		return err
	}
	if err := s.Telemetry.Ingest(r.Context(), id, msgs); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func isBatch(ct string) bool {
	if ct == "" {
		return false
	}
	if strings.EqualFold(ct, iothub.BatchContentType) {
		return true
	}
	// mime.ParseMediaType allocates; an ASCII value that does not even
	// contain the batch type cannot parse to it, so skip the parse.
	if isASCII(ct) && !containsFoldASCII(ct, iothub.BatchContentType) {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == iothub.BatchContentType
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// containsFoldASCII reports whether sub occurs in s, ASCII case-insensitively.
func containsFoldASCII(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// readSingle reads one message: raw body, properties from headers.
func readSingle(w http.ResponseWriter, r *http.Request) ([]d2c.Message, error) {
	body, err := readBody(w, r, d2c.MaxMessageSize, "message exceeds 256 KB")
	if err != nil {
		return nil, err
	}
	m, err := singleMessage(r.Header, body)
	if err != nil {
		return nil, err
	}
	return []d2c.Message{m}, nil
}

// singleMessage builds a message from its headers, with the rules of a
// batch message: a header sent more than once counts each time against
// msgrules.MaxProperties and its last value wins. Header names reach the hub
// lower-cased through API Gateway, so application property names sent as
// headers are lower-cased in both hosts, and two spellings of one name are
// one header. The one pair of headers that can name the same property,
// dt-subject and iothub-app-dt-subject, resolves to dt-subject, the header
// the SDKs send: a header map keeps no order between names.
func singleMessage(h http.Header, body []byte) (d2c.Message, error) {
	m := d2c.Message{
		Body:            body,
		MessageID:       lastValue(h, hdrMessageID),
		CorrelationID:   lastValue(h, hdrCorrelationID),
		UserID:          lastValue(h, hdrUserID),
		ContentType:     lastValue(h, hdrContentType),
		ContentEncoding: lastValue(h, hdrContentEncoding),
	}
	// Count first, so the properties and their lower-cased names take one
	// allocation each rather than one per property and per doubling.
	n, sent, nameLen := 0, 0, 0
	for k, vs := range h {
		if strings.HasPrefix(k, hdrAppPrefix) {
			n++
			sent += len(vs)
			nameLen += len(k) - len(hdrAppPrefix)
		} else if k == hdrDTSubject {
			n++
			sent += len(vs)
		}
	}
	if sent > msgrules.MaxProperties {
		return d2c.Message{}, msgrules.TooManyProperties(msgrules.MaxProperties)
	}
	var names strings.Builder
	if n > 0 {
		m.Properties = make([]iothub.Property, 0, n)
		names.Grow(nameLen)
	}
	subject := h[hdrDTSubject]
	for k, vs := range h {
		if !strings.HasPrefix(k, hdrAppPrefix) || len(vs) == 0 {
			continue
		}
		if len(subject) > 0 && strings.EqualFold(k[len(hdrAppPrefix):], "dt-subject") {
			continue // the bare header wins
		}
		name := lowerInto(&names, k[len(hdrAppPrefix):])
		m.Properties = append(m.Properties, iothub.Property{Name: name, Value: vs[len(vs)-1]})
	}
	if len(subject) > 0 {
		m.Properties = append(m.Properties, iothub.Property{Name: "dt-subject", Value: subject[len(subject)-1]})
	}
	slices.SortFunc(m.Properties, func(a, b iothub.Property) int { return strings.Compare(a.Name, b.Name) })
	return m, nil
}

// lastValue is the last value of a header sent more than once (Get returns
// the first).
func lastValue(h http.Header, key string) string {
	vs := h[key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// lowerInto returns strings.ToLower(s). ASCII names are lowered into b, whose
// buffer was grown to hold all of them, so they share one allocation; the
// returned string stays valid because a strings.Builder never rewrites bytes
// it has handed out.
func lowerInto(b *strings.Builder, s string) string {
	if !isASCII(s) || b.Cap()-b.Len() < len(s) {
		return strings.ToLower(s)
	}
	start := b.Len()
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()[start:]
}

// readBatch reads IoT Hub's batch: a JSON array of {body, base64Encoded,
// properties}; body is base64 unless base64Encoded is false. The messages'
// bodies and
// properties, into st's storage when the fast parser takes it.
func readBatch(w http.ResponseWriter, r *http.Request, st *batchStorage) ([]d2c.Message, error) {
	raw, err := readBody(w, r, maxBatchBody, "batch exceeds 256 KB")
	if err != nil {
		return nil, err
	}
	if msgs, ok := st.parseFast(raw); ok {
		return msgs, nil
	}
	return parseBatch(raw)
}
