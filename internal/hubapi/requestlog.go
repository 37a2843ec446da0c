package hubapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// Every request has an id: API Gateway's request id when the Lambda adapter
// put the event in the request's context, otherwise one generated here (the
// local server has no gateway). An id sent by the client (X-Request-Id and
// the like) is never taken: a client could then forge or collide the ids
// that join its errors to the logs. The id is the trackingId of the error a
// request answers, and every log line written with the request's context
// carries it, with the device id once routing knows it, so a device's
// error report finds its logs.

// requestInfo is what the request's log lines carry.
type requestInfo struct {
	once     sync.Once
	id       string
	gateway  string // API Gateway's id of the request, if any
	deviceID string // set by the route wrappers before the handler runs
	// offered marks the record a Lambda adapter made for the request
	// (WithGatewayRequestID), which ServeHTTP takes as its own.
	offered atomic.Bool
}

type requestKey struct{}

// requestContext carries a requestInfo: one allocation for the context and
// the record, where context.WithValue would take two.
type requestContext struct {
	context.Context
	info requestInfo
}

func (c *requestContext) Value(key any) any {
	if key == (requestKey{}) {
		return &c.info
	}
	return c.Context.Value(key)
}

// withRequest returns ctx carrying a new requestInfo.
func withRequest(ctx context.Context) context.Context {
	id := gatewayRequestID(ctx)
	return &requestContext{Context: ctx, info: requestInfo{id: id, gateway: id}}
}

// WithGatewayRequestID returns ctx carrying the record of a request API
// Gateway gave the id, for a Lambda adapter that does not put httpadapter's
// request context on it (internal/app's payload 2.0 adapter). ServeHTTP
// takes that record for the request rather than making one.
func WithGatewayRequestID(ctx context.Context, id string) context.Context {
	c := &requestContext{Context: ctx, info: requestInfo{id: id, gateway: id}}
	c.info.offered.Store(true)
	return c
}

// takeRequest reports whether ctx carries a record offered for the request
// (WithGatewayRequestID), and takes it: only once.
func takeRequest(ctx context.Context) bool {
	rq := requestFrom(ctx)
	return rq != nil && rq.offered.CompareAndSwap(true, false)
}

func requestFrom(ctx context.Context) *requestInfo {
	rq, _ := ctx.Value(requestKey{}).(*requestInfo)
	return rq
}

// ID returns the request id, generating it on first use: most requests
// succeed and log nothing, so most never need one.
func (rq *requestInfo) ID() string {
	rq.once.Do(func() {
		if rq.id == "" {
			rq.id = newRequestID()
		}
	})
	return rq.id
}

// gatewayRequestID returns the id API Gateway gave the request: HTTP API
// (payload 2.0) and REST API (payload 1.0) events both carry it in
// requestContext.requestId, which the Lambda adapters put on the context.
func gatewayRequestID(ctx context.Context) string {
	if rq := requestFrom(ctx); rq != nil && rq.gateway != "" {
		return rq.gateway
	}
	if rc, ok := core.GetAPIGatewayV2ContextFromContext(ctx); ok {
		return rc.RequestID
	}
	if rc, ok := core.GetAPIGatewayContextFromContext(ctx); ok {
		return rc.RequestID
	}
	return ""
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// trackingID is the id an error body carries: the request's.
func trackingID(ctx context.Context) string {
	if rq := requestFrom(ctx); rq != nil {
		return rq.ID()
	}
	return newRequestID()
}

// LogHandler returns h adding to every record logged with a request's
// context the request id ("requestId") and, once known, the device id the
// path names ("deviceId"); never a key or a token. New wraps the API's
// logger with it; a process should wrap the logger it gives the packages
// the API calls (internal/app does), so their lines carry the ids too.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestLogHandler); ok {
		return h
	}
	return requestLogHandler{h}
}

type requestLogHandler struct{ slog.Handler }

func (h requestLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if rq := requestFrom(ctx); rq != nil {
		r.AddAttrs(slog.String("requestId", rq.ID()))
		if rq.deviceID != "" {
			r.AddAttrs(slog.String("deviceId", rq.deviceID))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestLogHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestLogHandler) WithGroup(name string) slog.Handler {
	return requestLogHandler{h.Handler.WithGroup(name)}
}
