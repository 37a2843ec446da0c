package hubapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
)

// Telemetry ingests device-to-cloud messages.
type Telemetry interface {
	Ingest(ctx context.Context, id registry.Identity, msgs []d2c.Message) error
}

// Header and property names of IoT Hub's device protocol.
const (
	hdrMessageID       = "Iothub-Messageid"
	hdrCorrelationID   = "Iothub-Correlationid"
	hdrUserID          = "Iothub-Userid"
	hdrContentType     = "Iothub-Contenttype"
	hdrContentEncoding = "Iothub-Contentencoding"
	hdrAppPrefix       = "Iothub-App-"
	hdrDTSubject       = "Dt-Subject"
	appPrefix          = "iothub-app-"
)

// maxBatchBody bounds the JSON of a batch: 256 KB of messages grow by a third
// in base64, plus JSON punctuation and property names.
const maxBatchBody = d2c.MaxBatchSize*4/3 + 64<<10

func (s *server) postEvents(w http.ResponseWriter, r *http.Request, id registry.Identity) error {
	var msgs []d2c.Message
	var err error
	if isBatch(r.Header.Get("Content-Type")) {
		msgs, err = readBatch(w, r)
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

func tooLarge(what string) error {
	return apierr.MessageTooLarge.New(what + " exceeds 256 KB")
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64, what string) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(what)
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(what)
		}
		return nil, apierr.ArgumentInvalid.Wrap("cannot read the request body", err)
	}
	return body, nil
}

