package registry

import (
	"context"
	"crypto/sha1" // IoT Hub's thumbprints are SHA-1 or SHA-256 of the DER: a name for a certificate, not a signature
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// The iothub-connection-auth-method values of X.509 devices. IoT Hub stamps
// a selfSigned device's messages with the first (seen on the wire); it
// documents no value for CA-signed devices, so devicehub names their kind
// x509CA, with the same scope and issuer.
const (
	AuthMethodX509Certificate = telemetry.AuthMethodX509Certificate
	AuthMethodX509CA          = telemetry.AuthMethodX509CA
)

// clientChainKey is the context key of the client's certificate chain.
type clientChainKey struct{}

// WithClientChain returns ctx carrying the certificate chain (leaf first) a
// client presented in a TLS handshake that proved it holds the leaf's key:
// the local TLS server's own handshake, or the ALB's in the mTLS front door.
// Only those transports call it; nothing a client sends in a request (a
// header) may reach it, because a certificate is public and only the
// handshake proves possession of its key.
func WithClientChain(ctx context.Context, chain []*x509.Certificate) context.Context {
	if len(chain) == 0 {
		return ctx
	}
	return context.WithValue(ctx, clientChainKey{}, chain)
}

// ClientChain is the chain WithClientChain put in ctx, or nil.
func ClientChain(ctx context.Context) []*x509.Certificate {
	c, _ := ctx.Value(clientChainKey{}).([]*x509.Certificate)
	return c
}

// NormalizeThumbprint returns t as IoT Hub stores a thumbprint: upper-case
// hex of a SHA-1 (40 digits) or SHA-256 (64 digits), with the ':' or space
// separators openssl prints removed. Anything else is ArgumentInvalid.
func NormalizeThumbprint(t string) (string, error) {
	t = strings.ToUpper(strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(t)))
	if _, err := hex.DecodeString(t); err != nil || (len(t) != 2*sha1.Size && len(t) != 2*sha256.Size) {
		return "", apierr.ArgumentInvalid.New("a thumbprint is the hex SHA-1 (40 digits) or SHA-256 (64 digits) of the certificate")
	}
	return t, nil
}

// Thumbprints returns a certificate's SHA-1 and SHA-256 thumbprints, as
// NormalizeThumbprint writes them.
func Thumbprints(c *x509.Certificate) (sha1Hex, sha256Hex string) {
	s1 := sha1.Sum(c.Raw)
	s256 := sha256.Sum256(c.Raw)
	return strings.ToUpper(hex.EncodeToString(s1[:])), strings.ToUpper(hex.EncodeToString(s256[:]))
}

// applyAuth sets d's authentication from spec. The type stays as it is
// unless spec names one (a new device is SAS). Each kind holds only its own
// credentials:
//   - sas: keys; one not given keeps its value, or is generated if the
//     device has none (new, or switching from X.509);
//   - selfSigned: thumbprints; one not given keeps its value; a primary
//     thumbprint is required;
//   - certificateAuthority: nothing: the certificate's chain and subject
//     prove the identity.
//
// Credentials of another kind than the device's are ArgumentInvalid rather
// than silently dropped.
func applyAuth(d *Device, spec Spec) error {
	t := spec.AuthType
	if t == "" {
		t = d.Auth()
	}
	keys := spec.PrimaryKey != "" || spec.SecondaryKey != ""
	thumbs := spec.PrimaryThumbprint != "" || spec.SecondaryThumbprint != ""
	wasType := d.Auth()
	switch t {
	case iothub.AuthSAS:
		if thumbs {
			return apierr.ArgumentInvalid.New("thumbprints belong to selfSigned devices; this device authenticates with sas")
		}
		for _, k := range []struct {
			in  string
			out *string
		}{{spec.PrimaryKey, &d.PrimaryKey}, {spec.SecondaryKey, &d.SecondaryKey}} {
			switch {
			case k.in != "":
				if err := ValidateKey(k.in); err != nil {
					return err
				}
				*k.out = k.in
			case *k.out == "" || wasType != iothub.AuthSAS:
				*k.out = NewKey()
			}
		}
		d.PrimaryThumbprint, d.SecondaryThumbprint = "", ""
	case iothub.AuthSelfSigned:
		if keys {
			return apierr.ArgumentInvalid.New("symmetric keys belong to sas devices; this device authenticates with selfSigned")
		}
		if wasType != iothub.AuthSelfSigned {
			d.PrimaryThumbprint, d.SecondaryThumbprint = "", ""
		}
		for _, tp := range []struct {
			in  string
			out *string
		}{{spec.PrimaryThumbprint, &d.PrimaryThumbprint}, {spec.SecondaryThumbprint, &d.SecondaryThumbprint}} {
			if tp.in == "" {
				continue
			}
			n, err := NormalizeThumbprint(tp.in)
			if err != nil {
				return err
			}
			*tp.out = n
		}
		if d.PrimaryThumbprint == "" {
			return apierr.ArgumentInvalid.New("a selfSigned device needs x509Thumbprint.primaryThumbprint")
		}
		d.PrimaryKey, d.SecondaryKey = "", ""
	case iothub.AuthCertificateAuthority:
		if keys || thumbs {
			return apierr.ArgumentInvalid.New("a certificateAuthority device has no keys or thumbprints: its certificate chains to a verified CA and its subject CN is the device id")
		}
		d.PrimaryKey, d.SecondaryKey, d.PrimaryThumbprint, d.SecondaryThumbprint = "", "", "", ""
	default:
		return apierr.ArgumentInvalid.New("authentication type must be sas, selfSigned or certificateAuthority")
	}
	d.AuthType = t
	return nil
}

// x509Device is what authentication keeps of an X.509 device.
type x509Device struct {
	kind        string   // iothub.AuthSelfSigned or iothub.AuthCertificateAuthority
	thumbprints []string // selfSigned: primary, then secondary when set
}

// verifyChain checks a client's chain (leaf first) against device id as
// registered (x) and the verified CAs (roots, for certificateAuthority
// devices) at now. Every failure is the same 401; the reason goes to the log.
func verifyChain(chain []*x509.Certificate, id string, x x509Device, roots *x509.CertPool, now time.Time) error {
	leaf := chain[0]
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return unauthorized("client certificate is expired or not yet valid")
	}
	switch x.kind {
	case iothub.AuthSelfSigned:
		s1, s256 := Thumbprints(leaf)
		for _, t := range x.thumbprints {
			if t == s1 || t == s256 {
				return nil
			}
		}
		return unauthorized("client certificate thumbprint matches neither registered thumbprint")
	case iothub.AuthCertificateAuthority:
		if leaf.Subject.CommonName != id {
			return unauthorized("client certificate subject CN " + leaf.Subject.CommonName + " is not the device id")
		}
		if roots == nil {
			return unauthorized("no verified CA certificate is registered")
		}
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		// IoT Hub sets no extended key usage on device certificates; any is accepted.
		opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		if _, err := leaf.Verify(opts); err != nil {
			return unauthorized("client certificate does not chain to a verified CA: " + err.Error())
		}
		return nil
	}
	return unauthorized("device does not authenticate with X.509")
}
