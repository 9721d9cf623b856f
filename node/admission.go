package node

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/time/rate"

	"lanchat/node/chat"
	"lanchat/node/store"
)

// Admission limits, per author unless said otherwise.
const (
	// Receive flood protection: a steady rate and a burst, per author
	// across all rooms (and, later, streams).
	recvRate  = 100
	recvBurst = 500
	// replayMemory is how long an author's replay window is kept in
	// memory after its last message. After that (or after a restart) its
	// mark in the message log still tells a replay, for store.MarkAge;
	// an author whose clock was set back by more than its uptime is not
	// heard live for that long either (its new sequence numbers look old),
	// though sync still brings its lines.
	replayMemory = time.Hour
	// maxAuthors bounds the authors remembered (replay window and flood
	// limit, ~400 bytes each).
	maxAuthors = 4096
	// A peer may introduce introBurst authors not heard before at once,
	// then introRate a second; see [admission.admitLocked].
	introBurst = 256
	introRate  = 4
	// Peers connected from one IP address may together introduce
	// addrFactor times what one peer may (and an author delivering its
	// own messages counts there too: connections are cheap to make and
	// drop). The resource manager lets 16 lanchats connect from one
	// address (a shared machine, a NAT: see resource.go); honest ones
	// introduce mostly the same authors, each once, by whichever delivers
	// it first, so together they need about a roster's worth, not 16
	// peers' worth: 4 × 256 = 1024 authors at once, maxMembers and some,
	// then 16 a second. One address with 16 made-up relays gets 1024
	// instead of 4096. IPv6 addresses count one by one (a /64 is the
	// whole LAN), so an attacker on IPv6 that takes many addresses
	// escapes this bound, not the per-peer one. maxAddrs bounds the
	// addresses remembered; beyond, the one with most of its allowance
	// left is forgotten (it loses the least).
	addrFactor = 4
	maxAddrs   = 1024
	// A newcomer, an author introduced by a relay (or by sync, see
	// [admission.introduce]) without a mark (not heard in the last
	// store.MarkAge), starts with newcomerBurst messages of its burst
	// and earns the rest at the flood limit's rate: 150 a second later,
	// the whole burst in 4.5 s. Made-up identities are all new: 256 of
	// them, one relay's introductions, burst 12,800 lines at once instead
	// of 128,000 (1024 from one address, 51,200 instead of 512,000). An
	// honest newcomer's first envelopes are a join and a heartbeat per
	// room (a handful, at most maxTopicsPerPeer at start-up) and its
	// first lines: 50 leaves a pasted paragraph of 30 lines whole; only
	// a newcomer pasting hundreds of lines in its first seconds loses
	// some live, and sync fetches those (see [syncer.lost]). At our own
	// restart every author is new to the table, but those heard within
	// store.MarkAge have a mark (it seeds their replay window) and start
	// with the whole burst, so members talking, even pasting, lose
	// nothing. An author that delivers its own messages is no newcomer
	// here either (one whose first message came relayed stops being one
	// at its first own): each such identity holds a connection (16 at
	// once per address) and one of its address's introductions, and in
	// a LAN, where members connect to each other, that is how an honest
	// one arrives, free to paste its whole send burst at once
	// (TestBurstDelivered).
	newcomerBurst = 50
	// maxWarned bounds the set of peers already warned about bad messages,
	// and that of authors the user was told are over the flood limit.
	maxWarned = 1024
	// Before its signature is checked, a message is counted against its
	// forwarder and claimed author together (see [admission.hopeless]), at
	// pairFactor times the flood limit's rate and its burst plus a
	// second's worth: an honest peer forwards only what it accepted, at
	// most the flood limit of each author, but bunched by the network.
	// Each message above the burst costs a signature check, wasted: so
	// the burst's margin is small. maxPairs bounds the pairs remembered;
	// beyond, new pairs are not limited there (the flood limit after the
	// signature check still holds).
	pairFactor = 2
	maxPairs   = 4 * maxAuthors
	// throttleQueue is the capacity of the queue of notices for the
	// user: authors over the flood limit, peers and addresses over their
	// introductions (see [admission.throttles]). Each kind names at most
	// maxNamed peers or addresses, then says once that there are more:
	// made-up identities, each over its limit, must not flood the screen
	// with notices.
	throttleQueue = 16
	maxNamed      = 8
	// replayWindow is how far below the highest sequence number seen from
	// an author a message may still arrive (once): gossipsub may deliver an
	// author's messages out of order across routes and rooms, by a few
	// messages, or by up to a second of traffic when one is recovered by
	// gossip. Anything older is a replay.
	replayWindow = 2048
)

