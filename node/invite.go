package node

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"lanchat/node/invite"
)

// Invitations.
//
// An invitation is one line (package [lanchat/node/invite]) that holds
// this node's peer ID and one or two addresses where it listens, so that
// a newcomer on another subnet, where mDNS cannot see it, can dial it:
// then peer exchange brings the newcomer the rest of the room. On a
// network with a key it holds a 4-byte check of the key's fingerprint
// (public anyway: discovery announces the whole fingerprint), so a wrong
// key is told before any dial; asked for, it holds the network key
// itself, and is then marked secret ("lanchat-secret:").
//
// Its addresses, best first, at most inviteMaxAddrs (each IPv4 one
// costs 11 characters, an IPv6 one 30): those of the default routes (the
// interface a newcomer's packets most likely come in by), then the other
// IPv4 ones; IPv6 ones only on a machine without IPv4 (once connected,
// peer exchange tells the newcomer every address); never unspecified,
// multicast or link-local ones (a link-local address means nothing on
// another link), and loopback ones only when there are no others.

// Invitation is a decoded invitation line (see [ParseInvitation]).
type Invitation struct {
	// PeerID is the inviting node's peer ID.
	PeerID string
	// Peers are its addresses as multiaddrs ending in /p2p/<PeerID>, best
	// first, for [Config.StaticPeers].
	Peers []string
	// Private reports whether the network has a key.
	Private bool
	// Key is the network key when the line holds it (a secret line),
	// else nil.
	Key []byte

	check [invite.CheckSize]byte
}

// ParseInvitation reads an invitation line. Its errors are one sentence
// for the user: the line is not an invitation, is mistyped or cut short,
// comes from a newer lanchat, or is not valid.
func ParseInvitation(line string) (Invitation, error) {
	inv, err := invite.Parse(line)
	if err != nil {
		return Invitation{}, err
	}
	pub, err := crypto.UnmarshalEd25519PublicKey(inv.Node[:])
	if err != nil {
		return Invitation{}, fmt.Errorf("%w: node key: %w", invite.ErrMalformed, err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		return Invitation{}, fmt.Errorf("%w: node key: %w", invite.ErrMalformed, err)
	}
	out := Invitation{PeerID: id.String(), Private: inv.Keyed, Key: inv.Key, check: inv.Check}
	for _, ap := range inv.Addrs {
		if a, ok := addrPortMultiaddr(ap); ok {
			out.Peers = append(out.Peers, a.String()+"/p2p/"+out.PeerID)
		}
	}
	if len(out.Peers) == 0 {
		return Invitation{}, fmt.Errorf("%w: no address to dial", invite.ErrMalformed)
	}
	return out, nil
}

// Fits reports whether psk is the network key the invitation is for: nil
// for an open network; for a private one the key it holds, or one whose
// fingerprint it checks.
func (inv Invitation) Fits(psk []byte) bool {
	switch {
	case !inv.Private:
		return len(psk) == 0
	case inv.Key != nil:
		return bytes.Equal(psk, inv.Key)
	}
	return len(psk) != 0 && keyCheck(psk) == inv.check
}

// keyCheck is the start of psk's fingerprint, as invitations hold it.
func keyCheck(psk []byte) (c [invite.CheckSize]byte) {
	b, _ := hex.DecodeString(Fingerprint(psk)[:2*invite.CheckSize])
	copy(c[:], b)
	return c
}

// Invite returns this node's invitation line: its peer ID and the
// addresses it listens on now. With withKey, on a private network, the
// line holds the network key too and starts "lanchat-secret:": whoever has
// it can join and read every open room. On an open network there is no
// key to hold.
func (h *Host) Invite(withKey bool) (string, error) {
	var aps []netip.AddrPort
	for _, a := range h.host.Addrs() {
		if ap, ok := multiaddrAddrPort(a); ok {
			aps = append(aps, ap)
		}
	}
	return makeInvite(h.id.key.GetPublic(), aps, h.cfg.PSK, withKey)
}

// InviteLine returns the invitation of the node that cfg configures,
// without starting it (for "lanchat invite"): the identity of
// cfg.IdentityPath (created if missing, as Start would), and every
// address of this machine's interfaces at the fixed ports of
// cfg.ListenAddrs. A listen address of port 0 takes a new port every run,
// which no invitation can hold: with no fixed port it fails with a
// [ConfigError] of field ListenAddrs.
func InviteLine(cfg Config, withKey bool) (string, error) {
	if err := checkPSK(cfg.PSK); err != nil {
		return "", configError("PSK", err)
	}
	if len(cfg.ListenAddrs) == 0 {
		cfg.ListenAddrs = DefaultListenAddrs()
	}
	var aps []netip.AddrPort
	for _, s := range cfg.ListenAddrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return "", &ConfigError{Field: "ListenAddrs",
				Reason: fmt.Sprintf("listen address %q: want a multiaddr like /ip4/0.0.0.0/tcp/4001", s),
				Err:    fmt.Errorf("%w: listen address %q: %w", ErrConfig, s, err)}
		}
		ap, ok := multiaddrAddrPort(a)
		if !ok || ap.Port() == 0 {
			continue
		}
		if !ap.Addr().IsUnspecified() {
			aps = append(aps, ap)
			continue
		}
		for _, ip := range interfaceAddrs() {
			if ip.Is4() == ap.Addr().Is4() {
				aps = append(aps, netip.AddrPortFrom(ip, ap.Port()))
			}
		}
	}
	if len(aps) == 0 {
		return "", &ConfigError{Field: "ListenAddrs",
			Reason: "an invitation needs the fixed port lanchat listens on, such as /ip4/0.0.0.0/tcp/4001, given to lanchat too " +
				"(by default it takes a new port every run); or type /invite in the running lanchat",
			Err: fmt.Errorf("%w: no fixed listen port", ErrConfig)}
	}
	if cfg.IdentityPath == "" {
		return "", &ConfigError{Field: "IdentityPath",
			Reason: "an invitation needs the identity file of the node (a temporary identity changes every run)",
			Err:    fmt.Errorf("%w: no identity file", ErrConfig)}
	}
	id, err := loadIdentity(cfg.IdentityPath)
	if err != nil {
		return "", configError("IdentityPath", err)
	}
	defer id.release()
	key := id.key
	if id.busy {
		// The running lanchat holds it: read it without the lock.
		if key, err = readOrCreateKey(cfg.IdentityPath); err != nil {
			return "", configError("IdentityPath", err)
		}
	}
	return makeInvite(key.GetPublic(), aps, cfg.PSK, withKey)
}

