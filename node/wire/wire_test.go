package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"lanchat/node/chat"
)

// h decodes hex written with spaces for readability; it panics on bad hex
// (a mistake in the test, not in the code).
func h(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(fmt.Sprintf("bad test hex %q: %v", s, err))
	}
	return b
}

// Fields of the examples, as in the package comment.
const (
	hRoom  = "01 05 6c6f626279"       // room "lobby"
	hSent  = "02 08 00000193a5b2c3d4" // sent 0x0193a5b2c3d4
	hNick  = "03 05 616c696365"       // nick "alice"
	hHead  = hRoom + " " + hSent + " " + hNick
	sent   = int64(0x0193a5b2c3d4)
	tag    = "27f37ed0720fcd9019f2fec557d65fa5" // a private room's wire ID
	hTag   = "01 20 3237663337656430373230666364393031396632666563353537643635666135"
	hBox40 = "000102030405060708090a0b0c0d0e0f1011121314151617 18191a1b1c1d1e1f2021222324252627"
)

var box40 = h(hBox40) // the shortest sealed field: nonce and Poly1305 tag

func env(k Kind, text string) Envelope {
	return Envelope{Kind: k, Room: "lobby", Sent: sent, Nick: "alice", Text: text}
}

// q quotes b for a failure message, cut to its first 64 bytes.
func q(b []byte) string {
	if len(b) > 64 {
		return fmt.Sprintf("%q...(%d bytes)", b[:64], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// show formats e for a failure message, long fields cut.
func show(e Envelope) string {
	cut := func(s string) string {
		if len(s) > 40 {
			return fmt.Sprintf("%.40s...(%d bytes)", s, len(s))
		}
		return s
	}
	sealed := fmt.Sprintf("%x", e.Sealed)
	if len(e.Sealed) > 20 {
		sealed = fmt.Sprintf("%x...(%d bytes)", e.Sealed[:20], len(e.Sealed))
	}
	file := ""
	if !e.File.IsZero() {
		file = fmt.Sprintf(" file=%x/%d/%x/%q", e.File.ID, e.File.Size, e.File.Hash[:4], cut(e.File.Name))
	}
	return fmt.Sprintf("{%s room=%q sent=%d nick=%q text=%q sealed=%s%s}", e.Kind, cut(e.Room), e.Sent, cut(e.Nick), cut(e.Text), sealed, file)
}

// equal reports whether two envelopes are the same (Sealed compared by
// content).
func equal(a, b Envelope) bool {
	return a.Kind == b.Kind && a.Room == b.Room && a.Sent == b.Sent && a.Nick == b.Nick && a.Text == b.Text &&
		bytes.Equal(a.Sealed, b.Sealed) && (a.Sealed == nil) == (b.Sealed == nil) && a.File == b.File && a.Clock == b.Clock
}

// testFile is the file of the file-offer examples: ID 0x0102030405060708,
// 3 bytes, hash aa 00… bb, named "a.txt".
var testFile = File{ID: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, Size: 3, Hash: [32]byte{0: 0xaa, 31: 0xbb}, Name: "a.txt"}

// hFile is testFile's field.
const hFile = "07 35 0102030405060708 0000000000000003 aa000000000000000000000000000000000000000000000000000000000000bb 612e747874"

func fileEnv() Envelope {
	e := env(KindAction, "offers the file a.txt (3 B)")
	e.File = testFile
	return e
}

// pinned are exact encodings, one or more per kind. They are what other
// implementations must produce; a change here is a wire break.
var pinned = []struct {
	name string
	e    Envelope
	hex  string
}{
	{"join", env(KindJoin, ""), "02 01 " + hHead},
	{"file offer", fileEnv(), "02 05 " + hHead + " 04 1b " + fmt.Sprintf("%x", "offers the file a.txt (3 B)") + " " + hFile},
	{"leave", env(KindLeave, ""), "02 02 " + hHead},
	{"heartbeat", env(KindHeartbeat, ""), "02 03 " + hHead},
	{"message", env(KindMessage, "hi"), "02 04 " + hHead + " 04 02 6869"},
	{"action", env(KindAction, "waves"), "02 05 " + hHead + " 04 05 7761766573"},
	{"nick", Envelope{Kind: KindNick, Room: "lobby", Sent: sent, Nick: "bob"}, "02 06 " + hRoom + " " + hSent + " 03 03 626f62"},
	{"sealed", Envelope{Kind: KindSealed, Room: tag, Sealed: box40}, "02 07 " + hTag + " 05 28 " + hBox40},
	{
		"message japanese",
		env(KindMessage, "こんにちは"),
		"02 04 " + hHead + " 04 0f e38193 e38293 e381ab e381a1 e381af",
	},
	{
		"message 200 bytes: two-byte length",
		env(KindMessage, strings.Repeat("a", 200)),
		"02 04 " + hHead + " 04 c801 " + strings.Repeat("61", 200),
	},
	{
		"negative sent",
		Envelope{Kind: KindJoin, Room: "lobby", Sent: -1, Nick: "alice"},
		"02 01 " + hRoom + " 02 08 ffffffffffffffff " + hNick,
	},
}

func TestPinned(t *testing.T) {
	const doc = "020101056c6f626279020800000193a5b2c3d40305616c696365" // the package comment's example
	if got := hex.EncodeToString(h(pinned[0].hex)); got != doc {
		t.Fatalf("pinned join = %s, want the package comment's %s", got, doc)
	}
	for _, tt := range pinned {
		t.Run(tt.name, func(t *testing.T) {
			want := h(tt.hex)
			got, err := Encode(tt.e)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("Encode(%s) = %x, %v, want %x", show(tt.e), got, err, want)
			}
			e, err := Decode(want)
			if err != nil || !equal(e, tt.e) {
				t.Errorf("Decode(%x) = %s, %v, want %s", want, show(e), err, show(tt.e))
			}
			if b, err := tt.e.Append([]byte("prefix")); err != nil || !bytes.Equal(b, append([]byte("prefix"), want...)) {
				t.Errorf("Append(%q) = %x, %v, want prefix then %x", "prefix", b, err, want)
			}
		})
	}
}

// valid are envelopes that must round-trip through Encode and Decode.
var valid = []struct {
	name string
	e    Envelope
}{
	{"japanese message", env(KindMessage, "こんにちは、世界。日本語のテキスト")},
	{"japanese nick", Envelope{Kind: KindNick, Room: "ロビー", Sent: sent, Nick: "さくら"}},
	{"emoji action", env(KindAction, "👋🏽 waves")},
	{"max text", env(KindMessage, strings.Repeat("x", chat.MaxTextBytes))},
	{"max text, 3-byte runes", env(KindMessage, strings.Repeat("日", chat.MaxTextBytes/3))},
	{"max nick runes", Envelope{Kind: KindJoin, Room: "lobby", Sent: sent, Nick: strings.Repeat("n", chat.MaxNickRunes)}},
	{"max nick bytes", Envelope{Kind: KindHeartbeat, Room: "lobby", Sent: sent, Nick: strings.Repeat("😀", chat.MaxNickRunes)}},
	{"max room", Envelope{Kind: KindLeave, Room: strings.Repeat("r", chat.MaxRoomBytes), Sent: sent, Nick: "alice"}},
	{"max everything", Envelope{
		Kind: KindMessage, Room: strings.Repeat("r", chat.MaxRoomBytes), Sent: -1 << 63,
		Nick: strings.Repeat("😀", chat.MaxNickRunes), Text: strings.Repeat("x", chat.MaxTextBytes),
	}},
	{"zero sent", Envelope{Kind: KindJoin, Room: "lobby", Sent: 0, Nick: "alice"}},
	{"text with newline and NUL", env(KindMessage, "line 1\nline 2\x00")},
	{"sealed, large", Envelope{Kind: KindSealed, Room: tag, Sealed: bytes.Repeat([]byte{0xab}, 4500)}},
}

func TestRoundTrip(t *testing.T) {
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.e)
			if err != nil {
				t.Fatalf("Encode(%s) = %v", show(tt.e), err)
			}
			if len(b) > MaxSize {
				t.Errorf("len(Encode(%s)) = %d, more than MaxSize %d", show(tt.e), len(b), MaxSize)
			}
			got, err := Decode(b)
			if err != nil || !equal(got, tt.e) {
				t.Errorf("Decode(Encode(%s)) = %s, %v", show(tt.e), show(got), err)
			}
		})
	}
}