// admission decides which signed messages of which authors the host takes
// in, whatever the room: it drops replays, floods and swarms of made-up
// authors, and warns once per peer about bad messages. One admission is
// shared by every room of a host (and, later, its streams), so an author's
// allowance is per author, not per room. It is safe for concurrent use;
// room validators call it.
type admission struct {
	log *slog.Logger

	// marks is the memory of authors beyond the table, across runs: the
	// message log's (nil: none). See [admission.takeMarks].
	marks markBook
	// addrOf returns the IP address a peer's connection comes from, the
	// zero Addr if it has none (nil: no per-address bound). It is called
	// with mu held, so it must not call admission.
	addrOf func(peer.ID) netip.Addr

	mu      sync.Mutex
	limit   rate.Limit // per-author flood limit: recvRate (tests change it)
	burst   int        // recvBurst
	authors map[peer.ID]*author
	intros  map[peer.ID]*rate.Limiter    // new authors each relay may introduce
	byAddr  map[netip.Addr]*rate.Limiter // new authors the peers at each address may introduce
	pairs   map[pair]*rate.Limiter       // messages each relay forwards of each author, unchecked
	unseen  map[peer.ID]*rate.Limiter    // new authors each relay forwards, unchecked
	warned  map[peer.ID]bool
	// told holds what was queued for a notice, named counts the notices
	// of each kind; throttles is the queue, drained by the host's
	// housekeeping.
	told      map[throttle]bool
	named     map[throttleKind]int
	throttles chan throttle
	// forgot holds the marks of authors dropped from the table since the
	// last takeMarks; saved is when that was.
	forgot map[peer.ID]store.Mark
	saved  time.Time

	// pending holds the copies waiting for their signature checks (see
	// [pending]); it has its own lock.
	pending *pending
}

// markBook looks up the mark of an author that admission does not
// remember: the highest sequence number accepted from it in an earlier
// run, or before the table forgot it.
type markBook interface {
	mark(author peer.ID) (seq uint64, ok bool)
}

// author is what admission remembers of one message author.
type author struct {
	lim   *rate.Limiter // flood limit
	seqs  seqWindow     // sequence numbers accepted, to spot replays
	heard time.Time     // last message accepted
	// newcomer tells an author that started with newcomerBurst and has
	// not delivered a message of its own yet.
	newcomer bool
}

func newAdmission(log *slog.Logger) *admission {
	return &admission{
		log:     log,
		limit:   recvRate,
		burst:   recvBurst,
		authors: make(map[peer.ID]*author),
		intros:  make(map[peer.ID]*rate.Limiter),
		pairs:   make(map[pair]*rate.Limiter),
		unseen:  make(map[peer.ID]*rate.Limiter),
		byAddr:  make(map[netip.Addr]*rate.Limiter),
		warned:  make(map[peer.ID]bool),
		forgot:  make(map[peer.ID]store.Mark),
		pending: newPending(),

		told:      make(map[throttle]bool),
		named:     make(map[throttleKind]int),
		throttles: make(chan throttle, throttleQueue),
	}
}

// pair is a forwarder and an author whose messages it forwards.
type pair struct{ src, from peer.ID }

// throttleKind is what a notice of [admission.throttles] is about.
type throttleKind uint8

const (
	// An author over its flood limit: its messages beyond it are dropped.
	throttleFlood throttleKind = iota + 1
	// A peer passing on messages of more new authors than it may
	// introduce: theirs are ignored.
	throttleIntro
	// Peers at one address introducing more new authors than one address
	// may: theirs are ignored.
	throttleAddr
	// A peer serving history of more new authors than it (or its
	// address) may introduce: their lines are left for a later pull.
	throttleSync
)

// throttle is a notice for the user: that author's messages beyond limit
// a second (after a burst) are being dropped (throttleFlood), or that the
// new authors introduced by author (a relay, or the peer history was
// pulled from) or by the peers at addr are (the others). With more, it
// names nobody: more peers than maxNamed are over the bound of kind.
type throttle struct {
	kind   throttleKind
	author peer.ID
	addr   netip.Addr
	limit  rate.Limit
	more   bool
}

// setLimit changes the flood limit of authors not heard yet.
func (a *admission) setLimit(limit rate.Limit, burst int) {
	a.mu.Lock()
	a.limit, a.burst = limit, burst
	a.mu.Unlock()
}

// screen applies the per-author rules to message seq of from, forwarded by
// src: a message already accepted once, or older than the author's replay
// window, is a replay and ignored (pubsub's own seen-cache forgets a message
// after two minutes, after which anybody could publish it again); so is
// traffic above the flood limit. Replays are checked first, so they do not
// use up the author's flood allowance. An author not heard before must be
// admitted first (see [admission.admitLocked]). flood reports a message
// dropped over the flood limit, which sync may fetch later (see
// [syncer.lost]).
func (a *admission) screen(from, src peer.ID, seq uint64) (res pubsub.ValidationResult, flood bool) {
	a.mu.Lock()
	au := a.authors[from]
	if au == nil {
		if kind := a.admitLocked(from, src); kind != 0 {
			a.mu.Unlock()
			msg := "peer forwards messages of too many new authors; ignoring them"
			if kind == throttleAddr {
				msg = "peers at the address of this one introduce too many new authors; ignoring them"
			}
			a.warnOnce(src, msg, nil)
			return pubsub.ValidationIgnore, false
		}
		au = a.newAuthorLocked(from, src != from)
	}
	if src == from {
		au.own()
	}
	replay := !au.seqs.accept(seq)
	flood = !replay && !au.lim.Allow()
	if !replay && !flood {
		au.heard = time.Now()
	}
	if flood {
		a.throttledLocked(from, au.lim.Limit())
	}
	a.mu.Unlock()
	switch {
	case replay:
		a.warnOnce(from, "ignored a replayed message", nil)
		return pubsub.ValidationIgnore, false
	case flood:
		a.warnOnce(from, "peer over the flood limit; dropping its messages", nil)
		return pubsub.ValidationIgnore, true
	}
	return pubsub.ValidationAccept, false
}

