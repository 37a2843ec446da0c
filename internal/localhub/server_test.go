package localhub

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve starts newServer with l on a loopback port and returns its address.
func serve(t *testing.T, l Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}), l)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// closedWithin reports whether the server closes conn within d.
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) bool {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	return err == nil // EOF: the server closed it; a timeout means it is still open
}

// A client that trickles a body, or holds a connection idle, or never
// finishes its headers, loses the connection when its limit runs out.
func TestServerLimitsCloseSlowAndIdleConnections(t *testing.T) {
	l := Limits{ReadHeader: 300 * time.Millisecond, Read: 500 * time.Millisecond, Write: time.Second, Idle: 300 * time.Millisecond, HeaderSize: 4 << 10}
	addr := serve(t, l)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	t.Run("slow body", func(t *testing.T) {
		c := dial()
		_, _ = io.WriteString(c, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n")
		stop := time.After(3 * time.Second)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				t.Fatal("a body trickled for 3 s was still being read; want the connection cut after the 500 ms read limit")
			case <-tick.C:
				if _, err := c.Write([]byte("x")); err != nil {
					return // the server closed the connection
				}
			}
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial()
		_, _ = io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("first request: %v %v", resp, err)
		}
		if !closedWithin(t, c, 2*time.Second) {
			t.Fatal("an idle keep-alive connection stayed open past the idle limit")
		}
	})
	t.Run("headers never finish", func(t *testing.T) {
		c := dial()
		_, _ = io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\n")
		if !closedWithin(t, c, 2*time.Second) {
			t.Fatal("a request whose headers never end stayed open past the header limit")
		}
	})
	t.Run("oversized headers", func(t *testing.T) {
		c := dial()
		_, _ = io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\nX-Big: "+strings.Repeat("a", 16<<10)+"\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("16 KB of headers over a 4 KB limit: %v %v", resp, err)
		}
	})
}

// The defaults set every limit, and leave the answer time to be written
// after the longest body read and the handler's whole deadline.
func TestDefaultLimits(t *testing.T) {
	for _, request := range []time.Duration{8 * time.Second, 5 * time.Minute} {
		l := DefaultLimits(request)
		if l.ReadHeader <= 0 || l.Read <= 0 || l.Idle <= 0 || l.HeaderSize <= 0 {
			t.Fatalf("every limit must be set: %+v", l)
		}
		if l.Write <= l.Read+request {
			t.Fatalf("request deadline %v: write limit %v would cut an answer off", request, l.Write)
		}
	}
	l := DefaultLimits(8 * time.Second)
	srv := newServer(nil, l)
	if srv.ReadTimeout != l.Read || srv.WriteTimeout != l.Write || srv.IdleTimeout != l.Idle || srv.ReadHeaderTimeout != l.ReadHeader || srv.MaxHeaderBytes != l.HeaderSize {
		t.Fatalf("server does not carry the limits: %+v", srv)
	}
}
