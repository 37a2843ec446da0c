package hubapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/c2d"
	"github.com/devicehub/devicehub/internal/msgrules"
	"github.com/devicehub/devicehub/internal/registry"
	"github.com/devicehub/devicehub/shared/iothub"
)

// C2DDevice is the device side of the cloud-to-device queue.
type C2DDevice interface {
	Receive(ctx context.Context, id registry.Identity) (*c2d.Delivery, error)
	Complete(ctx context.Context, id registry.Identity, lockToken string) error
	Reject(ctx context.Context, id registry.Identity, lockToken string) error
	Abandon(ctx context.Context, id registry.Identity, lockToken string) error
}

// C2DService is the service side of the cloud-to-device queue.
type C2DService interface {
	Send(ctx context.Context, deviceID string, m c2d.Message) (iothub.C2DSent, error)
	Purge(ctx context.Context, deviceID string) (int, error)
	Lookup(ctx context.Context, deviceID, messageID string) ([]iothub.C2DStatus, error)
	DeadLetters(ctx context.Context, deviceID string, limit int, cursor string) ([]iothub.C2DStatus, string, error)
	Requeue(ctx context.Context, deviceID, messageID string) (iothub.C2DSent, error)
}

// Feedback is the delivery feedback queue (service routes).
type Feedback interface {
	Receive(ctx context.Context) (*c2d.FeedbackBatch, error)
	Complete(ctx context.Context, lockToken string) error
	Abandon(ctx context.Context, lockToken string) error
}

// routeC2D registers the cloud-to-device and feedback routes.
func (s *server) routeC2D(mux *http.ServeMux) {
	if s.C2DDevice != nil {
		h := c2dDeviceHandlers{s: s, q: s.C2DDevice}
		s.handle(mux, "GET /devices/{id}/messages/devicebound", s.device(h.receive))
		s.handle(mux, "DELETE /devices/{id}/messages/devicebound/{lock}", s.device(h.settle))
		s.handle(mux, "POST /devices/{id}/messages/devicebound/{lock}/abandon", s.device(h.abandon))
	}
	if s.C2DService != nil {
		h := c2dServiceHandlers{s: s, q: s.C2DService}
		s.handle(mux, "POST /devices/{id}/messages/devicebound", s.service(h.send))
		s.handle(mux, "DELETE /devices/{id}/commands", s.service(h.purge))
		s.handle(mux, "GET /devices/{id}/c2d/messages/{messageId}", s.service(h.lookup))
		s.handle(mux, "GET /devices/{id}/c2d/deadletters", s.service(h.deadLetters))
		s.handle(mux, "POST /devices/{id}/c2d/deadletters/{messageId}/requeue", s.service(h.requeue))
	}
	if s.Feedback != nil {
		h := feedbackHandlers{s: s, f: s.Feedback}
		// IoT Hub's docs spell it serviceBound and servicebound: match any case.
		s.handle(mux, "GET /messages/{sb}/feedback", s.service(serviceBound(h.receive)))
		s.handle(mux, "DELETE /messages/{sb}/feedback/{lock}", s.service(serviceBound(h.complete)))
		s.handle(mux, "POST /messages/{sb}/feedback/{lock}/abandon", s.service(serviceBound(h.abandon)))
	}
}

func serviceBound(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !strings.EqualFold(r.PathValue("sb"), "servicebound") {
			return apierr.RouteNotFound.New("no route for " + r.Method + " " + r.URL.Path)
		}
		return h(w, r)
	}
}

// Header names of cloud-to-device messages.
const (
	hdrAck           = "Iothub-Ack"
	hdrExpiry        = "Iothub-Expiry"
	hdrSequence      = "Iothub-Sequencenumber"
	hdrEnqueued      = "Iothub-Enqueuedtime"
	hdrDeliveryCount = "Iothub-Deliverycount"
	hdrTo            = "Iothub-To"
)

type c2dDeviceHandlers struct {
	s *server
	q C2DDevice
}

