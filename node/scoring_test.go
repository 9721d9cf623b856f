package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

// TestScoreParams: the prepared scoring parameters pass pubsub's
// validation, host-wide and for a room's topic.
func TestScoreParams(t *testing.T) {
	h := newRawHost(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithPeerScore(peerScoreParams(), peerScoreThresholds()))
	if err != nil {
		t.Fatalf("NewGossipSub(WithPeerScore) = %v", err)
	}
	tp, err := ps.Join(openTopic(testRoom))
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	if err := tp.SetScoreParams(roomScoreParams()); err != nil {
		t.Errorf("SetScoreParams(roomScoreParams()) = %v", err)
	}
	// The count loses 10 % a second whatever the decay interval.
	if got, want := invalidDecay, math.Pow(0.9, scoreEvery.Seconds()); math.Abs(got-want) > 1e-9 {
		t.Errorf("invalidDecay = %v, want 0.9 a second: %v at scoreEvery %v", got, want, scoreEvery)
	}
}

// TestAdmissionThrottleOnce: an author over the flood limit is queued for
// the user's notice once, however many of its messages are dropped.
func TestAdmissionThrottleOnce(t *testing.T) {
	a := newAdmission(slog.New(slog.DiscardHandler))
	a.setLimit(1, 2)
	p, q := peer.ID("flooder"), peer.ID("other")
	for seq := range uint64(20) {
		a.screen(p, p, seq+1)
		a.hopeless(p, p)
	}
	a.screen(q, q, 1)
	if len(a.throttles) != 1 {
		t.Fatalf("%d notices queued, want 1", len(a.throttles))
	}
	if th := <-a.throttles; th.author != p || th.limit != 1 {
		t.Errorf("notice %+v, want the flooder at 1/s", th)
	}
}

// TestAdmissionForgedCannotSpend: messages checked before their signature
// (see [admission.hopeless]) that claim an honest author use up only the
// forwarder's allowance for that author, never the author's own, nor
// other forwarders'.
func TestAdmissionForgedCannotSpend(t *testing.T) {
	a := newAdmission(slog.New(slog.DiscardHandler))
	alice, forger, bob := peer.ID("alice"), peer.ID("forger"), peer.ID("bob")
	if res, _ := a.screen(alice, alice, 1); res != pubsub.ValidationAccept {
		t.Fatalf("screen(alice) = %v", res)
	}
	dropped := 0
	for range 10 * recvBurst {
		if drop, _ := a.hopeless(alice, forger); drop {
			dropped++
		}
	}
	if want := 10*recvBurst - a.pairBurst(); dropped < want-pairFactor*recvRate {
		t.Errorf("%d of the forger's messages dropped, want about %d", dropped, want)
	}
	for _, src := range []peer.ID{alice, bob} {
		if drop, _ := a.hopeless(alice, src); drop {
			t.Errorf("alice's message forwarded by %s dropped after the forger's", src)
		}
	}
	for seq := range uint64(recvBurst - 1) {
		if res, _ := a.screen(alice, alice, seq+2); res != pubsub.ValidationAccept {
			t.Fatalf("alice's message %d = %v after the forger's, want accept", seq+2, res)
		}
	}
}

// TestAdmissionSybilPrecheck: a relay forwarding messages of thousands of
// new authors has them dropped before their signature checks, beyond
// twice its introductions.
func TestAdmissionSybilPrecheck(t *testing.T) {
	a := newAdmission(slog.New(slog.DiscardHandler))
	relay := peer.ID("relay")
	passed := 0
	for i := range 5000 {
		if drop, _ := a.hopeless(peer.ID(fmt.Sprint("sybil", i)), relay); !drop {
			passed++
		}
	}
	if limit := pairFactor*introBurst + 10; passed > limit || passed < introBurst {
		t.Errorf("%d of 5000 new authors passed, want about %d", passed, pairFactor*introBurst)
	}
	// An author delivering its own message needs no introduction.
	if drop, _ := a.hopeless("newcomer", "newcomer"); drop {
		t.Error("a newcomer's own message dropped")
	}
}

