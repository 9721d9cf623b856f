package reconcile

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
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

// rep returns the ID of 16 bytes b.
func rep(b byte) (id [IDSize]byte) {
	for i := range id {
		id[i] = b
	}
	return id
}

// pinnedSets are the sets of the multi-round pinned exchange: A holds 20
// items, at times 1000…1019 but for two pairs that share a time (so
// that a bound needs an ID prefix); B lacks A's 8th item and holds one A
// lacks.
func pinnedSets() (a, b *Set) {
	var items []Item
	for i := range 20 {
		it := Item{Time: 1000 + int64(i), ID: rep(byte(0x10 + i))}
		switch i {
		case 4:
			it.Time = 1003 // with item 3
			it.ID[1] = 0x01
		case 12:
			it.Time = 1011 // with item 11
		}
		items = append(items, it)
	}
	a = NewSet(items)
	other := append([]Item{}, items[:7]...)
	other = append(other, items[8:]...)
	other = append(other, Item{Time: 1007, ID: rep(0xee)})
	return a, NewSet(other)
}

// Hex of the IDs of the examples.
var (
	h11 = strings.Repeat("11", 16)
	h22 = strings.Repeat("22", 16)
	h33 = strings.Repeat("33", 16)
	h44 = strings.Repeat("44", 16)
)

// TestPinned pins the bytes of two exchanges: what other implementations
// must produce. A change here is a wire break.
func TestPinned(t *testing.T) {
	// The package comment's example.
	a := NewSet([]Item{{1000, rep(0x11)}, {1001, rep(0x22)}, {1002, rep(0x33)}})
	b := NewSet([]Item{{1001, rep(0x22)}, {1002, rep(0x33)}, {1003, rep(0x44)}})
	small := []string{
		"01 00 02 03 " + h11 + h22 + h33, // A: id list of its 3 IDs, up to infinity
		"01 00 03 03 01 01 " + h44,       // B: id diff: lacks the 1st; holds 44…44
	}
	pa, pb := pinnedSets()
	multi := []string{
		// A: 20 items cut into 5 ranges of 4.
		"01" +
			" ec07 01 14  01 18253e798af92c0fab4e22c8345afdfe" + // (1003, 14): shares a time with the item below
			" 06 00       01 1279f7d52a7049794936a3d65937e071" + // (1008)
			" 04 01 1c    01 b7a89fdf866d87970fd3a611150087df" + // (1011, 1c)
			" 06 00       01 24ccb49700f81b7a337531c7975be11a" + // (1016)
			" 00          01 2112c49b4358cdfec8b8d5adc9a43caf", //  infinity
		// B: the first range matches; the second differs and holds 4
		// items: an id list. The rest match (a trailing skip is left out).
		"01 ec07 01 14 00 06 00 02 04 " + "14011414141414141414141414141414" + strings.Repeat("15", 16) + strings.Repeat("16", 16) + strings.Repeat("ee", 16),
	}
	tests := []struct {
		name       string
		a, b       *Set
		msgs       []string
		have, need [IDSize]byte
	}{
		{"id diff", a, b, small, rep(0x11), rep(0x44)},
		{"fingerprints and bounds", pa, pb, multi, rep(0x17), rep(0xee)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := exchange(t, tt.a, tt.b, Limits{})
			if len(res.msgs) != len(tt.msgs) {
				t.Fatalf("%d messages, want %d", len(res.msgs), len(tt.msgs))
			}
			for i, m := range res.msgs {
				if want := h(tt.msgs[i]); !bytes.Equal(m, want) {
					t.Errorf("message %d = %x, want %x", i, m, want)
				}
			}
			if len(res.have) != 1 || res.have[0] != tt.have || len(res.need) != 1 || res.need[0] != tt.need {
				t.Errorf("have %x, need %x; want [%x], [%x]", res.have, res.need, tt.have, tt.need)
			}
		})
	}
}

