package node

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// Attack 4 of issue 10, "stream and connection exhaustion": a peer with
// the key that opens streams it never negotiates, and anyone on the LAN
// that holds TCP connections open without a handshake, must not keep
// newcomers out or slow down the members already talking. These tests
// run real hosts on loopback; the attackers are raw libp2p hosts and raw
// TCP sockets.

// unlimitedHost is a raw libp2p host with the key and no resource limits
// of its own, so that it can open as many streams as it likes.
func unlimitedHost(t *testing.T, psk []byte) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.PrivateNetwork(psk),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// holdStreams keeps n streams open from atk to the peer ai, on its
// connection to it, that never negotiate a protocol: each is a bare yamux
// stream without the multistream header. A stream the node resets is
// opened again (after 100 ms); a connection the node closes is dialled
// again at once. It returns how many streams the node refused or reset
// and how many times it closed the connection so far, and a stop func
// that waits for the goroutines.
func holdStreams(atk host.Host, ai peer.AddrInfo, n int) (resets, drops *atomic.Int64, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	resets, drops = new(atomic.Int64), new(atomic.Int64)
	var (
		mu   sync.Mutex
		last network.Conn
	)
	// conn returns the attacker's connection to ai, dialling when there
	// is none.
	conn := func() network.Conn {
		mu.Lock()
		defer mu.Unlock()
		if last != nil && !last.IsClosed() {
			return last
		}
		if last != nil {
			drops.Add(1)
		}
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		defer dcancel()
		if err := atk.Connect(dctx, ai); err != nil {
			return nil
		}
		if cs := atk.Network().ConnsToPeer(ai.ID); len(cs) > 0 {
			last = cs[0]
		}
		return last
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			buf := make([]byte, 1)
			for ctx.Err() == nil {
				c := conn()
				if c == nil {
					continue
				}
				s, err := c.NewStream(ctx)
				if err != nil {
					continue
				}
				stopped := context.AfterFunc(ctx, func() { s.Reset() })
				// The node's multistream header comes back; the stream
				// then waits until the node gives up on it.
				for err == nil {
					_, err = s.Read(buf)
				}
				stopped()
				s.Reset()
				if ctx.Err() == nil {
					resets.Add(1)
					time.Sleep(100 * time.Millisecond) // retry pacing, not synchronisation
				}
			}
		})
	}
	return resets, drops, func() { cancel(); wg.Wait() }
}

// transientStreams returns the inbound streams in the host's transient
// scope (streams not yet negotiated), and those of peer p.
func transientStreams(tn *testNode, p peer.ID) (transient, ofPeer int) {
	rm := tn.host.Network().ResourceManager()
	rm.ViewTransient(func(s network.ResourceScope) error {
		transient = s.Stat().NumStreamsInbound
		return nil
	})
	rm.ViewPeer(p, func(s network.PeerScope) error {
		ofPeer = s.Stat().NumStreamsInbound
		return nil
	})
	return transient, ofPeer
}

// latencies sends lines from one member to another, one at a time, and
// returns how long each took to arrive. It fails the test when one does
// not arrive within each.
func latencies(t *testing.T, from, to *testNode, n int, each time.Duration, tag string) []time.Duration {
	t.Helper()
	// A member's first lines after it meets another can take a heartbeat
	// (the mesh forms then): one unmeasured line first.
	warm := tag + " warm-up"
	if err := from.Send(warm); err != nil {
		t.Fatalf("%s: Send(%q) = %v", from.name, warm, err)
	}
	to.wait(5*time.Second, "line "+warm, isMessage(warm))
	t.Helper()
	var out []time.Duration
	for i := range n {
		text := fmt.Sprintf("%s line %d", tag, i)
		start := time.Now()
		if err := from.Send(text); err != nil {
			t.Fatalf("%s: Send(%q) = %v", from.name, text, err)
		}
		to.wait(each, "line "+text, isMessage(text))
		out = append(out, time.Since(start))
	}
	return out
}

// p99max returns the 99th percentile and the maximum of ds.
func p99max(ds []time.Duration) (p99, maxd time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1], s[len(s)-1]
}