func TestDecodeCopies(t *testing.T) {
	b := h("02 07 " + hTag + " 05 28 " + hBox40)
	e, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xee
	}
	if !bytes.Equal(e.Sealed, box40) || e.Room != tag {
		t.Errorf("Decode result changed with its input: %s", show(e))
	}
}

// long returns a field of tag t with n bytes of c.
func long(t byte, n int, c byte) string {
	return hex.EncodeToString(appendField(nil, t, bytes.Repeat([]byte{c}, n)))
}

// bad are envelopes Decode must reject, each with the sentinel it wraps.
var bad = []struct {
	name string
	hex  string
	want []error
}{
	{"empty", "", []error{ErrShort}},
	{"one byte", "02", []error{ErrShort}},
	{"version only, kind 0", "00", []error{ErrShort}},
	{"version 1 (lanchat v1 join)", "01 01 00000193a5b2c3d4 05 616c696365", []error{ErrBadVersion}},
	{"version 1 header only", "01 01", []error{ErrBadVersion}},
	{"version 3", "03 01 " + hHead, []error{ErrBadVersion}},
	{"version 0", "00 01 " + hHead, []error{ErrBadVersion}},
	{"version 255", "ff 01 " + hHead, []error{ErrBadVersion}},
	{"kind 0", "02 00 " + hHead, []error{ErrUnknownKind}},
	{"kind 8", "02 08 " + hHead, []error{ErrUnknownKind}},
	{"kind 255", "02 ff " + hHead, []error{ErrUnknownKind}},
	{"kind 8, header only", "02 08", []error{ErrUnknownKind}},
	{"oversize", "02 01 " + hHead + " " + long(6, MaxSize, 0), []error{ErrOversize}},
	{"oversize by one", "02 01 " + hHead + " " + long(6, MaxSize+1-2-24-3, 0), []error{ErrOversize}},
	{"oversize sealed", "02 07 " + hTag + " " + long(5, MaxSize, 0), []error{ErrOversize}},
	{"truncated uvarint", "02 01 01 85", []error{ErrMalformed}},
	{"tag without length", "02 01 01", []error{ErrMalformed}},
	{"uvarint overflow", "02 01 01 ffffffffffffffffff02", []error{ErrMalformed}},
	{"uvarint of 11 bytes", "02 01 01 8080808080808080808000", []error{ErrMalformed}},
	{"length beyond the end", "02 01 01 05 6c6f62", []error{ErrShort}},
	{"huge length", "02 01 01 ffffffffffffffff7f 6c6f", []error{ErrShort}},
	{"extension beyond the end", "02 01 " + hHead + " 06 03 0000", []error{ErrShort}},
	{"fields out of order: sent first", "02 01 " + hSent + " " + hRoom + " " + hNick, []error{ErrMalformed}},
	{"fields out of order: nick before sent", "02 01 " + hRoom + " " + hNick + " " + hSent, []error{ErrMalformed}},
	{"extension before a known field", "02 07 " + hTag + " 06 00 05 28 " + hBox40, []error{ErrMalformed}},
	{"extensions out of order", "02 01 " + hHead + " c8 00 06 00", []error{ErrMalformed}},
	{"tag 0", "02 01 00 00 " + hHead, []error{ErrMalformed}},
	{"duplicate room", "02 01 " + hRoom + " " + hRoom + " " + hSent + " " + hNick, []error{ErrMalformed}},
	{"duplicate nick", "02 01 " + hHead + " " + hNick, []error{ErrMalformed}},
	{"duplicate extension", "02 01 " + hHead + " 06 00 06 00", []error{ErrMalformed}},
	{"missing sent", "02 01 " + hRoom + " " + hNick, []error{ErrMalformed}},
	{"sent of 7 bytes", "02 01 " + hRoom + " 02 07 000193a5b2c3d4 " + hNick, []error{ErrMalformed}},
	{"sent of 9 bytes", "02 01 " + hRoom + " 02 09 0000000193a5b2c3d4 " + hNick, []error{ErrMalformed}},
	{"missing room", "02 01 " + hSent + " " + hNick, []error{chat.ErrInvalidRoom}},
	{"empty room", "02 01 01 00 " + hSent + " " + hNick, []error{chat.ErrInvalidRoom}},
	{"room too long", "02 01 " + long(1, chat.MaxRoomBytes+1, 'r') + " " + hSent + " " + hNick, []error{chat.ErrInvalidRoom}},
	{"room bad UTF-8", "02 01 01 05 6c6fff6279 " + hSent + " " + hNick, []error{chat.ErrInvalidRoom}},
	{"missing nick", "02 01 " + hRoom + " " + hSent, []error{chat.ErrInvalidNick}},
	{"empty nick", "02 01 " + hRoom + " " + hSent + " 03 00", []error{chat.ErrInvalidNick}},
	{"nick with control character", "02 01 " + hRoom + " " + hSent + " 03 05 616c0a6365", []error{chat.ErrInvalidNick}},
	{"nick with bidi override", "02 01 " + hRoom + " " + hSent + " 03 07 61e280ae6c6963", []error{chat.ErrInvalidNick}},
	{"nick bad UTF-8", "02 01 " + hRoom + " " + hSent + " 03 05 616cc06365", []error{chat.ErrInvalidNick, chat.ErrBadUTF8}},
	{"nick of 33 runes", "02 01 " + hRoom + " " + hSent + " " + long(3, chat.MaxNickRunes+1, 'n'), []error{chat.ErrInvalidNick}},
	{"nick with leading space", "02 01 " + hRoom + " " + hSent + " 03 02 2061", []error{chat.ErrInvalidNick}},
	{"message without text", "02 04 " + hHead, []error{ErrEmptyText}},
	{"message with empty text", "02 04 " + hHead + " 04 00", []error{ErrEmptyText}},
	{"action without text", "02 05 " + hHead, []error{ErrEmptyText}},
	{"text too long", "02 04 " + hHead + " " + long(4, chat.MaxTextBytes+1, 'x'), []error{ErrOversize, chat.ErrTooLong}},
	{"text bad UTF-8", "02 04 " + hHead + " 04 03 68ff69", []error{ErrBadUTF8}},
	{"text truncated rune", "02 04 " + hHead + " 04 02 e381", []error{ErrBadUTF8}},
	{"join with text", "02 01 " + hHead + " 04 02 6869", []error{ErrMalformed}},
	{"heartbeat with text", "02 03 " + hHead + " 04 02 6869", []error{ErrMalformed}},
	{"nick with text", "02 06 " + hHead + " 04 02 6869", []error{ErrMalformed}},
	{"join with an empty text field", "02 01 " + hHead + " 04 00", []error{ErrMalformed}},
	{"sealed with sent", "02 07 " + hTag + " " + hSent + " 05 28 " + hBox40, []error{ErrMalformed}},
	{"sealed with nick", "02 07 " + hTag + " " + hNick + " 05 28 " + hBox40, []error{ErrMalformed}},
	{"sealed with text", "02 07 " + hTag + " 04 02 6869 05 28 " + hBox40, []error{ErrMalformed}},
	{"sealed with all clear fields", "02 07 " + hTag + " " + hSent + " " + hNick + " 04 02 6869 05 28 " + hBox40, []error{ErrMalformed}},
	{"sealed with a zero sent", "02 07 " + hTag + " 02 08 0000000000000000 05 28 " + hBox40, []error{ErrMalformed}},
	{"sealed with an empty nick field", "02 07 " + hTag + " 03 00 05 28 " + hBox40, []error{ErrMalformed}},
	{"sealed with an empty text field", "02 07 " + hTag + " 04 00 05 28 " + hBox40, []error{ErrMalformed}},
	{"sealed without sealed field", "02 07 " + hTag, []error{ErrMalformed}},
	{"sealed without room", "02 07 05 28 " + hBox40, []error{chat.ErrInvalidRoom}},
	{"sealed too short", "02 07 " + hTag + " 05 27 " + hBox40[:len(hBox40)-2], []error{ErrShort}},
	{"sealed empty", "02 07 " + hTag + " 05 00", []error{ErrShort}},
	{"file on a join", "02 01 " + hHead + " " + hFile, []error{ErrMalformed}},
	{"file field without a name", "02 05 " + hHead + " 04 02 6869 07 30 0102030405060708 0000000000000003 aa000000000000000000000000000000000000000000000000000000000000bb", []error{ErrMalformed}},
	{"file field too short", "02 05 " + hHead + " 04 02 6869 07 02 0102", []error{ErrMalformed}},
	{"file of negative size", "02 05 " + hHead + " 04 02 6869 07 31 0102030405060708 8000000000000003 aa000000000000000000000000000000000000000000000000000000000000bb 61", []error{ErrMalformed}},
	{"file name not UTF-8", "02 05 " + hHead + " 04 02 6869 07 31 0102030405060708 0000000000000003 aa000000000000000000000000000000000000000000000000000000000000bb ff", []error{ErrBadUTF8}},
	{"file in sealed", "02 07 " + hTag + " 05 28 " + hBox40 + " " + hFile, []error{ErrMalformed}},
	{"join with a sealed field", "02 01 " + hHead + " 05 28 " + hBox40, []error{ErrMalformed}},
	{"message with an empty sealed field", "02 04 " + hHead + " 04 02 6869 05 00", []error{ErrMalformed}},
}

