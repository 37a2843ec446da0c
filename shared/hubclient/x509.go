package hubclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"

	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
)

// SetTLS makes the client trust roots for the hub's server certificate (nil:
// the system's roots) and, when cert is given, present it in the TLS
// handshake: the credential of an X.509 device, which then sends no SAS
// token (an empty cert: no credential at all).
func (c *Client) SetTLS(roots *x509.CertPool, cert *tls.Certificate) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if t, ok := c.HTTP.Transport.(*http.Transport); ok {
		tr = t.Clone()
	}
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil && len(cert.Certificate) > 0 {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tr.TLSClientConfig = cfg
	c.HTTP.Transport = tr
	c.x509 = cert != nil
}

// NewX509 returns a client acting as device deviceID of hub hostName,
// authenticated by cert (its chain after the leaf, as the device presents
// it) instead of a SAS token; roots, when not nil, are trusted for the hub's
// server certificate.
func NewX509(baseURL, hostName, deviceID string, cert tls.Certificate, roots *x509.CertPool) *Client {
	c := New(baseURL, sas.ConnectionString{HostName: hostName, DeviceID: deviceID})
	c.SetTLS(roots, &cert)
	return c
}

// certificatePath is "/certificates[/<name>]".
func certificatePath(name string) string {
	if name == "" {
		return "/certificates"
	}
	return "/certificates/" + sas.EncodeURIComponentStrict(name)
}

func ifMatch(etag string) http.Header {
	if etag == "" {
		return nil
	}
	return http.Header{"If-Match": {quoteETag(etag)}}
}

// UploadCA registers a CA certificate (PEM) under name, unverified; etag
// (or "*") replaces an existing one, which must then be verified again.
func (c *Client) UploadCA(ctx context.Context, name, certPEM, etag string) (iothub.Certificate, error) {
	var out iothub.Certificate
	in := iothub.Certificate{Properties: iothub.CertificateProperties{Certificate: certPEM}}
	_, err := c.doJSON(ctx, http.MethodPut, certificatePath(name), ifMatch(etag), in, &out)
	return out, err
}

// GetCA reads one CA certificate.
func (c *Client) GetCA(ctx context.Context, name string) (iothub.Certificate, error) {
	var out iothub.Certificate
	_, err := c.doJSON(ctx, http.MethodGet, certificatePath(name), nil, nil, &out)
	return out, err
}

// ListCAs reads every CA certificate.
func (c *Client) ListCAs(ctx context.Context) ([]iothub.Certificate, error) {
	var out iothub.CertificateList
	_, err := c.doJSON(ctx, http.MethodGet, certificatePath(""), nil, nil, &out)
	return out.Value, err
}

// DeleteCA removes a CA certificate; etag "" deletes any version.
func (c *Client) DeleteCA(ctx context.Context, name, etag string) error {
	_, err := c.doJSON(ctx, http.MethodDelete, certificatePath(name), ifMatch(etag), nil, nil)
	return err
}

// GenerateVerificationCode asks for a proof-of-possession code: the
// answer's Properties.VerificationCode.
func (c *Client) GenerateVerificationCode(ctx context.Context, name, etag string) (iothub.Certificate, error) {
	var out iothub.Certificate
	_, err := c.doJSON(ctx, http.MethodPost, certificatePath(name)+"/generateVerificationCode", ifMatch(etag), nil, &out)
	return out, err
}

// VerifyCA sends the proof of possession: a certificate (PEM) the CA signed
// whose subject CN is the verification code.
func (c *Client) VerifyCA(ctx context.Context, name, etag, proofPEM string) (iothub.Certificate, error) {
	var out iothub.Certificate
	_, err := c.doJSON(ctx, http.MethodPost, certificatePath(name)+"/verify", ifMatch(etag),
		iothub.CertificateVerification{Certificate: proofPEM}, &out)
	return out, err
}
