package security

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/test/testenv"
)

// Every failed device credential gets the same answer, so a caller cannot
// tell a registered device id from an unknown one.
func TestOneAnswerForEveryFailedCredential(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	real := env.CreateDevice(t, "real")
	off := env.CreateDevice(t, "off")
	if _, err := env.Hub.Registry.Update(context.Background(), "off", registry.Spec{Status: registry.StatusDisabled}, "*"); err != nil {
		t.Fatal(err)
	}
	sign := func(res, key string, exp time.Duration) string {
		tok, err := sas.New(res, key, "", env.Now().Add(exp))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	stranger := registry.NewKey()
	cases := []struct{ name, device, auth string }{
		{"unknown device", "ghost", sign(testenv.Host+"/devices/ghost", stranger, time.Hour)},
		{"registered device, wrong key", "real", sign(testenv.Host+"/devices/real", stranger, time.Hour)},
		{"expired token", "real", sign(testenv.Host+"/devices/real", real.SharedAccessKey, -time.Minute)},
		{"disabled device", "off", sign(testenv.Host+"/devices/off", off.SharedAccessKey, time.Hour)},
		{"another device's token", "off", sign(testenv.Host+"/devices/real", real.SharedAccessKey, time.Hour)},
		{"no token", "real", ""},
		{"garbage token", "real", "SharedAccessSignature sr=&sig=&se="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/devices/" + tc.device + "/messages/events", "/devices/" + tc.device + "/messages/devicebound"} {
				method := http.MethodPost
				if path[len(path)-1] == 'd' {
					method = http.MethodGet
				}
				wantUnauthorized(t, do(t, env, method, path, tc.auth, nil, []byte("x")))
			}
		})
	}
}
