package discovery_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"lanchat/internal/netns"
)

// linkOut is an agentOut that is also a discovery.LinkWatcher (DA_LINK=1).
type linkOut struct{ *agentOut }

func (o linkOut) LinkDown(reason string) { o.emit(agentEvent{Ev: "linkdown", Err: reason}) }
func (o linkOut) LinkUp()                { o.emit(agentEvent{Ev: "linkup"}) }

// waitLinkOut is a linkOut that is also a discovery.Waiter (DA_LINK=1
// and DA_WAIT=1), as lanchat's handler is.
type waitLinkOut struct{ linkOut }

func (o waitLinkOut) Unavailable(err error) { waitingOut{o.agentOut}.Unavailable(err) }
func (o waitLinkOut) Available()            { waitingOut{o.agentOut}.Available() }

// addrsOf returns the advertised addresses of want of e, as strings.
func addrsOf(ip, ip6 netip.Addr) []string {
	return []string{netip.AddrPortFrom(ip, 4001).String(), netip.AddrPortFrom(ip6, 4002).String()}
}

// inPrefix reports whether any address of e is in p.
func inPrefix(e agentEvent, p netip.Prefix) bool {
	for _, a := range e.Addrs {
		if ap, err := netip.ParseAddrPort(a); err == nil && p.Contains(ap.Addr()) {
			return true
		}
	}
	return false
}

// TestTwoLANs: a machine on two LANs (one interface on each bridge) sees
// and is seen on both, and bridges nothing: each LAN learns only the
// addresses the machine has on it, over several query rounds, and the two
// LANs do not learn of each other.
func TestTwoLANs(t *testing.T) {
	lanA, lanB := netns.New(t, 2), netns.New(t, 1)
	m := lanA.Host(1)
	eth1 := lanB.Attach(m, "eth1")
	fast := []string{"DA_INTERVAL_MS=300", "DA_MAX_INTERVAL_MS=300"}
	multi := startAgent(t, m, "multi", "net-a", fast...)
	a2 := startAgent(t, lanA.Host(2), "a2", "net-a", fast...)
	b1 := startAgent(t, lanB.Host(1), "b1", "net-a", fast...)

	multi.waitFor(t, 10*time.Second, "found a2", foundID("a2"))
	multi.waitFor(t, 10*time.Second, "found b1", foundID("b1"))
	for _, c := range []struct {
		obs       *agent
		want      []string
		otherSide netip.Prefix
	}{
		{a2, addrsOf(m.IP(), m.IP6()), lanB.Subnet()},
		{b1, addrsOf(eth1.IP, eth1.IP6), lanA.Subnet()},
	} {
		// Several rounds: one of them answered by the wrong responder
		// would show.
		for i := range 5 {
			e := c.obs.waitFor(t, 10*time.Second, "found multi", foundID("multi"))
			if !slices.Equal(e.Addrs, c.want) {
				t.Errorf("%s sighting %d of multi at %v, want only %v (its addresses on that LAN)", c.obs.id, i, e.Addrs, c.want)
			}
		}
		for _, e := range c.obs.backlog {
			if e.Ev == "found" && (e.ID != "multi" || inPrefix(e, c.otherSide)) {
				t.Errorf("%s learnt of the other LAN: %+v", c.obs.id, e)
			}
		}
	}
}

// TestLateInterface: an interface that comes up after the start (a
// second network plugged in) is picked up without a restart: the peers
// on it are found within a few seconds.
func TestLateInterface(t *testing.T) {
	lanA, lanB := netns.New(t, 1), netns.New(t, 1)
	m := lanA.Host(1)
	multi := startAgent(t, m, "multi", "net-a")
	b1 := startAgent(t, lanB.Host(1), "b1", "net-a", "DA_INTERVAL_MS=300", "DA_MAX_INTERVAL_MS=300")
	<-multi.running
	<-b1.running
	plugged := time.Now()
	eth1 := lanB.Attach(m, "eth1")
	e := multi.waitFor(t, 5*time.Second, "found b1 on the new interface", foundID("b1"))
	t.Logf("multi found b1 %v after its second interface came up", e.at.Sub(plugged).Round(time.Millisecond))
	e = b1.waitFor(t, 5*time.Second, "found multi", foundID("multi"))
	if want := addrsOf(eth1.IP, eth1.IP6); !slices.Equal(e.Addrs, want) {
		t.Errorf("b1 sees multi at %v, want %v", e.Addrs, want)
	}
	t.Logf("b1 found multi %v after its second interface came up", e.at.Sub(plugged).Round(time.Millisecond))
}

// TestIPv6Only: on a LAN without IPv4 the peers find each other over
// IPv6 and are told of their IPv6 addresses only.
func TestIPv6Only(t *testing.T) {
	lan := netns.NewIPv6Only(t, 2)
	a := startAgent(t, lan.Host(1), "a", "net-a")
	startAgent(t, lan.Host(2), "b", "net-a")
	e := a.waitFor(t, 10*time.Second, "found b", foundID("b"))
	if want := []string{netip.AddrPortFrom(lan.Host(2).IP6(), 4002).String()}; !slices.Equal(e.Addrs, want) {
		t.Errorf("a sees b at %v, want %v", e.Addrs, want)
	}
}

// TestUnplugged: a node whose cable is pulled out (its interface loses
// carrier) is told its link is down, naming the interface and why, and
// nothing else (no diagnosis "eth0 has no link" besides, no Unavailable);
// when the cable is back it is told so and finds its peer again at once.
func TestUnplugged(t *testing.T) {
	lan := netns.New(t, 2)
	h := lan.Host(1)
	a := startAgent(t, h, "a", "net-a", "DA_LINK=1", "DA_WAIT=1")
	startAgent(t, lan.Host(2), "b", "net-a")
	a.waitFor(t, 10*time.Second, "found b", foundID("b"))

	h.Unplug()
	e := a.waitFor(t, 5*time.Second, "linkdown", func(e agentEvent) bool { return e.Ev == "linkdown" })
	if want := netns.HostIface + ": no carrier"; e.Err != want {
		t.Errorf("link down because %q, want %q", e.Err, want)
	}
	h.Replug()
	healed := time.Now()
	a.waitFor(t, 5*time.Second, "linkup", func(e agentEvent) bool { return e.Ev == "linkup" })
	e = a.waitFor(t, 5*time.Second, "found b after the heal", func(e agentEvent) bool {
		return e.Ev == "found" && e.ID == "b" && e.at.After(healed)
	})
	took := e.at.Sub(healed)
	t.Logf("a found b %v after its cable was back", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("a found b %v after the heal, want within 2 s", took)
	}
	if !strings.Contains(a.stderr.String(), "mdns diagnosis skipped: link down") {
		t.Error("no diagnosis was skipped while the link was down: was any judged?")
	}
	for _, e := range a.backlog {
		if isDiagnosis(e) || e.Ev == "unavailable" {
			t.Errorf("a was told %+v while its link was down, want the link-down only", e)
		}
	}
}

// TestNoInterface: a machine with no interface but loopback is told that
// there is no network for multicast, not left querying nothing.
func TestNoInterface(t *testing.T) {
	lan := netns.New(t, 1)
	h := lan.Host(1)
	h.MustRun("ip", "link", "del", netns.HostIface)
	a := startAgent(t, h, "x", "net-a")
	var e agentEvent
	for e = range a.events {
		if e.Ev != "started" {
			break
		}
	}
	if e.Ev != "error" || !strings.Contains(e.Err, "no route for multicast") {
		t.Errorf("agent without interfaces printed %+v, want an error about the multicast route", e)
	}
}
