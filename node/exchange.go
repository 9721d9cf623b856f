package node

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/time/rate"

	"lanchat/node/peerwire"
)

// Peer exchange.
//
// mDNS finds the peers of one multicast domain only. So every node tells
// each lanchat peer it is connected to of the other lanchat peers it is
// connected to, with the addresses they listen on, and dials those it is
// told of through its [Dialer], like peers discovery finds: one --peer
// across a router (or one peer remembered from an earlier run) is enough
// to meet a whole room, and every node then connects to the members it
// can reach directly.
//
// The telling is a stream of peersProtocol that carries one frame of
// [lanchat/node/peerwire] and is closed, opened only over a connection
// there is (never dialled for), hence only between peers of the private
// network. A lanchat peer is one whose identify lists peersProtocol; only
// those are told, and told of. A peer is told, at once, every peer there
// is when it is identified, and after that the peers identified since it
// was last told (their addresses may have changed too), at most once per
// exchangePace: a room of n members at rest costs nothing, and a newcomer
// costs each member one small frame to each of the others. At most
// exchangeSenders frames are in flight; one that fails is tried again
// after exchangePace, twice.
//
// A peer's addresses are the remote address of an outbound connection to
// it (where it answered with its identity) and the listen addresses its
// identify gave, TCP only, at most [peerwire.MaxAddrs], never unspecified,
// multicast or link-local ones (a link-local address means nothing on
// another link, and the peers of one link find each other by mDNS), and
// loopback ones only when it is connected over loopback, that is runs on
// this machine. A receiver applies the same rule again to what it is
// told, with the loopback of the connection it was told over: a loopback
// address that comes from another machine is never dialled.
//
// A receiver reads one frame within exchangeTimeout and accepts a burst
// of exchangeBurst frames per peer, then one per exchangeEvery (twice
// the pace the senders keep); other streams are reset. It ignores itself,
// peers it is connected to and peers it cut off, and hands the rest to
// its Dialer, whose address book and backoff treat them as they treat
// discovery's sightings: untrusted (a peer with the key may make peers
// up), merged per peer ID, each address backed off on its own.
//
// Two peers are most often told of each other at once (a member tells a
// newcomer of everyone, and everyone of the newcomer): dialling each
// other at once would make two connections, and two handshakes, where
// one does. So of two peers the one with the lower peer ID dials at once;
// the other waits exchangeYield and dials only if still not connected
// (the first may not reach it: routes need not be symmetric). At most
// maxYielding peers wait so; more are dialled at once.
//
// Discovery repeats its sightings; a peer is told of once. So a receiver
// keeps the peers it was told of for heardFor after it was last told
// (at most maxHeard, the one due to go first making room), and every
// exchangeRetry offers the Dialer again those it is not connected to: a
// dial that failed (a peer busy, a link down for a moment) is tried
// again, as the host's backoff allows (1 s doubling to 30 s per
// address).
const (
	peersProtocol = protocol.ID("/lanchat/peers/1")
	// exchangePace is the least time between two frames to one peer.
	exchangePace = 2 * time.Second
	// exchangeTimeout bounds one stream, on either side.
	exchangeTimeout = 2 * time.Second
	// exchangeSenders bounds the frames in flight.
	exchangeSenders = 8
	// exchangeTries is how often a frame to a peer is tried before the
	// peers in it are given up for that peer.
	exchangeTries = 3
	// exchangeBurst and exchangeEvery are a sender's allowance: frames
	// at once, then one per exchangeEvery.
	exchangeBurst = 4
	exchangeEvery = exchangePace / 2
	// maxExchangePeers bounds the peers the exchange keeps track of (a
	// host has at most maxSystemConns connections anyway).
	maxExchangePeers = 1024
	// identifyQueue is the buffer of identify events; the exchange takes
	// each at once.
	identifyQueue = 64
	// exchangeYield is how long the peer with the higher ID waits before
	// it dials a peer it was told of: longer than a handshake takes on a
	// loaded machine (under the race detector, on 2 busy cores, over 1 s).
	exchangeYield = 3 * time.Second
	// maxYielding bounds the peers waiting for exchangeYield.
	maxYielding = 1024
	// heardFor is how long a peer told of is dialled again while not
	// connected; exchangeRetry how often.
	heardFor      = 5 * time.Minute
	exchangeRetry = 5 * time.Second
	// maxHeard bounds the peers told of that are kept for retries.
	maxHeard = 1024
)

