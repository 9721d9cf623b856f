// Package wire is lanchat's envelope codec: the bytes inside every signed
// pubsub message (and, later, inside the direct-message, file and history
// streams). It imports nothing of libp2p.
//
// # Envelope, version 2
//
// Two header bytes, then fields; integers are big-endian, lengths are
// unsigned varints (encoding/binary's Uvarint):
//
//	+---------+------+-----+--------+-------+-----+--------+-------+---
//	| version | kind | tag | length | value | tag | length | value | ...
//	|  = 2    |      | u8  | uvarint| bytes | u8  | uvarint| bytes |
//	+---------+------+-----+--------+-------+-----+--------+-------+---
//
// Fields come in ascending tag order, each at most once. A reader skips a
// field whose tag it does not know: that is how the format grows without
// splitting the LAN (tailscale disco's "always ignore bytes at the end",
// field by field). The tags (ONLY APPEND TO THIS LIST):
//
//	tag  field   value                                   kinds
//	1    room    the room's wire ID, 1..64 bytes UTF-8     all
//	2    sent    sender's clock, unix ms, int64 (8 bytes)  all but sealed
//	3    nick    the sender's nick, see chat.ValidWireNick all but sealed
//	4    text    1..4096 bytes UTF-8                       message, action
//	5    sealed  24-byte nonce + XChaCha20-Poly1305 box    sealed
//	6    clock   sender's hybrid logical clock, unix ms,   optional, all
//	             int64 (8 bytes); absent when it equals    but sealed
//	             sent
//	7    file    a file offered to the room: its offer ID  optional, message
//	             (8 bytes), size (uint64, < 2^63), SHA-256 and action
//	             of the whole file (32 bytes), then its
//	             name (1..1024 bytes UTF-8, the rest)
//
// A file offer is a line like any other — an action whose text says, for
// people and for lanchat versions that skip the field, what is offered
// ("offers the file report.pdf (2.1 MB)") — so that the room's history
// keeps it and syncs it to late joiners, and an older member shows it as
// that action rather than rejecting it (an unknown kind would not sync).
//
// The clock orders lines for display ([Envelope.Order]); sent is the
// sender's wall clock, shown to the user. They differ only when the
// sender's clock is behind a line it has seen, whose clock it then
// follows, so that a reply never sorts above what it answers.
// The kinds (ONLY APPEND TO THIS LIST): 1 join, 2 leave, 3 heartbeat,
// 4 message, 5 action, 6 nick (nick is the new one), 7 sealed. A field a
// kind does not carry is an error ([ErrMalformed]), a missing one too; an
// unknown kind is [ErrUnknownKind], so that a peer never acts on an
// envelope it cannot understand.
//
// The room field scopes every envelope to one room: a message signed for
// one room cannot be replayed into another. A room's wire ID is its name;
// for a private room (one with a passphrase) it is a tag derived from the
// room key, and the whole envelope — kind, nick, text — travels inside a
// sealed envelope of that room: its sealed field opens, with the room key,
// to an inner envelope of any other kind whose room is the same tag.
//
// Nothing here names the sender: the sender is the peer that signed the
// pubsub message that carries the envelope.
//
// Example, the join of "alice" in "lobby" at unix ms 0x0193a5b2c3d4:
//
//	02 01                          version 2, join
//	01 05 6c 6f 62 62 79           room "lobby"
//	02 08 00 00 01 93 a5 b2 c3 d4  sent
//	03 05 61 6c 69 63 65           nick "alice"
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"lanchat/node/chat"
)

// Version is the envelope version this package writes and reads.
const Version = 2

// Kind is what an envelope announces.
type Kind uint8

// Envelope kinds. ONLY APPEND TO THIS LIST: the values are on the wire.
const (
	KindJoin      Kind = 1 // entered the room
	KindLeave     Kind = 2 // left the room gracefully
	KindHeartbeat Kind = 3 // still here (periodic, and re-announce)
	KindMessage   Kind = 4 // chat line
	KindAction    Kind = 5 // /me action
	KindNick      Kind = 6 // renamed; Nick is the new nick
	KindSealed    Kind = 7 // another envelope, sealed with the room key
	kindLast           = KindSealed
)

