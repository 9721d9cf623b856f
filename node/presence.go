package node

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

// Presence timing that is not worth a Config field.
const (
	// A re-announce goes out reannounceMin..+reannounceJitter after a
	// trigger, and once more reannounceAgain later: a publish right after a
	// peer joins is sometimes lost (see the package comment).
	reannounceMin    = 100 * time.Millisecond
	reannounceJitter = 200 * time.Millisecond
	reannounceAgain  = time.Second
	// Re-announces answer triggers (a peer joins the topic, a member is new
	// or back), which anyone can cause at will: a peer that subscribes and
	// unsubscribes over and over, or makes up new identities. So at most
	// reannounceBurst triggers start a re-announce pair at once, then one
	// per reannounceEvery per room (later ones wait for their turn and
	// share it); and one peer's triggers count once per reannouncePerPeer
	// (see [churnFilter]: a trigger filtered is put off, not dropped). With
	// no periodic heartbeat a re-announce is how a newcomer learns who is
	// there: none is ever dropped, only delayed.
	reannounceBurst   = 3
	reannounceEvery   = 5 * time.Second
	reannouncePerPeer = 30 * time.Second
	// reannounceRetry is how long a re-announce skipped for a short send
	// budget waits before it tries again (the budget refills its spare
	// half in 2.5 s at most).
	reannounceRetry = time.Second
	// maxChurnPeers bounds the peers remembered for reannouncePerPeer.
	maxChurnPeers = 256
	// lostForget is how long a lost member stays in the roster (shown as
	// lost, not counted as present): long enough for a laptop's suspend or
	// a Wi-Fi hiccup, short enough that a crowd of gone members does not
	// linger. One heard again after that joins as new.
	lostForget = 10 * time.Minute
	// tombstoneTTL is how long a member's leave is remembered, to ignore
	// its envelopes that arrive late by another route. Longer than pubsub's
	// seen-cache (120 s).
	tombstoneTTL = 3 * time.Minute
	// ownCommitDelay is how long after an own line is accepted it is
	// committed to the log, with whatever came meanwhile (a paste's other
	// lines), and its echo and the events after it go out. Not at once:
	// pubsub hands our own line to us as it hands it to the peers' send
	// loops, and a commit then (bbolt's page copies, an fdatasync) takes
	// the CPU those sends need: about 0.3 ms of the others' latency on 2
	// cores (node BenchmarkSuiteLatency2 paced, cmd BenchmarkSuiteLANLatency).
	// The echo is that much later, which nobody sees.
	ownCommitDelay = 3 * time.Millisecond
	// maxMembers bounds a room's roster, self and lost members included
	// (see [roster.makeRoom]): far more than a LAN room holds, few enough
	// that a flood of made-up members costs little to list and draw.
	maxMembers = 1000
	// maxTombs bounds a room's remembered leaves.
	maxTombs = maxAuthors
	// fullNoticeEvery is how often, at most, the user is told that a full
	// roster ignores newcomers.
	fullNoticeEvery = 10 * time.Minute
)

// presenceLoop is the room's presence goroutine, the roster's only writer:
// it hands each record to the sink and the roster in arrival order, brings
// the roster up to date with which members are directly in the topic
// whenever that changes, and, when the next member may have become lost
// (a timer set to the roster's earliest deadline, nothing periodic), with
// what the validator heard; it reports members silent for too long as
// lost, tells the announcer whether the room needs heartbeats (see
// [roster.schedule]), and emits the events. It runs until ctx is done or
// inbox is closed.
func (r *Room) presenceLoop(ctx context.Context, inbox <-chan Record) {
	defer r.wg.Done()
	deadline := time.NewTimer(time.Hour)
	defer deadline.Stop()
	l := newLogView(r)
	defer l.stopHold()
	l.showDisk(time.Now())
	var nextPrune time.Time // when the validator's table has authors to forget; zero: empty
	// An own line's commit waits ownCommitDelay (echoC set); its events
	// and all after them wait in echoes until then, in order.
	commit := time.NewTimer(time.Hour)
	commit.Stop()
	defer commit.Stop()
	var echoC <-chan time.Time
	var echoes []chat.Event
	flushEchoes := func() { // at the end: what waits goes out now
		if echoC != nil {
			r.h.hist.flush()
			for _, ev := range echoes {
				r.emit(ev)
			}
		}
	}
	for {
		var evs []chat.Event
		pulled := int64(-1)
		select {
		case <-ctx.Done():
			l.drain(inbox)
			flushEchoes()
			return
		case <-r.pres.topic.changed:
			r.mu.Lock()
			back := r.pres.topic.apply(r.roster)
			r.mu.Unlock()
			for _, p := range back {
				r.triggerAnnounce(p, true)
			}
		case rec, ok := <-inbox:
			if !ok {
				flushEchoes()
				return
			}
			if rec.Author == r.h.self {
				r.pres.sentAt(time.Now())
			}
			evs = r.accept(l, rec)
			if l.dirty && echoC == nil {
				commit.Reset(ownCommitDelay)
				echoC = commit.C
			}
		case <-echoC:
			// One commit for the own lines and whatever else came since
			// (a paste's echoes), then their events.
			echoC = nil
			r.h.hist.flush()
			l.dirty = false
			evs, echoes = echoes, nil
		case <-r.syncWake:
			pending, done, results := r.takeSync()
			evs = l.synced(pending, results)
			pulled = done
		case <-l.holdC:
			evs = l.release()
		case now := <-deadline.C:
			r.mu.Lock()
			r.live.apply(r.roster)
			evs = r.roster.expire(now)
			r.roster.dirty = true // the timer is spent
			r.mu.Unlock()
			if !nextPrune.IsZero() && !now.Before(nextPrune) {
				nextPrune = r.live.prune(now)
			}
		}
		r.mu.Lock()
		if nextPrune.IsZero() && r.live.any() {
			nextPrune = time.Now().Add(lostForget)
			r.roster.dirty = true
		}
		if r.roster.dirty {
			next, needed := r.roster.schedule(time.Now())
			if next = minTime(next, nextPrune); next.IsZero() {
				deadline.Stop()
			} else {
				deadline.Reset(max(time.Until(next), 0))
			}
			r.pres.setFast(needed)
			r.roster.dirty = false
		}
		r.mu.Unlock()
		if echoC != nil {
			echoes = append(echoes, evs...)
		} else {
			for _, ev := range evs {
				r.emit(ev)
			}
		}
		if pulled >= 0 {
			r.pulled.Store(pulled)
		}
	}
}

