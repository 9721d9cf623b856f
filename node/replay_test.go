package node

import (
	"log/slog"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

// TestReplayAfterRestart: a key holder that recorded alice's signed
// heartbeat and line publishes them again after alice left and bob
// restarted (pubsub's seen-cache and admission's table are empty then):
// bob shows neither a join of alice nor her old line. The mark of alice
// in bob's log tells the replay.
func TestReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	alice := startNode(t, testConfig("alice"))
	b := startNode(t, persistentConfig("bob", dir))
	b.connect(alice)
	waitKnown(5*time.Second, alice, b)
	rec := newRawPeer(t, nil, openTopic(testRoom))
	rec.join(t, alice)
	if err := alice.Send("old news"); err != nil {
		t.Fatal(err)
	}
	oldLine := rec.capture(t, "alice's line", fromOf(alice, wire.KindMessage))
	oldBeat := rec.capture(t, "alice's heartbeat", fromOf(alice, wire.KindHeartbeat))
	b.wait(5*time.Second, "alice's line", isMessage("old news"))
	alice.close()
	b.wait(5*time.Second, "alice leaving", isLeave(alice, chat.ReasonQuit))
	b.close()

	b = startNode(t, persistentConfig("bob", dir))
	rec.publish(t, message(t, "rec", "marker"))
	marker := rec.capture(t, "own marker", func(m *pubsub.Message, env wire.Envelope) bool { return env.Text == "marker" })
	inject(t, b, nil, oldBeat, oldLine, marker)
	b.wait(5*time.Second, "marker", isMessage("marker"))
	for _, ev := range b.events() {
		if ev.PeerID == alice.id() && !ev.History {
			t.Errorf("bob, restarted, took a replay of alice for new: %+v", ev)
		}
	}
	if hasMember(b.Members(), alice.id(), false) || hasMember(b.Members(), alice.id(), true) {
		t.Errorf("alice is a member after the replay: %+v", b.Members())
	}
}

// fakeMarks is a markBook, by peer ID string as in the log.
type fakeMarks map[string]uint64

func (f fakeMarks) mark(p peer.ID) (uint64, bool) { s, ok := f[p.String()]; return s, ok }

// TestReplayOfForgottenAuthor: once admission forgot an author (an hour
// of silence, or a table filled with made-up identities) a replay of its
// messages is still a replay: by the mark it kept until the log had it,
// and then by the log's. Its new messages are taken.
func TestReplayOfForgottenAuthor(t *testing.T) {
	const bob = peer.ID("bob")
	a := newAdmission(slog.New(slog.DiscardHandler))
	book := fakeMarks{}
	a.marks = book
	screen := func(seq uint64) pubsub.ValidationResult {
		res, _ := a.screen(bob, bob, seq)
		return res
	}
	for s := uint64(1000); s < 1010; s++ {
		if res := screen(s); res != pubsub.ValidationAccept {
			t.Fatalf("screen(%d) = %v, want accept", s, res)
		}
	}
	a.prune(time.Now().Add(2 * replayMemory)) // forgotten
	if len(a.authors) != 0 {
		t.Fatalf("bob still in the table after %v of silence", 2*replayMemory)
	}
	for _, s := range []uint64{1000, 1009, 5} {
		if res := screen(s); res != pubsub.ValidationIgnore {
			t.Errorf("forgotten, not saved yet: replay of %d = %v, want ignore", s, res)
		}
	}
	// The marks go to the log; the table forgets bob again.
	for p, m := range a.takeMarks(time.Now()) {
		book[p] = m.Seqno
	}
	if book[bob.String()] != 1009 {
		t.Fatalf("saved mark of bob = %d, want 1009 (marks: %v)", book[bob.String()], book)
	}
	a.mu.Lock()
	a.forgetLocked(bob)
	clear(a.forgot)
	a.mu.Unlock()
	if res := screen(1004); res != pubsub.ValidationIgnore {
		t.Errorf("by the log's mark: replay of 1004 = %v, want ignore", res)
	}
	if res := screen(1010); res != pubsub.ValidationAccept {
		t.Errorf("bob's next message, 1010 = %v, want accept", res)
	}
}

// TestReplayTwiceAfterRestart: the mark that stopped one replay still
// stops the next, after the author table forgot the replayed author
// again and the marks were saved (a review found the second replay got
// in: the forgotten author was filed with a zero time, which aged its
// mark out of the log).
func TestReplayTwiceAfterRestart(t *testing.T) {
	const bob = peer.ID("bob")
	book := fakeMarks{}
	a := newAdmission(slog.New(slog.DiscardHandler))
	a.marks = book
	for s := uint64(1000); s < 1010; s++ {
		a.screen(bob, bob, s)
	}
	for p, m := range a.takeMarks(time.Now()) {
		book[p] = m.Seqno
	}
	// A restart: a new table, the log's marks.
	a = newAdmission(slog.New(slog.DiscardHandler))
	a.marks = book
	for round := range 3 {
		if res, _ := a.screen(bob, bob, 1005); res != pubsub.ValidationIgnore {
			t.Fatalf("round %d: replay of 1005 = %v, want ignore", round, res)
		}
		a.prune(time.Now()) // housekeeping: forgets what it should
		marks := a.takeMarks(time.Now())
		if m, ok := marks[bob.String()]; ok && m.Heard.IsZero() {
			t.Fatalf("round %d: bob's mark filed again with a zero time: %+v", round, m)
		}
		a.mu.Lock()
		a.forgetLocked(bob) // a table full of made-up authors
		a.mu.Unlock()
		if m, ok := a.forgot[bob]; ok && m.Heard.IsZero() {
			t.Fatalf("round %d: forgotten with a zero time: %+v", round, m)
		}
	}
}
