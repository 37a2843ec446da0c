package iothub

import "strings"

// UnquoteETag returns an entity tag (an ETag or If-Match value, which for
// cloud-to-device messages is the lock token) without surrounding white
// space and double quotes. Clients send both forms: IoT Hub's ETags are
// quoted, but SDKs put the bare value in paths and some headers.
func UnquoteETag(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}
