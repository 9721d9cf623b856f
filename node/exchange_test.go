package node

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"lanchat/node/peerwire"
)

// waitConnected waits up to d until a is directly connected to b.
func waitConnected(t *testing.T, d time.Duration, a, b *testNode) time.Duration {
	t.Helper()
	start := time.Now()
	for !a.connected(b.self) {
		if time.Since(start) > d {
			t.Fatalf("%s is not connected to %s after %v", a.name, b.name, d)
		}
		time.Sleep(10 * time.Millisecond) // connectedness has no event to wait on here
	}
	return time.Since(start)
}

// TestExchangeMeetsRoom: alice and bob are connected; carol connects to
// alice only, and is told of bob, and bob of carol: all three end up
// connected directly, and in one room.
func TestExchangeMeetsRoom(t *testing.T) {
	t.Parallel()
	a, b := startPair(t)
	c := startNode(t, testConfig("carol"))
	start := time.Now()
	c.connect(a)
	waitConnected(t, 5*time.Second, c, b)
	waitConnected(t, 5*time.Second, b, c)
	waitKnown(5*time.Second, a, b, c)
	t.Logf("carol connected to alice, met bob directly %v later", time.Since(start).Round(time.Millisecond))
}

// TestExchangeChain: a chain of five, each connected to the next only,
// becomes a full mesh: every node is told of the peers of its peers, as
// they come, within the pace.
func TestExchangeChain(t *testing.T) {
	t.Parallel()
	var nodes []*testNode
	for _, nick := range []string{"n1", "n2", "n3", "n4", "n5"} {
		nodes = append(nodes, startNode(t, testConfig(nick)))
	}
	start := time.Now()
	for i := 1; i < len(nodes); i++ {
		nodes[i].connect(nodes[i-1])
	}
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			waitConnected(t, 10*time.Second, a, b)
		}
	}
	t.Logf("a chain of %d became a full mesh in %v", len(nodes), time.Since(start).Round(time.Millisecond))
	// At rest, nothing is sent: what is left to tell goes within a pace
	// or two, then no frame at all.
	frames := func() (n uint64) {
		for _, tn := range nodes {
			n += tn.x.frames.Load()
		}
		return n
	}
	time.Sleep(2 * exchangePace) // measuring that nothing happens: there is no event to wait for
	before := frames()
	time.Sleep(2 * exchangePace)
	if after := frames(); after != before {
		t.Errorf("a mesh at rest sent %d frames in %v, want none", after-before, 2*exchangePace)
	}
	t.Logf("%d frames in all to build the mesh", before)
}

// TestExchangeOneConnection: spokes that connect to a hub together are
// told of each other at once; of each pair only one dials (the lower peer
// ID; the other yields), so a pair has one connection, not two.
func TestExchangeOneConnection(t *testing.T) {
	t.Parallel()
	hub := startNode(t, testConfig("hub"))
	var spokes []*testNode
	for i := range 5 {
		spokes = append(spokes, startNode(t, testConfig(fmt.Sprintf("spoke%d", i))))
	}
	var wg sync.WaitGroup
	for _, s := range spokes {
		wg.Go(func() { s.connect(hub) })
	}
	wg.Wait()
	for i, a := range spokes {
		for _, b := range spokes[i+1:] {
			waitConnected(t, 10*time.Second, a, b)
		}
	}
	time.Sleep(2 * exchangeYield) // the yielding side's dials, if any, are done: no event says so
	doubled := 0
	for i, a := range spokes {
		for _, b := range spokes[i+1:] {
			if len(a.host.Network().ConnsToPeer(b.self)) > 1 {
				doubled++
			}
		}
	}
	t.Logf("%d of 10 pairs of spokes have two connections", doubled)
	// A pair may still have two when a dial took longer than
	// exchangeYield: on a loaded machine, and under the race detector
	// (whose handshakes on 2 busy cores took seconds: 5 of 10 pairs), it
	// is only told.
	if doubled > 2 && !raceOn {
		t.Errorf("%d of 10 pairs of spokes have two connections, want (nearly) none", doubled)
	}
}

// sendFrame opens a stream of peersProtocol from a to b and writes raw;
// it returns whether b read it to the end (the stream was closed, not
// reset).
func sendFrame(t *testing.T, a, b *testNode, raw []byte) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := a.host.NewStream(network.WithNoDial(ctx, "test"), b.self, peersProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := s.Write(raw); err != nil {
		return false
	}
	s.CloseWrite()
	_, err = bufio.NewReader(s).ReadByte()
	return err != nil && err.Error() == "EOF"
}