// newAuthorLocked enters author p, admitted, in the table; a.mu is held.
// With a mark (heard in an earlier run, or before the table forgot it) its
// replay window starts from it and its flood allowance is whole; without
// one, introduced (not delivering its own message) and not connected to
// this host, it is a newcomer, and starts with newcomerBurst of it.
func (a *admission) newAuthorLocked(p peer.ID, introduced bool) *author {
	au := &author{lim: rate.NewLimiter(a.limit, a.burst)}
	if top, ok := a.markLocked(p); ok {
		au.seqs.seed(top)
	} else if n := a.burst - newcomerBurst; introduced && n > 0 && !a.addrLocked(p).IsValid() {
		au.lim.ReserveN(time.Now(), n)
		au.newcomer = true
	}
	a.authors[p] = au
	return au
}

// own notes a message of au's own (forwarded by au itself, over its own
// connection, whatever its signature): a newcomer is one no more, and
// gets its whole allowance (see newcomerBurst). A newcomer's first
// message may come relayed, or its own copies lose the race to the
// relayed ones (pubsub validates the first copy only): hopeless, which
// sees every copy, calls it too.
func (au *author) own() {
	if au.newcomer {
		au.lim = rate.NewLimiter(au.lim.Limit(), au.lim.Burst())
		au.newcomer = false
	}
}

// hopeless reports whether a message of author from, forwarded by src, is
// to be dropped before its signature is checked: screen would ignore it
// now (the author over its flood limit, an author src or its address may
// not introduce), or src forwards the author's messages at more than
// pairFactor times the flood limit, or introduces new authors at more than
// pairFactor times its introductions. flood reports a message dropped for
// a rate.
//
// Nothing here takes an author's own allowance, nor tells the user that
// an author floods from what the pair's limit saw (unless the author is
// the forwarder itself): messages nobody has checked the signature of
// (forged ones) must not use up an honest author's allowance or give it a
// bad name. They use up only the pair's, so only the forwarder's copies
// suffer (and a forger is cut off, see [forgers]). Replays are left to
// screen: pubsub's seen-cache drops the recent ones before this, and a
// forger re-signing old sequence numbers must reach the signature check
// to be found out. A forwarder, though, is named for what it forwards:
// the notice that it (or its address) introduces too many new authors
// goes out from here too, since once its allowance is used up none of
// its new authors reaches screen.
//
// The pair's limit is what makes it work: messages wait in pubsub's
// validation queue before screen counts them, so while a flood fills the
// queue the author's allowance still looks full.
func (a *admission) hopeless(from, src peer.ID) (drop, flood bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	au := a.authors[from]
	switch {
	case au == nil:
		if kind, addr := a.refusedLocked(from, src); kind != 0 {
			a.tellLocked(throttle{kind: kind, author: src, addr: addr})
			return true, false
		}
	case src == from && au.newcomer:
		au.own()
	case au.lim.Tokens() < 1:
		a.throttledLocked(from, au.lim.Limit())
		return true, true
	}
	k := pair{src, from}
	l := a.pairs[k]
	if l == nil {
		if len(a.pairs) >= maxPairs {
			return false, false
		}
		if au == nil && src != from {
			// A new pair of an unknown author: one of the relay's
			// introductions, counted before the check.
			u := a.unseen[src]
			if u == nil {
				if len(a.unseen) >= maxAuthors {
					return false, false
				}
				u = rate.NewLimiter(pairFactor*introRate, pairFactor*introBurst)
				a.unseen[src] = u
			}
			if !u.Allow() {
				a.tellLocked(throttle{kind: throttleIntro, author: src})
				return true, false
			}
		}
		l = rate.NewLimiter(pairFactor*a.limit, a.pairBurst())
		a.pairs[k] = l
	}
	if !l.Allow() {
		if src == from {
			a.throttledLocked(from, a.limit)
		}
		return true, true
	}
	return false, false
}

// pairBurst is the burst of a pair's limit; a.mu is held.
func (a *admission) pairBurst() int {
	if a.limit == rate.Inf {
		return a.burst
	}
	return a.burst + int(a.limit)
}

// throttledLocked queues, once per author, the notice that author is over
// its flood limit; a.mu is held.
func (a *admission) throttledLocked(author peer.ID, limit rate.Limit) {
	a.tellLocked(throttle{kind: throttleFlood, author: author, limit: limit})
}

