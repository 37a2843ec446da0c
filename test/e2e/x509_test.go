package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/certgen"
	"github.com/devicehub/devicehub/internal/localhub"
	"github.com/devicehub/devicehub/internal/mtls"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/hubclient"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/test/testenv"
)

// tlsHub is env's hub served over HTTPS the way `devicehub local --tls`
// serves it: a server certificate for testenv.Host from a throwaway CA, and
// client certificates handed to the hub's own verification.
type tlsHub struct {
	env   *testenv.Env
	url   string
	port  string
	caPEM string
	roots *x509.CertPool
	svc   *hubclient.Client // the owner, over HTTPS
}

func newTLSHub(t *testing.T) *tlsHub {
	t.Helper()
	env := testenv.New(t, testenv.Options{})
	ca, server, err := localhub.ServerCertificates(testenv.Host)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mtls.FromTLS(env.Handler))
	srv.TLS = mtls.ServerConfig(server.TLS(ca))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	_, port, _ := net.SplitHostPort(u.Host)
	h := &tlsHub{env: env, url: srv.URL, port: port, caPEM: string(ca.CertPEM()), roots: x509.NewCertPool()}
	h.roots.AddCert(ca.Cert)
	h.svc = hubclient.New(srv.URL, env.OwnerConn)
	h.svc.SetTLS(h.roots, nil)
	return h
}

// device is a client acting as device id with cert (and its chain) over HTTPS.
func (h *tlsHub) device(id string, cert *certgen.Issued, chain ...*certgen.Issued) *hubclient.Client {
	return hubclient.NewX509(h.url, testenv.Host, id, cert.TLS(chain...), h.roots)
}

