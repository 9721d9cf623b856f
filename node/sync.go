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

	pubsub "github.com/libp2p/go-libp2p-pubsub"
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
// and every SyncInterval (±25%) from the member pulled from longest ago, which repairs a
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
// room), at most MaxRecord bytes, and in the window: its signed order at
// or above the floor both sides built their sets by. A peer that
// serves one line that fails is cut off: every line of the exchange is
// dropped, the connection closed, and the peer refused (connections and
// sync) for syncBan. Fetched lines do not go through admission's replay
// and flood rules: they are never published again, and a line already
// logged is never shown twice, so sync opens no hole in the anti-replay
// rules for live traffic. Their new authors, though, count as
// introductions of the peer that serves them (see [syncer.introduced]).
//
// Bounds, so that a hostile peer cannot make a node spend unbounded
// memory, disk or CPU: frames of at most syncwire.MaxFrame; an exchange
// takes at most syncTimeout, at most syncMaxRounds reconcile rounds, and
// fetches at most SyncMaxLines lines; a node serves at most syncServe
// exchanges at once (syncServePerPeer per peer) and starts at most
// syncServeRate a second per peer (after a burst), answering "busy" to
// more; only members subscribed to the room's topic are served (for a
// private room, only those who prove the room key); each frame must come
// within syncIdle. As requester, it pulls a room from one peer over one
// connection at most every syncMinGap (see [syncer.request]), and
// fetches at most fetchRate lines a second (after a burst of fetchBurst)
// whatever the peers; the log is pruned to its bounds right after each
// batch.
const (
	syncProtocol     = protocol.ID("/lanchat/sync/1")
	syncTimeout      = 30 * time.Second
	syncIdle         = 5 * time.Second // the longest wait for one frame
	syncWorkers      = 4
	syncQueue        = 256
	syncServe        = 8
	syncServePerPeer = 2
	syncServeRate    = 1 // exchanges per second per peer, after syncServeBurst
	syncServeBurst   = 40
	syncMaxRounds    = 32
	syncBan          = 10 * time.Minute
	// syncMinGap is the least time between two pulls of a room from one
	// peer over one connection (retries aside): a peer re-subscribing over
	// and over, or lines heard from it, cannot make this node pull (and
	// check, and store) without pause.
	syncMinGap = 10 * time.Second
	// syncRetry is the first pause before asking again a peer that
	// answered "not in the room" or "busy" (at a join, its side may not
	// have seen our subscription yet); it doubles, syncRetries times
	// (6.35 s in all).
	syncRetry   = 50 * time.Millisecond
	syncRetries = 7
	// syncBusyRoom is how long a pull waits before going back to the
	// queue when another pull of its room is running.
	syncBusyRoom = 20 * time.Millisecond
	// maxSyncLimiters bounds the per-peer tables (rate limiters, last
	// pulls, bans).
	maxSyncLimiters = 1024
	// maxFetched bounds a room's table of lines fetched lately, which
	// keeps two pulls from fetching the same lines.
	maxFetched = 20000
	// fetchRate and fetchBurst are the host's budget of fetched lines, all
	// rooms and peers together: each costs a signature check, a write and
	// a line on screen, and identities cost nothing to make, so peers
	// coming one after another cannot make this node fetch without end. A
	// catch-up of the whole window fits the burst (at least twice
	// SyncMaxLines); what does not fit waits for the next pull.
	fetchRate  = 500
	fetchBurst = 20000
	// repairQuiet is how long after the last live line of a room that
	// this node dropped unseen (see [syncer.lost]) it pulls the room from
	// the peer that sent it.
	repairQuiet = time.Second
	// repairGap is the least time between the end of a pull of a room
	// from a peer and a repair pull from it: less than syncMinGap, since
	// only this node's own drops trigger it, and lines a user missed
	// should not wait 10 s.
	repairGap = 2 * time.Second
)

var (
	errNotJoined = errors.New("node: peer is not in the room")
	errBusy      = errors.New("node: peer is busy")
	errForged    = errors.New("node: peer served a line that does not check")
	errProtocol  = errors.New("node: sync protocol violation")
)

