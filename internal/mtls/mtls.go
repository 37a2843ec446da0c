// Package mtls carries a client's TLS certificate chain from the transport
// that authenticated the TLS handshake to the hub's own verification
// (internal/registry): the local server's handshake (FromTLS, ServerConfig)
// and the Application Load Balancer's mutual-TLS passthrough header
// (ParseALBHeader). Nothing else may put a chain on a request: a
// certificate is public, and only the handshake proved the client holds its
// key, so a header a client could set itself is never read on any other path.
package mtls

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/devicehub/devicehub/internal/registry"
)

// ALBHeader is the header in which an Application Load Balancer in mutual
// TLS passthrough mode sends the client's chain: URL-encoded PEM, leaf
// first. A listener attribute can rename it.
const ALBHeader = "X-Amzn-Mtls-Clientcert"

// MaxChain bounds the certificates taken from a client: the ALB's own
// limit on a chain's depth is 4.
const MaxChain = 8

// ServerConfig is the local hub's TLS configuration: it serves cert and asks
// clients for a certificate without verifying it (tls.RequestClientCert),
// because the registry, not a fixed pool, decides which certificates are
// good: a selfSigned device's certificate chains to nothing. The handshake
// still proves the client holds the key of the certificate it sent.
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
	}
}

// FromTLS puts the chain a client presented in the TLS handshake of the
// connection on each request's context, for the authenticator.
func FromTLS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			chain := r.TLS.PeerCertificates
			if len(chain) > MaxChain {
				chain = chain[:MaxChain]
			}
			r = r.WithContext(registry.WithClientChain(r.Context(), chain))
		}
		next.ServeHTTP(w, r)
	})
}

// ParseALBHeader decodes the ALB passthrough header's value: URL-encoded
// PEM certificates, leaf first ('+', '=' and '/' are left unencoded, so
// '+' is a character, not a space).
func ParseALBHeader(v string) ([]*x509.Certificate, error) {
	raw, err := url.PathUnescape(strings.TrimSpace(v))
	if err != nil {
		return nil, fmt.Errorf("mtls: client certificate header is not URL-encoded: %w", err)
	}
	rest := []byte(raw)
	var chain []*x509.Certificate
	for len(bytes.TrimSpace(rest)) != 0 {
		b, next := pem.Decode(rest)
		// pem.Decode skips a block it cannot decode and returns the next
		// one; a chain with a mangled block is refused, not shortened.
		if b == nil || bytes.Count(rest[:len(rest)-len(next)], []byte("-----END ")) != 1 {
			return nil, errors.New("mtls: client certificate header holds something other than PEM certificates")
		}
		rest = next
		if b.Type != "CERTIFICATE" {
			continue
		}
		if len(chain) == MaxChain {
			return nil, fmt.Errorf("mtls: client chain longer than %d certificates", MaxChain)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("mtls: client certificate %d: %w", len(chain), err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("mtls: client certificate header holds no certificate")
	}
	return chain, nil
}

// EncodeALBHeader encodes a chain as the ALB does (for tests and tools).
func EncodeALBHeader(chain ...*x509.Certificate) string {
	var b strings.Builder
	for _, c := range chain {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	// url.PathEscape leaves '+', '=' and '/'... except '/', which it escapes
	// in a segment; the ALB leaves all three.
	return strings.ReplaceAll(url.PathEscape(b.String()), "%2F", "/")
}
