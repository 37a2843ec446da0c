package registry

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
)

// CA certificates, IoT Hub's way: a CA certificate is uploaded, the hub
// issues a verification code, and the uploader proves it holds the CA's key
// by uploading a certificate the CA signed whose subject CN is that code.
// Only then does the CA vouch for certificateAuthority devices.

// MaxCAs bounds the CA certificates a hub holds: all of them live in one
// registry item (DynamoCAStore) and in every function's memory.
const MaxCAs = 25

// CA is one registered CA certificate. The dynamodbav tags are its layout
// inside the CA item (DynamoCAStore).
type CA struct {
	Name             string    `dynamodbav:"-"` // the key of the item's map
	PEM              string    `dynamodbav:"certificate"`
	Verified         bool      `dynamodbav:"verified"`
	VerificationCode string    `dynamodbav:"verificationCode,omitempty"` // pending proof of possession
	Created          time.Time `dynamodbav:"created"`
	Updated          time.Time `dynamodbav:"updated"`
	Version          int64     `dynamodbav:"version"` // the CA's etag

	Cert *x509.Certificate `dynamodbav:"-"` // parsed PEM
}

// ETag is the CA's entity tag (unquoted), in the devices' base64 form.
func (c CA) ETag() string {
	return base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(c.Version, 10)))
}

// CASet is every CA certificate of the hub, with the version of the whole
// set that a write is conditioned on.
type CASet struct {
	Version int64
	CAs     map[string]CA
}

// CAStore keeps the CA set.
type CAStore interface {
	// LoadCAs returns the set (empty, Version 0, when none was ever saved)
	// with each CA's Cert parsed.
	LoadCAs(ctx context.Context) (CASet, error)
	// SaveCAs writes set if the stored version is still set.Version, and
	// stores it as set.Version+1; otherwise it fails with errCASetChanged.
	SaveCAs(ctx context.Context, set CASet) error
}

// errCASetChanged is a lost optimistic write; CAService retries it.
var errCASetChanged = errors.New("registry: CA set changed meanwhile")

// CAInvalidator forgets cached CAs (the authenticator), so a deleted or
// replaced CA is refused at once in the process that changed it.
type CAInvalidator interface {
	InvalidateCAs()
}

// CAService implements IoT Hub's CA certificate operations on a CAStore.
type CAService struct {
	Store CAStore
	Now   func() time.Time
	Cache CAInvalidator // optional
}

// ValidateCAName applies IoT Hub's rule for certificate names: 1-64 ASCII
// letters, digits, '-', '.' and '_'.
func ValidateCAName(name string) error {
	if name == "" || len(name) > 64 {
		return apierr.ArgumentInvalid.New("certificate name must be 1 to 64 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return apierr.ArgumentInvalid.New("certificate name may hold only ASCII letters, digits, '-', '.' and '_'")
		}
	}
	return nil
}

// ParseCertificatePEM parses one PEM certificate (IoT Hub also takes the
// base64 DER without the PEM armour).
func ParseCertificatePEM(s string) (*x509.Certificate, error) {
	s = strings.TrimSpace(s)
	der := []byte(nil)
	if b, rest := pem.Decode([]byte(s)); b != nil {
		if b.Type != "CERTIFICATE" {
			return nil, apierr.ArgumentInvalid.New("PEM block is " + b.Type + ", not CERTIFICATE")
		}
		if len(strings.TrimSpace(string(rest))) != 0 {
			return nil, apierr.ArgumentInvalid.New("exactly one certificate is expected")
		}
		der = b.Bytes
	} else if d, err := base64.StdEncoding.DecodeString(s); err == nil {
		der = d
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, apierr.ArgumentInvalid.New("certificate is not a PEM or base64 X.509 certificate")
	}
	return c, nil
}

func errCANotFound(name string) error {
	return apierr.CertificateNotFound.New("certificate " + strconv.Quote(name) + " is not registered")
}

// matchCA applies an If-Match to a CA: "" and "*" match any version.
func matchCA(c CA, ifMatch string) error {
	m := iothub.UnquoteETag(ifMatch)
	if m == "" || m == "*" || m == c.ETag() {
		return nil
	}
	return apierr.PreconditionFailedETag.New("If-Match does not match the certificate's etag")
}

// update runs change on the current set and saves it, retrying when
// another writer changed the set meanwhile (another CA's change is no
// conflict of the caller's).
func (s *CAService) update(ctx context.Context, change func(set CASet, now time.Time) error) error {
	for attempt := 0; ; attempt++ {
		set, err := s.Store.LoadCAs(ctx)
		if err != nil {
			return err
		}
		if err := change(set, s.Now().UTC()); err != nil {
			return err
		}
		err = s.Store.SaveCAs(ctx, set)
		if errors.Is(err, errCASetChanged) {
			if attempt < 4 {
				continue
			}
			return apierr.ServiceUnavailable.Wrap("CA certificates are being changed by another request", err).WithRetryAfter(time.Second)
		}
		if err != nil {
			return err
		}
		if s.Cache != nil {
			s.Cache.InvalidateCAs()
		}
		return nil
	}
}

