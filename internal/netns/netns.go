package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// HostIface is the name of every host's LAN interface inside its namespace.
const HostIface = "eth0"

// LAN is a set of hosts (network namespaces) on one Ethernet bridge.
type LAN struct {
	t      testing.TB
	prefix string // unique name prefix: lc<pid>x<rand>
	sw     string // switch namespace holding the bridge
	subnet int    // third octet of 10.99.<subnet>.0/24
	hosts  []*Host
}

// Host is one machine of a [LAN]: a network namespace with interface
// [HostIface] plugged into the LAN's bridge.
type Host struct {
	lan   *LAN
	index int    // 1-based
	ns    string // namespace name
	port  string // bridge-side veth name (in the switch namespace)
	ip    netip.Addr
	ip6   netip.Addr
}

// Require skips the test with a clear reason when this machine cannot create
// network namespaces (not root, ip(8) missing, no permission). When the
// environment variable CI is "true" it fails the test instead: CI must run
// these tests.
func Require(t testing.TB) {
	t.Helper()
	reason := unavailable()
	if reason == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("network namespace test cannot run under CI=true: %s", reason)
	}
	t.Skipf("skipping network namespace test: %s (run as root with iproute2; CI=true turns this skip into a failure)", reason)
}

// unavailable returns why namespaces cannot be made here, or "".
func unavailable() string {
	if os.Geteuid() != 0 {
		return "not running as root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "ip(8) from iproute2 not found in PATH"
	}
	probe := newPrefix() + "-probe"
	if err := ip("netns", "add", probe); err != nil {
		return fmt.Sprintf("cannot create a network namespace: %v", err)
	}
	// Entering one needs more than creating it (ip -n remounts /, which
	// fails e.g. in a chroot whose root is not a mount point).
	enter := ip("-n", probe, "link", "set", "lo", "up")
	if err := ip("netns", "del", probe); err != nil {
		return fmt.Sprintf("cannot delete a network namespace: %v", err)
	}
	if enter != nil {
		return fmt.Sprintf("cannot enter a network namespace: %v", enter)
	}
	return ""
}

// New creates a LAN of n hosts named h1…hn with addresses 10.99.S.1…n/24
// (S random per LAN), fe80::i and fd00:99:S::i/64, all on one bridge. It calls
// [Require] first. Everything is torn down by t.Cleanup. Setup failures are
// fatal to the test.
func New(t testing.TB, n int) *LAN {
	t.Helper()
	Require(t)
	collectStale()
	var b [1]byte
	_, _ = rand.Read(b[:])
	return newLAN(t, newPrefix(), n, 1+int(b[0])%254)
}

