package node

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

// TestForgedSignatureFlood: a key holder that floods a room with messages
// whose signatures do not check is cut off after forgeryBurst of them:
// its connection closed, a new one refused, the user told once; the room
// goes on.
func TestForgedSignatureFlood(t *testing.T) {
	t.Run("one RPC", func(t *testing.T) { forgedSignatureFlood(t, 1, false) })
	// One message an RPC from a forger that runs gossipsub: peer scoring
	// graylists it after 9 invalid messages and drops its RPCs unread from
	// then on, so the cut-off (and the notice) must come before that.
	t.Run("one message an RPC", func(t *testing.T) { forgedSignatureFlood(t, 500, true) })
}

// forgedSignatureFlood sends 500 forged messages in rpcs RPCs, from a
// gossipsub peer in the room if scored, else from a host without pubsub.
func forgedSignatureFlood(t *testing.T, rpcs int, scored bool) {
	a, b := startPair(t)
	rec := newRawPeer(t, nil, openTopic(testRoom))
	rec.join(t, a)
	rec.publish(t, message(t, "mallory", "template"))
	tmpl := rec.capture(t, "own line", func(m *pubsub.Message, env wire.Envelope) bool { return env.Text == "template" })
	a.wait(5*time.Second, "the template", isMessage("template"))

	// Each a copy of a signed message with another sequence number, which
	// the signature covers.
	var msgs []*pb.Message
	for i := range 500 {
		m := proto.Clone(tmpl).(*pb.Message)
		m.Seqno = binary.BigEndian.AppendUint64(nil, uint64(1<<40+i))
		msgs = append(msgs, m)
	}
	var batches [][]*pb.Message
	for i, m := range msgs {
		if j := i * rpcs / len(msgs); j == len(batches) {
			batches = append(batches, nil)
		}
		batches[len(batches)-1] = append(batches[len(batches)-1], m)
	}
	var from host.Host
	if scored {
		fp := newRawPeer(t, nil, openTopic(testRoom))
		fp.join(t, a)
		from = fp.h
	} else {
		from = newRawHost(t, nil)
		connectRaw(t, from, a)
	}
	forger := injectRPCs(t, from, a, batches)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	isCut := func(ev chat.Event) bool {
		return ev.Kind == chat.KindNotice && ev.PeerID == forger.ID().String() && strings.Contains(ev.Text, "forged signatures")
	}
	a.wait(5*time.Second, "the notice of the forger", isCut)
	deadline := time.Now().Add(5 * time.Second)
	for len(a.host.Network().ConnsToPeer(forger.ID())) > 0 && time.Now().Before(deadline) {
		a.waitOK(10*time.Millisecond, func(chat.Event) bool { return false })
	}
	if n := len(a.host.Network().ConnsToPeer(forger.ID())); n != 0 {
		t.Errorf("alice still has %d connections to the forger", n)
	}
	if err := forger.Connect(ctx, peer.AddrInfo{ID: a.Host.self, Addrs: a.host.Addrs()}); err == nil &&
		len(a.host.Network().ConnsToPeer(forger.ID())) > 0 {
		t.Error("the forger connected again while cut off")
	}
	marker(t, b, "still chatting", a)
	if n := a.count(isCut); n != 1 {
		t.Errorf("%d notices of the forger, want 1", n)
	}
	// The recorder that forwarded the genuine template is no forger.
	if a.count(func(ev chat.Event) bool { return ev.Kind == chat.KindNotice && ev.PeerID == rec.id.String() }) != 0 {
		t.Error("alice cut off the recorder, which forwarded a good message")
	}
}
