package registry

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/certgen"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
)

func issue(t testing.TB, s certgen.Spec, parent *certgen.Issued) *certgen.Issued {
	t.Helper()
	c, err := certgen.New(s, parent)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// memCAs is an in-memory CAStore with DynamoCAStore's optimistic writes.
type memCAs struct {
	set   CASet
	loads int
	race  func() // runs inside SaveCAs before the version check, to simulate another writer
}

func (m *memCAs) LoadCAs(context.Context) (CASet, error) {
	m.loads++
	out := CASet{Version: m.set.Version, CAs: map[string]CA{}}
	for k, v := range m.set.CAs {
		out.CAs[k] = v
	}
	return out, nil
}

func (m *memCAs) SaveCAs(_ context.Context, s CASet) error {
	if m.race != nil {
		r := m.race
		m.race = nil
		r()
	}
	if s.Version != m.set.Version {
		return errCASetChanged
	}
	m.set = CASet{Version: s.Version + 1, CAs: s.CAs}
	return nil
}

func TestNormalizeThumbprint(t *testing.T) {
	sha1Hex := strings.Repeat("ab", 20)
	for _, tc := range []struct {
		in, want string
	}{
		{sha1Hex, strings.ToUpper(sha1Hex)},
		{strings.Repeat("AB:", 19) + "AB", strings.ToUpper(sha1Hex)},
		{" " + strings.Repeat("0f", 32) + " ", strings.Repeat("0F", 32)},
		{strings.Repeat("ab", 19), ""},
		{strings.Repeat("zz", 20), ""},
		{strings.Repeat("ab", 48), ""},
		{"", ""},
	} {
		got, err := NormalizeThumbprint(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("NormalizeThumbprint(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if err != nil && apierr.KindOf(err) != apierr.Invalid {
			t.Errorf("%q: kind %v", tc.in, apierr.KindOf(err))
		}
	}
}

// applyAuth: each kind keeps only its own credentials, defaults are filled
// in, and another kind's credentials are refused.
func TestApplyAuth(t *testing.T) {
	tp1, tp2 := strings.Repeat("A1", 20), strings.Repeat("B2", 32)
	k1 := NewKey()
	sasDev := func() Device {
		return Device{AuthType: iothub.AuthSAS, PrimaryKey: NewKey(), SecondaryKey: NewKey()}
	}
	cases := []struct {
		name  string
		dev   Device
		spec  Spec
		check func(t *testing.T, before, after Device)
		bad   string
	}{
		{name: "new device: sas with generated keys", dev: Device{}, check: func(t *testing.T, _, d Device) {
			if d.AuthType != iothub.AuthSAS || d.PrimaryKey == "" || d.SecondaryKey == "" || d.PrimaryKey == d.SecondaryKey {
				t.Fatalf("%+v", d)
			}
		}},
		{name: "sas keeps the key not given", dev: sasDev(), spec: Spec{PrimaryKey: k1}, check: func(t *testing.T, b, d Device) {
			if d.PrimaryKey != k1 || d.SecondaryKey != b.SecondaryKey {
				t.Fatalf("%+v", d)
			}
		}},
		{name: "items without a type are sas", dev: Device{PrimaryKey: "cA==", SecondaryKey: "cw=="}, check: func(t *testing.T, b, d Device) {
			if d.AuthType != iothub.AuthSAS || d.PrimaryKey != b.PrimaryKey || d.SecondaryKey != b.SecondaryKey {
				t.Fatalf("%+v", d)
			}
		}},
		{name: "to selfSigned drops the keys", dev: sasDev(), spec: Spec{AuthType: iothub.AuthSelfSigned, PrimaryThumbprint: strings.ToLower(tp1)},
			check: func(t *testing.T, _, d Device) {
				if d.AuthType != iothub.AuthSelfSigned || d.PrimaryThumbprint != tp1 || d.PrimaryKey != "" || d.SecondaryKey != "" {
					t.Fatalf("%+v", d)
				}
			}},
		{name: "selfSigned keeps the thumbprint not given",
			dev:  Device{AuthType: iothub.AuthSelfSigned, PrimaryThumbprint: tp1},
			spec: Spec{SecondaryThumbprint: tp2},
			check: func(t *testing.T, _, d Device) {
				if d.PrimaryThumbprint != tp1 || d.SecondaryThumbprint != tp2 {
					t.Fatalf("%+v", d)
				}
			}},
		{name: "back to sas: fresh keys, no thumbprints", dev: Device{AuthType: iothub.AuthSelfSigned, PrimaryThumbprint: tp1},
			spec: Spec{AuthType: iothub.AuthSAS}, check: func(t *testing.T, _, d Device) {
				if d.AuthType != iothub.AuthSAS || d.PrimaryKey == "" || d.PrimaryThumbprint != "" {
					t.Fatalf("%+v", d)
				}
			}},
		{name: "certificateAuthority holds nothing", dev: sasDev(), spec: Spec{AuthType: iothub.AuthCertificateAuthority},
			check: func(t *testing.T, _, d Device) {
				if d.AuthType != iothub.AuthCertificateAuthority || d.PrimaryKey != "" || d.SecondaryKey != "" {
					t.Fatalf("%+v", d)
				}
			}},
		{name: "selfSigned without a primary thumbprint", dev: Device{}, spec: Spec{AuthType: iothub.AuthSelfSigned, SecondaryThumbprint: tp2}, bad: "primaryThumbprint"},
		{name: "selfSigned with keys", dev: Device{}, spec: Spec{AuthType: iothub.AuthSelfSigned, PrimaryThumbprint: tp1, PrimaryKey: k1}, bad: "symmetric keys"},
		{name: "sas with thumbprints", dev: Device{}, spec: Spec{PrimaryThumbprint: tp1}, bad: "thumbprints"},
		{name: "certificateAuthority with a thumbprint", dev: Device{}, spec: Spec{AuthType: iothub.AuthCertificateAuthority, PrimaryThumbprint: tp1}, bad: "no keys or thumbprints"},
		{name: "bad thumbprint", dev: Device{}, spec: Spec{AuthType: iothub.AuthSelfSigned, PrimaryThumbprint: "abc"}, bad: "hex SHA-1"},
		{name: "unknown type", dev: Device{}, spec: Spec{AuthType: "none"}, bad: "must be sas"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.dev
			err := applyAuth(&d, tc.spec)
			if tc.bad != "" {
				if e, ok := apierr.As(err); !ok || e.Kind != apierr.Invalid || !strings.Contains(e.Message, tc.bad) {
					t.Fatalf("err %v, want ArgumentInvalid about %q", err, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, tc.dev, d)
		})
	}
}

// x509Fixture is a hub with a selfSigned device, a CA-signed device under a
// verified CA (reached through an intermediate), a disabled X.509 device and
// a sas device.
type x509Fixture struct {
	now                      time.Time
	store                    *memDevices
	cas                      *memCAs
	auth                     *Authenticator
	root, inter, otherRoot   *certgen.Issued
	selfCert, selfCert2      *certgen.Issued
	caLeaf, caLeafOtherRoot  *certgen.Issued
	sasDev                   Device
	offCert                  *certgen.Issued
	expired, notYet, wrongCN *certgen.Issued
}

func newX509Fixture(t *testing.T) *x509Fixture {
	f := &x509Fixture{now: time.Now()}
	f.root = issue(t, certgen.Spec{CommonName: "root", IsCA: true}, nil)
	f.inter = issue(t, certgen.Spec{CommonName: "intermediate", IsCA: true}, f.root)
	f.otherRoot = issue(t, certgen.Spec{CommonName: "unverified root", IsCA: true}, nil)
	f.selfCert = issue(t, certgen.Spec{CommonName: "self"}, nil)
	f.selfCert2 = issue(t, certgen.Spec{CommonName: "self"}, nil)
	f.caLeaf = issue(t, certgen.Spec{CommonName: "ca-dev"}, f.inter)
	f.caLeafOtherRoot = issue(t, certgen.Spec{CommonName: "ca-dev"}, f.otherRoot)
	f.offCert = issue(t, certgen.Spec{CommonName: "off"}, nil)
	f.expired = issue(t, certgen.Spec{CommonName: "ca-dev", NotBefore: f.now.Add(-48 * time.Hour), NotAfter: f.now.Add(-time.Hour)}, f.inter)
	f.notYet = issue(t, certgen.Spec{CommonName: "ca-dev", NotBefore: f.now.Add(time.Hour)}, f.inter)
	f.wrongCN = issue(t, certgen.Spec{CommonName: "someone-else"}, f.inter)
	s1, _ := Thumbprints(f.selfCert.Cert)
	_, s256 := Thumbprints(f.selfCert2.Cert)
	offTP, _ := Thumbprints(f.offCert.Cert)
	f.sasDev = Device{DeviceID: "sas-dev", GenerationID: "g0", Status: StatusEnabled, PrimaryKey: NewKey(), SecondaryKey: NewKey()}
	f.store = &memDevices{m: map[string]Device{
		"self":    {DeviceID: "self", GenerationID: "g1", Status: StatusEnabled, AuthType: iothub.AuthSelfSigned, PrimaryThumbprint: s1, SecondaryThumbprint: s256},
		"ca-dev":  {DeviceID: "ca-dev", GenerationID: "g2", Status: StatusEnabled, AuthType: iothub.AuthCertificateAuthority},
		"off":     {DeviceID: "off", GenerationID: "g3", Status: StatusDisabled, AuthType: iothub.AuthSelfSigned, PrimaryThumbprint: offTP},
		"sas-dev": f.sasDev,
	}}
	f.cas = &memCAs{set: CASet{Version: 1, CAs: map[string]CA{
		"root":  {Name: "root", Verified: true, Cert: f.root.Cert, Version: 1},
		"other": {Name: "other", Verified: false, Cert: f.otherRoot.Cert, Version: 1},
	}}}
	var err error
	f.auth, err = NewAuthenticator(AuthConfig{HubHost: "hub.example", Devices: f.store, CAs: f.cas,
		Now: func() time.Time { return f.now }, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func chainOf(cs ...*certgen.Issued) []*x509.Certificate {
	out := make([]*x509.Certificate, len(cs))
	for i, c := range cs {
		out[i] = c.Cert
	}
	return out
}

// Every X.509 refusal is the one 401 with the reason kept for the log; the
// identity names the kind that authenticated.
func TestAuthenticatorX509(t *testing.T) {
	f := newX509Fixture(t)
	sasTok, err := sas.New("hub.example/devices/self", NewKey(), "", f.now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	goodSAS, err := sas.New("hub.example/devices/sas-dev", f.sasDev.PrimaryKey, "", f.now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, device, header string
		chain                []*x509.Certificate
		method               string // AuthMethod when accepted
		reason               string // logged cause when refused
	}{
		{"selfSigned, primary SHA-1 thumbprint", "self", "", chainOf(f.selfCert), AuthMethodX509Certificate, ""},
		{"selfSigned, secondary SHA-256 thumbprint", "self", "", chainOf(f.selfCert2), AuthMethodX509Certificate, ""},
		{"selfSigned, thumbprint mismatch", "self", "", chainOf(f.caLeaf, f.inter), "", "thumbprint matches neither"},
		{"CA-signed through an intermediate", "ca-dev", "", chainOf(f.caLeaf, f.inter), AuthMethodX509CA, ""},
		{"CA-signed without the intermediate", "ca-dev", "", chainOf(f.caLeaf), "", "does not chain to a verified CA"},
		{"CA-signed by an unverified CA", "ca-dev", "", chainOf(f.caLeafOtherRoot, f.otherRoot), "", "does not chain to a verified CA"},
		{"certificate for another device id", "ca-dev", "", chainOf(f.wrongCN, f.inter), "", "is not the device id"},
		{"expired certificate", "ca-dev", "", chainOf(f.expired, f.inter), "", "expired or not yet valid"},
		{"certificate not yet valid", "ca-dev", "", chainOf(f.notYet, f.inter), "", "expired or not yet valid"},
		{"disabled device", "off", "", chainOf(f.offCert), "", "disabled"},
		{"SAS token for an X.509 device", "self", sasTok, chainOf(f.selfCert), "", "not with a SAS token"},
		{"X.509 device without a certificate", "self", sasTok, nil, "", "not with a SAS token"},
		{"certificate for a sas device", "sas-dev", "", chainOf(f.selfCert), "", "presented no token"},
		{"sas device with its token and a certificate", "sas-dev", goodSAS, chainOf(f.selfCert), AuthMethodSAS, ""},
		{"unknown device", "nobody", "", chainOf(f.selfCert), "", "not registered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := WithClientChain(context.Background(), tc.chain)
			id, err := f.auth.Device(ctx, tc.header, tc.device)
			if tc.method != "" {
				if err != nil || id.AuthMethod != tc.method || id.DeviceID != tc.device {
					t.Fatalf("identity %+v, err %v; want %s", id, err, tc.method)
				}
				return
			}
			e, ok := apierr.As(err)
			if !ok || e.Code != apierr.IotHubUnauthorizedAccess {
				t.Fatalf("err %v, want IotHubUnauthorizedAccess", err)
			}
			if cause := errors.Unwrap(e); cause == nil || !strings.Contains(cause.Error(), tc.reason) {
				t.Fatalf("cause %v, want %q", cause, tc.reason)
			}
		})
	}
}

// A CA deleted, or a device disabled, is refused at once where the change
// was made (the service invalidates the cache) and within the cache's TTL in
// any other process.
func TestX509RevocationBoundedByCache(t *testing.T) {
	f := newX509Fixture(t)
	ctx := WithClientChain(context.Background(), chainOf(f.caLeaf, f.inter))
	if _, err := f.auth.Device(ctx, "", "ca-dev"); err != nil {
		t.Fatal(err)
	}
	// Another process deletes the CA: this one keeps it until the TTL ends.
	other := &CAService{Store: f.cas, Now: func() time.Time { return f.now }}
	if err := other.Delete(context.Background(), "root", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.auth.Device(ctx, "", "ca-dev"); err != nil {
		t.Fatalf("within the TTL the cached CA still vouches: %v", err)
	}
	f.now = f.now.Add(time.Minute)
	if _, err := f.auth.Device(ctx, "", "ca-dev"); apierr.KindOf(err) != apierr.Unauthorized {
		t.Fatalf("after the TTL: %v, want 401", err)
	}

	// In the process that makes the change, at once.
	f = newX509Fixture(t)
	ctx = WithClientChain(context.Background(), chainOf(f.caLeaf, f.inter))
	svc := &CAService{Store: f.cas, Now: func() time.Time { return f.now }, Cache: f.auth}
	if _, err := f.auth.Device(ctx, "", "ca-dev"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Upload(context.Background(), "root", string(f.root.CertPEM()), "*"); err != nil { // replaced: unverified again
		t.Fatal(err)
	}
	if _, err := f.auth.Device(ctx, "", "ca-dev"); apierr.KindOf(err) != apierr.Unauthorized {
		t.Fatalf("a re-uploaded CA must be verified again: %v", err)
	}
	devs := &Service{Store: &memStore{m: f.store.m}, Now: func() time.Time { return f.now }, Cache: f.auth}
	self := WithClientChain(context.Background(), chainOf(f.selfCert))
	if _, err := f.auth.Device(self, "", "self"); err != nil {
		t.Fatal(err)
	}
	if _, err := devs.Update(context.Background(), "self", Spec{Status: StatusDisabled}, "*"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.auth.Device(self, "", "self"); apierr.KindOf(err) != apierr.Unauthorized {
		t.Fatalf("disabled: %v, want 401 at once", err)
	}
}

// The CA flow as IoT Hub runs it: upload (unverified), verification code,
// proof of possession; and every way the proof can be wrong.
func TestCAServiceProofOfPossession(t *testing.T) {
	now := time.Now()
	ctx := context.Background()
	ca := issue(t, certgen.Spec{CommonName: "fleet CA", IsCA: true}, nil)
	impostor := issue(t, certgen.Spec{CommonName: "impostor", IsCA: true}, nil)
	leaf := issue(t, certgen.Spec{CommonName: "not a CA"}, ca)
	store := &memCAs{set: CASet{CAs: map[string]CA{}}}
	svc := &CAService{Store: store, Now: func() time.Time { return now }}

	if _, err := svc.Upload(ctx, "fleet", string(leaf.CertPEM()), ""); apierr.KindOf(err) != apierr.Invalid {
		t.Fatalf("a leaf uploaded as a CA: %v", err)
	}
	if _, err := svc.Upload(ctx, "bad name!", string(ca.CertPEM()), ""); apierr.KindOf(err) != apierr.Invalid {
		t.Fatalf("bad name: %v", err)
	}
	c, err := svc.Upload(ctx, "fleet", string(ca.CertPEM()), "")
	if err != nil || c.Verified || c.VerificationCode != "" {
		t.Fatalf("upload: %+v %v", c, err)
	}
	if _, err := svc.Upload(ctx, "fleet", string(ca.CertPEM()), ""); apierr.KindOf(err) != apierr.PreconditionFailed {
		t.Fatalf("a second upload without If-Match: %v", err)
	}
	proofFor := func(code string, signer *certgen.Issued, s certgen.Spec) string {
		s.CommonName = code
		return string(issue(t, s, signer).CertPEM())
	}
	if _, err := svc.Verify(ctx, "fleet", "", proofFor("anything", ca, certgen.Spec{})); apierr.KindOf(err) != apierr.Invalid {
		t.Fatalf("verify before a code: %v", err)
	}
	if _, err := svc.GenerateVerificationCode(ctx, "fleet", `"stale"`); apierr.KindOf(err) != apierr.PreconditionFailed {
		t.Fatalf("stale If-Match: %v", err)
	}
	c, err = svc.GenerateVerificationCode(ctx, "fleet", c.ETag())
	if err != nil || len(c.VerificationCode) != 48 {
		t.Fatalf("code: %+v %v", c, err)
	}
	code := c.VerificationCode
	for name, proof := range map[string]string{
		"wrong CN":       proofFor("not-the-code", ca, certgen.Spec{}),
		"wrong signer":   proofFor(code, impostor, certgen.Spec{}),
		"expired proof":  proofFor(code, ca, certgen.Spec{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}),
		"not a PEM cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	} {
		if _, err := svc.Verify(ctx, "fleet", "*", proof); apierr.KindOf(err) != apierr.Invalid {
			t.Errorf("%s: %v, want ArgumentInvalid", name, err)
		}
	}
	c, err = svc.Verify(ctx, "fleet", "*", proofFor(code, ca, certgen.Spec{}))
	if err != nil || !c.Verified || c.VerificationCode != "" {
		t.Fatalf("verify: %+v %v", c, err)
	}
	if verifiedPool(store.set) == nil {
		t.Fatal("the verified CA is not in the pool")
	}
	if _, err := svc.Get(ctx, "nope"); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("get missing: %v", err)
	}
	// Another writer changes the set between this one's load and save: the
	// write is retried on the fresh set, and neither change is lost.
	store.race = func() {
		other := issue(t, certgen.Spec{CommonName: "other", IsCA: true}, nil)
		store.set.CAs["other"] = CA{Name: "other", Cert: other.Cert, Version: 1}
		store.set.Version++
	}
	if err := svc.Delete(ctx, "fleet", ""); err != nil {
		t.Fatal(err)
	}
	list, err := svc.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "other" {
		t.Fatalf("after a raced delete: %+v %v", list, err)
	}
}