func (h c2dDeviceHandlers) receive(w http.ResponseWriter, r *http.Request, id registry.Identity) error {
	d, err := h.q.Receive(r.Context(), id)
	if err != nil {
		return err
	}
	if d == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	hd := w.Header()
	// The SDKs take the ETag minus its first and last character as the lock
	// token, so it must be quoted.
	hd.Set("ETag", `"`+d.LockToken+`"`)
	hd.Set(hdrMessageID, d.MessageID)
	hd.Set(hdrSequence, strconv.FormatInt(d.SequenceNumber, 10))
	hd.Set(hdrTo, "/devices/"+id.DeviceID+"/messages/deviceBound")
	hd.Set(hdrExpiry, d.Expiry.UTC().Format(time.RFC3339Nano))
	hd.Set(hdrEnqueued, d.EnqueuedTime.UTC().Format(time.RFC3339Nano))
	hd.Set(hdrDeliveryCount, strconv.Itoa(d.DeliveryCount))
	hd.Set(hdrCorrelationID, d.CorrelationID)
	hd.Set(hdrUserID, d.UserID)
	hd.Set(hdrAck, string(d.Ack))
	for _, p := range d.Properties {
		hd.Set(appPrefix+p.Name, p.Value)
	}
	ct := d.ContentType
	if ct != "" {
		hd.Set("ContentType", ct) // the C SDK reads these two
	} else {
		ct = "application/octet-stream"
	}
	if d.ContentEncoding != "" {
		hd.Set("ContentEncoding", d.ContentEncoding)
	}
	hd.Set("Content-Type", ct)
	hd.Set("Content-Length", strconv.Itoa(len(d.Body)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(d.Body)
	if err != nil {
		// The message stays locked and comes back when the lock lapses.
		h.s.Logger.WarnContext(r.Context(), "c2d: writing a delivery failed", slog.String("device", id.DeviceID), slog.Any("error", err))
	}
	return nil
}

// lockFrom returns the path's lock token, checked against If-Match (quoted
// or not) when the client sends one.
func lockFrom(r *http.Request) (string, error) {
	lock := r.PathValue("lock")
	if im := iothub.UnquoteETag(r.Header.Get("If-Match")); im != "" && im != "*" && im != iothub.UnquoteETag(lock) {
		return "", apierr.PreconditionFailedETag.New("If-Match does not match the lock token in the path")
	}
	return lock, nil
}

func (h c2dDeviceHandlers) settle(w http.ResponseWriter, r *http.Request, id registry.Identity) error {
	lock, err := lockFrom(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Has("reject") {
		err = h.q.Reject(r.Context(), id, lock)
	} else {
		err = h.q.Complete(r.Context(), id, lock)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h c2dDeviceHandlers) abandon(w http.ResponseWriter, r *http.Request, id registry.Identity) error {
	lock, err := lockFrom(r)
	if err != nil {
		return err
	}
	if err := h.q.Abandon(r.Context(), id, lock); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type c2dServiceHandlers struct {
	s *server
	q C2DService
}

// send reads IoT Hub's message headers: iothub-messageid, -correlationid,
// -userid, -ack, -expiry (RFC 3339 or HTTP date), -contenttype,
// -contentencoding and iothub-app-<name>; the body is the message. As for
// device-to-cloud messages, a header sent more than once counts each time
// against msgrules.MaxProperties and its last value wins.
func (h c2dServiceHandlers) send(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, c2d.MaxBodySize, "a cloud-to-device message body is at most 64 KB")
	if err != nil {
		return err
	}
	hd := r.Header
	ack, err := c2d.ParseAck(lastValue(hd, hdrAck))
	if err != nil {
		return err
	}
	m := c2d.Message{
		MessageID: lastValue(hd, hdrMessageID), CorrelationID: lastValue(hd, hdrCorrelationID),
		UserID: lastValue(hd, hdrUserID), ContentType: lastValue(hd, hdrContentType),
		ContentEncoding: lastValue(hd, hdrContentEncoding), Ack: ack, Body: body,
	}
	if v := strings.TrimSpace(lastValue(hd, hdrExpiry)); v != "" {
		t, err := parseTime(v)
		if err != nil {
			return apierr.ArgumentInvalid.New("iothub-expiry must be an RFC 3339 or HTTP date, not " + strconv.Quote(v))
		}
		if t.IsZero() {
			// The zero time is c2d's "no expiry given": taken as is, it would
			// silently become the default.
			return apierr.ArgumentInvalid.New("iothub-expiry " + strconv.Quote(v) + " is not a time in the future")
		}
		m.Expiry = t
	}
	sent := 0
	for k, vs := range hd {
		if !strings.HasPrefix(k, hdrAppPrefix) || len(vs) == 0 {
			continue
		}
		if sent += len(vs); sent > msgrules.MaxProperties {
			return msgrules.TooManyProperties(msgrules.MaxProperties)
		}
		m.Properties = append(m.Properties, iothub.Property{Name: strings.ToLower(k[len(hdrAppPrefix):]), Value: vs[len(vs)-1]})
	}
	slices.SortFunc(m.Properties, func(a, b iothub.Property) int { return strings.Compare(a.Name, b.Name) })
	res, err := h.q.Send(r.Context(), r.PathValue("id"), m)
	if err != nil {
		return err
	}
	w.Header().Set(hdrMessageID, res.MessageID)
	return writeJSON(w, http.StatusOK, res)
}

func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return http.ParseTime(v)
}

func (h c2dServiceHandlers) purge(w http.ResponseWriter, r *http.Request) error {
	n, err := h.q.Purge(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, iothub.PurgeResult{DeviceID: r.PathValue("id"), TotalMessagesPurged: n})
}

func (h c2dServiceHandlers) lookup(w http.ResponseWriter, r *http.Request) error {
	st, err := h.q.Lookup(r.Context(), r.PathValue("id"), r.PathValue("messageId"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// deadLetters pages with ?top=N and the x-ms-continuation header, as the
// registry list does.
func (h c2dServiceHandlers) deadLetters(w http.ResponseWriter, r *http.Request) error {
	top := 100
	if v := r.URL.Query().Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return apierr.ArgumentInvalid.New("top must be 1 to 1000")
		}
		top = n
	}
	st, next, err := h.q.DeadLetters(r.Context(), r.PathValue("id"), top, r.Header.Get("x-ms-continuation"))
	if err != nil {
		return err
	}
	if next != "" {
		w.Header().Set("x-ms-continuation", next)
	}
	if st == nil {
		st = []iothub.C2DStatus{}
	}
	return writeJSON(w, http.StatusOK, st)
}

func (h c2dServiceHandlers) requeue(w http.ResponseWriter, r *http.Request) error {
	sent, err := h.q.Requeue(r.Context(), r.PathValue("id"), r.PathValue("messageId"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sent)
}

type feedbackHandlers struct {
	s *server
	f Feedback
}

func (h feedbackHandlers) receive(w http.ResponseWriter, r *http.Request) error {
	b, err := h.f.Receive(r.Context())
	if err != nil {
		return err
	}
	if b == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	raw, err := json.Marshal(b.Records)
	if err != nil {
		return apierr.ServerError.Wrap("cannot encode feedback", err)
	}
	hd := w.Header()
	hd.Set("ETag", `"`+b.LockToken+`"`)
	hd.Set("Content-Type", c2d.FeedbackContentType)
	hd.Set(hdrDeliveryCount, strconv.Itoa(b.DeliveryCount))
	hd.Set(hdrEnqueued, b.EnqueuedTime.UTC().Format(time.RFC3339Nano))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(raw)
	return nil
}

func (h feedbackHandlers) complete(w http.ResponseWriter, r *http.Request) error {
	lock, err := lockFrom(r)
	if err != nil {
		return err
	}
	if err := h.f.Complete(r.Context(), lock); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h feedbackHandlers) abandon(w http.ResponseWriter, r *http.Request) error {
	lock, err := lockFrom(r)
	if err != nil {
		return err
	}
	if err := h.f.Abandon(r.Context(), lock); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
