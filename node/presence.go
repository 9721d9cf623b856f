package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// Presence timing that is not worth a Config field.
const (
	// A re-announce goes out reannounceMin..+reannounceJitter after a
	// trigger, and once more reannounceAgain later: a publish right after a
	// peer joins is sometimes lost (see the package comment).
	reannounceMin    = 100 * time.Millisecond
	reannounceJitter = 200 * time.Millisecond
	reannounceAgain  = time.Second
	// lostForget is how long a lost member stays in the roster.
	lostForget = time.Hour
	// tombstoneTTL is how long a member's leave is remembered, to ignore
	// its envelopes that arrive late by another route. Longer than pubsub's
	// seen-cache (120 s).
	tombstoneTTL = 3 * time.Minute
	// replayMemory is how long an author's replay window is remembered
	// after its last message. A replay of its messages is recognised for
	// that long; an author whose clock was set back by more than its uptime
	// cannot be heard again for that long either (its new sequence numbers
	// look old).
	replayMemory = time.Hour
	// maxAuthors bounds the authors the validator remembers (replay window
	// and flood limit, ~400 bytes each).
	maxAuthors = 4096
	// A peer may introduce introBurst authors not heard before at once,
	// then introRate a second; see [Node.admitLocked].
	introBurst = 256
	introRate  = 4
	// maxWarned bounds the set of peers already warned about bad envelopes.
	maxWarned = 1024
)

// inMsg is a validated pubsub message as presence needs it.
type inMsg struct {
	from peer.ID
	seq  uint64
	id   string
	env  envelope
}

// readLoop moves messages from the subscription to presence. It ends when
// the subscription is cancelled or ctx is done.
func (n *Node) readLoop(ctx context.Context, inbox chan<- inMsg) {
	defer n.wg.Done()
	defer close(inbox)
	for {
		m, err := n.sub.Next(ctx)
		if err != nil {
			return
		}
		env, ok := m.ValidatorData.(envelope)
		if !ok {
			continue // cannot happen: the validator sets it on all it accepts
		}
		seq, _ := seqno(m) // the validator checked it
		from := m.GetFrom()
		in := inMsg{from: from, seq: seq, env: env,
			id: fmt.Sprintf("%s/%x", from, m.GetSeqno())}
		select {
		case inbox <- in:
		case <-ctx.Done():
			return
		}
	}
}

// presenceLoop owns roster changes: it applies messages in arrival order,
// reports members silent for LostAfter as lost, and emits the events.
func (n *Node) presenceLoop(ctx context.Context, inbox <-chan inMsg) {
	defer n.wg.Done()
	tick := time.NewTicker(max(n.cfg.HeartbeatInterval/8, 10*time.Millisecond))
	defer tick.Stop()
	for {
		var evs []Event
		reannounce := false
		select {
		case <-ctx.Done():
			return
		case m, ok := <-inbox:
			if !ok {
				return
			}
			n.mu.Lock()
			evs, reannounce = n.roster.handle(m, time.Now())
			n.mu.Unlock()
		case <-tick.C:
			now := time.Now()
			n.mu.Lock()
			evs = n.roster.expire(now)
			n.mu.Unlock()
			n.pruneAuthors(now)
		}
		if reannounce {
			n.triggerAnnounce()
		}
		for _, ev := range evs {
			n.emit(ev)
		}
	}
}

// triggerAnnounce asks the announcer for a re-announce, without blocking.
func (n *Node) triggerAnnounce() {
	select {
	case n.announceCh <- struct{}{}:
	default:
	}
}

// peerEventLoop re-announces when a peer joins the topic.
func (n *Node) peerEventLoop(ctx context.Context) {
	defer n.annWG.Done()
	for {
		ev, err := n.peerEvts.NextPeerEvent(ctx)
		if err != nil {
			return
		}
		if ev.Type == pubsub.PeerJoin {
			n.log.Debug("peer joined topic", "peer", ev.Peer)
			n.triggerAnnounce()
		}
	}
}