// exchange runs the peer exchange of a host: the table of the lanchat
// peers it is connected to, the sender and the stream handler. Its
// methods are safe for concurrent use.
type exchange struct {
	h      *Host
	wake   chan struct{} // cap 1: the table changed, or a send ended
	frames atomic.Uint64 // frames sent, for tests

	mu    sync.Mutex
	peers map[peer.ID]*xpeer        // connected lanchat peers; guarded by mu
	seq   uint64                    // counts changes of peers; guarded by mu
	recv  map[peer.ID]*rate.Limiter // each sender's allowance; guarded by mu
	yield []yielded                 // peers to dial later, oldest first; guarded by mu
	heard map[peer.ID]heardPeer     // peers told of, for retries; guarded by mu
}

// heardPeer is a peer told of, and when it was last.
type heardPeer struct {
	s    sighting
	told time.Time
}

// yielded is a peer told of, to dial at at unless connected by then.
type yielded struct {
	s  sighting
	at time.Time
}

// xpeer is one connected lanchat peer: what is told of it, and what it
// was told.
type xpeer struct {
	id    peer.ID
	addrs []netip.AddrPort // where it listens, best first
	loop  bool             // connected over loopback: on this machine
	added uint64           // the seq of its last change

	told  uint64    // what it was told: the peers of seq up to this
	last  time.Time // when it was last sent a frame
	busy  bool      // a frame to it is in flight
	fails int       // failed frames since the last that went through
}

func newExchange(h *Host) *exchange {
	return &exchange{
		h:     h,
		wake:  make(chan struct{}, 1),
		peers: make(map[peer.ID]*xpeer),
		recv:  make(map[peer.ID]*rate.Limiter),
		heard: make(map[peer.ID]heardPeer),
	}
}

// poke wakes the sender without blocking.
func (x *exchange) poke() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// notifiee returns the network notifiee that forgets peers whose last
// connection closed.
func (x *exchange) notifiee() network.Notifiee {
	return &network.NotifyBundle{
		DisconnectedF: func(n network.Network, c network.Conn) {
			p := c.RemotePeer()
			if n.Connectedness(p) == network.Connected {
				return
			}
			x.mu.Lock()
			defer x.mu.Unlock()
			delete(x.peers, p)
			delete(x.recv, p)
		},
	}
}

// subscribe subscribes to identify's events, for [exchange.watch].
func (x *exchange) subscribe() (event.Subscription, error) {
	sub, err := x.h.host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted), eventbus.BufSize(identifyQueue))
	if err != nil {
		return nil, fmt.Errorf("peer exchange: %w", err)
	}
	return sub, nil
}

// watch takes identify's events from sub until ctx is done: each
// identified lanchat peer joins the table (and the peer book).
func (x *exchange) watch(ctx context.Context, sub event.Subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			if ev, ok := e.(event.EvtPeerIdentificationCompleted); ok {
				x.identified(ev)
			}
		}
	}
}