// TestBoundEncoding pins the encoding of bounds: time deltas from the
// previous bound, ID prefixes without trailing zeros, infinity.
func TestBoundEncoding(t *testing.T) {
	w := newWriter(DefaultMaxMessage)
	w.skip(bound{time: 1000})
	w.fingerprint(bound{time: 1000, id: [IDSize]byte{0xab}}, [fpSize]byte{})
	w.skip(bound{time: 1500, id: [IDSize]byte{0xab, 0x01}})
	w.idList(bound{time: 1500, id: [IDSize]byte{0xab, 0x01, 0, 0, 7}}, nil)
	w.skip(bound{time: 1<<62 + 1500})
	w.idList(bound{inf: true}, nil)
	want := h("01" +
		" e907 00 00" + // (1000): 1+1000, no prefix; skip
		" 01 01 ab 01 00000000000000000000000000000000" + // (1000, ab): delta 0; fingerprint
		" f503 02 ab01 00" + // (1500, ab 01): 1+500; skip
		" 01 05 ab01000007 02 00" + // (1500, ab 01 00 00 07); id list of none
		" 8180808080808080 40 00 00" + // (2^62 + 1500): 1 + 2^62; skip
		" 00 02 00") // infinity; id list of none
	if !bytes.Equal(w.b, want) {
		t.Fatalf("writer wrote %x, want %x", w.b, want)
	}
	// And it reads back.
	if got, err := reencode(want, false); err != nil || !bytes.Equal(got, want) {
		t.Errorf("reencode(%x) = %x, %v", want, got, err)
	}
}

// reencode reads a message and writes it again: for a valid message the
// same bytes, since there is one encoding per meaning.
func reencode(msg []byte, reply bool) ([]byte, error) {
	if len(msg) == 0 || msg[0] != Version {
		return nil, errors.New("no version")
	}
	r := reader{b: msg[1:], reply: reply}
	w := newWriter(1 << 30)
	for {
		g, ok, err := r.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return w.b, nil
		}
		switch g.mode {
		case modeSkip:
			w.skip(g.upper)
		case modeFingerprint:
			w.fingerprint(g.upper, g.fp)
		case modeIDList:
			w.start(g.upper, modeIDList)
			w.b = binary.AppendUvarint(w.b, uint64(g.count()))
			w.b = append(w.b, g.ids...)
		case modeIDDiff:
			w.start(g.upper, modeIDDiff)
			w.b = binary.AppendUvarint(w.b, uint64(g.m))
			w.b = append(w.b, g.bitmap...)
			w.b = binary.AppendUvarint(w.b, uint64(g.count()))
			w.b = append(w.b, g.ids...)
		}
	}
}

// fp0 is 16 bytes of fingerprint, for messages where its value does not
// matter.
const fp0 = "000102030405060708090a0b0c0d0e0f"

// badQueries are messages that Respond must refuse, whoever sends them.
var badQueries = []struct{ name, hex string }{
	{"empty", ""},
	{"version 0", "00"},
	{"version 2", "02 00 01 " + fp0},
	{"version 0x61 (Negentropy's)", "61 00 01 " + fp0},
	{"no mode", "01 00"},
	{"bound time truncated", "01 85"},
	{"bound time of 11 bytes", "01 8080808080808080808000"},
	{"bound time not shortest", "01 8000 01 " + fp0},
	{"bound time overflows int64", "01 ffffffffffffffffff01 00 01 " + fp0},
	{"bound time one past int64", "01 8180808080808080 80 01 00 00 01 " + fp0},
	{"bound prefix length missing", "01 05"},
	{"bound prefix length not shortest", "01 05 8000 01 " + fp0},
	{"bound prefix of 17 bytes", "01 05 11 " + h11 + "11 01 " + fp0},
	{"bound prefix beyond the end", "01 05 03 aabb"},
	{"bound prefix ends in zero", "01 05 02 aa00 01 " + fp0},
	{"bound prefix all zero", "01 05 01 00 01 " + fp0},
	{"bound at the lowest key", "01 01 00 01 " + fp0 + " 00 01 " + fp0},
	{"bounds equal", "01 05 00 01 " + fp0 + " 01 00 01 " + fp0},
	{"bounds equal, prefixed", "01 05 01 aa 01 " + fp0 + " 01 01 aa 01 " + fp0},
	{"bound below the one before", "01 05 01 aa 01 " + fp0 + " 01 01 a9 01 " + fp0},
	{"range after infinity", "01 00 01 " + fp0 + " 05 00 01 " + fp0},
	{"two infinities", "01 00 01 " + fp0 + " 00 01 " + fp0},
	{"unknown mode 4", "01 00 04"},
	{"unknown mode 255", "01 00 ff"},
	{"fingerprint short", "01 00 01 0001020304"},
	{"fingerprint missing", "01 00 01"},
	{"two skips in a row", "01 05 00 00 06 00 00 00 01 " + fp0},
	{"skip at the end", "01 05 00 01 " + fp0 + " 06 00 00"},
	{"skip alone", "01 00 00"},
	{"id list count missing", "01 00 02"},
	{"id list count not shortest", "01 00 02 8000"},
	{"id list beyond the end", "01 00 02 02 " + h11},
	{"id list huge count", "01 00 02 ffffffffffffffff7f " + h11},
	{"id list partial ID", "01 00 02 01 1111"},
	{"id list duplicate", "01 00 02 02 " + h11 + h11},
	{"id list duplicate, apart", "01 00 02 03 " + h11 + h22 + h11},
	{"id diff from an initiator", "01 00 03 00 00"},
}

