package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/time/rate"

	"lanchat/node/chat"
	"lanchat/node/reconcile"
	"lanchat/node/store"
	"lanchat/node/syncwire"
)

// History sync.
//
// Two members of a room reconcile the sets of line IDs their logs hold for
// it, over a stream of syncProtocol (frames of [lanchat/node/syncwire]),
// then the requester fetches by ID what it lacks. A node pulls: it asks
// when a peer joins the room's topic (a new member, a new connection to
// one, or its own join, since pubsub reports the members already there),
// and every SyncInterval (±25%) from one member at random, which repairs a
// partition that healed without a reconnection. Both sides of a new
// connection pull, so each ends up with the other's lines.
//
// What is reconciled is a window: the lines of the last SyncWindow, at
// most SyncMaxLines of them; both sides use the later of their two floors,
// so each holds at most SyncMaxLines in it. The reconciliation itself is
// range-based ([lanchat/node/reconcile]): identical logs cost one round
// trip of a few dozen bytes.
//
// Every fetched line is checked before it is stored or shown, as pubsub
// checks a live one, and more: it is one the requester asked for, of the
// room's topic, signed by its author (strict signing), its envelope a
// message or action of the room (opened with the room key, for a private
// room), at most MaxRecord bytes, and not more than a window older than
// the floor nor a window ahead of the requester's clock. A peer that
// serves one line that fails is cut off: every line of the exchange is
// dropped, the connection closed, and the peer refused (connections and
// sync) for syncBan. Fetched lines do not go through admission: they are
// never published again, and a line already logged is never shown twice,
// so sync opens no hole in the anti-replay rules for live traffic.
//
// Bounds, so that a hostile peer cannot make a node spend unbounded
// memory, disk or CPU: frames of at most syncwire.MaxFrame; an exchange
// takes at most syncTimeout, at most syncMaxRounds reconcile rounds, and
// fetches at most SyncMaxLines lines; a node serves at most syncServe
// exchanges at once (syncServePerPeer per peer) and starts at most
// syncServeRate a second per peer (after a burst), answering "busy" to
// more; only members subscribed to the room's topic are served.
const (
	syncProtocol     = protocol.ID("/lanchat/sync/1")
	syncTimeout      = 30 * time.Second
	syncWorkers      = 4
	syncQueue        = 256
	syncServe        = 8
	syncServePerPeer = 2
	syncServeRate    = 1 // exchanges per second per peer, after syncServeBurst
	syncServeBurst   = 40
	syncMaxRounds    = 32
	syncBan          = 10 * time.Minute
	// syncRetry is the first pause before asking again a peer that
	// answered "not in the room" or "busy" (at a join, its side may not
	// have seen our subscription yet); it doubles, syncRetries times
	// (1.55 s in all).
	syncRetry   = 50 * time.Millisecond
	syncRetries = 5
	// maxSyncLimiters bounds the per-peer rate limiters kept.
	maxSyncLimiters = 1024
)

var (
	errNotJoined = errors.New("node: peer is not in the room")
	errBusy      = errors.New("node: peer is busy")
	errForged    = errors.New("node: peer served a line that does not check")
	errProtocol  = errors.New("node: sync protocol violation")
)

// syncMsg is what a pull tells the room's presence goroutine: that it
// starts (start), or its result: the checked lines, from peer, and how
// many lines the peer holds below the window.
type syncMsg struct {
	start bool
	peer  peer.ID
	recs  []Record
	older uint64
}

type syncJob struct {
	room  *Room
	peer  peer.ID
	tries int
}

// syncer runs a host's pulls (syncWorkers at once) and serves its peers'.
type syncer struct {
	h    *Host
	jobs chan syncJob

	mu       sync.Mutex
	queued   map[string]bool // topic+"\x00"+peer queued or running
	serving  map[peer.ID]int
	servingN int
	limiters map[peer.ID]*rate.Limiter

	// For tests and benchmarks: the bytes of sync frames, both ways, of
	// this host's pulls and of those it served, and the pulls that ended
	// without an error.
	pullBytes, serveBytes, pullsOK atomic.Int64
}

