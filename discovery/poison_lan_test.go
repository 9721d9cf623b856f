package discovery_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"

	"lanchat/discovery"
	"lanchat/internal/netns"
)

// runForger is the attacker of issue 10's attack 1, run in its own
// namespace with LANCHAT_DISCOVERY_FORGER=1: it answers every lanchat
// query, FORGE_DELAY_MS after it (so that its answer comes after the real
// peer's), for the peer ID FORGE_ID with fingerprint FORGE_FP at its own
// address and port 9, where nothing listens. It needs no key: the
// fingerprint is in every real answer. It prints "ready" once listening
// and runs until SIGTERM.
func runForger() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "forger:", err); return 3 }
	ifi, err := net.InterfaceByName(netns.HostIface)
	if err != nil {
		return fail(err)
	}
	id := os.Getenv("FORGE_ID")
	zone, err := mdns.NewMDNSService(id, discovery.DefaultService, "local.", id+".local.", 9,
		[]net.IP{net.ParseIP(os.Getenv("FORGE_IP"))}, []string{"id=" + id, "v=2", "net=" + os.Getenv("FORGE_FP")})
	if err != nil {
		return fail(err)
	}
	c, err := net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	if err != nil {
		return fail(err)
	}
	go func() { <-ctx.Done(); c.Close() }()
	delay := time.Duration(envInt("FORGE_DELAY_MS", 50)) * time.Millisecond
	fmt.Println("ready")
	buf := make([]byte, 9000)
	for {
		n, src, err := c.ReadFromUDP(buf)
		if err != nil {
			return 0
		}
		var q dns.Msg
		if q.Unpack(buf[:n]) != nil || q.Response || len(q.Question) == 0 {
			continue
		}
		var recs []dns.RR
		for _, qq := range q.Question {
			recs = append(recs, zone.Records(qq)...)
		}
		if len(recs) == 0 {
			continue
		}
		resp := &dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}, Answer: recs}
		out, err := resp.Pack()
		if err != nil {
			return fail(err)
		}
		time.AfterFunc(delay, func() { _, _ = c.WriteToUDP(out, src) })
	}
}

// startForger runs the forger on h, answering for id.
func startForger(t *testing.T, h *netns.Host, id, fp string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Command(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "LANCHAT_DISCOVERY_FORGER=1", "FORGE_ID="+id, "FORGE_FP="+fp,
		"FORGE_IP="+h.IP().String(), "GORACE=atexit_sleep_ms=0")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 6)
		_, err := stdout.Read(b)
		if err == nil && string(b) != "ready\n" {
			err = fmt.Errorf("printed %q", b)
		}
		ready <- err
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("forger stderr:\n%s", stderr.String())
		}
	})
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("forger: %v: %s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("forger did not start: %s", stderr.String())
	}
}

// TestForgedAnswer: an attacker without the key answers every query for
// the victim's peer ID at a dead address, after the victim does. The
// observer must still be told the victim's real address in every round,
// beside the forged one — never only the forged one.
func TestForgedAnswer(t *testing.T) {
	lan := netns.New(t, 3)
	victim := startAgent(t, lan.Host(1), "victim", "net-a")
	startForger(t, lan.Host(3), "victim", "net-a")
	obs := startAgent(t, lan.Host(2), "observer", "net-a", "DA_INTERVAL_MS=300")
	<-victim.running

	real := []string{lan.Host(1).IP().String() + ":4001", "[" + lan.Host(1).IP6().String() + "]:4002"}
	forged := lan.Host(3).IP().String() + ":9"
	realSeen, forgedSeen := 0, 0
	start := time.Now()
	obs.waitFor(t, 10*time.Second, "the victim's real address in 5 rounds and the forged one", func(e agentEvent) bool {
		if e.Ev != "found" || e.ID != "victim" {
			return false
		}
		switch {
		case slices.Equal(e.Addrs, real):
			realSeen++
		case slices.Equal(e.Addrs, []string{forged}):
			forgedSeen++
		default:
			t.Errorf("observer found the victim at %v: neither the real %v nor the forged %v (answers merged?)", e.Addrs, real, forged)
		}
		return realSeen >= 5 && forgedSeen >= 1
	})
	t.Logf("real address reported %d times, forged %d, in %v", realSeen, forgedSeen, time.Since(start).Round(time.Millisecond))
	if forgedSeen > realSeen+1 {
		t.Errorf("forged answer reported %d times, real %d: some rounds lost the real one", forgedSeen, realSeen)
	}
}