// syncMsg is a pull's result for the room's presence goroutine: the
// checked lines, from peer, and how many lines the peer holds below the
// window that this node does not; and, for the syncer, the ID of the
// connection the pull went over.
type syncMsg struct {
	peer  peer.ID
	recs  []Record
	older uint64
	conn  string
}

type syncJob struct {
	room  *Room
	peer  peer.ID
	tries int
}

type jobKey struct {
	room *Room
	peer peer.ID
}

// syncer runs a host's pulls (syncWorkers at once, one per room at a
// time) and serves its peers'.
type syncer struct {
	h    *Host
	jobs chan syncJob

	mu       sync.Mutex
	queued   map[jobKey]bool      // queued or running
	last     map[jobKey]pulled    // the last successful pull
	tried    map[jobKey]time.Time // when the last pull ended, whatever the outcome
	serving  map[peer.ID]int
	servingN int
	limiters map[peer.ID]*rate.Limiter

	// For tests and benchmarks: the bytes of sync frames, both ways, of
	// this host's pulls and of those it served, and the pulls that ended
	// without an error.
	pullBytes, serveBytes, pullsOK atomic.Int64

	fetchLim *rate.Limiter // lines fetched, see fetchRate

	repairs map[jobKey]*repair // under mu; see lost
	closed  bool               // under mu: no more repairs
}

// pulled is when a pull ended, and the ID of the connection it went over.
type pulled struct {
	at   time.Time
	conn string
}

// repair is a pull to come, of lines dropped unseen.
type repair struct {
	t     *time.Timer
	first time.Time // the first drop
}

func newSyncer(h *Host) *syncer {
	return &syncer{h: h, jobs: make(chan syncJob, syncQueue), queued: make(map[jobKey]bool),
		fetchLim: rate.NewLimiter(fetchRate, max(fetchBurst, 2*h.cfg.SyncMaxLines)),
		last:     make(map[jobKey]pulled), tried: make(map[jobKey]time.Time), serving: make(map[peer.ID]int), limiters: make(map[peer.ID]*rate.Limiter),
		repairs: make(map[jobKey]*repair)}
}

// lost notes that a live line of r that p sent was dropped before this
// node saw it: over its author's flood limit (a burst that reached the
// validator all at once after a stall, say), or with pubsub's queues
// full. pubsub and admission remember such a line as seen, so no live
// path brings it again; sync does: r pulls from p once the drops stop,
// repairQuiet after the last, or syncMinGap after the first if they go
// on, but at least repairGap after the last pull from p. The fetch
// budget holds as for any pull, so a flooding peer gains little the
// periodic pull would not give it. It never blocks: pubsub's event loop
// calls it.
func (s *syncer) lost(r *Room, p peer.ID) {
	if r == nil || p == "" || p == s.h.self {
		return
	}
	key := jobKey{r, p}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if rp := s.repairs[key]; rp != nil {
		if now.Sub(rp.first) < syncMinGap {
			rp.t.Reset(repairQuiet)
		}
		return
	}
	if len(s.repairs) >= maxSyncLimiters {
		return // the periodic pull repairs it
	}
	s.repairs[key] = &repair{first: now, t: time.AfterFunc(repairQuiet, func() { s.repair(key) })}
}

// repair queues the pull that lost planned, or waits until the key's
// last pull, whatever its outcome (a peer answering "busy" must not get
// a pull a second), is repairGap old and none is queued.
func (s *syncer) repair(key jobKey) {
	s.mu.Lock()
	rp := s.repairs[key]
	if rp == nil || s.closed {
		s.mu.Unlock()
		return
	}
	if wait := repairGap - time.Since(s.tried[key]); wait > 0 || s.queued[key] {
		rp.t.Reset(max(wait, repairQuiet))
		s.mu.Unlock()
		return
	}
	delete(s.repairs, key)
	s.mu.Unlock()
	s.enqueue(syncJob{room: key.room, peer: key.peer}, true, true)
}

