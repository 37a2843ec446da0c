package hubclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/devicehub/devicehub/shared/iothub"
)

// C2DMessage is a cloud-to-device message to send.
type C2DMessage struct {
	Body            []byte
	MessageID       string
	CorrelationID   string
	UserID          string
	ContentType     string
	ContentEncoding string
	Ack             string    // none, positive, negative, full
	Expiry          time.Time // zero: the hub's default TTL
	Properties      map[string]string
}

// SendC2D sends a message to a device (service side).
func (c *Client) SendC2D(ctx context.Context, deviceID string, m C2DMessage) (iothub.C2DSent, error) {
	hdr := http.Header{}
	set := func(k, v string) {
		if v != "" {
			hdr.Set(k, v)
		}
	}
	set("iothub-messageid", m.MessageID)
	set("iothub-correlationid", m.CorrelationID)
	set("iothub-userid", m.UserID)
	set("iothub-contenttype", m.ContentType)
	set("iothub-contentencoding", m.ContentEncoding)
	set("iothub-ack", m.Ack)
	if !m.Expiry.IsZero() {
		hdr.Set("iothub-expiry", m.Expiry.UTC().Format(time.RFC3339Nano))
	}
	for k, v := range m.Properties {
		hdr.Set("iothub-app-"+k, v)
	}
	body := m.Body
	if body == nil {
		body = []byte{}
	}
	var sent iothub.C2DSent
	resp, err := c.Do(ctx, http.MethodPost, DevicePath(deviceID)+"/messages/devicebound", hdr, body)
	if err != nil {
		return sent, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&sent); err != nil {
		return sent, fmt.Errorf("hubclient: decode send answer: %w", err)
	}
	return sent, nil
}

// PurgeC2D removes every pending message of a device.
func (c *Client) PurgeC2D(ctx context.Context, deviceID string) (iothub.PurgeResult, error) {
	var out iothub.PurgeResult
	_, err := c.doJSON(ctx, http.MethodDelete, DevicePath(deviceID)+"/commands", nil, nil, &out)
	return out, err
}

// C2DStatus looks up a device's retained messages with this message id.
func (c *Client) C2DStatus(ctx context.Context, deviceID, messageID string) ([]iothub.C2DStatus, error) {
	var out []iothub.C2DStatus
	_, err := c.doJSON(ctx, http.MethodGet, DevicePath(deviceID)+"/c2d/messages/"+url.PathEscape(messageID), nil, nil, &out)
	return out, err
}

// C2DDeadLetters lists one page of a device's dead-lettered messages; pass
// the returned continuation to get the next page ("" when done).
func (c *Client) C2DDeadLetters(ctx context.Context, deviceID string, top int, continuation string) ([]iothub.C2DStatus, string, error) {
	hdr := http.Header{}
	if continuation != "" {
		hdr.Set("x-ms-continuation", continuation)
	}
	path := DevicePath(deviceID) + "/c2d/deadletters"
	if top > 0 {
		path += "?top=" + strconv.Itoa(top)
	}
	var out []iothub.C2DStatus
	h, err := c.doJSON(ctx, http.MethodGet, path, hdr, nil, &out)
	if err != nil {
		return nil, "", err
	}
	return out, h.Get("x-ms-continuation"), nil
}

// RequeueC2D re-enqueues a device's dead-lettered message as a new one.
func (c *Client) RequeueC2D(ctx context.Context, deviceID, messageID string) (iothub.C2DSent, error) {
	var out iothub.C2DSent
	_, err := c.doJSON(ctx, http.MethodPost, DevicePath(deviceID)+"/c2d/deadletters/"+url.PathEscape(messageID)+"/requeue", nil, nil, &out)
	return out, err
}

// FeedbackBatch is a batch of feedback records under a lock.
type FeedbackBatch struct {
	LockToken string                  `json:"lockToken"`
	Records   []iothub.FeedbackRecord `json:"records"`
}

