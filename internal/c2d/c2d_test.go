package c2d

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/devicehub/devicehub/shared/iothub"
)

func TestLockTokenRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		seq int64
		ack iothub.Ack
	}{{1, iothub.AckNone}, {42, iothub.AckPositive}, {1 << 40, iothub.AckNegative}, {999_999, iothub.AckFull}} {
		tok := newLockToken(tc.seq, tc.ack)
		seq, ack, err := parseLockToken(`"` + tok + `"`)
		if err != nil || seq != tc.seq || ack != tc.ack {
			t.Errorf("%s: got %d %s %v, want %d %s", tok, seq, ack, err, tc.seq, tc.ack)
		}
		if newLockToken(tc.seq, tc.ack) == tok {
			t.Errorf("two tokens for %d are equal", tc.seq)
		}
	}
}

func TestParseLockTokenRejects(t *testing.T) {
	for _, tok := range []string{"", "abc", "00000000-0000-0000-0000-000000000000", "00000000-0001-9000-0000-000000000000",
		"0000000g-0001-0000-0000-000000000000", "000000000001-0000-0000-0000-00000000"} {
		if _, _, err := parseLockToken(tok); err == nil {
			t.Errorf("%q accepted", tok)
		}
	}
}

func TestParseAck(t *testing.T) {
	for in, want := range map[string]iothub.Ack{"": iothub.AckNone, "none": iothub.AckNone, "Full": iothub.AckFull, " positive ": iothub.AckPositive, "negative": iothub.AckNegative} {
		if got, err := ParseAck(in); err != nil || got != want {
			t.Errorf("%q: %s %v", in, got, err)
		}
	}
	if _, err := ParseAck("sometimes"); err == nil {
		t.Error("bad ack accepted")
	}
}

func TestAckWants(t *testing.T) {
	codes := []iothub.StatusCode{iothub.StatusSuccess, iothub.StatusExpired, iothub.StatusDeliveryCountExceeded, iothub.StatusRejected, iothub.StatusPurged}
	for _, tc := range []struct {
		ack  iothub.Ack
		want string // first letters of the codes it wants
	}{{iothub.AckNone, ""}, {iothub.AckPositive, "S"}, {iothub.AckNegative, "EDRP"}, {iothub.AckFull, "SEDRP"}} {
		got := ""
		for _, c := range codes {
			if wants(tc.ack, c) {
				got += string(c[0])
			}
		}
		if got != tc.want {
			t.Errorf("%s wants %q, want %q", tc.ack, got, tc.want)
		}
	}
}

func TestValidateMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Message
		ok   bool
	}{
		{"plain", Message{Body: []byte("x"), Properties: []iothub.Property{{Name: "a", Value: "1"}}}, true},
		{"64 KB", Message{Body: make([]byte, MaxBodySize)}, true},
		{"over 64 KB", Message{Body: make([]byte, MaxBodySize+1)}, false},
		{"long id", Message{MessageID: strings.Repeat("x", 129)}, false},
		{"non-ASCII property", Message{Properties: []iothub.Property{{Name: "a", Value: "é"}}}, false},
		{"duplicate property", Message{Properties: []iothub.Property{{Name: "a", Value: "1"}, {Name: "a", Value: "2"}}}, false},
		{"empty property name", Message{Properties: []iothub.Property{{Name: "", Value: "1"}}}, false},
	} {
		if err := ValidateMessage(&tc.m); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestTransitions checks the table's shape: every event has one row,
// settling rows leave the pending states, and every guard that does not
// name a lock holds a version check or is a purge.
func TestTransitions(t *testing.T) {
	seen := map[Event]bool{}
	for _, tr := range transitions {
		if seen[tr.event] {
			t.Errorf("%s twice", tr.event)
		}
		seen[tr.event] = true
		if len(tr.from) == 0 {
			t.Errorf("%s: no from-state", tr.event)
		}
		for _, f := range tr.from {
			if !f.pending() && !f.deadLettered() {
				t.Errorf("%s leaves a settled state %s", tr.event, f)
			}
		}
		guarded := map[string]bool{}
		for _, term := range tr.guard {
			for n := range conditionNames(term(&request{tok: "t"})) {
				guarded[n] = true
			}
		}
		if !guarded[aLock] && !guarded[aVer] && tr.event != EvPurge && tr.event != EvPurgeStale {
			t.Errorf("%s is guarded by neither its lock nor the version it read", tr.event)
		}
	}
	for _, ev := range []Event{EvReceive, EvComplete, EvReject, EvAbandon, EvAbandonLast, EvLockLapseLast, EvExpire, EvPurge, EvPurgeStale, EvRequeue} {
		if !seen[ev] {
			t.Errorf("no row for %s", ev)
		}
	}
}

// conditionNames is the set of attributes a condition reads.
func conditionNames(c expression.ConditionBuilder) map[string]bool {
	set := map[string]bool{}
	for _, n := range build(expression.NewBuilder().WithCondition(c)).Names() {
		set[n] = true
	}
	return set
}

func TestFeedbackKeySplit(t *testing.T) {
	k := "0001700000000000#dev:1#0000000000000042"
	dev, seq, ok := splitFeedbackKey(k)
	if !ok || dev != "dev:1" || seq != 42 {
		t.Errorf("%q: %s %d %v", k, dev, seq, ok)
	}
	if sh, err := parseFeedbackToken(newFeedbackToken(5)); err != nil || sh != 5 {
		t.Errorf("feedback token: %d %v", sh, err)
	}
}
