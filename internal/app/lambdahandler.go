package app

// The Lambda side of the one handler: API Gateway events in, http.Handler out.
// The stack knows at synth time which payload its front door sends (HTTP API
// and function URLs: 2.0, REST API: 1.0) and says so in
// DEVICEHUB_EVENT_FORMAT, so the runtime decodes each event once, straight
// into its type. Without it (an unknown front door) the event is probed.
//
// Payload 2.0, the HTTP API the stack deploys by default, has an adapter of
// its own (v2Handler): the event is read by a purpose-built reader
// (eventv2.go) straight into an http.Request, and the response is written as
// the response event's JSON, with what httpadapter and aws-lambda-go would
// produce, byte for byte (lambdahandler_test.go checks both against them).
// An event outside the reader's subset, or an invocation traced through
// handlertrace, takes httpadapter's path unchanged.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/handlertrace"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/devicehub/devicehub/internal/config"
	"github.com/devicehub/devicehub/internal/hubapi"
)

// LambdaHandler returns a Lambda handler for h, for lambda.Start: typed for
// format (config.EventFormatV1 or V2), or probing each event when format is
// empty.
func LambdaHandler(h http.Handler, format string) any {
	switch format {
	case config.EventFormatV2:
		return newV2Handler(h)
	case config.EventFormatV1:
		return httpadapter.New(h).ProxyWithContext
	}
	return probingHandler(h)
}

// probingHandler reads the event's version first, then decodes it as that.
func probingHandler(h http.Handler) func(context.Context, json.RawMessage) (any, error) {
	v1, v2 := httpadapter.New(h), httpadapter.NewV2(h)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var probe struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("app: event is not JSON: %w", err)
		}
		if probe.Version == "2.0" {
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("app: http api event: %w", err)
			}
			return v2.ProxyWithContext(ctx, ev)
		}
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("app: rest api event: %w", err)
		}
		return v1.ProxyWithContext(ctx, ev)
	}
}

// v2Handler is the payload 2.0 adapter, a lambda.Handler: event bytes in,
// response bytes out.
type v2Handler struct {
	h http.Handler
	// std is httpadapter behind aws-lambda-go's reflective decoding, as
	// LambdaHandler served 2.0 before: the path for what the reader leaves.
	std lambda.Handler
}

func newV2Handler(h http.Handler) *v2Handler {
	return &v2Handler{h: h, std: lambda.NewHandler(httpadapter.NewV2(h).ProxyWithContext)}
}

// v2Scratch is an invocation's working space, pooled: the event reader, the
// request body's reader and the response writer. Nothing in it outlives the
// invocation except the arena's strings and the body's bytes, which are
// allocated afresh for each event.
type v2Scratch struct {
	r      eventReader
	reader requestBody
	w      v2ResponseWriter
	out    []byte
}

var v2Pool = sync.Pool{New: func() any { return new(v2Scratch) }}

// maxPooledBody bounds the buffers kept between invocations.
const maxPooledBody = 1 << 20

// Invoke implements lambda.Handler.
func (a *v2Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if t := handlertrace.FromContext(ctx); t.RequestEvent != nil || t.ResponseEvent != nil {
		return a.std.Invoke(ctx, payload) // the hooks take the typed event and response
	}
	sc := v2Pool.Get().(*v2Scratch)
	defer sc.release()
	if !sc.r.read(payload) {
		return a.std.Invoke(ctx, payload)
	}
	req, ok := sc.request(ctx)
	if !ok {
		return a.std.Invoke(ctx, payload) // which words the error as httpadapter does
	}
	sc.w.reset()
	a.h.ServeHTTP(&sc.w, req)
	if sc.w.status == noStatus {
		// core.ProxyResponseWriterV2's refusal, as httpadapter words it.
		return nil, core.NewLoggedError("Error while generating proxy response: %v", "Status code not set on response")
	}
	sc.out = sc.w.appendEvent(sc.out[:0])
	return bytes.Clone(sc.out), nil
}

