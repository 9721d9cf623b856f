package dmwire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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

// example is the package comment's message.
var example = Message{
	From: []byte{0x00, 0x01, 0xaa},
	To:   []byte{0x00, 0x01, 0xbb},
	ID:   [IDSize]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
	Sent: 0x0193a5b2c3d4,
	Nick: "alice",
	Text: "hi",
	Sig:  []byte{0x5a, 0x5a},
}

const (
	hHead    = "01 03 0001aa 03 0001bb 000102030405060708090a0b0c0d0e0f 00000193a5b2c3d4 05 616c696365"
	hExample = hHead + " 02 6869 02 5a5a"
)

func equal(a, b Message) bool {
	return bytes.Equal(a.From, b.From) && bytes.Equal(a.To, b.To) && a.ID == b.ID && a.Sent == b.Sent &&
		a.Nick == b.Nick && a.Text == b.Text && bytes.Equal(a.Sig, b.Sig)
}

func with(f func(*Message)) Message {
	m := example
	f(&m)
	return m
}

// pinned are exact encodings: what other implementations must produce. A
// change here is a wire break.
var pinned = []struct {
	name string
	m    Message
	hex  string
}{
	{"example", example, hExample},
	{"japanese", with(func(m *Message) { m.Text = "こんにちは" }), hHead + " 0f e38193e38293e381abe381a1e381af 02 5a5a"},
	{"200 bytes: two-byte length", with(func(m *Message) { m.Text = strings.Repeat("a", 200) }),
		hHead + " c801 " + strings.Repeat("61", 200) + " 02 5a5a"},
	{"negative sent", with(func(m *Message) { m.Sent = -1 }),
		"01 03 0001aa 03 0001bb 000102030405060708090a0b0c0d0e0f ffffffffffffffff 05 616c696365 02 6869 02 5a5a"},
}

func TestPinned(t *testing.T) {
	for _, tt := range pinned {
		t.Run(tt.name, func(t *testing.T) {
			want := h(tt.hex)
			got, err := tt.m.Encode()
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("Encode = %x, %v, want %x", got, err, want)
			}
			m, err := DecodeMessage(want)
			if err != nil || !equal(m, tt.m) {
				t.Errorf("DecodeMessage(%x) = %+v, %v, want %+v", want, m, err, tt.m)
			}
			signed, err := tt.m.Signed()
			if err != nil || !bytes.Equal(signed, append([]byte(SignPrefix), want[:len(want)-3]...)) {
				t.Errorf("Signed = %x, %v, want the prefix and all before the signature", signed, err)
			}
		})
	}
}

// TestPinnedFrames checks the package comment's framed example, its ack,
// and that frames read back.
func TestPinnedFrames(t *testing.T) {
	body, _ := example.Encode()
	var b bytes.Buffer
	if err := WriteFrame(&b, TypeMessage, body); err != nil {
		t.Fatal(err)
	}
	ack := Ack{ID: example.ID, Status: StatusStored}
	if err := WriteFrame(&b, TypeAck, ack.Encode()); err != nil {
		t.Fatal(err)
	}
	want := h("2e 01 " + hExample + " 12 02 000102030405060708090a0b0c0d0e0f 00")
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("frames = %x, want %x", b.Bytes(), want)
	}
	r := bufio.NewReader(&b)
	typ, got, err := ReadFrame(r)
	if err != nil || typ != TypeMessage || !bytes.Equal(got, body) {
		t.Errorf("ReadFrame = %d, %x, %v, want the message", typ, got, err)
	}
	typ, got, err = ReadFrame(r)
	if a, derr := DecodeAck(got); err != nil || typ != TypeAck || derr != nil || a != ack {
		t.Errorf("ReadFrame = %d, %x, %v (ack %+v, %v), want the ack", typ, got, err, a, derr)
	}
	if _, _, err := ReadFrame(r); err != io.EOF {
		t.Errorf("ReadFrame at the end = %v, want io.EOF", err)
	}
}

// TestDecodeRejects checks that every broken message is an error
// wrapping ErrMalformed.
func TestDecodeRejects(t *testing.T) {
	good := h(hExample)
	long := with(func(m *Message) { m.Text = strings.Repeat("a", chat.MaxTextBytes) })
	longB, err := long.Encode()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version 2", append([]byte{2}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"no signature", h(hHead + " 02 6869 00")},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"empty text", h(hHead + " 00 02 5a5a")},
		{"bad UTF-8 text", h(hHead + " 02 ff68 02 5a5a")},
		{"empty nick", h("01 03 0001aa 03 0001bb 000102030405060708090a0b0c0d0e0f 00000193a5b2c3d4 00 02 6869 02 5a5a")},
		{"nick with a control", h("01 03 0001aa 03 0001bb 000102030405060708090a0b0c0d0e0f 00000193a5b2c3d4 02 611b 02 6869 02 5a5a")},
		{"empty sender", h("01 00 03 0001bb 000102030405060708090a0b0c0d0e0f 00000193a5b2c3d4 05 616c696365 02 6869 02 5a5a")},
		{"empty recipient", h("01 03 0001aa 00 000102030405060708090a0b0c0d0e0f 00000193a5b2c3d4 05 616c696365 02 6869 02 5a5a")},
		{"length not shortest", h(hHead + " 8200 6869 02 5a5a")},
		{"text too long", h(hHead + " 8120 " + strings.Repeat("61", chat.MaxTextBytes+1) + " 02 5a5a")},
		{"oversize", make([]byte, MaxMessage+1)},
		{"signature too long", append(h(hHead+" 02 6869 8101"), bytes.Repeat([]byte{0x5a}, MaxSig+1)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := DecodeMessage(tt.b); !errors.Is(err, ErrMalformed) {
				t.Errorf("DecodeMessage(%x) = %+v, %v, want ErrMalformed", tt.b, m, err)
			}
		})
	}
	if _, err := DecodeMessage(longB); err != nil {
		t.Errorf("DecodeMessage(4096-byte text) = %v, want it accepted", err)
	}
	if len(longB) > MaxMessage {
		t.Errorf("a message at the text limit is %d bytes, over MaxMessage %d", len(longB), MaxMessage)
	}
}

