package app

// A purpose-built reader of API Gateway's HTTP API (payload 2.0) event, for
// the ingress hot path. encoding/json decodes the event into
// events.APIGatewayV2HTTPRequest by reflection, builds maps of its headers
// and copies the body string twice; on a warm function that was a third of
// an invocation's time and most of its allocations (BENCHMARKS.md). This
// reader takes exactly what httpadapter's EventToRequest reads (the request
// line, headers, cookies, body and the ids), unescapes the strings into one
// buffer, and validates the rest of the event as encoding/json would.
//
// It reads only a well-formed event that encoding/json would decode without
// error and without its lossy repairs; for anything else (invalid JSON, a
// value of the wrong type, a key given twice or spelt in another case,
// invalid UTF-8 or an unpaired surrogate in a string it reads, a null where
// a string is expected, queryStringParameters without rawQueryString) it
// reports false and the caller takes the encoding/json path, which answers
// exactly as before. TestEventV2MatchesEncodingJSON and FuzzEventV2 hold the
// two to the same result.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicehub/devicehub/internal/jsonscan"
	"github.com/devicehub/devicehub/internal/jsonstr"
)

// v2Event is what the adapter reads of an event. Its strings share one
// allocation (the arena). The body is either plain, a slice of the event
// (bodyRaw, valid while the event is), or unescaped into a buffer of its own
// (body).
type v2Event struct {
	rawPath, rawQuery                             string
	method, path, domainName, sourceIP, requestID string
	cookies                                       []string
	headers                                       []v2Header // in document order
	bodyRaw, body                                 []byte     // the JSON string's bytes, still base64 when bodyBase64
	bodyBase64                                    bool
	queryParams                                   bool // a non-empty queryStringParameters object
}

// v2Header is one member of the event's headers object.
type v2Header struct {
	name, value string
}

// eventReader reads one event. Its fields are reused between events (it is
// pooled with the adapter's scratch space); arena is not: the strings it
// hands out live on in the request.
type eventReader struct {
	b     []byte
	i     int
	arena strings.Builder
	ev    v2Event
	names []headerName // the header names read so far, to refuse a repeated one
}

// Keys of the event, as events.APIGatewayV2HTTPRequest names them. A key
// that is none of these but equals one of them ignoring case would be
// matched by encoding/json: the reader leaves such events to it.
var (
	topKeys     = []string{"version", "routeKey", "rawPath", "rawQueryString", "cookies", "headers", "queryStringParameters", "pathParameters", "requestContext", "stageVariables", "body", "isBase64Encoded"}
	contextKeys = []string{"routeKey", "accountId", "stage", "requestId", "authorizer", "apiId", "domainName", "domainPrefix", "time", "timeEpoch", "http", "authentication"}
	httpKeys    = []string{"method", "path", "protocol", "sourceIp", "userAgent"}
	// The mTLS authentication is a tree of strings: the reader checks it
	// itself (encoding/json would take a quarter of the invocation).
	authenticationKeys = []string{"clientCert"}
	clientCertKeys     = []string{"clientCertPem", "issuerDN", "serialNumber", "subjectDN", "validity"}
	validityKeys       = []string{"notAfter", "notBefore"}
)

// read reads b into r.ev.
func (r *eventReader) read(b []byte) bool {
	r.b, r.i = b, 0
	r.ev = v2Event{headers: r.ev.headers[:0]}
	r.arena.Reset()
	// Every string the reader keeps is shorter than its escaped form in the
	// event, and the body has its own buffer: 2 KB holds the rest of an API
	// Gateway event; more grows the arena.
	r.arena.Grow(min(len(b), 2048))
	r.ws()
	if !r.object(levelTop) {
		return false
	}
	// json.Decoder, which aws-lambda-go decodes with, reads one value and
	// ignores what follows it; the reader takes only whitespace there.
	r.ws()
	return r.i == len(r.b)
}