// scoresOf waits up to d for a snapshot of n's peer scores, taken after
// the call, for which ok holds, and returns it.
func scoresOf(t *testing.T, n *testNode, d time.Duration, what string, ok func(map[peer.ID]*pubsub.PeerScoreSnapshot) bool) map[peer.ID]*pubsub.PeerScoreSnapshot {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	_, _, next := n.scores.snapshot()
	for {
		select {
		case <-next:
		case <-deadline.C:
			last, taken, _ := n.scores.snapshot()
			t.Fatalf("%s: no scores with %s within %v (%d snapshots; last %s)", n.name, what, d, taken, formatScores(last))
		}
		var s map[peer.ID]*pubsub.PeerScoreSnapshot
		s, _, next = n.scores.snapshot()
		if ok(s) {
			return s
		}
	}
}

// nextScores returns n's next k snapshots of peer scores, waiting up to
// d for them.
func nextScores(t *testing.T, n *testNode, k int, d time.Duration) []map[peer.ID]*pubsub.PeerScoreSnapshot {
	t.Helper()
	var out []map[peer.ID]*pubsub.PeerScoreSnapshot
	end := time.Now().Add(d)
	for len(out) < k {
		out = append(out, scoresOf(t, n, max(time.Until(end), 0), fmt.Sprintf("snapshot %d of %d", len(out)+1, k),
			func(map[peer.ID]*pubsub.PeerScoreSnapshot) bool { return true }))
	}
	return out
}

// waitMesh waits until n has every one of peers in its mesh of testRoom:
// what n relays then goes to them at once, not by gossip a heartbeat or
// two later.
func waitMesh(t *testing.T, n *testNode, peers ...*testNode) {
	t.Helper()
	waitMeshIn(t, n, openTopic(testRoom), peers...)
}

// waitMeshIn is waitMesh for the room of topic.
func waitMeshIn(t *testing.T, n *testNode, topic string, peers ...*testNode) {
	t.Helper()
	scoresOf(t, n, 10*time.Second, "its mesh formed in "+topic, func(s map[peer.ID]*pubsub.PeerScoreSnapshot) bool {
		for _, p := range peers {
			ps := s[p.Host.self]
			if ps == nil || ps.Topics[topic] == nil || ps.Topics[topic].TimeInMesh == 0 {
				return false
			}
		}
		return true
	})
}

// scoreOf is p's score in s, 0 if p is not scored.
func scoreOf(s map[peer.ID]*pubsub.PeerScoreSnapshot, p peer.ID) float64 {
	if ps := s[p]; ps != nil {
		return ps.Score
	}
	return 0
}

func formatScores(s map[peer.ID]*pubsub.PeerScoreSnapshot) string {
	var b strings.Builder
	for p, ps := range s {
		fmt.Fprintf(&b, "%s=%.1f", p.ShortString(), ps.Score)
		for topic, ts := range ps.Topics {
			fmt.Fprintf(&b, "(%s: invalid %.2f, in mesh %v)", topic, ts.InvalidMessageDeliveries, ts.TimeInMesh)
		}
		b.WriteString(" ")
	}
	return b.String()
}

// rawSender is a peer that speaks gossipsub just enough to be scored: it
// takes the stream a node opens to it (pubsub scores a peer once that
// stream is open) and reads nothing from it, and writes RPCs of its
// choosing on its own stream to the node, one per send, in order.
type rawSender struct {
	id  peer.ID
	key crypto.PrivKey
	s   network.Stream
	seq uint64
}

// newRawSender connects a raw sender to n and waits until n scores it.
func newRawSender(t *testing.T, n *testNode) *rawSender {
	t.Helper()
	h := newRawHost(t, nil)
	opened := make(chan struct{})
	var once sync.Once
	for _, id := range []protocol.ID{pubsub.GossipSubID_v13, pubsub.GossipSubID_v12, pubsub.GossipSubID_v11} {
		h.SetStreamHandler(id, func(s network.Stream) {
			once.Do(func() { close(opened) })
			io.Copy(io.Discard, s)
		})
	}
	connectRaw(t, h, n)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case <-opened:
	case <-ctx.Done():
		t.Fatalf("%s opened no gossipsub stream to the raw sender", n.name)
	}
	s, err := h.NewStream(ctx, n.Host.self, pubsub.GossipSubID_v11)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &rawSender{id: h.ID(), key: h.Peerstore().PrivKey(h.ID()), s: s, seq: 1 << 32}
	scoresOf(t, n, 5*time.Second, "the raw sender", func(s map[peer.ID]*pubsub.PeerScoreSnapshot) bool { return s[r.id] != nil })
	return r
}