func (k Kind) String() string {
	switch k {
	case KindJoin:
		return "join"
	case KindLeave:
		return "leave"
	case KindHeartbeat:
		return "heartbeat"
	case KindMessage:
		return "message"
	case KindAction:
		return "action"
	case KindNick:
		return "nick"
	case KindSealed:
		return "sealed"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// HasText reports whether envelopes of kind k carry text.
func (k Kind) HasText() bool { return k == KindMessage || k == KindAction }

// Field tags. ONLY APPEND TO THIS LIST: the values are on the wire.
const (
	tagRoom   = 1
	tagSent   = 2
	tagNick   = 3
	tagText   = 4
	tagSealed = 5
	tagClock  = 6
	tagFile   = 7
)

// Limits.
const (
	// MaxSize is the largest envelope accepted, in bytes: the largest
	// valid one plus room for extensions (and, for sealed, the overhead).
	MaxSize = 8192
	// NonceSize and Overhead are those of XChaCha20-Poly1305: a sealed
	// field is at least NonceSize+Overhead bytes.
	NonceSize = 24
	Overhead  = 16
	// FileIDSize and FileHashSize are the sizes of [File.ID] and
	// [File.Hash]; MaxFileName bounds [File.Name], in bytes.
	FileIDSize   = 8
	FileHashSize = 32
	MaxFileName  = 1024
)

// File is a file offered in a room: the file field of a message or action.
// The zero value is no file.
type File struct {
	ID   [FileIDSize]byte   // the offer's ID, random, chosen by the offerer
	Size int64              // bytes, not negative
	Hash [FileHashSize]byte // SHA-256 of the whole file
	Name string             // as the offerer names it; receivers reduce it to a safe name
}

// IsZero reports whether f is no file.
func (f File) IsZero() bool { return f == File{} }

// fileFixed is the size of a file field before the name.
const fileFixed = FileIDSize + 8 + FileHashSize

// Errors. Every error of [Decode] and [Encode] wraps one of these, or one of
// [chat.ErrInvalidNick], [chat.ErrInvalidRoom], [chat.ErrTooLong].
var (
	ErrShort       = errors.New("wire: envelope too short")
	ErrOversize    = errors.New("wire: envelope too large")
	ErrBadVersion  = errors.New("wire: unsupported envelope version")
	ErrUnknownKind = errors.New("wire: unknown envelope kind")
	ErrMalformed   = errors.New("wire: malformed envelope")
	// ErrBadUTF8 and ErrEmptyText are chat's: the same mistake is the same
	// error whether a user typed it or a peer sent it.
	ErrBadUTF8   = chat.ErrBadUTF8
	ErrEmptyText = chat.ErrEmptyText
)

// Envelope is one decoded envelope. The zero value is not valid: set Kind
// and the fields it carries.
type Envelope struct {
	Kind   Kind
	Room   string // the room's wire ID
	Sent   int64  // sender's clock, unix milliseconds (not in sealed)
	Nick   string // not in sealed
	Text   string // message and action only
	Sealed []byte // sealed only: nonce || ciphertext
	// Clock is the sender's hybrid logical clock, unix milliseconds; 0
	// means the same as Sent (the field is left out then). Not in sealed.
	Clock int64
	// File is the file a message or action offers to the room; zero for
	// none.
	File File
}

// Order returns the envelope's display order key, unix milliseconds: its
// Clock, or Sent when it has none.
func (e Envelope) Order() int64 {
	if e.Clock != 0 {
		return e.Clock
	}
	return e.Sent
}

// Validate checks e against the rules of the package comment.
func (e Envelope) Validate() error {
	if e.Kind == 0 || e.Kind > kindLast {
		return fmt.Errorf("%w: %d", ErrUnknownKind, e.Kind)
	}
	if err := validRoomID(e.Room); err != nil {
		return err
	}
	if e.Kind == KindSealed {
		if e.Nick != "" || e.Text != "" || e.Sent != 0 || e.Clock != 0 || !e.File.IsZero() {
			return fmt.Errorf("%w: sealed envelope with clear fields", ErrMalformed)
		}
		if len(e.Sealed) < NonceSize+Overhead {
			return fmt.Errorf("%w: sealed field of %d bytes", ErrShort, len(e.Sealed))
		}
		if n := 2 + fieldSize(len(e.Room)) + fieldSize(len(e.Sealed)); n > MaxSize {
			return fmt.Errorf("%w: %d bytes, max %d", ErrOversize, n, MaxSize)
		}
		return nil
	}
	if e.Sealed != nil {
		return fmt.Errorf("%w: %s with a sealed field", ErrMalformed, e.Kind)
	}
	if err := chat.ValidWireNick(e.Nick); err != nil {
		return err
	}
	if len(e.Text) > chat.MaxTextBytes {
		return fmt.Errorf("%w: %w: text of %d bytes, max %d", ErrOversize, chat.ErrTooLong, len(e.Text), chat.MaxTextBytes)
	}
	if !utf8.ValidString(e.Text) {
		return fmt.Errorf("%w in text", ErrBadUTF8)
	}
	if e.Kind.HasText() {
		if e.Text == "" {
			return fmt.Errorf("%w in %s", ErrEmptyText, e.Kind)
		}
	} else if e.Text != "" {
		return fmt.Errorf("%w: %s carries text", ErrMalformed, e.Kind)
	}
	if !e.File.IsZero() {
		switch {
		case !e.Kind.HasText():
			return fmt.Errorf("%w: %s carries a file", ErrMalformed, e.Kind)
		case e.File.Size < 0:
			return fmt.Errorf("%w: file of negative size", ErrMalformed)
		case e.File.Name == "" || len(e.File.Name) > MaxFileName:
			return fmt.Errorf("%w: file name of %d bytes, want 1 to %d", ErrMalformed, len(e.File.Name), MaxFileName)
		case !utf8.ValidString(e.File.Name):
			return fmt.Errorf("%w in a file name", ErrBadUTF8)
		}
	}
	return nil
}

// validRoomID checks the room field: a room name, or a private room's tag
// (hex digits, which are a valid room name too).
func validRoomID(id string) error {
	return chat.ValidRoom(id)
}

// Append appends the encoding of e to b, after validating e; on error it
// returns b unchanged.
func (e Envelope) Append(b []byte) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return b, err
	}
	b = append(b, Version, byte(e.Kind))
	b = appendField(b, tagRoom, []byte(e.Room))
	if e.Kind == KindSealed {
		return appendField(b, tagSealed, e.Sealed), nil
	}
	b = appendField(b, tagSent, binary.BigEndian.AppendUint64(nil, uint64(e.Sent)))
	b = appendField(b, tagNick, []byte(e.Nick))
	if e.Kind.HasText() {
		b = appendField(b, tagText, []byte(e.Text))
	}
	if e.Clock != 0 && e.Clock != e.Sent {
		b = appendField(b, tagClock, binary.BigEndian.AppendUint64(nil, uint64(e.Clock)))
	}
	if !e.File.IsZero() {
		v := make([]byte, 0, fileFixed+len(e.File.Name))
		v = append(v, e.File.ID[:]...)
		v = binary.BigEndian.AppendUint64(v, uint64(e.File.Size))
		v = append(v, e.File.Hash[:]...)
		b = appendField(b, tagFile, append(v, e.File.Name...))
	}
	return b, nil
}

