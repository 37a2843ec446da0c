package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/textproto"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/handlertrace"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// v2Events are payload 2.0 events the two adapters must treat alike; fast
// marks those the reader must take itself (the rest go to encoding/json).
var v2Events = []struct {
	name, event string
	fast        bool
}{
	{"minimal", `{"version":"2.0","rawPath":"/devices/d1/messages/events","requestContext":{"http":{"method":"POST"}},"body":"x"}`, true},
	{"typical", `{
		"version": "2.0", "routeKey": "POST /devices/{id}/messages/events", "rawPath": "/devices/d1/messages/events",
		"rawQueryString": "api-version=2020-03-13&x=a%20b",
		"cookies": ["a=1", "b=2"],
		"headers": {"accept": "*/*", "authorization": "SharedAccessSignature sr=h%2Fdevices%2Fd1&sig=abc%3D&se=1", "content-length": "12",
			"content-type": "application/json; charset=utf-8", "host": "hub.example.com", "user-agent": "azure-iot-device/1.0 (node, v20)",
			"x-amzn-trace-id": "Root=1-5e6a-abc", "x-forwarded-for": "203.0.113.7, 10.0.0.1", "x-forwarded-port": "443", "x-forwarded-proto": "https",
			"iothub-messageid": "m1", "iothub-app-k": "v1, v2,,v3 ", "cookie": "c=3", "iothub-app-tricky": "a\"b\\c\/d\u00e9\ud83d\ude00\n\t",
			"Iothub-App-Mixed": "X", "bad name": "kept", "": "empty name", "iothub-app-utf8": "é✓"},
		"queryStringParameters": {"api-version": "2020-03-13", "x": "a b"},
		"pathParameters": {"id": "d1"}, "stageVariables": {"s": "v"},
		"requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": "hub.example.com", "domainPrefix": "hub",
			"http": {"method": "post", "path": "/devices/d1/messages/events", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "ua"},
			"requestId": "JKJaXmPLvHcESHA=", "routeKey": "POST /devices/{id}/messages/events", "stage": "$default",
			"time": "12/Mar/2020:19:03:58 +0000", "timeEpoch": 1583348638390,
			"authentication": {"clientCert": {"clientCertPem": "-----BEGIN", "issuerDN": "CN=a", "serialNumber": "1", "subjectDN": "CN=b",
				"validity": {"notAfter": "x", "notBefore": "y"}}}},
		"body": "{\"temperature\":21.5,\"s\":\"\u2028\"}", "isBase64Encoded": false}`, true},
	{"base64 body", `{"rawPath":"/p","requestContext":{"http":{"method":"PUT"}},"body":"AAH+/w==","isBase64Encoded":true}`, true},
	{"base64 body with newline", `{"rawPath":"/p","requestContext":{"http":{"method":"PUT"}},"body":"AAH+\n/w==","isBase64Encoded":true}`, true},
	{"empty body", `{"rawPath":"/p","requestContext":{"http":{"method":"GET"}},"body":""}`, true},
	{"no raw path", `{"requestContext":{"http":{"method":"GET","path":"/devices/d%201"}}}`, true},
	{"path without slash", `{"rawPath":"devices","requestContext":{"http":{"method":"GET"}}}`, true},
	{"escaped path", `{"rawPath":"/devices/d%2F1/x","requestContext":{"domainName":"h.example.com:443","http":{"method":"GET"}}}`, true},
	{"nulls", `{"version":null,"rawPath":null,"cookies":null,"headers":null,"queryStringParameters":null,"requestContext":{"http":null,"authorizer":null,"authentication":null,"timeEpoch":null},"body":null,"isBase64Encoded":null}`, true},
	{"null values", `{"rawPath":"/p","cookies":[null,"a=1"],"headers":{"x-a":null,"authorization":null},"requestContext":{"requestId":null,"http":{"method":null}}}`, true},
	{"empty objects", `{"headers":{},"cookies":[],"requestContext":{},"pathParameters":{}}`, true},
	{"empty event", `{}`, true},
	{"null event", `null`, true},
	{"unknown keys", `{"rawPath":"/p","extra":{"a":[1,2.5e-3,true,false,null,"s",{"b":{}}]},"requestContext":{"http":{"method":"GET","x":1},"y":[]}}`, true},
	{"whitespace", " \n\t{ \"rawPath\" : \"/p\" , \"requestContext\" : { \"http\" : { \"method\" : \"GET\" } } } \r\n", true},
	{"jwt authorizer", `{"rawPath":"/p","requestContext":{"authorizer":{"jwt":{"claims":{"sub":"x"},"scopes":["a"]},"lambda":{"k":[1]}},"http":{"method":"GET"}}}`, true},
	{"deep ignored value", `{"extra":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, true},
	{"huge time epoch", `{"requestContext":{"timeEpoch":-9223372036854775808}}`, true},
	{"header with comma only", `{"rawPath":"/p","headers":{"x-list":",","user-agent":"a,b"},"requestContext":{"http":{"method":"GET"}}}`, true},

	// Left to encoding/json.
	{"query parameters only", `{"rawPath":"/p","queryStringParameters":{"b":"2","a":"1 2"},"requestContext":{"http":{"method":"GET"}}}`, false},
	{"key in another case", `{"rawPath":"/p","Body":"x","requestContext":{"http":{"method":"POST"}}}`, false},
	{"key in a Unicode fold", `{"rawPath":"/p","requestContext":{"http":{"method":"POST"}},"ſtage":"x"}`, false},
	{"escaped key", `{"raw\u0050ath":"/p"}`, false},
	{"duplicate key", `{"rawPath":"/p","rawPath":"/q"}`, false},
	{"duplicate header", `{"rawPath":"/p","headers":{"a":"1","a":"2"},"requestContext":{"http":{"method":"GET"}}}`, false},
	{"duplicate headers object", `{"rawPath":"/p","headers":{"a":"1"},"headers":{"b":"2"}}`, false},
	{"lone surrogate", `{"rawPath":"/p","headers":{"a":"\ud800x"},"requestContext":{"http":{"method":"GET"}}}`, false},
	{"invalid utf-8", "{\"rawPath\":\"/p\",\"headers\":{\"a\":\"\xff\"},\"requestContext\":{\"http\":{\"method\":\"GET\"}}}", false},
	{"invalid utf-8 in an ignored value", "{\"rawPath\":\"/p\",\"version\":\"\xff\",\"requestContext\":{\"http\":{\"method\":\"GET\"}}}", false},
	{"trailing data", `{"rawPath":"/p","requestContext":{"http":{"method":"GET"}}} x`, false},
	{"fractional epoch", `{"requestContext":{"timeEpoch":1.5}}`, false},
	{"epoch out of range", `{"requestContext":{"timeEpoch":9223372036854775808}}`, false},
	{"epoch as string", `{"requestContext":{"timeEpoch":"1"}}`, false},
	{"version as number", `{"version":2}`, false},
	{"base64 flag as string", `{"isBase64Encoded":"true"}`, false},
	{"header value as number", `{"headers":{"a":1}}`, false},
	{"authorizer of the wrong type", `{"requestContext":{"authorizer":{"jwt":{"claims":{"a":1}}}}}`, false},
	{"authentication of the wrong type", `{"requestContext":{"authentication":{"clientCert":5}}}`, false},
	{"bad base64", `{"rawPath":"/p","requestContext":{"http":{"method":"POST"}},"body":"!!","isBase64Encoded":true}`, false},
	{"bad method", `{"rawPath":"/p","requestContext":{"http":{"method":"PO ST"}}}`, false},
	{"percent host", `{"rawPath":"/p","requestContext":{"domainName":"h%zz","http":{"method":"GET"}}}`, false},
	{"bad url", `{"rawPath":"/p","requestContext":{"domainName":"[::1","http":{"method":"GET"}}}`, false},
	{"not json", `not json`, false},
	{"truncated", `{"rawPath":"/p"`, false},
	{"array", `[]`, false},
	{"control character", "{\"rawPath\":\"/p\x01\"}", false},
	{"bad escape", `{"rawPath":"/p\x"}`, false},
	{"too deep an ignored value", `{"extra":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, false},
}

// recorded is what a handler saw of a request.
type recorded struct {
	Method, URL, Path, RawPath, RawQuery, Host, RemoteAddr, RequestURI, Proto string
	Header                                                                    http.Header
	Body                                                                      []byte
	ContentLength                                                             int64
}

func record(r *http.Request) recorded {
	b, _ := io.ReadAll(r.Body)
	h := r.Header.Clone()
	for _, vs := range h {
		slices.Sort(vs) // two spellings of a name join in map order in httpadapter
	}
	return recorded{
		Method: r.Method, URL: r.URL.String(), Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery,
		Host: r.Host, RemoteAddr: r.RemoteAddr, RequestURI: r.RequestURI, Proto: r.Proto,
		Header: h, Body: b, ContentLength: r.ContentLength,
	}
}

// responders are the answers the adapters must encode alike.
var responders = map[string]http.HandlerFunc{
	"no content": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) },
	"json error": func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("iothub-errorcode", "IotHubUnauthorizedAccess")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"Message":"<a> & \"b\" \\ `+"\b\f\n\r\t\x01\x7f\u2028\u2029é✓😀"+`"}`+"\n")
	},
	"binary": func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["X-Multi"] = []string{"a", "b, c", ""}
		w.Header().Add("Set-Cookie", "s=1")
		w.Header().Add("Set-Cookie", "t=\"2\"")
		w.Header()["set-cookie"] = []string{"u=3"}
		w.Header()["x-odd"] = []string{"\xff\x00"}
		w.Header()["Empty"] = []string{}
		_, _ = w.Write([]byte{0, 1, 0xfe, 0xff})
	},
	"sniffed": func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<html>hi</html>")
		_, _ = io.WriteString(w, " more")
	},
	"status twice": func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.WriteHeader(http.StatusCreated)
	},
	"nothing written": func(http.ResponseWriter, *http.Request) {},
	"many headers": func(w http.ResponseWriter, _ *http.Request) {
		for i := range 40 {
			w.Header().Set(fmt.Sprintf("X-H%02d", 39-i), fmt.Sprint(i))
		}
		w.WriteHeader(http.StatusOK)
	},
}

// The payload 2.0 adapter must answer every event as httpadapter behind
// aws-lambda-go's reflective decoding did: the same request reaches the
// handler, and the same response bytes (or the same error) come back.
func TestV2AdapterMatchesHTTPAdapter(t *testing.T) {
	for _, tc := range v2Events {
		for rname, respond := range responders {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				compareAdapters(t, []byte(tc.event), respond, rname == "binary")
			})
		}
	}
}

// FuzzV2Adapter: for any event, the request the handler sees and the answer
// are httpadapter's.
func FuzzV2Adapter(f *testing.F) {
	for _, tc := range v2Events {
		f.Add([]byte(tc.event))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		compareAdapters(t, raw, responders["json error"], false)
	})
}

func compareAdapters(t *testing.T, event []byte, respond http.HandlerFunc, cookieOrder bool) {
	t.Helper()
	var got, want []recorded
	h := func(seen *[]recorded) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			*seen = append(*seen, record(r))
			respond(w, r)
		})
	}
	out, err := lambda.NewHandler(LambdaHandler(h(&got), "2.0")).Invoke(context.Background(), event)
	wantOut, wantErr := lambda.NewHandler(httpadapter.NewV2(h(&want)).ProxyWithContext).Invoke(context.Background(), event)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("error %v, want %v", err, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("request\n got %+v\nwant %+v", got, want)
	}
	if cookieOrder {
		// Two Set-Cookie spellings: the cookies' order is the header map's.
		out, wantOut = sortedCookies(t, out), sortedCookies(t, wantOut)
	}
	if !bytes.Equal(out, wantOut) {
		t.Fatalf("response\n got %q\nwant %q", out, wantOut)
	}
}

func sortedCookies(t *testing.T, out []byte) []byte {
	if out == nil {
		return nil
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	slices.Sort(resp.Cookies)
	b, _ := json.Marshal(resp)
	return b
}

// The adapter takes the events it should itself and leaves the others.
func TestEventV2Subset(t *testing.T) {
	for _, tc := range v2Events {
		var sc v2Scratch
		ok := sc.r.read([]byte(tc.event))
		if ok {
			ok = checkReader(t, &sc.r, []byte(tc.event))
		}
		if ok {
			_, ok = sc.request(context.Background())
		}
		if ok != tc.fast {
			t.Errorf("%s: read %v, want %v", tc.name, ok, tc.fast)
		}
	}
}

// checkReader compares what the reader read with encoding/json's event, as
// the adapter uses it; it reports false where the adapter would fall back.
func checkReader(t *testing.T, r *eventReader, raw []byte) bool {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&ev); err != nil {
		t.Fatalf("the reader took an event encoding/json refuses (%v): %q", err, raw)
	}
	got := r.ev
	if got.rawPath != ev.RawPath || got.rawQuery != ev.RawQueryString || got.method != ev.RequestContext.HTTP.Method ||
		got.path != ev.RequestContext.HTTP.Path || got.domainName != ev.RequestContext.DomainName ||
		got.sourceIP != ev.RequestContext.HTTP.SourceIP || got.requestID != ev.RequestContext.RequestID ||
		string(got.bodyString()) != ev.Body || got.bodyBase64 != ev.IsBase64Encoded || got.queryParams != (len(ev.QueryStringParameters) > 0) ||
		!slices.Equal(got.cookies, ev.Cookies) && len(got.cookies)+len(ev.Cookies) > 0 {
		t.Fatalf("read %+v\nfrom %q\nencoding/json: %+v", got, raw, ev)
	}
	// The reader gives the names canonical (and refuses two that would
	// share one).
	headers, want := map[string]string{}, map[string]string{}
	for _, h := range got.headers {
		headers[h.name] = h.value
	}
	for k, v := range ev.Headers {
		want[textproto.CanonicalMIMEHeaderKey(k)] = v
	}
	if len(headers) != len(ev.Headers) || !maps.Equal(headers, want) {
		t.Fatalf("headers %q, encoding/json %q", headers, ev.Headers)
	}
	return !(ev.RawQueryString == "" && len(ev.QueryStringParameters) > 0)
}

// FuzzEventV2: whatever the reader takes, encoding/json decodes to the same
// event.
func FuzzEventV2(f *testing.F) {
	for _, tc := range v2Events {
		f.Add([]byte(tc.event))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var r eventReader
		if r.read(raw) {
			checkReader(t, &r, raw)
		}
	})
}

func TestCanonicalHeaderKey(t *testing.T) {
	names := []string{"", "a", strings.Repeat("x-long-", 20), "content-type", "CONTENT-TYPE", "Content-Type", "x-amz-date", "iothub-app-Tricky", "-a-", "a--b",
		"bad name", "bad:name", "é", "x_y", "1a-2b", "iothub-app-k", "dt-subject", "a.b!c#d$e%f&g'h*i+j^k`l|m~n"}
	for _, n := range names {
		var r eventReader
		if got, want := r.canonicalName([]byte(n)), textproto.CanonicalMIMEHeaderKey(n); got != want {
			t.Errorf("%q: %q, want %q", n, got, want)
		}
	}
	for c := range 256 {
		n := "a" + string(rune(c)) + "b"
		if c >= 0x80 {
			n = "a" + string([]byte{byte(c)}) + "b"
		}
		var r eventReader
		if got, want := r.canonicalName([]byte(n)), textproto.CanonicalMIMEHeaderKey(n); got != want {
			t.Errorf("%q: %q, want %q", n, got, want)
		}
	}
}