// close stops the repairs to come.
func (s *syncer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for k, rp := range s.repairs {
		rp.t.Stop()
		delete(s.repairs, k)
	}
}

// request queues a pull of r's log from p, unless one is queued or
// running, the last ended less than syncMinGap ago over a connection to
// p still open, p is banned, or the queue is full (the periodic pull
// catches up then). While it is queued or running, r holds its live
// lines back (see [logView]).
//
// A pull speaks for the connection it went over: what p heard after it
// reaches this node live over that connection, as long as it lasts. Once
// it has closed (a link down for longer than the kernel's keepalive, a
// Wi-Fi that dropped), lines may have been missed on both sides, and
// the new connection's join must pull whatever the time since the last.
// A peer that closes and redials over and over gets one pull per
// connection: no more than it would get by coming back under a new peer
// ID each time, which costs it nothing.
func (s *syncer) request(r *Room, p peer.ID) { s.queue(r, p, false) }

// queue is request; with force, whatever the time since the last pull
// (tests).
func (s *syncer) queue(r *Room, p peer.ID, force bool) {
	s.enqueue(syncJob{room: r, peer: p}, force, true)
}

// enqueue queues j; a retry (or a forced pull) is queued even though j's
// key is marked or its last pull recent. A new job (count) is counted as
// pending in its room before a worker can see it; a job put back is
// pending already.
func (s *syncer) enqueue(j syncJob, retry, count bool) bool {
	if s.h.bans.banned(j.peer) || j.room.isGone() {
		return false
	}
	key := jobKey{j.room, j.peer}
	var conns []network.Conn
	if !retry {
		conns = s.h.host.Network().ConnsToPeer(j.peer) // outside mu: it takes the swarm's lock
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !retry && (s.queued[key] || s.recent(key, conns)) {
		return false
	}
	if count {
		j.room.syncNote(1, nil)
	}
	select {
	case s.jobs <- j:
		s.queued[key] = true
		return true
	default:
		delete(s.queued, key)
		if count {
			j.room.syncNote(-1, nil)
		}
		return false
	}
}

// recent reports whether the last pull of key ended less than syncMinGap
// ago over one of conns, the open connections to its peer (see request).
// s.mu is held.
func (s *syncer) recent(key jobKey, conns []network.Conn) bool {
	l, ok := s.last[key]
	if !ok || time.Since(l.at) >= syncMinGap {
		return false
	}
	for _, c := range conns {
		if c.ID() == l.conn {
			return true
		}
	}
	return false
}

// finish ends j, and hands its room the result. After a pull that
// succeeded the key may be queued again only from syncMinGap on, or once
// the connection it went over has closed; after a failure, at once (the
// next peer event or line may find it ready).
func (s *syncer) finish(j syncJob, res syncMsg, ok bool) {
	key := jobKey{j.room, j.peer}
	now := time.Now()
	s.mu.Lock()
	delete(s.queued, key)
	if len(s.last) >= maxSyncLimiters || len(s.tried) >= maxSyncLimiters {
		clear(s.last)
		clear(s.tried)
	}
	if ok {
		s.last[key] = pulled{at: now, conn: res.conn}
	}
	s.tried[key] = now
	s.mu.Unlock()
	j.room.syncNote(-1, &res)
}

// stalest returns the one of peers that r tried to pull from longest ago
// (or never), for the periodic pull: over a few rounds it asks every
// member, and one that never answers does not keep the others waiting.
func (s *syncer) stalest(r *Room, peers []peer.ID) peer.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := peers[rand.N(len(peers))]
	for _, p := range peers {
		if s.tried[jobKey{r, p}].Before(s.tried[jobKey{r, best}]) {
			best = p
		}
	}
	return best
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
	r := j.room
	if !r.pullMu.TryLock() {
		// A pull of this room is running: this one waits its turn in the
		// queue, and the worker serves other rooms meanwhile.
		t := time.NewTimer(syncBusyRoom)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-r.gone:
		case <-t.C:
			if s.enqueue(j, true, false) {
				return
			}
		}
		s.finish(j, syncMsg{peer: j.peer}, false)
		return
	}
	res, err := s.pull(ctx, r, j.peer)
	r.pullMu.Unlock()
	switch {
	case err == nil:
		s.pullsOK.Add(1)
	case (errors.Is(err, errNotJoined) || errors.Is(err, errBusy)) && j.tries < syncRetries:
		t := time.NewTimer(syncRetry << j.tries)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-r.gone:
		case <-t.C:
			j.tries++
			if s.enqueue(j, true, false) {
				return // still pending
			}
		}
	case errors.Is(err, errForged) || errors.Is(err, errProtocol) ||
		errors.Is(err, syncwire.ErrMalformed) || errors.Is(err, reconcile.ErrMalformed):
		s.cutOff(j.peer, r, err)
	default:
		if !r.isGone() && ctx.Err() == nil {
			r.log.Debug("history sync failed", "peer", j.peer, "err", err)
		}
	}
	s.finish(j, res, err == nil)
}

