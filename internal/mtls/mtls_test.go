package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/devicehub/devicehub/internal/certgen"
	"github.com/devicehub/devicehub/internal/registry"
)

func issue(t *testing.T, s certgen.Spec, parent *certgen.Issued) *certgen.Issued {
	t.Helper()
	c, err := certgen.New(s, parent)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The chain a client presents in the handshake reaches the request's
// context; a client without a certificate still connects, with none.
func TestFromTLS(t *testing.T) {
	server := issue(t, certgen.Spec{CommonName: "hub", DNSNames: []string{"hub.test"}}, nil)
	ca := issue(t, certgen.Spec{CommonName: "ca", IsCA: true}, nil)
	dev := issue(t, certgen.Spec{CommonName: "dev-1"}, ca)
	srv := httptest.NewUnstartedServer(FromTLS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := registry.ClientChain(r.Context())
		names := make([]string, len(c))
		for i, x := range c {
			names[i] = x.Subject.CommonName
		}
		fmt.Fprint(w, strings.Join(names, ","))
	})))
	srv.TLS = ServerConfig(server.TLS())
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(server.Cert)
	get := func(certs ...tls.Certificate) string {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "hub.test", Certificates: certs}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get(dev.TLS(ca)); got != "dev-1,ca" {
		t.Fatalf("chain %q, want dev-1,ca", got)
	}
	if got := get(); got != "" {
		t.Fatalf("no certificate: chain %q", got)
	}
}

func TestALBHeaderRoundTrip(t *testing.T) {
	ca := issue(t, certgen.Spec{CommonName: "ca", IsCA: true}, nil)
	dev := issue(t, certgen.Spec{CommonName: "dev+1"}, ca)
	enc := EncodeALBHeader(dev.Cert, ca.Cert)
	if strings.ContainsAny(enc, " \n") || !strings.HasPrefix(enc, "-----BEGIN%20CERTIFICATE-----%0A") {
		t.Fatalf("encoding %q", enc[:40])
	}
	chain, err := ParseALBHeader(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 || !chain[0].Equal(dev.Cert) || !chain[1].Equal(ca.Cert) {
		t.Fatalf("chain %v", chain)
	}
	bad := map[string]string{
		"empty":           "",
		"not PEM":         "hello",
		"bad escape":      "%zz",
		"bad DER":         "-----BEGIN%20CERTIFICATE-----%0AAAAA%0A-----END%20CERTIFICATE-----%0A",
		"too long":        strings.Repeat(EncodeALBHeader(ca.Cert), MaxChain+1),
		"only a key":      "-----BEGIN%20PRIVATE%20KEY-----%0AAAAA%0A-----END%20PRIVATE%20KEY-----%0A",
		"trailing bytes":  enc + "garbage",
		"truncated chain": enc[:len(enc)-40],
		// pem.Decode alone would skip the mangled leaf and return the CA.
		"mangled block before a good one": "-----BEGIN%20CERTIFICATE-----%0A!!!!%0A-----END%20CERTIFICATE-----%0A" + EncodeALBHeader(ca.Cert),
	}
	if strings.Contains(enc, "+") { // base64 of two certificates almost always holds one
		bad["'+' read as a space"] = strings.ReplaceAll(enc, "+", " ")
	}
	for name, bad := range bad {
		if c, err := ParseALBHeader(bad); err == nil {
			t.Errorf("%s: parsed %d certificates", name, len(c))
		}
	}
}

// BenchmarkParseALBHeader is the ALB front door's per-request decoding of a
// leaf and its intermediate.
func BenchmarkParseALBHeader(b *testing.B) {
	t := &testing.T{}
	ca := issue(t, certgen.Spec{CommonName: "ca", IsCA: true}, nil)
	enc := EncodeALBHeader(issue(t, certgen.Spec{CommonName: "dev"}, ca).Cert, ca.Cert)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseALBHeader(enc); err != nil {
			b.Fatal(err)
		}
	}
}
