package hubapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/shared/iothub"
)

// IoT Hub's JSON batch (Content-Type application/vnd.microsoft.iothub.json)
// is an array of {"body", "base64Encoded", "properties"}. parseBatchFast
// (batchfast.go) takes the shape devices send; parseBatch, here, takes
// anything else encoding/json accepts and words the errors.

// batchItem is one message of IoT Hub's JSON batch.
type batchItem struct {
	Body          json.RawMessage   `json:"body"`
	Base64Encoded *bool             `json:"base64Encoded"`
	Properties    map[string]string `json:"properties"`
}

// parseBatch decodes any batch with encoding/json and words its errors.
func parseBatch(raw []byte) ([]d2c.Message, error) {
	var err error
	var items []batchItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, apierr.ArgumentInvalid.New("batch is not a JSON array of messages: " + err.Error())
	}
	if len(items) == 0 {
		return nil, apierr.ArgumentInvalid.New("batch holds no message")
	}
	msgs := make([]d2c.Message, len(items))
	for i, it := range items {
		m := &msgs[i]
		if m.Body, err = batchBody(it); err != nil {
			return nil, apierr.ArgumentInvalid.New("batch message " + strconv.Itoa(i) + ": " + err.Error())
		}
		for k, v := range it.Properties {
			if p, ok := batchProperty(m, k, v); ok {
				m.Properties = append(m.Properties, p)
			}
		}
		slices.SortFunc(m.Properties, func(a, b iothub.Property) int { return strings.Compare(a.Name, b.Name) })
	}
	return msgs, nil
}

func batchBody(it batchItem) ([]byte, error) {
	if len(it.Body) == 0 || string(it.Body) == "null" {
		return nil, errors.New("body is missing")
	}
	var s string
	isString := it.Body[0] == '"'
	if isString {
		if err := json.Unmarshal(it.Body, &s); err != nil {
			return nil, errors.New("body is not a valid JSON string")
		}
	}
	if it.Base64Encoded == nil || *it.Base64Encoded {
		if !isString {
			return nil, errors.New("body must be a base64 string unless base64Encoded is false")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, errors.New("body is not valid base64")
		}
		return b, nil
	}
	if isString {
		return []byte(s), nil
	}
	return []byte(it.Body), nil
}

// batchProperty routes one property of a batch message, for both parsers:
// IoT Hub's system property names (any case) set m's fields; iothub-app-<name>
// and unprefixed names are application properties, returned with ok; other
// iothub-* names are the hub's to set, never the device's, and are dropped.
func batchProperty(m *d2c.Message, k, v string) (_ iothub.Property, ok bool) {
	switch {
	case strings.EqualFold(k, "iothub-messageid"):
		m.MessageID = v
	case strings.EqualFold(k, "iothub-correlationid"):
		m.CorrelationID = v
	case strings.EqualFold(k, "iothub-userid"):
		m.UserID = v
	case strings.EqualFold(k, "iothub-contenttype"):
		m.ContentType = v
	case strings.EqualFold(k, "iothub-contentencoding"):
		m.ContentEncoding = v
	case hasPrefixFold(k, appPrefix):
		return iothub.Property{Name: k[len(appPrefix):], Value: v}, true
	case hasPrefixFold(k, "iothub-"):
	default:
		return iothub.Property{Name: k, Value: v}, true
	}
	return iothub.Property{}, false
}

// isSystemProperty reports whether batchProperty keeps a name out of the
// application properties.
func isSystemProperty(k string) bool {
	return hasPrefixFold(k, "iothub-") && !hasPrefixFold(k, appPrefix)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