// newLAN creates a LAN of n hosts on subnet 10.99.subnet.0/24, its
// namespaces named prefix-sw and prefix-h1…hn.
func newLAN(t testing.TB, prefix string, n, subnet int) *LAN {
	t.Helper()
	if n < 1 || n > 250 {
		t.Fatalf("netns.New: host count %d out of range 1..250", n)
	}
	l := &LAN{t: t, prefix: prefix, subnet: subnet}
	l.sw = l.prefix + "-sw"
	t.Cleanup(l.destroy) // registered first: also runs when setup fails half way

	l.must("netns", "add", l.sw)
	l.must("-n", l.sw, "link", "set", "lo", "up")
	// No multicast snooping: a snooping bridge without a querier may filter
	// mDNS group traffic (notably ff02::fb). STP is off by default, so ports
	// forward as soon as they are up.
	l.must("-n", l.sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	l.must("-n", l.sw, "link", "set", "br0", "up")
	for i := 1; i <= n; i++ {
		l.addHost(i)
	}
	return l
}

func (l *LAN) addHost(i int) {
	h := &Host{
		lan:   l,
		index: i,
		ns:    fmt.Sprintf("%s-h%d", l.prefix, i),
		port:  fmt.Sprintf("p%d", i),
		ip:    netip.AddrFrom4([4]byte{10, 99, byte(l.subnet), byte(i)}),
		ip6:   netip.MustParseAddr(fmt.Sprintf("fd00:99:%x::%x", l.subnet, i)),
	}
	l.hosts = append(l.hosts, h)
	l.must("netns", "add", h.ns)
	// Create the pair in the switch namespace and move the far end straight
	// into the host: nothing ever appears in the root namespace.
	l.must("-n", l.sw, "link", "add", h.port, "type", "veth", "peer", "name", HostIface, "netns", h.ns)
	l.must("-n", l.sw, "link", "set", h.port, "master", "br0", "up")
	l.must("-n", h.ns, "link", "set", "lo", "up")
	// Own link-local address without DAD, so IPv6 is usable immediately.
	l.must("-n", h.ns, "link", "set", HostIface, "addrgenmode", "none")
	l.must("-n", h.ns, "addr", "add", fmt.Sprintf("%s/24", h.ip), "dev", HostIface)
	l.must("-n", h.ns, "addr", "add", fmt.Sprintf("fe80::%x/64", i), "dev", HostIface, "nodad")
	l.must("-n", h.ns, "addr", "add", fmt.Sprintf("%s/64", h.ip6), "dev", HostIface, "nodad")
	l.must("-n", h.ns, "link", "set", HostIface, "up")
	// hashicorp/mdns joins the multicast group on the default interface and
	// fails without a route: give every host a default route on the LAN.
	l.must("-n", h.ns, "route", "add", "default", "dev", HostIface)
}

// Routed is two LANs joined by a router (see [NewRouted]).
type Routed struct {
	t    testing.TB
	rt   string // router namespace
	lans [2]*LAN
}

// routerHost is the last octet (IPv4) and group (IPv6) of the router's
// address on each LAN.
const routerHost = 254

// NewRouted creates two LANs of n1 and n2 hosts, on two subnets (10.99.S.0/24
// and fd00:99:S::/64 each, S random and different), joined by a router
// namespace that forwards IPv4 and IPv6 between them:
//
//	LAN 1: h1 … hn1 ── br0 ──┐             ┌── br0 ── h1 … hn2 :LAN 2
//	                  10.99.S1.254  router  10.99.S2.254
//	                  fd00:99:S1::fe       fd00:99:S2::fe
//
// Every host's default routes go through the router, so unicast reaches
// the other LAN; multicast does not (the router does not route it, and
// link-local groups such as mDNS's never cross a router): like two floors
// or a VPN, each its own multicast domain. It calls [Require] first; the
// namespaces are torn down by t.Cleanup. LAN i is [Routed.LAN](i).
func NewRouted(t testing.TB, n1, n2 int) *Routed {
	t.Helper()
	Require(t)
	collectStale()
	var b [1]byte
	_, _ = rand.Read(b[:])
	s1 := 1 + int(b[0])%253
	prefix := newPrefix()
	r := &Routed{t: t, rt: prefix + "-rt"}
	t.Cleanup(func() {
		if err := removeNamespace(r.rt); err != nil {
			t.Errorf("netns cleanup: %v", err)
		}
	})
	r.lans[0] = newLAN(t, prefix+"a", n1, s1)
	r.lans[1] = newLAN(t, prefix+"b", n2, s1+1)
	r.must("netns", "add", r.rt)
	r.must("-n", r.rt, "link", "set", "lo", "up")
	for i, l := range r.lans {
		leg := fmt.Sprintf("lan%d", i+1)
		gw4 := netip.AddrFrom4([4]byte{10, 99, byte(l.subnet), routerHost})
		gw6 := netip.MustParseAddr(fmt.Sprintf("fd00:99:%x::%x", l.subnet, routerHost))
		// As for hosts: made in the switch namespace, its far end moved
		// straight into the router's.
		r.must("-n", l.sw, "link", "add", "uplink", "type", "veth", "peer", "name", leg, "netns", r.rt)
		r.must("-n", l.sw, "link", "set", "uplink", "master", "br0", "up")
		r.must("-n", r.rt, "link", "set", leg, "addrgenmode", "none")
		r.must("-n", r.rt, "addr", "add", fmt.Sprintf("%s/24", gw4), "dev", leg)
		r.must("-n", r.rt, "addr", "add", fmt.Sprintf("fe80::%x/64", routerHost), "dev", leg, "nodad")
		r.must("-n", r.rt, "addr", "add", fmt.Sprintf("%s/64", gw6), "dev", leg, "nodad")
		r.must("-n", r.rt, "link", "set", leg, "up")
		for _, h := range l.hosts {
			r.must("-n", h.ns, "route", "replace", "default", "via", gw4.String(), "dev", HostIface)
			r.must("-n", h.ns, "-6", "route", "replace", "default", "via", gw6.String(), "dev", HostIface)
		}
	}
	// Forwarding is per namespace; /proc/sys/net shows the namespace of
	// the process that reads it (no sysctl(8): procps may be missing).
	const forward = "echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"
	if out, err := exec.Command("ip", "netns", "exec", r.rt, "sh", "-c", forward).CombinedOutput(); err != nil {
		t.Fatalf("netns setup: forwarding in %s: %v: %s", r.rt, err, bytes.TrimSpace(out))
	}
	return r
}

// LAN returns LAN i of the two, 1-based.
func (r *Routed) LAN(i int) *LAN {
	r.t.Helper()
	if i < 1 || i > 2 {
		r.t.Fatalf("netns: no LAN %d of a routed pair", i)
	}
	return r.lans[i-1]
}

// Router returns the router's namespace name.
func (r *Routed) Router() string { return r.rt }

func (r *Routed) must(args ...string) {
	r.t.Helper()
	if err := ip(args...); err != nil {
		r.t.Fatalf("netns setup: %v", err)
	}
}

// Hosts returns the hosts in order h1…hn.
func (l *LAN) Hosts() []*Host { return append([]*Host(nil), l.hosts...) }

// Host returns host i, 1-based (h1 is Host(1)).
func (l *LAN) Host(i int) *Host {
	l.t.Helper()
	if i < 1 || i > len(l.hosts) {
		l.t.Fatalf("netns: no host %d in a LAN of %d", i, len(l.hosts))
	}
	return l.hosts[i-1]
}

func (l *LAN) must(args ...string) {
	l.t.Helper()
	if err := ip(args...); err != nil {
		l.t.Fatalf("netns setup: %v", err)
	}
}

// destroy kills every process in the LAN's namespaces, then deletes them.
func (l *LAN) destroy() {
	names := make([]string, 0, len(l.hosts)+1)
	for _, h := range l.hosts {
		names = append(names, h.ns)
	}
	names = append(names, l.sw)
	for _, ns := range names {
		if err := removeNamespace(ns); err != nil {
			l.t.Errorf("netns cleanup: %v", err)
		}
	}
}

// Name returns the host's network namespace name.
func (h *Host) Name() string { return h.ns }

// Index returns the host's 1-based number in its LAN.
func (h *Host) Index() int { return h.index }

// IP returns the host's IPv4 address on the LAN.
func (h *Host) IP() netip.Addr { return h.ip }

// IP6 returns the host's unique local IPv6 address on the LAN (fd00:99:S::i).
func (h *Host) IP6() netip.Addr { return h.ip6 }

// Iface returns the name of the host's LAN interface inside its namespace.
func (h *Host) Iface() string { return HostIface }

// Command returns a command that runs name inside the host's namespace (via
// `ip netns exec`, which execs, so the process ID is that of name itself).
// ctx kills it as in [exec.CommandContext]. Whatever still runs in the
// namespace at cleanup is killed.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
}