// readAll is io.ReadAll with a first buffer sized by the declared length
// (a hint only: a body may be shorter or longer), so a body is read in one
// allocation instead of a series of doublings.
func readAll(r io.Reader, hint int64) ([]byte, error) {
	size := 512
	if hint > 0 && hint < 1<<30 {
		size = int(hint) + 1 // room to read EOF without growing
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// readSingle reads one message: raw body, properties from headers. Header
// names reach the hub lower-cased through API Gateway, so application
// property names sent as headers are lower-cased in both hosts.
func readSingle(w http.ResponseWriter, r *http.Request) ([]d2c.Message, error) {
	body, err := readBody(w, r, d2c.MaxMessageSize, "message")
	if err != nil {
		return nil, err
	}
	m := d2c.Message{
		Body:            body,
		MessageID:       r.Header.Get(hdrMessageID),
		CorrelationID:   r.Header.Get(hdrCorrelationID),
		UserID:          r.Header.Get(hdrUserID),
		ContentType:     r.Header.Get(hdrContentType),
		ContentEncoding: r.Header.Get(hdrContentEncoding),
	}
	// Count first, so the properties and their lower-cased names take one
	// allocation each rather than one per property and per doubling.
	n, nameLen := 0, 0
	for k := range r.Header {
		if strings.HasPrefix(k, hdrAppPrefix) {
			n++
			nameLen += len(k) - len(hdrAppPrefix)
		} else if k == hdrDTSubject {
			n++
		}
	}
	var names strings.Builder
	if n > 0 {
		m.Properties = make([]iothub.Property, 0, n)
		names.Grow(nameLen)
	}
	for k, vs := range r.Header {
		var name string
		switch {
		case strings.HasPrefix(k, hdrAppPrefix):
			name = lowerInto(&names, k[len(hdrAppPrefix):])
		case k == hdrDTSubject:
			name = "dt-subject"
		default:
			continue
		}
		if len(vs) != 1 {
			return nil, apierr.ArgumentInvalid.New("application property " + name + " is sent more than once")
		}
		m.Properties = append(m.Properties, iothub.Property{Name: name, Value: vs[0]})
	}
	slices.SortFunc(m.Properties, func(a, b iothub.Property) int { return strings.Compare(a.Name, b.Name) })
	return []d2c.Message{m}, nil
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

// batchItem is one message of IoT Hub's JSON batch.
type batchItem struct {
	Body          json.RawMessage   `json:"body"`
	Base64Encoded *bool             `json:"base64Encoded"`
	Properties    map[string]string `json:"properties"`
}

// readBatch reads IoT Hub's batch: a JSON array of {body, base64Encoded,
// properties}; body is base64 unless base64Encoded is false.
func readBatch(w http.ResponseWriter, r *http.Request) ([]d2c.Message, error) {
	raw, err := readBody(w, r, maxBatchBody, "batch")
	if err != nil {
		return nil, err
	}
	if msgs, ok := parseBatchFast(raw); ok {
		return msgs, nil
	}
	return parseBatch(raw)
}

// parseBatch decodes any batch with encoding/json and words its errors.
func parseBatch(raw []byte) ([]d2c.Message, error) {
	var err error
	var items []batchItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, apierr.ArgumentInvalid.New("batch is not a JSON array of messages: " + err.Error())
	}
	if len(items) == 0 {
		return nil, apierr.ArgumentInvalid.New("batch holds no message")
	}
	msgs := make([]d2c.Message, len(items))
	for i, it := range items {
		m := &msgs[i]
		if m.Body, err = batchBody(it); err != nil {
			return nil, apierr.ArgumentInvalid.New("batch message " + strconv.Itoa(i) + ": " + err.Error())
		}
		for k, v := range it.Properties {
			if p, ok := batchProperty(m, k, v); ok {
				m.Properties = append(m.Properties, p)
			}
		}
		slices.SortFunc(m.Properties, func(a, b iothub.Property) int { return strings.Compare(a.Name, b.Name) })
	}
	return msgs, nil
}

func batchBody(it batchItem) ([]byte, error) {
	if len(it.Body) == 0 || string(it.Body) == "null" {
		return nil, errors.New("body is missing")
	}
	var s string
	isString := it.Body[0] == '"'
	if isString {
		if err := json.Unmarshal(it.Body, &s); err != nil {
			return nil, errors.New("body is not a valid JSON string")
		}
	}
	if it.Base64Encoded == nil || *it.Base64Encoded {
		if !isString {
			return nil, errors.New("body must be a base64 string unless base64Encoded is false")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, errors.New("body is not valid base64")
		}
		return b, nil
	}
	if isString {
		return []byte(s), nil
	}
	return []byte(it.Body), nil
}

// parseBatchFast decodes the batch shape devices send in practice, about ten
// times faster than encoding/json and with a handful of allocations per
// batch: an array of objects with exactly the keys body (a string),
// base64Encoded (true, false or null) and properties (an object of strings),
// each at most once, every string printable ASCII without escapes, property
// names distinct ignoring case, and bodies that decode. For such input it
// returns what parseBatch would; for anything else it returns false and the
// caller falls back to parseBatch, which also words the errors.
func parseBatchFast(raw []byte) ([]d2c.Message, bool) {
	p := batchScanner{s: string(raw)} // one copy; every name and value is a substring of it
	var items []fastItem
	var pairs []iothub.Property // raw property names and values, all items
	p.ws()
	if !p.next('[') {
		return nil, false
	}
	for {
		p.ws()
		it, ok := p.item(&pairs)
		if !ok {
			return nil, false
		}
		items = append(items, it)
		p.ws()
		if p.next(',') {
			continue
		}
		if p.next(']') {
			break
		}
		return nil, false
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, false
	}

	size, nprops := 0, 0
	for _, it := range items {
		if it.raw {
			size += len(it.body)
		} else {
			size += base64.StdEncoding.DecodedLen(len(it.body))
		}
		for _, kv := range pairs[it.props:it.propsEnd] {
			if !isSystemProperty(kv.Name) {
				nprops++
			}
		}
	}
	bodies := make([]byte, size)
	props := make([]iothub.Property, 0, nprops)
	msgs := make([]d2c.Message, len(items))
	off := 0
	for i, it := range items {
		m := &msgs[i]
		n := len(it.body)
		if it.raw {
			copy(bodies[off:], it.body)
		} else {
			var err error
			if n, err = base64.StdEncoding.Decode(bodies[off:], raw[it.bodyAt:it.bodyAt+len(it.body)]); err != nil {
				return nil, false
			}
		}
		m.Body = bodies[off : off+n : off+n]
		off += n
		start := len(props)
		for _, kv := range pairs[it.props:it.propsEnd] {
			if p, ok := batchProperty(m, kv.Name, kv.Value); ok {
				props = append(props, p)
			}
		}
		if len(props) > start {
			m.Properties = props[start:len(props):len(props)]
			slices.SortFunc(m.Properties, func(a, b iothub.Property) int { return strings.Compare(a.Name, b.Name) })
		}
	}
	return msgs, true
}

// batchProperty routes one property of a batch message, for both parsers:
// IoT Hub's system property names (any case) set m's fields; iothub-app-<name>
// and unprefixed names are application properties, returned with ok; other
// iothub-* names are the hub's to set, never the device's, and are dropped.
func batchProperty(m *d2c.Message, k, v string) (_ iothub.Property, ok bool) {
	switch {
	case strings.EqualFold(k, "iothub-messageid"):
		m.MessageID = v
	case strings.EqualFold(k, "iothub-correlationid"):
		m.CorrelationID = v
	case strings.EqualFold(k, "iothub-userid"):
		m.UserID = v
	case strings.EqualFold(k, "iothub-contenttype"):
		m.ContentType = v
	case strings.EqualFold(k, "iothub-contentencoding"):
		m.ContentEncoding = v
	case hasPrefixFold(k, appPrefix):
		return iothub.Property{Name: k[len(appPrefix):], Value: v}, true
	case hasPrefixFold(k, "iothub-"):
	default:
		return iothub.Property{Name: k, Value: v}, true
	}
	return iothub.Property{}, false
}

// isSystemProperty reports whether batchProperty keeps a name out of the
// application properties.
func isSystemProperty(k string) bool {
	return hasPrefixFold(k, "iothub-") && !hasPrefixFold(k, appPrefix)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// fastItem is one batch message as parseBatchFast scanned it.
type fastItem struct {
	body            string
	bodyAt          int  // offset of body in the raw batch, to decode without a copy
	raw             bool // base64Encoded is false: the body string is the body
	props, propsEnd int  // its properties in the shared pairs slice
}

// batchScanner walks the restricted JSON that parseBatchFast accepts.
type batchScanner struct {
	s string
	i int
}

func (p *batchScanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *batchScanner) next(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *batchScanner) literal(lit string) bool {
	if strings.HasPrefix(p.s[p.i:], lit) {
		p.i += len(lit)
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (p *batchScanner) str() (string, bool) {
	if !p.next('"') {
		return "", false
	}
	start := p.i
	for ; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		if c == '"' {
			p.i++
			return p.s[start : p.i-1], true
		}
		if c < 0x20 || c >= utf8.RuneSelf || c == '\\' {
			return "", false
		}
	}
	return "", false
}

func (p *batchScanner) item(pairs *[]iothub.Property) (fastItem, bool) {
	var it fastItem
	if !p.next('{') {
		return it, false
	}
	const hasBody, hasBase64, hasProps = 1, 2, 4
	seen := 0
	for {
		p.ws()
		key, ok := p.str()
		if !ok {
			return it, false
		}
		p.ws()
		if !p.next(':') {
			return it, false
		}
		p.ws()
		var field int
		switch key {
		case "body":
			field = hasBody
			it.bodyAt = p.i + 1
			if it.body, ok = p.str(); !ok {
				return it, false
			}
		case "base64Encoded":
			field = hasBase64
			switch {
			case p.literal("true"), p.literal("null"):
			case p.literal("false"):
				it.raw = true
			default:
				return it, false
			}
		case "properties":
			field = hasProps
			it.props = len(*pairs)
			if !p.properties(pairs) {
				return it, false
			}
			it.propsEnd = len(*pairs)
		default:
			return it, false
		}
		if seen&field != 0 {
			return it, false
		}
		seen |= field
		p.ws()
		if p.next(',') {
			continue
		}
		if p.next('}') {
			return it, seen&hasBody != 0
		}
		return it, false
	}
}

// properties reads an object of string values whose names are distinct
// ignoring case (so no map iteration order could change the result).
func (p *batchScanner) properties(pairs *[]iothub.Property) bool {
	if !p.next('{') {
		return false
	}
	start := len(*pairs)
	p.ws()
	if p.next('}') {
		return true
	}
	for {
		p.ws()
		k, ok := p.str()
		if !ok {
			return false
		}
		p.ws()
		if !p.next(':') {
			return false
		}
		p.ws()
		v, ok := p.str()
		if !ok {
			return false
		}
		for _, prev := range (*pairs)[start:] {
			if strings.EqualFold(prev.Name, k) {
				return false
			}
		}
		*pairs = append(*pairs, iothub.Property{Name: k, Value: v})
		p.ws()
		if p.next(',') {
			continue
		}
		return p.next('}')
	}
}
