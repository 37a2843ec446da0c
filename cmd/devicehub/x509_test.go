package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devicehub/devicehub/internal/certgen"
	"github.com/devicehub/devicehub/internal/localhub"
	"github.com/devicehub/devicehub/internal/mtls"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/test/testenv"
)

// writeFile writes b to name in dir and returns the path.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The X.509 commands against the hub served over HTTPS as 'local --tls'
// serves it: a CA registered and verified with its key, devices of both
// kinds created, and sends and a cloud-to-device receive as each.
func TestX509Commands(t *testing.T) {
	h := withHub(t)
	dir := t.TempDir()
	serverCA, server, err := localhub.ServerCertificates(testenv.Host)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mtls.FromTLS(h.hub.Handler))
	srv.TLS = mtls.ServerConfig(server.TLS(serverCA))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	h.env[schema.EnvHubURL] = srv.URL
	h.env[schema.EnvTLSCA] = writeFile(t, dir, "hub-ca.pem", serverCA.CertPEM())

	fleet, err := certgen.New(certgen.Spec{CommonName: "fleet", IsCA: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, caKey := writeFile(t, dir, "ca.pem", fleet.CertPEM()), writeFile(t, dir, "ca.key", fleet.KeyPEM())
	if up := jsonLines(t, h.ok("ca", "upload", "fleet", caPEM))[0]; up["properties"].(map[string]any)["isVerified"] != false {
		t.Fatalf("upload: %v", up)
	}
	if _, _, code := h.run("ca", "verify", "fleet", "--key", writeFile(t, dir, "other.key", mustIssue(t, "x", true, nil).KeyPEM())); code != 1 {
		t.Errorf("verify with another key: exit %d, want 1", code)
	}
	if v := jsonLines(t, h.ok("ca", "verify", "fleet", "--key", caKey))[0]; v["properties"].(map[string]any)["isVerified"] != true {
		t.Fatalf("verify: %v", v)
	}
	header, rows := table(t, h.ok("ca", "list", "-o", "table"))
	if len(rows) != 1 || rows[0][0] != "fleet" || rows[0][1] != "true" || header[1] != "VERIFIED" {
		t.Errorf("ca list: %q %q", header, rows)
	}

	self := mustIssue(t, "cam-self", false, nil)
	sha1Hex, _ := registry.Thumbprints(self.Cert)
	var colons []string
	for i := 0; i < len(sha1Hex); i += 2 {
		colons = append(colons, sha1Hex[i:i+2])
	}
	created := jsonLines(t, h.ok("device", "create", "cam-self", "--thumbprint", strings.Join(colons, ":")))[0]
	if created["connectionString"] != "HostName="+testenv.Host+";DeviceId=cam-self;x509=true" ||
		created["authentication"].(map[string]any)["type"] != "selfSigned" {
		t.Errorf("create --thumbprint: %v", created)
	}
	if c := jsonLines(t, h.ok("device", "create", "cam-ca", "--ca"))[0]; c["authentication"].(map[string]any)["type"] != "certificateAuthority" {
		t.Errorf("create --ca: %v", c)
	}
	if _, _, code := h.run("device", "create", "x", "--ca", "--primary-key", registry.NewKey()); code != 2 {
		t.Errorf("--ca with a key: exit %d, want 2", code)
	}

	caDev := mustIssue(t, "cam-ca", false, fleet)
	files := map[string][2]string{
		"cam-self": {writeFile(t, dir, "self.pem", self.CertPEM()), writeFile(t, dir, "self.key", self.KeyPEM())},
		"cam-ca":   {writeFile(t, dir, "cam-ca.pem", caDev.CertPEM()), writeFile(t, dir, "cam-ca.key", caDev.KeyPEM())},
	}
	for id, f := range files {
		if s := jsonLines(t, h.ok("send", "--device", id, "--cert", f[0], "--key", f[1], "hello from "+id))[0]; s["deviceId"] != id {
			t.Errorf("send as %s: %v", id, s)
		}
	}
	if _, errOut, code := h.run("send", "--device", "cam-self", "hi"); code != 1 || !strings.Contains(errOut, "--cert") {
		t.Errorf("an X.509 device without --cert: exit %d, %q", code, errOut)
	}
	h.ok("c2d", "send", "cam-ca", "--message-id", "m1", "ping")
	got := jsonLines(t, h.ok("c2d", "receive", "--device", "cam-ca", "--cert", files["cam-ca"][0], "--key", files["cam-ca"][1], "--wait", "10s", "--complete"))[0]
	if got["messageId"] != "m1" || got["settlement"] != "completed" {
		t.Errorf("c2d receive as an X.509 device: %v", got)
	}

	h.ok("ca", "delete", "fleet")
	if _, errOut, code := h.run("send", "--device", "cam-ca", "--cert", files["cam-ca"][0], "--key", files["cam-ca"][1], "x"); code != 1 ||
		!strings.Contains(errOut, "401 IotHubUnauthorizedAccess") {
		t.Errorf("after the CA's deletion: exit %d, %q", code, errOut)
	}
}

func mustIssue(t *testing.T, cn string, isCA bool, parent *certgen.Issued) *certgen.Issued {
	t.Helper()
	c, err := certgen.New(certgen.Spec{CommonName: cn, IsCA: isCA}, parent)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
