package netns

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// Faults: a host made broken in one way each, for the tests of what
// lanchat tells its user when it finds nobody. Each is set up with
// ip(8) and tc(8) only; call them from the test goroutine. Everything is
// undone when the namespaces are removed.

// MulticastOff turns multicast off on the host's LAN interface
// (`ip link set dev eth0 multicast off`): the link, its addresses and
// its default route stay, but nothing can join a multicast group on it.
func (h *Host) MulticastOff() {
	h.lan.t.Helper()
	h.lan.must("-n", h.ns, "link", "set", "dev", HostIface, "multicast", "off")
}

// NoAddress takes every address off the host's LAN interface, IPv4 and
// IPv6 (its link-local one is not made again: the hosts have
// addrgenmode none), and with them its routes: the link is up, with
// carrier, but nothing can be sent, as on a machine waiting for its
// DHCP lease. A cable out is [Host.Unplug].
func (h *Host) NoAddress() {
	h.lan.t.Helper()
	h.lan.must("-n", h.ns, "addr", "flush", "dev", HostIface)
}

// Readdress gives the host's LAN interface its addresses and default
// route back: undoes [Host.NoAddress].
func (h *Host) Readdress() {
	h.lan.t.Helper()
	h.lan.must("-n", h.ns, "addr", "add", fmt.Sprintf("%s/24", h.ip), "dev", HostIface)
	h.lan.must("-n", h.ns, "addr", "add", fmt.Sprintf("fe80::%x/64", h.index), "dev", HostIface, "nodad")
	h.lan.must("-n", h.ns, "addr", "add", fmt.Sprintf("%s/64", h.ip6), "dev", HostIface, "nodad")
	h.lan.must("-n", h.ns, "route", "add", "default", "dev", HostIface)
}

// NoDefaultRoute removes the host's default routes (IPv4, and IPv6 if
// any): the LAN is still there, but the kernel has no route for the mDNS
// group any more.
func (h *Host) NoDefaultRoute() {
	h.lan.t.Helper()
	h.lan.must("-n", h.ns, "route", "del", "default")
	_ = ip("-n", h.ns, "-6", "route", "del", "default")
}

// BlockMDNS plays a host firewall that drops mDNS: every UDP datagram to
// or from port 5353, IPv4 and IPv6, that arrives on the host's LAN
// interface is dropped — the host's own multicast queries too, which the
// kernel loops back through that interface. Outgoing packets are not
// touched (the others still hear the host's queries; their answers never
// get in). There is no iptables or nftables here, and tc's gact ("action
// drop") may be missing from the kernel: the packets are redirected by
// mirred, which is always there with tc's u32 classifier, to a veth whose
// peer is down, which drops them.
func (h *Host) BlockMDNS() {
	h.lan.t.Helper()
	h.lan.must("-n", h.ns, "link", "add", "fwdrop0", "type", "veth", "peer", "name", "fwdrop1")
	h.lan.must("-n", h.ns, "link", "set", "fwdrop0", "up") // fwdrop1 stays down: no carrier, all dropped
	h.tc("qdisc", "add", "dev", HostIface, "ingress")
	for _, proto := range []string{"ip", "ip6"} {
		for _, port := range []string{"sport", "dport"} {
			family := "ip"
			if proto == "ip6" {
				family = "ipv6"
			}
			h.tc("filter", "add", "dev", HostIface, "parent", "ffff:", "protocol", family,
				"u32", "match", proto, "protocol", "17", "0xff", "match", proto, port, "5353", "0xffff",
				"action", "mirred", "egress", "redirect", "dev", "fwdrop0")
		}
	}
}

// tc runs tc(8) inside the host's namespace and fails the test if it fails.
func (h *Host) tc(args ...string) {
	h.lan.t.Helper()
	if out, err := h.Command(context.Background(), "tc", args...).CombinedOutput(); err != nil {
		h.lan.t.Fatalf("netns setup: tc %s in %s: %v: %s", strings.Join(args, " "), h.ns, err, bytes.TrimSpace(out))
	}
}

// NewLoopbackOnly creates a host that has no network at all: a namespace
// with only its loopback interface, up. Its [Host.IP] and [Host.IP6] are
// the zero address; [Host.CutLink] and the other link methods must not be
// used. It calls [Require] first; the namespace is removed by t.Cleanup.
func NewLoopbackOnly(t testing.TB) *Host {
	t.Helper()
	Require(t)
	collectStale()
	l := &LAN{t: t, prefix: newPrefix()}
	h := &Host{lan: l, index: 1, ns: l.prefix + "-lo"}
	l.hosts = []*Host{h}
	t.Cleanup(func() {
		if err := removeNamespace(h.ns); err != nil {
			t.Errorf("netns cleanup: %v", err)
		}
	})
	l.must("netns", "add", h.ns)
	l.must("-n", h.ns, "link", "set", "lo", "up")
	return h
}
