// Package invite is the codec of lanchat's invitation: one line that
// holds what a newcomer on another subnet needs to join, short enough to
// paste or read out (package node makes and reads them). It imports
// nothing of libp2p.
//
// # The line
//
//	lanchat:<payload>          an invitation
//	lanchat-secret:<payload>   one that holds the network key: a secret
//
// The payload is base32 (RFC 4648's alphabet, lower case, no padding).
// Read back, case is ignored, and so are spaces and dashes in the
// payload (someone reading it out in groups). The payload's bytes
// (integers big-endian):
//
//	version  u8, 1
//	flags    u8: bit 0 the network has a key; bit 1 the key is here
//	         (bit 0 set too); the other bits 0
//	node     32 bytes: the inviting node's Ed25519 public key, which is
//	         its peer ID
//	count    u8, 1..MaxAddrs, then count TCP addresses where it
//	         listens: family (u8: 4 or 6), the IP (4 or 16 bytes), the
//	         port (u16, not 0)
//	check    4 bytes, when the network has a key that is not here: the
//	         first 4 bytes of its fingerprint, so the newcomer is told a
//	         wrong key before it dials
//	key      32 bytes, when here: the network key
//	sum      4 bytes: the first 4 bytes of SHA-256 of all the above, so a
//	         line mistyped or cut short is told apart from a bad one
//
// With one IPv4 address a line is 88 characters long on a network with a
// key (82 on an open one), 140 with the key in it.
// Versions, flags and families are append-only: a reader refuses what it
// does not know ([ErrVersion], [ErrMalformed]).
package invite

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Prefixes of the line.
const (
	Prefix       = "lanchat:"
	SecretPrefix = "lanchat-secret:"
)

// Wire values. ONLY APPEND TO THESE LISTS.
const (
	version1   = 1
	flagKeyed  = 1 << 0 // the network has a key
	flagKey    = 1 << 1 // the key is in the line
	knownFlags = flagKeyed | flagKey
	family4    = 4
	family6    = 6
)

// Sizes.
const (
	// MaxAddrs is the most addresses in an invitation.
	MaxAddrs = 4
	// KeySize is the size of the node key and of the network key.
	KeySize = 32
	// CheckSize is the size of the key check.
	CheckSize = 4
	sumSize   = 4
	// maxLine bounds what is decoded: the longest line with room for
	// spaces and dashes.
	maxLine = 1024
)

// Errors of Parse, checked with [errors.Is]. Their messages are
// sentences for a user.
var (
	ErrNotInvite = errors.New("not a lanchat invitation (one starts with lanchat: or lanchat-secret:)")
	ErrDamaged   = errors.New("the invitation is mistyped or cut short: copy the whole line again")
	ErrVersion   = errors.New("the invitation was made by a newer lanchat: upgrade this one")
	ErrMalformed = errors.New("the invitation is not valid (made by something other than lanchat?)")
)

