package netns

import (
	"bytes"
	"context"
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

// CarrierOff takes the host's cable out: the bridge-side end of its veth
// goes down, so the host's interface stays administratively up, with its
// addresses and routes, but has no carrier (NO-CARRIER, operstate
// LOWERLAYERDOWN), as with a cable pulled from the machine itself.
// Unlike [Host.CutLink] the host can tell.
func (h *Host) CarrierOff() {
	h.lan.t.Helper()
	h.lan.must("-n", h.lan.sw, "link", "set", h.port, "down")
}

// CarrierOn plugs the cable back in: undoes [Host.CarrierOff].
func (h *Host) CarrierOn() {
	h.lan.t.Helper()
	h.lan.must("-n", h.lan.sw, "link", "set", h.port, "up")
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
