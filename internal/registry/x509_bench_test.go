package registry

import (
	"context"
	"testing"
)

// BenchmarkAuthenticatorX509 is the per-request cost of an X.509 device with
// its device and the CAs cached: thumbprints (two hashes of the DER) for a
// selfSigned device, a chain verification (ECDSA P-256, through an
// intermediate) for a CA-signed one.
func BenchmarkAuthenticatorX509(b *testing.B) {
	f := newX509Fixture(&testing.T{})
	for _, bc := range []struct {
		name, id string
		ctx      context.Context
	}{
		{"selfSigned", "self", WithClientChain(context.Background(), chainOf(f.selfCert))},
		{"certificateAuthority", "ca-dev", WithClientChain(context.Background(), chainOf(f.caLeaf, f.inter))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := f.auth.Device(bc.ctx, "", bc.id); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.auth.Device(bc.ctx, "", bc.id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