// connLoop tells the roster when the last connection to a peer has closed
// (a crashed or killed member: no leave will come) and when a peer is
// connected again. It must keep reading: the swarm waits for it.
func (n *Node) connLoop(ctx context.Context) {
	defer n.annWG.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-n.connEvts.Out():
			if !ok {
				return
			}
			ev, ok := e.(event.EvtPeerConnectednessChanged)
			if !ok {
				continue
			}
			now := time.Now()
			n.mu.Lock()
			switch ev.Connectedness {
			case network.NotConnected:
				n.roster.disconnected(ev.Peer, now)
			case network.Connected:
				n.roster.reconnected(ev.Peer)
			}
			n.mu.Unlock()
		}
	}
}

// announceLoop publishes a heartbeat every HeartbeatInterval, and after each
// trigger a re-announce soon (with jitter) and once more about a second
// later. Bursts of triggers are coalesced.
func (n *Node) announceLoop(ctx context.Context) {
	defer n.annWG.Done()
	tick := time.NewTicker(n.cfg.HeartbeatInterval)
	defer tick.Stop()
	var s announceSchedule
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			n.heartbeat()
		case <-n.announceCh:
			s.trigger(time.Now(), rand.N(reannounceJitter))
		case <-timer.C:
			if s.due(time.Now()) {
				n.heartbeat()
			}
		}
		timer.Reset(s.wait(time.Now()))
	}
}

// heartbeat publishes a presence heartbeat, logging failures.
func (n *Node) heartbeat() {
	if n.mute.Load() {
		return
	}
	if err := n.publish(kindHeartbeat, ""); err != nil && !n.closing.Load() {
		n.log.Warn("heartbeat failed", "err", err)
	}
}

// announceSchedule holds the pending re-announces: one soon after a trigger
// and one about a second later. The zero value has none pending.
type announceSchedule struct {
	soon, later time.Time
}

// trigger schedules re-announces for a trigger at now. A pending soon one is
// kept (it covers this trigger too); the later one moves out.
func (s *announceSchedule) trigger(now time.Time, jitter time.Duration) {
	if s.soon.IsZero() {
		s.soon = now.Add(reannounceMin + jitter)
	}
	s.later = now.Add(reannounceAgain + jitter)
}

// due reports whether a re-announce is due at now, and consumes it.
func (s *announceSchedule) due(now time.Time) bool {
	switch {
	case !s.soon.IsZero() && !now.Before(s.soon):
		s.soon = time.Time{}
		if !s.later.IsZero() && !now.Before(s.later) {
			s.later = time.Time{}
		}
		return true
	case !s.later.IsZero() && !now.Before(s.later):
		s.later = time.Time{}
		return true
	}
	return false
}

// wait returns how long until the next pending re-announce (an hour if none).
func (s *announceSchedule) wait(now time.Time) time.Duration {
	d := time.Hour
	for _, t := range []time.Time{s.soon, s.later} {
		if !t.IsZero() {
			d = min(d, max(t.Sub(now), 0))
		}
	}
	return d
}

// validate is the topic validator. It rejects envelopes that do not decode
// (short, oversize, bad version, unknown kind, bad UTF-8, bad nick, empty
// text) and ignores replays and authors over the flood limit (see
// [Node.screen]). The author is the signer (StrictSign); nothing in the
// payload says who sent it.
func (n *Node) validate(_ context.Context, src peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	author := m.GetFrom()
	env, err := decode(m.GetData())
	if err != nil {
		n.warnOnce(author, "rejected bad envelope", err)
		return pubsub.ValidationReject
	}
	seq, ok := seqno(m)
	if !ok {
		n.warnOnce(author, "rejected message without a sequence number", nil)
		return pubsub.ValidationReject
	}
	// pubsub itself drops messages of ours that come back from the network.
	if author != n.self {
		res, newest := n.screen(author, src, seq)
		if res != pubsub.ValidationAccept {
			return res
		}
		if env.Kind == kindLeave && newest {
			// Confirm it to the leaver by closing the connection (see
			// [Node.sendLeave]). Not for a leave older than something
			// already heard: the author may have restarted since.
			select {
			case n.byes <- author:
			default:
			}
		}
		// The author is alive now, whatever the front end's pace: while
		// Events is full, presence falls behind the messages queued for it
		// and must not report members lost that are only waiting in line.
		n.mu.Lock()
		n.roster.heard(author, time.Now(), env.Kind == kindLeave)
		n.mu.Unlock()
	}
	m.ValidatorData = env
	return pubsub.ValidationAccept
}