// tellLocked queues notice t, once per kind and peer (or address), for
// maxNamed peers of a kind, then once the notice that there are more;
// a.mu is held. It never blocks: with the queue full the next drop tries
// again.
func (a *admission) tellLocked(t throttle) {
	key := throttle{kind: t.kind, author: t.author}
	if t.kind == throttleAddr {
		key = throttle{kind: t.kind, addr: t.addr} // whichever peer hit it
	}
	if a.told[key] || len(a.told) >= maxWarned {
		return
	}
	if a.named[t.kind] >= maxNamed {
		t = throttle{kind: t.kind, limit: t.limit, more: true}
		key = throttle{kind: t.kind, more: true}
		if a.told[key] {
			return
		}
	}
	select {
	case a.throttles <- t:
		a.told[key] = true
		if !t.more {
			a.named[t.kind]++
		}
	default:
	}
}

// admitLocked reports whether a first message of author from, forwarded by
// src, may be accepted, and makes room for it; a.mu is held. Anybody can
// make up identities and sign messages with them, thousands a second, each
// a new member and a new entry in every table, and bypass the per-author
// flood limit. An author that delivers its own message is admitted: every
// identity then costs a connection. An author relayed by another peer (in a
// room that is not fully connected) uses up one of the relay's
// introductions: introBurst at once, then introRate a second, enough to
// pass on a whole room. Either uses up one of the introductions of the
// address src connects from (see addrFactor). When the table is full the
// author heard longest ago makes room, so members that keep talking are
// never forgotten. It returns the bound that refuses the author, 0 if
// none does, and queues the notice.
func (a *admission) admitLocked(from, src peer.ID) throttleKind {
	if kind, addr := a.introduceLocked(from, src); kind != 0 {
		a.tellLocked(throttle{kind: kind, author: src, addr: addr})
		return kind
	}
	if len(a.authors) >= maxAuthors {
		a.forgetLocked(oldest(a.authors, func(au *author) time.Time { return au.heard }))
	}
	return 0
}

// refusedLocked returns the bound that would refuse author from, not in
// the table, forwarded by src, without using any allowance: 0 if none,
// throttleIntro (src's introductions used up) or throttleAddr (its
// address's, addr); a.mu is held.
func (a *admission) refusedLocked(from, src peer.ID) (throttleKind, netip.Addr) {
	if src != from {
		if l := a.intros[src]; l != nil && l.Tokens() < 1 {
			return throttleIntro, netip.Addr{}
		}
	}
	if addr := a.addrLocked(src); addr.IsValid() {
		if l := a.byAddr[addr]; l != nil && l.Tokens() < 1 {
			return throttleAddr, addr
		}
	}
	return 0, netip.Addr{}
}

// introduceLocked takes one introduction of src and one of its address
// for author from, and returns the bound that refuses it (0 if none, and
// then both are taken); a.mu is held.
func (a *admission) introduceLocked(from, src peer.ID) (throttleKind, netip.Addr) {
	var byPeer, byAddr *rate.Limiter
	if src != from {
		if byPeer = a.intros[src]; byPeer == nil {
			byPeer = rate.NewLimiter(introRate, introBurst)
			a.intros[src] = byPeer
		}
	}
	addr := a.addrLocked(src)
	if addr.IsValid() {
		if byAddr = a.byAddr[addr]; byAddr == nil {
			if len(a.byAddr) >= maxAddrs {
				a.forgetAddrLocked()
			}
			byAddr = rate.NewLimiter(addrFactor*introRate, addrFactor*introBurst)
			a.byAddr[addr] = byAddr
		}
	}
	now := time.Now()
	switch {
	case byPeer != nil && byPeer.TokensAt(now) < 1:
		return throttleIntro, netip.Addr{}
	case byAddr != nil && byAddr.TokensAt(now) < 1:
		return throttleAddr, addr
	}
	if byPeer != nil {
		byPeer.AllowN(now, 1)
	}
	if byAddr != nil {
		byAddr.AllowN(now, 1)
	}
	return 0, netip.Addr{}
}

// addrLocked returns the address p connects from, if admission is told;
// a.mu is held.
func (a *admission) addrLocked(p peer.ID) netip.Addr {
	if a.addrOf == nil {
		return netip.Addr{}
	}
	return a.addrOf(p)
}

// forgetAddrLocked forgets the address with most of its introductions
// left, to make room in a full table; a.mu is held.
func (a *admission) forgetAddrLocked() {
	now := time.Now()
	var best netip.Addr
	most := -1.0
	for addr, l := range a.byAddr {
		if t := l.TokensAt(now); t > most {
			best, most = addr, t
		}
	}
	delete(a.byAddr, best)
}

