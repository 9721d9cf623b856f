// Package filewire is the frame codec of lanchat's file stream,
// "/lanchat/file/1": offers made to one peer, requests for a file's bytes
// from an offset, the bytes themselves, and the answers. It imports
// nothing of libp2p; the stream's protocol ID carries its version.
//
// # Frame
//
// A kind byte, the length of the body (an unsigned varint,
// encoding/binary's Uvarint, at most [MaxBody]), then the body: fields,
// each a tag byte, a length (uvarint) and the value. Integers are
// big-endian.
//
//	+------+---------+-----+--------+-------+-----+--------+-------+---
//	| kind | length  | tag | length | value | tag | length | value | ...
//	|  u8  | uvarint | u8  | uvarint| bytes | u8  | uvarint| bytes |
//	+------+---------+-----+--------+-------+-----+--------+-------+---
//	       |<---------------------- length bytes ---------------------->|
//
// Fields come in ascending tag order, each at most once; a reader skips a
// field whose tag it does not know. The tags (ONLY APPEND TO THIS LIST):
//
//	tag  field   value
//	1    id      the offer's ID, 8 bytes (random, chosen by the offerer)
//	2    name    the offered file name, 1..1024 bytes of UTF-8, as the
//	             offerer names it (a receiver reduces it, see safename)
//	3    size    the file's size in bytes, uint64 (8 bytes), < 2^63
//	4    hash    SHA-256 of the whole file, 32 bytes
//	5    nick    the offerer's nick, 1..128 bytes of UTF-8 (a label)
//	6    offset  a byte offset into the file, uint64 (8 bytes), ≤ size
//	7    code    a [Code], 1 byte
//	8    text    why, for people: 1..512 bytes of UTF-8
//
// The kinds (ONLY APPEND TO THIS LIST), with the fields each must carry
// (and may: in brackets); any other field known to this version is an
// error ([ErrMalformed]), so is a missing one:
//
//	kind       fields                     sent by, and what follows
//	1 offer    id name size hash [nick]   an offerer to the one peer it offers a
//	                                      file to; answered by a status
//	2 get      id offset                  a receiver to a holder of the file: send
//	                                      it from offset on; answered by a status
//	                                      (refused) or a data frame
//	3 data     offset size                the holder: exactly size-offset bytes of
//	                                      the file follow, raw, then it closes its
//	                                      side; the receiver answers with a status
//	                                      once it has checked the whole file's hash
//	4 status   code [text]                an answer: [CodeOK], or why not
//	5 decline  id                         a receiver that does not want a file
//	                                      offered to it; answered by a status
//
// The peer at the other end of the stream is the one Noise authenticated:
// nothing in a frame names a sender.
//
// Example, a get of offer 0x0102030405060708 from byte 0x100000:
//
//	02 14                          get, 20 bytes of fields
//	01 08 01 02 03 04 05 06 07 08  id
//	06 08 00 00 00 00 00 10 00 00  offset
package filewire

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Kind is what a frame says.
type Kind uint8

// Frame kinds. ONLY APPEND TO THIS LIST: the values are on the wire.
const (
	KindOffer   Kind = 1
	KindGet     Kind = 2
	KindData    Kind = 3
	KindStatus  Kind = 4
	KindDecline Kind = 5
	kindLast         = KindDecline
)

