package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/devicehub/devicehub/internal/certgen"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/hubclient"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
)

// roots is the pool to trust for the hub's TLS certificate: --tls-ca, else
// $DEVICEHUB_TLS_CA, else a local --tls hub's CA (when the hub is the local
// one); nil for the system's roots.
func (c *cli) roots() (*x509.CertPool, error) {
	file := c.tlsCA
	if file == "" {
		file = c.Getenv(schema.EnvTLSCA)
	}
	if file == "" && !c.remote() {
		if st, err := c.localState(); err == nil {
			file = st.TLSCAFile
		}
	}
	if file == "" {
		return nil, nil
	}
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("TLS CA %s holds no PEM certificate", file)
	}
	return pool, nil
}

// x509Device is a client acting as an X.509 device with --cert and --key:
// its id from --device, or from a connection string (HostName=...;
// DeviceId=...;x509=true). It needs no owner credentials and sends no token.
func (c *cli) x509Device(id, conn string) (*hubclient.Client, error) {
	host := ""
	if conn != "" {
		for _, part := range strings.Split(conn, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "DeviceId":
				id = v
			case "HostName":
				host = v
			}
		}
	}
	if id == "" {
		return nil, errors.New("no device id: pass --device, or a connection string with DeviceId")
	}
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(c.keyFile)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("--cert/--key: %w", err)
	}
	u, err := c.baseURL()
	if err != nil {
		return nil, err
	}
	roots, err := c.roots()
	if err != nil {
		return nil, err
	}
	hc := hubclient.NewX509(u, host, id, pair, roots)
	hc.Now = c.Now
	return hc, nil
}

// connectionString is what a new device is given: its SAS connection
// string, or HostName;DeviceId;x509=true for an X.509 device.
func connectionString(svc *hubclient.Client, d iothub.Device) string {
	if t := d.Authentication.Type; t != "" && t != iothub.AuthSAS {
		return sas.ConnectionString{HostName: svc.Conn.HostName, DeviceID: d.DeviceID}.String() + ";x509=true"
	}
	return svc.DeviceConnectionString(d).String()
}

// caRow prints a CA certificate.
type caRow iothub.Certificate

func (caRow) header() []string {
	return []string{"NAME", "VERIFIED", "SUBJECT", "EXPIRY", "THUMBPRINT", "VERIFICATION CODE"}
}
func (r caRow) cells() []string {
	p := r.Properties
	return []string{r.Name, fmt.Sprint(p.IsVerified), p.Subject, p.Expiry, p.Thumbprint, p.VerificationCode}
}

func (c *cli) caCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Manage the CA certificates X.509 CA-signed devices chain to",
		Long: `A CA certificate vouches for certificateAuthority devices once it is verified
by proof of possession, as in IoT Hub: upload it, get a verification code, and
upload a certificate the CA signed whose subject CN is that code. 'ca verify
--key' does the last two steps with the CA's private key, which never leaves
this machine.`,
		Example: `  devicehub ca upload fleet ca.pem
  devicehub ca verify fleet --key ca.key
  devicehub ca list -o table`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(c.caUploadCmd(), c.caGetCmd(), c.caListCmd(), c.caDeleteCmd(), c.caCodeCmd(), c.caVerifyCmd())
	return cmd
}

func (c *cli) caUploadCmd() *cobra.Command {
	var replace bool
	cmd := &cobra.Command{
		Use:   "upload NAME FILE",
		Short: "Register a CA certificate (PEM), unverified",
		Long: `Registers the CA certificate in FILE under NAME. It vouches for no device until
it is verified ('ca verify'). --replace replaces a registered one, which must
then be verified again.`,
		Example: "  devicehub ca upload fleet ca.pem\n  devicehub ca upload fleet new-ca.pem --replace",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pemBytes, err := os.ReadFile(args[1])
			if err != nil {
				return err
			}
			svc, err := c.service()
			if err != nil {
				return err
			}
			etag := ""
			if replace {
				etag = "*"
			}
			ca, err := svc.UploadCA(cmd.Context(), args[0], string(pemBytes), etag)
			if err != nil {
				return err
			}
			return c.printOne(cmd, caRow(ca))
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "replace the registered certificate of that name")
	return cmd
}