func (sc *v2Scratch) release() {
	sc.r.release()
	sc.reader.reset(nil)
	if cap(sc.out) > maxPooledBody {
		sc.out = nil
	}
	sc.w.release()
	v2Pool.Put(sc)
}

// requestBody is the request's body, decoded from the event into bytes of
// its own, which hubapi takes without a copy (hubapi.WholeBody).
type requestBody struct {
	bytes.Reader
	b []byte
}

func (*requestBody) Close() error { return nil }

func (r *requestBody) reset(b []byte) {
	r.b = b
	r.Reader.Reset(b)
}

// TakeRest implements hubapi.WholeBody.
func (r *requestBody) TakeRest() []byte {
	rest := r.b[len(r.b)-r.Len():]
	r.reset(nil)
	return rest
}

// request builds the http.Request as httpadapter's EventToRequestWithContext
// does (its URL, method, headers split at commas except for singleton
// headers, cookies, RemoteAddr and RequestURI), with API Gateway's request
// id on the context for hubapi. ok is false where httpadapter would fail
// (a body that is not base64, a URL or method net/http refuses) or where
// it would build the query from queryStringParameters.
func (sc *v2Scratch) request(ctx context.Context) (*http.Request, bool) {
	ev := &sc.r.ev
	body := ev.body
	switch {
	case ev.bodyBase64:
		src := ev.bodyString()
		body = make([]byte, base64.StdEncoding.DecodedLen(len(src)))
		n, err := base64.StdEncoding.Decode(body, src)
		if err != nil {
			return nil, false
		}
		body = body[:n:n]
	case ev.bodyRaw != nil:
		body = bytes.Clone(ev.bodyRaw) // the event's bytes are the runtime's
	}
	if ev.rawQuery == "" && ev.queryParams {
		return nil, false
	}
	path := ev.rawPath
	if path == "" {
		path = ev.path
	}
	server, custom := os.LookupEnv(core.CustomHostVariable)
	if !custom {
		server = "https://" + ev.domainName
	}
	var u strings.Builder
	u.Grow(len(server) + 1 + len(path) + 1 + len(ev.rawQuery))
	u.WriteString(server)
	if !strings.HasPrefix(path, "/") {
		u.WriteByte('/')
	}
	u.WriteString(path)
	if ev.rawQuery != "" {
		u.WriteByte('?')
		u.WriteString(ev.rawQuery)
	}
	req, err := http.NewRequestWithContext(hubapi.WithGatewayRequestID(ctx, ev.requestID), strings.ToUpper(ev.method), u.String(), nil)
	if err != nil {
		return nil, false
	}
	if len(body) > 0 {
		sc.reader.reset(body)
		req.Body = &sc.reader
		req.ContentLength = int64(len(body))
	} else {
		req.Body = http.NoBody
	}
	req.RemoteAddr = ev.sourceIP
	req.Header = sc.r.header()
	req.RequestURI = req.URL.RequestURI()
	return req, true
}

// header builds the request's header as httpadapter does: the cookies as
// Cookie values, then each header by its canonical name (the reader
// canonicalised them), split at commas
// (each piece trimmed of spaces) unless it is a singleton header. The value
// slices share one allocation. The reader took no two names that differ in
// ASCII case only, so no two share a canonical name; a Cookie header comes
// after the cookies.
func (r *eventReader) header() http.Header {
	ev := &r.ev
	n, keys := len(ev.cookies), 0
	if n > 0 {
		keys++
	}
	for i := range ev.headers {
		hd := &ev.headers[i]
		if singletonHeader(hd.name) {
			n++
		} else {
			n += strings.Count(hd.value, ",") + 1
		}
		keys++
	}
	h := make(http.Header, keys)
	vals := make([]string, 0, n)
	if len(ev.cookies) > 0 {
		vals = append(vals, ev.cookies...)
		h["Cookie"] = vals[:len(vals):len(vals)]
	}
	for _, hd := range ev.headers {
		start := len(vals)
		if singletonHeader(hd.name) {
			vals = append(vals, hd.value)
		} else {
			for v := range strings.SplitSeq(hd.value, ",") {
				vals = append(vals, strings.Trim(v, " "))
			}
		}
		if hd.name == "Cookie" && len(ev.cookies) > 0 {
			h[hd.name] = append(h[hd.name], vals[start:]...) // after the cookies, in a slice of its own
			continue
		}
		h[hd.name] = vals[start:len(vals):len(vals)]
	}
	return h
}

