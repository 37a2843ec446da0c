// Package registry holds device identities (IoT Hub's identity registry) and
// authenticates devices and the hub's owner policy with SAS tokens.
package registry

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
)

// Status of a device identity.
const (
	StatusEnabled  = "enabled"
	StatusDisabled = "disabled"
)

// Device is one identity in IoT Hub's registry shape. The dynamodbav tags are
// the Devices table's item layout (DynamoStore): stored items are read back
// with them, so a tag never changes.
type Device struct {
	DeviceID          string    `dynamodbav:"deviceId"` // schema.DeviceID, the partition key
	GenerationID      string    `dynamodbav:"generationId"`
	Version           int64     `dynamodbav:"version"` // drives the etag; bumped on every write
	Status            string    `dynamodbav:"status"`
	StatusReason      string    `dynamodbav:"statusReason,omitempty"`
	StatusUpdatedTime time.Time `dynamodbav:"statusUpdatedTime"` // RFC 3339, stored in UTC
	PrimaryKey        string    `dynamodbav:"primaryKey"`        // base64; empty for X.509 devices
	SecondaryKey      string    `dynamodbav:"secondaryKey"`      // base64
	// AuthType is iothub.AuthSAS, AuthSelfSigned or AuthCertificateAuthority;
	// items written before X.509 have none and are SAS devices (Auth).
	AuthType            string `dynamodbav:"authType,omitempty"`
	PrimaryThumbprint   string `dynamodbav:"primaryThumbprint,omitempty"` // selfSigned: upper-case hex SHA-1 or SHA-256
	SecondaryThumbprint string `dynamodbav:"secondaryThumbprint,omitempty"`
	// Tags are the device twin's tags (twin.go): a JSON object within
	// IoT Hub's limits (tags.go), stored as a DynamoDB map.
	Tags map[string]any `dynamodbav:"tags,omitempty"`

	// Lifecycle events the item still owes the telemetry stream
	// (lifecycle.go), oldest first, with the sparse byPendingEvent index's
	// keys; all empty once the events are on the stream.
	PendingEvents []string `dynamodbav:"pendingEvents,omitempty"` // encoded records (JSON text)
	PendingShard  string   `dynamodbav:"pendingShard,omitempty"`  // schema.DevicePendingShard
	PendingAt     int64    `dynamodbav:"pendingAt,omitempty"`     // schema.DevicePendingAt: epoch ms of the oldest
	// Deleted marks a tombstone: a deleted device whose delete event is not
	// yet on the stream. Every reader takes it for no device at all.
	Deleted bool `dynamodbav:"deleted,omitempty"`
}

// Auth is the device's authentication type, SAS for items that predate X.509.
func (d Device) Auth() string {
	if d.AuthType == "" {
		return iothub.AuthSAS
	}
	return d.AuthType
}

// ETag is the device's entity tag (unquoted), as IoT Hub's base64 form.
func (d Device) ETag() string {
	return base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(d.Version, 10)))
}

// MaxDeviceIDLength is IoT Hub's limit.
const MaxDeviceIDLength = 128

// ValidateDeviceID applies IoT Hub's rules: 1-128 ASCII alphanumerics or
// - . % _ * ? ! ( ) , : = @ $ ' — and refuses . and .., which a device id
// can be in IoT Hub's charset but not as a URL path segment: clients,
// proxies and API Gateway resolve them as "this" and "parent" segments, so
// /devices/.. would address something else than the device.
func ValidateDeviceID(id string) error {
	if id == "" || len(id) > MaxDeviceIDLength {
		return apierr.ArgumentInvalid.New("device id must be 1 to 128 characters")
	}
	if id == "." || id == ".." {
		return apierr.ArgumentInvalid.New("device id must not be . or ..")
	}
	for i := 0; i < len(id); i++ {
		if !deviceIDChar(id[i]) {
			return apierr.ArgumentInvalid.New("device id may hold only ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ '")
		}
	}
	return nil
}

func deviceIDChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '%', '_', '*', '?', '!', '(', ')', ',', ':', '=', '@', '$', '\'':
		return true
	}
	return false
}

// NewKey returns a random 256-bit symmetric key, base64 encoded.
func NewKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.StdEncoding.EncodeToString(b)
}

// ValidateKey accepts base64 keys of 16 to 64 bytes, as IoT Hub does.
func ValidateKey(k string) error {
	b, err := base64.StdEncoding.DecodeString(k)
	if err != nil || len(b) < 16 || len(b) > 64 {
		return apierr.ArgumentInvalid.New("symmetric keys must be base64 of 16 to 64 bytes")
	}
	return nil
}

// Store persists device identities. Get and List take a tombstone for no
// device; Load sees it.
type Store interface {
	Get(ctx context.Context, id string) (Device, error)
	// Create fails with Conflict when the id exists.
	Create(ctx context.Context, d Device) error
	// Replace writes d if the stored version equals prevVersion, else PreconditionFailed.
	Replace(ctx context.Context, d Device, prevVersion int64) error
	// Delete removes the device if its version equals version (any when version < 0).
	Delete(ctx context.Context, id string, version int64) error
	// List returns up to limit devices after the opaque cursor, and the next cursor.
	List(ctx context.Context, limit int, cursor string) ([]Device, string, error)

	// The lifecycle events' part (lifecycle.go).

	// Load reads the item of id strongly consistently, a tombstone
	// included; DeviceNotFound when there is none.
	Load(ctx context.Context, id string) (Device, error)
	// ReplaceTombstone writes d over the tombstone of version, else
	// PreconditionFailed.
	ReplaceTombstone(ctx context.Context, d Device, version int64) error
	// ClearPending removes the owed events of the item of id if its version
	// is still version; otherwise it does nothing: whoever changed the item
	// carried the events over.
	ClearPending(ctx context.Context, id string, version int64) error
	// RemoveTombstone deletes the tombstone of id if its version is still
	// version; otherwise it does nothing, as ClearPending.
	RemoveTombstone(ctx context.Context, id string, version int64) error
	// Pending returns the items that have owed events since before (at or
	// earlier), tombstones included, as the index holds them (possibly a
	// write behind).
	Pending(ctx context.Context, before time.Time) ([]Device, error)
}

// ErrDeviceNotFound builds IoT Hub's DeviceNotFound error.
func ErrDeviceNotFound(id string) error {
	return apierr.DeviceNotFound.New("device " + strconv.Quote(id) + " is not registered")
}
