package node

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestEncodeExactBytes(t *testing.T) {
	e := envelope{Kind: kindMessage, Sent: 1700000000123, Nick: "bob", Text: "hi"}
	got, err := encode(e)
	if err != nil {
		t.Fatalf("encode(%+v) = %v", e, err)
	}
	want, _ := hex.DecodeString("01" + "04" + "0000018bcfe5687b" + "03" + hex.EncodeToString([]byte("bob")) + hex.EncodeToString([]byte("hi")))
	if !bytes.Equal(got, want) {
		t.Errorf("encode(%+v) = %x, want %x", e, got, want)
	}
}

// validEnvelopes are round-trip cases; they also seed FuzzDecode.
var validEnvelopes = []envelope{
	{Kind: kindJoin, Sent: 1, Nick: "alice"},
	{Kind: kindLeave, Sent: 1700000000000, Nick: "bob"},
	{Kind: kindHeartbeat, Sent: -5, Nick: "Zoë"},
	{Kind: kindMessage, Sent: 1700000000123, Nick: "bob", Text: "hi"},
	{Kind: kindMessage, Sent: 0, Nick: strings.Repeat("é", 32), Text: strings.Repeat("x", MaxTextBytes)},
	{Kind: kindMessage, Sent: 42, Nick: "a b", Text: "line 1\nline 2\ttab \x1b[31m red"},
	{Kind: kindAction, Sent: 42, Nick: "👨\u200d👩\u200d👧", Text: "waves"},
	{Kind: kindNick, Sent: 9, Nick: "李"},
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, e := range validEnvelopes {
		t.Run(e.Kind.String(), func(t *testing.T) {
			b, err := encode(e)
			if err != nil {
				t.Fatalf("encode(%+v) = %v", e, err)
			}
			got, err := decode(b)
			if err != nil {
				t.Fatalf("decode(%x) = %v", b, err)
			}
			if got != e {
				t.Errorf("decode(encode(%+v)) = %+v", e, got)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := encode(envelope{Kind: kindMessage, Sent: 1, Nick: "bob", Text: "hi"})
	with := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	header := func(k kind, nick string) []byte {
		return append([]byte{wireVersion, byte(k), 0, 0, 0, 0, 0, 0, 0, 1, byte(len(nick))}, nick...)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"header only partly", good[:5], ErrShort},
		{"nick cut", good[:12], ErrShort},
		{"version 0", with(0, 0), ErrBadVersion},
		{"future version", with(0, 2), ErrBadVersion},
		{"kind 0", with(1, 0), ErrUnknownKind},
		{"unknown kind", with(1, byte(kindLast+1)), ErrUnknownKind},
		{"empty nick", header(kindJoin, ""), ErrInvalidNick},
		{"nick too long", header(kindJoin, strings.Repeat("x", 33)), ErrInvalidNick},
		{"nick control", header(kindJoin, "a\x07b"), ErrInvalidNick},
		{"nick newline", header(kindJoin, "a\nb"), ErrInvalidNick},
		{"nick bidi override", header(kindJoin, "a\u202eb"), ErrInvalidNick},
		{"nick bad utf8", header(kindJoin, "a\xffb"), ErrBadUTF8},
		{"nick leading space", header(kindJoin, " ab"), ErrInvalidNick},
		{"nick only joiner", header(kindJoin, "\u200d"), ErrInvalidNick},
		{"text bad utf8", append(header(kindMessage, "bob"), 0xc3), ErrBadUTF8},
		{"message without text", header(kindMessage, "bob"), ErrEmptyText},
		{"action without text", header(kindAction, "bob"), ErrEmptyText},
		{"join with text", append(header(kindJoin, "bob"), 'x'), ErrMalformed},
		{"text too long", append(header(kindMessage, "bob"), strings.Repeat("x", MaxTextBytes+1)...), ErrTooLong},
		{"oversize", append(header(kindMessage, "bob"), strings.Repeat("x", maxEnvelope)...), ErrOversize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("decode(%q) = %+v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	for _, e := range []envelope{
		{Kind: 0, Nick: "a"},
		{Kind: kindMessage, Nick: "a"},
		{Kind: kindMessage, Nick: "", Text: "x"},
		{Kind: kindMessage, Nick: "a", Text: strings.Repeat("x", MaxTextBytes+1)},
		{Kind: kindJoin, Nick: "a", Text: "x"},
	} {
		if b, err := encode(e); err == nil {
			t.Errorf("encode(%+v) = %x, want error", e, b)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, e := range validEnvelopes {
		b, _ := encode(e)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 200, 'x'})
	f.Add([]byte{2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decode(b)
		if err != nil {
			return
		}
		b2, err := encode(e)
		if err != nil {
			t.Fatalf("encode(decode(%x) = %+v) = %v", b, e, err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("encode(decode(%x)) = %x", b, b2)
		}
		e2, err := decode(b2)
		if err != nil || e2 != e {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", e, e2, err)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	e := envelope{Kind: kindMessage, Sent: 1700000000123, Nick: "alice", Text: strings.Repeat("hello world ", 8)}
	buf := make([]byte, 0, maxEnvelope)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = appendEnvelope(buf[:0], e)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecode(b *testing.B) {
	e := envelope{Kind: kindMessage, Sent: 1700000000123, Nick: "alice", Text: strings.Repeat("hello world ", 8)}
	data, _ := encode(e)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
