package hubapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
)

// authJSON is a device's authentication block, IoT Hub's shape: the type,
// and both credential blocks, the unused one empty.
func authJSON(d registry.Device) iothub.Authentication {
	a := iothub.Authentication{Type: d.Auth(), SymmetricKey: &iothub.SymmetricKey{}, X509Thumbprint: &iothub.X509Thumbprint{}}
	switch a.Type {
	case iothub.AuthSAS:
		a.SymmetricKey = &iothub.SymmetricKey{PrimaryKey: d.PrimaryKey, SecondaryKey: d.SecondaryKey}
	case iothub.AuthSelfSigned:
		a.X509Thumbprint = &iothub.X509Thumbprint{PrimaryThumbprint: d.PrimaryThumbprint, SecondaryThumbprint: d.SecondaryThumbprint}
	}
	return a
}

// authSpec reads a device body's authentication block. With no type, a
// body carrying thumbprints and no keys is selfSigned, as the service SDKs
// normalize it before sending.
func authSpec(a iothub.Authentication) registry.Spec {
	var s registry.Spec
	if k := a.SymmetricKey; k != nil {
		s.PrimaryKey, s.SecondaryKey = k.PrimaryKey, k.SecondaryKey
	}
	if x := a.X509Thumbprint; x != nil {
		s.PrimaryThumbprint, s.SecondaryThumbprint = x.PrimaryThumbprint, x.SecondaryThumbprint
	}
	s.AuthType = a.Type
	if s.AuthType == "" && s.PrimaryKey == "" && s.SecondaryKey == "" && (s.PrimaryThumbprint != "" || s.SecondaryThumbprint != "") {
		s.AuthType = iothub.AuthSelfSigned
	}
	return s
}

// CARegistry manages the CA certificates certificateAuthority devices chain
// to (registry.CAService).
type CARegistry interface {
	Upload(ctx context.Context, name, certPEM, ifMatch string) (registry.CA, error)
	Get(ctx context.Context, name string) (registry.CA, error)
	List(ctx context.Context) ([]registry.CA, error)
	Delete(ctx context.Context, name, ifMatch string) error
	GenerateVerificationCode(ctx context.Context, name, ifMatch string) (registry.CA, error)
	Verify(ctx context.Context, name, ifMatch, proofPEM string) (registry.CA, error)
}

// caRoutes are the CA certificate routes: IoT Hub's certificate resource
// (upload, verification code, proof of possession), served with the owner
// policy on the service side.
func caRoutes() []Route {
	return []Route{
		{"GET", "/certificates", ServiceSide},
		{"PUT", "/certificates/{name}", ServiceSide},
		{"GET", "/certificates/{name}", ServiceSide},
		{"DELETE", "/certificates/{name}", ServiceSide},
		{"POST", "/certificates/{name}/generateVerificationCode", ServiceSide},
		{"POST", "/certificates/{name}/verify", ServiceSide},
	}
}

// routeCAs registers the CA routes when the process manages CAs.
func (s *server) routeCAs(mux *http.ServeMux) {
	if s.CAs == nil {
		return
	}
	h := caHandlers{s.CAs}
	s.handle(mux, "GET /certificates", s.service(h.list))
	s.handle(mux, "PUT /certificates/{name}", s.service(h.upload))
	s.handle(mux, "GET /certificates/{name}", s.service(h.get))
	s.handle(mux, "DELETE /certificates/{name}", s.service(h.delete))
	s.handle(mux, "POST /certificates/{name}/generateVerificationCode", s.service(h.generateCode))
	s.handle(mux, "POST /certificates/{name}/verify", s.service(h.verify))
}

type caHandlers struct{ cas CARegistry }

// maxCABody bounds a certificate request body: a PEM chain fits many times.
const maxCABody = 64 << 10

// caJSON is a CA in IoT Hub's certificate shape; times are HTTP dates, as
// IoT Hub writes them.
func caJSON(c registry.CA) iothub.Certificate {
	p := iothub.CertificateProperties{
		IsVerified: c.Verified, VerificationCode: c.VerificationCode, Certificate: c.PEM,
		Created: c.Created.UTC().Format(http.TimeFormat), Updated: c.Updated.UTC().Format(http.TimeFormat),
	}
	if c.Cert != nil {
		p.Subject = c.Cert.Subject.String()
		p.Expiry = c.Cert.NotAfter.UTC().Format(http.TimeFormat)
		p.Thumbprint, _ = registry.Thumbprints(c.Cert)
	}
	return iothub.Certificate{Name: c.Name, ETag: c.ETag(), Type: iothub.CertificateType, Properties: p}
}

func writeCA(w http.ResponseWriter, c registry.CA) error {
	w.Header().Set("ETag", strconv.Quote(c.ETag()))
	return writeJSON(w, http.StatusOK, caJSON(c))
}

// readCABody decodes a certificate request's JSON body into v.
func readCABody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r, maxCABody, "certificate body exceeds 64 KB")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return apierr.ArgumentInvalid.New("body is not a certificate JSON object: " + err.Error())
	}
	return nil
}

func (h caHandlers) upload(w http.ResponseWriter, r *http.Request) error {
	var in iothub.Certificate
	if err := readCABody(w, r, &in); err != nil {
		return err
	}
	if in.Properties.IsVerified {
		// IoT Hub can mark a CA verified on upload; here only a proof of
		// possession verifies one.
		return apierr.ArgumentInvalid.New("isVerified cannot be set on upload: verify the certificate by proof of possession")
	}
	if in.Properties.Certificate == "" {
		return apierr.ArgumentInvalid.New("properties.certificate (the PEM) is required")
	}
	c, err := h.cas.Upload(r.Context(), r.PathValue("name"), in.Properties.Certificate, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return writeCA(w, c)
}

func (h caHandlers) get(w http.ResponseWriter, r *http.Request) error {
	c, err := h.cas.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeCA(w, c)
}

func (h caHandlers) list(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.cas.List(r.Context())
	if err != nil {
		return err
	}
	out := iothub.CertificateList{Value: make([]iothub.Certificate, 0, len(cs))}
	for _, c := range cs {
		out.Value = append(out.Value, caJSON(c))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h caHandlers) delete(w http.ResponseWriter, r *http.Request) error {
	if err := h.cas.Delete(r.Context(), r.PathValue("name"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h caHandlers) generateCode(w http.ResponseWriter, r *http.Request) error {
	c, err := h.cas.GenerateVerificationCode(r.Context(), r.PathValue("name"), r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return writeCA(w, c)
}

func (h caHandlers) verify(w http.ResponseWriter, r *http.Request) error {
	var in iothub.CertificateVerification
	if err := readCABody(w, r, &in); err != nil {
		return err
	}
	if in.Certificate == "" {
		return apierr.ArgumentInvalid.New("certificate (the PEM of the proof-of-possession certificate) is required")
	}
	c, err := h.cas.Verify(r.Context(), r.PathValue("name"), r.Header.Get("If-Match"), in.Certificate)
	if err != nil {
		return err
	}
	return writeCA(w, c)
}
