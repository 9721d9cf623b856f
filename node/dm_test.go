package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"lanchat/node/chat"
	"lanchat/node/dmwire"
)

// Event matchers of direct messages.

func isDM(text string) func(chat.Event) bool {
	return func(ev chat.Event) bool { return ev.Kind == chat.KindDM && !ev.Self && ev.Text == text && !ev.History }
}

func isEcho(text, status string) func(chat.Event) bool {
	return func(ev chat.Event) bool {
		return ev.Kind == chat.KindDM && ev.Self && ev.Text == text && ev.Status == status && !ev.History
	}
}

func isDMStatus(id string) func(chat.Event) bool {
	return func(ev chat.Event) bool {
		return ev.Kind == chat.KindDMStatus && ev.ID == id && ev.Status == chat.StatusDelivered
	}
}

// mentions reports whether ev carries text anywhere a front end shows.
func mentionsText(text string) func(chat.Event) bool {
	return func(ev chat.Event) bool { return strings.Contains(ev.Text, text) }
}

func (tn *testNode) sendDM(to *testNode, text string) {
	tn.t.Helper()
	if err := tn.SendDM(context.Background(), to.id(), text); err != nil {
		tn.t.Fatalf("%s: SendDM(%s, %q) = %v", tn.name, to.name, text, err)
	}
}

// TestDMDeliveredOnlyToTarget: a direct message reaches its recipient,
// with the sender's nick and an echo saying delivered, and nobody else:
// not a third member of the same room, not as a room line.
func TestDMDeliveredOnlyToTarget(t *testing.T) {
	a, b, c := startTrio(t)
	const secret = "for bob's eyes only"
	a.sendDM(b, secret)
	got := b.wait(5*time.Second, "the DM", isDM(secret))
	if got.PeerID != a.id() || got.Nick != "alice" || got.Room != "" || got.ID == "" || !strings.HasPrefix(got.ID, a.id()+"/") {
		t.Errorf("bob's DM = %+v, want from alice's peer ID, nick alice, no room, an ID of alice's", got)
	}
	echo := a.wait(5*time.Second, "the echo", isEcho(secret, chat.StatusDelivered))
	if echo.To != b.id() || echo.ToNick != "bob" || echo.ID != got.ID || echo.Sent.IsZero() {
		t.Errorf("alice's echo = %+v, want to bob, nick bob, ID %s", echo, got.ID)
	}
	// A line after it reaches carol: she had every chance to see the DM.
	if err := a.Send("marker"); err != nil {
		t.Fatal(err)
	}
	c.wait(5*time.Second, "the marker", isMessage("marker"))
	b.wait(5*time.Second, "the marker", isMessage("marker"))
	if n := c.count(mentionsText(secret)); n != 0 {
		t.Errorf("carol has %d events with the DM's text:\n%s", n, formatEvents(c.events()))
	}
	if n := b.count(mentionsText(secret)); n != 1 {
		t.Errorf("bob has %d events with the DM's text, want the DM alone:\n%s", n, formatEvents(b.events()))
	}
	if n := a.count(func(ev chat.Event) bool { return ev.Kind == chat.KindDMStatus }); n != 0 {
		t.Errorf("alice got %d dm_status events for a DM delivered at once", n)
	}
}

