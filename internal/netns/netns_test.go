package netns_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"lanchat/internal/netns"
)

// The test binary doubles as a tiny network agent run inside namespaces:
//
//	LANCHAT_NETNS_AGENT=echo ADDR=:7000  listen, print "ready", echo lines back
//	LANCHAT_NETNS_AGENT=dial ADDR=ip:port  connect (1 s timeout), then for each
//	  stdin line send it and print the reply or "error: …" (1 s read timeout);
//	  prints "connected" or exits 1 with the dial error.
//	LANCHAT_NETNS_AGENT=mcast ADDR=group:port  join the group on eth0,
//	  print "ready", then print every datagram received, and for each
//	  stdin line send it to the group.
func TestMain(m *testing.M) {
	switch os.Getenv("LANCHAT_NETNS_AGENT") {
	case "":
		os.Exit(m.Run())
	case "echo":
		os.Exit(echoAgent(os.Getenv("ADDR")))
	case "dial":
		os.Exit(dialAgent(os.Getenv("ADDR")))
	case "mcast":
		os.Exit(mcastAgent(os.Getenv("ADDR")))
	default:
		fmt.Fprintln(os.Stderr, "unknown agent")
		os.Exit(2)
	}
}

func echoAgent(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

func dialAgent(addr string) int {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		fmt.Println("dial error:", err)
		return 1
	}
	fmt.Println("connected")
	r := bufio.NewReader(c)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if _, err := fmt.Fprintln(c, in.Text()); err != nil {
			fmt.Println("error:", err)
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Print(line)
	}
	return 0
}

func mcastAgent(addr string) int {
	group, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ifi, err := net.InterfaceByName(netns.HostIface)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := net.ListenMulticastUDP("udp4", ifi, group)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			fmt.Println(string(buf[:n]))
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if _, err := c.WriteToUDP(in.Bytes(), group); err != nil {
			fmt.Println("error:", err)
		}
	}
	return 0
}

// agent is a running agent process with line-wise stdout.
type agent struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startAgent(t *testing.T, h *netns.Host, mode, addr string) *agent {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Command(ctx, exe)
	cmd.Env = append(os.Environ(), "LANCHAT_NETNS_AGENT="+mode, "ADDR="+addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &agent{cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(a.lines)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			a.lines <- s.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = cmd.Wait()
	})
	return a
}

// next returns the agent's next stdout line, failing after d.
func (a *agent) next(t *testing.T, d time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-a.lines:
		if !ok {
			t.Fatalf("agent exited (%v)", a.cmd.Wait())
		}
		return l
	case <-time.After(d):
		t.Fatalf("no agent output within %v", d)
		return ""
	}
}

func rootLinks(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			names = append(names, f[1])
		}
	}
	slices.Sort(names)
	return names
}

func namespaces(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestHostsReachEachOther(t *testing.T) {
	lan := netns.New(t, 3)
	h1, h2, h3 := lan.Host(1), lan.Host(2), lan.Host(3)
	if h1.IP() == h2.IP() || h1.Name() == h2.Name() {
		t.Fatalf("hosts not distinct: %v %v", h1, h2)
	}
	startAgent(t, h1, "echo", ":7000").next(t, 5*time.Second) // "ready"

	for _, tc := range []struct {
		name string
		from *netns.Host
		to   netip.Addr
	}{
		{"ipv4", h2, h1.IP()},
		{"ipv6", h3, h1.IP6()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startAgent(t, tc.from, "dial", netip.AddrPortFrom(tc.to, 7000).String())
			if got := d.next(t, 5*time.Second); got != "connected" {
				t.Fatalf("dial %v: %s", tc.to, got)
			}
			fmt.Fprintln(d.stdin, "ping")
			if got := d.next(t, 5*time.Second); got != "ping" {
				t.Fatalf("echo = %q, want ping", got)
			}
		})
	}

	// Interfaces really are inside the namespaces.
	out := h2.MustRun("ip", "-o", "addr", "show", "dev", netns.HostIface)
	if !strings.Contains(out, h2.IP().String()+"/24") {
		t.Errorf("h2 addresses %q lack %v", out, h2.IP())
	}
}

