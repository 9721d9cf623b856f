package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

func TestWrongKeyCannotConnect(t *testing.T) {
	t.Parallel()
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	tests := []struct {
		name   string
		a, b   []byte
		expect string
	}{
		{"different keys", k1, k2, "does the peer use the same key?"},
		{"open to private", nil, k1, "does the peer use the same key?"},
		{"private to open", k1, nil, "does the peer use the same key?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ca, cb := testConfig("alice"), testConfig("bob")
			ca.PSK, cb.PSK = tt.a, tt.b
			a, b := startNode(t, ca), startNode(t, cb)
			for range 3 { // a third of such dials hang, the rest fail at once
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				err := b.Connect(ctx, a.addr())
				cancel()
				if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), tt.expect) ||
					!strings.HasPrefix(err.Error(), "cannot connect to /ip4/127.0.0.1/tcp/") {
					t.Fatalf("Connect = %v, want %q", err, tt.expect)
				}
				t.Logf("Connect = %v", err)
			}
			for _, n := range []*testNode{a, b} {
				if len(n.Members()) != 1 || n.count(func(ev chat.Event) bool { return ev.Kind == chat.KindJoin && !ev.Self }) != 0 {
					t.Errorf("%s sees members through a wrong key: %+v", n.name, n.Members())
				}
			}
		})
	}
}

func TestConnectErrors(t *testing.T) {
	t.Parallel()
	a := startNode(t, testConfig("alice"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, addr := range []string{"", "nonsense", "/ip4/127.0.0.1/tcp/1", "/p2p/" + a.id()} {
		if err := a.Connect(ctx, addr); !errors.Is(err, ErrBadAddr) {
			t.Errorf("Connect(%q) = %v, want ErrBadAddr", addr, err)
		}
	}
	if err := a.Connect(ctx, a.addr()); !errors.Is(err, ErrBadAddr) {
		t.Errorf("Connect(self) = %v, want ErrBadAddr", err)
	}
	// Nobody listens on port 1.
	other := testPeerID(t)
	err := a.Connect(ctx, "/ip4/127.0.0.1/tcp/1/p2p/"+other.String())
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Connect(closed port) = %v, want connection refused", err)
	}
}

// rawPeer is a gossipsub peer without lanchat's validator: it can publish
// anything, signed with its own key.
type rawPeer struct {
	id    peer.ID
	h     host.Host
	ps    *pubsub.PubSub
	topic *pubsub.Topic
	sub   *pubsub.Subscription
}

// newRawHost is a libp2p host like a node's, without pubsub.
func newRawHost(t *testing.T, psk []byte) host.Host {
	t.Helper()
	opts := []libp2p.Option{
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
	}
	if psk != nil {
		opts = append(opts, libp2p.PrivateNetwork(psk))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// connectRaw connects the raw host h to n.
func connectRaw(t *testing.T, h host.Host, n *testNode) {
	t.Helper()
	ai, err := peer.AddrInfoFromString(n.addr())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
}

// newRawPeer starts a raw peer subscribed to topic.
func newRawPeer(t *testing.T, psk []byte, topic string) *rawPeer {
	t.Helper()
	h := newRawHost(t, psk)
	ctx, cancel := context.WithCancel(context.Background())
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithFloodPublish(true), pubsub.WithPeerOutboundQueueSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ps.Join(topic)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tp.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sub.Cancel()
		tp.Close()
		cancel()
	})
	return &rawPeer{id: h.ID(), h: h, ps: ps, topic: tp, sub: sub}
}

// join connects the raw peer to n and waits until n knows it is in the
// topic, and it has heard n there: both directions of the link work, so
// what it publishes next reaches n directly (a publish on a link that is
// not up yet is lost, and relays may miss it too; see the libp2p notes).
func (r *rawPeer) join(t *testing.T, n *testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	connectRaw(t, r.h, n)
	for !slices.Contains(n.ps.ListPeers(r.topic.String()), r.id) {
		if ctx.Err() != nil {
			t.Fatalf("%s never saw the raw peer in %s", n.name, r.topic)
		}
		time.Sleep(10 * time.Millisecond) // polling pubsub's table; there is no event to wait for
	}
	for {
		m, err := r.sub.Next(ctx)
		if err != nil {
			t.Fatalf("raw peer never heard %s: %v", n.name, err)
		}
		if m.GetFrom().String() == n.id() {
			return
		}
	}
}

// capture returns the next message the raw peer receives that matches.
func (r *rawPeer) capture(t *testing.T, what string, match func(*pubsub.Message, wire.Envelope) bool) *pb.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		m, err := r.sub.Next(ctx)
		if err != nil {
			t.Fatalf("raw peer: no %s: %v", what, err)
		}
		if env, err := wire.Decode(m.GetData()); err == nil && match(m, env) {
			return m.Message
		}
	}
}

