package peerwire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// TestPeersBytes pins the example of the package comment.
func TestPeersBytes(t *testing.T) {
	got, err := AppendPeers(nil, []Peer{{ID: "\x00\x02ab", Addrs: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.5:4001")}}})
	if err != nil {
		t.Fatal(err)
	}
	const want = "0f" + "01" + "01" + "0400026162" + "01" + "040a000005" + "0fa1"
	if hex.EncodeToString(got) != want {
		t.Errorf("AppendPeers = %x, want %s", got, want)
	}
}

func TestPeersRoundTrip(t *testing.T) {
	full := make([]Peer, MaxPeers)
	for i := range full {
		id := strings.Repeat(string(rune('a'+i%26)), MaxID)
		p := Peer{ID: id}
		for j := range MaxAddrs {
			p.Addrs = append(p.Addrs, netip.AddrPortFrom(netip.MustParseAddr("fd00::1"), uint16(1000+j)))
		}
		full[i] = p
	}
	for _, tc := range []struct {
		name  string
		peers []Peer
	}{
		{"none", []Peer{}},
		{"one v4", []Peer{{ID: "x", Addrs: []netip.AddrPort{netip.MustParseAddrPort("192.168.1.2:1")}}}},
		{"v4 and v6", []Peer{{ID: "xy", Addrs: []netip.AddrPort{
			netip.MustParseAddrPort("10.1.2.3:65535"), netip.MustParseAddrPort("[fd00:99:1::2]:4001")}}}},
		{"full", full},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := AppendPeers(nil, tc.peers)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > MaxFrame+3 {
				t.Errorf("frame of %d bytes over MaxFrame %d", len(b), MaxFrame)
			}
			typ, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)))
			if err != nil || typ != TypePeers {
				t.Fatalf("ReadFrame = %d, %v", typ, err)
			}
			got, err := DecodePeers(body)
			if err != nil {
				t.Fatalf("DecodePeers = %v", err)
			}
			if !reflect.DeepEqual(got, tc.peers) {
				t.Errorf("DecodePeers = %v, want %v", got, tc.peers)
			}
		})
	}
}

// TestPeersMapped: an IPv4-mapped IPv6 address goes as IPv4, so it
// decodes as plain IPv4.
func TestPeersMapped(t *testing.T) {
	b, err := AppendPeers(nil, []Peer{{ID: "x", Addrs: []netip.AddrPort{netip.MustParseAddrPort("[::ffff:10.0.0.1]:5")}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodePeers(b[2:])
	if err != nil || got[0].Addrs[0] != netip.MustParseAddrPort("10.0.0.1:5") {
		t.Errorf("DecodePeers = %v, %v, want 10.0.0.1:5", got, err)
	}
}

func TestAppendPeersRefuses(t *testing.T) {
	ap := netip.MustParseAddrPort("10.0.0.1:5")
	nine := make([]netip.AddrPort, MaxAddrs+1)
	for i := range nine {
		nine[i] = ap
	}
	for _, tc := range []struct {
		name  string
		peers []Peer
	}{
		{"too many peers", make([]Peer, MaxPeers+1)},
		{"empty id", []Peer{{Addrs: []netip.AddrPort{ap}}}},
		{"long id", []Peer{{ID: strings.Repeat("x", MaxID+1), Addrs: []netip.AddrPort{ap}}}},
		{"no address", []Peer{{ID: "x"}}},
		{"too many addresses", []Peer{{ID: "x", Addrs: nine}}},
		{"port 0", []Peer{{ID: "x", Addrs: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:0")}}}},
		{"zone", []Peer{{ID: "x", Addrs: []netip.AddrPort{netip.MustParseAddrPort("[fe80::1%eth0]:5")}}}},
		{"invalid", []Peer{{ID: "x", Addrs: []netip.AddrPort{{}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := AppendPeers(nil, tc.peers); err == nil {
				t.Errorf("AppendPeers = %x, want an error", b)
			}
		})
	}
}

func TestDecodePeersRefuses(t *testing.T) {
	for _, tc := range []struct{ name, hex string }{
		{"empty", ""},
		{"count not shortest", "8000"},
		{"count over max", "8102"},
		{"count but no entry", "01"},
		{"id empty", "0100"},
		{"id over max", "0141" + strings.Repeat("61", 65) + "01040a0000050fa1"},
		{"id cut", "010461"},
		{"no addresses", "0101610000"},
		{"nine addresses", "01016109"},
		{"family 5", "0101610105" + "0a0000050fa1"},
		{"v4 cut", "01016101040a00"},
		{"v6 cut", "010161010600000000"},
		{"mapped v6", "010161010600000000000000000000ffff0a0000010fa1"},
		{"port 0", "01016101040a0000050000"},
		{"trailing", "01016101040a0000050fa1ff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tc.hex)
			if got, err := DecodePeers(b); !errors.Is(err, ErrMalformed) {
				t.Errorf("DecodePeers(%s) = %v, %v, want ErrMalformed", tc.hex, got, err)
			}
		})
	}
}

func TestReadFrameRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, hex string
		eof       bool
	}{
		{"nothing", "", true},
		{"zero length", "00", false},
		{"over max", "ffff7f", false},
		{"length not shortest", "8100", false},
		{"cut", "0501", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tc.hex)
			_, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)))
			if tc.eof != errors.Is(err, io.EOF) || !tc.eof && !errors.Is(err, ErrMalformed) {
				t.Errorf("ReadFrame(%s) = %v, want EOF %v or else ErrMalformed", tc.hex, err, tc.eof)
			}
		})
	}
}

// FuzzDecode: decoding never panics, and what decodes re-encodes to the
// same bytes (a list has one encoding).
func FuzzDecode(f *testing.F) {
	seed, _ := AppendPeers(nil, []Peer{{ID: "\x00\x02ab", Addrs: []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.5:4001"), netip.MustParseAddrPort("[fd00::5]:4001")}}})
	f.Add(seed)
	f.Add([]byte("\x02\x01\x00"))
	f.Add([]byte("\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		if len(body)+1 > MaxFrame {
			t.Fatalf("frame of %d bytes over MaxFrame", len(body)+1)
		}
		peers, err := DecodePeers(body)
		if err != nil || typ != TypePeers {
			return
		}
		again, err := AppendPeers(nil, peers)
		if err != nil {
			t.Fatalf("decoded %x, cannot encode it again: %v", b, err)
		}
		if !bytes.HasPrefix(b, again) {
			t.Fatalf("frame %x re-encodes as %x", b, again)
		}
	})
}