// TestStreamExhaustion: a peer with the key that holds 600 unnegotiated
// streams on one connection (more than libp2p's default transient limit
// of ~500 inbound streams on this kind of machine) keeps neither a
// newcomer out of the room nor the members' lines from flowing.
func TestStreamExhaustion(t *testing.T) {
	t.Parallel()
	psk, _ := GenerateKey()
	cfg := testConfig("alice")
	cfg.PSK = psk
	a := startNode(t, cfg)
	cfg = testConfig("carol")
	cfg.PSK = psk
	c := startNode(t, cfg)
	c.connect(a)
	waitKnown(5*time.Second, a, c)
	bp99, bmax := p99max(latencies(t, c, a, 20, 2*time.Second, "before the attack"))
	t.Logf("carol → alice before the attack: p99 %v, max %v (20 lines)", bp99, bmax)

	atk := unlimitedHost(t, psk)
	ai, err := peer.AddrInfoFromString(a.addr())
	if err != nil {
		t.Fatal(err)
	}
	const streams = 600
	resets, drops, stop := holdStreams(atk, *ai, streams)
	defer stop()

	// Wait until the attack has taken all the node will give it: every
	// stream held, or refusals enough that every opener was refused.
	deadline := time.Now().Add(5 * time.Second)
	var held, transient int
	for time.Now().Before(deadline) {
		_, held = transientStreams(a, atk.ID())
		if held >= streams || resets.Load() >= streams {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling the node's counters: there is no event for them
	}
	transient, held = transientStreams(a, atk.ID())
	t.Logf("attack: %d streams asked, %d held by the attacker, %d transient inbound, %d refused or reset, connection closed by the node %d times so far",
		streams, held, transient, resets.Load(), drops.Load())

	// The members already in the room still talk.
	lat := latencies(t, c, a, 20, 2*time.Second, "during stream attack")
	p99, maxd := p99max(lat)
	t.Logf("carol → alice during the attack: p99 %v, max %v (20 lines)", p99, maxd)

	// A newcomer joins and hears a line.
	cfg = testConfig("bob")
	cfg.PSK = psk
	start := time.Now()
	b := startNode(t, cfg)
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	if err := a.Send("welcome bob"); err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "alice's line", isMessage("welcome bob"))
	t.Logf("newcomer joined and heard a line after %v", time.Since(start))

	if _, held = transientStreams(a, atk.ID()); held > maxPeerStreamsIn {
		t.Errorf("the attacker holds %d inbound streams, want at most %d", held, maxPeerStreamsIn)
	}
}

// holdTCP keeps n TCP connections open to addr, without a handshake: each
// sends nothing (or, for every fourth, a few bytes of garbage) and waits
// for the node to close it, then connects again. closed counts the
// connections the node closed; held is the longest the node let a silent
// one live. stop waits for the goroutines.
func holdTCP(addr string, n int) (closed, held *atomic.Int64, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	closed, held = new(atomic.Int64), new(atomic.Int64)
	var wg sync.WaitGroup
	var d net.Dialer
	for i := range n {
		wg.Go(func() {
			buf := make([]byte, 64)
			for ctx.Err() == nil {
				conn, err := d.DialContext(ctx, "tcp4", addr)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					time.Sleep(10 * time.Millisecond) // retry pacing, not synchronisation
					continue
				}
				opened := time.Now()
				stopped := context.AfterFunc(ctx, func() { conn.Close() })
				silent := i%4 != 3
				if !silent {
					conn.Write([]byte("\x13/multistream/1.0.0\n"))
				}
				for {
					if _, err := conn.Read(buf); err != nil {
						break
					}
				}
				if stopped() {
					closed.Add(1)
					if d := int64(time.Since(opened)); silent && d > held.Load() {
						held.Store(d) // racy max, good enough for a report
					}
				}
				conn.Close()
			}
		})
	}
	return closed, held, func() { cancel(); wg.Wait() }
}

