package node

import (
	"testing"
	"time"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

// TestNickSanitizedOnReceipt: the wire still takes the nicks earlier
// versions allowed, but the roster, its events and the lines of the log
// carry them as [chat.SanitizeNick] makes them.
func TestNickSanitizedOnReceipt(t *testing.T) {
	for _, nick := range []string{"<bob>", "b\u200dob", "bob#3f2a", "Zoe\u0308"} {
		b, err := wire.Encode(wire.Envelope{Kind: wire.KindHeartbeat, Room: testRoom, Sent: 1, Nick: nick})
		if err != nil {
			t.Fatalf("Encode with nick %+q: %v", nick, err)
		}
		if env, err := wire.Decode(b); err != nil || env.Nick != nick {
			t.Fatalf("Decode with nick %+q = %+q, %v; want it as sent", nick, env.Nick, err)
		}
	}

	self, bob := testPeerID(t), testPeerID(t)
	t0 := time.Unix(1700000000, 0)
	r := newRoster(testRoom, self, "alice", t0, 2*time.Second, 6*time.Second)
	rec := func(seq uint64, k wire.Kind, nick, text string) Record {
		return Record{Author: bob, Seqno: seq, ID: "x", Envelope: wire.Envelope{Kind: k, Sent: 1, Nick: nick, Text: text}}
	}
	for _, step := range []struct {
		in   Record
		want string
	}{
		{rec(10, wire.KindHeartbeat, "b\u200dob", ""), "join bob"},
		{rec(11, wire.KindMessage, "b\u200dob", "hi"), "message bob hi"}, // the same nick once sanitised: no rename
		{rec(12, wire.KindNick, "<bob>", ""), "nick bob->\ufffdbob\ufffd"},
		{rec(13, wire.KindMessage, "<bob>", "x"), "message \ufffdbob\ufffd x"},
	} {
		evs, _ := r.handle(step.in, t0)
		if got := evString(evs); got != step.want {
			t.Errorf("handle(nick %+q) = %q, want %q", step.in.Envelope.Nick, got, step.want)
		}
	}
	for _, m := range r.members() {
		if err := chat.ValidNick(m.Nick); err != nil {
			t.Errorf("member %s nick %+q: %v", m.PeerID, m.Nick, err)
		}
	}

	room := &Room{name: testRoom, h: &Host{self: self}}
	ev := room.historyEvent(rec(14, wire.KindMessage, "a>b", "old"), 1, t0)
	if ev.Nick != "a\ufffdb" {
		t.Errorf("historyEvent nick = %+q, want %+q", ev.Nick, "a\ufffdb")
	}
}
