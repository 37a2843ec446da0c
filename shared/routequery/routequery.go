// Package routequery parses and evaluates IoT Hub's message routing query
// language (Microsoft's "IoT Hub message routing query syntax"): conditions
// over system properties ($contentType, $connectionDeviceId...),
// application properties (by bare name), the JSON body ($body.a.b) and the
// device's tags ($twin.tags.x). docs/ROUTING-QUERY.md holds the grammar.
//
// A condition that evaluates to null or undefined is false, as in IoT Hub.
package routequery

import (
	"errors"
	"fmt"
)

// Query is a parsed condition, safe for concurrent use.
type Query struct {
	src string
}

// SyntaxError is a condition that does not parse; Pos is the 1-based
// character offset where parsing failed.
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("position %d: %s", e.Pos, e.Msg) }

// Parse parses one condition.
func Parse(src string) (*Query, error) {
	return nil, errors.New("routequery: not implemented")
}

// String returns the condition as written.
func (q *Query) String() string { return q.src }

// UsesBody reports whether the condition reads $body (the router decodes a
// body only for conditions that read it).
func (q *Query) UsesBody() bool { return false }

// UsesTwin reports whether the condition reads $twin (the router reads the
// device's tags only for conditions that read them).
func (q *Query) UsesTwin() bool { return false }

// Message is what a condition reads. Implementations may compute values
// lazily; Match calls each method at most once per evaluation it needs.
type Message interface {
	// SystemProperty returns a system property by its query name without
	// the '$' (e.g. "contentType", "connectionDeviceId").
	SystemProperty(name string) (string, bool)
	// ApplicationProperty returns an application property by name.
	ApplicationProperty(name string) (string, bool)
	// Body returns the decoded JSON body (DecodeBody), false when the
	// message's body is not routable JSON.
	Body() (any, bool)
	// TwinTags returns the device's tags, false when unknown.
	TwinTags() (map[string]any, bool)
}

// Match evaluates the condition against m: true only when it evaluates to
// the boolean true.
func (q *Query) Match(m Message) bool { return false }

// DecodeBody decodes body as IoT Hub does for routing on $body: only when
// contentType is application/json and contentEncoding is UTF-8, UTF-16 or
// UTF-32 (case-insensitive); false otherwise or when the body is not JSON.
func DecodeBody(contentType, contentEncoding string, body []byte) (any, bool) {
	return nil, false
}