// seqno returns the pubsub sequence number of m.
func seqno(m *pubsub.Message) (uint64, bool) {
	s := m.GetSeqno()
	if len(s) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(s), true
}

// author is what the validator remembers of one message author.
type author struct {
	lim   *rate.Limiter // flood limit
	seqs  seqWindow     // sequence numbers accepted, to spot replays
	heard time.Time     // last message accepted
}

// screen applies the per-author rules to message seq of from, forwarded by
// src: a message already accepted once, or older than the author's replay
// window, is a replay and ignored (pubsub's own seen-cache forgets a message
// after two minutes, after which anybody could publish it again); so is
// traffic above the flood limit. Replays are checked first, so they do not
// use up the author's flood allowance. An author not heard before must be
// admitted first (see [Node.admitLocked]). newest reports whether seq is the
// highest accepted from the author so far.
func (n *Node) screen(from, src peer.ID, seq uint64) (res pubsub.ValidationResult, newest bool) {
	n.limMu.Lock()
	a := n.authors[from]
	if a == nil {
		if !n.admitLocked(from, src) {
			n.limMu.Unlock()
			n.warnOnce(src, "peer forwards messages of too many new authors; ignoring them", nil)
			return pubsub.ValidationIgnore, false
		}
		a = &author{lim: rate.NewLimiter(n.recvLimit, n.recvBurst)}
		n.authors[from] = a
	}
	newest = !a.seqs.any || seq > a.seqs.top
	replay := !a.seqs.accept(seq)
	flood := !replay && !a.lim.Allow()
	if !replay && !flood {
		a.heard = time.Now()
	}
	n.limMu.Unlock()
	switch {
	case replay:
		n.warnOnce(from, "ignored a replayed message", nil)
		return pubsub.ValidationIgnore, false
	case flood:
		n.warnOnce(from, "peer over the flood limit; dropping its messages", nil)
		return pubsub.ValidationIgnore, false
	}
	return pubsub.ValidationAccept, newest
}

// admitLocked reports whether a first message of author from, forwarded by
// src, may be accepted, and makes room for it; n.limMu is held. Anybody can
// make up identities and sign messages with them, thousands a second, each
// a new member and a new entry in every table, and bypass the per-author
// flood limit. An author that delivers its own message is admitted: every
// identity then costs a connection. An author relayed by another peer (in a
// room that is not fully connected) uses up one of the relay's
// introductions: introBurst at once, then introRate a second, enough to
// pass on a whole room. When the table is full the author heard longest ago
// makes room, so members that keep talking are never forgotten.
func (n *Node) admitLocked(from, src peer.ID) bool {
	if src != from {
		l := n.intros[src]
		if l == nil {
			l = rate.NewLimiter(introRate, introBurst)
			n.intros[src] = l
		}
		if !l.Allow() {
			return false
		}
	}
	if len(n.authors) >= maxAuthors {
		var oldest peer.ID
		var at time.Time
		for p, a := range n.authors {
			if oldest == "" || a.heard.Before(at) {
				oldest, at = p, a.heard
			}
		}
		delete(n.authors, oldest)
	}
	return true
}

