package syncwire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestHelloBytes pins the example of the package comment.
func TestHelloBytes(t *testing.T) {
	var buf bytes.Buffer
	body := AppendHello(nil, Hello{Topic: "lanchat/2/room/lobby", Floor: 0x0193a5b2c3d4})
	if err := WriteFrame(&buf, TypeHello, body); err != nil {
		t.Fatal(err)
	}
	want := "1f" + "01" + "14" + hex.EncodeToString([]byte("lanchat/2/room/lobby")) + "00000193a5b2c3d4" + "00"
	if got := hex.EncodeToString(buf.Bytes()); got != want {
		t.Fatalf("hello frame = %s, want %s", got, want)
	}
	typ, b, err := ReadFrame(bufio.NewReader(&buf), MaxFrame)
	if err != nil || typ != TypeHello {
		t.Fatalf("ReadFrame = %d, %v", typ, err)
	}
	h, err := DecodeHello(b)
	if err != nil || h.Topic != "lanchat/2/room/lobby" || h.Floor != 0x0193a5b2c3d4 || h.Proof != nil {
		t.Fatalf("DecodeHello = %+v, %v", h, err)
	}
	p := Hello{Topic: "t", Floor: 1, Proof: []byte{1, 2, 3}}
	if got, err := DecodeHello(AppendHello(nil, p)); err != nil || !bytes.Equal(got.Proof, p.Proof) {
		t.Fatalf("hello with a proof = %+v, %v", got, err)
	}
}

func TestRoundTrips(t *testing.T) {
	w := Welcome{Status: StatusBusy, Floor: -5, Older: 1 << 40}
	if got, err := DecodeWelcome(AppendWelcome(nil, w)); err != nil || got != w {
		t.Fatalf("welcome = %+v, %v, want %+v", got, err, w)
	}
	ids := [][IDSize]byte{{1}, {2, 3}, {0xff}}
	got, err := DecodeFetch(AppendFetch(nil, ids))
	if err != nil || len(got) != 3 || got[1] != ids[1] {
		t.Fatalf("fetch = %v, %v", got, err)
	}
}

func TestMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty hello":       {},
		"hello no floor":    {1, 'a'},
		"hello no proof":    AppendHello(nil, Hello{Topic: "t"})[:10],
		"hello long proof":  AppendHello(nil, Hello{Topic: "t", Proof: make([]byte, MaxProof+1)}),
		"hello long topic":  append([]byte{0x81, 0x02}, make([]byte, 257+8)...),
		"hello trailing":    append(AppendHello(nil, Hello{Topic: "t"}), 0),
		"hello empty topic": AppendHello(nil, Hello{}),
	} {
		if _, err := DecodeHello(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: DecodeHello err = %v", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"short":          {0, 1, 2},
		"unknown status": AppendWelcome(nil, Welcome{Status: 9}),
		"trailing":       append(AppendWelcome(nil, Welcome{}), 1),
	} {
		if _, err := DecodeWelcome(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: DecodeWelcome err = %v", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"empty":    {},
		"ragged":   make([]byte, 17),
		"too many": make([]byte, IDSize*(MaxFetch+1)),
	} {
		if _, err := DecodeFetch(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: DecodeFetch err = %v", name, err)
		}
	}
	for name, s := range map[string]string{
		"zero length": "\x00",
		"oversize":    "\xff\xff\x7f",
		"truncated":   "\x05\x01ab",
		"bad varint":  "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
		"long form":   "\x85\x00\x01abcd", // 5, not in its shortest form
		"cut varint":  "\x85",
	} {
		if _, _, err := ReadFrame(bufio.NewReader(strings.NewReader(s)), MaxFrame); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ReadFrame err = %v", name, err)
		}
	}
	if _, _, err := ReadFrame(bufio.NewReader(strings.NewReader("")), MaxFrame); err != io.EOF {
		t.Errorf("empty stream: ReadFrame err = %v, want io.EOF", err)
	}
	// A stream that fails (a deadline, a reset) is not the peer's
	// fault: not ErrMalformed, so that sync does not cut it off.
	for name, s := range map[string]string{"before the length": "", "in the length": "\x85", "in the body": "\x05\x01ab"} {
		r := io.MultiReader(strings.NewReader(s), failingReader{errStreamTimeout})
		_, _, err := ReadFrame(bufio.NewReader(r), MaxFrame)
		if errors.Is(err, ErrMalformed) || !errors.Is(err, errStreamTimeout) {
			t.Errorf("stream timeout %s: ReadFrame err = %v, want %v and not ErrMalformed", name, err, errStreamTimeout)
		}
	}
	if _, _, err := ReadFrame(bufio.NewReader(strings.NewReader("\x03\x01ab")), 2); !errors.Is(err, ErrMalformed) {
		t.Errorf("frame over the caller's max: err = %v", err)
	}
	if err := WriteFrame(io.Discard, TypeRecord, make([]byte, MaxFrame)); err == nil {
		t.Error("WriteFrame of an oversize frame: no error")
	}
}

// FuzzDecode feeds arbitrary bytes to every decoder: none may panic, and
// what decodes re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(AppendHello(nil, Hello{Topic: "lanchat/2/room/lobby", Floor: 7}))
	f.Add(AppendWelcome(nil, Welcome{Status: StatusOK, Floor: 7, Older: 3}))
	f.Add(AppendFetch(nil, [][IDSize]byte{{1}}))
	f.Add([]byte("\x05\x01abcd"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := DecodeHello(b); err == nil && !bytes.Equal(AppendHello(nil, h), b) {
			t.Fatalf("hello %x re-encodes differently", b)
		}
		if w, err := DecodeWelcome(b); err == nil && (w.Status > StatusBusy || !bytes.Equal(AppendWelcome(nil, w), b)) {
			t.Fatalf("welcome %x: status %d, or re-encodes differently", b, w.Status)
		}
		if ids, err := DecodeFetch(b); err == nil && !bytes.Equal(AppendFetch(nil, ids), b) {
			t.Fatalf("fetch %x re-encodes differently", b)
		}
		r := bufio.NewReader(bytes.NewReader(b))
		var again bytes.Buffer
		for {
			typ, body, err := ReadFrame(r, 64)
			if err != nil {
				break
			} else if len(body) >= 64 {
				t.Fatalf("frame body of %d bytes over max 64", len(body))
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

var errStreamTimeout = errors.New("i/o deadline reached")

// failingReader fails every read with err.
type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }
