// Package dmwire is the codec of lanchat's direct messages: the frames of
// the stream protocol /lanchat/dm/1 and the signed message they carry,
// which is also what both sides keep on disk (package node runs the
// protocol, signs and checks). It imports nothing of libp2p: peer IDs
// are opaque bytes here, signatures opaque too.
//
// # Frames
//
// Both directions are a sequence of frames: an unsigned varint length
// (encoding/binary's Uvarint, in its shortest form), then that many
// bytes, the first of which is the frame's type. A frame is at most
// [MaxFrame] bytes.
//
//	+----------+------+---------+
//	| length   | type | body    |
//	| uvarint  | u8   | ...     |
//	+----------+------+---------+
//
// The types (ONLY APPEND TO THIS LIST) and their bodies:
//
//	1 message  sender → recipient: one signed message (below)
//	2 ack      recipient → sender: the message's id (16 bytes), then a
//	           status (u8, ONLY APPEND):
//	             0 stored     it is on the recipient's disk now
//	             1 duplicate  the recipient had it already (the ack of an
//	                          earlier copy was lost)
//	             2 busy       over the recipient's rate limit, or it
//	                          cannot store now: send it again later
//	             3 refused    never accepted: not for this recipient,
//	                          not signed by the peer that sent it, or
//	                          malformed
//
// An exchange: the sender writes a message and waits for its ack, then
// the next message of its queue, and so on; then it closes the stream.
//
// # Message, version 1
//
// Integers big-endian, lengths unsigned varints in their shortest form,
// every field present, in this order, nothing after the signature:
//
//	version  u8 = 1
//	from     uvarint length (1..64), bytes: the sender's peer ID
//	to       uvarint length (1..64), bytes: the recipient's peer ID
//	id       16 bytes, chosen at random by the sender: with from, it
//	         names the message for ever (the recipient keeps it once)
//	sent     int64: the sender's clock, unix milliseconds
//	nick     uvarint length, bytes: the sender's nick (chat.ValidWireNick)
//	text     uvarint length, bytes: 1..4096 bytes of UTF-8
//	sig      uvarint length (1..128), bytes: the sender's signature of
//	         [SignPrefix] followed by every byte before sig
//
// The signature covers the recipient: a message cannot be handed to
// anybody else as addressed to them. The prefix keeps the signature from
// passing for one of any other lanchat (or libp2p) use of the same key.
// Who sent the message is what the signature proves, and the stream it
// came on must be from that peer (package node checks both).
//
// Example, a message "hi" from a peer ID 00 01 aa to 00 01 bb, id
// 00 … 0f, sent at unix ms 0x0193a5b2c3d4, nick "alice", with a 2-byte
// signature 5a 5a (real ones are 64 bytes), framed:
//
//	2e                                 frame length 46
//	01                                 message
//	01                                 version 1
//	03 00 01 aa                        from
//	03 00 01 bb                        to
//	00 01 02 03 04 05 06 07            id
//	08 09 0a 0b 0c 0d 0e 0f
//	00 00 01 93 a5 b2 c3 d4            sent
//	05 61 6c 69 63 65                  nick "alice"
//	02 68 69                           text "hi"
//	02 5a 5a                           sig
//
// and its ack, "stored":
//
//	12 02 00 01 … 0f 00                length 18, ack, id, status 0
package dmwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"lanchat/node/chat"
	"lanchat/node/varint"
)

// Frame types. ONLY APPEND TO THIS LIST: the values are on the wire.
const (
	TypeMessage = 1
	TypeAck     = 2
)

// Ack statuses. ONLY APPEND TO THIS LIST: the values are on the wire.
const (
	StatusStored    = 0
	StatusDuplicate = 1
	StatusBusy      = 2
	StatusRefused   = 3
	statusLast      = StatusRefused
)

// Version is the message version this package writes and reads.
const Version = 1

// Limits.
const (
	// MaxPeerID is the longest peer ID (an Ed25519 one is 38 bytes).
	MaxPeerID = 64
	// IDSize is the size of a message's id.
	IDSize = 16
	// MaxSig is the longest signature (an Ed25519 one is 64 bytes).
	MaxSig = 128
	// MaxMessage is the largest encoded message: every field at its
	// longest.
	MaxMessage = 1 + 2*(1+MaxPeerID) + IDSize + 8 + 2 + chat.MaxNickBytes + 2 + chat.MaxTextBytes + 2 + MaxSig
	// MaxFrame is the largest frame, type byte included.
	MaxFrame = 1 + MaxMessage
	// AckSize is the size of an ack's body.
	AckSize = IDSize + 1
)

// SignPrefix precedes the bytes a message's signature covers.
const SignPrefix = "lanchat/dm/1 signature:"

// ErrMalformed is wrapped by every decoding error, and by the errors of
// encoding a message whose fields break the rules above.
var ErrMalformed = errors.New("dmwire: malformed")

// Message is one direct message. From and To are peer IDs in their binary
// form; the text and nick are checked by [chat.ValidText] and
// [chat.ValidWireNick].
type Message struct {
	From, To []byte
	ID       [IDSize]byte
	Sent     int64 // unix ms, the sender's clock
	Nick     string
	Text     string
	Sig      []byte // over SignPrefix and the message up to Sig
}

// Ack answers a message.
type Ack struct {
	ID     [IDSize]byte
	Status byte
}