// inject connects a fresh host to n and hands it msgs in one pubsub RPC, as
// if forwarding them: pubsub checks their signatures, not who forwards
// them. It returns the fresh host.
func inject(t *testing.T, n *testNode, psk []byte, msgs ...*pb.Message) host.Host {
	t.Helper()
	h := newRawHost(t, psk)
	connectRaw(t, h, n)
	return injectRPCs(t, h, n, [][]*pb.Message{msgs})
}

// injectRPCs is [inject] from h, already connected to n, with the messages
// in several RPCs, one after the other on a stream of its own.
func injectRPCs(t *testing.T, h host.Host, n *testNode, rpcs [][]*pb.Message) host.Host {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, n.Host.self, pubsub.GossipSubID_v11)
	if err != nil {
		t.Fatal(err)
	}
	var frames []byte
	for _, msgs := range rpcs {
		data, err := proto.Marshal(&pb.RPC{Publish: msgs})
		if err != nil {
			t.Fatal(err)
		}
		frames = append(binary.AppendUvarint(frames, uint64(len(data))), data...)
	}
	if _, err := s.Write(frames); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return h
}

// fromOf matches, for capture, the envelopes of kind k that n signed.
func fromOf(n *testNode, k wire.Kind) func(*pubsub.Message, wire.Envelope) bool {
	id := n.id()
	return func(m *pubsub.Message, env wire.Envelope) bool { return m.GetFrom().String() == id && env.Kind == k }
}

func (r *rawPeer) publish(t *testing.T, data []byte) {
	t.Helper()
	if err := r.topic.Publish(context.Background(), data); err != nil {
		t.Fatalf("raw publish: %v", err)
	}
}

// TestValidatorRejectsBadEnvelopes has a raw pubsub peer publish broken
// envelopes and an impersonation attempt into a room.
func TestValidatorRejectsBadEnvelopes(t *testing.T) {
	t.Parallel()
	psk, _ := GenerateKey()
	cfg := testConfig("alice")
	cfg.PSK = psk
	a := startNode(t, cfg)
	cfg = testConfig("bob")
	cfg.PSK = psk
	b := startNode(t, cfg)
	b.connect(a)
	waitKnown(5*time.Second, a, b)

	// Connected to both: a relayed message can miss a peer that joins the
	// relay's gossipsub mesh only at its next heartbeat (up to a second).
	raw := newRawPeer(t, psk, openTopic(testRoom))
	raw.join(t, a)
	raw.join(t, b)

	bad := map[string][]byte{
		"garbage":        []byte("hello, I am not an envelope bad:garbage"),
		"short":          {2, 4},
		"version 1":      append([]byte{1, 4, 0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0x7b, 3}, "eve bad:v1"...),
		"future version": rawEnvelope(3, wire.KindMessage, testRoom, "eve", "bad:future"),
		"unknown kind":   rawEnvelope(2, 99, testRoom, "eve", "bad:kind"),
		"bad utf8":       rawEnvelope(2, wire.KindMessage, testRoom, "eve", "bad:utf8 \xff\xfe"),
		"control nick":   rawEnvelope(2, wire.KindMessage, testRoom, "e\x1b[2Jve", "bad:nick"),
		"oversize":       rawEnvelope(2, wire.KindMessage, testRoom, "eve", "bad:"+strings.Repeat("A", chat.MaxTextBytes)),
		"other room":     envelope(t, wire.Envelope{Kind: wire.KindMessage, Room: "elsewhere", Sent: 1, Nick: "eve", Text: "bad:room"}),
		"sealed":         envelope(t, wire.Envelope{Kind: wire.KindSealed, Room: testRoom, Sealed: make([]byte, 64)}),
	}
	for _, data := range bad {
		raw.publish(t, data)
	}
	// Then a valid message claiming to be from alice.
	raw.publish(t, message(t, "alice", "I am alice"))

	for _, n := range []*testNode{a, b} {
		ev := n.wait(5*time.Second, "forged message", isMessage("I am alice"))
		if ev.PeerID != raw.id.String() || ev.PeerID == a.id() || ev.Self {
			t.Errorf("%s: forged message attributed to %s (self %v), want the raw peer %s", n.name, ev.PeerID, ev.Self, raw.id)
		}
		// The roster has the impostor as a separate member with the same nick.
		count := 0
		for _, m := range n.Members() {
			if m.Nick == "alice" {
				count++
			}
		}
		if count != 2 {
			t.Errorf("%s: %d members called alice, want 2 (real and impostor): %+v", n.name, count, n.Members())
		}
	}
	// The bad ones went out before the good one; give stragglers one more
	// round trip by waiting for a fresh message from b.
	b.Send("marker")
	a.wait(2*time.Second, "marker", isMessage("marker"))
	for _, ev := range append(a.events(), b.events()...) {
		if strings.Contains(ev.Text, "bad:") || ev.Nick == "eve" {
			t.Errorf("bad envelope delivered: %+v", ev)
		}
	}
}