func (k Kind) String() string {
	switch k {
	case KindOffer:
		return "offer"
	case KindGet:
		return "get"
	case KindData:
		return "data"
	case KindStatus:
		return "status"
	case KindDecline:
		return "decline"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Code is the outcome a status frame reports.
type Code uint8

// Status codes. ONLY APPEND TO THIS LIST: the values are on the wire. A
// code this version does not know is an error of some kind: treat it as
// [CodeFailed].
const (
	CodeOK       Code = 0 // done: the offer was taken, the file verified
	CodeUnknown  Code = 1 // no such offer here (never made, withdrawn, or the holder restarted)
	CodeRefused  Code = 2 // the offer was not made to the asker
	CodeChanged  Code = 3 // the file changed on disk since it was offered
	CodeBad      Code = 4 // a request that makes no sense (an offset beyond the size)
	CodeBusy     Code = 5 // too many transfers or offers at once: try again later
	CodeFailed   Code = 6 // anything else; text says what
	CodeMismatch Code = 7 // the receiver's hash of what it got is not the offered one
)

func (c Code) String() string {
	switch c {
	case CodeOK:
		return "ok"
	case CodeUnknown:
		return "unknown offer"
	case CodeRefused:
		return "refused"
	case CodeChanged:
		return "file changed"
	case CodeBad:
		return "bad request"
	case CodeBusy:
		return "busy"
	case CodeFailed:
		return "failed"
	case CodeMismatch:
		return "hash mismatch"
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// Field tags. ONLY APPEND TO THIS LIST: the values are on the wire.
const (
	tagID     = 1
	tagName   = 2
	tagSize   = 3
	tagHash   = 4
	tagNick   = 5
	tagOffset = 6
	tagCode   = 7
	tagText   = 8
	tagLast   = tagText
)

// Limits.
const (
	// MaxBody is the largest frame body accepted, in bytes: the largest
	// valid one plus room for extensions.
	MaxBody = 4096
	// IDSize is the size of an offer ID; HashSize that of a hash.
	IDSize   = 8
	HashSize = 32
	// MaxName, MaxNick and MaxText bound those fields, in bytes.
	MaxName = 1024
	MaxNick = 128
	MaxText = 512
)

// Errors. Every error of [Decode], [Read] and [Append] wraps one of these
// (or, for Read, the reader's error; a clean end of the stream before a
// frame is io.EOF, within one io.ErrUnexpectedEOF).
var (
	ErrShort       = errors.New("filewire: frame too short")
	ErrOversize    = errors.New("filewire: frame too large")
	ErrUnknownKind = errors.New("filewire: unknown frame kind")
	ErrMalformed   = errors.New("filewire: malformed frame")
)

// ID is an offer's ID.
type ID [IDSize]byte

// String returns the ID in hex, as front ends show it.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID reads an ID written by [ID.String].
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("%w: ID %q is not %d hex digits", ErrMalformed, s, 2*IDSize)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: ID %q: %w", ErrMalformed, s, err)
	}
	return id, nil
}

// Frame is one decoded frame: Kind and the fields it carries (see the
// package comment); the others are zero.
type Frame struct {
	Kind   Kind
	ID     ID
	Name   string
	Size   int64
	Hash   [HashSize]byte
	Nick   string
	Offset int64
	Code   Code
	Text   string
}

// fieldsOf lists, for each kind, which tags it must carry and which it may.
var fieldsOf = [kindLast + 1]struct{ must, may uint16 }{
	KindOffer:   {must: bit(tagID) | bit(tagName) | bit(tagSize) | bit(tagHash), may: bit(tagNick)},
	KindGet:     {must: bit(tagID) | bit(tagOffset)},
	KindData:    {must: bit(tagOffset) | bit(tagSize)},
	KindStatus:  {must: bit(tagCode), may: bit(tagText)},
	KindDecline: {must: bit(tagID)},
}

func bit(tag int) uint16 { return 1 << tag }

// present returns the tags f carries by its kind's rules, nick and text
// when not empty.
func (f Frame) present() uint16 {
	p := fieldsOf[f.Kind].must
	if f.Nick != "" {
		p |= bit(tagNick)
	}
	if f.Text != "" {
		p |= bit(tagText)
	}
	return p
}

// Validate checks f against the rules of the package comment.
func (f Frame) Validate() error {
	if f.Kind == 0 || f.Kind > kindLast {
		return fmt.Errorf("%w: %d", ErrUnknownKind, f.Kind)
	}
	rules := fieldsOf[f.Kind]
	p := f.present()
	if extra := p &^ (rules.must | rules.may); extra != 0 {
		return fmt.Errorf("%w: %s with fields %#x it does not carry", ErrMalformed, f.Kind, extra)
	}
	check := func(tag int, ok bool, what string) error {
		if p&bit(tag) != 0 && !ok {
			return fmt.Errorf("%w: %s: %s", ErrMalformed, f.Kind, what)
		}
		return nil
	}
	return errors.Join(
		check(tagName, f.Name != "" && len(f.Name) <= MaxName && utf8.ValidString(f.Name), "name empty, too long or not UTF-8"),
		check(tagNick, len(f.Nick) <= MaxNick && utf8.ValidString(f.Nick), "nick too long or not UTF-8"),
		check(tagText, len(f.Text) <= MaxText && utf8.ValidString(f.Text), "text too long or not UTF-8"),
		check(tagSize, f.Size >= 0, "negative size"),
		check(tagOffset, f.Offset >= 0 && (f.Kind != KindData || f.Offset <= f.Size), "offset out of range"),
		f.zeroOthers(p), // only the fields a kind carries may be set
	)
}

// zeroOthers checks that the fields f does not carry by kind are zero.
func (f Frame) zeroOthers(p uint16) error {
	var bad []string
	if p&bit(tagID) == 0 && f.ID != (ID{}) {
		bad = append(bad, "id")
	}
	if p&bit(tagName) == 0 && f.Name != "" {
		bad = append(bad, "name")
	}
	if p&bit(tagSize) == 0 && f.Size != 0 {
		bad = append(bad, "size")
	}
	if p&bit(tagHash) == 0 && f.Hash != ([HashSize]byte{}) {
		bad = append(bad, "hash")
	}
	if p&bit(tagOffset) == 0 && f.Offset != 0 {
		bad = append(bad, "offset")
	}
	if p&bit(tagCode) == 0 && f.Code != 0 {
		bad = append(bad, "code")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s with %v set", ErrMalformed, f.Kind, bad)
	}
	return nil
}

// Append appends the encoding of f to b, after validating f; on error it
// returns b unchanged.
func Append(b []byte, f Frame) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return b, err
	}
	p := f.present()
	var body []byte
	u64 := func(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
	for tag := 1; tag <= tagLast; tag++ {
		if p&bit(tag) == 0 {
			continue
		}
		var v []byte
		switch tag {
		case tagID:
			v = f.ID[:]
		case tagName:
			v = []byte(f.Name)
		case tagSize:
			v = u64(f.Size)
		case tagHash:
			v = f.Hash[:]
		case tagNick:
			v = []byte(f.Nick)
		case tagOffset:
			v = u64(f.Offset)
		case tagCode:
			v = []byte{byte(f.Code)}
		case tagText:
			v = []byte(f.Text)
		}
		body = append(body, byte(tag))
		body = binary.AppendUvarint(body, uint64(len(v)))
		body = append(body, v...)
	}
	if len(body) > MaxBody {
		return b, fmt.Errorf("%w: %d bytes, max %d", ErrOversize, len(body), MaxBody)
	}
	b = append(b, byte(f.Kind))
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...), nil
}