// badReplies are replies that a session (after Initiate on the set of the
// package comment's example, A) must refuse.
var badReplies = []struct{ name, hex string }{
	{"id diff bitmap missing", "01 00 03 03"},
	{"id diff bitmap beyond the end", "01 00 03 11 01"},
	{"id diff bitmap padding set", "01 00 03 03 09 00"},
	{"id diff bitmap length not shortest", "01 00 03 8300 01 00"},
	{"id diff count missing", "01 00 03 03 01"},
	{"id diff IDs beyond the end", "01 00 03 03 01 02 " + h44},
	{"id diff over too few", "01 00 03 02 01 00"},
	{"id diff over too many", "01 00 03 04 01 00"},
	{"id diff offers a listed ID", "01 00 03 03 00 01 " + h22},
	{"id diff offers an ID twice", "01 00 03 03 00 02 " + h44 + h44},
	{"id list duplicate", "01 00 02 02 " + h44 + h44},
	{"skip at the end", "01 05 00 01 " + fp0 + " 06 00 00"},
	{"version 2", "02"},
	{"empty", ""},
}

func TestMalformed(t *testing.T) {
	a := NewSet([]Item{{1000, rep(0x11)}, {1001, rep(0x22)}, {1002, rep(0x33)}})
	check := func(t *testing.T, what string, msg []byte, out []byte, err error) {
		t.Helper()
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s(%s) = %x, %v; want ErrMalformed", what, q(msg), out, err)
			return
		}
		if out != nil {
			t.Errorf("%s(%s) = %x with error %v, want no bytes", what, q(msg), out, err)
		}
		if s := err.Error(); s != strings.ToLower(s[:1])+s[1:] || strings.HasSuffix(s, ".") {
			t.Errorf("%s(%s) error %q: want lower case, no trailing period", what, q(msg), s)
		}
	}
	for _, tt := range badQueries {
		t.Run("query/"+tt.name, func(t *testing.T) {
			msg := h(tt.hex)
			out, err := a.Respond(msg, Limits{})
			check(t, "Respond", msg, out, err)
		})
	}
	for _, tt := range badReplies {
		t.Run("reply/"+tt.name, func(t *testing.T) {
			msg := h(tt.hex)
			sess := a.NewSession(Limits{})
			sess.Initiate()
			next, have, need, err := sess.Reconcile(msg)
			check(t, "Reconcile", msg, next, err)
			if have != nil || need != nil {
				t.Errorf("Reconcile(%s) reported have %x need %x with the error", q(msg), have, need)
			}
		})
	}
	t.Run("oversize", func(t *testing.T) {
		// A valid id list of 255 IDs (4085 bytes) is read; the same
		// padded to one byte over the limit is refused unread.
		lim := Limits{MaxMessage: MinMaxMessage}
		msg := h("01 00 02 ff01")
		for i := range 255 {
			id := rep(0x55)
			id[0] = byte(i)
			msg = append(msg, id[:]...)
		}
		if _, err := a.Respond(msg, lim); err != nil {
			t.Fatalf("Respond(%d bytes, max %d) = %v", len(msg), MinMaxMessage, err)
		}
		big := append(msg, make([]byte, MinMaxMessage+1-len(msg))...)
		out, err := a.Respond(big, lim)
		check(t, "Respond", big, out, err)
		sess := a.NewSession(lim)
		sess.Initiate()
		next, _, _, err := sess.Reconcile(big)
		check(t, "Reconcile", big, next, err)
	})
}

// TestLimitsDefaults checks what the zero and small limits mean.
func TestLimitsDefaults(t *testing.T) {
	tests := []struct{ in, want Limits }{
		{Limits{}, DefaultLimits()},
		{Limits{MaxMessage: 1, MaxRounds: -1}, Limits{MaxMessage: MinMaxMessage, MaxRounds: DefaultMaxRounds}},
		{Limits{MaxMessage: 1 << 20, MaxRounds: 3}, Limits{MaxMessage: 1 << 20, MaxRounds: 3}},
	}
	for _, tt := range tests {
		if got := tt.in.withDefaults(); got != tt.want {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	// Every message of a big exchange fits a small limit (exchange checks).
	a, b, _, _ := pair(11, "day", 3000, 2000, 2000)
	exchange(t, a, b, Limits{MaxMessage: 100, MaxRounds: 1000})
}