// introduce takes in the authors of lines fetched by sync from src, who
// serves them, and returns those it refuses now: authors not in the
// table and without a mark are new, and each uses up one of src's
// introductions and of its address's, as if src had relayed a live
// message of theirs (a line of src's own, only the address's, as if it
// had delivered it itself). The new authors taken in enter the table, as
// newcomers (src itself, not): their live messages do not count as
// introductions again, and start from a newcomer's allowance. The first
// authors of the list are taken first. It queues the notice, once per
// peer, that some were refused.
func (a *admission) introduce(src peer.ID, authors []peer.ID) (refused map[peer.ID]bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	for _, p := range authors {
		if a.authors[p] != nil {
			continue
		}
		if _, ok := a.markLocked(p); ok {
			continue
		}
		if kind, addr := a.introduceLocked(p, src); kind != 0 {
			if refused == nil {
				refused = make(map[peer.ID]bool)
			}
			refused[p] = true
			a.tellLocked(throttle{kind: throttleSync, author: src, addr: addr})
			continue
		}
		if len(a.authors) >= maxAuthors {
			a.forgetLocked(oldest(a.authors, func(au *author) time.Time { return au.heard }))
		}
		a.newAuthorLocked(p, p != src).heard = now
	}
	return refused
}

// forgetLocked drops author p from the table, keeping its mark until the
// next takeMarks; a.mu is held.
func (a *admission) forgetLocked(p peer.ID) {
	// An author seeded from its mark and heard nothing new since (a
	// replay, say) has no heard time: its mark is where it came from, and
	// filing it again with a zero time would age it out of the log.
	if au := a.authors[p]; au != nil && au.seqs.any && !au.heard.IsZero() && len(a.forgot) < maxAuthors {
		a.forgot[p] = store.Mark{Seqno: au.seqs.top, Heard: au.heard}
	}
	delete(a.authors, p)
}

// markLocked returns the mark of an author not in the table: one it
// forgot lately, or the log's; a.mu is held. The log lookup is a read of
// the store (microseconds), only for an author not in the table.
func (a *admission) markLocked(p peer.ID) (uint64, bool) {
	if m, ok := a.forgot[p]; ok {
		return m.Seqno, true
	}
	if a.marks == nil {
		return 0, false
	}
	return a.marks.mark(p)
}

// takeMarks returns the marks to save in the log: those of the authors
// heard since the last call, and of the authors forgotten since.
func (a *admission) takeMarks(now time.Time) map[string]store.Mark {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]store.Mark, len(a.forgot))
	for p, m := range a.forgot {
		out[p.String()] = m
	}
	clear(a.forgot)
	for p, au := range a.authors {
		if au.seqs.any && !au.heard.Before(a.saved) {
			out[p.String()] = store.Mark{Seqno: au.seqs.top, Heard: au.heard}
		}
	}
	a.saved = now
	return out
}

// oldest returns the peer of m whose time is the earliest, "" if m is
// empty: the one to forget when a table is full.
func oldest[V any](m map[peer.ID]V, at func(V) time.Time) peer.ID {
	var p peer.ID
	var t time.Time
	for q, v := range m {
		if qt := at(v); p == "" || qt.Before(t) {
			p, t = q, qt
		}
	}
	return p
}

// prune forgets authors not heard for replayMemory, and relays,
// addresses and pairs whose allowances are all available again, so the
// maps do not grow with every peer ever seen.
func (a *admission) prune(now time.Time) {
	a.pending.prune(now)
	a.mu.Lock()
	defer a.mu.Unlock()
	for p, au := range a.authors {
		if now.Sub(au.heard) >= replayMemory {
			a.forgetLocked(p)
		}
	}
	for p, l := range a.intros {
		if l.TokensAt(now) >= introBurst {
			delete(a.intros, p)
		}
	}
	for addr, l := range a.byAddr {
		if l.TokensAt(now) >= addrFactor*introBurst {
			delete(a.byAddr, addr)
		}
	}
	for p, l := range a.unseen {
		if l.TokensAt(now) >= pairFactor*introBurst {
			delete(a.unseen, p)
		}
	}
	for k, l := range a.pairs {
		if l.TokensAt(now) >= float64(l.Burst()) {
			delete(a.pairs, k)
		}
	}
}

// warnOnce logs a problem with a peer's messages the first time only.
func (a *admission) warnOnce(p peer.ID, msg string, err error) {
	a.mu.Lock()
	// Once maxWarned peers have been warned about, made-up identities
	// (thousands a second) must not flood the log: the rest is debug.
	warn := !a.warned[p] && len(a.warned) < maxWarned
	if warn {
		a.warned[p] = true
	}
	a.mu.Unlock()
	if warn {
		a.log.Warn(msg, "peer", p, "err", err)
	} else {
		a.log.Debug(msg, "peer", p, "err", err)
	}
}