// identified adds or updates the peer of ev, if it is a lanchat peer still
// connected, and tells the peer book.
func (x *exchange) identified(ev event.EvtPeerIdentificationCompleted) {
	p := ev.Peer
	if p == x.h.self || !slices.Contains(ev.Protocols, peersProtocol) || x.h.bans.banned(p) || !x.h.connected(p) {
		return
	}
	loop := isLoopback(ev.Conn.RemoteMultiaddr())
	var reached []netip.AddrPort
	if ev.Conn.Stat().Direction == network.DirOutbound {
		if ap, ok := multiaddrAddrPort(ev.Conn.RemoteMultiaddr()); ok {
			reached = append(reached, ap)
		}
	}
	addrs := tellAddrs(reached, ev.ListenAddrs, loop)
	x.mu.Lock()
	xp := x.peers[p]
	switch {
	case xp == nil && len(x.peers) >= maxExchangePeers:
		x.mu.Unlock()
		return
	case xp == nil:
		x.seq++
		xp = &xpeer{id: p, addrs: addrs, loop: loop, added: x.seq}
		x.peers[p] = xp
	default:
		merged := mergeAddrs(addrs, xp.addrs, peerwire.MaxAddrs)
		if !slices.Equal(merged, xp.addrs) {
			x.seq++
			xp.addrs, xp.added = merged, x.seq
		}
		xp.loop = xp.loop || loop
	}
	addrs = slices.Clone(xp.addrs)
	x.mu.Unlock()
	if !x.h.connected(p) {
		// Gone between the check above and now: the notifiee may have
		// been before the entry.
		x.mu.Lock()
		delete(x.peers, p)
		x.mu.Unlock()
		return
	}
	x.h.book.saw(p, addrs, time.Now())
	x.poke()
}

// connectedPeers returns the lanchat peers in the table.
func (x *exchange) connectedPeers() []peer.ID {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]peer.ID, 0, len(x.peers))
	for p := range x.peers {
		out = append(out, p)
	}
	return out
}

// run sends the frames due, until ctx is done; then it waits for those in
// flight.
func (x *exchange) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, exchangeSenders)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	retry := time.NewTicker(exchangeRetry)
	defer retry.Stop()
	for {
		now := time.Now()
		next := x.sendDue(ctx, &wg, slots, now)
		if at := x.dialYielded(now); !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return
		case <-x.wake:
		case <-timer.C:
		case now := <-retry.C:
			x.retryHeard(now)
		}
		timer.Stop()
	}
}

// sendDue starts the frames due at now, while slots has room, and returns
// when the next one that waits for the pace is due (zero if none).
func (x *exchange) sendDue(ctx context.Context, wg *sync.WaitGroup, slots chan struct{}, now time.Time) time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	var next time.Time
	for _, r := range x.peers {
		if r.busy || r.told >= x.seq {
			continue
		}
		if at := r.last.Add(exchangePace); at.After(now) {
			if x.news(r) && (next.IsZero() || at.Before(next)) {
				next = at
			}
			continue
		}
		frame, upto := x.frameFor(r)
		if frame == nil {
			r.told = upto
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			return next // a send ends soon and wakes the loop
		}
		r.busy, r.last = true, now
		wg.Go(func() {
			defer func() { <-slots }()
			ok := x.send(ctx, r.id, frame)
			x.sent(r, upto, ok)
		})
	}
	return next
}

// news reports whether there is a peer r was not told of. x.mu is held.
func (x *exchange) news(r *xpeer) bool {
	for _, e := range x.peers {
		if e != r && e.added > r.told {
			return true
		}
	}
	return false
}

