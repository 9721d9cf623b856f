package discovery_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"lanchat/internal/netns"
)

// runAbuser is an mDNS responder that abuses the protocol, run in its own
// namespace with LANCHAT_DISCOVERY_ABUSER=1. It answers every lanchat
// query at once (no delay: it races the real peers) with the packets of
// ABUSE_MODE:
//
//   - "flood": ABUSE_N made-up instances fake0000… with fingerprint
//     ABUSE_FP, at bogus addresses (its own address at port 9, and
//     unspecified, loopback, multicast, broadcast and unrouted ones), about
//     30 to a packet.
//   - "self": the asker's own peer ID ABUSE_ID, with ABUSE_FP, at the
//     abuser's address.
//   - "bigtxt": oversized TXT records: one instance with 200 TXT strings,
//     one whose net= and one whose id= are 250 bytes, one with 29 strings
//     of 250 bytes of padding beside valid fields (7.3 KB, valid), and one
//     datagram of 30 KB holding 120 valid instances jumbo000….
//
// With ABUSE_SOURCES=k it first adds k more addresses to its interface
// (it is root in its own namespace) and sends the packets from all of
// them in turn, as an attacker spoofing source addresses would. It prints
// "ready" once listening, "answered <n> packets" for each query, and runs
// until SIGTERM.
func runAbuser() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "abuser:", err); return 3 }
	ifi, err := net.InterfaceByName(netns.HostIface)
	if err != nil {
		return fail(err)
	}
	self := net.ParseIP(os.Getenv("ABUSE_IP")).To4()
	packets, err := abusePackets(os.Getenv("ABUSE_MODE"), envInt("ABUSE_N", 500), os.Getenv("ABUSE_FP"), os.Getenv("ABUSE_ID"), self)
	if err != nil {
		return fail(err)
	}
	c, err := net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	if err != nil {
		return fail(err)
	}
	// Room for a whole flood in the socket's buffer.
	_ = c.SetWriteBuffer(4 << 20)
	senders := []*net.UDPConn{c}
	for i := range envInt("ABUSE_SOURCES", 0) {
		ip := net.IPv4(self[0], self[1], self[2], byte(100+i))
		if out, err := exec.Command("ip", "addr", "add", ip.String()+"/24", "dev", netns.HostIface).CombinedOutput(); err != nil {
			return fail(fmt.Errorf("add address %v: %v: %s", ip, err, out))
		}
		s, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
		if err != nil {
			return fail(err)
		}
		_ = s.SetWriteBuffer(4 << 20)
		senders = append(senders, s)
	}
	go func() {
		<-ctx.Done()
		for _, s := range senders {
			s.Close()
		}
	}()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	buf := make([]byte, 9000)
	const service = "_lanchat._tcp.local."
	for {
		n, src, err := c.ReadFromUDP(buf)
		if err != nil {
			return 0
		}
		var q dns.Msg
		if q.Unpack(buf[:n]) != nil || q.Response || len(q.Question) == 0 || !strings.EqualFold(q.Question[0].Name, service) {
			continue
		}
		if src.IP.Equal(self) {
			continue
		}
		sent := 0
		for i, p := range packets {
			if _, err := senders[i%len(senders)].WriteToUDP(p, src); err == nil {
				sent++
			}
		}
		fmt.Fprintf(out, "answered %d packets\n", sent)
		out.Flush()
	}
}