// Upload registers a CA certificate (unverified), or replaces one when
// ifMatch names it (or is "*"): a replaced certificate must be verified
// again, as in IoT Hub.
func (s *CAService) Upload(ctx context.Context, name, certPEM, ifMatch string) (CA, error) {
	if err := ValidateCAName(name); err != nil {
		return CA{}, err
	}
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return CA{}, err
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return CA{}, apierr.ArgumentInvalid.New("the certificate is not a CA certificate (basic constraints CA:TRUE)")
	}
	var out CA
	err = s.update(ctx, func(set CASet, now time.Time) error {
		if now.After(cert.NotAfter) {
			return apierr.ArgumentInvalid.New("the certificate has expired")
		}
		cur, exists := set.CAs[name]
		switch {
		case exists && ifMatch == "":
			return apierr.PreconditionFailedETag.New("certificate " + strconv.Quote(name) + " exists: send If-Match with its etag (or *) to replace it")
		case exists:
			if err := matchCA(cur, ifMatch); err != nil {
				return err
			}
		case ifMatch != "" && iothub.UnquoteETag(ifMatch) != "*":
			return errCANotFound(name)
		case len(set.CAs) >= MaxCAs:
			return apierr.ArgumentInvalid.New("the hub holds " + strconv.Itoa(MaxCAs) + " CA certificates, its limit: delete one first")
		}
		out = CA{Name: name, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
			Created: now, Updated: now, Version: cur.Version + 1, Cert: cert}
		if exists {
			out.Created = cur.Created
		}
		set.CAs[name] = out
		return nil
	})
	return out, err
}

// Get returns one CA certificate.
func (s *CAService) Get(ctx context.Context, name string) (CA, error) {
	if err := ValidateCAName(name); err != nil {
		return CA{}, err
	}
	set, err := s.Store.LoadCAs(ctx)
	if err != nil {
		return CA{}, err
	}
	c, ok := set.CAs[name]
	if !ok {
		return CA{}, errCANotFound(name)
	}
	return c, nil
}

// List returns every CA certificate, by name.
func (s *CAService) List(ctx context.Context) ([]CA, error) {
	set, err := s.Store.LoadCAs(ctx)
	if err != nil {
		return nil, err
	}
	return sortedCAs(set), nil
}

// Delete removes a CA certificate: devices under it are refused from then on.
func (s *CAService) Delete(ctx context.Context, name, ifMatch string) error {
	if err := ValidateCAName(name); err != nil {
		return err
	}
	return s.update(ctx, func(set CASet, _ time.Time) error {
		c, ok := set.CAs[name]
		if !ok {
			return errCANotFound(name)
		}
		if err := matchCA(c, ifMatch); err != nil {
			return err
		}
		delete(set.CAs, name)
		return nil
	})
}

// GenerateVerificationCode issues a new code for the proof of possession;
// it replaces any earlier code and leaves a verified CA verified.
func (s *CAService) GenerateVerificationCode(ctx context.Context, name, ifMatch string) (CA, error) {
	if err := ValidateCAName(name); err != nil {
		return CA{}, err
	}
	var out CA
	err := s.update(ctx, func(set CASet, now time.Time) error {
		c, ok := set.CAs[name]
		if !ok {
			return errCANotFound(name)
		}
		if err := matchCA(c, ifMatch); err != nil {
			return err
		}
		b := make([]byte, 24)
		_, _ = rand.Read(b) // never fails on supported platforms
		c.VerificationCode = strings.ToUpper(hex.EncodeToString(b))
		c.Updated, c.Version = now, c.Version+1
		set.CAs[name] = c
		out = c
		return nil
	})
	return out, err
}

// Verify completes the proof of possession: proofPEM must be signed by the
// CA's key, be valid now, and carry the pending verification code as its
// subject CN. The CA is verified from then on.
func (s *CAService) Verify(ctx context.Context, name, ifMatch, proofPEM string) (CA, error) {
	if err := ValidateCAName(name); err != nil {
		return CA{}, err
	}
	proof, err := ParseCertificatePEM(proofPEM)
	if err != nil {
		return CA{}, err
	}
	var out CA
	err = s.update(ctx, func(set CASet, now time.Time) error {
		c, ok := set.CAs[name]
		if !ok {
			return errCANotFound(name)
		}
		if err := matchCA(c, ifMatch); err != nil {
			return err
		}
		switch {
		case c.VerificationCode == "":
			return apierr.ArgumentInvalid.New("no verification code is pending: generate one first")
		case proof.Subject.CommonName != c.VerificationCode:
			return apierr.ArgumentInvalid.New("the certificate's subject CN is not the verification code")
		case now.Before(proof.NotBefore) || now.After(proof.NotAfter):
			return apierr.ArgumentInvalid.New("the verification certificate is expired or not yet valid")
		}
		if err := proof.CheckSignatureFrom(c.Cert); err != nil {
			return apierr.ArgumentInvalid.New("the verification certificate is not signed by this CA's key")
		}
		c.Verified, c.VerificationCode = true, ""
		c.Updated, c.Version = now, c.Version+1
		set.CAs[name] = c
		out = c
		return nil
	})
	return out, err
}

// sortedCAs lists a set's CAs by name.
func sortedCAs(set CASet) []CA {
	out := slices.Collect(maps.Values(set.CAs))
	slices.SortFunc(out, func(a, b CA) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// verifiedPool is the pool of a set's verified CA certificates, nil when
// none is verified.
func verifiedPool(set CASet) *x509.CertPool {
	var pool *x509.CertPool
	for _, c := range set.CAs {
		if c.Verified && c.Cert != nil {
			if pool == nil {
				pool = x509.NewCertPool()
			}
			pool.AddCert(c.Cert)
		}
	}
	return pool
}
