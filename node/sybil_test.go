package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"

	"lanchat/node/chat"
)

// newKeys returns n fresh identities.
func newKeys(tb testing.TB, n int) []crypto.PrivKey {
	tb.Helper()
	keys := make([]crypto.PrivKey, n)
	for i := range keys {
		var err error
		if keys[i], _, err = crypto.GenerateEd25519Key(nil); err != nil {
			tb.Fatal(err)
		}
	}
	return keys
}

// madeUpPerAuthor counts tn's live lines whose text starts with prefix,
// by author.
func madeUpPerAuthor(tn *testNode, prefix string) map[string]int {
	per := make(map[string]int)
	for _, ev := range tn.events() {
		if ev.Kind == chat.KindMessage && strings.HasPrefix(ev.Text, prefix) {
			per[ev.PeerID]++
		}
	}
	return per
}

// isNotice matches the notices whose text holds s.
func isNotice(s string) func(chat.Event) bool {
	return func(ev chat.Event) bool { return ev.Kind == chat.KindNotice && strings.Contains(ev.Text, s) }
}

// TestMadeUpAuthorsStartSmall: made-up identities relayed by one peer,
// each sending far more than a newcomer's allowance at once, get each
// only that allowance (and what the flood limit earns back meanwhile,
// lowered here to 1 a second so that a slow machine shows the same).
// The user is told which authors are throttled, at most maxNamed of
// them by name.
func TestMadeUpAuthorsStartSmall(t *testing.T) {
	t.Parallel()
	a := startNode(t, testConfig("alice"))
	a.adm.setLimit(1, recvBurst)
	const ids, lines = 10, 3 * newcomerBurst
	topic := openTopic(testRoom)
	var msgs []*pb.Message
	for i, key := range newKeys(t, ids) {
		for l := range lines {
			data := message(t, fmt.Sprint("sybil", i), fmt.Sprintf("made up %d-%d", i, l))
			msgs = append(msgs, signedAs(t, key, topic, uint64(l+1), data))
		}
	}
	start := time.Now()
	inject(t, a, nil, append(msgs, signedBy(t, 1, message(t, "marker", "the end")))...)
	// One validation worker: the marker is checked after all of them.
	a.wait(30*time.Second, "the marker", isMessage("the end"))
	allowed := newcomerBurst + int(time.Since(start).Seconds()) + 1

	per := madeUpPerAuthor(a, "made up ")
	t.Logf("%d made-up authors, %d lines each at once: shown %v", ids, lines, per)
	if len(per) != ids {
		t.Errorf("lines of %d made-up authors shown, want %d", len(per), ids)
	}
	for p, n := range per {
		if n > allowed {
			t.Errorf("%d lines of %s shown, want at most %d (a newcomer's allowance)", n, p, allowed)
		}
	}
	a.wait(5*time.Second, "a flood notice", isNotice("flood limit"))
	if n := a.count(isNotice("flood limit")); n > maxNamed+1 {
		t.Errorf("%d flood notices, want at most %d", n, maxNamed+1)
	}
}

// TestSybilRelaysShareAddress: peers that connect from one address (all
// of them, on loopback) each relaying made-up identities within its own
// introductions introduce together no more than the address's; the user
// is told once about the address, and a member already heard is not
// affected.
func TestSybilRelaysShareAddress(t *testing.T) {
	t.Parallel()
	cfg := testConfig("alice")
	cfg.EventBuffer = 4096
	a := startNode(t, cfg)
	b := startNode(t, testConfig("bob"))
	b.connect(a)
	waitKnown(10*time.Second, a, b)

	const relays, each = 7, introBurst - 56 // 1400, each relay within its introductions
	topic := openTopic(testRoom)
	markerKey := newKeys(t, 1)[0]
	start := time.Now()
	for r := range relays {
		var msgs []*pb.Message
		if r == 0 {
			// The marker's author, introduced first, so that its lines
			// come through after the address's introductions are used up.
			msgs = append(msgs, signedAs(t, markerKey, topic, 1, message(t, "marker", "marker 0")))
		}
		for i, key := range newKeys(t, each) {
			msgs = append(msgs, signedAs(t, key, topic, 1, message(t, fmt.Sprint("sybil", r, "-", i), fmt.Sprintf("made up %d-%d", r, i))))
		}
		end := fmt.Sprint("marker ", r+1)
		inject(t, a, nil, append(msgs, signedAs(t, markerKey, topic, uint64(r+2), message(t, "marker", end)))...)
		a.wait(30*time.Second, end, isMessage(end))
	}
	allowed := addrFactor*introBurst + int(addrFactor*introRate*time.Since(start).Seconds()) + 1
	per := madeUpPerAuthor(a, "made up ")
	t.Logf("%d relays at one address introduced %d of %d made-up authors in %v", relays, len(per), relays*each, time.Since(start))
	if len(per) > allowed || len(per) < addrFactor*introBurst-relays {
		t.Errorf("%d made-up authors heard, want about %d and at most %d (the address's introductions)", len(per), addrFactor*introBurst, allowed)
	}
	if allowed >= relays*each {
		t.Skipf("took %v: too slow a machine to tell (the address earned back the introductions)", time.Since(start))
	}
	a.wait(5*time.Second, "the address notice", isNotice("peers at 127.0.0.1"))
	if err := b.Send("still here"); err != nil {
		t.Fatal(err)
	}
	a.wait(5*time.Second, "bob's line", isMessage("still here"))
	if n := a.count(isNotice("peers at 127.0.0.1")); n != 1 {
		t.Errorf("told %d times about the address, want once", n)
	}
}
