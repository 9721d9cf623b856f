package node

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Tuning of the [Dialer].
const (
	// sightingDialTimeout bounds one dial of a peer found by discovery.
	sightingDialTimeout = 10 * time.Second
	// sightingSettle is how long the dialer gathers counts of peers on
	// another key or another protocol version before it tells the user,
	// once: the first queries of a start see the neighbours one answer at a
	// time, and one notice with the full count beats a notice per answer.
	sightingSettle = 2 * time.Second
	// sightingQueue bounds the sightings waiting for the dialer.
	sightingQueue = 64
	// offerQueue bounds the batches of peers learnt otherwise (from peer
	// exchange, remembered from earlier runs) waiting for the dialer.
	offerQueue = 16
	// maxOtherVersions bounds the peer IDs of other versions remembered
	// for counting.
	maxOtherVersions = 1024
	// addrTTL is how long an address seen for a peer is dialled after it
	// was last seen. Discovery repeats every sighting each query round (5 s
	// by default), so a live address never expires.
	addrTTL = 2 * time.Minute
	// maxPeerAddrs bounds the addresses remembered per peer; beyond it the
	// one seen least recently is forgotten.
	maxPeerAddrs = 16
	// maxBook bounds the peers whose addresses are remembered.
	maxBook = 1024
	// maxDials bounds the dials of discovered peers in flight; the others
	// wait for a slot. Discovery hands the sightings of quiet sources over
	// first, so under a flood of made-up peers (each dial of one may hang
	// for sightingDialTimeout) the real ones get the first slots.
	maxDials = 32
)

// dialTarget is what the [Dialer] needs of a [Host].
type dialTarget interface {
	Dial(ctx context.Context, peerID string, addrs []netip.AddrPort) error
	Notice(text string)
}

// Dialer turns what local discovery sees, what peers tell of their peers
// (see exchange.go) and the peers remembered from earlier runs (see
// peerbook.go) into dials and notices. It is the one place of the dial
// policy for peers not given by the user; each [Host] has one, which it
// runs from Start to Close ([Host.Dialer]). Discovery's answers are not
// authenticated: anyone on the LAN can advertise any peer ID at any
// address; and a peer may tell of peers it made up. So the Dialer merges the addresses of every sighting of a
// peer ID (seen in the last addrTTL) rather than letting one answer
// replace another, and dials them all together through [Host.Dial], whose
// backoff counts each address on its own; a sighting that brings an
// address not in a dial in flight starts another dial at once, so a dead
// or silent address cannot hold the real one back. Each dial is bounded.
// Peers of another protocol version are not dialled; and the user is told
// once how many peers nearby use another key or version.
//
// Found, Foreign and Say never block (discovery's rule): they queue work
// for [Dialer.Run], which does the dialing. Sightings that find the queue
// full are dropped; discovery repeats them. So do batches of other peers
// (offer) that find theirs full.
type Dialer struct {
	host    dialTarget
	log     *slog.Logger
	found   chan sighting   // dropped when full
	offers  chan []sighting // dropped when full
	foreign chan int        // latest count of peers on another key; capacity 1
	status  chan string     // notices; dropped when full
	redial  chan []sighting // a redial of every peer, with these; capacity 1
	settle  time.Duration   // sightingSettle; shorter in tests
}

// sighting is one peer seen by discovery.
type sighting struct {
	id, version string
	addrs       []netip.AddrPort
}

// newDialer returns a Dialer for t; log may be nil. Run it with
// [Dialer.Run].
func newDialer(t dialTarget, log *slog.Logger) *Dialer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dialer{
		host:    t,
		log:     log,
		found:   make(chan sighting, sightingQueue),
		offers:  make(chan []sighting, offerQueue),
		foreign: make(chan int, 1),
		status:  make(chan string, 4),
		redial:  make(chan []sighting, 1),
		settle:  sightingSettle,
	}
}

// Found queues a peer seen on our network (same key fingerprint) for
// dialing: its peer ID, the protocol version it advertises and its TCP
// addresses. A peer of another version is counted, not dialled.
func (d *Dialer) Found(peerID, version string, addrs []netip.AddrPort) {
	select {
	case d.found <- sighting{peerID, version, addrs}:
	default:
	}
}

// offer queues peers learnt from a peer or remembered from an earlier
// run for dialing, like sightings of discovery (of this protocol version),
// without blocking: when offerQueue batches wait already, it is dropped.
func (d *Dialer) offer(batch []sighting) {
	if len(batch) == 0 {
		return
	}
	select {
	case d.offers <- batch:
	default:
		d.log.Debug("dialer busy; dropping peers learnt", "peers", len(batch))
	}
}