// seqWindow remembers which of an author's recent pubsub sequence numbers
// have been accepted, so that a signed message re-published later (after
// pubsub's seen-cache forgot it, 2 minutes) is recognised as a replay. It is
// the anti-replay window of IPsec (RFC 4303 §3.4.3): the highest number
// accepted, and a bitmap of the replayWindow numbers at and below it. The
// zero value has accepted nothing.
//
// pubsub numbers an author's messages, in all topics, with one counter that
// starts at the author's clock in nanoseconds when its process starts, so a
// restarted author's numbers are far above the old ones and clear the
// window.
type seqWindow struct {
	top  uint64                    // highest number accepted
	any  bool                      // whether anything was accepted
	bits [replayWindow / 64]uint64 // bit seq%replayWindow: seq accepted
}

// accept reports whether seq is new, and records it.
func (w *seqWindow) accept(seq uint64) bool {
	switch {
	case !w.any || seq > w.top:
		if !w.any || seq-w.top >= replayWindow {
			w.bits = [replayWindow / 64]uint64{}
		} else {
			for s := w.top + 1; s < seq; s++ {
				w.clear(s)
			}
		}
		w.top, w.any = seq, true
	case w.top-seq >= replayWindow:
		return false // too old to tell: treat as a replay
	case w.has(seq):
		return false
	}
	w.set(seq)
	return true
}

// seed makes w an author's window that has accepted every number up to
// top: what is known of an author from its mark.
func (w *seqWindow) seed(top uint64) {
	w.top, w.any = top, true
	for i := range w.bits {
		w.bits[i] = ^uint64(0)
	}
}

func (w *seqWindow) has(seq uint64) bool {
	i := seq % replayWindow
	return w.bits[i/64]&(1<<(i%64)) != 0
}

func (w *seqWindow) set(seq uint64) {
	i := seq % replayWindow
	w.bits[i/64] |= 1 << (i % 64)
}

func (w *seqWindow) clear(seq uint64) {
	i := seq % replayWindow
	w.bits[i/64] &^= 1 << (i % 64)
}

// inspect runs in pubsub's event loop on every RPC that src sends, before
// any of its messages is checked: it takes out the messages that
// admission would ignore anyway, or that come too fast from one forwarder
// (see [admission.hopeless]), so that a member flooding the room far above
// its limit costs a map look-up per message instead of a signature check.
// Without it, one author at 7000 messages a second kept the single
// validation worker busy: honest lines waited a second and more in its
// queue, and some were dropped from it (TestFlood, BenchmarkFlood).
// Messages it takes out for a rate are noted for sync, as the validator
// does. It never fails the RPC and never blocks.
func (h *Host) inspect(src peer.ID, rpc *pubsub.RPC) error {
	msgs := rpc.Publish
	if len(msgs) == 0 {
		return nil
	}
	kept := msgs[:0]
	now := time.Now()
	// Whether this RPC's copies may stand for their exact copies while
	// they wait for their signature checks (see [pending]).
	stands := len(rpc.GetSubscriptions()) == 0 && h.adm.pending.trusts(src, now)
	for _, m := range msgs {
		from := peer.ID(m.GetFrom())
		if from != "" && from != h.self {
			if drop, flood := h.adm.hopeless(from, src); drop {
				if flood {
					h.sync.lost(h.roomByTopic(m.GetTopic()), src)
				}
				continue
			}
			if stands && h.roomByTopic(m.GetTopic()) != nil && !h.adm.pending.admit(m, now) {
				continue // an exact copy waits for its check
			}
		}
		kept = append(kept, m)
	}
	clear(msgs[len(kept):])
	rpc.Publish = kept
	return nil
}

// tellThrottled tells the user that an author is over the flood limit,
// or that the new authors a peer or an address introduces are over
// theirs; the housekeeping goroutine calls it.
func (h *Host) tellThrottled(t throttle) {
	h.log.Info("told the user of a peer over a limit", "peer", t.author, "addr", t.addr, "kind", t.kind, "more", t.more)
	h.emit(chat.Event{Kind: chat.KindNotice, Time: time.Now(), PeerID: t.author.String(), Text: t.text()})
}

// text is the notice's sentence.
func (t throttle) text() string {
	intros := fmt.Sprintf("%d at once, then %d a second", introBurst, introRate)
	addrIntros := fmt.Sprintf("%d at once, then %d a second", addrFactor*introBurst, addrFactor*introRate)
	switch {
	case t.kind == throttleFlood && t.more:
		return "more peers send more than their flood limit (made-up identities?): their messages beyond it are dropped, and they are not named one by one"
	case t.kind == throttleFlood:
		return fmt.Sprintf("peer %s sends more than its flood limit (%.0f messages a second): its messages beyond it are dropped", t.author, float64(t.limit))
	case t.kind == throttleIntro && t.more:
		return fmt.Sprintf("more peers pass on messages of more new members than one peer may introduce (%s): the others' messages are ignored, and these peers are not named one by one", intros)
	case t.kind == throttleIntro:
		return fmt.Sprintf("peer %s passes on messages of more new members than one peer may introduce (%s; made-up identities?): the others' messages are ignored", t.author, intros)
	case t.kind == throttleAddr && t.more:
		return fmt.Sprintf("more addresses bring more new members than one address may (%s): the others' messages are ignored, and these addresses are not named one by one", addrIntros)
	case t.kind == throttleAddr:
		return fmt.Sprintf("the peers at %s bring more new members than one address may (%s; made-up identities?): the others' messages are ignored", t.addr, addrIntros)
	case t.more:
		return fmt.Sprintf("more peers serve history of more new members than one peer may introduce (%s): the others' lines are fetched later, and these peers are not named one by one", intros)
	case t.addr.IsValid():
		return fmt.Sprintf("peer %s serves history of more new members than the peers at %s may introduce (%s; made-up identities?): the others' lines are fetched later", t.author, t.addr, addrIntros)
	default:
		return fmt.Sprintf("peer %s serves history of more new members than one peer may introduce (%s; made-up identities?): the others' lines are fetched later", t.author, intros)
	}
}