func TestDecodeErrors(t *testing.T) {
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			b := h(tt.hex)
			e, err := Decode(b)
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("Decode(%s) = %s, %v, want %v", q(b), show(e), err, want)
				}
			}
			if err != nil && !equal(e, Envelope{}) {
				t.Errorf("Decode(%s) = %s, %v, want a zero Envelope with the error", q(b), show(e), err)
			}
			if err != nil && (err.Error() != strings.ToLower(err.Error()[:1])+err.Error()[1:] || strings.HasSuffix(err.Error(), ".")) {
				t.Errorf("Decode(%s) error %q: want lower case, no trailing period", q(b), err)
			}
		})
	}
}

// TestExtensions checks the forward-compatibility promise: fields with
// tags this version does not know are skipped, wherever they are in tag
// order, and the known fields still decode.
func TestExtensions(t *testing.T) {
	msg := env(KindMessage, "hi")
	sealed := Envelope{Kind: KindSealed, Room: tag, Sealed: box40}
	tests := []struct {
		name string
		hex  string
		want Envelope
	}{
		{"tag 8, empty", "02 01 " + hHead + " 08 00", env(KindJoin, "")},
		{"tag 8 after text", "02 04 " + hHead + " 04 02 6869 08 03 010203", msg},
		{"tag 200", "02 04 " + hHead + " 04 02 6869 c8 01 ff", msg},
		{"tag 255", "02 01 " + hHead + " ff 02 abcd", env(KindJoin, "")},
		{"tags 8, 9, 200, 255", "02 04 " + hHead + " 04 02 6869 08 00 09 01 00 c8 02 0000 ff 00", msg},
		{"tag 8 after sealed", "02 07 " + hTag + " 05 28 " + hBox40 + " 08 02 abcd", sealed},
		{"tag 200 of 300 bytes", "02 07 " + hTag + " 05 28 " + hBox40 + " " + long(200, 300, 0xaa), sealed},
		{"between nick and text: none, tag 8 must follow 5", "02 05 " + hHead + " 04 05 7761766573 08 00", env(KindAction, "waves")},
		{"non-minimal length", "02 01 01 8500 6c6f626279 " + hSent + " " + hNick, env(KindJoin, "")},
		{"largest size", "02 01 " + hHead + " " + long(8, MaxSize-2-24-3, 0), env(KindJoin, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := h(tt.hex)
			got, err := Decode(b)
			if err != nil || !equal(got, tt.want) {
				t.Fatalf("Decode(%s) = %s, %v, want %s", q(b), show(got), err, show(tt.want))
			}
			// Re-encoding drops the extensions: the canonical form.
			want, _ := Encode(tt.want)
			if re, err := Encode(got); err != nil || !bytes.Equal(re, want) {
				t.Errorf("Encode(Decode(%s)) = %s, %v, want %s", q(b), q(re), err, q(want))
			}
		})
	}
}