// TestFloodLimit: a peer publishing far faster than its flood limit is
// cut off after its burst, and the room keeps working. The limit is
// lowered so that even a loaded machine publishes well above it.
func TestFloodLimit(t *testing.T) {
	t.Parallel()
	a := startNode(t, testConfig("alice"))
	const limit, burst = 20, 100
	a.adm.setLimit(limit, burst)
	b := startNode(t, testConfig("bob"))
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	raw := newRawPeer(t, nil, openTopic(testRoom))
	raw.join(t, a)

	const flood = 6 * burst
	isFlood := func(ev chat.Event) bool { return ev.Kind == chat.KindMessage && strings.HasPrefix(ev.Text, "flood ") }
	start := time.Now()
	for i := range flood {
		raw.publish(t, message(t, "mallory", fmt.Sprint("flood ", i)))
	}
	// The burst gets through whole (the bucket starts full).
	a.wait(5*time.Second, "the burst", isMessage(fmt.Sprint("flood ", burst-1)))
	elapsed := time.Since(start)
	b.Send("still here")
	a.wait(5*time.Second, "bob after the flood", isMessage("still here"))
	got := a.count(isFlood)
	allowed := burst + int(limit*time.Since(start).Seconds()) + 1
	t.Logf("flood of %d in %v: %d delivered, limit %d", flood, elapsed, got, allowed)
	if got > allowed || got >= flood {
		t.Errorf("%d flood messages delivered, want at most %d", got, allowed)
	}
}

// TestSendPacedBelowFloodLimit: what Send lets through, peers accept.
func TestSendPacedBelowFloodLimit(t *testing.T) {
	if sendRate >= recvRate || sendBurst >= recvBurst {
		t.Errorf("Send paces %d/s after %d, peers accept %d/s after %d: a paste would be cut",
			sendRate, sendBurst, recvRate, recvBurst)
	}
}

// TestReplayIgnored: a peer that recorded alice's signed messages of an
// earlier session publishes them again while she is back: her old leave
// must not make her leave, her old line must not show up as new.
func TestReplayIgnored(t *testing.T) {
	t.Parallel()
	cfg := testConfig("alice")
	cfg.IdentityPath = filepath.Join(t.TempDir(), "alice.key")
	alice := startNode(t, cfg)
	rec := newRawPeer(t, nil, openTopic(testRoom))
	rec.join(t, alice)
	fromAlice := func(k wire.Kind) func(*pubsub.Message, wire.Envelope) bool { return fromOf(alice, k) }
	if err := alice.Send("old news"); err != nil {
		t.Fatal(err)
	}
	oldLine := rec.capture(t, "alice's line", fromAlice(wire.KindMessage))
	alice.close()
	oldLeave := rec.capture(t, "alice's leave", fromAlice(wire.KindLeave))

	alice = startNode(t, cfg) // same identity, new session
	bob := startNode(t, testConfig("bob"))
	bob.connect(alice)
	waitKnown(5*time.Second, alice, bob)

	// The recorder's own line, which bob has not seen either, goes last in
	// the same RPC: once bob shows it, he has judged the two before it.
	rec.publish(t, message(t, "rec", "marker"))
	marker := rec.capture(t, "own marker", func(m *pubsub.Message, env wire.Envelope) bool { return env.Text == "marker" })
	inject(t, bob, nil, oldLine, oldLeave, marker)
	bob.wait(5*time.Second, "marker", isMessage("marker"))

	if n := bob.count(isMessage("old news")); n != 0 {
		t.Errorf("bob shows alice's replayed line %d times", n)
	}
	if n := bob.count(func(ev chat.Event) bool { return ev.Kind == chat.KindLeave && ev.PeerID == alice.id() }); n != 0 {
		t.Errorf("bob saw alice leave after her old leave was replayed:\n%s", formatEvents(bob.events()))
	}
	if !hasMember(bob.Members(), alice.id(), false) {
		t.Errorf("alice not a present member after the replay: %+v", bob.Members())
	}
}