// TestDMQueuedUntilTargetStarts: a direct message to a peer that is down
// is queued, and delivered once when the peer comes back (a restart with
// the same identity and data dir), with a dm_status for the sender.
func TestDMQueuedUntilTargetStarts(t *testing.T) {
	dir := t.TempDir()
	a := startNode(t, testConfig("alice"))
	b := startNode(t, persistentConfig("bob", dir))
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	b.crash()
	a.wait(5*time.Second, "bob lost", isLeave(b, chat.ReasonLost))
	waitUntil(t, 5*time.Second, "alice disconnected from bob", func() bool { return !a.connected(peerOf(t, b)) })

	a.sendDM(b, "while you were out")
	echo := a.wait(5*time.Second, "the queued echo", isEcho("while you were out", chat.StatusQueued))
	if echo.To != b.id() || echo.ToNick != "bob" {
		t.Errorf("queued echo = %+v, want to bob (nick known from the roster)", echo)
	}

	b2 := startNode(t, persistentConfig("bob", dir))
	b2.connect(a)
	got := b2.wait(5*time.Second, "the queued DM", isDM("while you were out"))
	if got.ID != echo.ID || got.PeerID != a.id() {
		t.Errorf("bob got %+v, want ID %s from alice", got, echo.ID)
	}
	a.wait(5*time.Second, "dm_status delivered", isDMStatus(echo.ID))

	// Once: another connection, a retry, a restart of bob change nothing.
	if err := a.Send("marker"); err != nil {
		t.Fatal(err)
	}
	b2.wait(5*time.Second, "the marker", isMessage("marker"))
	a.dms.start(context.Background(), peerOf(t, b2), true)
	b2.crash()
	b3 := startNode(t, persistentConfig("bob", dir))
	b3.connect(a)
	b3.wait(5*time.Second, "join of alice", isJoin(a))
	if err := a.Send("marker 2"); err != nil {
		t.Fatal(err)
	}
	b3.wait(5*time.Second, "the second marker", isMessage("marker 2"))
	if n := b2.count(isDM("while you were out")); n != 1 {
		t.Errorf("bob's second run got the DM %d times, want once", n)
	}
	if n := b3.count(isDM("while you were out")); n != 0 {
		t.Errorf("bob's third run got the DM %d times, want none", n)
	}
	if n := a.count(isDMStatus(echo.ID)); n != 1 {
		t.Errorf("alice got %d dm_status events, want 1", n)
	}
	if n := a.count(func(ev chat.Event) bool { return ev.Kind == chat.KindDM && ev.Self && !ev.History }); n != 1 {
		t.Errorf("alice got %d echoes, want 1", n)
	}
}

// TestDMSenderRestart: the outbox survives a restart of the sender (same
// identity and data dir): a message queued before is delivered after,
// and the new run says so.
func TestDMSenderRestart(t *testing.T) {
	dir, dirB := t.TempDir(), t.TempDir()
	b := startHost(t, persistentConfig("bob", dirB))
	bob := b.id()
	b.crash()

	a := startHost(t, persistentConfig("alice", dir))
	if err := a.SendDM(context.Background(), bob, "sent before a restart"); err != nil {
		t.Fatal(err)
	}
	echo := a.wait(5*time.Second, "the queued echo", isEcho("sent before a restart", chat.StatusQueued))
	if echo.ToNick != "" {
		t.Errorf("echo to a peer never met has to_nick %q, want none", echo.ToNick)
	}
	a.crash()

	a2 := startHost(t, persistentConfig("alice", dir))
	b2 := startHost(t, persistentConfig("bob", dirB))
	b2.connect(a2)
	got := b2.wait(5*time.Second, "the DM", isDM("sent before a restart"))
	if got.ID != echo.ID || got.Nick != "alice" {
		t.Errorf("bob got %+v, want ID %s from alice", got, echo.ID)
	}
	st := a2.wait(5*time.Second, "dm_status in the new run", isDMStatus(echo.ID))
	if st.To != bob {
		t.Errorf("dm_status = %+v, want to bob", st)
	}
	if n := a2.count(func(ev chat.Event) bool { return ev.Kind == chat.KindDM && !ev.History }); n != 0 {
		t.Errorf("the new run echoed %d messages, want none (the echo was the first run's)", n)
	}
}

