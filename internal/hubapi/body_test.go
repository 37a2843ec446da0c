package hubapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/devicehub/devicehub/internal/apierr"
)

// wholeBody is a WholeBody over b.
type wholeBody struct {
	bytes.Reader
	b []byte
}

func (*wholeBody) Close() error { return nil }

func (w *wholeBody) TakeRest() []byte {
	rest := w.b[len(w.b)-w.Len():]
	w.Reset(nil)
	return rest
}

// A body held whole is taken as it is, within the same limit as one that
// is read.
func TestReadBodyTakesAWholeBody(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		whole      bool
		skip       int
		want       string
		tooLarge   bool
	}{
		{"whole", "0123456789", true, 0, "0123456789", false},
		{"whole, partly read", "0123456789", true, 4, "456789", false},
		{"whole, at the limit", strings.Repeat("x", 16), true, 0, strings.Repeat("x", 16), false},
		{"whole, over the limit", strings.Repeat("x", 17), true, 0, "", true},
		{"read, over the limit", strings.Repeat("x", 17), false, 0, "", true},
		{"read", "0123456789", false, 0, "0123456789", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.ContentLength = -1 // unknown: the limit applies to what is read
			if tc.whole {
				wb := &wholeBody{b: []byte(tc.body)}
				wb.Reset(wb.b)
				_, _ = io.CopyN(io.Discard, wb, int64(tc.skip))
				r.Body = wb
			} else {
				r.Body = io.NopCloser(strings.NewReader(tc.body))
			}
			got, err := readBody(httptest.NewRecorder(), r, 16, "too large")
			if tc.tooLarge {
				if apierr.KindOf(err) != apierr.TooLarge {
					t.Fatalf("err %v, want TooLarge", err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("%q, %v", got, err)
			}
			if n, _ := r.Body.Read(make([]byte, 1)); n != 0 {
				t.Fatal("the body was not read to its end")
			}
		})
	}
}
