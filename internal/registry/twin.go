package registry

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"reflect"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
)

// A device's twin, IoT Hub style: its identity's read-only properties, its
// tags, and desired and reported properties, which devicehub does not hold
// (they stay empty, version 1).
//
// The twin and the device share one version counter, Device.Version: a
// tags write moves the device's etag too, so a device update guarded by
// an etag read before it fails with PreconditionFailed, as a concurrent
// device update would. The twin's etag is IoT Hub's form, the version as 8
// big-endian bytes in base64 ("AAAAAAAAAAE=" for 1), so it differs from
// the device's etag (base64 of the decimal version) and neither is taken
// for the other.

// neverTime is IoT Hub's time for "never" in twins and device JSON.
const neverTime = "0001-01-01T00:00:00Z"

// TwinETag is the twin's entity tag (unquoted).
func (d Device) TwinETag() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(d.Version))
	return base64.StdEncoding.EncodeToString(b[:])
}

// checkTwinETag checks an If-Match against the twin's etag ("" and "*"
// match any).
func checkTwinETag(d Device, ifMatch string) error {
	m := iothub.UnquoteETag(ifMatch)
	if m == "" || m == "*" || m == d.TwinETag() {
		return nil
	}
	return apierr.PreconditionFailedETag.New("If-Match does not match the twin's etag")
}

// Twin is the device's twin in IoT Hub's JSON shape.
func (d Device) Twin() iothub.Twin {
	t := iothub.Twin{
		DeviceID: d.DeviceID, ETag: d.TwinETag(), DeviceETag: d.ETag(),
		Status: d.Status, StatusReason: d.StatusReason,
		StatusUpdateTime: d.StatusUpdatedTime.UTC().Format(time.RFC3339Nano),
		ConnectionState:  "Disconnected", LastActivityTime: neverTime,
		AuthenticationType: d.Auth(), X509Thumbprint: &iothub.X509Thumbprint{},
		Version: d.Version, Tags: d.Tags,
		Properties:   iothub.TwinProperties{Desired: emptyProperties(), Reported: emptyProperties()},
		Capabilities: &iothub.Capabilities{},
	}
	if d.Auth() == iothub.AuthSelfSigned {
		t.X509Thumbprint = &iothub.X509Thumbprint{PrimaryThumbprint: d.PrimaryThumbprint, SecondaryThumbprint: d.SecondaryThumbprint}
	}
	return t
}

func emptyProperties() map[string]any {
	return map[string]any{"$metadata": map[string]any{"$lastUpdated": neverTime}, "$version": 1}
}

// UpdateTags merges patch into the device's tags (MergeTags), guarded by
// ifMatch, the twin's etag ("" or "*": any). A patch that changes nothing
// writes nothing.
func (s *Service) UpdateTags(ctx context.Context, id string, patch map[string]any, ifMatch string) (Device, error) {
	return s.writeTags(ctx, id, ifMatch, func(cur map[string]any) map[string]any { return MergeTags(cur, patch) })
}

// ReplaceTags replaces the device's tags, guarded by ifMatch as UpdateTags.
func (s *Service) ReplaceTags(ctx context.Context, id string, tags map[string]any, ifMatch string) (Device, error) {
	return s.writeTags(ctx, id, ifMatch, func(map[string]any) map[string]any { return MergeTags(nil, tags) })
}

// tagRetries bounds how often a tags write guarded by "*" is tried again
// after another write to the device won the race: the patch applies to
// whatever the device holds, so it is applied to the fresh read.
const tagRetries = 3

func (s *Service) writeTags(ctx context.Context, id, ifMatch string, change func(map[string]any) map[string]any) (Device, error) {
	if err := ValidateDeviceID(id); err != nil {
		return Device{}, err
	}
	for attempt := 0; ; attempt++ {
		cur, err := s.Store.Get(ctx, id)
		if err != nil {
			return Device{}, err
		}
		if err := checkTwinETag(cur, ifMatch); err != nil {
			return Device{}, err
		}
		tags, err := NormalizeTags(change(cur.Tags))
		if err != nil {
			return Device{}, err
		}
		if len(tags) == 0 {
			tags = nil
		}
		if tagsEqual(cur.Tags, tags) {
			return cur, nil
		}
		next := cur
		next.Version, next.Tags = cur.Version+1, tags
		err = s.Store.Replace(ctx, next, cur.Version)
		if err == nil {
			s.finishEvents(ctx, next)
			return next, nil
		}
		if apierr.KindOf(err) != apierr.PreconditionFailed || !anyETag(ifMatch) || attempt+1 >= tagRetries {
			return Device{}, err
		}
	}
}

func anyETag(ifMatch string) bool {
	m := iothub.UnquoteETag(ifMatch)
	return m == "" || m == "*"
}

// tagsEqual reports whether two normalized tag sets hold the same JSON.
func tagsEqual(a, b map[string]any) bool {
	return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b)
}