// TestHalfOpenExhaustion: 120 TCP connections that never start a
// handshake (more than libp2p's default transient limit of ~80 inbound
// connections on this kind of machine) keep neither a newcomer with the
// key from connecting within 2 s nor the members' lines from flowing.
func TestHalfOpenExhaustion(t *testing.T) {
	t.Parallel()
	psk, _ := GenerateKey()
	cfg := testConfig("alice")
	cfg.PSK = psk
	a := startNode(t, cfg)
	cfg = testConfig("carol")
	cfg.PSK = psk
	c := startNode(t, cfg)
	c.connect(a)
	waitKnown(5*time.Second, a, c)
	bp99, bmax := p99max(latencies(t, c, a, 20, 2*time.Second, "before the attack"))
	t.Logf("carol → alice before the attack: p99 %v, max %v (20 lines)", bp99, bmax)

	const conns = 120
	attackStart := time.Now()
	closed, held, stop := holdTCP(fmt.Sprintf("127.0.0.1:%d", a.Info().Port), conns)
	defer stop()
	// Wait until the node has taken the connections in (or refused some).
	deadline := time.Now().Add(5 * time.Second)
	inbound := 0
	for time.Now().Before(deadline) {
		a.host.Network().ResourceManager().ViewTransient(func(s network.ResourceScope) error {
			inbound = s.Stat().NumConnsInbound
			return nil
		})
		if inbound >= conns || closed.Load() > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling the node's counters: there is no event for them
	}
	t.Logf("attack: %d half-open connections, %d in the transient scope, %d closed by the node so far",
		conns, inbound, closed.Load())

	lat := latencies(t, c, a, 20, 2*time.Second, "during half-open attack")
	p99, maxd := p99max(lat)
	t.Logf("carol → alice during the attack: p99 %v, max %v (20 lines)", p99, maxd)

	// A newcomer connects as its dialer would: again after a failure.
	cfg = testConfig("bob")
	cfg.PSK = psk
	b := startNode(t, cfg)
	start := time.Now()
	var lastErr error
	tries := 0
	for time.Since(start) < 20*time.Second {
		tries++
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		lastErr = b.Connect(ctx, a.addr())
		cancel()
		if lastErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // retry pacing, as a dialer's backoff
	}
	took := time.Since(start)
	t.Logf("newcomer connected after %v (%d tries; last error %v)", took, tries, lastErr)
	if lastErr != nil || took > 2*time.Second {
		t.Errorf("newcomer connected after %v (%d tries, last error %v), want within 2s", took, tries, lastErr)
	}
	waitKnown(5*time.Second, a, b)

	// The node closes a connection that says nothing within
	// handshakeTimeout (libp2p's default: 15 s).
	for held.Load() == 0 && time.Since(attackStart) < 20*time.Second {
		time.Sleep(50 * time.Millisecond) // polling the attacker's counter
	}
	h := time.Duration(held.Load())
	t.Logf("the node closed a silent connection after %v (%d closed in all)", h, closed.Load())
	if h == 0 || h > handshakeTimeout+time.Second {
		t.Errorf("the node closed a silent connection after %v, want within %v", h, handshakeTimeout+time.Second)
	}
}