// remoteAddr returns the IP address of p's connection to this host, the
// zero Addr if it has none: admission's addrOf.
func (h *Host) remoteAddr(p peer.ID) netip.Addr {
	for _, c := range h.host.Network().ConnsToPeer(p) {
		na, err := manet.ToNetAddr(c.RemoteMultiaddr())
		if err != nil {
			continue
		}
		if ta, ok := na.(*net.TCPAddr); ok {
			return ta.AddrPort().Addr().Unmap()
		}
	}
	return netip.Addr{}
}

// Copies waiting for their signature check. pubsub marks a message seen
// only once its signature has been checked, so every copy that arrives
// while the first waits in the validation queue is checked as well, only
// to be found a duplicate: in a full-mesh room with flood publishing each
// line reaches a member once from its author and once from every other
// member that relays it, and in BenchmarkSuiteCapacity 55 % of all
// signature checks were of such copies. [Host.inspect] drops a copy that
// is exactly (author, sequence number, topic, data, key and signature)
// one already waiting: its check could only repeat the first's verdict,
// and the first's delivery covers it. A copy that differs in any byte (a
// forger's copy of a line with a bad signature, or the genuine copy
// behind a forged one) is checked as ever, so a forged copy waiting
// never costs the genuine one.
//
// The drop is safe only while the waiting copy is truly in pubsub's
// validation queue. pubsub drops some messages after the inspector without
// telling its tracers: all of an RPC whose subscriptions our filter
// refuses, all of a graylisted peer's RPC, a message of a topic it is not
// in. So a copy stands for its exact copies only if its RPC carries no
// subscriptions, its topic is one of our rooms, and no peer could be
// graylisted: scores here fall only for invalid messages (see
// scoring.go), so a peer charged with a bad signature is never trusted
// here for pendingDistrust, and once this host has rejected any message as
// invalid (which charges every peer that delivered a copy of it) no copy
// stands for another for pendingDistrust. An honest room has neither.
// Whatever else drops a waiting copy untold costs at most its exact copies
// for pendingAge; after that the next copy is checked.
const (
	// pendingAge is how long a copy stands for its exact copies at most:
	// far above the time a line waits in the validation queue on a busy
	// machine (milliseconds), within gossip's three heartbeats of IHAVE
	// for one that was dropped untold.
	pendingAge = 2 * time.Second
	// maxWaiting bounds the copies remembered: twice the validation
	// queue. Beyond, copies are checked as ever.
	maxWaiting = 2 * 4096
	// pendingDistrust is how long a peer charged with an invalid message
	// is not trusted to stand for others' copies, and how long after any
	// invalid message none is: longer than pubsub keeps a score below zero
	// (decay to zero takes ~45 s after one, scores of peers that
	// disconnect are kept 10 min).
	pendingDistrust = 15 * time.Minute
)

// pending is the set of copies waiting for their signature checks. It is
// safe for concurrent use: [Host.inspect] adds to it in pubsub's event
// loop, pubsub's tracer calls (see [pendingTracer]) take out, from the
// event loop and the validation worker.
type pending struct {
	mu   sync.Mutex
	msgs map[pendingKey]pendingCopy
	// distrust holds, until when, the peers charged with an invalid
	// message; off is until when no copy stands for another.
	distrust map[peer.ID]time.Time
	off      time.Time
	dropped  int // copies dropped here, for tests and benchmarks

	// Copies whose checks pubsub began (signature good, ID now seen), and
	// duplicates it found (before or after a check): for benchmarks.
	validated, duplicates atomic.Int64
}

// pendingKey is a message's sequence number: authors number their
// messages from their clocks in nanoseconds at start, so two authors'
// numbers meet rarely, and then the second is only checked as ever. A
// number, not the author's ID and the number as text: no allocation per
// copy.
type pendingKey uint64

// pendingCopy is a copy waiting, and since when.
type pendingCopy struct {
	msg *pb.Message
	at  time.Time
}

func newPending() *pending {
	return &pending{msgs: make(map[pendingKey]pendingCopy), distrust: make(map[peer.ID]time.Time)}
}

// trusts reports whether copies that src sends may stand for their exact
// copies at now.
func (p *pending) trusts(src peer.ID, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return now.After(p.off) && !now.Before(p.distrust[src]) // zero time: never charged
}

