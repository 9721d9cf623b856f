package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

// TestRosterFullOfMadeUpMembers: relays forward the heartbeats of more
// made-up identities than a roster holds. The roster stops at maxMembers
// without pushing out the real member, the user is told once, and a line
// from a newcomer that is not listed is still delivered.
func TestRosterFullOfMadeUpMembers(t *testing.T) {
	t.Parallel()
	cfg := testConfig("alice")
	cfg.LostAfter = time.Minute // the made-up members stay present
	a := startNode(t, cfg)
	cfg = testConfig("bob")
	cfg.LostAfter = time.Minute
	b := startNode(t, cfg)
	a.connect(b)
	waitKnown(10*time.Second, a, b)

	// Each relay within its introductions, and all of them (from one
	// address, loopback) within the address's, with room for bob and the
	// latecomer.
	const relays, perRelay = 5, maxMembers / 5
	for r := range relays {
		var msgs []*pb.Message
		for i := range perRelay {
			data := envelope(t, wire.Envelope{Kind: wire.KindHeartbeat, Room: testRoom, Sent: time.Now().UnixMilli(), Nick: fmt.Sprint("sybil", r, "-", i)})
			msgs = append(msgs, signedBy(t, 1, data))
		}
		inject(t, a, nil, msgs...)
	}
	isFull := func(ev chat.Event) bool {
		return ev.Kind == chat.KindNotice && ev.Room == testRoom && ev.Text == fullText
	}
	a.wait(20*time.Second, "the room-full notice", isFull)
	// One more, with a line: not listed, but heard.
	inject(t, a, nil, signedBy(t, 1, message(t, "latecomer", "let me in")))
	a.wait(10*time.Second, "the latecomer's line", isMessage("let me in"))

	ms := a.Members()
	bobListed := false
	for _, m := range ms {
		if m.PeerID == b.id() {
			bobListed = !m.Lost
		}
		if m.Nick == "latecomer" {
			t.Errorf("the latecomer is listed in a full roster")
		}
	}
	sybils := a.count(func(ev chat.Event) bool { return ev.Kind == chat.KindJoin && strings.HasPrefix(ev.Nick, "sybil") })
	t.Logf("%d made-up members joined, roster of %d", sybils, len(ms))
	if len(ms) != maxMembers || sybils != maxMembers-2 {
		t.Errorf("roster of %d with %d made-up members, want %d with %d", len(ms), sybils, maxMembers, maxMembers-2)
	}
	if !bobListed {
		t.Errorf("bob is not listed as present in the full roster")
	}
	if n := a.count(isFull); n != 1 {
		t.Errorf("told %d times that the room is full, want once", n)
	}
	if n := a.count(isLeave(b, chat.ReasonLost)); n != 0 {
		t.Errorf("bob reported lost %d times by made-up newcomers", n)
	}
}