// TestSubscriptionFilter: pubsub tracks a peer's subscriptions only to
// topics of our naming scheme, at most maxTopicsPerPeer of them (a peer
// announcing a million topics must not grow the host's memory), Rooms
// lists what it tracks, a peer's entry goes when it disconnects, and a
// peer of protocol 1 gets a notice.
func TestSubscriptionFilter(t *testing.T) {
	t.Parallel()
	a := startNode(t, testConfig("alice"))
	raw := newRawPeer(t, nil, openTopic(testRoom))
	raw.join(t, a) // in the lobby first: that is one of its topics
	junk := []string{oldTopicPrefix + testRoom, "lanchat/2/private/NOTHEX", "lanchat/2/private/" + strings.Repeat("a", 31)}
	for i := range 20 {
		junk = append(junk, fmt.Sprintf("junk/%d", i), openTopic(fmt.Sprintf("bad room %d", i)))
	}
	var rooms []string
	for i := range maxTopicsPerPeer + 8 {
		rooms = append(rooms, openTopic(fmt.Sprint("r", i)))
	}
	for _, name := range append(junk, rooms...) {
		tp, err := raw.ps.Join(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tp.Subscribe(); err != nil {
			t.Fatal(err)
		}
	}
	// The subscriptions went out in order, one RPC each, before this
	// marker: once alice shows it, she has judged them all.
	raw.publish(t, message(t, "raw", "marker"))
	a.wait(5*time.Second, "marker", isMessage("marker"))

	for _, name := range junk {
		if got := a.ps.ListPeers(name); len(got) != 0 {
			t.Errorf("alice tracks %v in topic %q", got, name)
		}
	}
	want := maxTopicsPerPeer - 1 // the lobby is one of them
	for i, name := range rooms {
		got := a.ps.ListPeers(name)
		if tracked := len(got) == 1 && got[0] == raw.id; tracked != (i < want) {
			t.Errorf("topic %d %q: peers %v; want the first %d tracked, no more", i, name, got, want)
		}
	}
	infos := a.Rooms()
	if len(infos) != want+1 {
		t.Errorf("Rooms() has %d rooms, want %d: %+v", len(infos), want+1, infos)
	}
	for _, ri := range infos {
		switch {
		case ri.Name == testRoom:
			if !ri.Joined || ri.Members != 2 || ri.Private || ri.ID != "" {
				t.Errorf("Rooms(): %+v, want the lobby joined with 2 members", ri)
			}
		case ri.Joined || ri.Members != 1 || ri.Private || !strings.HasPrefix(ri.Name, "r"):
			t.Errorf("Rooms(): %+v, want a room r<n> of one member, not joined", ri)
		}
	}
	a.wait(5*time.Second, "notice of an old peer", func(ev chat.Event) bool {
		return ev.Kind == chat.KindNotice && ev.Room == "" && strings.Contains(ev.Text, "older lanchat") && strings.Contains(ev.Text, raw.id.String())
	})

	if err := raw.h.Network().ClosePeer(a.Host.self); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		a.filter.mu.Lock()
		_, tracked := a.filter.peers[raw.id]
		topics := len(a.filter.topics)
		a.filter.mu.Unlock()
		if !tracked && topics == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("filter still tracks the raw peer (%v) or %d topics after it disconnected", tracked, topics)
		}
		time.Sleep(10 * time.Millisecond) // polling the filter's table; there is no event to wait for
	}
	if got := a.Rooms(); len(got) != 1 || got[0].Name != testRoom {
		t.Errorf("Rooms() after the peer left = %+v, want the lobby only", got)
	}
}