// release drops what the reader refers to (the event, its strings and
// body), keeping its slices' storage.
func (r *eventReader) release() {
	clear(r.ev.headers)
	clear(r.ev.cookies)
	r.ev = v2Event{headers: r.ev.headers[:0]}
	r.b = nil
	r.arena.Reset()
}

// Levels of the event's objects that the reader knows the keys of.
const (
	levelTop = iota
	levelContext
	levelHTTP
	levelAuthentication
	levelClientCert
	levelValidity
)

var levelKeys = [...][]string{
	levelTop: topKeys, levelContext: contextKeys, levelHTTP: httpKeys,
	levelAuthentication: authenticationKeys, levelClientCert: clientCertKeys, levelValidity: validityKeys,
}

// object reads an object of level; a null is an empty object (a zero
// struct).
func (r *eventReader) object(level int) bool {
	keys := levelKeys[level]
	if r.literal("null") {
		return true
	}
	if !r.next('{') {
		return false
	}
	seen := uint32(0)
	r.ws()
	if r.next('}') {
		return true
	}
	for {
		r.ws()
		k, ok := r.key(keys)
		if !ok {
			return false
		}
		r.ws()
		if !r.next(':') {
			return false
		}
		r.ws()
		if k >= 0 {
			if seen&(1<<k) != 0 {
				return false // a key given twice: encoding/json merges maps, keeps the last string
			}
			seen |= 1 << k
			if !r.member(level, k) {
				return false
			}
		} else if !r.skip() {
			return false
		}
		r.ws()
		if r.next(',') {
			continue
		}
		return r.next('}')
	}
}

// key reads an object key and returns its index in keys, or -1 for a key
// encoding/json ignores. It fails for escaped or non-ASCII keys and for keys
// equal to a known one ignoring case.
func (r *eventReader) key(keys []string) (int, bool) {
	start, end, plain, ok := r.rawString()
	if !ok || !plain {
		return 0, false
	}
	k := r.b[start:end]
	for i, name := range keys {
		if len(name) == len(k) && name[0] == k[0] && string(k) == name {
			return i, true
		}
	}
	for _, c := range k {
		if c >= utf8.RuneSelf {
			return 0, false
		}
	}
	for _, name := range keys {
		if bytes.EqualFold(k, []byte(name)) {
			return 0, false
		}
	}
	return -1, true
}

// member reads the value of the known key k of an object of level.
func (r *eventReader) member(level, k int) bool {
	switch level {
	case levelContext:
		return r.contextMember(k)
	case levelHTTP:
		return r.httpMember(k)
	case levelAuthentication:
		return r.object(levelClientCert)
	case levelClientCert:
		if clientCertKeys[k] == "validity" {
			return r.object(levelValidity)
		}
		return r.skipString()
	case levelValidity:
		return r.skipString()
	}
	ev := &r.ev
	switch topKeys[k] {
	case "rawPath":
		return r.str(&ev.rawPath)
	case "rawQueryString":
		return r.str(&ev.rawQuery)
	case "cookies":
		return r.cookies()
	case "headers":
		return r.headers()
	case "queryStringParameters":
		n, ok := r.stringMap()
		ev.queryParams = n > 0
		return ok
	case "pathParameters", "stageVariables":
		_, ok := r.stringMap()
		return ok
	case "requestContext":
		return r.object(levelContext)
	case "body":
		return r.body()
	case "isBase64Encoded":
		switch {
		case r.literal("true"):
			ev.bodyBase64 = true
		case r.literal("false"):
			ev.bodyBase64 = false
		default:
			return r.literal("null")
		}
		return true
	}
	return r.skipString() // version, routeKey
}

func (r *eventReader) contextMember(k int) bool {
	switch contextKeys[k] {
	case "requestId":
		return r.str(&r.ev.requestID)
	case "domainName":
		return r.str(&r.ev.domainName)
	case "timeEpoch":
		return r.int64()
	case "http":
		return r.object(levelHTTP)
	case "authorizer":
		var a *events.APIGatewayV2HTTPRequestContextAuthorizerDescription
		return r.typed(&a)
	case "authentication":
		return r.object(levelAuthentication)
	}
	return r.skipString()
}