// check reports what is wrong with m's fields, signature aside.
func (m Message) check() error {
	switch {
	case len(m.From) == 0 || len(m.From) > MaxPeerID:
		return fmt.Errorf("%w: sender peer ID of %d bytes", ErrMalformed, len(m.From))
	case len(m.To) == 0 || len(m.To) > MaxPeerID:
		return fmt.Errorf("%w: recipient peer ID of %d bytes", ErrMalformed, len(m.To))
	}
	if err := chat.ValidWireNick(m.Nick); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := chat.ValidText(m.Text); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// unsigned appends the encoding of m without its signature to b.
func (m Message) unsigned(b []byte) []byte {
	b = append(b, Version)
	b = appendBytes(b, m.From)
	b = appendBytes(b, m.To)
	b = append(b, m.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Sent))
	b = appendBytes(b, []byte(m.Nick))
	return appendBytes(b, []byte(m.Text))
}

// Signed returns what m's signature covers: SignPrefix, then m's encoding
// up to the signature. It fails, wrapping [ErrMalformed], for fields
// that break the rules (Sig is not looked at).
func (m Message) Signed() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(SignPrefix)+MaxMessage)
	return m.unsigned(append(b, SignPrefix...)), nil
}

// Encode returns m's encoding, signature included, or an error wrapping
// [ErrMalformed].
func (m Message) Encode() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	if len(m.Sig) == 0 || len(m.Sig) > MaxSig {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(m.Sig))
	}
	b := m.unsigned(make([]byte, 0, 64+len(m.Nick)+len(m.Text)+len(m.Sig)))
	return appendBytes(b, m.Sig), nil
}

// DecodeMessage parses and checks one message (the signature is only
// read; package node verifies it). It never panics, and the result shares
// no memory with b.
func DecodeMessage(b []byte) (Message, error) {
	if len(b) > MaxMessage {
		return Message{}, fmt.Errorf("%w: message of %d bytes, max %d", ErrMalformed, len(b), MaxMessage)
	}
	if len(b) == 0 || b[0] != Version {
		return Message{}, fmt.Errorf("%w: not a version %d message", ErrMalformed, Version)
	}
	d := decoder{b: b[1:]}
	var m Message
	m.From = d.bytes(MaxPeerID)
	m.To = d.bytes(MaxPeerID)
	copy(m.ID[:], d.fixed(IDSize))
	if s := d.fixed(8); s != nil {
		m.Sent = int64(binary.BigEndian.Uint64(s))
	}
	m.Nick = string(d.bytes(chat.MaxNickBytes))
	m.Text = string(d.bytes(chat.MaxTextBytes))
	m.Sig = d.bytes(MaxSig)
	switch {
	case d.err != nil:
		return Message{}, d.err
	case len(d.b) > 0:
		return Message{}, fmt.Errorf("%w: %d bytes after the signature", ErrMalformed, len(d.b))
	case len(m.Sig) == 0:
		return Message{}, fmt.Errorf("%w: no signature", ErrMalformed)
	}
	if err := m.check(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// Encode returns a's body.
func (a Ack) Encode() []byte { return append(a.ID[:], a.Status) }

// DecodeAck parses an ack's body; an unknown status is an error.
func DecodeAck(b []byte) (Ack, error) {
	if len(b) != AckSize {
		return Ack{}, fmt.Errorf("%w: ack of %d bytes", ErrMalformed, len(b))
	}
	a := Ack{ID: [IDSize]byte(b[:IDSize]), Status: b[IDSize]}
	if a.Status > statusLast {
		return Ack{}, fmt.Errorf("%w: ack status %d", ErrMalformed, a.Status)
	}
	return a, nil
}

// WriteFrame writes one frame of type typ with body, in one Write.
func WriteFrame(w io.Writer, typ byte, body []byte) error {
	if 1+len(body) > MaxFrame {
		return fmt.Errorf("%w: frame of %d bytes, max %d", ErrMalformed, 1+len(body), MaxFrame)
	}
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen32+1+len(body)), uint64(1+len(body)))
	b = append(b, typ)
	_, err := w.Write(append(b, body...))
	return err
}

// ReadFrame reads one frame and returns its type and body. A frame of
// more than MaxFrame bytes is an error (nothing of its body is read);
// io.EOF means the stream ended between frames.
func ReadFrame(r *bufio.Reader) (typ byte, body []byte, err error) {
	typ, body, err = varint.ReadFrame(r, MaxFrame)
	if err != nil && err != io.EOF {
		return 0, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return typ, body, err
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// decoder reads a message's fields; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

// fixed returns the next n bytes (a copy), or nil after an error.
func (d *decoder) fixed(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.err = fmt.Errorf("%w: %d bytes left, want %d", ErrMalformed, len(d.b), n)
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

// bytes returns the next length-prefixed field of at most max bytes (a
// copy), or nil after an error.
func (d *decoder) bytes(max int) []byte {
	if d.err != nil {
		return nil
	}
	n, k := varint.Uvarint(d.b)
	if k <= 0 || n > uint64(max) || n > uint64(len(d.b)-k) {
		d.err = fmt.Errorf("%w: bad field length", ErrMalformed)
		return nil
	}
	d.b = d.b[k:]
	return d.fixed(int(n))
}