// Foreign records the number of peers seen with another key; only the
// latest count is kept.
func (d *Dialer) Foreign(count int) {
	select {
	case <-d.foreign:
	default:
	}
	select {
	case d.foreign <- count:
	default:
	}
}

// redialAll queues a redial of every peer the Dialer knows (seen in the
// last addrTTL) and of extra, at once, without blocking: the dials in
// flight are cancelled first (after a cut they hang on a link that was
// down), and the host's backoffs are forgotten (see [Host.Reconnect]). A
// redial already queued is replaced.
func (d *Dialer) redialAll(extra []sighting) {
	select {
	case <-d.redial:
	default:
	}
	select {
	case d.redial <- extra:
	default:
	}
}

// Say queues a notice for the user, such as a change of discovery's
// state, without blocking; with a few already queued it is dropped.
func (d *Dialer) Say(text string) {
	select {
	case d.status <- text:
	default:
	}
}

// Run dials queued peers and tells the user, once and settle after the
// first such sighting, how many peers nearby use another key and how many
// another protocol version. It runs until ctx is done, then cancels the
// dials in flight, waits for them and returns ctx's error.
func (d *Dialer) Run(ctx context.Context) error {
	book := addrBook{}
	finished := make(chan flight)
	slots := make(chan struct{}, maxDials)
	var wg sync.WaitGroup
	defer wg.Wait()
	// The dials run in a generation that a redial cancels; the redial
	// waits for them to land (at once, cancelled), so that its dials are
	// not taken for duplicates of theirs.
	newGen := func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }
	gen, cancelGen := newGen()
	defer func() { cancelGen() }()
	inflight := 0
	var pending []sighting // the redial waiting for the cancelled dials
	redialing := false
	var (
		foreign  int                 // latest count of peers on another key
		others   = map[string]bool{} // peers of another protocol version
		tell     <-chan time.Time    // fires once, settle after the first odd sighting
		told     bool
		startTel = func() {
			if tell == nil && !told {
				tell = time.After(d.settle)
			}
		}
	)
	// dial starts the dial that s calls for, if any.
	dial := func(s sighting) {
		f, ok := book.sighted(s, time.Now())
		if !ok {
			return
		}
		inflight++
		gctx := gen
		wg.Go(func() {
			select {
			case slots <- struct{}{}:
				dctx, cancel := context.WithTimeout(gctx, sightingDialTimeout)
				err := d.host.Dial(dctx, f.id, f.addrs)
				cancel()
				<-slots
				if err != nil && gctx.Err() == nil {
					d.log.Debug("dial failed", "peer", f.id, "addrs", f.addrs, "err", err)
				}
			case <-gctx.Done():
			}
			select {
			case finished <- f:
			case <-ctx.Done():
			}
		})
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case f := <-finished:
			book.landed(f)
			inflight--
			if redialing && inflight == 0 {
				redialing = false
				d.redialNow(book, pending, dial)
			}
		case extra := <-d.redial:
			cancelGen()
			gen, cancelGen = newGen()
			pending, redialing = extra, true
			if inflight == 0 {
				redialing = false
				d.redialNow(book, pending, dial)
			}
		case n := <-d.foreign:
			if n > 0 {
				foreign = max(foreign, n)
				startTel()
			}
		case text := <-d.status:
			d.host.Notice(text)
		case <-tell:
			tell, told = nil, true
			for _, text := range strangerNotices(foreign, len(others)) {
				d.host.Notice(text)
			}
		case s := <-d.found:
			if s.version != ProtocolVersion {
				if !others[s.id] && len(others) < maxOtherVersions {
					others[s.id] = true
					d.log.Debug("peer of another protocol version", "peer", s.id, "version", s.version)
				}
				startTel()
				continue
			}
			dial(s)
		case batch := <-d.offers:
			for _, s := range batch {
				dial(s)
			}
		}
	}
}

// redialNow dials every peer of book at every address it has, and
// extra, after forgetting the host's backoffs.
func (d *Dialer) redialNow(book addrBook, extra []sighting, dial func(sighting)) {
	if r, ok := d.host.(interface{ forgetBackoffs() }); ok {
		r.forgetBackoffs()
	}
	now := time.Now()
	n := 0
	for _, id := range slices.Sorted(maps.Keys(book)) {
		var addrs []netip.AddrPort
		for ap, at := range book[id].seen {
			if now.Sub(at) <= addrTTL {
				addrs = append(addrs, ap)
			}
		}
		if len(addrs) > 0 {
			dial(sighting{id: id, version: ProtocolVersion, addrs: addrs})
			n++
		}
	}
	for _, s := range extra {
		dial(s)
	}
	d.log.Debug("redialling every peer", "known", n, "remembered", len(extra))
}