// TestEncodeRejects checks that Encode and Signed refuse what Decode would.
func TestEncodeRejects(t *testing.T) {
	for name, m := range map[string]Message{
		"no text":          with(func(m *Message) { m.Text = "" }),
		"text too long":    with(func(m *Message) { m.Text = strings.Repeat("a", chat.MaxTextBytes+1) }),
		"bad nick":         with(func(m *Message) { m.Nick = " " }),
		"no sender":        with(func(m *Message) { m.From = nil }),
		"long recipient":   with(func(m *Message) { m.To = make([]byte, MaxPeerID+1) }),
		"no signature":     with(func(m *Message) { m.Sig = nil }),
		"long signature":   with(func(m *Message) { m.Sig = make([]byte, MaxSig+1) }),
		"bad UTF-8 text":   with(func(m *Message) { m.Text = "\xff" }),
		"nick of 33 runes": with(func(m *Message) { m.Nick = strings.Repeat("n", chat.MaxNickRunes+1) }),
	} {
		if b, err := m.Encode(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Encode = %x, %v, want ErrMalformed", name, b, err)
		}
		if name != "no signature" && name != "long signature" {
			if b, err := m.Signed(); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: Signed = %x, %v, want ErrMalformed", name, b, err)
			}
		}
	}
}

func TestAck(t *testing.T) {
	for _, b := range [][]byte{nil, make([]byte, AckSize-1), make([]byte, AckSize+1), append(make([]byte, IDSize), statusLast+1)} {
		if a, err := DecodeAck(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeAck(%x) = %+v, %v, want ErrMalformed", b, a, err)
		}
	}
	for s := byte(0); s <= statusLast; s++ {
		a := Ack{ID: example.ID, Status: s}
		if got, err := DecodeAck(a.Encode()); err != nil || got != a {
			t.Errorf("DecodeAck(Encode(%+v)) = %+v, %v", a, got, err)
		}
	}
}

func TestReadFrameRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"zero length":         {0},
		"over MaxFrame":       binaryUvarint(MaxFrame + 1),
		"cut short":           {5, 1, 2},
		"length cut":          {0x80},
		"length not shortest": {0x81, 0x00, 1},
	} {
		if _, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(b))); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ReadFrame(%x) = %v, want ErrMalformed", name, b, err)
		}
	}
	if err := WriteFrame(io.Discard, TypeMessage, make([]byte, MaxFrame)); !errors.Is(err, ErrMalformed) {
		t.Errorf("WriteFrame(oversize) = %v, want ErrMalformed", err)
	}
}

func binaryUvarint(n uint64) []byte {
	var b []byte
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

// FuzzDecode feeds anything to the decoders: they never panic, and what
// they accept re-encodes to the same bytes (one encoding per message).
func FuzzDecode(f *testing.F) {
	for _, tt := range pinned {
		f.Add(h(tt.hex))
	}
	f.Add(h("2e 01 " + hExample + " 12 02 000102030405060708090a0b0c0d0e0f 00"))
	f.Add(Ack{Status: StatusBusy}.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := DecodeMessage(b); err == nil {
			again, err := m.Encode()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("message %x re-encodes as %x, %v", b, again, err)
			}
			signed, err := m.Signed()
			if err != nil || !bytes.Equal(signed[len(SignPrefix):], b[:len(signed)-len(SignPrefix)]) {
				t.Fatalf("message %x: Signed = %x, %v, not its prefix", b, signed, err)
			}
		}
		if a, err := DecodeAck(b); err == nil && !bytes.Equal(a.Encode(), b) {
			t.Fatalf("ack %x re-encodes as %x", b, a.Encode())
		}
		r := bufio.NewReader(bytes.NewReader(b))
		var again bytes.Buffer
		for {
			typ, body, err := ReadFrame(r)
			if err != nil {
				break
			}
			if err := WriteFrame(&again, typ, body); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.HasPrefix(b, again.Bytes()) {
			t.Fatalf("frames of %x re-encode as %x", b, again.Bytes())
		}
	})
}
