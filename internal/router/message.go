package router

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/d2c"
	"github.com/devicehub/devicehub/internal/jsonstr"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/routequery"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// queryMessage is a record as conditions read it: every value is computed
// when a condition first asks for it.
type queryMessage struct {
	inv *invocation
	m   *telemetry.Message

	bodyRead bool
	body     any
	bodyOK   bool
	// tagErr is the failure to read the device's tags: the conditions'
	// results do not count then.
	tagErr error
}

var _ routequery.Message = (*queryMessage)(nil)

// enqueuedTimeLayout is ISO 8601 in UTC with milliseconds, as IoT Hub
// writes its times; the strings sort as the times do.
const enqueuedTimeLayout = "2006-01-02T15:04:05.000Z"

// SystemProperty returns a system property by its routing query name.
func (q *queryMessage) SystemProperty(name string) (string, bool) {
	m := q.m
	var v string
	switch name {
	case routequery.SystemContentType:
		v = m.ContentType
	case routequery.SystemContentEncoding:
		v = m.ContentEncoding
	case routequery.SystemConnectionDeviceID:
		v = m.DeviceID
	case routequery.SystemConnectionDeviceGenerationID:
		v = m.AuthGenerationID
	case routequery.SystemConnectionAuthMethod:
		v = m.AuthMethod
	case routequery.SystemMessageID:
		v = m.MessageID
	case routequery.SystemCorrelationID:
		v = m.CorrelationID
	case routequery.SystemUserID:
		v = m.UserID
	case routequery.SystemEnqueuedTime:
		if m.EnqueuedTime.IsZero() {
			return "", false
		}
		return m.EnqueuedTime.UTC().Format(enqueuedTimeLayout), true
	}
	return v, v != ""
}

// ApplicationProperty returns an application property: by its exact name,
// else by name without case, as the hub's property rule compares names.
func (q *queryMessage) ApplicationProperty(name string) (string, bool) {
	if v, ok := q.m.Properties[name]; ok {
		return v, true
	}
	for k, v := range q.m.Properties {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// Body decodes the body once per record, as IoT Hub does for $body.
func (q *queryMessage) Body() (any, bool) {
	if !q.bodyRead {
		q.bodyRead = true
		q.body, q.bodyOK = routequery.DecodeBody(q.m.ContentType, q.m.ContentEncoding, q.m.Body)
	}
	return q.body, q.bodyOK
}

// TwinTags returns the device's tags, read once per invocation.
func (q *queryMessage) TwinTags() (map[string]any, bool) {
	tags, err := q.inv.deviceTags(q.m.DeviceID)
	if err != nil {
		q.tagErr = err
		return nil, false
	}
	return tags, tags != nil
}

func isNotFound(err error) bool { return err != nil && apierr.KindOf(err) == apierr.NotFound }

// routedData is the message the endpoint gets for the record: the record
// itself, or its encoding with the endpoint's enrichments, made once per
// record for the endpoints that share them.
func (inv *invocation) routedData(rec *record, ep *endpoint) ([]byte, error) {
	if ep.group < 0 {
		return rec.data, nil
	}
	if d := inv.enriched[ep.group]; d != nil {
		return d, nil
	}
	d, err := inv.enrich(rec, inv.r.groups[ep.group])
	if err != nil {
		return nil, err
	}
	inv.enriched[ep.group] = d
	return d, nil
}

// enrich returns the record with the enrichments' properties, or as it is
// when none applies.
func (inv *invocation) enrich(rec *record, ens []enrichment) ([]byte, error) {
	extra := make([]iothub.Property, 0, len(ens))
	for _, en := range ens {
		v := en.value
		switch {
		case en.tag != nil:
			tags, err := inv.deviceTags(rec.msg.DeviceID)
			if err != nil {
				return nil, err
			}
			var ok bool
			if v, ok = tagValue(tags, en.tag); !ok {
				continue
			}
		case en.value == valueHubName:
			v = inv.r.hubName
		}
		extra = append(extra, iothub.Property{Name: en.key, Value: v})
	}
	if len(extra) == 0 {
		return rec.data, nil
	}
	m := &rec.msg
	props := make([]iothub.Property, 0, len(m.Properties)+len(extra))
	for name, v := range m.Properties {
		replaced := slices.ContainsFunc(extra, func(p iothub.Property) bool { return strings.EqualFold(p.Name, name) })
		if !replaced {
			props = append(props, iothub.Property{Name: name, Value: v})
		}
	}
	// By name, so that a message is always encoded the same way.
	slices.SortFunc(props, func(a, b iothub.Property) int { return cmp.Compare(a.Name, b.Name) })
	props = append(props, extra...)
	return encode(m, props), nil
}

// v2Head starts every version 2 envelope d2c writes.
const v2Head = `{"v":2`

// encode writes the message as a version 2 envelope with props, keeping
// its source: d2c's encoder writes device messages, whose "s" is absent.
func encode(m *telemetry.Message, props []iothub.Property) []byte {
	out := d2c.EncodeRecord(telemetry.V2, &m.SystemProperties, props, m.Body)
	if m.Source == "" || m.Source == sourceMessages || !bytes.HasPrefix(out, []byte(v2Head)) {
		return out
	}
	src := jsonstr.Append([]byte(`,"s":`), m.Source)
	return slices.Insert(out, len(v2Head), src...)
}

// tagValue reads a tag at path; only strings, numbers and booleans make
// an enrichment (IoT Hub enriches with primitive values only).
func tagValue(tags map[string]any, path []string) (string, bool) {
	var v any = tags
	for _, name := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = obj[name]; !ok {
			return "", false
		}
	}
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case json.Number:
		return v.String(), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	}
	return "", false
}
