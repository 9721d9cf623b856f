package node

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
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
	forger := inject(t, a, nil, msgs...)
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