// send writes one RPC holding an envelope per data, signed by the
// sender's own key, in the room.
func (r *rawSender) send(t *testing.T, data ...[]byte) {
	t.Helper()
	rpc := &pb.RPC{}
	for _, d := range data {
		r.seq++
		rpc.Publish = append(rpc.Publish, signedWith(t, r.key, openTopic(testRoom), r.seq, d))
	}
	b, err := proto.Marshal(rpc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.Write(append(binary.AppendUvarint(nil, uint64(len(b))), b...)); err != nil {
		t.Fatal(err)
	}
}

// TestScoringGraylistsInvalidSender: a key holder that signs envelopes no
// lanchat sends (another room's, on this room's topic) is graylisted by
// the peer it sends them to, and while it is, even its well-formed lines
// are dropped; honest members are never penalised and keep chatting,
// during and after.
func TestScoringGraylistsInvalidSender(t *testing.T) {
	t.Parallel()
	a, b, c := startTrio(t)
	waitMesh(t, a, b, c)    // alice relays mallory's lines
	m := newRawSender(t, a) // connected to alice only
	graylist := peerScoreThresholds().GraylistThreshold

	// Each invalid message is 1 on the count; the score is -count²,
	// graylisted below -80 (9 of them). 14 in one RPC are all read (the
	// graylist is checked per RPC) and keep it graylisted for seconds.
	const invalid = 14
	var junk [][]byte
	for i := range invalid {
		junk = append(junk, envelope(t, wire.Envelope{Kind: wire.KindMessage, Room: "elsewhere", Sent: 1, Nick: "mallory", Text: fmt.Sprint("junk ", i)}))
	}
	start := time.Now()
	m.send(t, junk...)
	s := scoresOf(t, a, 5*time.Second, "mallory graylisted", func(s map[peer.ID]*pubsub.PeerScoreSnapshot) bool {
		return scoreOf(s, m.id) < graylist
	})
	grayAt := time.Since(start)
	t.Logf("%d invalid messages: graylisted, seen %v later: %s", invalid, grayAt.Round(time.Millisecond), formatScores(map[peer.ID]*pubsub.PeerScoreSnapshot{m.id: s[m.id]}))
	for _, p := range []*testNode{b, c} {
		if got := scoreOf(s, p.Host.self); got != 0 {
			t.Errorf("alice scores %s %v, want 0", p.name, got)
		}
	}

	// Graylisted: its next line is dropped unread. Honest lines go on.
	m.send(t, message(t, "mallory", "while graylisted"))
	marker(t, b, "bob during", a, c)
	marker(t, a, "alice during", b, c)

	s = scoresOf(t, a, 15*time.Second, "mallory no longer graylisted", func(s map[peer.ID]*pubsub.PeerScoreSnapshot) bool {
		return scoreOf(s, m.id) >= graylist
	})
	t.Logf("score back above the graylist threshold, seen %v after the burst (snapshots every %v): %.1f",
		time.Since(start).Round(100*time.Millisecond), scoreEvery, scoreOf(s, m.id))

	// Its lines are read again; the later one arriving, on the same
	// stream, means the earlier one was dropped.
	m.send(t, message(t, "mallory", "after graylist"))
	for _, n := range []*testNode{a, b, c} {
		n.wait(5*time.Second, "mallory's line after the graylist", isMessage("after graylist"))
	}
	for _, n := range []*testNode{a, b, c} {
		if got := n.count(isMessage("while graylisted")); got != 0 {
			t.Errorf("%s shows mallory's line sent while graylisted %d times", n.name, got)
		}
	}
	marker(t, b, "bob after", a, c)
	marker(t, c, "carol after", a, b)
	for _, n := range []*testNode{a, b, c} {
		s := nextScores(t, n, 1, 5*time.Second)[0]
		for _, p := range []*testNode{a, b, c} {
			if got := scoreOf(s, p.Host.self); p != n && got != 0 {
				t.Errorf("%s scores %s %v, want 0: %s", n.name, p.name, got, formatScores(s))
			}
		}
	}
}

// TestScoringNeverPenalisesHonest: in a chain flooder—bob—carol, the
// flooder sends envelopes of a newer version and floods beyond the
// per-author limit. Bob ignores the newer envelopes (forwarding nothing),
// and forwards only the flood he accepted, of which carol, with a lower
// limit, drops or ignores part: what is ignored costs nobody anything, so
// every score stays 0, even the flooder's (an honest newer lanchat, or a
// paste over a slow link, is not an attacker).
func TestScoringNeverPenalisesHonest(t *testing.T) {
	t.Parallel()
	b := startNode(t, testConfig("bob"))
	c := startNode(t, testConfig("carol"))
	// Low limits, so that even a loaded machine floods well above them.
	b.adm.setLimit(10, 100)
	c.adm.setLimit(5, 30) // carol drops some of what bob accepted
	c.connect(b)
	waitKnown(5*time.Second, b, c)
	waitMesh(t, b, c)
	f := newRawPeer(t, nil, openTopic(testRoom))
	f.join(t, b) // bob only

	for i := range 3 {
		f.publish(t, rawEnvelope(3, wire.KindMessage, testRoom, "future", fmt.Sprint("newer ", i)))
		f.publish(t, rawEnvelope(2, 99, testRoom, "future", ""))
	}
	const flood = 600
	for i := range flood {
		f.publish(t, message(t, "flooder", fmt.Sprint("flood ", i)))
	}
	// Live ones: sync may fetch later what carol dropped.
	isFlood := func(ev chat.Event) bool {
		return ev.Kind == chat.KindMessage && strings.HasPrefix(ev.Text, "flood ") && !ev.History
	}
	if _, ok := c.waitOK(5*time.Second, isMessage("flood 0")); !ok {
		cs, _, _ := c.scores.snapshot()
		bs, _, _ := b.scores.snapshot()
		t.Fatalf("carol: no flood relayed by bob; carol's scores %s; bob's %s", formatScores(cs), formatScores(bs))
	}
	// Bob is throttling the flooder; his marker reaches carol after what
	// he forwarded before it.
	b.wait(10*time.Second, "the flood notice", func(ev chat.Event) bool {
		return ev.Kind == chat.KindNotice && ev.PeerID == f.id.String()
	})
	marker(t, b, "bob after the flood", c)
	atB, atC := b.count(isFlood), c.count(isFlood)
	t.Logf("flood of %d: bob shows %d, carol %d", flood, atB, atC)
	if atC >= atB {
		t.Errorf("carol shows %d flood lines, bob %d: want carol to drop some of what bob forwarded", atC, atB)
	}
	if n := b.count(func(ev chat.Event) bool { return strings.HasPrefix(ev.Text, "newer ") }); n != 0 {
		t.Errorf("bob shows %d envelopes of a newer version", n)
	}

	// A penalty lasts: a count of 1 takes 44 s to decay to zero. So two
	// snapshots now see any penalty of the whole test.
	for _, n := range []*testNode{b, c} {
		for _, s := range nextScores(t, n, 2, 10*time.Second) {
			if len(s) == 0 {
				t.Fatalf("%s scores nobody", n.name)
			}
			for p, ps := range s {
				if ps.Score != 0 {
					t.Errorf("%s scores %s %v, want 0: %s", n.name, p, ps.Score, formatScores(s))
				}
			}
		}
	}
	// They could have been penalised: the room's topic is scored.
	if s, _, _ := c.scores.snapshot(); s[b.Host.self] == nil || s[b.Host.self].Topics[openTopic(testRoom)] == nil {
		t.Errorf("carol does not score bob in the room: %s", formatScores(s))
	}
	if s, _, _ := b.scores.snapshot(); s[f.id] == nil || s[f.id].Topics[openTopic(testRoom)] == nil {
		t.Errorf("bob does not score the flooder in the room: %s", formatScores(s))
	}
}

// TestScoringQuietRoom: a room where nobody says anything, not even
// heartbeats, for several seconds with its members in each other's
// mesh, costs nobody anything.
func TestScoringQuietRoom(t *testing.T) {
	t.Parallel()
	a, b, c := startTrio(t)
	nodes := []*testNode{a, b, c}
	for _, n := range nodes {
		n.mute.Store(true)
	}
	// Four snapshots at alice, then one at bob and carol: a penalty for
	// silence, once there, would stay as long as the silence.
	snaps := map[*testNode][]map[peer.ID]*pubsub.PeerScoreSnapshot{a: nextScores(t, a, 4, 20*time.Second)}
	for _, n := range []*testNode{b, c} {
		snaps[n] = nextScores(t, n, 1, 5*time.Second)
	}
	for _, n := range nodes {
		for _, s := range snaps[n] {
			for p, ps := range s {
				if ps.Score != 0 {
					t.Errorf("%s scores %s %v in a quiet room, want 0: %s", n.name, p, ps.Score, formatScores(s))
				}
			}
		}
		last := snaps[n][len(snaps[n])-1]
		// The silence was in the mesh, long enough for a mesh delivery
		// penalty (P3) to apply if it were on.
		for _, p := range nodes {
			if p == n {
				continue
			}
			ps := last[p.Host.self]
			if ps == nil || ps.Topics[openTopic(testRoom)] == nil || ps.Topics[openTopic(testRoom)].TimeInMesh < 2*time.Second {
				t.Errorf("%s: %s not in the mesh for 2 s: %s", n.name, p.name, formatScores(last))
			}
		}
	}
}

// signedWith returns a pubsub message of topic with data, signed by key
// as StrictSign wants it, with sequence number seq.
func signedWith(t *testing.T, key crypto.PrivKey, topic string, seq uint64, data []byte) *pb.Message {
	t.Helper()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	m := &pb.Message{From: []byte(id), Data: data, Seqno: binary.BigEndian.AppendUint64(nil, seq), Topic: &topic}
	unsigned, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if m.Signature, err = key.Sign(append([]byte(pubsub.SignPrefix), unsigned...)); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestScoringEquivocation: a key holder signs, under one sequence number,
// an envelope no lanchat sends and a valid line, and hands the first to
// alice, the second to bob, who accepts it and forwards it to alice. With
// pubsub's default message ID (author and sequence number) alice takes
// bob's copy for a copy of the invalid message and charges him for it:
// she graylisted the honest relay after 9. So the ID covers the data,
// and the topic: the same bytes are another room's envelope in one topic
// and a valid one in the next.
func TestScoringEquivocation(t *testing.T) {
	t.Parallel()
	a, b := startPair(t)
	const other = "other"
	a.join(other, "")
	b.join(other, "")
	waitKnownIn(5*time.Second, other, a, b)
	waitMesh(t, b, a) // bob relays at once
	waitMeshIn(t, b, openTopic(other), a)
	const pairs = 12
	for _, tt := range []struct {
		name     string
		badTopic string // where alice gets the bad one
		badRoom  string // the room field of the bad one
		topic    string // where bob gets the good one
		room     string
	}{
		{"same topic", openTopic(testRoom), "elsewhere", openTopic(testRoom), testRoom},
		{"another topic", openTopic(testRoom), other, openTopic(other), other},
	} {
		key, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		var bad, good []*pb.Message
		for i := range pairs {
			text := fmt.Sprintf("%s %d", tt.name, i)
			badEnv := envelope(t, wire.Envelope{Kind: wire.KindMessage, Room: tt.badRoom, Sent: 1, Nick: "eve", Text: text})
			goodEnv := envelope(t, wire.Envelope{Kind: wire.KindMessage, Room: tt.room, Sent: 1, Nick: "eve", Text: text})
			bad = append(bad, signedWith(t, key, tt.badTopic, uint64(i+1), badEnv))
			good = append(good, signedWith(t, key, tt.topic, uint64(i+1), goodEnv))
		}
		// Each batch ends with a line of another author: once it shows,
		// the batch was judged.
		mark := func(text, topic, room string) *pb.Message {
			k, _, _ := crypto.GenerateEd25519Key(nil)
			return signedWith(t, k, topic, 1, envelope(t, wire.Envelope{Kind: wire.KindMessage, Room: room, Sent: 1, Nick: "m", Text: text}))
		}
		first, second := tt.name+": first batch", tt.name+": second batch"
		inject(t, a, nil, append(bad, mark(first, tt.badTopic, testRoom))...)
		a.wait(5*time.Second, first, isMessage(first))
		inject(t, b, nil, append(good, mark(second, tt.topic, tt.room))...)
		b.wait(5*time.Second, second, isMessage(second))
		if _, ok := a.waitOK(10*time.Second, isMessage(second)); !ok {
			s, _, _ := a.scores.snapshot()
			t.Fatalf("%s: alice did not get the second batch through bob: %s", tt.name, formatScores(s))
		}
		if n := a.count(func(ev chat.Event) bool { return ev.Room == tt.room && strings.HasPrefix(ev.Text, tt.name+" ") }); n != pairs {
			t.Errorf("%s: alice shows %d of the %d good lines bob forwarded", tt.name, n, pairs)
		}
		s := nextScores(t, a, 1, 5*time.Second)[0]
		if got := scoreOf(s, b.Host.self); got != 0 {
			t.Errorf("%s: alice scores bob, who forwarded valid lines, %v, want 0: %s", tt.name, got, formatScores(s))
		}
	}
	marker(t, b, "bob still heard", a)
}
