package hubapi

import (
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/jsonscan"
	"github.com/devicehub/devicehub/internal/msgrules"
	"github.com/devicehub/devicehub/shared/iothub"
)

// parseBatchFast decodes the batch shape devices send in practice, about ten
// times faster than encoding/json and with a handful of allocations per
// batch: an array of at most d2c.MaxBatchMessages objects with only the keys
// body (a string), base64Encoded (true, false or null) and properties (an
// object of strings within the caps of batch.go), every string printable
// ASCII without escapes, and bodies that decode. A key or property name
// given twice is resolved as parseBatch resolves it (the last wins). For
// such input it returns what parseBatch would, in time linear in the input;
// for anything else it returns false and the caller falls back to
// parseBatch, which also words the errors. The messages' property names and
// values are views of raw, which must not be written while they are in use.
func parseBatchFast(raw []byte) ([]d2c.Message, bool) {
	return new(batchStorage).parseFast(raw)
}

// batchStorage holds the messages of a batch, their bodies and properties,
// pooled: postEvents hands them to Telemetry.Ingest, which keeps nothing of
// them once it returns.
type batchStorage struct {
	msgs   []d2c.Message
	bodies []byte
	props  []iothub.Property
}

var batchPool = sync.Pool{New: func() any { return new(batchStorage) }}

// maxPooledBodies bounds the storage kept between batches.
const maxPooledBodies = 1 << 20

// release resets the storage and returns it to the pool.
func (st *batchStorage) release() {
	st.reset()
	batchPool.Put(st)
}

// reset drops what the storage refers to (the batch's strings), and the
// storage itself when it grew large.
func (st *batchStorage) reset() {
	clear(st.msgs) // zero, as parseFast expects the messages it reuses
	clear(st.props)
	if cap(st.bodies) > maxPooledBodies || cap(st.props) > maxPooledPairs {
		*st = batchStorage{}
	}
}

// parseFast is parseBatchFast into st's storage.
func (st *batchStorage) parseFast(raw []byte) ([]d2c.Message, bool) {
	sc := scratchPool.Get().(*batchScratch)
	defer sc.release()
	// Every name and value is a substring of the batch. raw is readBody's,
	// which no one writes (WholeBody), so it is viewed as a string rather
	// than copied into one (a batch is up to 340 KB).
	p := batchScanner{s: unsafe.String(unsafe.SliceData(raw), len(raw))}
	items := sc.items[:0]
	pairs := sc.pairs[:0] // raw property names and values, all items
	kinds := sc.kinds[:0] // what each pair's name is
	defer func() { sc.items, sc.pairs, sc.kinds = items, pairs, kinds }()
	p.ws()
	if !p.next('[') {
		return nil, false
	}
	for {
		p.ws()
		if len(items) == d2c.MaxBatchMessages {
			return nil, false
		}
		it, ok := p.item(&pairs, &kinds)
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
	}
	for _, it := range items {
		for _, k := range kinds[it.props:it.propsEnd] {
			if k < propDropped {
				nprops++
			}
		}
	}
	bodies := slices.Grow(st.bodies[:0], size)[:size]
	if bodies == nil {
		bodies = []byte{} // an empty body is empty, not nil, as parseBatch gives it
	}
	props := slices.Grow(st.props[:0], nprops)
	msgs := slices.Grow(st.msgs[:0], len(items))[:len(items)] // zero: cleared on release
	st.msgs, st.bodies = msgs, bodies
	defer func() { st.props = props }()
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
		// As appendProperties, with each name classified once, by
		// properties, which kept the count within the cap.
		start := len(props)
		for j := it.props; j < it.propsEnd; j++ {
			if p, ok := routeProperty(m, kinds[j], pairs[j].Name, pairs[j].Value); ok {
				props = append(props, p)
			}
		}
		m.Properties = finishProperties(props[start:])
	}
	return msgs, true
}

// batchScratch is parseBatchFast's working space, pooled: what it scans
// before it knows the sizes to allocate the messages with.
type batchScratch struct {
	items []fastItem
	pairs []iothub.Property
	kinds []propKind // of pairs
}

var scratchPool = sync.Pool{New: func() any { return new(batchScratch) }}

// maxPooledPairs bounds the scratch space kept between batches.
const maxPooledPairs = 4096

// release drops the strings the scratch space refers to (substrings of the
// batch) and returns it to the pool.
func (sc *batchScratch) release() {
	clear(sc.items) // what was used: the rest was cleared before
	clear(sc.pairs)
	if cap(sc.pairs) > maxPooledPairs {
		sc.pairs, sc.kinds = nil, nil
	}
	scratchPool.Put(sc)
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
	p.i += jsonscan.PlainRun(p.s[p.i:])
	if p.i < len(p.s) && p.s[p.i] == '"' {
		p.i++
		return p.s[start : p.i-1], true
	}
	return "", false
}

func (p *batchScanner) item(pairs *[]iothub.Property, kinds *[]propKind) (fastItem, bool) {
	var it fastItem
	if !p.next('{') {
		return it, false
	}
	hasBody := false
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
		// A key given again replaces what the earlier one set.
		switch key {
		case "body":
			hasBody = true
			it.bodyAt = p.i + 1
			if it.body, ok = p.str(); !ok {
				return it, false
			}
		case "base64Encoded":
			switch {
			case p.literal("true"), p.literal("null"):
				it.raw = false
			case p.literal("false"):
				it.raw = true
			default:
				return it, false
			}
		case "properties":
			it.props = len(*pairs)
			if !p.properties(pairs, kinds) {
				return it, false
			}
			it.propsEnd = len(*pairs)
		default:
			return it, false
		}
		p.ws()
		if p.next(',') {
			continue
		}
		if p.next('}') {
			return it, hasBody
		}
		return it, false
	}
}

// properties reads an object of string values, in document order, with at
// most msgrules.MaxProperties application properties and maxPropertyEntries
// entries.
func (p *batchScanner) properties(pairs *[]iothub.Property, kinds *[]propKind) bool {
	if !p.next('{') {
		return false
	}
	apps, entries := 0, 0
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
		kind := classifyProperty(k)
		if kind < propDropped {
			if apps++; apps > msgrules.MaxProperties {
				return false
			}
		}
		if entries++; entries > maxPropertyEntries {
			return false
		}
		*pairs = append(*pairs, iothub.Property{Name: k, Value: v})
		*kinds = append(*kinds, kind)
		p.ws()
		if p.next(',') {
			continue
		}
		return p.next('}')
	}
}