// pruneAuthors forgets authors not heard for replayMemory, and relays whose
// introductions are all available again, so the maps do not grow with every
// peer ever seen.
func (n *Node) pruneAuthors(now time.Time) {
	n.limMu.Lock()
	defer n.limMu.Unlock()
	for p, a := range n.authors {
		if now.Sub(a.heard) >= replayMemory {
			delete(n.authors, p)
		}
	}
	for p, l := range n.intros {
		if l.TokensAt(now) >= introBurst {
			delete(n.intros, p)
		}
	}
}

// warnOnce logs a problem with a peer's messages the first time only.
func (n *Node) warnOnce(p peer.ID, msg string, err error) {
	n.limMu.Lock()
	// Once maxWarned peers have been warned about, made-up identities
	// (thousands a second) must not flood the log: the rest is debug.
	warn := !n.warned[p] && len(n.warned) < maxWarned
	if warn {
		n.warned[p] = true
	}
	n.limMu.Unlock()
	if warn {
		n.log.Warn(msg, "peer", p, "err", err)
	} else {
		n.log.Debug(msg, "peer", p, "err", err)
	}
}

// roster is the room's member list. It is pure bookkeeping: callers pass
// the time and emit the events it returns. Not safe for concurrent use.
type roster struct {
	self      peer.ID
	lostAfter time.Duration // silence after which a member is lost
	downAfter time.Duration // the same once its last connection has closed
	peers     map[peer.ID]*entry
	tombs     map[peer.ID]tombstone // members that left, by the seqno of their leave
}

// entry is one member of the roster.
type entry struct {
	nick     string
	lastSeen time.Time
	lastSeq  uint64 // highest seqno seen; older envelopes do not change the nick
	lost     bool
	lostAt   time.Time
	downAt   time.Time // when the last direct connection closed; zero while connected (or never)
	leaving  bool      // its leave was heard and is yet to be handled
	self     bool
}

type tombstone struct {
	seq uint64
	at  time.Time
}

// newRoster returns a roster holding only self. Members are lost after
// lostAfter of silence, or after one and a half heartbeat intervals of
// silence once their last direct connection has closed.
func newRoster(self peer.ID, nick string, now time.Time, heartbeat, lostAfter time.Duration) *roster {
	return &roster{
		self:      self,
		lostAfter: lostAfter,
		downAfter: min(heartbeat+heartbeat/2, lostAfter),
		peers:     map[peer.ID]*entry{self: {nick: nick, lastSeen: now, self: true}},
		tombs:     make(map[peer.ID]tombstone),
	}
}

