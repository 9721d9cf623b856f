package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

// TestRejectContract pins what the room validator rejects and what it
// ignores. With peer scoring on (see scoring.go), a rejected message is
// charged to the peer that delivered it, which for a relayed message is a
// relay, honest if it runs a lanchat that accepted the message. So the set
// of rejected messages is a protocol contract: it may only shrink. A row
// may move from Reject to Ignore in any release; moving a row from Ignore
// to Reject, or adding a Reject row, is a protocol change and takes a new
// protocol version (new topics), never a patch. Every Reject depends on
// the message and its topic only, never on what this node has heard
// (floods, replays, authors are Ignore): two lanchats of one version must
// judge a message alike.
//
// What admission drops before the signature check ([Host.inspect]) never
// reaches pubsub's validation: it is neither, and costs its forwarder
// nothing in the score.
func TestRejectContract(t *testing.T) {
	t.Parallel()
	a := startNode(t, testConfig("alice"))
	priv := a.join("vault", "correct horse")
	open := a.room
	author := testPeerID(t) // signs every row, delivered by itself
	other := testPeerID(t)  // a second author, for boxes sealed for another

	// seal seals inner (any bytes) in priv for sealer.
	seal := func(sealer peer.ID, inner []byte) []byte {
		return envelope(t, wire.Envelope{Kind: wire.KindSealed, Room: priv.wireID, Sealed: priv.key.Seal(inner, priv.ad(sealer))})
	}
	privLine := func(text string) []byte {
		return envelope(t, wire.Envelope{Kind: wire.KindMessage, Room: priv.wireID, Sent: 1, Nick: "eve", Text: text})
	}
	long := func(n int) string { return strings.Repeat("A", n) }
	reject, ignore, accept := pubsub.ValidationReject, pubsub.ValidationIgnore, pubsub.ValidationAccept

	tests := []struct {
		name string
		room *Room
		data []byte
		want pubsub.ValidationResult
	}{
		{"valid line", open, message(t, "eve", "hello"), accept},
		{"valid heartbeat", open, envelope(t, wire.Envelope{Kind: wire.KindHeartbeat, Room: testRoom, Sent: 1, Nick: "eve"}), accept},
		{"valid sealed line", priv, seal(author, privLine("hello")), accept},

		// Reject: no lanchat of protocol 2 signs these.
		{"empty", open, nil, reject},
		{"one byte", open, []byte{2}, reject},
		{"not fields", open, append([]byte{2, 4}, "hello, I am not an envelope"...), reject},
		{"truncated field", open, []byte{2, 4, 1, 50, 0x61}, reject},
		{"version 0", open, rawEnvelope(0, wire.KindMessage, testRoom, "eve", "hi"), reject},
		{"version 1", open, append([]byte{1, 4, 0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0x7b, 3}, "eve bad:v1"...), reject},
		{"invalid UTF-8 in text", open, rawEnvelope(2, wire.KindMessage, testRoom, "eve", "bad \xff"), reject},
		{"empty text", open, rawEnvelope(2, wire.KindMessage, testRoom, "eve", ""), reject},
		{"another room", open, envelope(t, wire.Envelope{Kind: wire.KindMessage, Room: "elsewhere", Sent: 1, Nick: "eve", Text: "hi"}), reject},
		{"a room name no lanchat allows", open, rawEnvelope(2, wire.KindMessage, "my room", "eve", "hi"), reject},
		{"invalid UTF-8 in the room", open, rawEnvelope(2, wire.KindMessage, "lob\xffby", "eve", "hi"), reject},
		{"sealed in an open room", open, envelope(t, wire.Envelope{Kind: wire.KindSealed, Room: testRoom, Sealed: make([]byte, 64)}), reject},
		{"clear in a private room", priv, privLine("hi"), reject},
		{"sealed, another room's tag", priv, envelope(t, wire.Envelope{Kind: wire.KindSealed, Room: strings.Repeat("0", 32), Sealed: make([]byte, 64)}), reject},
		{"a box that does not open", priv, envelope(t, wire.Envelope{Kind: wire.KindSealed, Room: priv.wireID, Sealed: make([]byte, 64)}), reject},
		{"a box sealed for another author", priv, seal(other, privLine("hi")), reject},
		{"a sealed field too short to open", priv, rawSealed(priv.wireID, make([]byte, wire.NonceSize+wire.Overhead-1)), reject},
		{"a box of nothing", priv, seal(author, nil), reject},
		{"a box of a sealed envelope", priv, seal(author, seal(author, privLine("hi"))), reject},
		{"a box of another room's envelope", priv, seal(author, message(t, "eve", "hi")), reject},
		{"a box of invalid UTF-8", priv, seal(author, rawEnvelope(2, wire.KindMessage, priv.wireID, "eve", "bad \xff")), reject},

		// Ignore: what a newer lanchat may sign, so that it, and a relay
		// forwarding its envelopes, is never counted invalid.
		{"a later version", open, rawEnvelope(3, wire.KindMessage, testRoom, "eve", "hi"), ignore},
		{"the last version", open, rawEnvelope(255, wire.KindMessage, testRoom, "eve", "hi"), ignore},
		{"text (its first byte a later version)", open, []byte("hello, I am not an envelope"), ignore},
		{"an unknown kind", open, rawEnvelope(2, 99, testRoom, "eve", ""), ignore},
		{"kind 0", open, rawEnvelope(2, 0, testRoom, "eve", ""), ignore},
		{"a longer text", open, rawEnvelope(2, wire.KindMessage, testRoom, "eve", long(chat.MaxTextBytes+1)), ignore},
		{"a longer envelope", open, rawEnvelope(2, wire.KindMessage, testRoom, "eve", long(wire.MaxSize)), ignore},
		{"a longer nick", open, rawEnvelope(2, wire.KindMessage, testRoom, strings.Repeat("e", 3*chat.MaxNickRunes), "hi"), ignore},
		{"an empty nick", open, rawEnvelope(2, wire.KindMessage, testRoom, "", "hi"), ignore},
		{"a control character in the nick", open, rawEnvelope(2, wire.KindMessage, testRoom, "e\x1b[2Jve", "hi"), ignore},
		{"invalid UTF-8 in the nick", open, rawEnvelope(2, wire.KindMessage, testRoom, "e\xffve", "hi"), ignore},
		{"text on a heartbeat", open, rawEnvelope(2, wire.KindHeartbeat, testRoom, "eve", "hi"), ignore},
		{"no sent field", open, []byte{2, byte(wire.KindHeartbeat), 1, 5, 'l', 'o', 'b', 'b', 'y', 3, 3, 'e', 'v', 'e'}, ignore},
		{"a sent field of 4 bytes", open, []byte{2, byte(wire.KindHeartbeat), 1, 5, 'l', 'o', 'b', 'b', 'y', 2, 4, 0, 0, 0, 1, 3, 3, 'e', 'v', 'e'}, ignore},
		{"fields out of order", open, []byte{2, byte(wire.KindHeartbeat), 3, 3, 'e', 'v', 'e', 1, 5, 'l', 'o', 'b', 'b', 'y'}, ignore},
		{"a bad field length", open, []byte{2, byte(wire.KindHeartbeat), 1, 0x80}, ignore},
		{"clear fields on a sealed envelope", priv, withField(seal(author, privLine("hi")), 2, make([]byte, 8)), ignore},
		{"a sealed field on a line", open, withField(message(t, "eve", "hi"), 5, make([]byte, 64)), ignore},
		{"an unknown field", open, withField(message(t, "eve", "unknown field"), 200, []byte("later")), accept},
		{"a box of a later version", priv, seal(author, rawEnvelope(3, wire.KindMessage, priv.wireID, "eve", "hi")), ignore},
		{"a box of version 1", priv, seal(author, append([]byte{1, 4}, "eve"...)), ignore},
		{"a box of an unknown kind", priv, seal(author, rawEnvelope(2, 99, priv.wireID, "eve", "")), ignore},
		{"a box of a longer text", priv, seal(author, rawEnvelope(2, wire.KindMessage, priv.wireID, "eve", long(chat.MaxTextBytes+1))), ignore},
		{"a box of another nick", priv, seal(author, rawEnvelope(2, wire.KindMessage, priv.wireID, "e\x1bve", "hi")), ignore},
	}
	seq := uint64(0)
	validate := func(r *Room, from, src peer.ID, s []byte, data []byte) pubsub.ValidationResult {
		topic := r.topicName
		m := &pubsub.Message{Message: &pb.Message{From: []byte(from), Data: data, Topic: &topic, Seqno: s}, ReceivedFrom: src}
		return r.validate(context.Background(), src, m)
	}
	next := func() []byte { seq++; return binary.BigEndian.AppendUint64(nil, seq) }
	for _, tt := range tests {
		if got := validate(tt.room, author, author, next(), tt.data); got != tt.want {
			t.Errorf("%s: validate = %s, want %s", tt.name, result(got), result(tt.want))
		}
	}

	// Reject, whatever the envelope: who signed it and how.
	longID := peer.ID(bytes.Repeat([]byte{0}, maxAuthorBytes+1))
	if got := validate(open, longID, longID, next(), message(t, "eve", "hi")); got != reject {
		t.Errorf("an author ID of %d bytes: validate = %s, want reject", len(longID), result(got))
	}
	if got := validate(open, author, author, nil, message(t, "eve", "hi")); got != reject {
		t.Errorf("no sequence number: validate = %s, want reject", result(got))
	}
	if got := validate(open, author, author, []byte{0, 0, 1}, message(t, "eve", "hi")); got != reject {
		t.Errorf("a sequence number of 3 bytes: validate = %s, want reject", result(got))
	}

	// Ignore: what depends on what this node heard before.
	t.Run("replay", func(t *testing.T) {
		s := next()
		if got := validate(open, author, author, s, message(t, "eve", "once")); got != accept {
			t.Fatalf("first: validate = %s, want accept", result(got))
		}
		if got := validate(open, author, author, s, message(t, "eve", "once")); got != ignore {
			t.Errorf("again: validate = %s, want ignore", result(got))
		}
		seq += replayWindow
		next()
		old := binary.BigEndian.AppendUint64(nil, seq-replayWindow-1)
		if got := validate(open, author, author, old, message(t, "eve", "too old")); got != ignore {
			t.Errorf("older than the window: validate = %s, want ignore", result(got))
		}
	})
	t.Run("flood", func(t *testing.T) {
		a.adm.setLimit(1, 5) // for authors not heard yet: the flooder
		defer a.adm.setLimit(recvRate, recvBurst)
		flooder := testPeerID(t)
		got := map[pubsub.ValidationResult]int{}
		for i := range 20 {
			got[validate(open, flooder, flooder, binary.BigEndian.AppendUint64(nil, uint64(i+1)), message(t, "eve", "flood"))]++
		}
		if got[reject] != 0 || got[ignore] < 10 {
			t.Errorf("a flood of 20 at 1/s after 5: %v, want the excess ignored, none rejected", got)
		}
	})
	t.Run("too many new authors", func(t *testing.T) {
		relay := testPeerID(t)
		got := map[pubsub.ValidationResult]int{}
		for i := range introBurst + 10 {
			from := peer.ID(fmt.Sprintf("made-up author %d", i))
			got[validate(open, from, relay, next(), message(t, "eve", "hi"))]++
		}
		if got[reject] != 0 || got[ignore] < 5 {
			t.Errorf("%d new authors from one relay: %v, want the excess ignored, none rejected", introBurst+10, got)
		}
	})
}