func issue(t *testing.T, s certgen.Spec, parent *certgen.Issued) *certgen.Issued {
	t.Helper()
	c, err := certgen.New(s, parent)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// registerCA uploads ca under name and proves possession of its key, the
// way IoT Hub's flow runs: upload, verification code, a certificate the CA
// signs with the code as subject CN.
func registerCA(t *testing.T, svc *hubclient.Client, name string, ca *certgen.Issued) {
	t.Helper()
	ctx := context.Background()
	up, err := svc.UploadCA(ctx, name, string(ca.CertPEM()), "")
	if err != nil {
		t.Fatal(err)
	}
	if up.Properties.IsVerified {
		t.Fatalf("a new CA is verified: %+v", up)
	}
	code, err := svc.GenerateVerificationCode(ctx, name, up.ETag)
	if err != nil || code.Properties.VerificationCode == "" {
		t.Fatalf("verification code: %+v %v", code, err)
	}
	proof := issue(t, certgen.Spec{CommonName: code.Properties.VerificationCode}, ca)
	v, err := svc.VerifyCA(ctx, name, code.ETag, string(proof.CertPEM()))
	if err != nil || !v.Properties.IsVerified {
		t.Fatalf("verify: %+v %v", v, err)
	}
}

func createX509Device(t *testing.T, svc *hubclient.Client, id string, auth iothub.Authentication) {
	t.Helper()
	d, err := svc.CreateDevice(context.Background(), id, iothub.Device{Authentication: auth})
	if err != nil {
		t.Fatal(err)
	}
	if d.Authentication.Type != auth.Type {
		t.Fatalf("created %s as %s", id, d.Authentication.Type)
	}
}

type x509Line struct {
	Send     *int   `json:"send"`
	OK       bool   `json:"ok"`
	Received string `json:"received"`
	Data     string `json:"data"`
	Error    *struct {
		Name, Constructor, Message, Body string
		Status                           int
	} `json:"error"`
}

// runX509 runs x509.js as device id with cert (leaf, then chain).
func (h *tlsHub) runX509(t *testing.T, id string, sends []any, expectC2D int, cert *certgen.Issued, chain ...*certgen.Issued) []x509Line {
	t.Helper()
	certPEM := string(cert.CertPEM())
	for _, c := range chain {
		certPEM += string(c.CertPEM())
	}
	spec, _ := json.Marshal(sends)
	cs := "HostName=" + testenv.Host + ";DeviceId=" + id + ";x509=true"
	out := runNode(t, "x509.js", map[string]string{
		"DEVICE_CONNECTION_STRING": cs, "HUB_PORT": h.port, "CERT_PEM": certPEM, "KEY_PEM": string(cert.KeyPEM()),
		"CA_PEM": h.caPEM, "SENDS": string(spec), "EXPECT_C2D": itoa(expectC2D),
	}, 90*time.Second)
	var lines []x509Line
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var x x509Line
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatalf("x509.js printed %q: %v", l, err)
		}
		lines = append(lines, x)
	}
	return lines
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestX509DeviceSDK: the Azure IoT device SDK for Node, with its HTTP
// transport and an X.509 device (x509=true, setOptions({cert, key})), sends
// telemetry and receives cloud-to-device messages as a selfSigned device
// (registered by its SHA-256 thumbprint) and as a CA-signed device (its
// certificate issued by an intermediate of a CA verified by proof of
// possession). The records say which kind authenticated each device.
func TestX509DeviceSDK(t *testing.T) {
	h := newTLSHub(t)
	ctx := context.Background()

	self := issue(t, certgen.Spec{CommonName: "x509-self"}, nil)
	spare := issue(t, certgen.Spec{CommonName: "x509-self"}, nil)
	_, selfSHA256 := registry.Thumbprints(self.Cert)
	spareSHA1, _ := registry.Thumbprints(spare.Cert)
	createX509Device(t, h.svc, "x509-self", iothub.Authentication{Type: iothub.AuthSelfSigned,
		X509Thumbprint: &iothub.X509Thumbprint{PrimaryThumbprint: selfSHA256, SecondaryThumbprint: spareSHA1}})

	root := issue(t, certgen.Spec{CommonName: "fleet root", IsCA: true}, nil)
	inter := issue(t, certgen.Spec{CommonName: "fleet intermediate", IsCA: true}, root)
	registerCA(t, h.svc, "fleet-root", root)
	caDev := issue(t, certgen.Spec{CommonName: "x509-ca"}, inter)
	createX509Device(t, h.svc, "x509-ca", iothub.Authentication{Type: iothub.AuthCertificateAuthority})

	devices := []struct {
		id     string
		cert   *certgen.Issued
		chain  []*certgen.Issued
		method string
	}{
		{"x509-self", self, nil, registry.AuthMethodX509Certificate},
		{"x509-ca", caDev, []*certgen.Issued{inter}, registry.AuthMethodX509CA},
	}
	for _, d := range devices {
		for _, id := range []string{d.id + "-c2d-1", d.id + "-c2d-2"} {
			if _, err := h.svc.SendC2D(ctx, d.id, hubclient.C2DMessage{MessageID: id, Ack: "full", Body: []byte("to " + id)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range devices {
		t.Run(d.id, func(t *testing.T) {
			sends := []any{
				map[string]any{"body": `{"t":1}`, "messageId": d.id + "-1", "properties": [][2]string{{"kind", "single"}}},
				map[string]any{"batch": []any{map[string]any{"body": "b1"}, map[string]any{"body": "b2", "properties": [][2]string{{"k", "v"}}}}},
			}
			lines := h.runX509(t, d.id, sends, 2, d.cert, d.chain...)
			var sent, received []string
			for _, l := range lines {
				switch {
				case l.Send != nil && !l.OK:
					t.Errorf("send %d: %+v", *l.Send, l.Error)
				case l.Send != nil:
					sent = append(sent, itoa(*l.Send))
				case l.Received != "":
					received = append(received, l.Received)
					if l.Data != "to "+l.Received {
						t.Errorf("C2D %s: data %q", l.Received, l.Data)
					}
				}
			}
			if len(sent) != 2 {
				t.Errorf("sends %v", sent)
			}
			slices.Sort(received)
			if want := []string{d.id + "-c2d-1", d.id + "-c2d-2"}; !slices.Equal(received, want) {
				t.Errorf("received %v, want %v", received, want)
			}
			for _, id := range []string{d.id + "-c2d-1", d.id + "-c2d-2"} {
				st, err := h.svc.C2DStatus(ctx, d.id, id)
				if err != nil || len(st) != 1 || st[0].State != "Completed" {
					t.Errorf("C2D %s: %+v %v", id, st, err)
				}
			}
		})
	}

	byDevice := map[string][]string{}
	for _, m := range h.env.ReadStream(t) {
		byDevice[m.DeviceID] = append(byDevice[m.DeviceID], m.AuthMethod)
		if string(m.Body) == "b2" && m.Properties["k"] != "v" {
			t.Errorf("batch message properties %v", m.Properties)
		}
	}
	for _, d := range devices {
		got := byDevice[d.id]
		if len(got) != 3 {
			t.Errorf("device %s: %d records, want 3", d.id, len(got))
		}
		for _, m := range got {
			if m != d.method {
				t.Errorf("device %s: auth method %s, want %s", d.id, m, d.method)
			}
		}
	}

	// The SDK reports a certificate the hub refuses as its UnauthorizedError.
	t.Run("refused through the SDK", func(t *testing.T) {
		lines := h.runX509(t, "x509-self", []any{map[string]any{"body": "x"}}, 0, issue(t, certgen.Spec{CommonName: "x509-self"}, nil))
		if len(lines) != 1 || lines[0].OK || lines[0].Error == nil || lines[0].Error.Name != "UnauthorizedError" || lines[0].Error.Status != 401 {
			t.Fatalf("a certificate with an unregistered thumbprint: %+v", lines)
		}
	})
}

// TestX509Refusals: each way an X.509 credential is wrong gets IoT Hub's
// 401 IotHubUnauthorizedAccess, and nothing reaches the stream.
func TestX509Refusals(t *testing.T) {
	h := newTLSHub(t)
	ctx := context.Background()
	now := time.Now()

	self := issue(t, certgen.Spec{CommonName: "self"}, nil)
	tp, _ := registry.Thumbprints(self.Cert)
	createX509Device(t, h.svc, "self", iothub.Authentication{Type: iothub.AuthSelfSigned, X509Thumbprint: &iothub.X509Thumbprint{PrimaryThumbprint: tp}})
	offCert := issue(t, certgen.Spec{CommonName: "off"}, nil)
	offTP, _ := registry.Thumbprints(offCert.Cert)
	createX509Device(t, h.svc, "off", iothub.Authentication{Type: iothub.AuthSelfSigned, X509Thumbprint: &iothub.X509Thumbprint{PrimaryThumbprint: offTP}})
	if _, err := h.svc.UpdateDevice(ctx, "off", iothub.Device{Status: registry.StatusDisabled, Authentication: iothub.Authentication{Type: iothub.AuthSelfSigned}}, "*"); err != nil {
		t.Fatal(err)
	}

	root := issue(t, certgen.Spec{CommonName: "root", IsCA: true}, nil)
	registerCA(t, h.svc, "root", root)
	unverified := issue(t, certgen.Spec{CommonName: "unverified", IsCA: true}, nil)
	if _, err := h.svc.UploadCA(ctx, "unverified", string(unverified.CertPEM()), ""); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ca-dev", "ca-other"} {
		createX509Device(t, h.svc, id, iothub.Authentication{Type: iothub.AuthCertificateAuthority})
	}
	good := issue(t, certgen.Spec{CommonName: "ca-dev"}, root)
	expired := issue(t, certgen.Spec{CommonName: "ca-dev", NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}, root)
	forOther := issue(t, certgen.Spec{CommonName: "ca-other"}, root)
	byUnverified := issue(t, certgen.Spec{CommonName: "ca-dev"}, unverified)

	// The accepted cases first, so the refusals below are about the credential.
	for _, c := range []*hubclient.Client{h.device("self", self), h.device("ca-dev", good)} {
		if err := c.SendEvent(ctx, hubclient.Message{Body: []byte("ok")}); err != nil {
			t.Fatalf("%s: %v", c.Conn.DeviceID, err)
		}
	}
	before := len(h.env.ReadStream(t))

	plain := hubclient.New(h.env.Server.URL, sas.ConnectionString{HostName: testenv.Host, DeviceID: "self", SharedAccessKey: registry.NewKey()})
	cases := []struct {
		name   string
		client *hubclient.Client
		header string // a client-set X-Amzn-Mtls-Clientcert
	}{
		{"expired certificate", h.device("ca-dev", expired), ""},
		{"certificate for another device id", h.device("ca-dev", forOther), ""},
		{"thumbprint mismatch", h.device("self", offCert), ""},
		{"unverified CA", h.device("ca-dev", byUnverified, unverified), ""},
		{"disabled device", h.device("off", offCert), ""},
		{"no certificate", hubclient.NewX509(h.url, testenv.Host, "self", tls.Certificate{}, h.roots), ""},
		// The certificate is public: sending it in the ALB's header, over
		// TLS without it or over plain HTTP, proves nothing.
		{"ALB header over TLS", hubclient.NewX509(h.url, testenv.Host, "self", tls.Certificate{}, h.roots), mtls.EncodeALBHeader(self.Cert)},
		{"ALB header over plain HTTP", plain, mtls.EncodeALBHeader(self.Cert)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hdr http.Header
			if tc.header != "" {
				hdr = http.Header{mtls.ALBHeader: {tc.header}}
			}
			resp, err := tc.client.Do(ctx, http.MethodPost, hubclient.DevicePath(tc.client.Conn.DeviceID)+"/messages/events", hdr, []byte("x"))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("accepted: %d", resp.StatusCode)
			}
			var he *hubclient.Error
			if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || he.Body.Code != "IotHubUnauthorizedAccess" || he.Body.ErrorCode != 401002 {
				t.Fatalf("err %v, want 401 IotHubUnauthorizedAccess (401002)", err)
			}
		})
	}

	// Revocation in the process that makes the change: at once.
	if err := h.svc.DeleteCA(ctx, "root", ""); err != nil {
		t.Fatal(err)
	}
	var he *hubclient.Error
	if err := h.device("ca-dev", good).SendEvent(ctx, hubclient.Message{Body: []byte("x")}); !errors.As(err, &he) || he.Status != 401 {
		t.Fatalf("after the CA's deletion: %v, want 401", err)
	}
	if n := len(h.env.ReadStream(t)); n != before {
		t.Fatalf("%d records after refused sends, want %d", n, before)
	}
}

// TestCertificateAPI: IoT Hub's certificate resource over the wire, and the
// answers to every misuse.
func TestCertificateAPI(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	svc := hubclient.New(env.Server.URL, env.OwnerConn)
	ctx := context.Background()
	ca := issue(t, certgen.Spec{CommonName: "api CA", IsCA: true}, nil)
	leaf := issue(t, certgen.Spec{CommonName: "not a CA"}, ca)

	status := func(err error) (int, string) {
		var he *hubclient.Error
		if !errors.As(err, &he) {
			return 0, fmt.Sprint(err)
		}
		return he.Status, he.Body.Code
	}
	up, err := svc.UploadCA(ctx, "api", string(ca.CertPEM()), "")
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := registry.Thumbprints(ca.Cert)
	p := up.Properties
	if up.Name != "api" || up.Type != iothub.CertificateType || up.ETag == "" || p.IsVerified || p.Thumbprint != s1 ||
		p.Subject != "CN=api CA" || p.Expiry != ca.Cert.NotAfter.UTC().Format(http.TimeFormat) || p.Certificate != string(ca.CertPEM()) {
		t.Errorf("uploaded: %+v", up)
	}
	raw := func(method, path, body string, hdr http.Header) error {
		if hdr == nil {
			hdr = http.Header{}
		}
		hdr.Set("Content-Type", "application/json")
		resp, err := svc.Do(ctx, method, path, hdr, []byte(body))
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	pemJSON := func(c *certgen.Issued) string { b, _ := json.Marshal(string(c.CertPEM())); return string(b) }
	cases := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"verified on upload", raw("PUT", "/certificates/other", `{"properties":{"certificate":`+pemJSON(ca)+`,"isVerified":true}}`, nil), 400, "ArgumentInvalid"},
		{"a leaf as a CA", raw("PUT", "/certificates/other", `{"properties":{"certificate":`+pemJSON(leaf)+`}}`, nil), 400, "ArgumentInvalid"},
		{"no certificate", raw("PUT", "/certificates/other", `{"properties":{}}`, nil), 400, "ArgumentInvalid"},
		{"bad name", raw("PUT", "/certificates/a%20b", `{"properties":{"certificate":`+pemJSON(ca)+`}}`, nil), 400, "ArgumentInvalid"},
		{"replace without If-Match", raw("PUT", "/certificates/api", `{"properties":{"certificate":`+pemJSON(ca)+`}}`, nil), 412, "PreconditionFailed"},
		{"replace with a stale etag", raw("PUT", "/certificates/api", `{"properties":{"certificate":`+pemJSON(ca)+`}}`, http.Header{"If-Match": {`"Nw=="`}}), 412, "PreconditionFailed"},
		{"verify without a code", raw("POST", "/certificates/api/verify", `{"certificate":`+pemJSON(leaf)+`}`, nil), 400, "ArgumentInvalid"},
		{"get unknown", func() error { _, err := svc.GetCA(ctx, "nope"); return err }(), 404, "CertificateNotFound"},
		{"delete unknown", svc.DeleteCA(ctx, "nope", ""), 404, "CertificateNotFound"},
		{"code for unknown", func() error { _, err := svc.GenerateVerificationCode(ctx, "nope", ""); return err }(), 404, "CertificateNotFound"},
	}
	for _, tc := range cases {
		if st, code := status(tc.err); st != tc.status || code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, st, code, tc.status, tc.code)
		}
	}
	list, err := svc.ListCAs(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "api" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := svc.DeleteCA(ctx, "api", up.ETag); err != nil {
		t.Fatal(err)
	}
	// The CA item never shows among the devices.
	env.CreateDevice(t, "d1")
	devs, err := svc.ListDevices(ctx)
	if err != nil || len(devs) != 1 || devs[0].DeviceID != "d1" {
		t.Fatalf("devices: %+v %v", devs, err)
	}
}