// minTime returns the earlier of a and b, a zero time being later than
// any other.
func minTime(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// presenceLink is what a room's presence shares with the goroutines around
// it: what the topic's peer events say (peerEventLoop writes, presence
// applies), and what presence tells the announcer: whether the room needs
// heartbeats, when this node last published in it, and the re-announce
// triggers. Safe for concurrent use.
type presenceLink struct {
	topic *topicLinks
	fast  atomic.Bool   // heartbeats needed (see roster.schedule)
	sent  atomic.Int64  // when this node last published in the room, Unix ns
	kick  chan struct{} // cap 1: fast changed
	ann   announceQueue
}

func newPresenceLink() *presenceLink {
	return &presenceLink{topic: newTopicLinks(), kick: make(chan struct{}, 1),
		ann: announceQueue{peers: make(map[peer.ID]bool), wake: make(chan struct{}, 1)}}
}

// announceQueue holds the re-announce triggers on their way to the
// announcer (presence and peerEventLoop add, announceLoop takes): the
// peers that may not know this node, each with whether its trigger passes
// the churn filter regardless. Triggers of one peer merge; none is lost.
// Safe for concurrent use.
type announceQueue struct {
	mu    sync.Mutex
	peers map[peer.ID]bool // peer → forced
	// over: more than maxChurnPeers peers triggered since the announcer
	// last looked; the rest count as one trigger that passes (as the
	// churn filter lets peers it cannot remember pass).
	over bool
	wake chan struct{} // cap 1: something was added
}

// add queues a trigger for p; forced passes the churn filter.
func (q *announceQueue) add(p peer.ID, forced bool) {
	q.mu.Lock()
	if _, ok := q.peers[p]; ok || len(q.peers) < maxChurnPeers {
		q.peers[p] = q.peers[p] || forced
	} else {
		q.over = true
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns the queued triggers and empties the queue.
func (q *announceQueue) take() (peers map[peer.ID]bool, over bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	peers, over = q.peers, q.over
	q.peers, q.over = make(map[peer.ID]bool, len(peers)), false
	return peers, over
}

// setFast records whether the room needs heartbeats, and wakes the
// announcer if that changed.
func (p *presenceLink) setFast(v bool) {
	if p.fast.Swap(v) != v {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// sentAt records that this node published in the room at t: a line is
// as good as a heartbeat.
func (p *presenceLink) sentAt(t time.Time) {
	if n := t.UnixNano(); n > p.sent.Load() {
		p.sent.Store(n)
	}
}

// lastSent returns when this node last published in the room.
func (p *presenceLink) lastSent() time.Time { return time.Unix(0, p.sent.Load()) }

// maxTopicPeers bounds the peers whose topic links are remembered; beyond
// it a peer counts as not directly in the topic (judged by its silence).
const maxTopicPeers = maxAuthors

// topicLinks is which peers are directly in the room's topic, as pubsub's
// peer events tell (a peer joins when it subscribes over a connection to
// this node, leaves when it unsubscribes or the last connection closes),
// and when each of the others left. peerEventLoop writes it; presence
// applies it to the roster when changed says so. Safe for concurrent use.
type topicLinks struct {
	mu      sync.Mutex
	in      map[peer.ID]bool      // directly in the topic
	left    map[peer.ID]time.Time // when it left, for peers not in
	changed chan struct{}         // cap 1
}

func newTopicLinks() *topicLinks {
	return &topicLinks{in: make(map[peer.ID]bool), left: make(map[peer.ID]time.Time), changed: make(chan struct{}, 1)}
}

// note records that p joined (or left) the topic at now.
func (t *topicLinks) note(p peer.ID, joined bool, now time.Time) {
	t.mu.Lock()
	if joined {
		delete(t.left, p)
		if len(t.in) < maxTopicPeers {
			t.in[p] = true
		}
	} else {
		delete(t.in, p)
		if _, ok := t.left[p]; !ok && len(t.left) >= maxTopicPeers {
			delete(t.left, oldest(t.left, func(t time.Time) time.Time { return t }))
		}
		t.left[p] = now
	}
	t.mu.Unlock()
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// apply brings r's members' links up to date and forgets the departures
// that concern nobody in r; it returns the members back in the topic (see
// [roster.linked]).
func (t *topicLinks) apply(r *roster) (back []peer.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	back = r.linked(t.in, t.left)
	for p := range t.left {
		if _, ok := r.peers[p]; !ok {
			delete(t.left, p)
		}
	}
	return back
}

// accept hands rec to the sink, the roster and the log, and returns the
// events to emit. A member new or back (see [roster.handle]) may not know
// us: a re-announce is triggered. One that was away — lost, or its leave
// heard — and is back gets it whatever the churn filter says: after a
// healed cut neither side speaks unless someone does, and one that quit
// and came back (a restart, a /part and /join) knows nobody, however soon
// it came back. It cannot be away and back more often than its own leave
// or a heartbeat interval of silence allows, and the pacing bounds the
// rest (see [announceSchedule]).
//
// A chat line the log already has (fetched by sync, or a replay of one
// from before admission's window) is dropped here: it says nothing of
// its author's presence now. A line that brings back a lost member (or a
// new one) asks it for the history missed meanwhile: a partition that
// healed without a new connection is repaired at once.
func (r *Room) accept(l *logView, rec Record) []chat.Event {
	text := rec.Envelope.Kind.HasText()
	if text && r.h.hist.known(r.topicName, rec.ID) {
		return nil
	}
	if r.sink != nil {
		r.sink.Append(rec)
	}
	r.mu.Lock()
	away := r.roster.away(rec.Author)
	evs, reannounce := r.roster.handle(rec, time.Now())
	r.mu.Unlock()
	if text {
		evs = l.live(rec, evs)
	}
	if reannounce && rec.Author != r.h.self {
		r.triggerAnnounce(rec.Author, away)
		r.h.sync.request(r, rec.Author)
	}
	return evs
}

// readLoop moves records from the subscription to presence, adding the raw
// signed message. It ends when the subscription is cancelled or ctx is
// done, and closes inbox.
func (r *Room) readLoop(ctx context.Context, inbox chan<- Record) {
	defer r.wg.Done()
	defer close(inbox)
	for {
		m, err := r.sub.Next(ctx)
		if err != nil {
			return
		}
		rec, ok := m.ValidatorData.(*Record)
		if !ok {
			continue // cannot happen: the validator sets it on all it accepts
		}
		out := *rec
		out.Raw = rawMessage(m.Message)
		select {
		case inbox <- out:
		case <-ctx.Done():
			return
		}
	}
}

// triggerAnnounce asks the announcer for a re-announce because p may not
// know this node, without blocking; forced passes the churn filter.
func (r *Room) triggerAnnounce(p peer.ID, forced bool) { r.pres.ann.add(p, forced) }

// peerEventLoop tells presence who is directly in the topic, re-announces
// when a peer joins it, and asks that peer for the history this node
// lacks; every SyncInterval (jittered) it asks the member it pulled from
// longest ago. pubsub reports the peers already in the topic as joining,
// so a join pulls from everyone there.
func (r *Room) peerEventLoop(ctx context.Context) {
	defer r.annWG.Done()
	evs := make(chan pubsub.PeerEvent)
	go func() {
		defer close(evs)
		for {
			ev, err := r.peerEvts.NextPeerEvent(ctx)
			if err != nil {
				return
			}
			select {
			case evs <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		for range evs { // until the reader above is done
		}
	}()
	periodic := time.NewTimer(r.syncJitter())
	defer periodic.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-evs:
			if !ok {
				return
			}
			r.pres.topic.note(ev.Peer, ev.Type == pubsub.PeerJoin, time.Now())
			if ev.Type == pubsub.PeerJoin {
				r.log.Debug("peer joined topic", "peer", ev.Peer)
				r.triggerAnnounce(ev.Peer, false)
				r.h.sync.request(r, ev.Peer)
			}
		case <-periodic.C:
			if peers := r.topic.ListPeers(); len(peers) > 0 {
				r.h.sync.request(r, r.h.sync.stalest(r, peers))
			}
			periodic.Reset(r.syncJitter())
		}
	}
}

// announceLoop publishes heartbeats while the room needs them (presence
// says so: a member is not directly in the topic, see [roster.schedule]):
// one whenever the room has published nothing for HeartbeatInterval, the
// first at once; a line or any other envelope counts. While every member
// is directly in the topic it publishes no heartbeat at all: their links
// tell presence they are there. After each trigger it publishes a
// re-announce soon (with jitter) and once more about a second later.
// Bursts of triggers are coalesced and paced (see reannounceEvery), one
// peer's triggers pass the churn filter once per reannouncePerPeer (later
// ones are put off, see [churnFilter]), and re-announces go out only while
// the host's send budget has room to spare ([Host.spare]; one skipped
// tries again reannounceRetry later): a peer that joins and leaves the
// topic over and over cannot make this host publish much more than its
// heartbeats, nor exceed peers' flood limit. No trigger is dropped: each
// is answered by a re-announce that goes out after it, however late.
func (r *Room) announceLoop(ctx context.Context) {
	defer r.annWG.Done()
	hb := time.NewTimer(time.Hour)
	defer hb.Stop()
	var s announceSchedule
	churn := newChurnFilter()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	every := r.h.cfg.HeartbeatInterval
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.pres.kick:
		case <-hb.C:
		case <-r.pres.ann.wake:
			now := time.Now()
			peers, pass := r.pres.ann.take()
			for p, forced := range peers {
				if churn.allow(p, now, forced) {
					pass = true
				}
			}
			if pass {
				s.trigger(now, rand.N(reannounceJitter))
			}
		case <-timer.C:
			now := time.Now()
			if churn.due(now) {
				s.trigger(now, rand.N(reannounceJitter))
			}
			if s.due(now) {
				if r.heartbeat(ctx, true) {
					churn.paid()
				} else {
					s.skipped(now)
				}
			}
		}
		if r.pres.fast.Load() {
			if d := heartbeatDue(r.pres.lastSent(), time.Now(), every); d > 0 {
				hb.Reset(d)
			} else {
				r.heartbeat(ctx, false)
				churn.paid()
				hb.Reset(every)
			}
		} else {
			hb.Stop()
		}
		now := time.Now()
		wait := s.wait(now)
		if next := churn.next(); !next.IsZero() {
			wait = min(wait, max(next.Sub(now), 0))
		}
		timer.Reset(wait)
	}
}

// heartbeatDue returns how long after now a heartbeat is due, when the
// room last published at last and must not stay silent for longer than
// every; zero or less: now.
func heartbeatDue(last, now time.Time, every time.Duration) time.Duration {
	return last.Add(every).Sub(now)
}

// heartbeat publishes a presence heartbeat, logging failures. A
// re-announce (optional) is skipped when the send budget has no room to
// spare, and heartbeat then reports false: the caller tries again later.
// A regular heartbeat is counted against the budget.
func (r *Room) heartbeat(ctx context.Context, optional bool) (done bool) {
	if r.h.mute.Load() {
		return true
	}
	switch {
	case !optional:
		r.h.spend()
	case !r.h.spare():
		r.log.Debug("send budget short; putting a re-announce off")
		return false
	}
	if err := r.publish(ctx, wire.KindHeartbeat, ""); err != nil {
		if ctx.Err() == nil && !r.isGone() {
			r.log.Warn("heartbeat failed", "err", err)
		}
		return true
	}
	r.pres.sentAt(time.Now())
	return true
}

// announceSchedule holds the pending re-announces of a room: a pair of
// them for a trigger, one soon after it and one about a second later.
// Pairs are paced: reannounceBurst may start at once, then one per
// reannounceEvery; a trigger while a pair's first re-announce is pending
// shares it. So a room publishes at most 2 × (reannounceBurst + T /
// reannounceEvery) re-announces in any time T, whatever the triggers. The
// zero value has none pending.
type announceSchedule struct {
	soon, later time.Time
	// tat is the pacing's theoretical arrival time (GCRA): a pair may
	// start at tat - (reannounceBurst-1) × reannounceEvery at the earliest.
	tat time.Time
}

// trigger schedules re-announces for a trigger at now. A pending soon one
// covers this trigger too, with the later one that follows it. Otherwise
// a new pair starts reannounceMin + jitter after now, or when the pacing
// allows, whichever is later.
func (s *announceSchedule) trigger(now time.Time, jitter time.Duration) {
	if !s.soon.IsZero() {
		return
	}
	tat := s.tat
	if tat.Before(now) {
		tat = now
	}
	start := tat.Add(-(reannounceBurst - 1) * reannounceEvery)
	if first := now.Add(reannounceMin); start.Before(first) {
		start = first
	}
	s.tat = tat.Add(reannounceEvery)
	s.soon = start.Add(jitter)
	s.later = s.soon.Add(reannounceAgain - reannounceMin)
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

// skipped puts off the re-announce due at now that the send budget had no
// room for: it is due again reannounceRetry later, unless the pair's later
// one is pending before that and can stand for it (if that is skipped
// too, it is put off in turn). It is not a new pair: the pacing does not
// delay it.
func (s *announceSchedule) skipped(now time.Time) {
	retry := now.Add(reannounceRetry)
	if s.soon.IsZero() && (s.later.IsZero() || s.later.After(retry)) {
		s.soon = retry
	}
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

// churnFilter passes one re-announce trigger per peer per
// reannouncePerPeer: a peer that subscribes and unsubscribes over and over
// (or whose link flaps) makes this node re-announce once per window, and
// does not use up the room's pacing (see [announceSchedule]) that
// newcomers need. A trigger it filters is owed, not dropped: the next
// re-announce to go out, for whatever reason, answers it (paid), and if
// none has by the end of the peer's window the trigger passes then (due).
// With no periodic heartbeats nothing else would tell that peer who is
// there. A forced trigger (a member back from away, see [Room.accept])
// passes at once and starts its peer's window. The filter remembers at
// most maxChurnPeers peers; when full, a peer it does not know passes
// (made-up identities are bounded by the pacing). Not safe for concurrent
// use: the announcer owns it.
type churnFilter struct {
	peers map[peer.ID]churnMark
	owed  int // how many of peers are owed a re-announce
}

// churnMark is what the filter knows of one peer.
type churnMark struct {
	at   time.Time // when its last trigger passed
	owed bool      // a trigger of it was filtered, unanswered yet
}

func newChurnFilter() *churnFilter { return &churnFilter{peers: make(map[peer.ID]churnMark)} }

// allow reports whether p's trigger at now may start a re-announce
// (always if forced); if not, p is owed one.
func (f *churnFilter) allow(p peer.ID, now time.Time, forced bool) bool {
	m, ok := f.peers[p]
	if ok && !forced && now.Sub(m.at) < reannouncePerPeer {
		if !m.owed {
			m.owed = true
			f.owed++
			f.peers[p] = m
		}
		return false
	}
	if !ok && len(f.peers) >= maxChurnPeers {
		for q, m := range f.peers {
			if !m.owed && now.Sub(m.at) >= reannouncePerPeer {
				delete(f.peers, q)
			}
		}
		if len(f.peers) >= maxChurnPeers {
			return true
		}
	}
	if m.owed {
		f.owed--
	}
	f.peers[p] = churnMark{at: now}
	return true
}

// paid records that a re-announce went out: every trigger filtered before
// it is answered.
func (f *churnFilter) paid() {
	if f.owed == 0 {
		return
	}
	for p, m := range f.peers {
		if m.owed {
			f.peers[p] = churnMark{at: m.at}
		}
	}
	f.owed = 0
}

// next returns when the first owed trigger is due (zero if none is owed).
func (f *churnFilter) next() (next time.Time) {
	if f.owed == 0 {
		return time.Time{}
	}
	for _, m := range f.peers {
		if m.owed {
			next = minTime(next, m.at.Add(reannouncePerPeer))
		}
	}
	return next
}

// due reports whether an owed trigger is due at now: its peer's window has
// ended without a re-announce. Those due pass (their windows start again at
// now) and are no longer owed.
func (f *churnFilter) due(now time.Time) bool {
	if f.owed == 0 {
		return false
	}
	due := false
	for p, m := range f.peers {
		if m.owed && now.Sub(m.at) >= reannouncePerPeer {
			f.peers[p] = churnMark{at: now}
			f.owed--
			due = true
		}
	}
	return due
}

// liveness is what a room's validator learns of the room's members ahead
// of presence: when each author was last heard, and whether the newest
// envelope heard from it is a leave. The validator writes it as it accepts
// messages; presence reads it at each deadline (see [liveness.apply]). Silence
// is thereby measured when pubsub validates a message, not when presence
// gets to it, so a front end slow to read Events does not make members
// look silent. Safe for concurrent use.
type liveness struct {
	mu    sync.Mutex
	peers map[peer.ID]*heard
}

// heard is what the validator knows of one author in one room.
type heard struct {
	at      time.Time // last accepted
	seq     uint64    // highest sequence number accepted in the room
	leaving bool      // the envelope with seq is a leave
}

func newLiveness() *liveness { return &liveness{peers: make(map[peer.ID]*heard)} }

// heard records that the validator accepted message seq of p at now, a
// leave if leave is set. It reports whether seq is the newest accepted of
// p in this room (a leave that is not is stale: p said something after it).
func (l *liveness) heard(p peer.ID, seq uint64, now time.Time, leave bool) (newest bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.peers[p]
	if h == nil {
		if len(l.peers) >= maxAuthors {
			delete(l.peers, oldest(l.peers, func(h *heard) time.Time { return h.at }))
		}
		h = &heard{}
		l.peers[p] = h
		newest = true
	} else {
		newest = seq > h.seq
	}
	h.at = now
	if newest {
		h.seq = seq
		h.leaving = leave
	}
	return newest
}

// apply passes what the validator heard of the roster's members to r.
func (l *liveness) apply(r *roster) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range r.peers {
		if h := l.peers[p]; h != nil {
			r.heard(p, h.at, h.leaving)
		}
	}
}

// any reports whether l remembers any author.
func (l *liveness) any() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.peers) > 0
}

// prune forgets authors not heard for lostForget, and returns when the
// next of those left is due (zero if none is left).
func (l *liveness) prune(now time.Time) (next time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, h := range l.peers {
		if now.Sub(h.at) >= lostForget {
			delete(l.peers, p)
		} else {
			next = minTime(next, h.at.Add(lostForget))
		}
	}
	return next
}

// roster is a room's member list. It is pure bookkeeping: callers pass
// the time and emit the events it returns. Not safe for concurrent use:
// the room's presence goroutine is its only writer.
type roster struct {
	room      string // the room's name, for events
	self      peer.ID
	lostAfter time.Duration // silence after which a member not directly in the topic is lost
	downAfter time.Duration // time for a word by another route, once a member's direct link went
	peers     map[peer.ID]*entry
	lost      int                   // how many of peers are lost
	tombs     map[peer.ID]tombstone // members that left, by the seqno of their leave
	// fullAt is when the user was last told that the roster is full and
	// ignores newcomers; zero if never.
	fullAt time.Time
	// dirty is set by whatever may bring a deadline closer or change
	// whether heartbeats are needed: presence then asks schedule again.
	dirty   bool
	inTopic map[peer.ID]bool // peers directly in the topic (see linked)
	// connected reports whether this node still has a connection to p
	// (nil: never). A member silent past its deadline while connected is
	// not lost: see [roster.expire].
	connected func(peer.ID) bool
}

// entry is one member of the roster.
type entry struct {
	nick     string
	lastSeen time.Time
	lastSeq  uint64 // highest seqno seen; older envelopes do not change the nick
	lost     bool
	lostAt   time.Time
	direct   bool      // directly in the topic: connected to this node and subscribed
	downAt   time.Time // when it stopped being direct; zero while it is (or never was)
	leaving  bool      // its leave was heard and is yet to be handled
	self     bool
}

type tombstone struct {
	seq uint64
	at  time.Time
}

// newRoster returns the roster of room holding only self. A member
// directly in the topic is present for as long as it is; one that is not
// is lost after lostAfter of silence, and one whose direct link went is
// lost a heartbeat interval after that unless it is heard meanwhile (see
// [roster.silent]).
func newRoster(room string, self peer.ID, nick string, now time.Time, heartbeat, lostAfter time.Duration) *roster {
	return &roster{
		room:      room,
		self:      self,
		lostAfter: lostAfter,
		downAfter: min(heartbeat, lostAfter),
		peers:     map[peer.ID]*entry{self: {nick: nick, lastSeen: now, self: true}},
		tombs:     make(map[peer.ID]tombstone),
	}
}

// handle applies one record at now. It returns the events to emit and
// whether a re-announce is due (a member is new or back, so it may not know
// us yet).
func (r *roster) handle(m Record, now time.Time) (evs []chat.Event, reannounce bool) {
	env := m.Envelope
	// The wire allows the nicks of earlier versions; events and the
	// roster carry only valid ones. (env is a copy: the record keeps the
	// signed nick.)
	env.Nick = chat.SanitizeNick(env.Nick)
	pid := authorName(m) // not m.Author.String(): base58 again for every record
	msgEvent := func(self bool) chat.Event {
		return chat.Event{Kind: chat.KindMessage, Room: r.room, Time: now, PeerID: pid, Nick: env.Nick, ID: m.ID,
			Text: env.Text, Action: env.Kind == wire.KindAction, Sent: time.UnixMilli(env.Sent), Self: self}
	}
	if m.Author == r.self {
		e := r.peers[r.self]
		switch env.Kind {
		case wire.KindMessage, wire.KindAction:
			evs = append(evs, msgEvent(true))
		case wire.KindNick:
			if env.Nick != e.nick {
				evs = append(evs, chat.Event{Kind: chat.KindNick, Room: r.room, Time: now, PeerID: pid,
					Nick: env.Nick, OldNick: e.nick, Self: true})
				e.nick = env.Nick
			}
		}
		return evs, false
	}

	if t, ok := r.tombs[m.Author]; ok {
		if m.Seqno <= t.seq {
			// Sent before its leave, arrived after it: show the text, but do
			// not bring the member back.
			if env.Kind.HasText() {
				evs = append(evs, msgEvent(false))
			}
			return evs, false
		}
		delete(r.tombs, m.Author)
	}

	e := r.peers[m.Author]
	if e != nil && m.Seqno < e.lastSeq && (env.Kind == wire.KindLeave || e.lost) {
		// Older than something already heard from this member (a straggler
		// or a replay within the window): it says nothing about presence
		// now. A leave sent before a newer envelope is not true any more, and
		// a lost member is not back on the strength of an old envelope.
		e.leaving = false
		if env.Kind.HasText() {
			evs = append(evs, msgEvent(false))
		}
		return evs, false
	}
	if env.Kind == wire.KindLeave {
		if _, ok := r.tombs[m.Author]; !ok && len(r.tombs) >= maxTombs {
			delete(r.tombs, oldest(r.tombs, func(t tombstone) time.Time { return t.at }))
		}
		r.tombs[m.Author] = tombstone{seq: m.Seqno, at: now}
		r.dirty = true
		if e != nil {
			r.forget(m.Author)
			if !e.lost {
				evs = append(evs, chat.Event{Kind: chat.KindLeave, Room: r.room, Time: now, PeerID: pid,
					Nick: e.nick, Reason: chat.ReasonQuit})
			}
		}
		return evs, false
	}
	switch {
	case e == nil:
		if len(r.peers) >= maxMembers && !r.makeRoom() {
			// Not listed; what it says is shown all the same (admission
			// bounds how much of it there can be).
			if r.fullAt.IsZero() || now.Sub(r.fullAt) >= fullNoticeEvery {
				r.fullAt = now
				evs = append(evs, chat.Event{Kind: chat.KindNotice, Room: r.room, Time: now, Text: fullText})
			}
			if env.Kind.HasText() {
				evs = append(evs, msgEvent(false))
			}
			return evs, false
		}
		e = &entry{nick: env.Nick, lastSeq: m.Seqno, direct: r.isDirect(m.Author)}
		r.peers[m.Author] = e
		r.dirty = true
		evs = append(evs, chat.Event{Kind: chat.KindJoin, Room: r.room, Time: now, PeerID: pid, Nick: env.Nick})
		reannounce = true
	case e.lost:
		e.lost = false
		r.lost--
		e.downAt = time.Time{}
		r.dirty = true
		e.nick = env.Nick
		evs = append(evs, chat.Event{Kind: chat.KindJoin, Room: r.room, Time: now, PeerID: pid, Nick: e.nick})
		reannounce = true
	case m.Seqno > e.lastSeq && env.Nick != e.nick:
		evs = append(evs, chat.Event{Kind: chat.KindNick, Room: r.room, Time: now, PeerID: pid,
			Nick: env.Nick, OldNick: e.nick})
		e.nick = env.Nick
	}
	e.lastSeen = now
	e.lastSeq = max(e.lastSeq, m.Seqno)
	if env.Kind.HasText() {
		evs = append(evs, msgEvent(false))
	}
	return evs, reannounce
}

// fullText tells the user that a roster is full (see [roster.makeRoom]).
var fullText = fmt.Sprintf("the room is full (%d members): newcomers are not listed until someone leaves or is lost", maxMembers)

// makeRoom forgets the member of a full roster lost longest ago, for a
// newcomer, and reports whether there was one. With none lost the
// newcomer is not listed: identities cost nothing to make, and one that
// delivers its own messages is admitted without limit (see
// [admission.admitLocked]), so made-up members could otherwise push the
// real ones out.
func (r *roster) makeRoom() bool {
	if r.lost == 0 {
		return false
	}
	var victim peer.ID
	var at time.Time
	for p, e := range r.peers {
		if e.lost && (victim == "" || e.lostAt.Before(at)) {
			victim, at = p, e.lostAt
		}
	}
	r.forget(victim)
	return true
}

// forget removes p from the roster.
func (r *roster) forget(p peer.ID) {
	if e := r.peers[p]; e != nil {
		if e.lost {
			r.lost--
		}
		delete(r.peers, p)
	}
}

// heard records that the validator last heard p at at, and whether the
// newest envelope it heard of p is a leave. A leave heard is on its way
// to handle, which reports "quit": until then the member's closing
// connection must not make it "lost".
func (r *roster) heard(p peer.ID, at time.Time, leaving bool) {
	if e := r.peers[p]; e != nil && !e.lost {
		if at.After(e.lastSeen) {
			e.lastSeen = at
		}
		e.leaving = leaving
	}
}

// linked brings the members' direct links up to date: in holds the peers
// directly in the topic, left when each of the others left it (absent if
// it never was in, as far as the caller remembers). The roster keeps a
// copy of in for members it does not have yet. It returns the members
// back in the topic after their direct link went: lost, or not lost yet.
// Each is owed a re-announce whatever the churn filter says: after a link
// that healed neither side hears the other unless someone speaks
// (heartbeats go only where they are needed, see [roster.schedule]), and
// one back before it was lost may be a process that crashed and started
// again, knowing nobody.
func (r *roster) linked(in map[peer.ID]bool, left map[peer.ID]time.Time) (back []peer.ID) {
	r.inTopic = maps.Clone(in)
	for p, e := range r.peers {
		switch {
		case e.self:
		case in[p] && !e.direct:
			if e.lost || !e.downAt.IsZero() {
				back = append(back, p)
			}
			r.up(p)
		case !in[p] && e.direct:
			r.down(p, left[p])
		}
	}
	return back
}

// away reports whether p is a lost member, or one whose leave was heard.
func (r *roster) away(p peer.ID) bool {
	if _, ok := r.tombs[p]; ok {
		return true
	}
	e := r.peers[p]
	return e != nil && e.lost
}

// isDirect reports whether p is directly in the topic, as far as the last
// linked call said: a member new to the roster starts with it.
func (r *roster) isDirect(p peer.ID) bool { return r.inTopic[p] }

// down records that member p stopped being directly in the topic at at:
// if it is not heard by another route within r.downAfter, it is lost
// (a member still there heartbeats as soon as it notices, see
// [roster.schedule]).
func (r *roster) down(p peer.ID, at time.Time) {
	e := r.peers[p]
	if e == nil || e.self {
		return
	}
	e.direct = false
	if !e.lost {
		e.downAt = at
	}
	r.dirty = true
}

// up records that member p is directly in the topic (again).
func (r *roster) up(p peer.ID) {
	if e := r.peers[p]; e != nil && !e.self {
		e.direct, e.downAt = true, time.Time{}
		r.dirty = true
	}
}

// deadline returns when member e (not self, not lost) is lost if nothing
// more is heard of it: never (zero) while it is directly in the topic; a
// heartbeat interval after its direct link went, if not heard since; else
// lostAfter after it was last heard.
func (r *roster) deadline(e *entry) time.Time {
	switch {
	case e.direct:
		return time.Time{}
	case !e.downAt.IsZero() && !e.lastSeen.After(e.downAt) && !e.leaving:
		return e.downAt.Add(r.downAfter)
	}
	return e.lastSeen.Add(r.lostAfter)
}

// silent reports whether e has been silent long enough at now to be lost.
func (r *roster) silent(e *entry, now time.Time) bool {
	d := r.deadline(e)
	return !d.IsZero() && !now.Before(d)
}

// schedule returns when expire has something to do next (zero: nothing
// pending), and whether the room needs heartbeats from this node: some
// member present is not directly in the topic, so it hears of us only
// through others, by our envelopes (and may have just lost its direct
// link to us: a heartbeat at once tells it we are still there). While
// every member is directly in the topic, their links say who is there and
// the room needs no heartbeat.
func (r *roster) schedule(now time.Time) (next time.Time, heartbeats bool) {
	for _, e := range r.peers {
		switch {
		case e.self:
		case e.lost:
			next = minTime(next, e.lostAt.Add(lostForget))
		default:
			if !e.direct {
				heartbeats = true
			}
			next = minTime(next, r.deadline(e))
		}
	}
	for _, t := range r.tombs {
		next = minTime(next, t.at.Add(tombstoneTTL))
	}
	return next, heartbeats
}

// expire marks silent members as lost, and forgets old lost members and
// tombstones.
func (r *roster) expire(now time.Time) (evs []chat.Event) {
	for p, e := range r.peers {
		switch {
		case e.self:
		case !e.lost && r.silent(e, now) && !e.leaving && r.connected != nil && r.connected(p):
			// pubsub says it left the topic, or nothing came from it by
			// another route, yet its connection is up and it said no
			// goodbye. pubsub can drop a peer from its topic view on one
			// side only (a stream of a duplicate connection closed: the
			// other side keeps its stream and sends no new subscription),
			// and with nobody heartbeating (everyone direct, as the other
			// side thinks) the member would be shown lost while it is
			// there: 1 idle 10-node room in 8 showed that. A live link says
			// it is there, as heartbeats did; its deadline moves on, and
			// the link is asked again then. A member that crashed or was
			// cut off has no connection (the kernel's keepalive ends a dead
			// one within 5 s), so it is lost as before.
			e.lastSeen = now
			r.dirty = true
		case !e.lost && r.silent(e, now):
			e.lost = true
			r.lost++
			e.lostAt = now
			e.downAt = time.Time{}
			r.dirty = true
			evs = append(evs, chat.Event{Kind: chat.KindLeave, Room: r.room, Time: now, PeerID: p.String(),
				Nick: e.nick, Reason: chat.ReasonLost})
		case e.lost && now.Sub(e.lostAt) >= lostForget:
			r.forget(p)
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
func (r *roster) members() []chat.Member {
	ms := make([]chat.Member, 0, len(r.peers))
	for p, e := range r.peers {
		ms = append(ms, chat.Member{PeerID: p.String(), Nick: e.nick, Lost: e.lost, Self: e.self})
	}
	return ms
}

// present returns how many members are not lost, self included.
func (r *roster) present() int {
	n := 0
	for _, e := range r.peers {
		if !e.lost {
			n++
		}
	}
	return n
}
