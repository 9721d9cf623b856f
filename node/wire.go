package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// wireVersion is the envelope version this code writes and accepts.
const wireVersion = 1

// kind is what an envelope announces.
type kind byte

// Envelope kinds. ONLY APPEND TO THIS LIST: the values are on the wire.
const (
	kindJoin      kind = 1 // entered the room
	kindLeave     kind = 2 // left the room gracefully
	kindHeartbeat kind = 3 // still here (periodic, and re-announce)
	kindMessage   kind = 4 // chat line
	kindAction    kind = 5 // /me action
	kindNick      kind = 6 // renamed; Nick is the new nick
	kindLast           = kindNick
)

func (k kind) String() string {
	switch k {
	case kindJoin:
		return "join"
	case kindLeave:
		return "leave"
	case kindHeartbeat:
		return "heartbeat"
	case kindMessage:
		return "message"
	case kindAction:
		return "action"
	case kindNick:
		return "nick"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// Limits of the envelope.
const (
	// MaxTextBytes is the longest chat text, in bytes of UTF-8.
	MaxTextBytes = 4096
	// MaxNickRunes is the longest nick, in runes.
	MaxNickRunes = 32
	// maxNickBytes bounds the nick field: 32 runes of up to 4 bytes.
	maxNickBytes = MaxNickRunes * utf8.UTFMax
	// headerLen is version + kind + sent + nick length.
	headerLen = 1 + 1 + 8 + 1
	// maxEnvelope is the largest valid envelope.
	maxEnvelope = headerLen + maxNickBytes + MaxTextBytes
)

// Wire errors. An envelope that fails to decode gives an error wrapping one
// of these (or [ErrInvalidNick], [ErrTooLong]).
var (
	ErrShort       = errors.New("node: envelope too short")
	ErrOversize    = errors.New("node: envelope too large")
	ErrUnknownKind = errors.New("node: unknown envelope kind")
	ErrBadVersion  = errors.New("node: unsupported envelope version")
	ErrBadUTF8     = errors.New("node: invalid UTF-8")
	ErrEmptyText   = errors.New("node: empty text")
	ErrMalformed   = errors.New("node: malformed envelope")
)

// envelope is the payload of every pubsub message; see the package comment
// for the layout. Who sent it is not in here: it is the signer of the pubsub
// message.
type envelope struct {
	Kind kind
	Sent int64 // sender's clock, unix milliseconds
	Nick string
	Text string // message and action only; empty otherwise
}

// needsText reports whether envelopes of kind k must carry text.
func (k kind) needsText() bool { return k == kindMessage || k == kindAction }

// validate checks e against the rules Decode enforces.
func (e envelope) validate() error {
	if e.Kind == 0 || e.Kind > kindLast {
		return fmt.Errorf("%w: %d", ErrUnknownKind, e.Kind)
	}
	if err := validNick(e.Nick); err != nil {
		return err
	}
	if len(e.Text) > MaxTextBytes {
		return fmt.Errorf("%w: %w: text of %d bytes, max %d", ErrOversize, ErrTooLong, len(e.Text), MaxTextBytes)
	}
	if !utf8.ValidString(e.Text) {
		return fmt.Errorf("%w in text", ErrBadUTF8)
	}
	if e.Kind.needsText() {
		if e.Text == "" {
			return fmt.Errorf("%w in %s", ErrEmptyText, e.Kind)
		}
	} else if e.Text != "" {
		return fmt.Errorf("%w: %s carries text", ErrMalformed, e.Kind)
	}
	return nil
}

// appendEnvelope appends the encoding of e to b. It validates e first.
func appendEnvelope(b []byte, e envelope) ([]byte, error) {
	if err := e.validate(); err != nil {
		return b, err
	}
	b = append(b, wireVersion, byte(e.Kind))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Sent))
	b = append(b, byte(len(e.Nick)))
	b = append(b, e.Nick...)
	b = append(b, e.Text...)
	return b, nil
}

// encode returns the wire form of e.
func encode(e envelope) ([]byte, error) {
	return appendEnvelope(make([]byte, 0, headerLen+len(e.Nick)+len(e.Text)), e)
}

// decode parses and validates one envelope. It never panics.
func decode(b []byte) (envelope, error) {
	if len(b) < headerLen {
		return envelope{}, fmt.Errorf("%w: %d bytes", ErrShort, len(b))
	}
	if b[0] != wireVersion {
		return envelope{}, fmt.Errorf("%w: %d", ErrBadVersion, b[0])
	}
	if len(b) > maxEnvelope {
		return envelope{}, fmt.Errorf("%w: %d bytes, max %d", ErrOversize, len(b), maxEnvelope)
	}
	e := envelope{
		Kind: kind(b[1]),
		Sent: int64(binary.BigEndian.Uint64(b[2:10])),
	}
	n := int(b[10])
	rest := b[headerLen:]
	if n > len(rest) {
		return envelope{}, fmt.Errorf("%w: nick of %d bytes, %d left", ErrShort, n, len(rest))
	}
	e.Nick = string(rest[:n])
	e.Text = string(rest[n:])
	if err := e.validate(); err != nil {
		return envelope{}, err
	}
	return e, nil
}

// validNick checks a nick: 1..32 runes of valid UTF-8, printable characters
// and spaces only (no controls, no bidi overrides or other format characters
// except the zero-width joiner of emoji sequences), no leading or trailing
// space.
func validNick(nick string) error {
	if nick == "" {
		return fmt.Errorf("%w: empty", ErrInvalidNick)
	}
	if !utf8.ValidString(nick) {
		return fmt.Errorf("%w: %w", ErrInvalidNick, ErrBadUTF8)
	}
	if n := utf8.RuneCountInString(nick); n > MaxNickRunes {
		return fmt.Errorf("%w: %d characters, max %d", ErrInvalidNick, n, MaxNickRunes)
	}
	visible := false
	for _, r := range nick {
		switch {
		case r == ' ' || r == '\u200d' || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r):
		case unicode.IsGraphic(r) && !unicode.IsSpace(r):
			visible = true
		default:
			return fmt.Errorf("%w: character %U not allowed", ErrInvalidNick, r)
		}
	}
	if !visible {
		return fmt.Errorf("%w: nothing visible", ErrInvalidNick)
	}
	if nick[0] == ' ' || nick[len(nick)-1] == ' ' {
		return fmt.Errorf("%w: leading or trailing space", ErrInvalidNick)
	}
	return nil
}