// frameFor returns the frame that tells r of the peers it was not told
// of, nil if there is nothing to tell, and the seq it tells up to. x.mu
// is held.
func (x *exchange) frameFor(r *xpeer) (frame []byte, upto uint64) {
	var news []*xpeer
	for _, e := range x.peers {
		if e != r && e.added > r.told && !x.h.bans.banned(e.id) {
			news = append(news, e)
		}
	}
	slices.SortFunc(news, func(a, b *xpeer) int { return cmpUint(a.added, b.added) })
	upto = x.seq
	var list []peerwire.Peer
	for _, e := range news {
		if len(list) == peerwire.MaxPeers {
			upto = e.added - 1 // the rest in the next frame
			break
		}
		var addrs []netip.AddrPort
		for _, ap := range e.addrs {
			if dialable(ap, r.loop) {
				addrs = append(addrs, ap)
			}
		}
		if len(addrs) > 0 {
			list = append(list, peerwire.Peer{ID: string(e.id), Addrs: addrs})
		}
	}
	if len(list) == 0 {
		return nil, upto
	}
	frame, err := peerwire.AppendPeers(nil, list)
	if err != nil { // cannot happen: the table keeps to the limits
		x.h.log.Warn("peer exchange: cannot encode", "err", err)
		return nil, upto
	}
	return frame, upto
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sent records the end of a frame to r that told it up to upto.
func (x *exchange) sent(r *xpeer, upto uint64, ok bool) {
	x.mu.Lock()
	r.busy = false
	if r.fails++; ok || r.fails >= exchangeTries {
		r.told, r.fails = max(r.told, upto), 0
	}
	x.mu.Unlock()
	x.poke()
}

// send writes frame on a new stream to p, over a connection there is.
func (x *exchange) send(ctx context.Context, p peer.ID, frame []byte) bool {
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	s, err := x.h.host.NewStream(network.WithNoDial(ctx, "peer exchange"), p, peersProtocol)
	if err != nil {
		x.h.log.Debug("peer exchange: cannot open a stream", "peer", p, "err", err)
		return false
	}
	s.SetDeadline(time.Now().Add(exchangeTimeout))
	if _, err := s.Write(frame); err != nil {
		x.h.log.Debug("peer exchange: cannot send", "peer", p, "err", err)
		s.Reset()
		return false
	}
	if err := s.Close(); err != nil {
		return false
	}
	x.frames.Add(1)
	return true
}

// allow reports whether p may send a frame now (its allowance), and
// takes it.
func (x *exchange) allow(p peer.ID) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	l := x.recv[p]
	if l == nil {
		if len(x.recv) >= maxExchangePeers {
			return false
		}
		l = rate.NewLimiter(rate.Every(exchangeEvery), exchangeBurst)
		x.recv[p] = l
	}
	return l.Allow()
}

// handle reads the frame of a peer that tells of its peers, and offers the
// Dialer those worth dialling.
func (x *exchange) handle(s network.Stream) {
	from := s.Conn().RemotePeer()
	if x.h.bans.banned(from) || !x.allow(from) {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(exchangeTimeout))
	br := bufio.NewReader(io.LimitReader(s, peerwire.MaxFrame+8))
	typ, body, err := peerwire.ReadFrame(br)
	if err == nil && typ != peerwire.TypePeers {
		err = fmt.Errorf("%w: frame type %d", peerwire.ErrMalformed, typ)
	}
	var peers []peerwire.Peer
	if err == nil {
		peers, err = peerwire.DecodePeers(body)
	}
	if err != nil {
		x.h.log.Debug("peer exchange: bad frame", "peer", from, "err", err)
		s.Reset()
		return
	}
	s.Close()
	x.learn(from, isLoopback(s.Conn().RemoteMultiaddr()), peers)
}

// learn offers the Dialer the peers from told of, over a connection that
// is loopback (loop) or not.
func (x *exchange) learn(from peer.ID, loop bool, peers []peerwire.Peer) {
	batch := make([]sighting, 0, len(peers))
	for _, p := range peers {
		id, err := peer.IDFromBytes([]byte(p.ID))
		if err != nil || id == x.h.self || x.h.connected(id) || x.h.bans.banned(id) {
			continue
		}
		var addrs []netip.AddrPort
		for _, ap := range p.Addrs {
			if dialable(ap, loop) {
				addrs = append(addrs, ap)
			}
		}
		if len(addrs) > 0 {
			batch = append(batch, sighting{id: id.String(), version: ProtocolVersion, addrs: addrs})
		}
	}
	x.h.log.Debug("peer exchange: told of peers", "peer", from, "peers", len(peers), "new", len(batch))
	now := time.Now()
	x.mu.Lock()
	for _, s := range batch {
		id, _ := peer.Decode(s.id)
		if _, ok := x.heard[id]; !ok && len(x.heard) >= maxHeard {
			var first peer.ID
			for q, h := range x.heard {
				if first == "" || h.told.Before(x.heard[first].told) {
					first = q
				}
			}
			delete(x.heard, first)
		}
		x.heard[id] = heardPeer{s, now}
	}
	batch = slices.DeleteFunc(batch, func(s sighting) bool {
		if x.h.self.String() < s.id || len(x.yield) >= maxYielding {
			return false // the lower ID dials at once
		}
		x.yield = append(x.yield, yielded{s, now.Add(exchangeYield)})
		return true
	})
	x.mu.Unlock()
	x.h.dialer.offer(batch)
	x.poke()
}