// Invite is what an invitation holds.
type Invite struct {
	// Node is the inviting node's Ed25519 public key.
	Node [KeySize]byte
	// Addrs are where the node listens, best first: 1 to MaxAddrs TCP
	// addresses, without IPv6 zones.
	Addrs []netip.AddrPort
	// Keyed reports whether the network has a key.
	Keyed bool
	// Check is the start of the network key's fingerprint, when Keyed
	// and Key is nil.
	Check [CheckSize]byte
	// Key is the network key (KeySize bytes) if the invitation holds it,
	// else nil. Keyed is then set.
	Key []byte
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// String returns the line, or "" if inv cannot be sent (see [Invite.Line]).
func (inv Invite) String() string {
	s, _ := inv.Line()
	return s
}

// Line returns the invitation's line: with [SecretPrefix] when it holds
// the key. It fails when inv breaks the rules of its fields.
func (inv Invite) Line() (string, error) {
	switch {
	case len(inv.Addrs) == 0 || len(inv.Addrs) > MaxAddrs:
		return "", fmt.Errorf("invite: %d addresses, want 1 to %d", len(inv.Addrs), MaxAddrs)
	case inv.Key != nil && (len(inv.Key) != KeySize || !inv.Keyed):
		return "", fmt.Errorf("invite: a key of %d bytes (keyed %v), want %d and keyed", len(inv.Key), inv.Keyed, KeySize)
	}
	b := []byte{version1, 0}
	if inv.Keyed {
		b[1] |= flagKeyed
	}
	if inv.Key != nil {
		b[1] |= flagKey
	}
	b = append(b, inv.Node[:]...)
	b = append(b, byte(len(inv.Addrs)))
	for _, ap := range inv.Addrs {
		ip := ap.Addr()
		switch {
		case !ap.IsValid() || ap.Port() == 0 || ip.Zone() != "":
			return "", fmt.Errorf("invite: address %v cannot be sent", ap)
		case ip.Is4() || ip.Is4In6():
			a := ip.Unmap().As4()
			b = append(append(b, family4), a[:]...)
		default:
			a := ip.As16()
			b = append(append(b, family6), a[:]...)
		}
		b = binary.BigEndian.AppendUint16(b, ap.Port())
	}
	prefix := Prefix
	switch {
	case inv.Key != nil:
		b = append(b, inv.Key...)
		prefix = SecretPrefix
	case inv.Keyed:
		b = append(b, inv.Check[:]...)
	}
	sum := sha256.Sum256(b)
	b = append(b, sum[:sumSize]...)
	return prefix + strings.ToLower(b32.EncodeToString(b)), nil
}

// Parse reads an invitation line. Its errors wrap one of ErrNotInvite,
// ErrDamaged, ErrVersion and ErrMalformed.
func Parse(line string) (Invite, error) {
	line = strings.TrimSpace(line)
	if len(line) > maxLine {
		return Invite{}, ErrDamaged
	}
	lower := strings.ToLower(line)
	var payload string
	secret := false
	switch {
	case strings.HasPrefix(lower, SecretPrefix):
		payload, secret = lower[len(SecretPrefix):], true
	case strings.HasPrefix(lower, Prefix):
		payload = lower[len(Prefix):]
	default:
		return Invite{}, ErrNotInvite
	}
	payload = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, payload)
	b, err := b32.DecodeString(strings.ToUpper(payload))
	if err != nil || len(b) < 2+sumSize || strings.ToLower(b32.EncodeToString(b)) != payload {
		// The last check: unused bits of the last character set, which
		// the decoder ignores (one line, one invitation).
		return Invite{}, ErrDamaged
	}
	body, sum := b[:len(b)-sumSize], b[len(b)-sumSize:]
	if want := sha256.Sum256(body); string(want[:sumSize]) != string(sum) {
		if body[0] != version1 {
			// The sum of another version may be made otherwise.
			return Invite{}, ErrVersion
		}
		return Invite{}, ErrDamaged
	}
	if body[0] != version1 {
		return Invite{}, ErrVersion
	}
	bad := func(what string) (Invite, error) { return Invite{}, fmt.Errorf("%w: %s", ErrMalformed, what) }
	flags := body[1]
	if flags&^knownFlags != 0 || flags&flagKey != 0 && flags&flagKeyed == 0 {
		return bad("flags")
	}
	if secret != (flags&flagKey != 0) {
		return bad("its prefix does not match what it holds")
	}
	body = body[2:]
	var inv Invite
	if len(body) < KeySize+1 {
		return bad("cut short")
	}
	copy(inv.Node[:], body)
	n := int(body[KeySize])
	body = body[KeySize+1:]
	if n == 0 || n > MaxAddrs {
		return bad("address count")
	}
	for range n {
		if len(body) < 1 {
			return bad("cut short")
		}
		size := 0
		switch body[0] {
		case family4:
			size = 4
		case family6:
			size = 16
		default:
			return bad("address family")
		}
		if len(body) < 1+size+2 {
			return bad("cut short")
		}
		var ip netip.Addr
		if size == 4 {
			ip = netip.AddrFrom4([4]byte(body[1:5]))
		} else if ip = netip.AddrFrom16([16]byte(body[1:17])); ip.Is4In6() {
			return bad("IPv4 address as IPv6")
		}
		port := binary.BigEndian.Uint16(body[1+size:])
		if port == 0 {
			return bad("port 0")
		}
		inv.Addrs = append(inv.Addrs, netip.AddrPortFrom(ip, port))
		body = body[1+size+2:]
	}
	inv.Keyed = flags&flagKeyed != 0
	switch {
	case flags&flagKey != 0:
		if len(body) != KeySize {
			return bad("key")
		}
		inv.Key = append([]byte(nil), body...)
	case inv.Keyed:
		if len(body) != CheckSize {
			return bad("key check")
		}
		copy(inv.Check[:], body)
	case len(body) != 0:
		return bad("trailing bytes")
	}
	return inv, nil
}