// TestExchangeLoopbackRule: the loopback address of a peer told of over
// a loopback connection is dialled (the peer runs on this machine); over
// any other connection it would not be.
func TestExchangeLoopbackRule(t *testing.T) {
	for _, tc := range []struct {
		ap   string
		loop bool
		want bool
	}{
		{"127.0.0.1:4001", true, true},
		{"127.0.0.1:4001", false, false},
		{"[::1]:4001", false, false},
		{"10.0.0.1:4001", false, true},
		{"10.0.0.1:4001", true, true},
		{"[fd00::1]:4001", false, true},
		{"[fe80::1]:4001", false, false},
		{"169.254.1.1:4001", false, false},
		{"0.0.0.0:4001", true, false},
		{"224.0.0.251:5353", false, false},
		{"10.0.0.1:0", false, false},
	} {
		if got := dialable(netip.MustParseAddrPort(tc.ap), tc.loop); got != tc.want {
			t.Errorf("dialable(%s, loopback %v) = %v, want %v", tc.ap, tc.loop, got, tc.want)
		}
	}
}

// TestExchangeBounds: a frame of another type and a malformed one are
// reset; peers told of in a good one are dialled, their loopback
// addresses only because the sender is on loopback.
func TestExchangeBounds(t *testing.T) {
	t.Parallel()
	a, b := startPair(t)
	c := startNode(t, testConfig("carol"))
	cAddr := loopAddr(t, c)
	good, err := peerwire.AppendPeers(nil, []peerwire.Peer{{ID: string(c.self), Addrs: []netip.AddrPort{cAddr}}})
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{}, good...)
	bad[1] = 2 // another type
	if sendFrame(t, a, b, bad) {
		t.Error("a frame of an unknown type was read without a reset")
	}
	if sendFrame(t, a, b, []byte{3, 1, 1, 0}) {
		t.Error("a malformed frame was read without a reset")
	}
	if !sendFrame(t, a, b, good) {
		t.Fatal("a good frame was reset")
	}
	waitConnected(t, 5*time.Second, b, c)
}

// TestExchangeRetry: a peer told of that cannot be reached yet (not
// started) is dialled again, and met once it is up, though nobody tells
// of it again.
func TestExchangeRetry(t *testing.T) {
	t.Parallel()
	a, b := startPair(t)
	dir := t.TempDir()
	idPath := filepath.Join(dir, "carol.key")
	key, err := createKey(idPath)
	if err != nil {
		t.Fatal(err)
	}
	cid, _ := peer.IDFromPrivateKey(key)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(l.Addr().String())
	l.Close() // free again: nobody listens there until carol does
	frame, err := peerwire.AppendPeers(nil, []peerwire.Peer{{ID: string(cid), Addrs: []netip.AddrPort{ap}}})
	if err != nil {
		t.Fatal(err)
	}
	if !sendFrame(t, a, b, frame) {
		t.Fatal("a good frame was reset")
	}
	// Bob's first dial fails: nobody there yet. No event says so; his
	// backoff for carol does.
	failed := func() bool {
		b.dialMu.Lock()
		defer b.dialMu.Unlock()
		bo := b.backoffs[cid]
		return bo != nil && bo.delay > 0
	}
	for start := time.Now(); !failed(); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("bob did not try to dial carol")
		}
	}
	cfg := testConfig("carol")
	cfg.IdentityPath = idPath
	cfg.ListenAddrs = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", ap.Port())}
	c := startNode(t, cfg)
	if c.self != cid {
		t.Fatalf("carol is %s, want %s", c.self, cid)
	}
	d := waitConnected(t, 3*exchangeRetry+backoffMax, b, c)
	t.Logf("bob met carol %v after she started", d.Round(time.Millisecond))
}

// TestExchangeAllowance: a sender gets exchangeBurst frames at once, then
// one per exchangeEvery; each sender its own.
func TestExchangeAllowance(t *testing.T) {
	x := newExchange(nil)
	p, q := newPeerID(t), newPeerID(t)
	allowed := 0
	for range exchangeBurst + 3 {
		if x.allow(p) {
			allowed++
		}
	}
	if allowed != exchangeBurst {
		t.Errorf("%d of %d frames at once allowed, want %d", allowed, exchangeBurst+3, exchangeBurst)
	}
	if !x.allow(q) {
		t.Error("another sender is refused while the first has used its allowance")
	}
}

// loopAddr returns tn's loopback address.
func loopAddr(t *testing.T, tn *testNode) netip.AddrPort {
	t.Helper()
	ai, err := peer.AddrInfoFromString(tn.addr())
	if err != nil {
		t.Fatal(err)
	}
	ap, ok := multiaddrAddrPort(ai.Addrs[0])
	if !ok {
		t.Fatalf("no TCP address in %s", tn.addr())
	}
	return ap
}

// TestExchangeStreamLimit: one peer holds at most 2 inbound streams of
// peer exchange (its resource-manager row), whatever it opens.
func TestExchangeStreamLimit(t *testing.T) {
	rm, err := newResourceManager()
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	c, err := rm.OpenConnection(network.DirInbound, true, ma.StringCast("/ip4/10.0.0.1/tcp/4001"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Done()
	p := peer.ID("member")
	if err := c.SetPeer(p); err != nil {
		t.Fatal(err)
	}
	held := 0
	for range 10 {
		s, err := rm.OpenStream(p, network.DirInbound)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetProtocol(peersProtocol); err != nil {
			s.Done()
			continue
		}
		defer s.Done()
		held++
	}
	if held != 2 {
		t.Errorf("one peer holds %d inbound peer-exchange streams, want 2", held)
	}
}