// cutOff bans p and closes its connections.
func (s *syncer) cutOff(p peer.ID, r *Room, err error) {
	s.h.bans.ban(p, time.Now().Add(syncBan))
	r.log.Warn("peer served forged history; cut off", "peer", p, "for", syncBan, "err", err)
	if err := s.h.host.Network().ClosePeer(p); err != nil {
		r.log.Debug("close peer", "peer", p, "err", err)
	}
	s.h.emit(chat.Event{Kind: chat.KindNotice, Time: time.Now(), PeerID: p.String(), Text: fmt.Sprintf(
		"peer %s sent history that does not check (forged, altered or malformed): disconnected, and ignored for %s", p, span(syncBan))})
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

// frames reads the frames of a stream, each within syncIdle.
type frames struct {
	st network.Stream
	br *bufio.Reader
}

func (f frames) next() (byte, []byte, error) {
	f.st.SetReadDeadline(time.Now().Add(syncIdle))
	return syncwire.ReadFrame(f.br, syncwire.MaxFrame)
}

// syncItems returns the room's lines in the sync window at now, and the
// window's floor (unix ms, by the lines' signed order): now minus
// SyncWindow, or, when the room has more lines than SyncMaxLines, the
// oldest signed order among the newest SyncMaxLines — a millisecond
// above it if the next older line shares it, since the other side would
// count that one in and list it as missing.
func (r *Room) syncItems(now time.Time) ([]store.Item, int64, error) {
	// Lines waiting for the writer's next commit count too.
	r.h.hist.flush()
	since := now.Add(-r.h.cfg.SyncWindow)
	items, err := r.h.hist.st.Items(r.topicName, since, r.h.cfg.SyncMaxLines+1)
	if err != nil {
		return nil, 0, err
	}
	floor := since.UnixMilli()
	if len(items) > r.h.cfg.SyncMaxLines {
		left := items[0].Order.UnixMilli()
		items = items[1:]
		oldest := items[0].Order.UnixMilli()
		for _, it := range items {
			oldest = min(oldest, it.Order.UnixMilli())
		}
		floor = max(floor, oldest)
		if left >= floor {
			floor = left + 1
		}
	}
	return items, floor, nil
}

// reconcileSet builds the reconciliation set of the items whose signed
// order is at or above floor — the signed order, not this node's display
// key, so that both sides agree on every line's place — and the map from
// sync ID to message ID.
func reconcileSet(items []store.Item, floor int64) (*reconcile.Set, map[[syncwire.IDSize]byte]string) {
	rs := make([]reconcile.Item, 0, len(items))
	ids := make(map[[syncwire.IDSize]byte]string, len(items))
	for _, it := range items {
		t := it.Order.UnixMilli()
		if t < floor {
			continue
		}
		id := syncID(it.ID)
		rs = append(rs, reconcile.Item{Time: t, ID: id})
		ids[id] = it.ID
	}
	return reconcile.NewSet(rs), ids
}

// helloAD is what a private room's hello proof is bound to: the protocol,
// both peers and the topic.
func helloAD(from, to peer.ID, topic string) []byte {
	ad := []byte(string(syncProtocol) + " hello\x00")
	ad = append(ad, from...)
	ad = append(ad, to...)
	return append(ad, topic...)
}

// pull reconciles r's log with p's and fetches what r lacks; the result
// holds the checked lines. Any line that fails a check makes it return
// errForged and no lines.
func (s *syncer) pull(ctx context.Context, r *Room, p peer.ID) (syncMsg, error) {
	res := syncMsg{peer: p}
	if r.isGone() {
		return res, chat.ErrLeft
	}
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	st, err := s.h.host.NewStream(network.WithNoDial(ctx, "history sync"), p, syncProtocol)
	if err != nil {
		return res, fmt.Errorf("open sync stream: %w", err)
	}
	defer st.Close()
	res.conn = st.Conn().ID()
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	c := counted{rw: st, n: &s.pullBytes}
	in := frames{st: st, br: bufio.NewReader(c)}

	now := time.Now()
	items, floor, err := r.syncItems(now)
	if err != nil {
		return res, err
	}
	hello := syncwire.Hello{Topic: r.topicName, Floor: floor}
	if r.key != nil {
		hello.Proof = r.key.Seal(nil, helloAD(s.h.self, p, r.topicName))
	}
	if err := syncwire.WriteFrame(c, syncwire.TypeHello, syncwire.AppendHello(nil, hello)); err != nil {
		return res, fmt.Errorf("send hello: %w", err)
	}
	typ, body, err := in.next()
	if err != nil {
		return res, fmt.Errorf("read welcome: %w", err)
	}
	if typ != syncwire.TypeWelcome {
		return res, fmt.Errorf("%w: frame %d for a welcome", errProtocol, typ)
	}
	w, err := syncwire.DecodeWelcome(body)
	if err != nil {
		return res, err
	}
	switch w.Status {
	case syncwire.StatusNotJoined:
		return res, errNotJoined
	case syncwire.StatusBusy:
		return res, errBusy
	}
	floor = max(floor, w.Floor)
	set, _ := reconcileSet(items, floor)
	if n, err := r.h.hist.st.Count(r.topicName); err == nil && w.Older > uint64(max(n-set.Len(), 0)) {
		res.older = w.Older - uint64(max(n-set.Len(), 0))
	}

	sess := set.NewSession(reconcileLimits())
	msg, err := sess.Initiate()
	if err != nil {
		return res, fmt.Errorf("reconcile: %w", err)
	}
	var need [][syncwire.IDSize]byte
	for round := 0; msg != nil; round++ {
		if round >= syncMaxRounds {
			return res, fmt.Errorf("%w: more than %d rounds", errProtocol, syncMaxRounds)
		}
		if err := syncwire.WriteFrame(c, syncwire.TypeReconcile, msg); err != nil {
			return res, fmt.Errorf("send reconcile: %w", err)
		}
		typ, body, err := in.next()
		if err != nil {
			return res, fmt.Errorf("read reconcile: %w", err)
		}
		if typ != syncwire.TypeReconcile {
			return res, fmt.Errorf("%w: frame %d for a reconcile", errProtocol, typ)
		}
		var n [][syncwire.IDSize]byte
		msg, _, n, err = sess.Reconcile(body)
		need = append(need, n...)
		if errors.Is(err, reconcile.ErrTooManyRounds) {
			break // fetch what was found; the next pull carries on
		}
		if err != nil {
			return res, err
		}
		if len(need) > r.h.cfg.SyncMaxLines {
			need = need[:r.h.cfg.SyncMaxLines]
			break
		}
	}
	need = r.notFetched(need)
	if n := min(len(need), int(s.fetchLim.Tokens())); n < len(need) {
		// The newest first (need is in time order); the rest at a later pull.
		r.log.Info("fetching part of the history now, the rest later", "peer", p, "lines", n, "of", len(need))
		need = need[len(need)-n:]
	}
	if len(need) == 0 {
		return res, nil
	}
	s.fetchLim.ReserveN(time.Now(), len(need))
	recs, err := s.fetch(c, in, r, need, floor)
	if err != nil {
		return res, err
	}
	recs = s.introduced(r, p, recs)
	r.markFetched(recs)
	res.recs = recs
	st.CloseWrite()
	return res, nil
}

// introduced returns the lines of recs, fetched from p, whose authors
// admission takes in (see [admission.introduce]): an author it has not
// heard of, nor has a mark of, is one of p's introductions, as if p had
// relayed a live line of it, so that identities made up by the thousand
// reach the log and the screen no faster by sync than live. The authors
// of the lines served last (the newest, in the log's order) come first.
// The lines of authors refused are left for a later pull (they are not
// marked fetched): nothing of an honest catch-up is lost, at worst
// delayed. One busy author's whole window costs one introduction, and at
// our own restart the authors heard in earlier runs have marks and cost
// none; only a first catch-up of a room with more authors in its window
// than introBurst waits, for the authors beyond, until p's introductions
// are back or another member serves them.
//
// There is no bound of lines per author: what an author may have sent
// in the window cannot be told from its lines (their times are its own
// word), a bound below the window (SyncMaxLines) would delay an honest
// catch-up of one busy author by several pulls, and the lines of a pull,
// whoever their authors, are bounded already by SyncMaxLines and the
// fetch budget (fetchRate).
func (s *syncer) introduced(r *Room, p peer.ID, recs []Record) []Record {
	var authors []peer.ID
	seen := make(map[peer.ID]bool)
	for i := len(recs) - 1; i >= 0; i-- {
		if a := recs[i].Author; a != s.h.self && !seen[a] {
			seen[a] = true
			authors = append(authors, a)
		}
	}
	refused := s.h.adm.introduce(p, authors)
	if len(refused) == 0 {
		return recs
	}
	kept := recs[:0]
	for _, rec := range recs {
		if !refused[rec.Author] {
			kept = append(kept, rec)
		}
	}
	r.log.Info("fetched lines of too many new authors; the rest at a later pull", "peer", p,
		"authors", len(refused), "lines", len(recs)-len(kept))
	clear(recs[len(kept):])
	return kept
}

// fetch asks for need, MaxFetch at a time, and checks every line served:
// one asked for, not served before, of the room (see [Room.parseRaw]), and
// in the window — its signed order at or above floor, the rule both sides
// built their sets by.
func (s *syncer) fetch(w io.Writer, in frames, r *Room, need [][syncwire.IDSize]byte, floor int64) ([]Record, error) {
	var recs []Record
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
			typ, body, err := in.next()
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
			if o := rec.Envelope.Order(); o < floor {
				return nil, fmt.Errorf("%w: line %s of %v, below the window's floor %v", errForged, rec.ID, time.UnixMilli(o), time.UnixMilli(floor))
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
	timeout := time.AfterFunc(syncTimeout, func() { st.Reset() })
	defer timeout.Stop()
	c := counted{rw: st, n: &s.serveBytes}
	in := frames{st: st, br: bufio.NewReader(c)}
	typ, body, err := in.next()
	if err != nil || typ != syncwire.TypeHello {
		st.Reset()
		return
	}
	hello, err := syncwire.DecodeHello(body)
	if err != nil {
		st.Reset()
		return
	}
	welcome := func(status byte) {
		syncwire.WriteFrame(c, syncwire.TypeWelcome, syncwire.AppendWelcome(nil, syncwire.Welcome{Status: status}))
	}
	r := s.h.roomByTopic(hello.Topic)
	if r == nil || !r.hasMember(p) {
		welcome(syncwire.StatusNotJoined)
		return
	}
	if r.key != nil {
		if _, err := r.key.Open(hello.Proof, helloAD(p, s.h.self, r.topicName)); err != nil {
			// Subscribed by the tag (which anyone sees), without the key.
			welcome(syncwire.StatusNotJoined)
			return
		}
	}
	if !s.admit(p) {
		welcome(syncwire.StatusBusy)
		return
	}
	defer s.release(p)
	if err := s.serve(c, in, r, hello); err != nil {
		r.log.Debug("serving history sync failed", "peer", p, "err", err)
		st.Reset()
	}
}

func (s *syncer) serve(c io.Writer, in frames, r *Room, hello syncwire.Hello) error {
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
		typ, body, err := in.next()
		if errors.Is(err, io.EOF) {
			return nil // the requester is done
		}
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

// roomByTopic returns the joined room of topic, or nil. It takes no lock
// of the host: pubsub's event loop calls it (see dropTracer).
func (h *Host) roomByTopic(topic string) *Room {
	if r, ok := h.byTopic.Load(topic); ok {
		return r.(*Room)
	}
	return nil
}

// dropTracer is the pubsub RawTracer that tells sync of the live lines
// pubsub dropped before this node saw them: the validation queue full
// (a burst after a stall), or a room's subscription not read in time (see
// [syncer.lost]); and counts the messages whose signatures do not check
// against the peer that sent them (see [forgers]). It runs in pubsub's
// event loop, so it only looks things up and takes notes.
type dropTracer struct{ h *Host }

func (t dropTracer) RejectMessage(m *pubsub.Message, reason string) {
	switch reason {
	case pubsub.RejectValidationQueueFull, pubsub.RejectValidationThrottled:
		t.lost(m)
	case pubsub.RejectInvalidSignature, pubsub.RejectMissingSignature,
		pubsub.RejectUnexpectedSignature, pubsub.RejectUnexpectedAuthInfo:
		t.h.forgers.bad(m.ReceivedFrom) // see forgers.go
	}
}

func (t dropTracer) UndeliverableMessage(m *pubsub.Message) { t.lost(m) }

func (t dropTracer) lost(m *pubsub.Message) {
	t.h.sync.lost(t.h.roomByTopic(m.GetTopic()), m.ReceivedFrom)
}

func (dropTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (dropTracer) RemovePeer(peer.ID)                                   {}
func (dropTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (dropTracer) OnClosedOutboundStream(peer.ID)                       {}
func (dropTracer) Join(string)                                          {}
func (dropTracer) Leave(string)                                         {}
func (dropTracer) Graft(peer.ID, string)                                {}
func (dropTracer) Prune(peer.ID, string)                                {}
func (dropTracer) ValidateMessage(*pubsub.Message)                      {}
func (dropTracer) DeliverMessage(*pubsub.Message)                       {}
func (dropTracer) DuplicateMessage(*pubsub.Message)                     {}
func (dropTracer) ThrottlePeer(peer.ID)                                 {}
func (dropTracer) RecvRPC(*pubsub.RPC)                                  {}
func (dropTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (dropTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (dropTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}

// hasMember reports whether p is subscribed to the room's topic.
func (r *Room) hasMember(p peer.ID) bool {
	for _, q := range r.topic.ListPeers() {
		if q == p {
			return true
		}
	}
	return false
}

// syncNote counts a pull queued (+1) or ended (-1, with its result) and
// wakes the presence goroutine; it never blocks.
func (r *Room) syncNote(delta int, res *syncMsg) {
	r.syncMu.Lock()
	r.syncPending += delta
	if res != nil && (len(res.recs) > 0 || res.older > 0) {
		r.syncResults = append(r.syncResults, *res)
	}
	r.syncDone += int64(max(-delta, 0))
	r.syncMu.Unlock()
	select {
	case r.syncWake <- struct{}{}:
	default:
	}
}

// takeSync returns the pulls pending and the results not taken yet.
func (r *Room) takeSync() (pending int, done int64, results []syncMsg) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	results, r.syncResults = r.syncResults, nil
	return r.syncPending, r.syncDone, results
}

// notFetched returns the IDs of need not fetched lately by this room.
func (r *Room) notFetched(need [][syncwire.IDSize]byte) [][syncwire.IDSize]byte {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	out := need[:0]
	for _, id := range need {
		if _, ok := r.fetched[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

// markFetched notes recs as fetched.
func (r *Room) markFetched(recs []Record) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	if len(r.fetched)+len(recs) > maxFetched {
		clear(r.fetched)
	}
	for _, rec := range recs {
		r.fetched[syncID(rec.ID)] = struct{}{}
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
