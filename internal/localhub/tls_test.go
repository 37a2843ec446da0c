package localhub

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/certgen"
	"github.com/devicehub/devicehub/internal/registry"
)

// serveTLS: the CA file is what a client trusts for the hub's host name and
// for 127.0.0.1, and the client's certificate reaches the handler's context.
func TestServeTLS(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "state", tlsCAFileName)
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := registry.ClientChain(r.Context()); len(c) > 0 {
			_, _ = io.WriteString(w, c[0].Subject.CommonName)
		}
	}), DefaultLimits(8*time.Second))
	if _, err := serveTLS(srv, "hub.test", caFile); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })

	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(caFile); fi.Mode().Perm() != 0o644 {
		t.Errorf("CA file mode %v: it is public, for clients to read", fi.Mode())
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("the CA file holds no certificate")
	}
	dev, err := certgen.New(certgen.Spec{CommonName: "dev-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hub.test", "localhost", "127.0.0.1"} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name, Certificates: []tls.Certificate{dev.TLS()}}}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + ln.Addr().String())
		if err != nil {
			t.Fatalf("server name %s: %v", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if string(b) != "dev-1" {
			t.Errorf("server name %s: handler saw %q, want the client's certificate", name, b)
		}
	}
}