func newSyncer(h *Host) *syncer {
	return &syncer{h: h, jobs: make(chan syncJob, syncQueue), queued: make(map[string]bool),
		serving: make(map[peer.ID]int), limiters: make(map[peer.ID]*rate.Limiter)}
}

// request queues a pull of r's log from p, unless one is queued or
// running, p is banned, or the queue is full (the periodic pull catches
// up then).
func (s *syncer) request(r *Room, p peer.ID) {
	s.queue(syncJob{room: r, peer: p})
}

func (s *syncer) queue(j syncJob) {
	if s.h.bans.banned(j.peer) || j.room.isGone() {
		return
	}
	key := j.room.topicName + "\x00" + string(j.peer)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queued[key] && j.tries == 0 {
		return
	}
	select {
	case s.jobs <- j:
		s.queued[key] = true
	default:
		delete(s.queued, key)
	}
}

func (s *syncer) done(j syncJob) {
	s.mu.Lock()
	delete(s.queued, j.room.topicName+"\x00"+string(j.peer))
	s.mu.Unlock()
}

// worker runs queued pulls until ctx is done.
func (s *syncer) worker(ctx context.Context) {
	defer s.h.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.jobs:
			s.run(ctx, j)
		}
	}
}

func (s *syncer) run(ctx context.Context, j syncJob) {
	err := s.pull(ctx, j.room, j.peer)
	switch {
	case err == nil:
		s.pullsOK.Add(1)
		s.done(j)
	case (errors.Is(err, errNotJoined) || errors.Is(err, errBusy)) && j.tries < syncRetries:
		t := time.NewTimer(syncRetry << j.tries)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-j.room.gone:
			s.done(j)
			return
		case <-t.C:
		}
		j.tries++
		s.queue(j)
	case errors.Is(err, errForged):
		s.done(j)
		s.cutOff(j.peer, j.room, err)
	default:
		s.done(j)
		if !j.room.isGone() && ctx.Err() == nil {
			j.room.log.Debug("history sync failed", "peer", j.peer, "err", err)
		}
	}
}

// cutOff bans p and closes its connections.
func (s *syncer) cutOff(p peer.ID, r *Room, err error) {
	s.h.bans.ban(p, time.Now().Add(syncBan))
	r.log.Warn("peer served forged history; cut off", "peer", p, "for", syncBan, "err", err)
	if err := s.h.host.Network().ClosePeer(p); err != nil {
		r.log.Debug("close peer", "peer", p, "err", err)
	}
	s.h.emit(chat.Event{Kind: chat.KindNotice, Time: time.Now(), PeerID: p.String(), Text: fmt.Sprintf(
		"peer %s sent history that does not check (forged or altered lines): disconnected, and ignored for %v", p, syncBan)})
}

// counted wraps a stream so that its bytes, both ways, count in n.
type counted struct {
	rw io.ReadWriter
	n  *atomic.Int64
}

