package hubapi

import (
	"net/http"
	"testing"

	"github.com/devicehub/devicehub/internal/apierr"
)

// Every kind has its own status; only Internal (and what is not a kind) is
// a 500, and each catalogue entry's number starts with its status.
func TestStatusOfEveryKind(t *testing.T) {
	seen := map[int]apierr.Kind{}
	for k := apierr.Internal; k <= apierr.NotAllowed; k++ { // NotAllowed is the last kind
		st := statusOf(k)
		if prev, dup := seen[st]; dup {
			t.Errorf("kinds %d and %d both map to %d", prev, k, st)
		}
		seen[st] = k
		if (st == http.StatusInternalServerError) != (k == apierr.Internal) {
			t.Errorf("kind %d maps to %d", k, st)
		}
	}
	if statusOf(apierr.NotAllowed+1) != http.StatusInternalServerError || statusOf(-1) != http.StatusInternalServerError {
		t.Error("an unknown kind must be a 500")
	}
	for _, c := range []apierr.Code{apierr.ArgumentInvalid, apierr.IotHubUnauthorizedAccess, apierr.DeviceMaximumQueueDepthExceeded, apierr.RouteNotFound,
		apierr.DeviceNotFound, apierr.MessageNotFound, apierr.CertificateNotFound, apierr.MethodNotAllowed, apierr.DeviceAlreadyExists,
		apierr.MessageAlreadyRequeued, apierr.PreconditionFailedETag, apierr.DeviceMessageLockLost, apierr.FeedbackLockLost,
		apierr.MessageTooLarge, apierr.ThrottlingException, apierr.ServerError, apierr.ServiceUnavailable} {
		if c.Number/1000 != statusOf(c.Kind) {
			t.Errorf("%s: number %d does not start with its status %d", c.Name, c.Number, statusOf(c.Kind))
		}
	}
}
