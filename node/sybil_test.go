package node

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"lanchat/node/chat"
	"lanchat/node/store"
	"lanchat/node/wire"
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

// linesBy returns one chat line of room r signed by each of keys, a
// second apart up to now, for a log.
func linesBy(tb testing.TB, r *Room, keys []crypto.PrivKey, text string) []store.Line {
	tb.Helper()
	now := time.Now()
	lines := make([]store.Line, len(keys))
	for i, key := range keys {
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			tb.Fatal(err)
		}
		sent := now.Add(time.Duration(i-len(keys)) * time.Second).UnixMilli()
		data, err := wire.Encode(wire.Envelope{Kind: wire.KindMessage, Room: r.wireID, Sent: sent, Nick: "sybil", Text: fmt.Sprint(text, i)})
		if err != nil {
			tb.Fatal(err)
		}
		seq := binary.BigEndian.AppendUint64(nil, 1)
		m := &pb.Message{From: []byte(id), Data: data, Seqno: seq, Topic: proto.String(r.topicName)}
		b, err := proto.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		if m.Signature, err = key.Sign(append([]byte(pubsub.SignPrefix), b...)); err != nil {
			tb.Fatal(err)
		}
		lines[i] = store.Line{Room: r.topicName, ID: messageID(id, seq), Author: id.String(), Seqno: 1,
			Sent: time.UnixMilli(sent), Received: now, Raw: rawMessage(m)}
	}
	return lines
}

// TestSyncIntroductions: a member whose log holds lines of more made-up
// authors than it may introduce has only its introductions' worth of
// them taken in by a pull, the rest at later pulls, and the user is told
// once.
func TestSyncIntroductions(t *testing.T) {
	t.Parallel()
	a := startNode(t, testConfig("alice"))
	const authors = 2 * introBurst // beyond the burst even if the pull takes a minute
	seed(t, a, linesBy(t, a.room, newKeys(t, authors), "made up "))
	cfg := testConfig("carol")
	cfg.EventBuffer = 4096
	c := startNode(t, cfg)
	start := time.Now()
	c.connect(a)
	fromAlice := func(ev chat.Event) bool { return ev.Kind == chat.KindHistory && ev.PeerID == a.id() }
	c.wait(10*time.Second, "history", fromAlice)
	allowed := introBurst + int(introRate*time.Since(start).Seconds()) + 1
	first := len(madeUpPerAuthor(c, "made up "))
	t.Logf("the first pull took in lines of %d of %d made-up authors", first, authors)
	if first > allowed || first < introBurst {
		t.Errorf("lines of %d made-up authors taken in, want about %d and at most %d", first, introBurst, allowed)
	}
	c.wait(5*time.Second, "the notice", isNotice("serves history"))

	// Later pulls bring the others, as alice's introductions come back.
	deadline := time.Now().Add(20 * time.Second)
	for from := c.mark(); time.Now().Before(deadline); {
		c.sync.queue(c.room, a.Host.self, true)
		if c.waitAfter(from, time.Second, fromAlice) {
			break
		}
	}
	if got := len(madeUpPerAuthor(c, "made up ")); got <= first {
		t.Errorf("after later pulls, lines of %d made-up authors, want more than %d", got, first)
	}
	if n := c.count(isNotice("serves history")); n != 1 {
		t.Errorf("told %d times about alice's history, want once", n)
	}
}

// TestRestartCatchUpOneBusyAuthor: a node that restarts catches up the
// whole window, SyncMaxLines lines, of one busy author it heard before,
// in one pull, and the author, known by its mark, costs the serving
// peer no introduction.
func TestRestartCatchUpOneBusyAuthor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := persistentConfig("carol", dir)
	c := startNode(t, cfg)
	b := startNode(t, testConfig("bob"))
	b.connect(c)
	waitKnown(5*time.Second, b, c) // carol heard bob's presence
	c.close()                      // and saves his mark

	a := startNode(t, testConfig("alice"))
	n := a.cfg.SyncMaxLines
	seed(t, a, signedLines(t, b.Host, a.room, n, 1_000_000))
	cfg.EventBuffer = n + 64
	c2 := startNode(t, cfg)
	c2.connect(a)
	// 5,000 lines fetched at the fetch budget (500/s), checked and
	// logged: ~10 s alone, several times that under -race beside the other
	// packages' tests.
	c2.wait(90*time.Second, "the whole window", func(ev chat.Event) bool {
		return ev.Kind == chat.KindHistory && ev.PeerID == a.id() && ev.Count == n
	})
	c2.adm.mu.Lock()
	intro := c2.adm.intros[a.Host.self]
	c2.adm.mu.Unlock()
	if intro != nil {
		t.Errorf("bob, heard before the restart, cost alice introductions (%.0f left)", intro.Tokens())
	}
}

// waitAfter reports whether an event from index from on matches, waiting
// up to d for one.
func (tn *testNode) waitAfter(from int, d time.Duration, match func(chat.Event) bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for i := from; ; {
		tn.mu.Lock()
		for ; i < len(tn.evs); i++ {
			if match(tn.evs[i]) {
				tn.mu.Unlock()
				return true
			}
		}
		ch := tn.changed
		tn.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}