// The typed handler is the lean adapter, and a traced invocation still
// hands its hooks the typed event and response.
func TestV2HandlerTraced(t *testing.T) {
	h, ok := LambdaHandler(echo, "2.0").(lambda.Handler)
	if !ok {
		t.Fatal("the 2.0 handler is not a lambda.Handler")
	}
	var req, resp any
	ctx := handlertrace.NewContext(context.Background(), handlertrace.HandlerTrace{
		RequestEvent:  func(_ context.Context, ev any) { req = ev },
		ResponseEvent: func(_ context.Context, ev any) { resp = ev },
	})
	if _, err := h.Invoke(ctx, []byte(v2Events[0].event)); err != nil {
		t.Fatal(err)
	}
	if _, ok := req.(events.APIGatewayV2HTTPRequest); !ok {
		t.Fatalf("request event %T", req)
	}
	if r, ok := resp.(events.APIGatewayV2HTTPResponse); !ok || r.StatusCode != http.StatusCreated {
		t.Fatalf("response event %#v", resp)
	}
}

// FuzzUnquote: unquote reads a JSON string as encoding/json does, and
// refuses only what encoding/json would repair.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`abc`, `a\"b\\c\/d\b\f\n\r\t`, `\u00e9\ud83d\ude00`, `\ud800`, "\xff", `\x`, `0123456789abcdef\"0123456789`, "é✓😀"} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, s []byte, pad uint8) {
		b := append(append([]byte(`"`), s...), '"')
		b = append(b, bytes.Repeat([]byte{'x'}, int(pad%16))...) // what follows the string
		got, end, ok := unquote([]byte("prefix"), b, 1)
		var want string
		err := json.Unmarshal(b[:max(end, 1)], &want)
		switch {
		case ok && (err != nil || string(got) != "prefix"+want || b[end-1] != '"'):
			t.Fatalf("%q: %q (end %d), encoding/json %q, %v", b, got, end, want, err)
		case !ok:
			if err := json.Unmarshal(b[:len(s)+2], &want); err == nil && utf8.Valid(s) && !bytes.Contains(bytes.ToLower(s), []byte(`\ud`)) {
				t.Fatalf("%q refused, encoding/json reads %q", b, want)
			}
		}
	})
}
