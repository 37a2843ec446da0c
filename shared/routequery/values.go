package routequery

import "strings"

// Values is a Message held in maps, for tests and for callers that have
// the whole message at hand. Property names match exactly first, then
// case-insensitively, as IoT Hub's message properties are not
// case-sensitive.
type Values struct {
	System map[string]string // by query name without '$': SystemContentType...
	App    map[string]string
	// JSON is the decoded body (DecodeBody); nil means the body is not
	// routable JSON.
	JSON any
	// Tags are the device's tags; nil means unknown.
	Tags map[string]any
}

var _ Message = Values{}

// SystemProperty implements Message.
func (v Values) SystemProperty(name string) (string, bool) { return lookup(v.System, name) }

// ApplicationProperty implements Message.
func (v Values) ApplicationProperty(name string) (string, bool) { return lookup(v.App, name) }

// Body implements Message.
func (v Values) Body() (any, bool) { return v.JSON, v.JSON != nil }

// TwinTags implements Message.
func (v Values) TwinTags() (map[string]any, bool) { return v.Tags, v.Tags != nil }

func lookup(m map[string]string, name string) (string, bool) {
	if s, ok := m[name]; ok {
		return s, true
	}
	for k, s := range m {
		if strings.EqualFold(k, name) {
			return s, true
		}
	}
	return "", false
}
