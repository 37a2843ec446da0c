package hubclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/devicehub/devicehub/shared/iothub"
)

// Message is a device-to-cloud message to send.
type Message struct {
	Body            []byte
	MessageID       string
	CorrelationID   string
	ContentType     string
	ContentEncoding string
	Properties      map[string]string // application properties, without the iothub-app- prefix
}

func (c *Client) devicePath() (string, error) {
	if c.Conn.DeviceID == "" {
		return "", errors.New("hubclient: a device connection string is required")
	}
	return DevicePath(c.Conn.DeviceID), nil
}

// SendEvent sends one message the way the IoT SDKs do over HTTPS.
func (c *Client) SendEvent(ctx context.Context, m Message) error {
	p, err := c.devicePath()
	if err != nil {
		return err
	}
	hdr := http.Header{}
	hdr.Set("iothub-to", p+"/messages/events")
	set := func(k, v string) {
		if v != "" {
			hdr.Set(k, v)
		}
	}
	set("IoTHub-MessageId", m.MessageID)
	set("IoTHub-CorrelationId", m.CorrelationID)
	set("iothub-contenttype", m.ContentType)
	set("iothub-contentencoding", m.ContentEncoding)
	for k, v := range m.Properties {
		hdr.Set("iothub-app-"+k, v)
	}
	body := m.Body
	if body == nil {
		body = []byte{}
	}
	resp, err := c.Do(ctx, http.MethodPost, p+"/messages/events", hdr, body)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// SendEventBatch sends messages as one IoT Hub JSON batch.
func (c *Client) SendEventBatch(ctx context.Context, msgs []Message) error {
	p, err := c.devicePath()
	if err != nil {
		return err
	}
	type item struct {
		Body       string            `json:"body"`
		Properties map[string]string `json:"properties,omitempty"`
	}
	items := make([]item, len(msgs))
	for i, m := range msgs {
		props := map[string]string{}
		for k, v := range m.Properties {
			props["iothub-app-"+k] = v
		}
		for k, v := range map[string]string{"iothub-messageid": m.MessageID, "iothub-correlationid": m.CorrelationID,
			"iothub-contenttype": m.ContentType, "iothub-contentencoding": m.ContentEncoding} {
			if v != "" {
				props[k] = v
			}
		}
		items[i] = item{Body: base64.StdEncoding.EncodeToString(m.Body), Properties: props}
	}
	body, err := json.Marshal(items)
	if err != nil {
		return err
	}
	hdr := http.Header{"Content-Type": {iothub.BatchContentType}, "Iothub-To": {p + "/messages/events"}}
	resp, err := c.Do(ctx, http.MethodPost, p+"/messages/events", hdr, body)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
