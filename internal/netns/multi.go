package netns

import (
	"fmt"
	"net/netip"
	"testing"
)

// More shapes of LAN, for discovery on several interfaces:
//
//   - [LAN.Attach] plugs a host of another LAN (or of this one) into this
//     LAN's bridge through a second interface: a machine on two LANs, or
//     one that gets its second network later (call it after the start).
//   - [NewIPv6Only] is a LAN whose host interfaces have no IPv4 address.
//   - [Host.Unplug] pulls the host's cable out: the bridge-side end of its
//     veth goes down, so the host's interface loses its carrier
//     (NO-CARRIER, not RUNNING) while staying up with its addresses —
//     unlike [Host.CutLink], which the host cannot notice. [Host.Replug]
//     plugs it back in.

// Attachment is a second interface of a host, plugged into another LAN's
// bridge by [LAN.Attach].
type Attachment struct {
	Host  *Host
	Iface string     // its name inside the host's namespace
	IP    netip.Addr // 10.99.S.(100+i) on the LAN it is plugged into
	IP6   netip.Addr // fd00:99:S::(100+i)
	lan   *LAN
	port  string // bridge-side veth name, in the LAN's switch namespace
}

// Attach gives h a new interface named iface, plugged into l's bridge,
// with addresses 10.99.S.(100+i)/24, fe80::(100+i) and fd00:99:S::(100+i)
// of l's subnet S (i is h's index in its own LAN), and brings it up. No
// route is added beyond the subnets' own. l and h's LAN must be distinct
// LANs (or h one of l's own hosts with a free index); the interface goes
// away with either namespace.
func (l *LAN) Attach(h *Host, iface string) *Attachment {
	l.t.Helper()
	i := 100 + h.index
	a := &Attachment{
		Host:  h,
		Iface: iface,
		IP:    netip.AddrFrom4([4]byte{10, 99, byte(l.subnet), byte(i)}),
		IP6:   netip.MustParseAddr(fmt.Sprintf("fd00:99:%x::%x", l.subnet, i)),
		lan:   l,
		port:  fmt.Sprintf("a%d%s", h.index, h.lan.prefix[len(h.lan.prefix)-3:]),
	}
	l.must("-n", l.sw, "link", "add", a.port, "type", "veth", "peer", "name", iface, "netns", h.ns)
	l.must("-n", l.sw, "link", "set", a.port, "master", "br0", "up")
	l.must("-n", h.ns, "link", "set", iface, "addrgenmode", "none")
	l.must("-n", h.ns, "addr", "add", fmt.Sprintf("%s/24", a.IP), "dev", iface)
	l.must("-n", h.ns, "addr", "add", fmt.Sprintf("fe80::%x/64", i), "dev", iface, "nodad")
	l.must("-n", h.ns, "addr", "add", fmt.Sprintf("%s/64", a.IP6), "dev", iface, "nodad")
	l.must("-n", h.ns, "link", "set", iface, "up")
	return a
}

// Subnet returns the LAN's IPv4 prefix, 10.99.S.0/24.
func (l *LAN) Subnet() netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, byte(l.subnet), 0}), 24)
}

// Subnet6 returns the LAN's unique local IPv6 prefix, fd00:99:S::/64.
func (l *LAN) Subnet6() netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("fd00:99:%x::/64", l.subnet))
}

// NewIPv6Only is [New] without IPv4 on the hosts' LAN interfaces: their
// IPv4 addresses and routes are removed; fe80::i and fd00:99:S::i stay.
func NewIPv6Only(t testing.TB, n int) *LAN {
	t.Helper()
	l := New(t, n)
	for _, h := range l.hosts {
		l.must("-n", h.ns, "-4", "route", "flush", "dev", HostIface)
		l.must("-n", h.ns, "-4", "addr", "flush", "dev", HostIface)
	}
	return l
}

// Unplug pulls the host's cable out: the host's interface loses its
// carrier (see the comment at the top of this file). Call it from the
// test goroutine.
func (h *Host) Unplug() {
	h.lan.t.Helper()
	h.lan.must("-n", h.lan.sw, "link", "set", h.port, "down")
}

// Replug undoes [Host.Unplug].
func (h *Host) Replug() {
	h.lan.t.Helper()
	h.lan.must("-n", h.lan.sw, "link", "set", h.port, "up")
}
