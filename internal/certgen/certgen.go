// Package certgen issues X.509 certificates with ECDSA P-256 keys: the local
// hub's TLS server certificate, the proof-of-possession certificate the CLI
// signs to verify a CA, and the certificates tests use (no private key is
// ever committed: tests issue theirs at run time).
package certgen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Spec describes a certificate to issue. Zero times mean "an hour ago" and
// "a year from NotBefore".
type Spec struct {
	CommonName string
	IsCA       bool
	NotBefore  time.Time
	NotAfter   time.Time
	DNSNames   []string
	IPs        []net.IP
	// ExtKeyUsage defaults to client and server authentication for a leaf.
	ExtKeyUsage []x509.ExtKeyUsage
}

// Issued is a certificate with its private key.
type Issued struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// New issues a certificate for s signed by parent, or self-signed when
// parent is nil.
func New(s Spec, parent *Issued) (*Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certgen: key: %w", err)
	}
	return NewWithKey(s, key, parent)
}

// NewWithKey is New for a given key (a CA's own key, say).
func NewWithKey(s Spec, key crypto.Signer, parent *Issued) (*Issued, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, fmt.Errorf("certgen: serial: %w", err)
	}
	if s.NotBefore.IsZero() {
		s.NotBefore = time.Now().Add(-time.Hour)
	}
	if s.NotAfter.IsZero() {
		s.NotAfter = s.NotBefore.AddDate(1, 0, 0)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.CommonName},
		NotBefore:             s.NotBefore,
		NotAfter:              s.NotAfter,
		DNSNames:              s.DNSNames,
		IPAddresses:           s.IPs,
		BasicConstraintsValid: true,
		IsCA:                  s.IsCA,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           s.ExtKeyUsage,
	}
	if s.IsCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else if tmpl.ExtKeyUsage == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	}
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, fmt.Errorf("certgen: sign %q: %w", s.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certgen: %w", err)
	}
	return &Issued{Cert: cert, Key: key}, nil
}

// CertPEM is the certificate in PEM.
func (i *Issued) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.Cert.Raw})
}

// KeyPEM is the private key in PKCS #8 PEM.
func (i *Issued) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(i.Key)
	if err != nil {
		panic(fmt.Sprintf("certgen: an ECDSA key always marshals: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// TLS is the certificate, followed by chain (its issuers, leaf first), as a
// tls.Certificate.
func (i *Issued) TLS(chain ...*Issued) tls.Certificate {
	c := tls.Certificate{Certificate: [][]byte{i.Cert.Raw}, PrivateKey: i.Key, Leaf: i.Cert}
	for _, p := range chain {
		c.Certificate = append(c.Certificate, p.Cert.Raw)
	}
	return c
}

// Load reads a PEM certificate and its PEM private key (PKCS #8, PKCS #1 or
// SEC 1, as openssl writes them).
func Load(certPEM, keyPEM []byte) (*Issued, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certgen: %w", err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("certgen: the private key cannot sign")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("certgen: %w", err)
	}
	return &Issued{Cert: cert, Key: signer}, nil
}
