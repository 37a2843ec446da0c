package c2d

import (
	"testing"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/internal/schema"
	"github.com/devicehub/devicehub/shared/iothub"
)

var acks = [...]iothub.Ack{iothub.AckNone, iothub.AckPositive, iothub.AckNegative, iothub.AckFull}

// Any string either is refused as a bad argument or names a sequence number
// and ack that a token made for them names again; tokens the hub makes always
// parse back to what they were made for.
func FuzzLockToken(f *testing.F) {
	for _, s := range []string{
		newLockToken(1, iothub.AckFull), `"` + newLockToken(1<<40, iothub.AckNone) + `"`,
		"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-4fff-ffff-ffffffffffff", "zzzzzzzz-0000-1000-0000-000000000000",
		"0000000001-00-3000-0000-000000000000", "", "00000000-0001-9000-0000-000000000000",
	} {
		f.Add(s, int64(7), uint8(3))
	}
	f.Fuzz(func(t *testing.T, tok string, seq int64, ack uint8) {
		if s, a, err := parseLockToken(tok); err != nil {
			if apierr.KindOf(err) != apierr.Invalid {
				t.Fatalf("%q: error %v is not a bad argument", tok, err)
			}
		} else if s <= 0 || ackDigit(a) > 3 || (a != iothub.AckNone && ackDigit(a) == 0) {
			t.Fatalf("%q parsed to seq %d ack %q", tok, s, a)
		} else if s2, a2, err := parseLockToken(newLockToken(s, a)); err != nil || s2 != s || a2 != a {
			t.Fatalf("%q: a token made for %d/%s parses to %d/%s (%v)", tok, s, a, s2, a2, err)
		}
		if seq <= 0 || seq >= 1<<48 {
			return
		}
		want := acks[ack%4]
		s, a, err := parseLockToken(newLockToken(seq, want))
		if err != nil || s != seq || a != want {
			t.Fatalf("token for %d/%s parses to %d/%s (%v)", seq, want, s, a, err)
		}
	})
}

// Feedback lock tokens: refused, or a shard within range; made tokens
// round-trip.
func FuzzFeedbackToken(f *testing.F) {
	for _, s := range []string{newFeedbackToken(0), newFeedbackToken(schema.C2DShards - 1), "ffffffff-0000-0000-0000-000000000000", "-0000001-0000-0000-0000-000000000000", "00000001-zz00-0000-0000-000000000000"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, tok string, shard int) {
		if n, err := parseFeedbackToken(tok); err != nil {
			if apierr.KindOf(err) != apierr.Invalid {
				t.Fatalf("%q: error %v is not a bad argument", tok, err)
			}
		} else if n < 0 || n >= schema.C2DShards {
			t.Fatalf("%q parsed to shard %d", tok, n)
		}
		if shard < 0 || shard >= schema.C2DShards {
			return
		}
		if n, err := parseFeedbackToken(newFeedbackToken(shard)); err != nil || n != shard {
			t.Fatalf("token for shard %d parses to %d (%v)", shard, n, err)
		}
	})
}
