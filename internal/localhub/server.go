package localhub

import (
	"net/http"
	"time"
)

// Limits bound what one client connection may hold of the local server, so
// slow-body (slowloris) and idle connections cannot pile up. API Gateway
// applies its own limits in front of Lambda; these are the local server's.
type Limits struct {
	ReadHeader time.Duration // request line and headers
	Read       time.Duration // the whole request, body included
	Write      time.Duration // from the end of the headers to the end of the answer
	Idle       time.Duration // a kept-alive connection between requests
	HeaderSize int           // request line and headers, bytes
}

// DefaultLimits: a 256 KB batch has 30 s to arrive even on a slow link; the
// answer has that plus the handler's own deadline (request, the configured
// DEVICEHUB_REQUEST_TIMEOUT) and a margin, since net/http's write timeout
// runs from the end of the headers; idle keep-alive connections last a
// minute (the Azure SDKs poll C2D every few seconds on one connection);
// headers are capped well above what IoT Hub's protocol needs.
func DefaultLimits(request time.Duration) Limits {
	const read = 30 * time.Second
	return Limits{ReadHeader: 10 * time.Second, Read: read, Write: read + request + 5*time.Second, Idle: time.Minute, HeaderSize: 64 << 10}
}

// newServer returns the HTTP server for h with limits l.
func newServer(h http.Handler, l Limits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeader,
		ReadTimeout:       l.Read,
		WriteTimeout:      l.Write,
		IdleTimeout:       l.Idle,
		MaxHeaderBytes:    l.HeaderSize,
	}
}
