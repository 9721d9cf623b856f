package tui

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"lanchat/node/chat"
)

// TestJSONTimeRFC3339: a peer's clock can say anything, yet every JSON
// time must be RFC 3339, whose years have four digits.
func TestJSONTimeRFC3339(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"ordinary", time.Date(2025, 3, 1, 14, 3, 7, 123456789, time.UTC), "2025-03-01T14:03:07.123Z"},
		{"other zone in UTC", time.Date(2025, 3, 1, 15, 3, 7, 0, time.FixedZone("CET", 3600)), "2025-03-01T14:03:07.000Z"},
		{"year 0", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), "0000-01-01T00:00:00.000Z"},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), "9999-12-31T23:59:59.999Z"},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "9999-12-31T23:59:59.999Z"},
		{"year -5", time.Date(-5, 6, 1, 0, 0, 0, 0, time.UTC), "0000-01-01T00:00:00.000Z"},
		{"largest milliseconds", time.UnixMilli(1<<63 - 1), "9999-12-31T23:59:59.999Z"},
		{"smallest milliseconds", time.UnixMilli(-1 << 63), "0000-01-01T00:00:00.000Z"},
		{"year 0 just before midnight in a zone ahead", time.Date(0, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3600)), "0000-01-01T00:00:00.000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fmtJSONTime(tt.in)
			if got != tt.want {
				t.Errorf("fmtJSONTime(%v) = %q, want %q", tt.in, got, tt.want)
			}
			if _, err := time.Parse(time.RFC3339, got); err != nil {
				t.Errorf("fmtJSONTime(%v) = %q, not RFC 3339: %v", tt.in, got, err)
			}
		})
	}
	// Through the writer: "sent" of a message from a peer's wild clock.
	for _, sent := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)} {
		var out bytes.Buffer
		w := newLineWriter(&out, JSON)
		if err := w.event(chat.Event{Kind: chat.KindMessage, Room: "lobby", Time: t0, ID: "x", PeerID: "p", Nick: "bob", Text: "hi", Sent: sent}); err != nil {
			t.Fatal(err)
		}
		var m struct{ Time, Sent string }
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			t.Fatalf("output %q: %v", out.String(), err)
		}
		for _, s := range []string{m.Time, m.Sent} {
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				t.Errorf("message sent %v: time %q not RFC 3339: %v", sent, s, err)
			}
		}
	}
}
