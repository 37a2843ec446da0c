package hubapi

import (
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/devicehub/devicehub/internal/apierr"
)

// WholeBody is a request body held whole in memory, such as the Lambda
// adapter's (internal/app), decoded from the event: readBody takes its bytes
// without copying them. TakeRest returns the bytes not yet read and reads
// the body to its end; they belong to the caller from then on.
type WholeBody interface {
	io.ReadCloser
	TakeRest() []byte
}

// readBody reads a request body of at most limit bytes; a longer one (by its
// Content-Length or as read) is MessageTooLarge with the message tooLarge.
// The bytes are the caller's: no one else writes them.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, tooLarge string) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, apierr.MessageTooLarge.New(tooLarge)
	}
	if wb, ok := r.Body.(WholeBody); ok {
		body := wb.TakeRest()
		if int64(len(body)) > limit {
			return nil, apierr.MessageTooLarge.New(tooLarge)
		}
		return body, nil
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apierr.MessageTooLarge.New(tooLarge)
		}
		return nil, apierr.ArgumentInvalid.Wrap("cannot read the request body", err)
	}
	return body, nil
}

// maxFirstRead caps the first buffer readAll sizes by the declared length:
// a client that declares 300 KB and sends nothing must not make the server
// hold 300 KB for it. Bodies up to this size still take one allocation.
const maxFirstRead = 64 << 10

// readAll is io.ReadAll with a first buffer sized by the declared length
// (a hint only: a body may be shorter or longer) up to maxFirstRead, so a
// typical body is read in one allocation instead of a series of doublings;
// a longer one grows as it arrives, without overshooting an honest length.
func readAll(r io.Reader, hint int64) ([]byte, error) {
	size := 512
	if hint > 0 {
		size = int(min(hint, maxFirstRead)) + 1 // room to read EOF without growing
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			grow := len(b) // double
			if rest := hint + 1 - int64(len(b)); rest > 0 && rest < int64(grow) {
				grow = int(rest) // the declared rest, plus room for EOF
			}
			b = slices.Grow(b, grow)
		}
	}
}