// ReceiveFeedback returns the next feedback batch, or nil when none is waiting.
func (c *Client) ReceiveFeedback(ctx context.Context) (*FeedbackBatch, error) {
	resp, err := c.Do(ctx, http.MethodGet, "/messages/serviceBound/feedback", nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	b := &FeedbackBatch{LockToken: strings.Trim(resp.Header.Get("ETag"), `"`)}
	if err := json.NewDecoder(resp.Body).Decode(&b.Records); err != nil {
		return nil, fmt.Errorf("hubclient: decode feedback: %w", err)
	}
	return b, nil
}

// CompleteFeedback removes a batch's records from the feedback queue.
func (c *Client) CompleteFeedback(ctx context.Context, lockToken string) error {
	return c.noContent(ctx, http.MethodDelete, "/messages/serviceBound/feedback/"+url.PathEscape(lockToken), nil)
}

// AbandonFeedback makes a batch's records due again.
func (c *Client) AbandonFeedback(ctx context.Context, lockToken string) error {
	return c.noContent(ctx, http.MethodPost, "/messages/serviceBound/feedback/"+url.PathEscape(lockToken)+"/abandon", nil)
}

// C2DDelivery is a message a device received, under its lock. Its JSON is
// camelCase like every other devicehub answer.
type C2DDelivery struct {
	LockToken       string            `json:"lockToken"`
	MessageID       string            `json:"messageId"`
	CorrelationID   string            `json:"correlationId,omitempty"`
	UserID          string            `json:"userId,omitempty"`
	ContentType     string            `json:"contentType,omitempty"`
	ContentEncoding string            `json:"contentEncoding,omitempty"`
	SequenceNumber  int64             `json:"sequenceNumber"`
	DeliveryCount   int               `json:"deliveryCount"`
	Ack             string            `json:"ack"`
	EnqueuedTime    time.Time         `json:"enqueuedTimeUtc"`
	Expiry          time.Time         `json:"expiryTimeUtc"`
	Properties      map[string]string `json:"properties"`
	Body            []byte            `json:"body,omitempty"`
}

// ReceiveC2D receives the device's next due message, or nil when none is (device side).
func (c *Client) ReceiveC2D(ctx context.Context) (*C2DDelivery, error) {
	p, err := c.devicePath()
	if err != nil {
		return nil, err
	}
	hdr := http.Header{}
	hdr.Set("iothub-to", p+"/messages/devicebound")
	resp, err := c.Do(ctx, http.MethodGet, p+"/messages/devicebound", hdr, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("hubclient: read message: %w", err)
	}
	h := resp.Header
	d := &C2DDelivery{
		LockToken: strings.Trim(h.Get("ETag"), `"`), MessageID: h.Get("iothub-messageid"),
		CorrelationID: h.Get("iothub-correlationid"), UserID: h.Get("iothub-userid"), Ack: h.Get("iothub-ack"),
		// The message's own content type and encoding; Content-Type is
		// application/octet-stream when the sender set none.
		ContentType: h.Get("ContentType"), ContentEncoding: h.Get("ContentEncoding"),
		Body: body, Properties: map[string]string{},
	}
	// The hub always sends these; a malformed one reads as zero rather than
	// losing a message that is already locked.
	d.SequenceNumber, _ = strconv.ParseInt(h.Get("iothub-sequencenumber"), 10, 64)
	d.DeliveryCount, _ = strconv.Atoi(h.Get("iothub-deliverycount"))
	d.EnqueuedTime, _ = time.Parse(time.RFC3339Nano, h.Get("iothub-enqueuedtime"))
	d.Expiry, _ = time.Parse(time.RFC3339Nano, h.Get("iothub-expiry"))
	for k, vs := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "iothub-app-") && len(vs) > 0 {
			d.Properties[lk[len("iothub-app-"):]] = vs[0]
		}
	}
	return d, nil
}

// CompleteC2D settles a received message as delivered.
func (c *Client) CompleteC2D(ctx context.Context, lockToken string) error {
	return c.settleC2D(ctx, http.MethodDelete, lockToken, "")
}

// RejectC2D dead-letters a received message.
func (c *Client) RejectC2D(ctx context.Context, lockToken string) error {
	return c.settleC2D(ctx, http.MethodDelete, lockToken, "?reject")
}

// AbandonC2D makes a received message due again.
func (c *Client) AbandonC2D(ctx context.Context, lockToken string) error {
	return c.settleC2D(ctx, http.MethodPost, lockToken, "/abandon")
}

func (c *Client) settleC2D(ctx context.Context, method, lockToken, suffix string) error {
	p, err := c.devicePath()
	if err != nil {
		return err
	}
	hdr := http.Header{}
	hdr.Set("If-Match", quoteETag(lockToken))
	return c.noContent(ctx, method, p+"/messages/devicebound/"+url.PathEscape(lockToken)+suffix, hdr)
}

func (c *Client) noContent(ctx context.Context, method, path string, hdr http.Header) error {
	resp, err := c.Do(ctx, method, path, hdr, nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