// abusePackets builds the answers of runAbuser's mode.
func abusePackets(mode string, n int, fp, id string, self net.IP) ([][]byte, error) {
	const service = "_lanchat._tcp.local."
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: 120}
	}
	instance := func(id string, port uint16, ip net.IP, txt []string) []dns.RR {
		inst, host := id+"."+service, id+".local."
		return []dns.RR{
			&dns.PTR{Hdr: hdr(service, dns.TypePTR), Ptr: inst},
			&dns.SRV{Hdr: hdr(inst, dns.TypeSRV), Priority: 10, Weight: 1, Port: port, Target: host},
			&dns.TXT{Hdr: hdr(inst, dns.TypeTXT), Txt: txt},
			&dns.A{Hdr: hdr(host, dns.TypeA), A: ip},
		}
	}
	pack := func(rrs []dns.RR) ([]byte, error) {
		m := &dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}, Answer: rrs}
		return m.Pack()
	}
	fields := func(id string) []string { return []string{"id=" + id, "v=1", "net=" + fp} }
	var out [][]byte
	add := func(rrs []dns.RR) error {
		b, err := pack(rrs)
		if err == nil {
			out = append(out, b)
		}
		return err
	}
	switch mode {
	case "flood":
		bogus := []net.IP{self, net.IPv4zero, net.IPv4(127, 0, 0, 1), net.IPv4(224, 0, 0, 251),
			net.IPv4bcast, net.IPv4(10, 254, 254, 254)}
		var rrs []dns.RR
		for i := range n {
			id := fmt.Sprintf("fake%04d", i)
			port := uint16(9)
			if i%7 == 6 {
				port = 0 // malformed
			}
			rrs = append(rrs, instance(id, port, bogus[i%len(bogus)], fields(id))...)
			if len(rrs) >= 30*4 || i == n-1 {
				if err := add(rrs); err != nil {
					return nil, err
				}
				rrs = nil
			}
		}
	case "self":
		if err := add(instance(id, 4001, self, fields(id))); err != nil {
			return nil, err
		}
	case "bigtxt":
		many := fields("manyfields")
		for i := range 200 {
			many = append(many, fmt.Sprintf("x%d=y", i))
		}
		pad := fields("bigvalid")
		for i := range 29 { // 32 strings in all: as many as a lanchat answer may have
			pad = append(pad, fmt.Sprintf("pad%02d=%s", i, strings.Repeat("p", 244)))
		}
		for _, rrs := range [][]dns.RR{
			instance("manyfields", 9, self, many),
			instance("longnet", 9, self, []string{"id=longnet", "v=1", "net=" + strings.Repeat("n", 250)}),
			instance("longid", 9, self, []string{"id=" + strings.Repeat("i", 250), "v=1", "net=" + fp}),
			instance("bigvalid", 9, self, pad),
		} {
			if err := add(rrs); err != nil {
				return nil, err
			}
		}
		var jumbo []dns.RR
		for i := range 120 {
			id := fmt.Sprintf("jumbo%03d", i)
			jumbo = append(jumbo, instance(id, 9, self, append(fields(id), "pad="+strings.Repeat("j", 120)))...)
		}
		if err := add(jumbo); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown ABUSE_MODE %q", mode)
	}
	return out, nil
}

// abuser is a running runAbuser process.
type abuser struct {
	answered chan int // packets sent, per query answered
	stderr   lockedBuffer
}

// startAbuser runs the abuser on h in mode, with env settings.
func startAbuser(t *testing.T, h *netns.Host, mode string, env ...string) *abuser {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ab := &abuser{answered: make(chan int, 1024)}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Command(ctx, exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "LANCHAT_DISCOVERY_ABUSER=1", "ABUSE_MODE="+mode,
		"ABUSE_IP="+h.IP().String(), "GORACE=atexit_sleep_ms=0"), env...)
	cmd.Stderr = &ab.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			line := s.Text()
			if line == "ready" {
				close(ready)
				continue
			}
			if v, ok := strings.CutPrefix(line, "answered "); ok {
				n, _ := strconv.Atoi(strings.TrimSuffix(v, " packets"))
				select {
				case ab.answered <- n:
				default:
				}
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("abuser stderr:\n%s", ab.stderr.String())
		}
	})
	select {
	case <-ready:
	case <-done:
		t.Fatalf("abuser exited: %s", ab.stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("abuser did not start: %s", ab.stderr.String())
	}
	return ab
}

// roundStats is what an observer reported over some query rounds.
type roundStats struct {
	found     map[string]int  // peer ID → sightings
	addrs     map[string]bool // every address reported
	queries   int             // "mdns query done" logged
	maxAnswer int             // the most answers one query kept
	dropped   int             // "answers dropped" warnings
	stopped   agentEvent
}

var (
	queryDoneRE = regexp.MustCompile(`msg="mdns query done" .*answers=(\d+)`)
	droppedRE   = regexp.MustCompile(`msg="mdns answers dropped: too many (in one query|from one address)"`)
)

// observe reads a's events until it found peer `until` in `rounds`
// rounds (sightings), or d passed; then stops a and collects the rest,
// with the figures of its log.
func observe(t *testing.T, a *agent, d time.Duration, until string, rounds int) roundStats {
	t.Helper()
	return observeOrder(t, a, d, until, rounds, nil)
}