// TestEncodeErrors checks that Encode refuses what Decode would refuse.
func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		e    Envelope
		want []error
	}{
		{"zero", Envelope{}, []error{ErrUnknownKind}},
		{"kind 8", Envelope{Kind: 8, Room: "lobby", Nick: "alice"}, []error{ErrUnknownKind}},
		{"no room", Envelope{Kind: KindJoin, Nick: "alice"}, []error{chat.ErrInvalidRoom}},
		{"room too long", Envelope{Kind: KindJoin, Room: strings.Repeat("r", 65), Nick: "alice"}, []error{chat.ErrInvalidRoom}},
		{"room bad UTF-8", Envelope{Kind: KindJoin, Room: "\xff", Nick: "alice"}, []error{chat.ErrInvalidRoom}},
		{"no nick", Envelope{Kind: KindJoin, Room: "lobby"}, []error{chat.ErrInvalidNick}},
		{"bad nick", Envelope{Kind: KindJoin, Room: "lobby", Nick: "a\x1bb"}, []error{chat.ErrInvalidNick}},
		{"message no text", env(KindMessage, ""), []error{ErrEmptyText}},
		{"text too long", env(KindMessage, strings.Repeat("x", chat.MaxTextBytes+1)), []error{ErrOversize, chat.ErrTooLong}},
		{"text bad UTF-8", env(KindAction, "\xc0"), []error{ErrBadUTF8}},
		{"join with text", env(KindJoin, "hi"), []error{ErrMalformed}},
		{"join with sealed", Envelope{Kind: KindJoin, Room: "lobby", Nick: "alice", Sealed: []byte{}}, []error{ErrMalformed}},
		{"sealed with nick", Envelope{Kind: KindSealed, Room: tag, Nick: "alice", Sealed: box40}, []error{ErrMalformed}},
		{"sealed with sent", Envelope{Kind: KindSealed, Room: tag, Sent: 1, Sealed: box40}, []error{ErrMalformed}},
		{"sealed with text", Envelope{Kind: KindSealed, Room: tag, Text: "hi", Sealed: box40}, []error{ErrMalformed}},
		{"sealed too short", Envelope{Kind: KindSealed, Room: tag, Sealed: box40[:39]}, []error{ErrShort}},
		{"sealed nil", Envelope{Kind: KindSealed, Room: tag}, []error{ErrShort}},
		{"sealed beyond MaxSize", Envelope{Kind: KindSealed, Room: tag, Sealed: make([]byte, MaxSize)}, []error{ErrOversize}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.e)
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("Encode(%s) = %s, %v, want %v", show(tt.e), q(b), err, want)
				}
			}
			if err != nil && len(b) != 0 {
				t.Errorf("Encode(%s) = %s with error %v, want no bytes", show(tt.e), q(b), err)
			}
			if verr := tt.e.Validate(); (verr == nil) != (err == nil) {
				t.Errorf("Validate(%s) = %v, Encode error %v: want both or neither", show(tt.e), verr, err)
			}
		})
	}
}