// flight is one dial of a peer at some addresses.
type flight struct {
	id    string
	addrs []netip.AddrPort
}

// addrBook is the Dialer's memory of the addresses seen for each peer ID
// and of the dials in flight. It is used from Run's goroutine only.
type addrBook map[string]*peerAddrs

// peerAddrs is what the book knows of one peer ID.
type peerAddrs struct {
	seen   map[netip.AddrPort]time.Time // address → last sighting
	flying map[netip.AddrPort]int       // address → dials in flight with it
}

// sighted merges the addresses of s, seen at now, into the book and
// returns the dial to start: every address of the peer seen in the last
// addrTTL, when s brings one that no dial in flight has. ok is false when
// there is nothing new to dial.
func (b addrBook) sighted(s sighting, now time.Time) (f flight, ok bool) {
	p := b[s.id]
	if p == nil {
		b.prune(now)
		p = &peerAddrs{seen: map[netip.AddrPort]time.Time{}, flying: map[netip.AddrPort]int{}}
		b[s.id] = p
	}
	for ap, at := range p.seen {
		if now.Sub(at) > addrTTL && p.flying[ap] == 0 {
			delete(p.seen, ap)
		}
	}
	fresh := false
	for _, ap := range s.addrs {
		if _, known := p.seen[ap]; !known && len(p.seen) >= maxPeerAddrs {
			delete(p.seen, leastRecent(p.seen))
		}
		p.seen[ap] = now
		if p.flying[ap] == 0 {
			fresh = true
		}
	}
	if !fresh {
		return flight{}, false
	}
	f = flight{id: s.id, addrs: make([]netip.AddrPort, 0, len(p.seen))}
	for ap := range p.seen {
		f.addrs = append(f.addrs, ap)
		p.flying[ap]++
	}
	// Newest first, so a dial error names the address seen last.
	slices.SortFunc(f.addrs, func(x, y netip.AddrPort) int {
		if c := p.seen[y].Compare(p.seen[x]); c != 0 {
			return c
		}
		return x.Compare(y)
	})
	return f, true
}

// landed records the end of the dial f.
func (b addrBook) landed(f flight) {
	p := b[f.id]
	if p == nil {
		return
	}
	for _, ap := range f.addrs {
		if p.flying[ap]--; p.flying[ap] <= 0 {
			delete(p.flying, ap)
		}
	}
}

// prune makes room for one more peer in a full book: it forgets the peers
// without dials in flight whose addresses are all older than addrTTL, then
// if need be the one seen least recently.
func (b addrBook) prune(now time.Time) {
	if len(b) < maxBook {
		return
	}
	last := func(p *peerAddrs) time.Time {
		var t time.Time
		for _, at := range p.seen {
			if at.After(t) {
				t = at
			}
		}
		return t
	}
	for id, p := range b {
		if len(p.flying) == 0 && now.Sub(last(p)) > addrTTL {
			delete(b, id)
		}
	}
	if len(b) < maxBook {
		return
	}
	idle := map[string]time.Time{}
	for id, p := range b {
		if len(p.flying) == 0 {
			idle[id] = last(p)
		}
	}
	if len(idle) > 0 {
		delete(b, leastRecent(idle))
	}
}

// leastRecent returns the key of m with the earliest time.
func leastRecent[K comparable](m map[K]time.Time) K {
	var k K
	var t time.Time
	first := true
	for q, at := range m {
		if first || at.Before(t) {
			k, t, first = q, at, false
		}
	}
	return k
}

// strangerNotices are the notices about foreign peers on another key and
// others running another protocol version.
func strangerNotices(foreign, others int) []string {
	var out []string
	switch {
	case foreign == 1:
		out = append(out, "1 lanchat peer nearby uses a different key")
	case foreign > 1:
		out = append(out, fmt.Sprintf("%d lanchat peers nearby use a different key", foreign))
	}
	switch {
	case others == 1:
		out = append(out, "1 lanchat peer nearby runs another version of lanchat and cannot chat with this one: use the same version on every machine")
	case others > 1:
		out = append(out, fmt.Sprintf("%d lanchat peers nearby run another version of lanchat and cannot chat with this one: use the same version on every machine", others))
	}
	return out
}
