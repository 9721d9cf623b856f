package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"

	"lanchat/internal/netns"
	"lanchat/node"
)

// forgerEnv makes the test binary run as the attacker of issue 10's
// attack 1 (see runForger) instead of the tests.
const forgerEnv = "LANCHAT_TEST_FORGER"

func init() {
	if os.Getenv(forgerEnv) == "1" {
		os.Exit(runForger())
	}
}

// runForger is an mDNS poisoner without the network key, run inside a
// namespace host. It queries the LAN for lanchat peers every 200 ms and
// learns their peer IDs and key fingerprints from the answers (both are
// public); and it answers every lanchat query, 50 ms after it (after the
// real peers), for every peer learnt, at its own address and port 9,
// where nothing listens. It prints "learned <id>" and "forged <id> to
// <ip>" lines, and runs until SIGTERM.
func runForger() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "forger:", err); return 3 }
	ifi, err := net.InterfaceByName(netns.HostIface)
	if err != nil {
		return fail(err)
	}
	self := net.ParseIP(os.Getenv("FORGER_IP")).To4()
	group := &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}
	listen, err := net.ListenMulticastUDP("udp4", ifi, group)
	if err != nil {
		return fail(err)
	}
	ask, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return fail(err)
	}
	if err := ipv4.NewPacketConn(ask).SetMulticastInterface(ifi); err != nil {
		return fail(err)
	}
	go func() { <-ctx.Done(); listen.Close(); ask.Close() }()

	const service = "_lanchat._tcp.local."
	var (
		mu      sync.Mutex
		learned = map[string]string{} // peer ID → fingerprint
		out     = bufio.NewWriter(os.Stdout)
	)
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}

	// Learn: query, read the answers.
	q := new(dns.Msg)
	q.SetQuestion(service, dns.TypePTR)
	q.RecursionDesired = false
	query, err := q.Pack()
	if err != nil {
		return fail(err)
	}
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			_, _ = ask.WriteToUDP(query, group)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	go func() {
		buf := make([]byte, 9000)
		for {
			n, _, err := ask.ReadFromUDP(buf)
			if err != nil {
				return
			}
			var m dns.Msg
			if m.Unpack(buf[:n]) != nil || !m.Response {
				continue
			}
			for _, rr := range append(m.Answer, m.Extra...) {
				txt, ok := rr.(*dns.TXT)
				if !ok {
					continue
				}
				var id, fp string
				for _, s := range txt.Txt {
					if v, ok := strings.CutPrefix(s, "id="); ok {
						id = v
					}
					if v, ok := strings.CutPrefix(s, "net="); ok {
						fp = v
					}
				}
				mu.Lock()
				_, known := learned[id]
				if id != "" && fp != "" {
					learned[id] = fp
				}
				mu.Unlock()
				if id != "" && fp != "" && !known {
					say("learned %s", id)
				}
			}
		}
	}()

	// Forge: answer every query for the service, late, for every peer learnt.
	buf := make([]byte, 9000)
	for {
		n, src, err := listen.ReadFromUDP(buf)
		if err != nil {
			return 0
		}
		var m dns.Msg
		if m.Unpack(buf[:n]) != nil || m.Response || len(m.Question) == 0 || !strings.EqualFold(m.Question[0].Name, service) {
			continue
		}
		if src.IP.Equal(self) {
			continue // our own query
		}
		mu.Lock()
		var packets [][]byte
		var ids []string
		for id, fp := range learned {
			inst, host := id+"."+service, id+".local."
			hdr := func(name string, t uint16) dns.RR_Header {
				return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: 120}
			}
			resp := &dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}, Answer: []dns.RR{
				&dns.PTR{Hdr: hdr(service, dns.TypePTR), Ptr: inst},
				&dns.SRV{Hdr: hdr(inst, dns.TypeSRV), Priority: 10, Weight: 1, Port: 9, Target: host},
				&dns.A{Hdr: hdr(host, dns.TypeA), A: self},
				&dns.TXT{Hdr: hdr(inst, dns.TypeTXT), Txt: []string{"id=" + id, "v=" + node.ProtocolVersion, "net=" + fp}},
			}}
			if b, err := resp.Pack(); err == nil {
				packets = append(packets, b)
				ids = append(ids, id)
			}
		}
		mu.Unlock()
		time.AfterFunc(50*time.Millisecond, func() {
			for i, b := range packets {
				if _, err := listen.WriteToUDP(b, src); err == nil {
					say("forged %s to %s", ids[i], src.IP)
				}
			}
		})
	}
}

// forger is a running runForger process as the test sees it.
type forger struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
	stderr  lockedBuffer
}

// startForger runs the forger on h until the test ends.
func startForger(t *testing.T, h *netns.Host) *forger {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := &forger{changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Command(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), forgerEnv+"=1", "FORGER_IP="+h.IP().String(), "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = &f.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			f.mu.Lock()
			f.lines = append(f.lines, s.Text())
			close(f.changed)
			f.changed = make(chan struct{})
			f.mu.Unlock()
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			f.mu.Lock()
			t.Logf("forger output:\n%s\nstderr:\n%s", strings.Join(f.lines, "\n"), f.stderr.String())
			f.mu.Unlock()
		}
	})
	return f
}

// waitLine waits up to d for an output line equal to line.
func (f *forger) waitLine(t *testing.T, d time.Duration, line string) {
	t.Helper()
	timeout := time.After(d)
	for {
		f.mu.Lock()
		changed := f.changed
		for _, l := range f.lines {
			if l == line {
				f.mu.Unlock()
				return
			}
		}
		f.mu.Unlock()
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("forger: no %q within %v", line, d)
		}
	}
}

// TestPoisonedLAN is attack 1 of issue 10 end to end: while an attacker
// without the key answers every query for A's and B's peer IDs at a dead
// address (after the real peers, so that its answer is the last one), A
// and B, real binaries on a namespace LAN, still meet.
func TestPoisonedLAN(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary on network-namespace hosts; skipped with -short")
	}
	lan := netns.New(t, 3)
	bin := testBinary(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "swarm.key")
	if err := os.WriteFile(keyFile, node.FormatSwarmKey(node.DeriveKey("poison")), 0o600); err != nil {
		t.Fatal(err)
	}
	f := startForger(t, lan.Host(3))

	a := startLanchat(t, bin, lan.Host(1), dir, "alice", "--key-file", keyFile)
	a.waitReady(t)
	f.waitLine(t, 10*time.Second, "learned "+a.id)
	start := time.Now()
	b := startLanchat(t, bin, lan.Host(2), dir, "bob", "--key-file", keyFile)
	b.waitReady(t)
	// B's queries get the forged answer for A, after A's real one.
	f.waitLine(t, 10*time.Second, fmt.Sprintf("forged %s to %s", a.id, lan.Host(2).IP()))
	a.waitFor(t, 10*time.Second, "join of bob", joinOf(b))
	b.waitFor(t, 10*time.Second, "join of alice", joinOf(a))
	t.Logf("A and B met %v after B started, with the forger answering for both", time.Since(start).Round(time.Millisecond))
}