// singletonHeader reports whether httpadapter takes a header's value whole
// rather than splitting it at commas (core's singletonHeaders).
func singletonHeader(canonical string) bool {
	switch canonical {
	case "Content-Type", "Content-Disposition", "Content-Length", "User-Agent", "Referer", "Host",
		"Authorization", "Proxy-Authorization", "If-Modified-Since", "If-Unmodified-Since", "From",
		"Location", "Max-Forwards":
		return true
	}
	return false
}

// noStatus is the status of a response nothing was written to.
const noStatus = -1

// v2ResponseWriter collects the response as core.ProxyResponseWriterV2 does:
// WriteHeader sets the status (the last call wins), Write defaults it to 200
// and sets a sniffed Content-Type when none is set.
type v2ResponseWriter struct {
	header http.Header
	body   bytes.Buffer
	status int
}

func (w *v2ResponseWriter) reset() {
	w.status = noStatus
}

func (w *v2ResponseWriter) release() {
	clear(w.header)
	w.body.Reset()
	if w.body.Cap() > maxPooledBody {
		w.body = bytes.Buffer{}
	}
}

func (w *v2ResponseWriter) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

func (w *v2ResponseWriter) WriteHeader(status int) { w.status = status }

func (w *v2ResponseWriter) Write(b []byte) (int, error) {
	if w.status == noStatus {
		w.status = http.StatusOK
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Add("Content-Type", http.DetectContentType(b))
	}
	return w.body.Write(b)
}

// appendEvent appends the events.APIGatewayV2HTTPResponse that
// core.ProxyResponseWriterV2 makes of the response, as aws-lambda-go's
// json.Encoder (HTML not escaped) writes it: the headers joined with commas
// under their keys in sorted order, Set-Cookie values as cookies, the body as
// a string when it is valid UTF-8 and in base64 otherwise.
func (w *v2ResponseWriter) appendEvent(dst []byte) []byte {
	dst = append(dst, `{"statusCode":`...)
	dst = strconv.AppendInt(dst, int64(w.status), 10)
	dst = append(dst, `,"headers":{`...)
	var keys [16]string
	ks := keys[:0]
	for k := range w.header {
		if !strings.EqualFold(k, "set-cookie") {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	for i, k := range ks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':', '"')
		for j, v := range w.header[k] {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONStringBody(dst, v)
		}
		dst = append(dst, '"')
	}
	dst = append(dst, `},"multiValueHeaders":null,"body":`...)
	body := w.body.Bytes()
	base64Body := !utf8.Valid(body)
	if base64Body {
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, body)
		dst = append(dst, `","isBase64Encoded":true`...)
	} else {
		dst = append(dst, '"')
		dst = appendJSONStringBody(dst, body)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"cookies":[`...)
	first := true
	for k, vs := range w.header {
		if !strings.EqualFold(k, "set-cookie") {
			continue
		}
		for _, v := range vs {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendJSONString(dst, v)
		}
	}
	return append(dst, "]}"...)
}

// appendJSONString appends s as encoding/json writes a string with HTML
// escaping off.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONStringBody(dst, s)
	return append(dst, '"')
}

// appendJSONStringBody appends the contents of the JSON string of s, as
// encoding/json's appendString with HTML escaping off: \b \f \n \r \t and
// other control bytes as \u00XX, invalid UTF-8 as \ufffd, U+2028 and U+2029
// escaped.
func appendJSONStringBody[S []byte | string](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		n := min(len(s)-i, utf8.UTFMax)
		r, size := utf8.DecodeRuneInString(string(s[i : i+n]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
