package localhub

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/devicehub/devicehub/internal/certgen"
	"github.com/devicehub/devicehub/internal/mtls"
)

// tlsCAFileName is the CA certificate's file, next to the state file.
const tlsCAFileName = "local-ca.pem"

// serveTLS prepares srv to serve HTTPS: a throwaway CA issues a server
// certificate for host, localhost and 127.0.0.1; the CA's certificate (never
// its key, which lives only in memory) goes to caFile for clients to trust.
// Clients are asked for a certificate, and the handshake's chain goes to the
// hub's own verification (mtls.FromTLS), as behind the mTLS load balancer.
func serveTLS(srv *http.Server, host, caFile string) (string, error) {
	ca, server, err := ServerCertificates(host)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(caFile), 0o700); err != nil {
		return "", fmt.Errorf("localhub: %w", err)
	}
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o644); err != nil {
		return "", fmt.Errorf("localhub: %w", err)
	}
	srv.TLSConfig = mtls.ServerConfig(server.TLS(ca))
	srv.Handler = mtls.FromTLS(srv.Handler)
	return caFile, nil
}

// ServerCertificates issues a CA and, under it, a server certificate for
// host, localhost and 127.0.0.1, valid for a week: the local hub's TLS
// identity (tests serve the hub over TLS with it too).
func ServerCertificates(host string) (ca, server *certgen.Issued, err error) {
	now := time.Now()
	ca, err = certgen.New(certgen.Spec{CommonName: "devicehub local CA", IsCA: true, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 0, 7)}, nil)
	if err != nil {
		return nil, nil, err
	}
	names, ips := []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if ip := net.ParseIP(host); ip != nil {
		ips = append(ips, ip)
	} else if host != "" && host != "localhost" {
		names = append(names, host)
	}
	server, err = certgen.New(certgen.Spec{CommonName: host, DNSNames: names, IPs: ips,
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 0, 7)}, ca)
	if err != nil {
		return nil, nil, err
	}
	return ca, server, nil
}