// observeOrder is observe that also counts, in *first, the rounds whose
// first sighting was of `until`. A round's sightings come together when
// its query ends: one more than 200 ms after the previous one starts a
// new round.
func observeOrder(t *testing.T, a *agent, d time.Duration, until string, rounds int, first *int) roundStats {
	t.Helper()
	var last time.Time
	st := roundStats{found: map[string]int{}, addrs: map[string]bool{}}
	timeout := time.After(d)
	stopping := false
	for {
		select {
		case e, ok := <-a.events:
			if !ok {
				for _, line := range strings.Split(a.stderr.String(), "\n") {
					if m := queryDoneRE.FindStringSubmatch(line); m != nil {
						st.queries++
						n, _ := strconv.Atoi(m[1])
						st.maxAnswer = max(st.maxAnswer, n)
					}
					if droppedRE.MatchString(line) {
						st.dropped++
					}
				}
				return st
			}
			switch e.Ev {
			case "error", "garbage":
				t.Fatalf("agent %s: %s: %s", a.id, e.Ev, e.Err)
			case "found":
				st.found[e.ID]++
				if first != nil && e.at.Sub(last) > 200*time.Millisecond && e.ID == until {
					*first++
				}
				last = e.at
				for _, a := range e.Addrs {
					st.addrs[a] = true
				}
				if !stopping && st.found[until] >= rounds {
					stopping = true
					a.terminate(t)
				}
			case "stopped":
				st.stopped = e
			}
		case <-timeout:
			if !stopping {
				stopping = true
				t.Errorf("agent %s: %s not found %d times within %v (found %d times)", a.id, until, rounds, d, st.found[until])
				a.terminate(t)
			}
			timeout = nil
		}
	}
}

// TestInstanceFlood: a responder answering every query at once with
// hundreds of made-up instances on our network, at bogus addresses. The
// observer must keep at most 64 answers from that responder per query
// (the real peer's answers come on top), keep finding the real peer
// every round, report none of the unusable addresses, and stay small.
func TestInstanceFlood(t *testing.T) {
	for _, n := range []int{500, 2000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			lan := netns.New(t, 3)
			ab := startAbuser(t, lan.Host(3), "flood", fmt.Sprint("ABUSE_N=", n), "ABUSE_FP=net-a")
			real := startAgent(t, lan.Host(1), "real", "net-a", "DA_INTERVAL_MS=500")
			go func() {
				for range real.events { // flooded too; must not block
				}
			}()
			obs := startAgent(t, lan.Host(2), "observer", "net-a", "DA_INTERVAL_MS=500")
			const rounds = 6
			st := observe(t, obs, 30*time.Second, "real", rounds)
			fakes, sightings := 0, 0
			for id, c := range st.found {
				if strings.HasPrefix(id, "fake") {
					fakes++
					sightings += c
				}
			}
			packets := 0
			select {
			case packets = <-ab.answered:
			default:
			}
			t.Logf("%d fake instances (%d packets per answer): %d queries, at most %d answers kept per query, %d \"dropped\" warnings; real peer found %d times; %d fake IDs reported (%d sightings); observer heap %d KiB, peak RSS %d KiB",
				n, packets, st.queries, st.maxAnswer, st.dropped, st.found["real"], fakes, sightings, st.stopped.HeapKB, st.stopped.PeakKB)
			// 64 from the abuser, the real peer's over IPv4 and IPv6, and
			// the observer's own.
			if st.maxAnswer > 64+4 {
				t.Errorf("a query kept %d answers, want at most 64 from the abuser and a few from the real peers", st.maxAnswer)
			}
			for id := range st.found {
				if id != "real" && !strings.HasPrefix(id, "fake") {
					t.Errorf("reported %q, which nobody advertised", id)
				}
			}
			for a := range st.addrs {
				ap, err := netip.ParseAddrPort(a)
				if err != nil || ap.Port() == 0 || ap.Addr().IsUnspecified() || ap.Addr().IsLoopback() ||
					ap.Addr().IsMulticast() || ap.Addr() == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
					t.Errorf("reported the unusable address %s", a)
				}
			}
			// The real peer is found in most queries: the flood's datagrams
			// can cost one of its answers now and then on a loaded machine
			// (the socket's buffer overflows), never most of them.
			if st.found["real"] < rounds || 3*st.found["real"] < 2*st.queries {
				t.Errorf("real peer found %d times in %d queries, want at least two thirds", st.found["real"], st.queries)
			}
			if st.stopped.PeakKB > 96*1024 {
				t.Errorf("observer peak RSS %d KiB, want under 96 MiB", st.stopped.PeakKB)
			}
			if n > 64 && st.dropped == 0 {
				t.Errorf("%d answers per query and no \"answers dropped\" warning", n)
			}
			if st.stopped.Goroutines > st.stopped.Baseline {
				t.Errorf("%d goroutines left after Run, %d before", st.stopped.Goroutines, st.stopped.Baseline)
			}
		})
	}
}