// TestDMHistoryAfterRestart: after a restart each side emits the direct
// messages it stored, both ways, oldest first, as history: ours with
// their recipient and status, theirs with the sender and its nick.
func TestDMHistoryAfterRestart(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startNode(t, persistentConfig("alice", dirA))
	b := startNode(t, persistentConfig("bob", dirB))
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	a.sendDM(b, "before the restart")
	a.wait(5*time.Second, "the echo", isEcho("before the restart", chat.StatusDelivered))
	b.wait(5*time.Second, "the DM", isDM("before the restart"))
	b.sendDM(a, "the answer")
	a.wait(5*time.Second, "the answer", isDM("the answer"))
	if n := a.count(func(ev chat.Event) bool { return ev.History }); n != 0 {
		t.Errorf("alice's first run had %d history events, want none", n)
	}
	a.crash()
	b.crash()

	past := func(ev chat.Event) bool { return ev.Kind == chat.KindDM && ev.History }
	a2 := startHost(t, persistentConfig("alice", dirA))
	b2 := startHost(t, persistentConfig("bob", dirB))
	for _, tc := range []struct {
		n          *testNode
		self, peer string
		ownFirst   bool
	}{{a2, a2.id(), b2.id(), true}, {b2, b2.id(), a2.id(), false}} {
		tc.n.wait(5*time.Second, "the history", func(ev chat.Event) bool { return past(ev) && ev.Text == "the answer" })
		var got []chat.Event
		for _, ev := range tc.n.events() {
			if past(ev) {
				got = append(got, ev)
			}
		}
		if len(got) != 2 {
			t.Fatalf("%s: %d history DMs, want 2: %+v", tc.n.name, len(got), got)
		}
		own, theirs := got[0], got[1]
		if !tc.ownFirst {
			own, theirs = got[1], got[0]
		}
		if got[0].Text != "before the restart" || got[1].Text != "the answer" {
			t.Errorf("%s: history %q, %q: want the order they were said in", tc.n.name, got[0].Text, got[1].Text)
		}
		if !own.Self || own.To != tc.peer || own.Status != chat.StatusDelivered || own.PeerID != tc.self {
			t.Errorf("%s: own history DM %+v, want ours to %s, delivered", tc.n.name, own, tc.peer)
		}
		if theirs.Self || theirs.PeerID != tc.peer || theirs.Nick == "" || theirs.Sent.IsZero() {
			t.Errorf("%s: their history DM %+v, want from %s with its nick", tc.n.name, theirs, tc.peer)
		}
	}
}

// TestDMRepeatedIsDuplicate: a message sent again (its ack lost, say) is
// acknowledged as a duplicate and shown once, also after the recipient
// restarted.
func TestDMRepeatedIsDuplicate(t *testing.T) {
	dir := t.TempDir()
	a := startHost(t, testConfig("alice"))
	b := startHost(t, persistentConfig("bob", dir))
	b.connect(a)
	a.sendDM(b, "once only")
	b.wait(5*time.Second, "the DM", isDM("once only"))
	a.wait(5*time.Second, "the echo", isEcho("once only", chat.StatusDelivered))
	raw := sentRaw(t, a, "once only")

	if st := rawDM(t, a, b, raw); st != dmwire.StatusDuplicate {
		t.Errorf("the same message again: status %d, want duplicate", st)
	}
	b.crash()
	b2 := startHost(t, persistentConfig("bob", dir))
	b2.connect(a)
	if st := rawDM(t, a, b2, raw); st != dmwire.StatusDuplicate {
		t.Errorf("the same message after bob's restart: status %d, want duplicate", st)
	}
	if n := b.count(isDM("once only")) + b2.count(isDM("once only")); n != 1 {
		t.Errorf("bob showed the DM %d times, want once", n)
	}
}

