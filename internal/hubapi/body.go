package hubapi

import (
	"errors"
	"io"
	"net/http"

	"github.com/devicehub/devicehub/internal/apierr"
)

// readBody reads a request body of at most limit bytes; a longer one (by its
// Content-Length or as read) is MessageTooLarge with the message tooLarge.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, tooLarge string) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, apierr.MessageTooLarge.New(tooLarge)
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

// readAll is io.ReadAll with a first buffer sized by the declared length
// (a hint only: a body may be shorter or longer), so a body is read in one
// allocation instead of a series of doublings.
func readAll(r io.Reader, hint int64) ([]byte, error) {
	size := 512
	if hint > 0 && hint < 1<<30 {
		size = int(hint) + 1 // room to read EOF without growing
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
			b = append(b, 0)[:len(b)]
		}
	}
}
