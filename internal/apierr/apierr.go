// Package apierr is the error vocabulary the domain packages share: one
// catalogue of IoT Hub's named errors (catalogue.go), each with the Kind that
// internal/hubapi maps to an HTTP status in one place.
package apierr

import (
	"errors"
	"time"
)

// Kind classifies an error for the API layer.
type Kind int

// Kinds, from the caller's point of view.
const (
	Internal           Kind = iota // a bug or an unclassified failure (500)
	Invalid                        // malformed or out-of-range input (400)
	Unauthorized                   // missing, malformed, expired or wrong credentials (401)
	Forbidden                      // authenticated but not allowed, or a quota (403)
	NotFound                       // no such device, message or lock (404)
	Conflict                       // already exists (409)
	PreconditionFailed             // stale etag or lock token (412)
	TooLarge                       // message or batch over its size limit (413)
	Unsupported                    // media type not supported (415)
	Throttled                      // a downstream throttle; retry later (429)
	Unavailable                    // a downstream outage; retry later (503)
	NotAllowed                     // the path exists, not for this method (405)
)

// Error is a classified error: a catalogue Code, the message the caller sees
// and, for logs only, its cause.
type Error struct {
	Code
	Message    string
	RetryAfter time.Duration
	Err        error // the cause, for logs; never shown to callers
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Name + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Name + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// WithRetryAfter sets the Retry-After hint of a throttle or outage.
func (e *Error) WithRetryAfter(d time.Duration) *Error { e.RetryAfter = d; return e }

// As returns the classified error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// KindOf returns the kind of err, Internal when unclassified.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return Internal
}