// TestInstanceFloodSpoofed: the flood of 2000 instances comes from 40
// source addresses (50 each, under the per-address bound): at most 1024
// answers are kept per query, the real peer's still among them and
// handed over first (answers of quiet sources go first), so it is found
// in (nearly) every round.
func TestInstanceFloodSpoofed(t *testing.T) {
	lan := netns.New(t, 3)
	startAbuser(t, lan.Host(3), "flood", "ABUSE_N=2000", "ABUSE_FP=net-a", "ABUSE_SOURCES=40")
	real := startAgent(t, lan.Host(1), "real", "net-a", "DA_INTERVAL_MS=500")
	go func() {
		for range real.events { // flooded too; must not block
		}
	}()
	obs := startAgent(t, lan.Host(2), "observer", "net-a", "DA_INTERVAL_MS=500")
	const rounds = 6
	firstOfRound := 0 // rounds whose first report was the real peer
	st := observeOrder(t, obs, 30*time.Second, "real", rounds, &firstOfRound)
	t.Logf("2000 fake instances from 41 addresses: %d queries, at most %d answers kept per query, %d \"dropped\" warnings; real peer found %d times, first of its round %d times; observer heap %d KiB, peak RSS %d KiB",
		st.queries, st.maxAnswer, st.dropped, st.found["real"], firstOfRound, st.stopped.HeapKB, st.stopped.PeakKB)
	if st.maxAnswer > 1024 {
		t.Errorf("a query kept %d answers, want at most 1024", st.maxAnswer)
	}
	if 3*st.found["real"] < 2*st.queries { // see TestInstanceFlood
		t.Errorf("real peer found %d times in %d queries, want at least two thirds", st.found["real"], st.queries)
	}
	if firstOfRound < st.found["real"]-1 {
		t.Errorf("real peer reported first in %d of the %d rounds it was found in, want all", firstOfRound, st.found["real"])
	}
	if st.stopped.PeakKB > 96*1024 {
		t.Errorf("observer peak RSS %d KiB, want under 96 MiB", st.stopped.PeakKB)
	}
}

// TestOwnIDAnswered: a responder that answers for our own peer ID, at its
// address: the observer must never report itself as a peer.
func TestOwnIDAnswered(t *testing.T) {
	lan := netns.New(t, 3)
	startAbuser(t, lan.Host(3), "self", "ABUSE_ID=observer", "ABUSE_FP=net-a")
	startAgent(t, lan.Host(1), "real", "net-a", "DA_INTERVAL_MS=300")
	obs := startAgent(t, lan.Host(2), "observer", "net-a", "DA_INTERVAL_MS=300")
	st := observe(t, obs, 20*time.Second, "real", 5)
	t.Logf("%d queries with our own ID forged: found %v; observer heap %d KiB, peak RSS %d KiB (no flood: the baseline)",
		st.queries, st.found, st.stopped.HeapKB, st.stopped.PeakKB)
	if n := st.found["observer"]; n != 0 {
		t.Errorf("the observer reported itself as a peer %d times", n)
	}
}

// TestOversizedTXT: TXT records far beyond what lanchat sends (200
// strings; 250-byte id= and net=; 7.3 KB of padding) and a 30 KB datagram
// are ignored or bounded (a valid answer with padding is reported, as a
// Peer of a few short fields), and the real peer is still found each
// round.
func TestOversizedTXT(t *testing.T) {
	lan := netns.New(t, 3)
	startAbuser(t, lan.Host(3), "bigtxt", "ABUSE_FP=net-a")
	startAgent(t, lan.Host(1), "real", "net-a", "DA_INTERVAL_MS=300")
	obs := startAgent(t, lan.Host(2), "observer", "net-a", "DA_INTERVAL_MS=300")
	st := observe(t, obs, 20*time.Second, "real", 5)
	jumbo := 0
	for id := range st.found {
		if strings.HasPrefix(id, "jumbo") {
			jumbo++
		}
	}
	t.Logf("%d queries: found %d real, %d bigvalid, %d manyfields, %d longnet, %d longid, %d of 120 jumbo IDs; heap %d KiB",
		st.queries, st.found["real"], st.found["bigvalid"], st.found["manyfields"], st.found["longnet"],
		st.found[strings.Repeat("i", 250)], jumbo, st.stopped.HeapKB)
	for _, id := range []string{"manyfields", "longnet"} {
		if st.found[id] != 0 {
			t.Errorf("%s reported %d times, want ignored", id, st.found[id])
		}
	}
	for id := range st.found {
		if len(id) > 63 {
			t.Errorf("reported a peer ID of %d bytes", len(id))
		}
	}
	if jumbo != 0 {
		t.Errorf("%d instances of a 30 KB datagram reported, want none (read at most 9000 bytes)", jumbo)
	}
}