// TestDMRefused: messages that are not what they claim are refused and
// never shown: signed by another key than the stream's peer, addressed
// to another peer, with a bad signature; an oversize frame ends the
// stream.
func TestDMRefused(t *testing.T) {
	a, b, c := startTrio(t)
	otherKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	otherID, _ := peer.IDFromPrivateKey(otherKey)
	pa, pb, pc := peerOf(t, a), peerOf(t, b), peerOf(t, c)
	tests := []struct {
		name string
		raw  []byte
	}{
		{"signed by carol, sent by alice", signDM(t, c.Host.id.key, pc, pb, "forged by alice")},
		{"signed by a stranger as itself", signDM(t, otherKey, otherID, pb, "forged by alice")},
		{"claims alice, signed by a stranger", signDM(t, otherKey, pa, pb, "forged by alice")},
		{"addressed to carol", signDM(t, a.Host.id.key, pa, pc, "forged by alice")},
		{"bad signature", func() []byte {
			m, _ := dmwire.DecodeMessage(signDM(t, a.Host.id.key, pa, pb, "x"))
			m.Text = "forged by alice"
			raw, _ := m.Encode()
			return raw
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if st := rawDM(t, a, b, tt.raw); st != dmwire.StatusRefused {
				t.Errorf("status %d, want refused", st)
			}
		})
	}
	t.Run("oversize frame", func(t *testing.T) {
		s := openDM(t, a, b)
		defer s.Reset()
		// A length over MaxFrame: the handler must not wait for the body.
		if _, err := s.Write([]byte{0xff, 0xff, 0x03}); err != nil {
			t.Fatal(err)
		}
		s.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := dmwire.ReadFrame(bufio.NewReader(s)); err == nil || isTimeout(err) {
			t.Errorf("after an oversize frame: %v, want the stream ended at once", err)
		}
	})
	t.Run("a real one still goes", func(t *testing.T) {
		if st := rawDM(t, a, b, signDM(t, a.Host.id.key, pa, pb, "the real one")); st != dmwire.StatusStored {
			t.Errorf("status %d, want stored", st)
		}
		b.wait(5*time.Second, "the real one", isDM("the real one"))
	})
	if n := b.count(mentionsText("forged")); n != 0 {
		t.Errorf("bob showed %d forged messages:\n%s", n, formatEvents(b.events()))
	}
	if n := c.count(mentionsText("forged")); n != 0 {
		t.Errorf("carol showed %d forged messages", n)
	}
}

// TestSendDMErrors: what SendDM refuses, nothing sent.
func TestSendDMErrors(t *testing.T) {
	a := startHost(t, testConfig("alice"))
	b := startHost(t, testConfig("bob"))
	for _, tt := range []struct {
		name, to, text string
		want           error
	}{
		{"not a peer ID", "bob", "hi", ErrNotPeerID},
		{"self", a.id(), "hi", ErrDMSelf},
		{"empty", b.id(), "", chat.ErrEmptyText},
		{"too long", b.id(), strings.Repeat("x", chat.MaxTextBytes+1), chat.ErrTooLong},
		{"bad UTF-8", b.id(), "\xff", chat.ErrBadUTF8},
	} {
		if err := a.SendDM(context.Background(), tt.to, tt.text); !errors.Is(err, tt.want) {
			t.Errorf("%s: SendDM = %v, want %v", tt.name, err, tt.want)
		}
	}
	if q, _ := a.hist.st.QueuedDMs(""); len(q) != 0 {
		t.Errorf("refused messages were queued: %d", len(q))
	}
	a.Close()
	if err := a.SendDM(context.Background(), b.id(), "hi"); !errors.Is(err, chat.ErrClosed) {
		t.Errorf("SendDM after Close = %v, want ErrClosed", err)
	}
}

// TestDMOutboxBounded: at most dmQueuePerPeer messages wait for one peer.
func TestDMOutboxBounded(t *testing.T) {
	a := startHost(t, testConfig("alice"))
	b := startHost(t, testConfig("bob"))
	bob := b.id()
	b.Close()
	for i := range dmQueuePerPeer {
		if err := a.SendDM(context.Background(), bob, "queued"); err != nil {
			t.Fatalf("SendDM #%d = %v", i+1, err)
		}
	}
	if err := a.SendDM(context.Background(), bob, "one too many"); !errors.Is(err, ErrOutboxFull) {
		t.Errorf("SendDM beyond the bound = %v, want ErrOutboxFull", err)
	}
	waitUntil(t, 10*time.Second, "the queued echoes", func() bool {
		return a.count(isEcho("queued", chat.StatusQueued)) == dmQueuePerPeer
	})
}

// TestDMQueueExpires: a message queued longer than dmQueueAge is dropped,
// with a notice.
func TestDMQueueExpires(t *testing.T) {
	a := startHost(t, testConfig("alice"))
	b := startHost(t, testConfig("bob"))
	bob := b.id()
	b.Close()
	if err := a.SendDM(context.Background(), bob, "too late"); err != nil {
		t.Fatal(err)
	}
	a.wait(5*time.Second, "the queued echo", isEcho("too late", chat.StatusQueued))
	a.dms.prune(time.Now().Add(dmQueueAge + time.Hour))
	ev := a.wait(5*time.Second, "the expiry notice", func(ev chat.Event) bool {
		return ev.Kind == chat.KindNotice && ev.PeerID == bob
	})
	if !strings.Contains(ev.Text, "could not be delivered within 7 days") {
		t.Errorf("notice %q", ev.Text)
	}
	if q, _ := a.hist.st.QueuedDMs(""); len(q) != 0 {
		t.Errorf("%d messages still queued", len(q))
	}
}

