// Package hubclient is a Go client of devicehub's HTTP APIs: the service side
// (registry, cloud-to-device, feedback) with the owner connection string, and
// the device side with a device connection string. The CLI and Go backends
// use it. It speaks the wire types of shared/iothub, so it pulls in none of the
// server's dependencies.
package hubclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
)

// APIVersion is the IoT Hub API version the client sends.
const APIVersion = "2021-04-12"

// Client calls the hub as the holder of one connection string.
type Client struct {
	BaseURL  string // e.g. http://127.0.0.1:8080 or https://<api host>
	Conn     sas.ConnectionString
	HTTP     *http.Client
	TokenTTL time.Duration
	Now      func() time.Time

	x509 bool // authenticated by a TLS client certificate (SetTLS): no SAS token
}

// New returns a client for baseURL signing with conn.
func New(baseURL string, conn sas.ConnectionString) *Client {
	return &Client{
		BaseURL: strings.TrimRight(baseURL, "/"), Conn: conn,
		// A clone of the default transport: proxies from the environment,
		// system roots, and no shared state with other users of the default.
		HTTP:     &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 60 * time.Second},
		TokenTTL: time.Hour, Now: time.Now,
	}
}

// Error is a non-2xx answer from the hub.
type Error struct {
	Status     int
	Body       iothub.ErrorBody
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	switch {
	case e.Body.Code != "":
		return fmt.Sprintf("hub answered %d %s: %s", e.Status, e.Body.Code, e.Body.Message)
	case e.Body.Message != "": // not the hub's JSON, e.g. a proxy's page: its start
		msg := e.Body.Message
		if len(msg) > 200 {
			msg = strings.ToValidUTF8(msg[:200], "") + "..."
		}
		return fmt.Sprintf("hub answered %d: %s", e.Status, msg)
	}
	return fmt.Sprintf("hub answered %d", e.Status)
}

// quoteETag puts an etag in the double quotes If-Match wants, unless it has
// them already (the registry's JSON carries it bare, its ETag header quoted),
// as the Azure IoT service SDKs do.
func quoteETag(etag string) string {
	if len(etag) >= 2 && strings.HasPrefix(etag, `"`) && strings.HasSuffix(etag, `"`) {
		return etag
	}
	return `"` + etag + `"`
}

// DevicePath returns "/devices/<id>" with the id encoded as the IoT SDKs do.
func DevicePath(id string) string { return "/devices/" + sas.EncodeURIComponentStrict(id) }

// Do sends a request with api-version and a fresh SAS token. A non-2xx
// answer is returned as *Error with the body consumed; otherwise the caller
// closes the body.
func (c *Client) Do(ctx context.Context, method, path string, hdr http.Header, body []byte) (*http.Response, error) {
	u := c.BaseURL + path
	if strings.Contains(path, "?") {
		u += "&api-version=" + APIVersion
	} else {
		u += "?api-version=" + APIVersion
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("hubclient: %w", err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if !c.x509 {
		tok, err := c.Conn.Token(c.Now(), c.TokenTTL)
		if err != nil {
			return nil, fmt.Errorf("hubclient: token: %w", err)
		}
		req.Header.Set("Authorization", tok)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("hubclient: %w", err) // a *url.Error: it names the method and URL
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	e := &Error{Status: resp.StatusCode}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(raw, &e.Body)
	e.Body.FillFromClassic() // IoT Hub itself may answer with the classic fields only
	if e.Body.Message == "" {
		e.Body.Message = strings.TrimSpace(string(raw))
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return nil, e
}

// doJSON sends body as JSON (when non-nil) and decodes the answer into out (when non-nil).
func (c *Client) doJSON(ctx context.Context, method, path string, hdr http.Header, in, out any) (http.Header, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("hubclient: %w", err)
		}
		if hdr == nil {
			hdr = http.Header{}
		}
		hdr.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := c.Do(ctx, method, path, hdr, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return nil, fmt.Errorf("hubclient: decode %s %s: %w", method, path, err)
		}
	}
	return resp.Header, nil
}
