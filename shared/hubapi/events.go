package hubapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/devicehub/devicehub/shared/apierr"
	"github.com/devicehub/devicehub/shared/d2c"
	"github.com/devicehub/devicehub/shared/registry"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// Telemetry ingests device-to-cloud messages.
type Telemetry interface {
	Ingest(ctx context.Context, id registry.Identity, msgs []d2c.Message) error
}

// BatchContentType marks a batch of messages in IoT Hub's JSON format.
const BatchContentType = "application/vnd.microsoft.iothub.json"

// Header and property names of IoT Hub's device protocol.
const (
	hdrMessageID       = "Iothub-Messageid"
	hdrCorrelationID   = "Iothub-Correlationid"
	hdrUserID          = "Iothub-Userid"
	hdrContentType     = "Iothub-Contenttype"
	hdrContentEncoding = "Iothub-Contentencoding"
	hdrAppPrefix       = "Iothub-App-"
	hdrDTSubject       = "Dt-Subject"
	appPrefix          = "iothub-app-"
)

// maxBatchBody bounds the JSON of a batch: 256 KB of messages grow by a third
// in base64, plus JSON punctuation and property names.
const maxBatchBody = d2c.MaxBatchSize*4/3 + 64<<10

func (s *server) postEvents(w http.ResponseWriter, r *http.Request, id registry.Identity) error {
	var msgs []d2c.Message
	var err error
	if isBatch(r.Header.Get("Content-Type")) {
		msgs, err = readBatch(w, r)
	} else {
		msgs, err = readSingle(w, r)
	}
	if err != nil {
		return err
	}
	if err := s.Telemetry.Ingest(r.Context(), id, msgs); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func isBatch(ct string) bool {
	if ct == "" {
		return false
	}
	if strings.EqualFold(ct, BatchContentType) {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == BatchContentType
}

func tooLarge(what string) error {
	return apierr.New(apierr.TooLarge, "MessageTooLarge", what+" exceeds 256 KB").WithNumber(413001)
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64, what string) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(what)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(what)
		}
		return nil, apierr.Wrap(apierr.Invalid, "ArgumentInvalid", "cannot read the request body", err).WithNumber(400004)
	}
	return body, nil
}

// readSingle reads one message: raw body, properties from headers. Header
// names reach the hub lower-cased through API Gateway, so application
// property names sent as headers are lower-cased in both hosts.
func readSingle(w http.ResponseWriter, r *http.Request) ([]d2c.Message, error) {
	body, err := readBody(w, r, d2c.MaxMessageSize, "message")
	if err != nil {
		return nil, err
	}
	m := d2c.Message{
		Body:            body,
		MessageID:       r.Header.Get(hdrMessageID),
		CorrelationID:   r.Header.Get(hdrCorrelationID),
		UserID:          r.Header.Get(hdrUserID),
		ContentType:     r.Header.Get(hdrContentType),
		ContentEncoding: r.Header.Get(hdrContentEncoding),
	}
	for k, vs := range r.Header {
		var name string
		switch {
		case strings.HasPrefix(k, hdrAppPrefix):
			name = strings.ToLower(k[len(hdrAppPrefix):])
		case k == hdrDTSubject:
			name = "dt-subject"
		default:
			continue
		}
		if len(vs) != 1 {
			return nil, apierr.New(apierr.Invalid, "ArgumentInvalid", "application property "+name+" is sent more than once").WithNumber(400004)
		}
		m.Properties = append(m.Properties, telemetry.Property{Name: name, Value: vs[0]})
	}
	slices.SortFunc(m.Properties, func(a, b telemetry.Property) int { return strings.Compare(a.Name, b.Name) })
	return []d2c.Message{m}, nil
}

// batchItem is one message of IoT Hub's JSON batch.
type batchItem struct {
	Body          json.RawMessage   `json:"body"`
	Base64Encoded *bool             `json:"base64Encoded"`
	Properties    map[string]string `json:"properties"`
}

// readBatch reads IoT Hub's batch: a JSON array of {body, base64Encoded,
// properties}; body is base64 unless base64Encoded is false.
func readBatch(w http.ResponseWriter, r *http.Request) ([]d2c.Message, error) {
	raw, err := readBody(w, r, maxBatchBody, "batch")
	if err != nil {
		return nil, err
	}
	var items []batchItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, apierr.New(apierr.Invalid, "ArgumentInvalid", "batch is not a JSON array of messages: "+err.Error()).WithNumber(400004)
	}
	if len(items) == 0 {
		return nil, apierr.New(apierr.Invalid, "ArgumentInvalid", "batch holds no message").WithNumber(400004)
	}
	msgs := make([]d2c.Message, len(items))
	for i, it := range items {
		m := &msgs[i]
		if m.Body, err = batchBody(it); err != nil {
			return nil, apierr.New(apierr.Invalid, "ArgumentInvalid", "batch message "+strconv.Itoa(i)+": "+err.Error()).WithNumber(400004)
		}
		for k, v := range it.Properties {
			switch strings.ToLower(k) {
			case "iothub-messageid":
				m.MessageID = v
			case "iothub-correlationid":
				m.CorrelationID = v
			case "iothub-userid":
				m.UserID = v
			case "iothub-contenttype":
				m.ContentType = v
			case "iothub-contentencoding":
				m.ContentEncoding = v
			default:
				name := k
				if len(k) >= len(appPrefix) && strings.EqualFold(k[:len(appPrefix)], appPrefix) {
					name = k[len(appPrefix):]
				} else if strings.HasPrefix(strings.ToLower(k), "iothub-") {
					continue // other system properties are the hub's to set, never the device's
				}
				m.Properties = append(m.Properties, telemetry.Property{Name: name, Value: v})
			}
		}
		slices.SortFunc(m.Properties, func(a, b telemetry.Property) int { return strings.Compare(a.Name, b.Name) })
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