// handle applies one message at now. It returns the events to emit and
// whether a re-announce is due (a member is new or back, so it may not know
// us yet).
func (r *roster) handle(m inMsg, now time.Time) (evs []Event, reannounce bool) {
	env := m.env
	pid := m.from.String()
	msgEvent := func(self bool) Event {
		return Event{Type: EventMessage, Time: now, PeerID: pid, Nick: env.Nick, ID: m.id,
			Text: env.Text, Action: env.Kind == kindAction, Sent: time.UnixMilli(env.Sent), Self: self}
	}
	if m.from == r.self {
		e := r.peers[r.self]
		switch env.Kind {
		case kindMessage, kindAction:
			evs = append(evs, msgEvent(true))
		case kindNick:
			if env.Nick != e.nick {
				evs = append(evs, Event{Type: EventNick, Time: now, PeerID: pid, Nick: env.Nick, OldNick: e.nick, Self: true})
				e.nick = env.Nick
			}
		}
		return evs, false
	}

	if t, ok := r.tombs[m.from]; ok {
		if m.seq <= t.seq {
			// Sent before its leave, arrived after it: show the text, but do
			// not bring the member back.
			if env.Kind.needsText() {
				evs = append(evs, msgEvent(false))
			}
			return evs, false
		}
		delete(r.tombs, m.from)
	}

	e := r.peers[m.from]
	if e != nil && m.seq < e.lastSeq && (env.Kind == kindLeave || e.lost) {
		// Older than something already heard from this member (a straggler
		// or a replay within the window): it says nothing about presence
		// now. A leave sent before a newer envelope is not true any more, and
		// a lost member is not back on the strength of an old envelope.
		e.leaving = false
		if env.Kind.needsText() {
			evs = append(evs, msgEvent(false))
		}
		return evs, false
	}
	if env.Kind == kindLeave {
		r.tombs[m.from] = tombstone{seq: m.seq, at: now}
		if e != nil {
			delete(r.peers, m.from)
			if !e.lost {
				evs = append(evs, Event{Type: EventLeave, Time: now, PeerID: pid, Nick: e.nick, Reason: ReasonQuit})
			}
		}
		return evs, false
	}
	switch {
	case e == nil:
		e = &entry{nick: env.Nick, lastSeq: m.seq}
		r.peers[m.from] = e
		evs = append(evs, Event{Type: EventJoin, Time: now, PeerID: pid, Nick: env.Nick})
		reannounce = true
	case e.lost:
		e.lost = false
		e.downAt = time.Time{}
		e.nick = env.Nick
		evs = append(evs, Event{Type: EventJoin, Time: now, PeerID: pid, Nick: e.nick})
		reannounce = true
	case m.seq > e.lastSeq && env.Nick != e.nick:
		evs = append(evs, Event{Type: EventNick, Time: now, PeerID: pid, Nick: env.Nick, OldNick: e.nick})
		e.nick = env.Nick
	}
	e.lastSeen = now
	e.lastSeq = max(e.lastSeq, m.seq)
	if env.Kind.needsText() {
		evs = append(evs, msgEvent(false))
	}
	return evs, reannounce
}

// heard records that p was heard at now, before its message is handled.
// A leave heard is on its way to handle, which reports "quit": until then
// the member's closing connection must not make it "lost".
func (r *roster) heard(p peer.ID, now time.Time, leave bool) {
	if e := r.peers[p]; e != nil && !e.lost {
		e.lastSeen = now
		e.leaving = e.leaving || leave
	}
}

// disconnected records that the last direct connection to p closed at now.
// If nothing more is heard from p, by another route, it is lost
// r.downAfter after it was last heard instead of r.lostAfter: its heartbeat
// would have come by then.
func (r *roster) disconnected(p peer.ID, now time.Time) {
	if e := r.peers[p]; e != nil && !e.lost && !e.self {
		e.downAt = now
	}
}

// reconnected records that p is directly connected again.
func (r *roster) reconnected(p peer.ID) {
	if e := r.peers[p]; e != nil {
		e.downAt = time.Time{}
	}
}

// silent reports whether e has been silent long enough at now to be lost.
func (r *roster) silent(e *entry, now time.Time) bool {
	quiet := now.Sub(e.lastSeen)
	down := !e.downAt.IsZero() && !e.lastSeen.After(e.downAt) && !e.leaving
	return quiet >= r.lostAfter || down && quiet >= r.downAfter
}

// expire marks silent members as lost, and forgets old lost members and
// tombstones.
func (r *roster) expire(now time.Time) (evs []Event) {
	for p, e := range r.peers {
		switch {
		case e.self:
		case !e.lost && r.silent(e, now):
			e.lost = true
			e.lostAt = now
			e.downAt = time.Time{}
			evs = append(evs, Event{Type: EventLeave, Time: now, PeerID: p.String(), Nick: e.nick, Reason: ReasonLost})
		case e.lost && now.Sub(e.lostAt) >= lostForget:
			delete(r.peers, p)
		}
	}
	for p, t := range r.tombs {
		if now.Sub(t.at) >= tombstoneTTL {
			delete(r.tombs, p)
		}
	}
	return evs
}

// members returns the roster as Members, unsorted, without Addrs.
func (r *roster) members() []Member {
	ms := make([]Member, 0, len(r.peers))
	for p, e := range r.peers {
		ms = append(ms, Member{PeerID: p.String(), Nick: e.nick, Lost: e.lost, Self: e.self})
	}
	return ms
}