func TestKind(t *testing.T) {
	tests := []struct {
		k       Kind
		s       string
		hasText bool
	}{
		{KindJoin, "join", false},
		{KindLeave, "leave", false},
		{KindHeartbeat, "heartbeat", false},
		{KindMessage, "message", true},
		{KindAction, "action", true},
		{KindNick, "nick", false},
		{KindSealed, "sealed", false},
		{0, "kind(0)", false},
		{8, "kind(8)", false},
	}
	for i, tt := range tests {
		if i < 7 && tt.k != Kind(i+1) {
			t.Errorf("%s = %d, want %d: kinds are on the wire", tt.s, tt.k, i+1)
		}
		if got := tt.k.String(); got != tt.s {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(tt.k), got, tt.s)
		}
		if got := tt.k.HasText(); got != tt.hasText {
			t.Errorf("Kind(%d).HasText() = %v, want %v", uint8(tt.k), got, tt.hasText)
		}
	}
}

// FuzzDecode checks that Decode never panics, and that what it accepts
// survives Encode: Encode(Decode(b)) succeeds, is no longer than b,
// decodes to the same envelope, and is stable (encoding again gives the
// same bytes). It is not b itself: extensions and non-minimal lengths go.
func FuzzDecode(f *testing.F) {
	for _, tt := range pinned {
		f.Add(h(tt.hex))
	}
	for _, tt := range valid {
		b, err := Encode(tt.e)
		if err != nil {
			f.Fatalf("Encode(%s) = %v", show(tt.e), err)
		}
		f.Add(b)
	}
	for _, tt := range bad {
		f.Add(h(tt.hex))
	}
	f.Add(h("02 04 " + hHead + " 04 02 6869 06 03 010203 c8 01 ff"))
	f.Add(h("02 07 " + hTag + " 05 28 " + hBox40 + " 06 02 abcd"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			if !equal(e, Envelope{}) {
				t.Errorf("Decode(%s) = %s, %v, want a zero Envelope with the error", q(b), show(e), err)
			}
			return
		}
		enc, err := Encode(e)
		if err != nil {
			t.Fatalf("Encode(Decode(%s)) = %v; decoded %s", q(b), err, show(e))
		}
		if len(enc) > len(b) {
			t.Errorf("Encode(Decode(%s)) = %s, longer than the input", q(b), q(enc))
		}
		e2, err := Decode(enc)
		if err != nil || !equal(e2, e) {
			t.Fatalf("Decode(Encode(Decode(%s))) = %s, %v, want %s", q(b), show(e2), err, show(e))
		}
		if enc2, err := Encode(e2); err != nil || !bytes.Equal(enc2, enc) {
			t.Errorf("Encode is not stable for %s: %s then %s, %v", show(e), q(enc), q(enc2), err)
		}
	})
}

