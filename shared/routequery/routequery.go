// Package routequery parses and evaluates IoT Hub's message routing query
// language (Microsoft's "IoT Hub message routing query syntax"): conditions
// over system properties ($contentType, $connectionDeviceId...),
// application properties (by bare name), the JSON body ($body.a.b) and the
// device's tags ($twin.tags.x). docs/ROUTING-QUERY.md holds the grammar.
//
// A condition that evaluates to null or undefined is false, as in IoT Hub.
package routequery

import (
	"fmt"
)

// Query is a parsed condition, safe for concurrent use.
type Query struct {
	src      string
	root     *node
	usesBody bool
	usesTwin bool
}

// SyntaxError is a condition that does not parse; Pos is the 1-based
// character offset where parsing failed.
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("position %d: %s", e.Pos, e.Msg) }

// MaxDepth bounds how deeply a condition may nest (parentheses, NOT, unary
// signs, function calls, operator chains), so that a hostile condition
// cannot exhaust the stack of the parser or of Match.
const MaxDepth = 64

// Parse parses one condition. A condition that does not parse returns a
// *SyntaxError.
func Parse(src string) (*Query, error) {
	p := parser{lx: lexer{src: src}}
	root, err := p.parse()
	if err != nil {
		return nil, err
	}
	return &Query{src: src, root: root, usesBody: p.usesBody, usesTwin: p.usesTwin}, nil
}

// String returns the condition as written.
func (q *Query) String() string { return q.src }

// UsesBody reports whether the condition reads $body (the router decodes a
// body only for conditions that read it).
func (q *Query) UsesBody() bool { return q.usesBody }

// UsesTwin reports whether the condition reads $twin (the router reads the
// device's tags only for conditions that read them).
func (q *Query) UsesTwin() bool { return q.usesTwin }

// Message is what a condition reads. Implementations may compute values
// lazily: Match calls Body and TwinTags at most once per evaluation, and
// only when the evaluation needs them (AND and OR stop at their first
// false, respectively true, operand). A property referenced twice in a
// condition may be looked up twice.
type Message interface {
	// SystemProperty returns a system property by its query name without
	// the '$' (e.g. "contentType", "connectionDeviceId"): one of the
	// System* constants for the names IoT Hub documents (matched
	// case-insensitively in the condition), otherwise the name as written.
	SystemProperty(name string) (string, bool)
	// ApplicationProperty returns an application property by name.
	ApplicationProperty(name string) (string, bool)
	// Body returns the decoded JSON body (DecodeBody), false when the
	// message's body is not routable JSON.
	Body() (any, bool)
	// TwinTags returns the device's tags, false when unknown.
	TwinTags() (map[string]any, bool)
}

// System property names as Match passes them to Message.SystemProperty:
// the routing query keywords of IoT Hub's documentation. A condition names
// them with a '$', in any case ($contentType, $CONTENTTYPE).
const (
	SystemContentType                  = "contentType"                  // content-type
	SystemContentEncoding              = "contentEncoding"              // content-encoding
	SystemConnectionDeviceID           = "connectionDeviceId"           // iothub-connection-device-id
	SystemConnectionModuleID           = "connectionModuleId"           // iothub-connection-module-id
	SystemConnectionDeviceGenerationID = "connectionDeviceGenerationId" // iothub-connection-auth-generation-id
	SystemConnectionAuthMethod         = "connectionAuthMethod"         // iothub-connection-auth-method
	SystemEnqueuedTime                 = "enqueuedTime"                 // iothub-enqueuedtime
	SystemMessageID                    = "messageId"                    // message-id
	SystemCorrelationID                = "correlationId"                // correlation-id
	SystemUserID                       = "userId"                       // user-id
	SystemDataSchema                   = "dt-dataschema"                // dt-dataschema
	SystemSubject                      = "dt-subject"                   // dt-subject
)

// Match evaluates the condition against m: true only when it evaluates to
// the boolean true.
func (q *Query) Match(m Message) bool {
	if q == nil || q.root == nil {
		return false
	}
	e := env{m: m}
	v := e.eval(q.root)
	return v.k == kindBool && v.b
}