func (r *eventReader) httpMember(k int) bool {
	switch httpKeys[k] {
	case "method":
		return r.str(&r.ev.method)
	case "path":
		return r.str(&r.ev.path)
	case "sourceIp":
		return r.str(&r.ev.sourceIP)
	}
	return r.skipString()
}

// typed checks a value the adapter does not use but whose type
// encoding/json would check (the authorizer, absent on the device routes)
// by decoding it with encoding/json.
func (r *eventReader) typed(v any) bool {
	start := r.i
	if !r.skip() {
		return false
	}
	return json.Unmarshal(r.b[start:r.i], v) == nil
}

// headers reads the headers object in document order. A name given twice,
// in any case, goes to encoding/json, whose map keeps the last value.
func (r *eventReader) headers() bool {
	if r.literal("null") {
		return true
	}
	if !r.next('{') {
		return false
	}
	r.names = r.names[:0]
	r.ws()
	if r.next('}') {
		return true
	}
	for {
		r.ws()
		start, end, plain, ok := r.rawString()
		if !ok || !plain {
			return false
		}
		// Names that differ only in ASCII case (which API Gateway, lower-
		// casing them, never sends) would share a canonical name: the
		// request is built on every name having its own.
		raw := r.b[start:end]
		folded := foldHash(raw)
		for _, n := range r.names {
			if n.hash == folded && equalFoldASCII(r.b[n.start:n.end], raw) {
				return false
			}
		}
		r.names = append(r.names, headerName{start, end, folded})
		r.ws()
		if !r.next(':') {
			return false
		}
		r.ws()
		h := v2Header{name: r.canonicalName(raw)}
		if !r.str(&h.value) {
			return false
		}
		r.ev.headers = append(r.ev.headers, h)
		r.ws()
		if r.next(',') {
			continue
		}
		return r.next('}')
	}
}

// headerName is a header name's place in the event and its hash ignoring
// ASCII case.
type headerName struct {
	start, end int
	hash       uint32
}

// foldHash is FNV-1a of s with ASCII letters in lower case.
func foldHash(s []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range s {
		h = (h ^ uint32(c|0x20)) * 16777619 // '|0x20' folds letters; other bytes only need to hash alike when equal
	}
	return h
}