// MustRun runs name inside the host's namespace, fails the test if it fails,
// and returns its combined output. Call it from the test goroutine.
func (h *Host) MustRun(name string, args ...string) string {
	h.lan.t.Helper()
	out, err := h.Command(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		h.lan.t.Fatalf("netns: %s %s in %s: %v: %s", name, strings.Join(args, " "), h.ns, err, bytes.TrimSpace(out))
	}
	return string(out)
}

// CutLink silently disconnects the host: its bridge port is detached, so
// frames in both directions are dropped while the host still sees its link
// up. No TCP reset or ICMP error reaches anyone — like a cable cut past the
// switch. Call it from the test goroutine.
func (h *Host) CutLink() {
	h.lan.t.Helper()
	h.lan.must("-n", h.lan.sw, "link", "set", h.port, "nomaster")
}

// RestoreLink undoes [Host.CutLink].
func (h *Host) RestoreLink() {
	h.lan.t.Helper()
	h.lan.must("-n", h.lan.sw, "link", "set", h.port, "master", "br0")
}

// ip runs ip(8) with args and returns its output in the error on failure.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// newPrefix returns a name prefix unique to this process and call: lc<pid>x<hex>.
func newPrefix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("lc%dx%s", os.Getpid(), hex.EncodeToString(b[:]))
}

// removeNamespace kills every process in ns, then deletes it.
func removeNamespace(ns string) error {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if err := ip("netns", "del", ns); err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	return nil
}

var staleName = regexp.MustCompile(`^lc([0-9]+)x[0-9a-f]+-`)

// collectStale deletes namespaces left by test processes that no longer exist
// (killed before their cleanup ran). Namespaces of live processes — parallel
// test binaries — are left alone.
func collectStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		m := staleName.FindStringSubmatch(fields[0])
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = removeNamespace(fields[0])
		}
	}
}