// makeInvite returns the invitation line of the node of key pub, at the
// best of aps, on the network of psk (nil: open), with the key if withKey.
func makeInvite(pub crypto.PubKey, aps []netip.AddrPort, psk []byte, withKey bool) (string, error) {
	raw, err := pub.Raw()
	if err != nil || pub.Type() != crypto.Ed25519 || len(raw) != invite.KeySize {
		return "", errors.New("invite: the identity is not an Ed25519 key")
	}
	inv := invite.Invite{Addrs: inviteAddrs(aps, routeSources()), Keyed: len(psk) != 0}
	copy(inv.Node[:], raw)
	if len(inv.Addrs) == 0 {
		return "", errors.New("no address to invite to: is this machine on a network?")
	}
	switch {
	case inv.Keyed && withKey:
		inv.Key = slices.Clone(psk)
	case inv.Keyed:
		inv.Check = keyCheck(psk)
	}
	return inv.Line()
}

// inviteMaxAddrs is the most addresses this node puts in an invitation
// (the line holds invite.MaxAddrs).
const inviteMaxAddrs = 2

// inviteAddrs returns the addresses of aps fit for an invitation, at most
// inviteMaxAddrs, best first: those of primary (the default routes'
// sources), then IPv4, then IPv6 if there is no IPv4 one; loopback ones
// only if no other is left.
func inviteAddrs(aps []netip.AddrPort, primary []netip.Addr) []netip.AddrPort {
	rank := func(ap netip.AddrPort) int {
		ip := ap.Addr()
		switch {
		case ip.IsLoopback():
			return 3
		case slices.Contains(primary, ip):
			return 0
		case ip.Is4():
			return 1
		}
		return 2
	}
	var out []netip.AddrPort
	for _, ap := range aps {
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if dialable(ap, true) && !slices.Contains(out, ap) {
			out = append(out, ap)
		}
	}
	slices.SortStableFunc(out, func(a, b netip.AddrPort) int { return cmp.Compare(rank(a), rank(b)) })
	if len(out) > 0 && !out[0].Addr().IsLoopback() {
		out = slices.DeleteFunc(out, func(ap netip.AddrPort) bool { return ap.Addr().IsLoopback() })
	}
	if slices.ContainsFunc(out, func(ap netip.AddrPort) bool { return ap.Addr().Is4() }) {
		out = slices.DeleteFunc(out, func(ap netip.AddrPort) bool { return !ap.Addr().Is4() })
	}
	return out[:min(len(out), inviteMaxAddrs)]
}

// routeSources returns the source addresses of this machine's default
// routes, IPv4 and IPv6, where there are such routes: what the kernel
// picks to reach a documentation address (connecting a UDP socket sends
// nothing).
func routeSources() []netip.Addr {
	var out []netip.Addr
	for _, probe := range []string{"192.0.2.1:9", "[2001:db8::1]:9"} {
		c, err := net.Dial("udp", probe)
		if err != nil {
			continue
		}
		if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
			out = append(out, ua.AddrPort().Addr().Unmap())
		}
		c.Close()
	}
	return out
}

// interfaceAddrs returns the addresses of the interfaces that are up.
func interfaceAddrs() []netip.Addr {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					out = append(out, ip.Unmap())
				}
			}
		}
	}
	return out
}