// retryHeard offers the Dialer again the peers told of that it is not
// connected to, and forgets those told of more than heardFor before now.
// Those told of less than exchangeRetry ago are left to the first dial
// (and the yield).
func (x *exchange) retryHeard(now time.Time) {
	var due []heardPeer
	x.mu.Lock()
	for id, h := range x.heard {
		switch age := now.Sub(h.told); {
		case age > heardFor:
			delete(x.heard, id)
		case age >= exchangeRetry:
			due = append(due, h)
		}
	}
	x.mu.Unlock()
	var batch []sighting
	for _, h := range due {
		if id, err := peer.Decode(h.s.id); err == nil && !x.h.connected(id) && !x.h.bans.banned(id) {
			batch = append(batch, h.s)
		}
	}
	x.h.dialer.offer(batch)
}

// dialYielded offers the Dialer the yielded peers due at now and not
// connected by then, and returns when the next is due (zero if none).
func (x *exchange) dialYielded(now time.Time) time.Time {
	x.mu.Lock()
	n := 0
	for n < len(x.yield) && !x.yield[n].at.After(now) {
		n++
	}
	due := slices.Clone(x.yield[:n])
	x.yield = slices.Delete(x.yield, 0, n)
	var next time.Time
	if len(x.yield) > 0 {
		next = x.yield[0].at
	}
	x.mu.Unlock()
	var batch []sighting
	for _, y := range due {
		if id, err := peer.Decode(y.s.id); err == nil && !x.h.connected(id) {
			batch = append(batch, y.s)
		}
	}
	x.h.dialer.offer(batch)
	return next
}

// dialable reports whether ap, learnt over a loopback connection (loop)
// or not, is an address worth dialling: TCP, not unspecified, multicast
// or link-local, and loopback only if loop.
func dialable(ap netip.AddrPort, loop bool) bool {
	ip := ap.Addr()
	switch {
	case !ap.IsValid() || ap.Port() == 0 || ip.Zone() != "":
		return false
	case ip.IsUnspecified() || ip.IsMulticast() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return false
	case ip.IsLoopback():
		return loop
	}
	return true
}

// tellAddrs returns a peer's addresses worth telling, at most
// peerwire.MaxAddrs: reached first (where it answered), then those of
// listen, of a peer connected over loopback (loop) or not.
func tellAddrs(reached []netip.AddrPort, listen []ma.Multiaddr, loop bool) []netip.AddrPort {
	var out []netip.AddrPort
	for _, ap := range reached {
		if dialable(ap, loop) && !slices.Contains(out, ap) {
			out = append(out, ap)
		}
	}
	for _, a := range listen {
		if ap, ok := multiaddrAddrPort(a); ok && dialable(ap, loop) && !slices.Contains(out, ap) {
			out = append(out, ap)
		}
	}
	return out[:min(len(out), peerwire.MaxAddrs)]
}

// mergeAddrs returns the addresses of first, then those of then not in
// first, at most n.
func mergeAddrs(first, then []netip.AddrPort, n int) []netip.AddrPort {
	out := slices.Clone(first)
	for _, ap := range then {
		if !slices.Contains(out, ap) {
			out = append(out, ap)
		}
	}
	return out[:min(len(out), n)]
}

// multiaddrAddrPort converts a TCP multiaddr (/ip4 or /ip6, /tcp) to an
// address and port.
func multiaddrAddrPort(a ma.Multiaddr) (netip.AddrPort, bool) {
	na, err := manet.ToNetAddr(a)
	if err != nil {
		return netip.AddrPort{}, false
	}
	ta, ok := na.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// isLoopback reports whether a is a loopback address.
func isLoopback(a ma.Multiaddr) bool { return a != nil && manet.IsIPLoopback(a) }