// rawSealed is a sealed envelope of room with sealed as its sealed field,
// valid or not.
func rawSealed(room string, sealed []byte) []byte {
	b := []byte{wire.Version, byte(wire.KindSealed), 1, byte(len(room))}
	b = append(b, room...)
	b = append(b, 5)
	b = binary.AppendUvarint(b, uint64(len(sealed)))
	return append(b, sealed...)
}

// withField returns the envelope env with a field tag inserted in order.
func withField(env []byte, tag byte, v []byte) []byte {
	out := append([]byte(nil), env[:2]...)
	field := append(binary.AppendUvarint([]byte{tag}, uint64(len(v))), v...)
	done := false
	for rest := env[2:]; len(rest) > 0; {
		n, w := binary.Uvarint(rest[1:])
		size := 1 + w + int(n)
		if !done && rest[0] > tag {
			out, done = append(out, field...), true
		}
		out, rest = append(out, rest[:size]...), rest[size:]
	}
	if !done {
		out = append(out, field...)
	}
	return out
}

// result names a validation result.
func result(r pubsub.ValidationResult) string {
	switch r {
	case pubsub.ValidationAccept:
		return "accept"
	case pubsub.ValidationReject:
		return "reject"
	case pubsub.ValidationIgnore:
		return "ignore"
	}
	return fmt.Sprint(int(r))
}