// TestDMRateLimit: a peer's messages beyond its burst are answered busy
// before their signatures are checked; the total limit holds for all.
func TestDMRateLimit(t *testing.T) {
	d := newDMs(nil)
	now := time.Now()
	p, q := peer.ID("p"), peer.ID("q")
	for i := range dmRecvBurst {
		if !d.allow(p, now) {
			t.Fatalf("message %d of the burst refused", i+1)
		}
	}
	if d.allow(p, now) {
		t.Error("a message beyond the burst allowed")
	}
	if !d.allow(q, now) {
		t.Error("another peer's message refused")
	}
	if !d.allow(p, now.Add(time.Second/dmRecvRate)) {
		t.Error("no message allowed after a pause")
	}
}

// Helpers.

func peerOf(t testing.TB, tn *testNode) peer.ID {
	t.Helper()
	p, err := peer.Decode(tn.id())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitUntil polls cond every 10 ms until it holds, failing after d.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signDM returns a message from from to to with text, signed by key.
func signDM(t testing.TB, key crypto.PrivKey, from, to peer.ID, text string) []byte {
	t.Helper()
	m := dmwire.Message{From: []byte(from), To: []byte(to), ID: [16]byte{byte(len(text)), 7}, Sent: time.Now().UnixMilli(), Nick: "mallory", Text: text}
	copy(m.ID[2:], text)
	signed, err := m.Signed()
	if err != nil {
		t.Fatal(err)
	}
	if m.Sig, err = key.Sign(signed); err != nil {
		t.Fatal(err)
	}
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// sentRaw returns the signed bytes of from's message with text, from its
// log.
func sentRaw(t testing.TB, from *testNode, text string) []byte {
	t.Helper()
	var raw []byte
	for _, ev := range from.events() {
		if ev.Kind == chat.KindDM && ev.Self && ev.Text == text {
			raw = dmRaw(t, from, ev.ID)
		}
	}
	if raw == nil {
		t.Fatalf("%s has no message %q", from.name, text)
	}
	return raw
}

// dmRaw reads message id's signed bytes from tn's log.
func dmRaw(t testing.TB, tn *testNode, id string) []byte {
	t.Helper()
	d, ok, err := tn.hist.st.GetDM(id)
	if err != nil || !ok {
		t.Fatalf("%s: GetDM(%s) = %v, %v", tn.name, id, ok, err)
	}
	return d.Raw
}

// openDM opens a direct message stream from a to b.
func openDM(t testing.TB, a, b *testNode) network.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := a.host.NewStream(ctx, peerOf(t, b), dmProtocol)
	if err != nil {
		t.Fatalf("open a DM stream from %s to %s: %v", a.name, b.name, err)
	}
	return s
}

// rawDM writes raw as a message frame from a to b and returns the ack's
// status.
func rawDM(t testing.TB, a, b *testNode, raw []byte) byte {
	t.Helper()
	s := openDM(t, a, b)
	defer s.Close()
	s.SetDeadline(time.Now().Add(5 * time.Second))
	if err := dmwire.WriteFrame(s, dmwire.TypeMessage, raw); err != nil {
		t.Fatal(err)
	}
	typ, body, err := dmwire.ReadFrame(bufio.NewReader(s))
	if err != nil || typ != dmwire.TypeAck {
		t.Fatalf("no ack: type %d, %v", typ, err)
	}
	ack, err := dmwire.DecodeAck(body)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Status
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// BenchmarkDM measures direct message latency on loopback (TCP, Noise,
// yamux, pnet): from SendDM until the recipient has it as an event (its
// log written: an fsync), and until the sender's echo says delivered (the
// ack back). One message at a time; reports p50 and p99 in microseconds.
func BenchmarkDM(b *testing.B) {
	psk, _ := GenerateKey()
	var nodes []*testNode
	for _, nick := range []string{"alice", "bob"} {
		cfg := persistentConfig(nick, b.TempDir())
		cfg.PSK = psk
		cfg.Logger = nil
		nodes = append(nodes, startHost(b, cfg))
	}
	a, r := nodes[0], nodes[1]
	r.dms.setLimit(rate.Inf, rate.Inf) // faster than any person
	r.connect(a)
	var lat, ack []time.Duration
	for i := 0; b.Loop(); i++ {
		text := "dm " + strconv.Itoa(i)
		start := time.Now()
		if err := a.SendDM(context.Background(), r.id(), text); err != nil {
			b.Fatal(err)
		}
		echoed := make(chan time.Time, 1)
		go func() {
			_, ok := a.waitOK(5*time.Second, isEcho(text, chat.StatusDelivered))
			echoed <- map[bool]time.Time{true: time.Now()}[ok]
		}()
		if _, ok := r.waitOK(5*time.Second, isDM(text)); !ok {
			b.Fatalf("no DM %q", text)
		}
		lat = append(lat, time.Since(start))
		at := <-echoed
		if at.IsZero() {
			b.Fatalf("no echo of %q", text)
		}
		ack = append(ack, at.Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(ack)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(ack[len(ack)/2].Microseconds()), "ack-p50-µs")
	b.ReportMetric(float64(ack[len(ack)*99/100].Microseconds()), "ack-p99-µs")
}

// noAckStream is a stream whose writes fail: the ack of a message cannot
// go back (the sender gave up waiting, or the connection broke).
type noAckStream struct{ network.Stream }

func (noAckStream) Write([]byte) (int, error) { return 0, errors.New("stream reset") }

// TestDMShownWhenAckLost: a message stored but whose ack could not be
// written is shown all the same, and once: the sender sends it again,
// and that copy is a duplicate.
func TestDMShownWhenAckLost(t *testing.T) {
	a := startHost(t, testConfig("alice"))
	b := startHost(t, testConfig("bob"))
	b.connect(a)
	const proto = "/lanchat/test/dm-no-ack"
	b.host.SetStreamHandler(proto, func(s network.Stream) { b.dms.handle(noAckStream{s}) })
	pa, pb := peerOf(t, a), peerOf(t, b)
	raw := signDM(t, a.Host.id.key, pa, pb, "the ack of this is lost")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := a.host.NewStream(ctx, pb, proto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	if err := dmwire.WriteFrame(s, dmwire.TypeMessage, raw); err != nil {
		t.Fatal(err)
	}
	m, _ := dmwire.DecodeMessage(raw)
	id := dmID(pa, m.ID)
	waitUntil(t, 5*time.Second, "the message stored", func() bool { ok, _ := b.hist.st.HasDM(id); return ok })
	if _, ok := b.waitOK(3*time.Second, isDM("the ack of this is lost")); !ok {
		t.Errorf("bob stored the message but did not show it; events:\n%s", formatEvents(b.events()))
	}
	if st := rawDM(t, a, b, raw); st != dmwire.StatusDuplicate {
		t.Errorf("the message sent again: status %d, want duplicate", st)
	}
	if n := b.count(isDM("the ack of this is lost")); n != 1 {
		t.Errorf("bob showed the message %d times, want once", n)
	}
}

// TestDMEchoWhenFlushedAtOnce: a message that a flush already under way
// (for the message before it, a connection, a retry) sends as soon as it
// is in the outbox, before SendDM has returned, gets its echo, delivered,
// and no dm_status: it was never reported queued.
func TestDMEchoWhenFlushedAtOnce(t *testing.T) {
	a := startHost(t, testConfig("alice"))
	b := startHost(t, testConfig("bob"))
	b.connect(a)
	pb := peerOf(t, b)
	const text = "sent by a flush under way"
	a.dms.stored = func() { // a flush runs now, and ends
		a.dms.kicks <- dmKick{p: pb, force: true}
		waitUntil(t, 5*time.Second, "the flush done", func() bool {
			n, _, _ := a.hist.st.QueuedDMCount(pb.String())
			a.dms.mu.Lock()
			defer a.dms.mu.Unlock()
			return n == 0 && !a.dms.running[pb]
		})
	}
	a.sendDM(b, text)
	got := b.wait(5*time.Second, "the DM", isDM(text))
	if _, ok := a.waitOK(5*time.Second, isEcho(text, chat.StatusDelivered)); !ok {
		t.Errorf("no echo, delivered; events:\n%s", formatEvents(a.events()))
	}
	if n := a.count(isDMStatus(got.ID)); n != 0 {
		t.Errorf("%d dm_status events for a message never reported queued", n)
	}
	a.dms.mu.Lock()
	defer a.dms.mu.Unlock()
	if n := len(a.dms.fresh); n != 0 {
		t.Errorf("%d echoes left waiting for ever", n)
	}
}

// TestDMShownInOrder: messages sent back to back, several within a
// millisecond, are shown to the peer in the order they were sent.
func TestDMShownInOrder(t *testing.T) {
	a := startHost(t, testConfig("alice"))
	b := startHost(t, testConfig("bob"))
	b.connect(a)
	const n = 60
	for i := range n {
		a.sendDM(b, fmt.Sprintf("line %02d", i))
	}
	theirs := func(ev chat.Event) bool { return ev.Kind == chat.KindDM && !ev.Self }
	waitUntil(t, 10*time.Second, "every message", func() bool { return b.count(theirs) >= n })
	i := 0
	for _, ev := range b.events() {
		if theirs(ev) {
			if want := fmt.Sprintf("line %02d", i); ev.Text != want {
				t.Errorf("message %d bob got is %q, want %q", i, ev.Text, want)
			}
			i++
		}
	}
}

// TestDMOutboxOrder: the outbox, whose order is the order a flush sends
// in, is in the order the messages were sent, also for messages stored
// within one millisecond.
func TestDMOutboxOrder(t *testing.T) {
	a := startHost(t, testConfig("alice"))
	b := startHost(t, testConfig("bob"))
	bob := b.id()
	b.Close()
	for i := range dmQueuePerPeer {
		if err := a.SendDM(context.Background(), bob, fmt.Sprintf("queued %03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	q, err := a.hist.st.QueuedDMs(bob)
	if err != nil || len(q) != dmQueuePerPeer {
		t.Fatalf("QueuedDMs = %d messages, %v, want %d", len(q), err, dmQueuePerPeer)
	}
	for i, it := range q {
		m, err := dmwire.DecodeMessage(it.Raw)
		if want := fmt.Sprintf("queued %03d", i); err != nil || m.Text != want {
			t.Errorf("queued message %d is %q (%v), want %q", i, m.Text, err, want)
		}
	}
}

// TestDMEchoNickSanitized: the nick of a peer known from its direct
// message alone (no room in common), one that earlier versions allowed
// but that is not valid, is in the echo of our reply as events carry
// nicks: sanitised, as in its own message's event.
func TestDMEchoNickSanitized(t *testing.T) {
	a := startHost(t, testConfig("alice"))
	b := startHost(t, testConfig("bob"))
	b.connect(a)
	pa, pb := peerOf(t, a), peerOf(t, b)
	m := dmwire.Message{From: []byte(pb), To: []byte(pa), ID: [16]byte{1}, Sent: time.Now().UnixMilli(), Nick: "b<o>b", Text: "hi"}
	signed, err := m.Signed()
	if err != nil {
		t.Fatal(err)
	}
	if m.Sig, err = b.Host.id.key.Sign(signed); err != nil {
		t.Fatal(err)
	}
	raw, _ := m.Encode()
	if st := rawDM(t, b, a, raw); st != dmwire.StatusStored {
		t.Fatalf("status %d, want stored", st)
	}
	want := chat.SanitizeNick("b<o>b")
	if got := a.wait(5*time.Second, "bob's DM", isDM("hi")); got.Nick != want {
		t.Errorf("the DM's nick is %q, want %q", got.Nick, want)
	}
	a.sendDM(b, "hello")
	if echo := a.wait(5*time.Second, "the echo", isEcho("hello", chat.StatusDelivered)); echo.ToNick != want {
		t.Errorf("the echo's to_nick is %q, want %q", echo.ToNick, want)
	}
}