// Encode returns the wire form of f.
func Encode(f Frame) ([]byte, error) { return Append(nil, f) }

// Write writes f to w in one Write.
func Write(w io.Writer, f Frame) error {
	b, err := Encode(f)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Decode parses and validates one whole frame, kind and length included;
// bytes after it are an error. It never panics, and the result shares no
// memory with b.
func Decode(b []byte) (Frame, error) {
	if len(b) < 2 {
		return Frame{}, fmt.Errorf("%w: %d bytes", ErrShort, len(b))
	}
	n, w := binary.Uvarint(b[1:])
	switch {
	case w <= 0:
		return Frame{}, fmt.Errorf("%w: bad length", ErrMalformed)
	case n > MaxBody:
		return Frame{}, fmt.Errorf("%w: %d bytes, max %d", ErrOversize, n, MaxBody)
	case n > uint64(len(b)-1-w):
		return Frame{}, fmt.Errorf("%w: body of %d bytes, %d left", ErrShort, n, len(b)-1-w)
	case n < uint64(len(b)-1-w):
		return Frame{}, fmt.Errorf("%w: %d bytes after the frame", ErrMalformed, uint64(len(b)-1-w)-n)
	}
	return decodeBody(Kind(b[0]), b[1+w:])
}

// Read reads one frame from r. A frame longer than [MaxBody] is an error
// before its body is read.
func Read(r *bufio.Reader) (Frame, error) {
	k, err := r.ReadByte()
	if err != nil {
		return Frame{}, err // io.EOF: the stream ended between frames
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, fmt.Errorf("read frame length: %w", err)
	}
	if n > MaxBody {
		return Frame{}, fmt.Errorf("%w: %d bytes, max %d", ErrOversize, n, MaxBody)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, fmt.Errorf("read frame body: %w", err)
	}
	return decodeBody(Kind(k), body)
}

// decodeBody parses the fields of a frame of kind k.
func decodeBody(k Kind, body []byte) (Frame, error) {
	if k == 0 || k > kindLast {
		return Frame{}, fmt.Errorf("%w: %d", ErrUnknownKind, k)
	}
	f := Frame{Kind: k}
	var seen uint16
	last := 0
	for rest := body; len(rest) > 0; {
		tag := int(rest[0])
		n, w := binary.Uvarint(rest[1:])
		if w <= 0 {
			return Frame{}, fmt.Errorf("%w: bad length of field %d", ErrMalformed, tag)
		}
		rest = rest[1+w:]
		if n > uint64(len(rest)) {
			return Frame{}, fmt.Errorf("%w: field %d of %d bytes, %d left", ErrShort, tag, n, len(rest))
		}
		v := rest[:n]
		rest = rest[n:]
		if tag <= last {
			return Frame{}, fmt.Errorf("%w: field %d after field %d", ErrMalformed, tag, last)
		}
		last = tag
		if tag > tagLast {
			continue // an extension this version does not know
		}
		seen |= bit(tag)
		fixed := func(size int) error {
			if len(v) != size {
				return fmt.Errorf("%w: field %d of %d bytes, want %d", ErrMalformed, tag, len(v), size)
			}
			return nil
		}
		var err error
		switch tag {
		case tagID:
			if err = fixed(IDSize); err == nil {
				copy(f.ID[:], v)
			}
		case tagName:
			f.Name = string(v)
		case tagSize:
			if err = fixed(8); err == nil {
				f.Size = int64(binary.BigEndian.Uint64(v))
			}
		case tagHash:
			if err = fixed(HashSize); err == nil {
				copy(f.Hash[:], v)
			}
		case tagNick:
			f.Nick = string(v)
		case tagOffset:
			if err = fixed(8); err == nil {
				f.Offset = int64(binary.BigEndian.Uint64(v))
			}
		case tagCode:
			if err = fixed(1); err == nil {
				f.Code = Code(v[0])
			}
		case tagText:
			f.Text = string(v)
		}
		if err != nil {
			return Frame{}, err
		}
	}
	rules := fieldsOf[k]
	if missing := rules.must &^ seen; missing != 0 {
		return Frame{}, fmt.Errorf("%w: %s without fields %#x", ErrMalformed, k, missing)
	}
	if extra := seen &^ (rules.must | rules.may); extra != 0 {
		return Frame{}, fmt.Errorf("%w: %s with fields %#x it does not carry", ErrMalformed, k, extra)
	}
	// An empty nick or text is written by leaving the field out: one form
	// for one meaning.
	if seen&bit(tagNick) != 0 && f.Nick == "" || seen&bit(tagText) != 0 && f.Text == "" {
		return Frame{}, fmt.Errorf("%w: %s with an empty nick or text field", ErrMalformed, k)
	}
	if err := f.Validate(); err != nil {
		return Frame{}, err
	}
	return f, nil
}
