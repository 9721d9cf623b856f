package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"lanchat/node/wire"
)

// Record is one pubsub message that a room's validator accepted, as the
// room's pipeline passes it on: to presence, then to the room's [Sink].
// It keeps the signed message as received, so that whoever stores it
// (history) can check it again later with [Record.Verify] and hand it to
// other peers, who can check it too.
type Record struct {
	// ID is the message's unique ID, "<peer ID>/<seqno hex>", the same as
	// [chat.Event.ID] of the message event.
	ID string
	// Author is the peer that signed the message: its sender. Nothing in
	// the envelope names the sender.
	Author peer.ID
	// Seqno is the author's pubsub sequence number: increasing per author
	// across all its rooms (it starts at the author's clock in nanoseconds
	// when its process starts).
	Seqno uint64
	// Room is the room's name (for a private room too; its wire ID is
	// Envelope.Room).
	Room string
	// Envelope is the decoded envelope; for a private room, the inner
	// envelope that the sealed one opened to. Its Room is the room's wire
	// ID, its Kind never [wire.KindSealed].
	Envelope wire.Envelope
	// Received is the local time the validator accepted the message.
	Received time.Time
	// Raw is the signed pubsub message as received: the protobuf encoding
	// of pb.Message with From, Data, Seqno, Topic, Signature and Key (Key
	// is empty for Ed25519 authors: the key is inside the peer ID). For a
	// private room Data holds the sealed envelope. Raw belongs to the
	// record; it is not shared with anything else.
	Raw []byte
}

// Sink receives a room's records. A room calls Append from its presence
// goroutine, one record at a time, in the order the records arrive, for
// every record it accepts — presence kinds (join, heartbeat, leave, nick)
// as well as messages and actions, and this node's own; filter on
// Record.Envelope.Kind. Append must not block for long: the room's
// presence waits for it (and messages queue behind it, up to the
// subscription's buffer, after which pubsub drops them). Append is never
// called after the room's Events channel is closed. A sink given to
// several rooms is called from several goroutines. Lines fetched by
// history sync are not live and are not passed to it, nor a live copy of
// a line the log already has (it came by sync first, or is a replay). Append must not call
// [Room.Leave], [Host.Leave] or [Host.Close]: they wait for it.
type Sink interface {
	Append(Record)
}

// Errors of [Record.Verify].
var ErrBadRecord = errors.New("node: record does not verify")

// Verify checks Raw as pubsub checks a message under strict signing: it
// decodes, its signature is valid for the author's key, and its author,
// sequence number and envelope are the record's (for a private room it
// checks the sealed data, not what it opened to). It returns an error
// wrapping [ErrBadRecord] otherwise.
func (r Record) Verify() error {
	var m pb.Message
	if err := proto.Unmarshal(r.Raw, &m); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	from, err := peer.IDFromBytes(m.GetFrom())
	if err != nil || from != r.Author {
		return fmt.Errorf("%w: signed by %s, not %s", ErrBadRecord, from, r.Author)
	}
	if s := m.GetSeqno(); len(s) != 8 || binary.BigEndian.Uint64(s) != r.Seqno {
		return fmt.Errorf("%w: sequence number %x, not %x", ErrBadRecord, s, r.Seqno)
	}
	if err := verifySignature(&m, from); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	env, err := wire.Decode(m.GetData())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	e := r.Envelope
	if env.Room != e.Room || env.Kind != wire.KindSealed &&
		(env.Kind != e.Kind || env.Sent != e.Sent || env.Order() != e.Order() || env.Nick != e.Nick || env.Text != e.Text) {
		return fmt.Errorf("%w: the signed envelope is not the record's", ErrBadRecord)
	}
	return nil
}

// verifySignature checks m's signature as pubsub does: over SignPrefix and
// the message without Signature and Key, by from's key (inlined in the
// peer ID, or in Key, which must then match from).
func verifySignature(m *pb.Message, from peer.ID) error {
	pub, err := from.ExtractPublicKey()
	if err != nil && !errors.Is(err, peer.ErrNoPublicKey) {
		return fmt.Errorf("public key of %s: %w", from, err)
	}
	if pub == nil {
		if pub, err = crypto.UnmarshalPublicKey(m.GetKey()); err != nil {
			return fmt.Errorf("public key in message: %w", err)
		}
		if id, err := peer.IDFromPublicKey(pub); err != nil || id != from {
			return errors.New("key in message is not the author's")
		}
	}
	unsigned := proto.Clone(m).(*pb.Message)
	unsigned.Signature, unsigned.Key = nil, nil
	b, err := proto.Marshal(unsigned)
	if err != nil {
		return fmt.Errorf("re-encode message: %w", err)
	}
	ok, err := pub.Verify(append([]byte(pubsub.SignPrefix), b...), m.GetSignature())
	if err != nil || !ok {
		return errors.New("bad signature")
	}
	return nil
}

// rawMessage returns the protobuf encoding of m, or nil if it cannot be
// encoded (which does not happen for a message pubsub decoded).
func rawMessage(m *pb.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}

// seqno returns the pubsub sequence number of m.
func seqno(m *pubsub.Message) (uint64, bool) {
	s := m.GetSeqno()
	if len(s) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(s), true
}

// messageID is a message's ID as events and records carry it (see
// [joinID]; the validator uses [peerNames.messageID]).
func messageID(from peer.ID, seq []byte) string { return joinID(from.String(), seq) }
