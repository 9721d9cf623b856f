package filewire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

var (
	testID   = ID{1, 2, 3, 4, 5, 6, 7, 8}
	testHash = [HashSize]byte{0: 0xaa, 31: 0xbb}
)

// validFrames is one frame of every kind, for round trips and fuzz seeds.
var validFrames = []Frame{
	{Kind: KindOffer, ID: testID, Name: "report.pdf", Size: 1 << 20, Hash: testHash, Nick: "alice"},
	{Kind: KindOffer, ID: testID, Name: "../../etc/passwd", Size: 0, Hash: testHash},
	{Kind: KindGet, ID: testID, Offset: 0x100000},
	{Kind: KindGet, ID: testID},
	{Kind: KindData, Offset: 10, Size: 100},
	{Kind: KindData, Offset: 100, Size: 100},
	{Kind: KindStatus, Code: CodeOK},
	{Kind: KindStatus, Code: CodeChanged, Text: "the file changed since it was offered"},
	{Kind: KindDecline, ID: testID},
}

func TestPinnedBytes(t *testing.T) {
	for _, tt := range []struct {
		f    Frame
		want string
	}{
		{Frame{Kind: KindGet, ID: testID, Offset: 0x100000},
			"02 14 0108 0102030405060708 0608 0000000000100000"},
		{Frame{Kind: KindStatus, Code: CodeOK}, "04 03 0701 00"},
		{Frame{Kind: KindStatus, Code: CodeChanged, Text: "x"}, "04 06 0701 03 0801 78"},
		{Frame{Kind: KindData, Offset: 1, Size: 2},
			"03 14 0308 0000000000000002 0608 0000000000000001"},
		{Frame{Kind: KindDecline, ID: testID}, "05 0a 0108 0102030405060708"},
		{Frame{Kind: KindOffer, ID: testID, Name: "a", Size: 3, Hash: testHash, Nick: "b"},
			"01 3c 0108 0102030405060708 0201 61 0308 0000000000000003 0420 aa" +
				strings.Repeat("00", 30) + "bb 0501 62"},
	} {
		want, err := hex.DecodeString(strings.ReplaceAll(tt.want, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Encode(tt.f)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Encode(%+v) = %x, %v, want %x", tt.f, got, err, want)
		}
		back, err := Decode(want)
		if err != nil || back != tt.f {
			t.Errorf("Decode(%x) = %+v, %v, want %+v", want, back, err, tt.f)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	var stream bytes.Buffer
	for _, f := range validFrames {
		if err := Write(&stream, f); err != nil {
			t.Fatalf("Write(%+v): %v", f, err)
		}
	}
	r := bufio.NewReader(&stream)
	for _, want := range validFrames {
		got, err := Read(r)
		if err != nil || got != want {
			t.Fatalf("Read = %+v, %v, want %+v", got, err, want)
		}
	}
	if _, err := Read(r); err != io.EOF {
		t.Fatalf("Read at the end = %v, want io.EOF", err)
	}
}

func TestInvalid(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    Frame
		want error
	}{
		{"no kind", Frame{}, ErrUnknownKind},
		{"later kind", Frame{Kind: kindLast + 1}, ErrUnknownKind},
		{"offer without name", Frame{Kind: KindOffer, ID: testID, Size: 1, Hash: testHash}, ErrMalformed},
		{"name too long", Frame{Kind: KindOffer, ID: testID, Name: strings.Repeat("n", MaxName+1), Hash: testHash}, ErrMalformed},
		{"name not UTF-8", Frame{Kind: KindOffer, ID: testID, Name: "\xff", Hash: testHash}, ErrMalformed},
		{"negative size", Frame{Kind: KindOffer, ID: testID, Name: "a", Size: -1, Hash: testHash}, ErrMalformed},
		{"negative offset", Frame{Kind: KindGet, ID: testID, Offset: -1}, ErrMalformed},
		{"data offset past size", Frame{Kind: KindData, Offset: 2, Size: 1}, ErrMalformed},
		{"get with a name", Frame{Kind: KindGet, ID: testID, Name: "x"}, ErrMalformed},
		{"status with an id", Frame{Kind: KindStatus, ID: testID}, ErrMalformed},
		{"decline with nick", Frame{Kind: KindDecline, ID: testID, Nick: "bob"}, ErrMalformed},
		{"text too long", Frame{Kind: KindStatus, Code: CodeFailed, Text: strings.Repeat("t", MaxText+1)}, ErrMalformed},
	} {
		if _, err := Encode(tt.f); !errors.Is(err, tt.want) {
			t.Errorf("%s: Encode(%+v) = %v, want %v", tt.name, tt.f, err, tt.want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	get, _ := Encode(Frame{Kind: KindGet, ID: testID, Offset: 5})
	for _, tt := range []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", ErrShort},
		{"kind only", "02", ErrShort},
		{"unknown kind", "09 00", ErrUnknownKind},
		{"zero kind", "00 00", ErrUnknownKind},
		{"truncated body", "02 14 0108 01020304", ErrShort},
		{"trailing bytes", hex.EncodeToString(get) + "00", ErrMalformed},
		{"oversize", "02 8120", ErrOversize},
		{"bad length varint", "02 ff", ErrMalformed},
		{"missing offset", "02 0a 0108 0102030405060708", ErrMalformed},
		{"short id", "02 13 0107 01020304050607 0608 0000000000000000", ErrMalformed},
		{"fields out of order", "02 14 0608 0000000000000000 0108 0102030405060708", ErrMalformed},
		{"repeated field", "04 06 0701 00 0701 00", ErrMalformed},
		{"field of another kind", "04 06 0701 00 0201 61", ErrMalformed},
		{"empty text", "04 05 0701 00 0800", ErrMalformed},
		{"field longer than body", "04 03 0705 00", ErrShort},
		{"size of 2^63", "03 14 0308 8000000000000000 0608 0000000000000000", ErrMalformed},
	} {
		b, err := hex.DecodeString(strings.ReplaceAll(tt.hex, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		if f, err := Decode(b); !errors.Is(err, tt.want) {
			t.Errorf("%s: Decode(%x) = %+v, %v, want %v", tt.name, b, f, err, tt.want)
		}
	}
}

func TestUnknownFieldSkipped(t *testing.T) {
	// A status with an extension field (tag 200) a later version may add.
	b, _ := hex.DecodeString("0407070100c8020102")
	f, err := Decode(b)
	if err != nil || f != (Frame{Kind: KindStatus, Code: CodeOK}) {
		t.Fatalf("Decode(%x) = %+v, %v, want an ok status", b, f, err)
	}
}

func TestReadLimits(t *testing.T) {
	// A length over MaxBody fails before the body is read.
	r := bufio.NewReader(io.MultiReader(bytes.NewReader([]byte{byte(KindData), 0xff, 0xff, 0x03}), neverReader{}))
	if _, err := Read(r); !errors.Is(err, ErrOversize) {
		t.Fatalf("Read of a huge length = %v, want ErrOversize", err)
	}
	for _, in := range []string{"02", "0214", "021401080102"} {
		b, _ := hex.DecodeString(in)
		if _, err := Read(bufio.NewReader(bytes.NewReader(b))); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("Read(%s) = %v, want io.ErrUnexpectedEOF", in, err)
		}
	}
}

// neverReader fails the test's Read if it is read: it stands for a body
// that must not be waited for.
type neverReader struct{}

func (neverReader) Read([]byte) (int, error) { panic("read past the length") }

func TestParseID(t *testing.T) {
	id, err := ParseID(testID.String())
	if err != nil || id != testID || testID.String() != "0102030405060708" {
		t.Fatalf("ParseID(%q) = %v, %v", testID.String(), id, err)
	}
	for _, bad := range []string{"", "0102", "010203040506070g", "01020304050607080"} {
		if _, err := ParseID(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseID(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

// FuzzDecode: Decode never panics; what it accepts encodes back to the
// same frame, and (without unknown fields) to the same bytes; Read agrees
// with Decode.
func FuzzDecode(f *testing.F) {
	for _, fr := range validFrames {
		b, err := Encode(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ext, _ := hex.DecodeString("0407070100c8020102")
	f.Add(ext)
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Decode(b)
		viaRead, rerr := Read(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			if rerr == nil && viaRead.Kind != 0 {
				// Read takes one frame and leaves what follows; Decode
				// wants the whole input to be one.
				if enc, _ := Encode(viaRead); len(enc) >= len(b) {
					t.Fatalf("Read(%x) = %+v but Decode failed: %v", b, viaRead, err)
				}
			}
			return
		}
		if rerr != nil || viaRead != fr {
			t.Fatalf("Read(%x) = %+v, %v; Decode = %+v", b, viaRead, rerr, fr)
		}
		enc, err := Encode(fr)
		if err != nil {
			t.Fatalf("Encode(Decode(%x) = %+v): %v", b, fr, err)
		}
		again, err := Decode(enc)
		if err != nil || again != fr {
			t.Fatalf("Decode(Encode(%+v)) = %+v, %v", fr, again, err)
		}
		if len(enc) > len(b) {
			t.Fatalf("Encode(%+v) = %x, longer than its source %x", fr, enc, b)
		}
	})
}