// TestResourceLimits checks the resource manager's limits without a
// network: a room of 250 members fits, one peer's unnegotiated streams and
// one address's connections are bounded, and IPv6 peers of one LAN prefix
// are not counted as one.
func TestResourceLimits(t *testing.T) {
	t.Parallel()
	rm, err := newResourceManager()
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()

	type opened struct {
		conn    network.ConnManagementScope
		streams []network.StreamManagementScope
	}
	var all []opened
	defer func() {
		for _, o := range all {
			for _, s := range o.streams {
				s.Done()
			}
			o.conn.Done()
		}
	}()
	// 250 members, half over IPv4 and half over IPv6 link-local (one
	// prefix for the whole LAN), each with one connection and the streams
	// of a member: pubsub both ways, identify, an ack.
	const members = 250
	for i := range members {
		addr := fmt.Sprintf("/ip4/192.168.%d.%d/tcp/4001", i/200, 1+i%200)
		if i%2 == 1 {
			addr = fmt.Sprintf("/ip6/fe80::%x/tcp/4001", 1+i)
		}
		dir := network.DirInbound
		if i%3 == 0 {
			dir = network.DirOutbound
		}
		c, err := rm.OpenConnection(dir, true, ma.StringCast(addr))
		if err != nil {
			t.Fatalf("member %d (%s): OpenConnection = %v", i, addr, err)
		}
		o := opened{conn: c}
		all = append(all, o)
		p := peer.ID(fmt.Sprintf("member-%d", i))
		if err := c.SetPeer(p); err != nil {
			t.Fatalf("member %d: SetPeer = %v", i, err)
		}
		for _, st := range []struct {
			dir   network.Direction
			proto protocol.ID
		}{
			{network.DirInbound, pubsub.GossipSubID_v12},
			{network.DirOutbound, pubsub.GossipSubID_v12},
			{network.DirInbound, identify.ID},
			{network.DirOutbound, identify.ID},
			{network.DirInbound, ackProtocol},
			{network.DirInbound, syncProtocol},
		} {
			s, err := rm.OpenStream(p, st.dir)
			if err != nil {
				t.Fatalf("member %d: OpenStream(%s) = %v", i, st.proto, err)
			}
			all[len(all)-1].streams = append(all[len(all)-1].streams, s)
			if err := s.SetProtocol(st.proto); err != nil {
				t.Fatalf("member %d: SetProtocol(%s) = %v", i, st.proto, err)
			}
		}
	}

	// One peer's unnegotiated streams stop at maxPeerStreamsIn, far
	// below the transient scope's.
	p := peer.ID("member-0")
	n := 0
	for ; n < 10*maxPeerStreamsIn; n++ {
		s, err := rm.OpenStream(p, network.DirInbound)
		if err != nil {
			break
		}
		defer s.Done()
	}
	// member-0 holds 4 inbound streams already.
	if want := maxPeerStreamsIn - 4; n != want {
		t.Errorf("one peer opened %d more unnegotiated inbound streams, want %d", n, want)
	}
	if maxPeerStreamsIn*16 > maxStreamsUnneg {
		t.Errorf("maxPeerStreamsIn %d is more than 1/16 of the transient %d", maxPeerStreamsIn, maxStreamsUnneg)
	}

	// One address: maxConnsPerAddr connections at once, for IPv4 and IPv6.
	for _, addr := range []string{"/ip4/192.168.7.7/tcp/1234", "/ip6/fe80::77/tcp/1234"} {
		n := 0
		for ; n < 4*maxConnsPerAddr; n++ {
			c, err := rm.OpenConnection(network.DirInbound, true, ma.StringCast(addr))
			if err != nil {
				break
			}
			defer c.Done()
		}
		if n != maxConnsPerAddr {
			t.Errorf("%s: %d connections at once, want %d", addr, n, maxConnsPerAddr)
		}
	}
}

// TestUnnegotiatedStreamReset: a stream that never names its protocol is
// reset after negotiationTimeout, not libp2p's 10 s, freeing its slot.
func TestUnnegotiatedStreamReset(t *testing.T) {
	t.Parallel()
	psk, _ := GenerateKey()
	cfg := testConfig("alice")
	cfg.PSK = psk
	a := startNode(t, cfg)
	atk := unlimitedHost(t, psk)
	ai, err := peer.AddrInfoFromString(a.addr())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := atk.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	c := atk.Network().ConnsToPeer(ai.ID)[0]
	s, err := c.NewStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	context.AfterFunc(ctx, func() { s.Reset() })
	start := time.Now()
	buf := make([]byte, 64)
	for err == nil {
		_, err = s.Read(buf) // the node's multistream header, then the reset
	}
	took := time.Since(start)
	t.Logf("unnegotiated stream reset after %v (%v)", took.Round(time.Millisecond), err)
	if ctx.Err() != nil || took > negotiationTimeout+2*time.Second {
		t.Errorf("stream reset after %v, want about %v", took, negotiationTimeout)
	}
}