func TestCutLinkIsSilent(t *testing.T) {
	lan := netns.New(t, 2)
	h1, h2 := lan.Host(1), lan.Host(2)
	startAgent(t, h1, "echo", ":7000").next(t, 5*time.Second)
	addr := netip.AddrPortFrom(h1.IP(), 7000).String()
	held := startAgent(t, h2, "dial", addr)
	if got := held.next(t, 5*time.Second); got != "connected" {
		t.Fatalf("dial: %s", got)
	}
	fmt.Fprintln(held.stdin, "before")
	if got := held.next(t, 5*time.Second); got != "before" {
		t.Fatalf("echo = %q", got)
	}

	h2.CutLink()
	// New connections fail…
	fresh := startAgent(t, h2, "dial", addr)
	if got := fresh.next(t, 5*time.Second); !strings.HasPrefix(got, "dial error") {
		t.Fatalf("dial over a cut link: %q, want a dial error", got)
	}
	// …and the held one sees silence (a read timeout), not a reset.
	fmt.Fprintln(held.stdin, "during")
	if got := held.next(t, 5*time.Second); !strings.Contains(got, "timeout") {
		t.Fatalf("held connection over a cut link: %q, want a read timeout", got)
	}

	h2.RestoreLink()
	// TCP retransmits: the held connection delivers again, the lost line first.
	deadline := time.Now().Add(15 * time.Second)
	for {
		fmt.Fprintln(held.stdin, "after")
		got := held.next(t, 5*time.Second)
		if got == "during" || got == "after" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("held connection did not recover after RestoreLink: %q", got)
		}
	}
}

func TestCleanupRemovesEverything(t *testing.T) {
	netns.Require(t)
	before := rootLinks(t)
	var names []string
	t.Run("lan", func(t *testing.T) {
		lan := netns.New(t, 2)
		for _, h := range lan.Hosts() {
			names = append(names, h.Name())
		}
		startAgent(t, lan.Host(1), "echo", ":7000").next(t, 5*time.Second)
		if got := rootLinks(t); !slices.Equal(got, before) {
			t.Errorf("root namespace links changed: %v, was %v", got, before)
		}
	})
	list := namespaces(t)
	for _, n := range names {
		if strings.Contains(list, n) {
			t.Errorf("namespace %s still exists after cleanup", n)
		}
	}
}

func TestParallelLANsDoNotCollide(t *testing.T) {
	netns.Require(t)
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			lan := netns.New(t, 2)
			startAgent(t, lan.Host(1), "echo", ":7000").next(t, 5*time.Second)
			d := startAgent(t, lan.Host(2), "dial", netip.AddrPortFrom(lan.Host(1).IP(), 7000).String())
			if got := d.next(t, 5*time.Second); got != "connected" {
				t.Fatalf("dial: %s", got)
			}
		})
	}
}

// TestRoutedLANs: hosts of two LANs joined by the router reach each other
// over IPv4 and IPv6; multicast (mDNS's group) stays on its own LAN.
func TestRoutedLANs(t *testing.T) {
	r := netns.NewRouted(t, 2, 1)
	a1, a2, b1 := r.LAN(1).Host(1), r.LAN(1).Host(2), r.LAN(2).Host(1)
	if a1.IP() == b1.IP() || a1.Name() == b1.Name() || a1.IP().As4()[2] == b1.IP().As4()[2] {
		t.Fatalf("hosts of the two LANs not on distinct subnets: %v %v", a1.IP(), b1.IP())
	}
	startAgent(t, b1, "echo", ":7000").next(t, 5*time.Second)
	for _, to := range []netip.Addr{b1.IP(), b1.IP6()} {
		d := startAgent(t, a1, "dial", netip.AddrPortFrom(to, 7000).String())
		if got := d.next(t, 5*time.Second); got != "connected" {
			t.Fatalf("dial across the router to %v: %s", to, got)
		}
		fmt.Fprintln(d.stdin, "ping")
		if got := d.next(t, 5*time.Second); got != "ping" {
			t.Fatalf("echo across the router = %q, want ping", got)
		}
	}

	const group = "224.0.0.251:5353"
	send := startAgent(t, a1, "mcast", group)
	same := startAgent(t, a2, "mcast", group)
	other := startAgent(t, b1, "mcast", group)
	for _, a := range []*agent{send, same, other} {
		if got := a.next(t, 5*time.Second); got != "ready" {
			t.Fatalf("multicast agent: %q", got)
		}
	}
	fmt.Fprintln(send.stdin, "hello group")
	if got := same.next(t, 5*time.Second); got != "hello group" {
		t.Fatalf("same LAN got %q, want the datagram", got)
	}
	// The other LAN must get nothing: a second datagram sent later on the
	// same LAN arriving bounds the wait.
	fmt.Fprintln(send.stdin, "second")
	if got := same.next(t, 5*time.Second); got != "second" {
		t.Fatalf("same LAN got %q, want the second datagram", got)
	}
	select {
	case l := <-other.lines:
		t.Errorf("multicast crossed the router: the other LAN got %q", l)
	case <-time.After(500 * time.Millisecond):
	}
}
