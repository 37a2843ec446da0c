package registry

import (
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/schema"
)

// The Devices table's item layout: attribute names and types of every item
// already stored. The struct tags on Device must keep producing exactly this.
func TestDeviceItemLayout(t *testing.T) {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	at := time.Date(2026, 11, 27, 10, 4, 5, 123456789, time.FixedZone("CET", 3600))
	cases := []struct {
		name string
		dev  Device
		item map[string]types.AttributeValue
	}{
		{
			name: "every field",
			dev: Device{DeviceID: "d1", GenerationID: "g1", Version: 7, Status: StatusDisabled, StatusReason: "stolen",
				StatusUpdatedTime: at, PrimaryKey: "cA==", SecondaryKey: "cw=="},
			item: map[string]types.AttributeValue{
				schema.DeviceID:     s("d1"),
				"generationId":      s("g1"),
				attrVersion:         &types.AttributeValueMemberN{Value: "7"},
				"status":            s(StatusDisabled),
				"statusReason":      s("stolen"),
				"statusUpdatedTime": s("2026-11-27T09:04:05.123456789Z"), // UTC
				"primaryKey":        s("cA=="),
				"secondaryKey":      s("cw=="),
			},
		},
		{
			name: "no status reason, zero time",
			dev:  Device{DeviceID: "d2", Status: StatusEnabled},
			item: map[string]types.AttributeValue{
				schema.DeviceID:     s("d2"),
				"generationId":      s(""),
				attrVersion:         &types.AttributeValueMemberN{Value: "0"},
				"status":            s(StatusEnabled),
				"statusUpdatedTime": s("0001-01-01T00:00:00Z"),
				"primaryKey":        s(""),
				"secondaryKey":      s(""),
			},
		},
		{
			name: "tags, owed events, tombstone",
			dev: Device{DeviceID: "d3", Version: 4, Status: StatusEnabled,
				Tags:          map[string]any{"site": "b43", "floor": 2.0, "ok": true, "loc": map[string]any{"room": "12"}, "l": []any{"a", 1.5}},
				PendingEvents: []string{`{"v":2}`, `{"v":2}`}, PendingShard: "3", PendingAt: 1700000000123,
				Deleted: true},
			item: map[string]types.AttributeValue{
				schema.DeviceID:     s("d3"),
				"generationId":      s(""),
				attrVersion:         &types.AttributeValueMemberN{Value: "4"},
				"status":            s(StatusEnabled),
				"statusUpdatedTime": s("0001-01-01T00:00:00Z"),
				"primaryKey":        s(""),
				"secondaryKey":      s(""),
				attrTags: &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
					"site":  s("b43"),
					"floor": &types.AttributeValueMemberN{Value: "2"},
					"ok":    &types.AttributeValueMemberBOOL{Value: true},
					"loc":   &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"room": s("12")}},
					"l":     &types.AttributeValueMemberL{Value: []types.AttributeValue{s("a"), &types.AttributeValueMemberN{Value: "1.5"}}},
				}},
				attrPendingEvents: &types.AttributeValueMemberL{Value: []types.AttributeValue{
					s(`{"v":2}`), s(`{"v":2}`), // a list: in order, duplicates kept
				}},
				schema.DevicePendingShard: s("3"),
				schema.DevicePendingAt:    &types.AttributeValueMemberN{Value: "1700000000123"},
				attrDeleted:               &types.AttributeValueMemberBOOL{Value: true},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			item, err := toItem(tc.dev)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(item, tc.item) {
				t.Fatalf("item\n got %#v\nwant %#v", item, tc.item)
			}
			back, err := fromItem(tc.item)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.dev
			want.StatusUpdatedTime = want.StatusUpdatedTime.UTC()
			if !reflect.DeepEqual(back, want) {
				t.Fatalf("decoded %+v, want %+v", back, want)
			}
		})
	}
}

// An item that does not decode is an error, not a device with empty fields.
func TestDeviceItemDecodeErrors(t *testing.T) {
	good := func() map[string]types.AttributeValue {
		item, err := toItem(Device{DeviceID: "d", Version: 1, Status: StatusEnabled})
		if err != nil {
			t.Fatal(err)
		}
		return item
	}
	cases := map[string]types.AttributeValue{
		attrVersion:         &types.AttributeValueMemberN{Value: "1.5"},
		"statusUpdatedTime": &types.AttributeValueMemberS{Value: "yesterday"},
		"status":            &types.AttributeValueMemberBOOL{Value: true},
	}
	for attr, v := range cases {
		t.Run(attr, func(t *testing.T) {
			item := good()
			item[attr] = v
			if d, err := fromItem(item); err == nil {
				t.Fatalf("decoded %+v, want an error", d)
			}
		})
	}
}