// benchEnvelopes are the envelopes the benchmarks encode and decode.
var benchEnvelopes = []struct {
	name string
	e    Envelope
}{
	{"heartbeat", env(KindHeartbeat, "")},
	{"message", env(KindMessage, "hello, how is everyone doing today?")},
	{"message 4096", env(KindMessage, strings.Repeat("x", chat.MaxTextBytes))},
	{"sealed", Envelope{Kind: KindSealed, Room: tag, Sealed: make([]byte, 120)}},
}

func BenchmarkEncode(b *testing.B) {
	for _, tt := range benchEnvelopes {
		b.Run(tt.name, func(b *testing.B) {
			n, _ := Encode(tt.e)
			b.SetBytes(int64(len(n)))
			b.ReportAllocs()
			buf := make([]byte, 0, MaxSize)
			for b.Loop() {
				if _, err := tt.e.Append(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, tt := range benchEnvelopes {
		b.Run(tt.name, func(b *testing.B) {
			enc, err := Encode(tt.e)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestClock pins the clock field: left out when it equals sent, 8 bytes
// after text otherwise, and rejected in a sealed envelope or at another
// length.
func TestClock(t *testing.T) {
	e := env(KindMessage, "hi")
	e.Clock = e.Sent
	b, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := h("02 04 " + hHead + " 04 02 6869"); !bytes.Equal(b, want) {
		t.Fatalf("clock = sent: Encode = %x, want %x", b, want)
	}
	e.Clock = e.Sent + 0x101
	b, err = Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	want := h("02 04 " + hHead + " 04 02 6869 06 08 00 00 01 93 a5 b2 c4 d5")
	if !bytes.Equal(b, want) {
		t.Fatalf("Encode = %x, want %x", b, want)
	}
	got, err := Decode(b)
	if err != nil || got.Clock != e.Clock || got.Order() != e.Clock {
		t.Fatalf("Decode = %s clock %d, %v; want clock %d", show(got), got.Clock, err, e.Clock)
	}
	// An explicit clock equal to sent decodes to the canonical form.
	got, err = Decode(h("02 04 " + hHead + " 04 02 6869 06 08 " + hSent[6:]))
	if err != nil || got.Clock != 0 || got.Order() != got.Sent {
		t.Fatalf("clock = sent: Decode = clock %d, %v", got.Clock, err)
	}
	for name, hex := range map[string]string{
		"short clock":     "02 04 " + hHead + " 04 02 6869 06 02 0001",
		"clock in sealed": "02 07 " + hTag + " 05 28 " + hBox40 + " 06 08 0000000000000001",
	} {
		if _, err := Decode(h(hex)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode err = %v, want ErrMalformed", name, err)
		}
	}
}