func appendField(b []byte, tag byte, v []byte) []byte {
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// Encode returns the wire form of e, or nil and the reason e is invalid.
func Encode(e Envelope) ([]byte, error) {
	b, err := e.Append(make([]byte, 0, 32+len(e.Room)+len(e.Nick)+len(e.Text)+len(e.Sealed)+fileFixed+len(e.File.Name)))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Decode parses and validates one envelope. Unknown fields are skipped. It
// never panics, and the result shares no memory with b.
func Decode(b []byte) (Envelope, error) {
	if len(b) < 2 {
		return Envelope{}, fmt.Errorf("%w: %d bytes", ErrShort, len(b))
	}
	if b[0] != Version {
		return Envelope{}, fmt.Errorf("%w: %d", ErrBadVersion, b[0])
	}
	if len(b) > MaxSize {
		return Envelope{}, fmt.Errorf("%w: %d bytes, max %d", ErrOversize, len(b), MaxSize)
	}
	e := Envelope{Kind: Kind(b[1])}
	if e.Kind == 0 || e.Kind > kindLast {
		return Envelope{}, fmt.Errorf("%w: %d", ErrUnknownKind, e.Kind)
	}
	var seen [tagFile + 1]bool
	last := 0
	for rest := b[2:]; len(rest) > 0; {
		tag := int(rest[0])
		n, w := binary.Uvarint(rest[1:])
		if w <= 0 {
			return Envelope{}, fmt.Errorf("%w: bad length of field %d", ErrMalformed, tag)
		}
		rest = rest[1+w:]
		if n > uint64(len(rest)) {
			return Envelope{}, fmt.Errorf("%w: field %d of %d bytes, %d left", ErrShort, tag, n, len(rest))
		}
		v := rest[:n]
		rest = rest[n:]
		if tag <= last {
			return Envelope{}, fmt.Errorf("%w: field %d after field %d", ErrMalformed, tag, last)
		}
		last = tag
		if tag >= len(seen) {
			continue // an extension this version does not know
		}
		seen[tag] = true
		switch tag {
		case tagRoom:
			e.Room = string(v)
		case tagSent:
			if len(v) != 8 {
				return Envelope{}, fmt.Errorf("%w: sent field of %d bytes", ErrMalformed, len(v))
			}
			e.Sent = int64(binary.BigEndian.Uint64(v))
		case tagNick:
			e.Nick = string(v)
		case tagText:
			e.Text = string(v)
		case tagSealed:
			e.Sealed = append([]byte{}, v...)
		case tagClock:
			if len(v) != 8 {
				return Envelope{}, fmt.Errorf("%w: clock field of %d bytes", ErrMalformed, len(v))
			}
			e.Clock = int64(binary.BigEndian.Uint64(v))
		case tagFile:
			if len(v) <= fileFixed {
				return Envelope{}, fmt.Errorf("%w: file field of %d bytes", ErrMalformed, len(v))
			}
			copy(e.File.ID[:], v)
			e.File.Size = int64(binary.BigEndian.Uint64(v[FileIDSize:]))
			copy(e.File.Hash[:], v[FileIDSize+8:])
			e.File.Name = string(v[fileFixed:])
		}
	}
	// Required fields: Validate catches an empty room, nick or text, and
	// fields a kind must not carry; sent has no invalid value, so check
	// that it is there.
	if e.Kind != KindSealed && !seen[tagSent] {
		return Envelope{}, fmt.Errorf("%w: %s without a sent field", ErrMalformed, e.Kind)
	}
	if e.Kind == KindSealed && !seen[tagSealed] {
		return Envelope{}, fmt.Errorf("%w: sealed envelope without a sealed field", ErrMalformed)
	}
	if e.Kind == KindSealed && (seen[tagSent] || seen[tagNick] || seen[tagText] || seen[tagClock] || seen[tagFile]) {
		return Envelope{}, fmt.Errorf("%w: sealed envelope with clear fields", ErrMalformed)
	}
	if !e.Kind.HasText() && seen[tagText] {
		return Envelope{}, fmt.Errorf("%w: %s carries text", ErrMalformed, e.Kind)
	}
	if seen[tagFile] && e.File.IsZero() {
		// cannot be zero: its name is not empty; kept for one form
		return Envelope{}, fmt.Errorf("%w: empty file field", ErrMalformed)
	}
	if e.Kind != KindSealed && seen[tagSealed] {
		return Envelope{}, fmt.Errorf("%w: %s with a sealed field", ErrMalformed, e.Kind)
	}
	if e.Clock == e.Sent {
		e.Clock = 0 // one form for one meaning
	}
	if err := e.Validate(); err != nil {
		return Envelope{}, err
	}
	return e, nil
}

// fieldSize is the encoded size of a field with an n-byte value.
func fieldSize(n int) int {
	return 1 + len(binary.AppendUvarint(nil, uint64(n))) + n
}