func (c counted) Read(b []byte) (int, error) {
	n, err := c.rw.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (c counted) Write(b []byte) (int, error) {
	n, err := c.rw.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// syncItems returns the room's lines in the sync window at now, and the
// window's floor (unix ms): now minus SyncWindow, or the oldest of the
// newest SyncMaxLines lines if later.
func (r *Room) syncItems(now time.Time) ([]store.Item, int64, error) {
	// Lines waiting for the writer's next commit count too.
	r.h.hist.flush()
	since := now.Add(-r.h.cfg.SyncWindow)
	items, err := r.h.hist.st.Items(r.topicName, since, r.h.cfg.SyncMaxLines)
	if err != nil {
		return nil, 0, err
	}
	floor := since.UnixMilli()
	if len(items) >= r.h.cfg.SyncMaxLines && len(items) > 0 {
		floor = max(floor, items[0].Sent.UnixMilli())
	}
	return items, floor, nil
}

// reconcileSet builds the reconciliation set of the items at or above
// floor, and the map from sync ID to message ID.
func reconcileSet(items []store.Item, floor int64) (*reconcile.Set, map[[syncwire.IDSize]byte]string) {
	rs := make([]reconcile.Item, 0, len(items))
	ids := make(map[[syncwire.IDSize]byte]string, len(items))
	for _, it := range items {
		t := it.Sent.UnixMilli()
		if t < floor {
			continue
		}
		id := syncID(it.ID)
		rs = append(rs, reconcile.Item{Time: t, ID: id})
		ids[id] = it.ID
	}
	return reconcile.NewSet(rs), ids
}

// pull reconciles r's log with p's and fetches what r lacks, handing the
// checked lines to r's presence goroutine.
func (s *syncer) pull(ctx context.Context, r *Room, p peer.ID) error {
	if !r.syncStart() {
		return chat.ErrLeft
	}
	res := syncMsg{peer: p}
	defer func() { r.syncEnd(res) }()

	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	st, err := s.h.host.NewStream(network.WithNoDial(ctx, "history sync"), p, syncProtocol)
	if err != nil {
		return fmt.Errorf("open sync stream: %w", err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(syncTimeout))
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	c := counted{rw: st, n: &s.pullBytes}
	br := bufio.NewReader(c)

	now := time.Now()
	items, floor, err := r.syncItems(now)
	if err != nil {
		return err
	}
	if err := syncwire.WriteFrame(c, syncwire.TypeHello, syncwire.AppendHello(nil, syncwire.Hello{Topic: r.topicName, Floor: floor})); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	typ, body, err := syncwire.ReadFrame(br, syncwire.MaxFrame)
	if err != nil {
		return fmt.Errorf("read welcome: %w", err)
	}
	if typ != syncwire.TypeWelcome {
		return fmt.Errorf("%w: frame %d for a welcome", errProtocol, typ)
	}
	w, err := syncwire.DecodeWelcome(body)
	if err != nil {
		return fmt.Errorf("%w: %w", errProtocol, err)
	}
	switch w.Status {
	case syncwire.StatusNotJoined:
		return errNotJoined
	case syncwire.StatusBusy:
		return errBusy
	}
	floor = max(floor, w.Floor)
	set, _ := reconcileSet(items, floor)
	if n, err := r.h.hist.st.Count(r.topicName); err == nil && w.Older > uint64(max(n-set.Len(), 0)) {
		res.older = w.Older - uint64(max(n-set.Len(), 0))
	}

	sess := set.NewSession(reconcileLimits())
	msg, err := sess.Initiate()
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	var need [][syncwire.IDSize]byte
	for round := 0; msg != nil; round++ {
		if round >= syncMaxRounds {
			return fmt.Errorf("%w: more than %d rounds", errProtocol, syncMaxRounds)
		}
		if err := syncwire.WriteFrame(c, syncwire.TypeReconcile, msg); err != nil {
			return fmt.Errorf("send reconcile: %w", err)
		}
		typ, body, err := syncwire.ReadFrame(br, syncwire.MaxFrame)
		if err != nil {
			return fmt.Errorf("read reconcile: %w", err)
		}
		if typ != syncwire.TypeReconcile {
			return fmt.Errorf("%w: frame %d for a reconcile", errProtocol, typ)
		}
		var n [][syncwire.IDSize]byte
		msg, _, n, err = sess.Reconcile(body)
		need = append(need, n...)
		if errors.Is(err, reconcile.ErrTooManyRounds) {
			// Fetch what was found; the next pull carries on.
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %w", errProtocol, err)
		}
		if len(need) > r.h.cfg.SyncMaxLines {
			need = need[:r.h.cfg.SyncMaxLines]
			break
		}
	}
	if len(need) == 0 {
		return nil
	}
	recs, err := s.fetch(c, br, r, need, floor, now)
	if err != nil {
		return err
	}
	res.recs = recs
	if cw, ok := st.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	return nil
}

// fetch asks for need, MaxFetch at a time, and checks every line served.
// Any line that fails makes it return errForged and nothing else.
func (s *syncer) fetch(w io.Writer, br *bufio.Reader, r *Room, need [][syncwire.IDSize]byte, floor int64, now time.Time) ([]Record, error) {
	var recs []Record
	lo, hi := floor-r.h.cfg.SyncWindow.Milliseconds(), now.Add(r.h.cfg.SyncWindow).UnixMilli()
	for len(need) > 0 {
		chunk := need[:min(len(need), syncwire.MaxFetch)]
		need = need[len(chunk):]
		asked := make(map[[syncwire.IDSize]byte]bool, len(chunk))
		for _, id := range chunk {
			asked[id] = true
		}
		if err := syncwire.WriteFrame(w, syncwire.TypeFetch, syncwire.AppendFetch(nil, chunk)); err != nil {
			return nil, fmt.Errorf("send fetch: %w", err)
		}
		for {
			typ, body, err := syncwire.ReadFrame(br, syncwire.MaxFrame)
			if err != nil {
				return nil, fmt.Errorf("read record: %w", err)
			}
			if typ == syncwire.TypeEnd {
				break
			}
			if typ != syncwire.TypeRecord {
				return nil, fmt.Errorf("%w: frame %d for a record", errProtocol, typ)
			}
			if len(body) > syncwire.MaxRecord {
				return nil, fmt.Errorf("%w: a line of %d bytes", errForged, len(body))
			}
			rec, err := r.parseRaw(body, true)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", errForged, err)
			}
			id := syncID(rec.ID)
			if !asked[id] {
				return nil, fmt.Errorf("%w: line %s not asked for, or sent twice", errForged, rec.ID)
			}
			delete(asked, id)
			if o := rec.Envelope.Order(); o < lo || o > hi {
				return nil, fmt.Errorf("%w: line %s of %v, outside the window", errForged, rec.ID, time.UnixMilli(o))
			}
			recs = append(recs, rec)
		}
	}
	return recs, nil
}

// handle serves a peer's pull.
func (s *syncer) handle(st network.Stream) {
	p := st.Conn().RemotePeer()
	if s.h.bans.banned(p) {
		st.Reset()
		return
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(syncTimeout))
	c := counted{rw: st, n: &s.serveBytes}
	br := bufio.NewReader(c)
	typ, body, err := syncwire.ReadFrame(br, syncwire.MaxFrame)
	if err != nil || typ != syncwire.TypeHello {
		st.Reset()
		return
	}
	hello, err := syncwire.DecodeHello(body)
	if err != nil {
		st.Reset()
		return
	}
	welcome := func(status byte, floor int64, older uint64) error {
		return syncwire.WriteFrame(c, syncwire.TypeWelcome, syncwire.AppendWelcome(nil, syncwire.Welcome{Status: status, Floor: floor, Older: older}))
	}
	r := s.h.roomByTopic(hello.Topic)
	if r == nil || !r.hasMember(p) {
		welcome(syncwire.StatusNotJoined, 0, 0)
		return
	}
	if !s.admit(p) {
		welcome(syncwire.StatusBusy, 0, 0)
		return
	}
	defer s.release(p)
	if err := s.serve(c, br, r, hello); err != nil && !errors.Is(err, io.EOF) {
		r.log.Debug("serving history sync failed", "peer", p, "err", err)
		st.Reset()
	}
}

func (s *syncer) serve(c io.Writer, br *bufio.Reader, r *Room, hello syncwire.Hello) error {
	items, floor, err := r.syncItems(time.Now())
	if err != nil {
		return err
	}
	floor = max(floor, hello.Floor)
	set, byID := reconcileSet(items, floor)
	older := uint64(0)
	if n, err := r.h.hist.st.Count(r.topicName); err == nil && n > set.Len() {
		older = uint64(n - set.Len())
	}
	if err := syncwire.WriteFrame(c, syncwire.TypeWelcome, syncwire.AppendWelcome(nil, syncwire.Welcome{Status: syncwire.StatusOK, Floor: floor, Older: older})); err != nil {
		return err
	}
	rounds, served := 0, 0
	for {
		typ, body, err := syncwire.ReadFrame(br, syncwire.MaxFrame)
		if err != nil {
			return err
		}
		switch typ {
		case syncwire.TypeReconcile:
			if rounds++; rounds > syncMaxRounds {
				return fmt.Errorf("%w: more than %d rounds", errProtocol, syncMaxRounds)
			}
			reply, err := set.Respond(body, reconcileLimits())
			if err != nil {
				return fmt.Errorf("%w: %w", errProtocol, err)
			}
			if err := syncwire.WriteFrame(c, syncwire.TypeReconcile, reply); err != nil {
				return err
			}
		case syncwire.TypeFetch:
			ids, err := syncwire.DecodeFetch(body)
			if err != nil {
				return fmt.Errorf("%w: %w", errProtocol, err)
			}
			if served += len(ids); served > r.h.cfg.SyncMaxLines {
				return fmt.Errorf("%w: more than %d lines asked for", errProtocol, r.h.cfg.SyncMaxLines)
			}
			want := make([]string, 0, len(ids))
			for _, id := range ids {
				if mid, ok := byID[id]; ok {
					want = append(want, mid)
				}
			}
			lines, err := r.h.hist.st.Get(r.topicName, want)
			if err != nil {
				return err
			}
			for _, l := range lines {
				if len(l.Raw) > syncwire.MaxRecord {
					continue
				}
				if err := syncwire.WriteFrame(c, syncwire.TypeRecord, l.Raw); err != nil {
					return err
				}
			}
			if err := syncwire.WriteFrame(c, syncwire.TypeEnd, nil); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: frame %d", errProtocol, typ)
		}
	}
}

// admit takes one of the exchanges served at once, for p, within p's rate.
func (s *syncer) admit(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.servingN >= syncServe || s.serving[p] >= syncServePerPeer {
		return false
	}
	lim := s.limiters[p]
	if lim == nil {
		if len(s.limiters) >= maxSyncLimiters {
			clear(s.limiters)
		}
		lim = rate.NewLimiter(syncServeRate, syncServeBurst)
		s.limiters[p] = lim
	}
	if !lim.Allow() {
		return false
	}
	s.servingN++
	s.serving[p]++
	return true
}

func (s *syncer) release(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servingN--
	if s.serving[p]--; s.serving[p] <= 0 {
		delete(s.serving, p)
	}
}

// roomByTopic returns the joined room of topic, or nil.
func (h *Host) roomByTopic(topic string) *Room {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.rooms {
		if r != nil && r.topicName == topic {
			return r
		}
	}
	return nil
}

// hasMember reports whether p is subscribed to the room's topic.
func (r *Room) hasMember(p peer.ID) bool {
	for _, q := range r.topic.ListPeers() {
		if q == p {
			return true
		}
	}
	return false
}

// syncStart tells the presence goroutine that a pull begins, so that live
// lines wait for its result; false when the room is gone.
func (r *Room) syncStart() bool {
	select {
	case r.syncCh <- syncMsg{start: true}:
		return true
	case <-r.gone:
		return false
	}
}

// syncEnd hands a pull's result to the presence goroutine.
func (r *Room) syncEnd(m syncMsg) {
	select {
	case r.syncCh <- m:
	case <-r.gone:
	}
}

// syncJitter returns SyncInterval ±25%.
func (r *Room) syncJitter() time.Duration {
	d := r.h.cfg.SyncInterval
	return d*3/4 + rand.N(d/2+1)
}

// bans is the set of peers cut off for serving forged history; the
// host's connection gater refuses them until their time is up.
type bans struct {
	mu    sync.Mutex
	until map[peer.ID]time.Time
}

func newBans() *bans { return &bans{until: make(map[peer.ID]time.Time)} }

func (b *bans) ban(p peer.ID, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.until) >= maxSyncLimiters {
		now := time.Now()
		for q, t := range b.until {
			if now.After(t) {
				delete(b.until, q)
			}
		}
	}
	b.until[p] = until
}

func (b *bans) banned(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.until[p]
	if ok && time.Now().After(t) {
		delete(b.until, p)
		return false
	}
	return ok
}

// The connection gater's methods: banned peers are refused both ways.

func (b *bans) InterceptPeerDial(p peer.ID) bool                 { return !b.banned(p) }
func (b *bans) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !b.banned(p) }
func (b *bans) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (b *bans) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !b.banned(p)
}
func (b *bans) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// reconcileLimits are the bounds of reconciliation messages, both roles.
func reconcileLimits() reconcile.Limits { return reconcile.Limits{} }