// TestFilterBounds drives the filter directly: the per-peer cap holds
// over many RPCs, unsubscribing frees a slot, and nothing is ever an
// error (pubsub would drop the whole RPC, messages included).
func TestFilterBounds(t *testing.T) {
	f := newTopicFilter(func(peer.ID) {})
	p := testPeerID(t)
	sub := func(topic string, on bool) *pb.RPC_SubOpts {
		return &pb.RPC_SubOpts{Topicid: &topic, Subscribe: &on}
	}
	var kept int
	for i := range 3 * maxTopicsPerPeer {
		out, err := f.FilterIncomingSubscriptions(p, []*pb.RPC_SubOpts{sub(openTopic(fmt.Sprint("r", i)), true), sub("junk", true)})
		if err != nil {
			t.Fatalf("FilterIncomingSubscriptions = %v", err)
		}
		kept += len(out)
	}
	if kept != maxTopicsPerPeer || len(f.peers[p]) != maxTopicsPerPeer {
		t.Errorf("kept %d subscriptions (%d tracked), want %d", kept, len(f.peers[p]), maxTopicsPerPeer)
	}
	out, _ := f.FilterIncomingSubscriptions(p, []*pb.RPC_SubOpts{
		sub(openTopic("r0"), false), sub(openTopic("never"), false), sub(openTopic("new"), true)})
	if len(out) != 2 || out[0].GetTopicid() != openTopic("r0") || out[1].GetTopicid() != openTopic("new") {
		t.Errorf("after an unsubscribe: kept %v, want r0's unsubscribe and new's subscribe", out)
	}
	f.forget(p)
	if len(f.peers) != 0 || len(f.topics) != 0 {
		t.Errorf("after forget: %d peers, %d topics", len(f.peers), len(f.topics))
	}

	// Peers that fill the table of topics with made-up rooms do not cut us
	// off from peers in our own rooms.
	lobby := openTopic("lobby")
	f.join(lobby)
	for i := range maxTopicsSeen / maxTopicsPerPeer {
		junk := testPeerID(t)
		for j := range maxTopicsPerPeer {
			f.FilterIncomingSubscriptions(junk, []*pb.RPC_SubOpts{sub(openTopic(fmt.Sprintf("junk%d-%d", i, j)), true)})
		}
	}
	if len(f.topics) != maxTopicsSeen {
		t.Fatalf("%d topics tracked, want the table full (%d)", len(f.topics), maxTopicsSeen)
	}
	honest := testPeerID(t)
	out, _ = f.FilterIncomingSubscriptions(honest, []*pb.RPC_SubOpts{sub(openTopic("more junk"), true), sub(lobby, true)})
	if len(out) != 1 || out[0].GetTopicid() != lobby {
		t.Errorf("with the table full: kept %v, want the subscription to our lobby only", out)
	}
	f.part(lobby)
	f.forget(honest)
	if out, _ = f.FilterIncomingSubscriptions(testPeerID(t), []*pb.RPC_SubOpts{sub(lobby, true)}); len(out) != 0 {
		t.Errorf("after we left the lobby, with the table full: kept %v, want nothing", out)
	}
	for _, tt := range []struct {
		topic string
		ok    bool
	}{
		{openTopic("lobby"), true},
		{openTopic("#lobby"), false},
		{openTopic("my room"), false},
		{openTopic(strings.Repeat("x", 65)), false},
		{privateTopic("0123456789abcdef0123456789abcdef"), true},
		{privateTopic("0123456789ABCDEF0123456789ABCDEF"), false},
		{"lanchat/1/room/lobby", false},
		{"lanchat/2/room/", false},
		{"other/lobby", false},
	} {
		if got := f.CanSubscribe(tt.topic); got != tt.ok {
			t.Errorf("CanSubscribe(%q) = %v, want %v", tt.topic, got, tt.ok)
		}
	}
}

// rawEnvelope builds an envelope field by field, valid or not: version,
// kind, room, sent, nick, and text unless empty.
func rawEnvelope(version byte, k wire.Kind, room, nick, text string) []byte {
	b := []byte{version, byte(k)}
	field := func(tag byte, v []byte) {
		b = append(b, tag)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	field(1, []byte(room))
	field(2, binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixMilli())))
	field(3, []byte(nick))
	if text != "" {
		field(4, []byte(text))
	}
	return b
}

// envelope encodes e, which must be valid.
func envelope(t testing.TB, e wire.Envelope) []byte {
	t.Helper()
	b, err := wire.Encode(e)
	if err != nil {
		t.Fatalf("wire.Encode(%+v) = %v", e, err)
	}
	return b
}

// message is a chat line of nick in testRoom.
func message(t testing.TB, nick, text string) []byte {
	return envelope(t, wire.Envelope{Kind: wire.KindMessage, Room: testRoom, Sent: time.Now().UnixMilli(), Nick: nick, Text: text})
}