func equalFoldASCII(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// stringMap checks an object of strings and counts its members.
func (r *eventReader) stringMap() (int, bool) {
	if r.literal("null") {
		return 0, true
	}
	if !r.next('{') {
		return 0, false
	}
	n := 0
	r.ws()
	if r.next('}') {
		return 0, true
	}
	for {
		r.ws()
		if !r.skipString() {
			return 0, false
		}
		r.ws()
		if !r.next(':') {
			return 0, false
		}
		r.ws()
		if !r.skipString() {
			return 0, false
		}
		n++
		r.ws()
		if r.next(',') {
			continue
		}
		return n, r.next('}')
	}
}

func (r *eventReader) cookies() bool {
	if r.literal("null") {
		r.ev.cookies = nil
		return true
	}
	if !r.next('[') {
		return false
	}
	r.ws()
	if r.next(']') {
		return true
	}
	for {
		r.ws()
		var c string
		if !r.str(&c) {
			return false
		}
		r.ev.cookies = append(r.ev.cookies, c)
		r.ws()
		if r.next(',') {
			continue
		}
		return r.next(']')
	}
}

// body reads the body string: a plain one (base64, or text without escapes)
// stays where it is in the event; another is unescaped in the same pass into
// a buffer of its own, which the request takes over (a batch's body is most
// of the event).
func (r *eventReader) body() bool {
	if r.literal("null") {
		return true
	}
	if !r.next('"') {
		return false
	}
	start := r.i
	if n := jsonscan.PlainRun(r.b[start:]); start+n < len(r.b) && r.b[start+n] == '"' {
		r.ev.bodyRaw = r.b[start : start+n : start+n]
		r.i = start + n + 1
		return true
	}
	var ok bool
	r.ev.body, r.i, ok = unquote(make([]byte, 0, len(r.b)-start), r.b, start)
	return ok
}

// bodyString is the body string's contents, unescaped.
func (ev *v2Event) bodyString() []byte {
	if ev.bodyRaw != nil {
		return ev.bodyRaw
	}
	return ev.body
}

// unquote appends the contents of the JSON string that starts at b[i],
// just after its opening quote, unescaped, and returns the index after its
// closing quote. It fails on invalid syntax and where encoding/json would
// substitute U+FFFD (invalid UTF-8, an unpaired surrogate).
//
// The output is never longer than the input, so dst is grown once to hold
// the rest of b; then runs of plain bytes are copied eight at a time,
// stored whole and kept up to the first byte that is not plain: a batch's
// body is short runs between escaped quotes.
func unquote(dst, b []byte, i int) ([]byte, int, bool) {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	dst = slices.Grow(dst, len(b)-i)
	o := len(dst)
	out := dst[:cap(dst)]
	for {
		// out has room for eight bytes at o while b has eight at i: o
		// less len(dst) never exceeds i less its start.
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			binary.LittleEndian.PutUint64(out[o:], x)
			q := x ^ ('"' * ones)
			s := x ^ ('\\' * ones)
			t := ((x - 0x20*ones) | (q - ones) | (s - ones) | x) & highs
			if t == 0 {
				i += 8
				o += 8
				continue
			}
			k := bits.TrailingZeros64(t) / 8 // as in jsonscan.PlainRun
			i += k
			o += k
			break
		}
		if i+8 > len(b) {
			n := jsonscan.PlainRun(b[i:])
			o += copy(out[o:], b[i:i+n])
			i += n
		}
		if i >= len(b) {
			return out[:o], i, false
		}
		switch c := b[i]; {
		case c == '"':
			return out[:o], i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return out[:o], i, false
			}
			e := b[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				out[o] = e
			case 'b':
				out[o] = '\b'
			case 'f':
				out[o] = '\f'
			case 'n':
				out[o] = '\n'
			case 'r':
				out[o] = '\r'
			case 't':
				out[o] = '\t'
			case 'u':
				rn, ok := jsonstr.Hex4(b[i:])
				if !ok {
					return out[:o], i, false
				}
				i += 4
				if utf16.IsSurrogate(rn) {
					var lo rune = -1
					if i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' {
						lo, _ = jsonstr.Hex4(b[i+2:])
					}
					if rn = utf16.DecodeRune(rn, lo); rn == utf8.RuneError {
						return out[:o], i, false
					}
					i += 6
				}
				// At most four bytes for the six or twelve read.
				o += len(utf8.AppendRune(out[o:o], rn))
				continue
			default:
				return out[:o], i, false
			}
			o++
		case c < 0x20:
			return out[:o], i, false
		default: // c >= utf8.RuneSelf
			rn, size := utf8.DecodeRune(b[i:])
			if rn == utf8.RuneError && size == 1 {
				return out[:o], i, false
			}
			o += copy(out[o:], b[i:i+size])
			i += size
		}
	}
}

// str reads a string into the arena. A null is the empty string: the reader
// fills a zero event, and refuses a key given twice.
func (r *eventReader) str(dst *string) bool {
	if r.literal("null") {
		*dst = ""
		return true
	}
	start, end, plain, ok := r.rawString()
	if !ok {
		return false
	}
	raw := r.b[start:end]
	if plain {
		*dst = r.keep(raw)
		return true
	}
	if r.arena.Cap()-r.arena.Len() < len(raw) {
		r.arena.Grow(max(len(raw), 1024))
	}
	at := r.arena.Len()
	var buf [256]byte
	dec, _, ok := unquote(buf[:0], r.b[:end+1], start) // the string alone: unquote sizes its output by what follows
	if !ok {
		return false
	}
	r.arena.Write(dec)
	*dst = r.arena.String()[at:]
	return true
}

