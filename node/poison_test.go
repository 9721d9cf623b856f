package node

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Attack 1 of issue 10, "mDNS poisoning without the key": discovery's
// answers are not authenticated, so anyone on the LAN can advertise B's
// peer ID at an address where B is not. These tests feed such addresses to
// real hosts on loopback and check that A still meets B.

// deadAddrs are addresses where no lanchat peer answers, of the kinds an
// attacker can set up: a closed port, a listener that closes at once, one
// that speaks garbage, and one that accepts and says nothing (a dial to it
// hangs until its timeout). They are closed when the test ends.
func deadAddrs(t *testing.T) map[string]netip.AddrPort {
	t.Helper()
	out := map[string]netip.AddrPort{}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out["closed port"] = l.Addr().(*net.TCPAddr).AddrPort()
	l.Close()

	serve := func(name string, handle func(net.Conn)) {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out[name] = l.Addr().(*net.TCPAddr).AddrPort()
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			conns  []net.Conn
			closed bool
		)
		t.Cleanup(func() {
			l.Close()
			mu.Lock()
			closed = true
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
		wg.Go(func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				if closed {
					mu.Unlock()
					c.Close()
					return
				}
				conns = append(conns, c)
				wg.Go(func() { handle(c) })
				mu.Unlock()
			}
		})
	}
	serve("accept and close", func(c net.Conn) { c.Close() })
	serve("garbage", func(c net.Conn) {
		c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n\x00\xff\xfe garbage"))
		c.Close()
	})
	serve("silent", func(c net.Conn) {
		// Hold the connection open, say nothing; read until closed.
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	return out
}

// connectedTo returns a channel closed once tn has a connection to p.
func connectedTo(tn *testNode, p peer.ID) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	n := &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if c.RemotePeer() == p {
			once.Do(func() { close(ch) })
		}
	}}
	tn.host.Network().Notify(n)
	tn.t.Cleanup(func() { tn.host.Network().StopNotify(n) })
	if tn.connected(p) {
		once.Do(func() { close(ch) })
	}
	return ch
}

// TestPoisonedDiscovery runs A's Dialer while an attacker keeps
// advertising B's peer ID at a dead address: before B's real answer in
// every round, together with it, or alone for a while before B answers at
// all. A must meet B within a few seconds every time.
func TestPoisonedDiscovery(t *testing.T) {
	t.Parallel()
	dead := deadAddrs(t)
	orders := []string{"dead first", "together", "dead alone first"}
	for name, bad := range dead {
		for _, order := range orders {
			t.Run(name+"/"+order, func(t *testing.T) {
				t.Parallel()
				a := startHost(t, testConfig("alice"))
				b := startHost(t, testConfig("bob"))
				real := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(b.Info().Port))
				met := connectedTo(a, b.self)
				d := newDialer(a.Host, a.log)
				runDialer(t, d)

				start := time.Now()
				// The attacker answers every 50 ms (faster than any real
				// query round), B only from round 10 on in "dead alone first".
				tick := time.NewTicker(50 * time.Millisecond)
				defer tick.Stop()
				timeout := time.After(5 * time.Second)
				for round := 0; ; round++ {
					switch {
					case order == "together":
						d.Found(b.id(), ProtocolVersion, []netip.AddrPort{bad, real})
					case order == "dead alone first" && round < 10:
						d.Found(b.id(), ProtocolVersion, []netip.AddrPort{bad})
					default:
						d.Found(b.id(), ProtocolVersion, []netip.AddrPort{bad})
						d.Found(b.id(), ProtocolVersion, []netip.AddrPort{real})
					}
					select {
					case <-met:
						t.Logf("%s, %s: connected after %v (round %d)", name, order, time.Since(start).Round(time.Millisecond), round)
						return
					case <-timeout:
						t.Fatalf("A did not connect to B within 5 s while %s (%v) was advertised for B", name, bad)
					case <-tick.C:
					}
				}
			})
		}
	}
}

// TestDialPoisonedAddr drives Host.Dial as the Dialer does: a failed dial
// at a dead address advertised for B must not back B off for B's real
// address, and once B was reached, a later dial with only the dead address
// in hand still reaches B where it answered before.
func TestDialPoisonedAddr(t *testing.T) {
	t.Parallel()
	a := startHost(t, testConfig("alice"))
	b := startHost(t, testConfig("bob"))
	closed := deadAddrs(t)["closed port"]
	real := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(b.Info().Port))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := a.Dial(ctx, b.id(), []netip.AddrPort{closed}); err == nil {
		t.Fatalf("Dial at a closed port = nil, want an error")
	}
	for range 3 { // the attacker repeats its answer: backed off, no dial
		if err := a.Dial(ctx, b.id(), []netip.AddrPort{closed}); err != nil {
			t.Errorf("Dial at the closed port again = %v, want nil (backing off)", err)
		}
	}
	if err := a.Dial(ctx, b.id(), []netip.AddrPort{real}); err != nil {
		t.Fatalf("Dial at B's real address after a poisoned one = %v", err)
	}
	if !a.connected(b.self) {
		t.Fatal("Dial at B's real address returned nil but A is not connected to B (backed off?)")
	}

	// The link drops; the attacker's answer is all A hears now.
	if err := a.host.Network().ClosePeer(b.self); err != nil {
		t.Fatal(err)
	}
	if a.connected(b.self) {
		t.Fatal("still connected after ClosePeer")
	}
	if err := a.Dial(ctx, b.id(), []netip.AddrPort{closed}); err != nil {
		t.Fatalf("Dial with only the dead address after B was reached = %v, want B reached where it answered", err)
	}
	if !a.connected(b.self) {
		t.Error("not connected to B: the address where B answered was not dialled")
	}
}
