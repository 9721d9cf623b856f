// Package peerwire is the frame codec of lanchat's peer exchange stream,
// /lanchat/peers/1 (package node runs the protocol: who is told what,
// when, and what is done with it). It imports nothing of libp2p.
//
// # Frames
//
// A stream carries one frame, from the peer that opens it to the peer
// that handles it, then the opener closes it: an unsigned varint length
// (encoding/binary's Uvarint), then that many bytes, the first of which
// is the frame's type. A frame is at most [MaxFrame] bytes. Every varint
// must be in its shortest form and every address in one form (IPv4 as
// 4 bytes, never mapped into IPv6): a list has one encoding.
//
//	+----------+------+---------+
//	| length   | type | body    |
//	| uvarint  | u8   | ...     |
//	+----------+------+---------+
//
// The types (ONLY APPEND TO THIS LIST) and their bodies (integers
// big-endian):
//
//	1 peers   count (uvarint, 0..MaxPeers), then count entries:
//	          id     uvarint length (1..MaxID), the peer ID's bytes
//	                 (its binary multihash)
//	          n      u8, 1..MaxAddrs
//	          n addresses of TCP listeners: family (u8: 4 or 6),
//	                 the IP (4 or 16 bytes), the port (u16, not 0)
//
// Example, a peers frame of one peer ID "\x00\x02ab" (a made-up 4-byte
// ID) at 10.0.0.5:4001:
//
//	0f                 length 15
//	01                 peers
//	01                 count 1
//	04 00 02 61 62     id (4 bytes)
//	01                 1 address
//	04 0a 00 00 05     IPv4 10.0.0.5
//	0f a1              port 4001
package peerwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"lanchat/node/varint"
)

// Frame types. ONLY APPEND TO THIS LIST: the values are on the wire.
const (
	TypePeers = 1
)

// Address families. ONLY APPEND TO THIS LIST.
const (
	family4 = 4
	family6 = 6
)

// Limits.
const (
	// MaxPeers is the most peers in one frame: a room of a few hundred
	// members is told in one or two frames.
	MaxPeers = 256
	// MaxAddrs is the most addresses of one peer.
	MaxAddrs = 8
	// MaxID is the longest peer ID (an Ed25519 one is 38 bytes).
	MaxID = 64
	// MaxFrame is the largest frame, type byte included: MaxPeers
	// entries of the longest ID with MaxAddrs IPv6 addresses each fit.
	MaxFrame = 1 + binary.MaxVarintLen16 + MaxPeers*(1+MaxID+1+MaxAddrs*(1+16+2))
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("peerwire: malformed frame")

// Peer is one entry of a peers frame: a peer ID (its bytes, as libp2p's
// peer.ID holds them) and the TCP addresses it listens on.
type Peer struct {
	ID    string
	Addrs []netip.AddrPort
}

// AppendPeers appends the frame (length, type and body) that lists peers.
// It fails when peers break a limit (more than MaxPeers, an ID of 0 or
// more than MaxID bytes, 0 or more than MaxAddrs addresses) or an address
// cannot be sent (invalid, port 0, an IPv6 zone).
func AppendPeers(b []byte, peers []Peer) ([]byte, error) {
	if len(peers) > MaxPeers {
		return b, fmt.Errorf("peerwire: %d peers, max %d", len(peers), MaxPeers)
	}
	body := []byte{TypePeers}
	body = binary.AppendUvarint(body, uint64(len(peers)))
	for _, p := range peers {
		if len(p.ID) == 0 || len(p.ID) > MaxID {
			return b, fmt.Errorf("peerwire: peer ID of %d bytes, want 1 to %d", len(p.ID), MaxID)
		}
		if len(p.Addrs) == 0 || len(p.Addrs) > MaxAddrs {
			return b, fmt.Errorf("peerwire: %d addresses, want 1 to %d", len(p.Addrs), MaxAddrs)
		}
		body = binary.AppendUvarint(body, uint64(len(p.ID)))
		body = append(body, p.ID...)
		body = append(body, byte(len(p.Addrs)))
		for _, ap := range p.Addrs {
			ip := ap.Addr()
			switch {
			case !ap.IsValid() || ap.Port() == 0 || ip.Zone() != "":
				return b, fmt.Errorf("peerwire: address %v cannot be sent", ap)
			case ip.Is4() || ip.Is4In6():
				a := ip.Unmap().As4()
				body = append(body, family4)
				body = append(body, a[:]...)
			default:
				a := ip.As16()
				body = append(body, family6)
				body = append(body, a[:]...)
			}
			body = binary.BigEndian.AppendUint16(body, ap.Port())
		}
	}
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...), nil
}

// ReadFrame reads one frame of at most MaxFrame bytes from r and returns
// its type and body. io.EOF means r ended before the frame began.
func ReadFrame(r *bufio.Reader) (typ byte, body []byte, err error) {
	typ, body, err = varint.ReadFrame(r, MaxFrame)
	if err != nil && err != io.EOF {
		return 0, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return typ, body, err
}

// DecodePeers parses the body of a peers frame.
func DecodePeers(b []byte) ([]Peer, error) {
	bad := func(what string, args ...any) ([]Peer, error) {
		return nil, fmt.Errorf("%w: peers: "+what, append([]any{ErrMalformed}, args...)...)
	}
	count, k := varint.Uvarint(b)
	if k <= 0 {
		return bad("count")
	}
	if count > MaxPeers {
		return bad("%d peers, max %d", count, MaxPeers)
	}
	b = b[k:]
	peers := make([]Peer, 0, count)
	for i := range count {
		n, k := varint.Uvarint(b)
		if k <= 0 || n == 0 || n > MaxID || uint64(len(b)-k) < n+1 {
			return bad("entry %d: id", i)
		}
		p := Peer{ID: string(b[k : k+int(n)])}
		b = b[k+int(n):]
		na := int(b[0])
		b = b[1:]
		if na == 0 || na > MaxAddrs {
			return bad("entry %d: %d addresses, want 1 to %d", i, na, MaxAddrs)
		}
		p.Addrs = make([]netip.AddrPort, 0, na)
		for range na {
			if len(b) < 1 {
				return bad("entry %d: cut short", i)
			}
			var ip netip.Addr
			size := 0
			switch b[0] {
			case family4:
				size = 4
			case family6:
				size = 16
			default:
				return bad("entry %d: address family %d", i, b[0])
			}
			if len(b) < 1+size+2 {
				return bad("entry %d: cut short", i)
			}
			if size == 4 {
				ip = netip.AddrFrom4([4]byte(b[1:5]))
			} else if ip = netip.AddrFrom16([16]byte(b[1:17])); ip.Is4In6() {
				return bad("entry %d: IPv4 address sent as IPv6", i)
			}
			port := binary.BigEndian.Uint16(b[1+size:])
			if port == 0 {
				return bad("entry %d: port 0", i)
			}
			p.Addrs = append(p.Addrs, netip.AddrPortFrom(ip, port))
			b = b[1+size+2:]
		}
		peers = append(peers, p)
	}
	if len(b) != 0 {
		return bad("%d bytes after the last entry", len(b))
	}
	return peers, nil
}