// admit reports whether m, forwarded in an RPC whose copies may stand for
// others (see [pending.trusts]), is to be checked: false if an exact copy
// of it is waiting. If none of its author and sequence number is, m is
// recorded as the one waiting.
func (p *pending) admit(m *pb.Message, now time.Time) bool {
	k := keyOf(m)
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.msgs[k]; ok && now.Sub(c.at) < pendingAge {
		if sameMessage(c.msg, m) {
			p.dropped++
			return false
		}
		return true // another message (author) under that number: checked on its own
	}
	if len(p.msgs) < maxWaiting {
		p.msgs[k] = pendingCopy{m, now}
	}
	return true
}

// done takes m out if it is the copy recorded: its check is over, or
// pubsub dropped it (told).
func (p *pending) done(m *pb.Message) {
	k := keyOf(m)
	p.mu.Lock()
	if c, ok := p.msgs[k]; ok && c.msg == m {
		delete(p.msgs, k)
	}
	p.mu.Unlock()
}

// charge notes that src delivered an invalid message at now; all marks
// that no copy stands for another, for pendingDistrust.
func (p *pending) charge(src peer.ID, all bool, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	until := now.Add(pendingDistrust)
	if all || len(p.distrust) >= maxWarned {
		p.off = until
		return
	}
	p.distrust[src] = until
}

// prune forgets copies older than pendingAge and peers no longer
// distrusted.
func (p *pending) prune(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.msgs {
		if now.Sub(c.at) >= pendingAge {
			delete(p.msgs, k)
		}
	}
	for q, until := range p.distrust {
		if !now.Before(until) {
			delete(p.distrust, q)
		}
	}
}

// keyOf returns m's key in the pending set: its sequence number's last 8
// bytes (StrictSign numbers are 8).
func keyOf(m *pb.Message) pendingKey {
	var b [8]byte
	s := m.GetSeqno()
	copy(b[8-min(len(s), 8):], s[max(len(s)-8, 0):])
	return pendingKey(binary.BigEndian.Uint64(b[:]))
}

// sameMessage reports whether a and b are the same message byte for byte,
// as far as pubsub's signature check and our validator can tell.
func sameMessage(a, b *pb.Message) bool {
	return bytes.Equal(a.GetFrom(), b.GetFrom()) && bytes.Equal(a.GetSeqno(), b.GetSeqno()) &&
		a.GetTopic() == b.GetTopic() && bytes.Equal(a.GetData(), b.GetData()) &&
		bytes.Equal(a.GetSignature(), b.GetSignature()) && bytes.Equal(a.GetKey(), b.GetKey())
}

// pendingTracer is the pubsub RawTracer that takes copies out of the
// pending set when their checks end, and tells it of invalid messages.
// pubsub calls it from its event loop and validation worker; it never
// blocks.
type pendingTracer struct{ p *pending }

// ValidateMessage comes once the signature checked, and the ID marked
// seen: later copies are duplicates to pubsub already.
func (t pendingTracer) ValidateMessage(m *pubsub.Message) {
	t.p.validated.Add(1)
	t.p.done(m.Message)
}

func (t pendingTracer) DuplicateMessage(m *pubsub.Message) {
	t.p.duplicates.Add(1)
	t.p.done(m.Message)
}

func (t pendingTracer) RejectMessage(m *pubsub.Message, reason string) {
	t.p.done(m.Message)
	switch reason {
	case pubsub.RejectValidationFailed:
		// Every peer that delivered a copy of it is charged: trust nobody.
		t.p.charge(m.ReceivedFrom, true, time.Now())
	case pubsub.RejectInvalidSignature, pubsub.RejectMissingSignature, pubsub.RejectUnexpectedSignature,
		pubsub.RejectUnexpectedAuthInfo, pubsub.RejectSelfOrigin:
		t.p.charge(m.ReceivedFrom, false, time.Now())
	}
}

func (pendingTracer) DeliverMessage(*pubsub.Message)                       {}
func (pendingTracer) UndeliverableMessage(*pubsub.Message)                 {}
func (pendingTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (pendingTracer) RemovePeer(peer.ID)                                   {}
func (pendingTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (pendingTracer) OnClosedOutboundStream(peer.ID)                       {}
func (pendingTracer) Join(string)                                          {}
func (pendingTracer) Leave(string)                                         {}
func (pendingTracer) Graft(peer.ID, string)                                {}
func (pendingTracer) Prune(peer.ID, string)                                {}
func (pendingTracer) ThrottlePeer(peer.ID)                                 {}
func (pendingTracer) RecvRPC(*pubsub.RPC)                                  {}
func (pendingTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (pendingTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (pendingTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}

// counts returns the copies dropped here, the duplicates pubsub found and
// the copies it validated, since the start.
func (p *pending) counts() (dropped, duplicates, validated int64) {
	p.mu.Lock()
	dropped = int64(p.dropped)
	p.mu.Unlock()
	return dropped, p.duplicates.Load(), p.validated.Load()
}