// signedBy returns a pubsub message of the room signed by a fresh identity,
// as StrictSign wants it.
func signedBy(t *testing.T, seq uint64, data []byte) *pb.Message {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	topic := openTopic(testRoom)
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

// TestManyNewAuthorsFromOneRelay: one peer forwarding messages of
// hundreds of made-up identities introduces only so many new members.
func TestManyNewAuthorsFromOneRelay(t *testing.T) {
	t.Parallel()
	a := startNode(t, testConfig("alice"))
	rec := newRawPeer(t, nil, openTopic(testRoom))
	rec.join(t, a)
	rec.publish(t, message(t, "rec", "hello")) // delivered by its author itself: admitted
	a.wait(5*time.Second, "hello", isMessage("hello"))

	// The marker comes last in the injected RPC only, not directly.
	if err := rec.h.Network().ClosePeer(a.Host.self); err != nil {
		t.Fatal(err)
	}
	rec.publish(t, message(t, "rec", "marker"))
	marker := rec.capture(t, "own marker", func(m *pubsub.Message, env wire.Envelope) bool { return env.Text == "marker" })

	const sybils = 2 * introBurst
	var msgs []*pb.Message
	for i := range sybils {
		data := envelope(t, wire.Envelope{Kind: wire.KindHeartbeat, Room: testRoom, Sent: time.Now().UnixMilli(), Nick: fmt.Sprint("sybil", i)})
		msgs = append(msgs, signedBy(t, 1, data))
	}
	start := time.Now()
	inject(t, a, nil, append(msgs, marker)...)
	a.wait(10*time.Second, "marker", isMessage("marker"))
	allowed := introBurst + int(introRate*time.Since(start).Seconds()) + 1

	joined := a.count(func(ev chat.Event) bool { return ev.Kind == chat.KindJoin && strings.HasPrefix(ev.Nick, "sybil") })
	t.Logf("%d of %d made-up authors from one relay joined in %v", joined, sybils, time.Since(start))
	if joined < introBurst/2 || joined > allowed {
		t.Errorf("%d made-up authors joined, want about %d and at most %d (the relay's introductions)", joined, introBurst, allowed)
	}
}

// TestAuthorTableBounded: the validator's table of authors stays bounded;
// the author heard longest ago makes room for a new one.
func TestAuthorTableBounded(t *testing.T) {
	a := newAdmission(slog.New(slog.DiscardHandler))
	t0 := time.Now().Add(-time.Minute)
	for i := range maxAuthors {
		p := peer.ID(fmt.Sprint("author", i))
		a.authors[p] = &author{lim: rate.NewLimiter(recvRate, recvBurst), heard: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	newcomer := peer.ID("newcomer")
	if res, _ := a.screen(newcomer, newcomer, 1); res != pubsub.ValidationAccept {
		t.Fatalf("screen(newcomer) = %v, want accept", res)
	}
	if len(a.authors) > maxAuthors {
		t.Errorf("%d authors remembered, want at most %d", len(a.authors), maxAuthors)
	}
	if a.authors["author0"] != nil || a.authors["author1"] == nil || a.authors[newcomer] == nil {
		t.Errorf("the author heard longest ago did not make room for the newcomer")
	}
}

// countWarns is a slog.Handler that counts warnings.
type countWarns struct {
	slog.Handler
	n *atomic.Int64
}

func (c countWarns) Enabled(context.Context, slog.Level) bool { return true }

func (c countWarns) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		c.n.Add(1)
	}
	return nil
}

// TestWarnOnceBounded: once maxWarned peers were warned about, bad
// messages of yet more peers (made-up identities) do not flood the log.
func TestWarnOnceBounded(t *testing.T) {
	var warns atomic.Int64
	n := newAdmission(slog.New(countWarns{Handler: slog.DiscardHandler, n: &warns}))
	n.warnOnce("first", "bad", nil)
	n.warnOnce("first", "bad", nil)
	if got := warns.Load(); got != 1 {
		t.Fatalf("%d warnings for one peer, want 1", got)
	}
	for i := range maxWarned {
		n.warnOnce(peer.ID(fmt.Sprint("peer", i)), "bad", nil)
	}
	before := warns.Load()
	for i := range 100 {
		n.warnOnce(peer.ID(fmt.Sprint("more", i)), "bad", nil)
	}
	if got := warns.Load() - before; got != 0 {
		t.Errorf("%d warnings once the set was full, want 0", got)
	}
}