func (c *cli) caGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "get NAME",
		Short:   "Print a CA certificate",
		Example: "  devicehub ca get fleet | jq -r .properties.certificate > fleet.pem",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := c.service()
			if err != nil {
				return err
			}
			ca, err := svc.GetCA(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.printOne(cmd, caRow(ca))
		},
	}
}

func (c *cli) caListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "Print every CA certificate, one per line",
		Example: "  devicehub ca list -o table",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, err := c.service()
			if err != nil {
				return err
			}
			cas, err := svc.ListCAs(cmd.Context())
			if err != nil {
				return err
			}
			p := c.printer(cmd, false)
			for _, ca := range cas {
				if err := p.print(caRow(ca)); err != nil {
					return err
				}
			}
			return p.flush()
		},
	}
}

func (c *cli) caDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Remove a CA certificate: the devices under it are refused from then on",
		Example: "  devicehub ca delete fleet",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := c.service()
			if err != nil {
				return err
			}
			return svc.DeleteCA(cmd.Context(), args[0], "")
		},
	}
}

func (c *cli) caCodeCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "verification-code NAME",
		Short:   "Get a verification code: the subject CN of the proof-of-possession certificate",
		Example: `  code=$(devicehub ca verification-code fleet | jq -r .properties.verificationCode)`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := c.service()
			if err != nil {
				return err
			}
			ca, err := svc.GenerateVerificationCode(cmd.Context(), args[0], "")
			if err != nil {
				return err
			}
			return c.printOne(cmd, caRow(ca))
		},
	}
}

func (c *cli) caVerifyCmd() *cobra.Command {
	var proofFile, keyFile string
	cmd := &cobra.Command{
		Use:   "verify NAME (--key CA_KEY | --proof FILE)",
		Short: "Prove possession of the CA's key, so the CA vouches for devices",
		Long: `With --key, gets a verification code and signs a short-lived certificate with
that code as subject CN with the CA's private key (PEM), then sends it. With
--proof, sends a certificate made that way already (e.g. with openssl, see
docs/X509.md) for the pending code.`,
		Example: "  devicehub ca verify fleet --key ca.key\n  devicehub ca verify fleet --proof verification.pem",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			svc, err := c.service()
			if err != nil {
				return err
			}
			var proof []byte
			if proofFile != "" {
				if proof, err = os.ReadFile(proofFile); err != nil {
					return err
				}
			} else {
				keyPEM, err := os.ReadFile(keyFile)
				if err != nil {
					return err
				}
				code, err := svc.GenerateVerificationCode(ctx, args[0], "")
				if err != nil {
					return err
				}
				ca, err := certgen.Load([]byte(code.Properties.Certificate), keyPEM)
				if err != nil {
					return fmt.Errorf("--key is not the key of CA %s: %w", args[0], err)
				}
				now := c.Now()
				p, err := certgen.New(certgen.Spec{CommonName: code.Properties.VerificationCode,
					NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(time.Hour)}, ca)
				if err != nil {
					return err
				}
				proof = p.CertPEM()
			}
			ca, err := svc.VerifyCA(ctx, args[0], "", string(proof))
			if err != nil {
				return err
			}
			return c.printOne(cmd, caRow(ca))
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the CA's PEM private key: make and send the proof here")
	cmd.Flags().StringVar(&proofFile, "proof", "", "a PEM certificate signed by the CA whose subject CN is the pending verification code")
	cmd.MarkFlagsOneRequired("key", "proof")
	cmd.MarkFlagsMutuallyExclusive("key", "proof")
	return cmd
}