// canonicalName copies a header name into the arena in the form
// textproto.CanonicalMIMEHeaderKey gives it: a name of token bytes has its
// first letter and every letter after a hyphen in upper case, the rest in
// lower case; any other name is kept as it is.
func (r *eventReader) canonicalName(s []byte) string {
	for _, c := range s {
		if !tokenBytes[c] {
			return r.keep(s)
		}
	}
	var buf [64]byte
	b := buf[:0]
	upper := true
	for _, c := range s {
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
		upper = c == '-'
	}
	return r.keep(b)
}

// tokenBytes are the bytes a header name may hold (RFC 7230 tchar), as
// textproto's validHeaderFieldByte has them.
var tokenBytes = func() (t [256]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()

// keep copies s into the arena and returns it as a string. A strings.Builder
// never rewrites bytes it has handed out, so the strings stay valid when it
// grows.
func (r *eventReader) keep(s []byte) string {
	if len(s) == 0 {
		return ""
	}
	if r.arena.Cap()-r.arena.Len() < len(s) {
		r.arena.Grow(max(len(s), 1024))
	}
	at := r.arena.Len()
	r.arena.Write(s)
	return r.arena.String()[at:]
}

// rawString reads a string and returns the bounds of its contents; plain
// reports that they need no unescaping (no escape, printable ASCII or valid
// UTF-8). Invalid UTF-8, which encoding/json would replace with U+FFFD, fails.
func (r *eventReader) rawString() (start, end int, plain, ok bool) {
	if !r.next('"') {
		return 0, 0, false, false
	}
	start = r.i
	plain = true
	b := r.b
	for {
		r.i += jsonscan.PlainRun(b[r.i:])
		if r.i >= len(b) {
			return 0, 0, false, false
		}
		switch c := b[r.i]; {
		case c == '"':
			end = r.i
			r.i++
			return start, end, plain, true
		case c == '\\':
			plain = false
			if r.i+1 >= len(b) {
				return 0, 0, false, false
			}
			switch b[r.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.i += 2
			case 'u':
				if _, ok := jsonstr.Hex4(b[r.i+2:]); !ok {
					return 0, 0, false, false
				}
				r.i += 6
			default:
				return 0, 0, false, false
			}
		case c < 0x20:
			return 0, 0, false, false
		default: // c >= utf8.RuneSelf
			rn, size := utf8.DecodeRune(b[r.i:])
			if rn == utf8.RuneError && size == 1 {
				return 0, 0, false, false
			}
			r.i += size
		}
	}
}

// skipString checks a string the adapter does not use (null is a zero string).
func (r *eventReader) skipString() bool {
	if r.literal("null") {
		return true
	}
	_, _, _, ok := r.rawString()
	return ok
}

// int64 checks a number as encoding/json decodes it into an int64 (null is
// zero): an integer literal in range.
func (r *eventReader) int64() bool {
	if r.literal("null") {
		return true
	}
	start := r.i
	if start >= len(r.b) || r.b[start] != '-' && (r.b[start] < '0' || r.b[start] > '9') || !r.skip() {
		return false
	}
	return fitsInt64(r.b[start:r.i])
}

// fitsInt64 reports whether strconv.ParseInt(s, 10, 64) succeeds for a
// JSON number s.
func fitsInt64(s []byte) bool {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' || v > (math.MaxUint64-9)/10 {
			return false // a fraction or exponent, or far out of range
		}
		v = v*10 + uint64(c-'0')
	}
	if neg {
		return v <= -math.MinInt64
	}
	return v <= math.MaxInt64
}

// skip checks any JSON value, as encoding/json.Valid would.
func (r *eventReader) skip() bool {
	var ok bool
	r.i, ok = jsonscan.Skip(r.b, r.i)
	return ok
}

func (r *eventReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *eventReader) next(c byte) bool {
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *eventReader) literal(lit string) bool {
	if len(r.b)-r.i >= len(lit) && string(r.b[r.i:r.i+len(lit)]) == lit {
		r.i += len(lit)
		return true
	}
	return false
}
