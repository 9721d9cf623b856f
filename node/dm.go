package node

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"golang.org/x/time/rate"

	"lanchat/node/chat"
	"lanchat/node/dmwire"
	"lanchat/node/store"
)

// Direct messages.
//
// A direct message goes to one peer over a stream of dmProtocol (frames
// of [lanchat/node/dmwire]), never through gossip: nobody else sees it,
// not even its length. The connection is Noise-secured and the message is
// signed by its sender over an encoding that names the recipient, so it
// can be neither read nor re-aimed by anyone else, and the recipient keeps
// it as it was signed.
//
// Sender: [Host.SendDM] signs the message and stores it in the outbox
// (the message log's queue of ours not yet acknowledged), then a flush
// for its peer sends the peer's queue in order over one stream, each
// message waiting for its ack. The echo of a new message (our own
// [chat.KindDM], Self) says "delivered" when its ack came at once,
// "queued" when the peer is not connected or did not answer; a queued one
// that arrives later gets a [chat.KindDMStatus]. A peer's queue is
// flushed when the peer connects, at start (once it connects), after a
// failure while connected with a backoff (dmBackoffMin doubling to
// dmBackoffMax), and every dmRetryEvery for connected peers with a
// queue. The outbox holds at most dmQueuePerPeer messages to a peer and
// dmQueueTotal in all; a message not delivered within dmQueueAge is
// dropped, and the user told.
//
// Recipient: the handler reads at most dmPerStream messages from a stream,
// each within dmTimeout. It answers each with an ack: "busy" over the
// sender's rate limit (dmRecvRate a second after a burst of dmRecvBurst,
// per peer; dmRecvTotal for all peers together) before the signature is
// checked; "refused" unless the stream's remote peer (authenticated by
// Noise) is the message's sender and signer, the recipient is this node,
// and the text and nick follow chat's rules (the codec checks size and
// UTF-8); "duplicate" when the log has the message already (an ack lost,
// a restart: exactly once); else it stores the message (on disk, fsync)
// and answers "stored", then shows it.
const (
	dmProtocol = protocol.ID("/lanchat/dm/1")
	// dmTimeout bounds opening a stream and each message's exchange (the
	// message, then its ack), on both sides.
	dmTimeout = 5 * time.Second
	// dmPerStream is the most messages the handler reads from one stream.
	dmPerStream = 256
	// Receive limits: per peer, and for all peers together.
	dmRecvRate       = 10
	dmRecvBurst      = 100
	dmRecvTotalRate  = 100
	dmRecvTotalBurst = 500
	// The outbox's bounds.
	dmQueuePerPeer = 100
	dmQueueTotal   = 1000
	dmQueueAge     = 7 * 24 * time.Hour
	// Retries of a peer's queue.
	dmRetryEvery = 30 * time.Second
	dmBackoffMin = time.Second
	dmBackoffMax = 30 * time.Second
	// dmSenders bounds the flushes sending at once (each holds a stream).
	dmSenders = 8
	// dmKicks is the capacity of the queue of peers to flush, fed by the
	// network notifiee (which must not block: a kick is dropped when it
	// is full, and the periodic retry covers it).
	dmKicks = 256
	// maxDMPeers bounds the per-peer tables (rate limiters, nicks).
	maxDMPeers = 1024
	// dmPruneEvery is how often expired and old messages are dropped.
	dmPruneEvery = time.Hour
	// dmReplay is how many stored messages a host emits again when it
	// starts, the newest (see [dms.replay]).
	dmReplay = 200
)

// Errors of [Host.SendDM], checked with [errors.Is].
var (
	ErrNotPeerID   = errors.New("node: not a peer ID")
	ErrDMSelf      = errors.New("node: a direct message to this node itself")
	ErrOutboxFull  = errors.New("node: too many direct messages waiting to be delivered")
	errDMOffline   = errors.New("node: peer not connected")
	errDMBusy      = errors.New("node: peer busy")
	errDMBadAck    = errors.New("node: bad direct message ack")
	errDMProtocol  = errors.New("node: direct message protocol violation")
	errDMNotForUs  = errors.New("node: direct message for another peer")
	errDMForged    = errors.New("node: direct message not signed by the peer that sent it")
	errDMSignature = errors.New("node: direct message signature does not verify")
)

// dms is a host's direct messages: both roles, the outbox's flushes and
// the receive limits. Safe for concurrent use.
type dms struct {
	h     *Host
	kicks chan dmKick
	slots chan struct{}  // dmSenders
	total *rate.Limiter  // receive limit of all peers together
	limit rate.Limit     // per-peer receive limit: dmRecvRate (tests change it)
	send  sync.Mutex     // serialises SendDM: the outbox's bounds hold
	wg    sync.WaitGroup // flushes; waited for by loop
	// last is when SendDM last stored a message, unix ms (under send):
	// each is stored at least a millisecond after the one before, since
	// the outbox is in the order of that time (then of the random id).
	last int64
	// stored, if set (tests), is called by SendDM once the message is
	// in the outbox.
	stored func()

	mu      sync.Mutex
	closed  bool                  // no more flushes start
	pending map[peer.ID]bool      // peers with a queue (or maybe: a flush finds out)
	running map[peer.ID]bool      // a flush of the peer runs
	again   map[peer.ID]bool      // ... and must run once more
	fresh   map[string]chat.Event // echoes not yet emitted, by message ID
	backoff map[peer.ID]*dmRetry  // a retry planned after a failure
	limits  map[peer.ID]*dmLimit  // receive limits
	nicks   map[peer.ID]dmNick    // the nick of each peer's last message to us, sanitised
}

// dmKick asks for a flush of p's queue; a forced one even if p is not
// known to have one (SendDM just added it).
type dmKick struct {
	p     peer.ID
	force bool
}

type dmRetry struct {
	t     *time.Timer
	delay time.Duration
}

type dmLimit struct {
	lim *rate.Limiter
	at  time.Time
}

type dmNick struct {
	nick string
	at   time.Time
}

func newDMs(h *Host) *dms {
	return &dms{h: h, kicks: make(chan dmKick, dmKicks), slots: make(chan struct{}, dmSenders),
		total: rate.NewLimiter(dmRecvTotalRate, dmRecvTotalBurst), limit: dmRecvRate,
		pending: make(map[peer.ID]bool), running: make(map[peer.ID]bool), again: make(map[peer.ID]bool),
		fresh: make(map[string]chat.Event), backoff: make(map[peer.ID]*dmRetry),
		limits: make(map[peer.ID]*dmLimit), nicks: make(map[peer.ID]dmNick)}
}

// dmID is a direct message's ID in events and the log: its sender's peer
// ID, a slash and its id in hex.
func dmID(from peer.ID, id [dmwire.IDSize]byte) string {
	return from.String() + "/" + hex.EncodeToString(id[:])
}

// SendDM sends text to the peer to (a peer ID) alone, as a direct message
// over a stream of its own, never through a room. It returns once the
// message is signed and in the outbox on disk; its echo, our own
// [chat.KindDM] with Self, To and ToNick set, comes on [Host.Events] after
// the first attempt to deliver it: Status [chat.StatusDelivered] when the
// recipient acknowledged it (it has it stored), [chat.StatusQueued] when
// it is not connected or did not answer. A queued message is sent when the
// peer connects (also after a restart of either side, with a data dir),
// and its delivery is a [chat.KindDMStatus] event. Each message is shown
// to the recipient exactly once.
//
// Errors: [chat.ErrClosed] after Close; [chat.ErrEmptyText],
// [chat.ErrTooLong], [chat.ErrBadUTF8] for the text; [ErrNotPeerID],
// [ErrDMSelf]; [ErrOutboxFull] when 100 messages to the peer, or 1000 in
// all, wait for delivery. Nothing is sent then. Nothing here waits for
// the network; ctx bounds the hand-over of the message to the sender's
// loop (on a busy host), after which it is sent in any case.
func (h *Host) SendDM(ctx context.Context, to, text string) error {
	if h.isClosing() {
		return chat.ErrClosed
	}
	if err := chat.ValidText(text); err != nil {
		return fmt.Errorf("send direct message: %w", err)
	}
	p, err := peer.Decode(to)
	if err != nil {
		return fmt.Errorf("send direct message: %w: %q", ErrNotPeerID, to)
	}
	if p == h.self {
		return fmt.Errorf("send direct message: %w", ErrDMSelf)
	}
	d := h.dms
	d.send.Lock()
	defer d.send.Unlock()
	n, total, err := h.hist.st.QueuedDMCount(p.String())
	if err != nil {
		return fmt.Errorf("send direct message: %w", err)
	}
	if n >= dmQueuePerPeer || total >= dmQueueTotal {
		return fmt.Errorf("send direct message: %w (%d to this peer, %d in all)", ErrOutboxFull, n, total)
	}
	now := time.Now()
	m := dmwire.Message{From: []byte(h.self), To: []byte(p), Sent: now.UnixMilli(), Nick: h.currentNick(), Text: text}
	stored := now
	if stored.UnixMilli() <= d.last {
		stored = time.UnixMilli(d.last + 1)
	}
	if _, err := rand.Read(m.ID[:]); err != nil {
		return fmt.Errorf("send direct message: %w", err)
	}
	signed, err := m.Signed()
	if err != nil {
		return fmt.Errorf("send direct message: %w", err)
	}
	if m.Sig, err = h.id.key.Sign(signed); err != nil {
		return fmt.Errorf("send direct message: sign: %w", err)
	}
	raw, err := m.Encode()
	if err != nil {
		return fmt.Errorf("send direct message: %w", err)
	}
	id := dmID(h.self, m.ID)
	toNick := h.nickOf(p)
	// The echo waits before the message is in the outbox: a flush under
	// way (for the message before, a connection, a retry) may send it at
	// once, and its delivery must find the echo, not pass for a queued
	// message's.
	d.mu.Lock()
	d.pending[p] = true
	d.fresh[id] = chat.Event{Kind: chat.KindDM, PeerID: h.self.String(), Nick: m.Nick, ID: id, Text: text,
		Sent: time.UnixMilli(m.Sent), Self: true, To: p.String(), ToNick: toNick}
	d.mu.Unlock()
	if _, err := h.hist.st.AddDM(store.DM{ID: id, Peer: p.String(), Out: true, Nick: toNick,
		Sent: time.UnixMilli(m.Sent), Stored: stored, Raw: raw}); err != nil {
		d.mu.Lock()
		delete(d.fresh, id)
		d.mu.Unlock()
		return fmt.Errorf("send direct message: %w", err)
	}
	d.last = stored.UnixMilli()
	if d.stored != nil {
		d.stored()
	}
	select {
	case d.kicks <- dmKick{p: p, force: true}:
	case <-h.closing:
	case <-ctx.Done():
		// Kept and pending: the peer's next connection, or the periodic
		// retry, sends it.
	}
	return nil
}

// nickOf returns p's nick as this node knows it: from a room's roster, or
// from p's last direct message; "" if neither.
func (h *Host) nickOf(p peer.ID) string {
	h.mu.Lock()
	rooms := h.joinedLocked()
	h.mu.Unlock()
	for _, r := range rooms {
		r.mu.Lock()
		e := r.roster.peers[p]
		nick := ""
		if e != nil {
			nick = e.nick
		}
		r.mu.Unlock()
		if nick != "" {
			return nick
		}
	}
	d := h.dms
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nicks[p].nick
}

// notifiee returns the network notifiee that flushes a peer's queue when
// it connects. It never blocks.
func (d *dms) notifiee() network.Notifiee {
	return &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			select {
			case d.kicks <- dmKick{p: c.RemotePeer()}:
			default:
			}
		},
	}
}

// loop starts the flushes asked for, retries connected peers with a queue
// every dmRetryEvery and prunes the outbox, until ctx is done; then it
// stops the retries and waits for the flushes.
func (d *dms) loop(ctx context.Context) {
	defer d.h.wg.Done()
	queued, err := d.h.hist.st.QueuedDMs("")
	if err != nil {
		d.h.log.Warn("cannot read the direct messages to send", "err", err)
	}
	d.mu.Lock()
	for _, m := range queued {
		if p, err := peer.Decode(m.Peer); err == nil {
			d.pending[p] = true
		}
	}
	d.mu.Unlock()
	d.prune(time.Now())
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.replay()
	}()
	retry := time.NewTicker(dmRetryEvery)
	defer retry.Stop()
	prune := time.NewTicker(dmPruneEvery)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			d.mu.Lock()
			d.closed = true
			for p, r := range d.backoff {
				r.t.Stop()
				delete(d.backoff, p)
			}
			d.mu.Unlock()
			d.wg.Wait()
			return
		case k := <-d.kicks:
			d.start(ctx, k.p, k.force)
		case <-retry.C:
			d.mu.Lock()
			var peers []peer.ID
			for p := range d.pending {
				if d.backoff[p] == nil && d.h.connected(p) {
					peers = append(peers, p)
				}
			}
			d.mu.Unlock()
			for _, p := range peers {
				d.start(ctx, p, false)
			}
		case now := <-prune.C:
			d.prune(now)
		}
	}
}

// replay emits the newest dmReplay stored messages, with every peer, as
// the direct message events they were, History set, oldest first: after
// a restart the conversations show what was said before, as rooms show
// their log. Our own carry their status (queued ones get their
// [chat.KindDMStatus] when delivered). A message whose record does not
// decode is skipped.
func (d *dms) replay() {
	h := d.h
	stored, err := h.hist.st.RecentDMs(dmReplay)
	if err != nil {
		h.log.Warn("cannot read the direct messages stored", "err", err)
		return
	}
	for _, sd := range stored {
		m, err := dmwire.DecodeMessage(sd.Raw)
		if err != nil {
			h.log.Warn("skipping a stored direct message", "id", sd.ID, "err", err)
			continue
		}
		ev := chat.Event{Kind: chat.KindDM, Time: sd.Stored, ID: sd.ID, Text: m.Text, Sent: sd.Sent, History: true}
		if sd.Out {
			ev.PeerID, ev.Nick, ev.Self = h.self.String(), chat.SanitizeNick(m.Nick), true
			ev.To, ev.ToNick, ev.Status = sd.Peer, chat.SanitizeNick(sd.Nick), chat.StatusQueued
			if sd.Delivered {
				ev.Status = chat.StatusDelivered
			}
		} else {
			ev.PeerID, ev.Nick = sd.Peer, chat.SanitizeNick(sd.Nick)
		}
		if !h.out.send(ev, h.closing, nil) {
			return
		}
	}
}

// start runs a flush of p's queue unless p has none (and force is not
// set) or one runs (then it runs once more after).
func (d *dms) start(ctx context.Context, p peer.ID, force bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed || !force && !d.pending[p]:
		return
	case d.running[p]:
		d.again[p] = true
		return
	}
	d.running[p] = true
	d.wg.Go(func() {
		for {
			d.flush(ctx, p)
			d.mu.Lock()
			if !d.again[p] || ctx.Err() != nil {
				delete(d.running, p)
				delete(d.again, p)
				d.mu.Unlock()
				return
			}
			delete(d.again, p)
			d.mu.Unlock()
		}
	})
}

// flush sends p's queue, then tells the user about the new messages of it
// still queued, and plans a retry if p is connected but did not take them
// all.
func (d *dms) flush(ctx context.Context, p peer.ID) {
	h := d.h
	items, err := h.hist.st.QueuedDMs(p.String())
	if err != nil {
		h.log.Warn("cannot read the direct messages to send", "err", err)
		return
	}
	if len(items) == 0 {
		d.mu.Lock()
		delete(d.pending, p)
		d.mu.Unlock()
		return
	}
	err = d.deliver(ctx, p, items)
	if ctx.Err() != nil {
		return
	}
	// What of items was not delivered stays queued: say so once each.
	var echoes []chat.Event
	d.mu.Lock()
	for _, it := range items {
		if ev, ok := d.fresh[it.ID]; ok {
			delete(d.fresh, it.ID)
			ev.Time, ev.Status = time.Now(), chat.StatusQueued
			echoes = append(echoes, ev)
		}
	}
	d.retryLocked(p, err)
	d.mu.Unlock()
	for _, ev := range echoes {
		h.emit(ev)
	}
	if err != nil && !errors.Is(err, errDMOffline) {
		h.log.Debug("direct messages not delivered", "peer", p, "left", len(items), "err", err)
	}
}

// retryLocked plans the next flush of p after one that ended with err:
// none after a success, or while p is not connected (its connection
// will kick it); else after a backoff that doubles. d.mu is held.
func (d *dms) retryLocked(p peer.ID, err error) {
	r := d.backoff[p]
	if err == nil || errors.Is(err, errDMOffline) || d.closed {
		if r != nil {
			r.t.Stop()
			delete(d.backoff, p)
		}
		return
	}
	if r == nil {
		r = &dmRetry{delay: dmBackoffMin / 2}
		d.backoff[p] = r
	} else {
		r.t.Stop()
	}
	r.delay = min(2*r.delay, dmBackoffMax)
	r.t = time.AfterFunc(r.delay, func() {
		select {
		case d.kicks <- dmKick{p: p}:
		default:
		}
	})
}

// deliver sends items, the queue of p in order, over one stream, each
// after the ack of the one before. It returns nil when every item was
// answered (delivered, or refused and dropped). Items delivered are
// removed from the fresh echoes (their echo says delivered).
func (d *dms) deliver(ctx context.Context, p peer.ID, items []store.DM) error {
	h := d.h
	if !h.connected(p) {
		return errDMOffline
	}
	select {
	case d.slots <- struct{}{}:
		defer func() { <-d.slots }()
	case <-ctx.Done():
		return ctx.Err()
	}
	octx, cancel := context.WithTimeout(ctx, dmTimeout)
	s, err := h.host.NewStream(network.WithNoDial(octx, "direct message"), p, dmProtocol)
	cancel()
	if err != nil {
		if !h.connected(p) {
			return errDMOffline
		}
		return fmt.Errorf("open stream: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	br := bufio.NewReaderSize(s, 64)
	for _, it := range items {
		m, err := dmwire.DecodeMessage(it.Raw)
		if err != nil {
			// Never: we wrote it. Not worth keeping.
			h.log.Warn("dropping a damaged direct message of ours", "id", it.ID, "err", err)
			h.hist.st.DropDM(p.String(), it.ID)
			continue
		}
		s.SetDeadline(time.Now().Add(dmTimeout))
		if err := dmwire.WriteFrame(s, dmwire.TypeMessage, it.Raw); err != nil {
			s.Reset()
			return fmt.Errorf("send: %w", err)
		}
		typ, body, err := dmwire.ReadFrame(br)
		if err != nil {
			s.Reset()
			return fmt.Errorf("read ack: %w", err)
		}
		ack, err := dmwire.DecodeAck(body)
		if err != nil || typ != dmwire.TypeAck || ack.ID != m.ID {
			s.Reset()
			return fmt.Errorf("%w: type %d, %x for %x, %v", errDMBadAck, typ, ack.ID, m.ID, err)
		}
		switch ack.Status {
		case dmwire.StatusStored, dmwire.StatusDuplicate:
			d.delivered(p, it)
		case dmwire.StatusBusy:
			s.Close()
			return errDMBusy
		case dmwire.StatusRefused:
			d.refused(p, it, m.Text)
		}
	}
	return s.Close()
}

// delivered marks it, ours to p, delivered, and tells the user once:
// the echo of a new message, or the status of a queued one.
func (d *dms) delivered(p peer.ID, it store.DM) {
	h := d.h
	changed, _, err := h.hist.st.DeliveredDM(p.String(), it.ID)
	if err != nil {
		h.log.Warn("cannot write the message log", "err", err)
	}
	d.mu.Lock()
	ev, fresh := d.fresh[it.ID]
	delete(d.fresh, it.ID)
	d.mu.Unlock()
	if !changed {
		return
	}
	now := time.Now()
	if fresh {
		ev.Time, ev.Status = now, chat.StatusDelivered
		h.emit(ev)
		return
	}
	h.emit(chat.Event{Kind: chat.KindDMStatus, Time: now, ID: it.ID, To: it.Peer, ToNick: chat.SanitizeNick(it.Nick),
		Status: chat.StatusDelivered, Self: true})
}

// refused drops it, ours to p, which p will never accept, and tells the
// user.
func (d *dms) refused(p peer.ID, it store.DM, text string) {
	h := d.h
	if _, err := h.hist.st.DropDM(p.String(), it.ID); err != nil {
		h.log.Warn("cannot write the message log", "err", err)
	}
	d.mu.Lock()
	delete(d.fresh, it.ID)
	d.mu.Unlock()
	h.log.Warn("peer refused a direct message", "peer", p, "id", it.ID)
	h.emit(chat.Event{Kind: chat.KindError, Time: time.Now(), PeerID: p.String(), ID: it.ID, Text: fmt.Sprintf(
		"%s did not accept your direct message %q; it was dropped", who(p, it.Nick), cut(text, 40))})
}

// prune drops the queued messages older than dmQueueAge, telling the
// user (one notice per peer), and the old ones beyond the log's bounds.
func (d *dms) prune(now time.Time) {
	h := d.h
	expired, removed, err := h.hist.st.PruneDMs(now, h.cfg.HistoryMaxAge, dmQueueAge, store.MaxDMs)
	if err != nil {
		h.log.Warn("cannot prune direct messages", "err", err)
		return
	}
	if removed > 0 {
		h.log.Info("pruned direct messages", "messages", removed)
	}
	type gone struct {
		nick  string
		n     int
		since time.Time
	}
	var order []string
	per := make(map[string]*gone)
	d.mu.Lock()
	for _, m := range expired {
		delete(d.fresh, m.ID)
		g := per[m.Peer]
		if g == nil {
			g = &gone{nick: m.Nick, since: m.Stored}
			per[m.Peer] = g
			order = append(order, m.Peer)
		}
		g.n++
	}
	d.mu.Unlock()
	for _, p := range order {
		g := per[p]
		what := "a direct message"
		if g.n > 1 {
			what = fmt.Sprintf("%d direct messages", g.n)
		}
		pid, _ := peer.Decode(p)
		h.emit(chat.Event{Kind: chat.KindNotice, Time: now, PeerID: p, Text: fmt.Sprintf(
			"%s to %s, queued since %s, could not be delivered within %d days and %s dropped",
			what, who(pid, g.nick), g.since.Local().Format("2 Jan 15:04"), dmQueueAge/(24*time.Hour), map[bool]string{true: "were", false: "was"}[g.n > 1])})
	}
}

// who names peer p for a sentence: its nick and the end of its peer ID.
func who(p peer.ID, nick string) string {
	s := p.String()
	end := s[max(0, len(s)-6):]
	if nick == "" {
		return "peer …" + end
	}
	return chat.SanitizeNick(nick) + " (…" + end + ")"
}

// cut returns s cut to n runes, with "…" when cut.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// handle reads direct messages from a peer's stream and acks each (see
// the top of this file).
func (d *dms) handle(s network.Stream) {
	h := d.h
	from := s.Conn().RemotePeer()
	br := bufio.NewReaderSize(s, 4096)
	for range dmPerStream {
		s.SetDeadline(time.Now().Add(dmTimeout))
		typ, body, err := dmwire.ReadFrame(br)
		if errors.Is(err, io.EOF) {
			s.Close()
			return
		}
		if err == nil && typ != dmwire.TypeMessage {
			err = fmt.Errorf("%w: frame type %d", errDMProtocol, typ)
		}
		if err != nil {
			h.adm.warnOnce(from, "bad direct message stream", err)
			s.Reset()
			return
		}
		ack, ev := d.receive(from, body, time.Now())
		err = dmwire.WriteFrame(s, dmwire.TypeAck, ack.Encode())
		// Stored is shown, ack or not: the sender sends it again, and that
		// copy is a duplicate, never shown.
		if ev != nil {
			h.emit(*ev)
		}
		if err != nil {
			s.Reset()
			return
		}
	}
	s.Close()
}

// receive checks one message of peer from and stores it; it returns the
// ack and, for a message new to the log, its event.
func (d *dms) receive(from peer.ID, body []byte, now time.Time) (dmwire.Ack, *chat.Event) {
	h := d.h
	m, err := dmwire.DecodeMessage(body)
	if err != nil {
		h.adm.warnOnce(from, "refused a malformed direct message", err)
		return dmwire.Ack{Status: dmwire.StatusRefused}, nil
	}
	ack := dmwire.Ack{ID: m.ID, Status: dmwire.StatusRefused}
	if !d.allow(from, now) {
		ack.Status = dmwire.StatusBusy
		return ack, nil
	}
	if err := h.checkDM(from, m); err != nil {
		h.adm.warnOnce(from, "refused a direct message", err)
		return ack, nil
	}
	id := dmID(from, m.ID)
	sent := time.UnixMilli(m.Sent)
	added, err := h.hist.st.AddDM(store.DM{ID: id, Peer: from.String(), Nick: m.Nick, Sent: sent, Stored: now, Raw: body})
	switch {
	case errors.Is(err, store.ErrInvalidDM):
		h.adm.warnOnce(from, "refused a direct message", err)
		return ack, nil
	case err != nil:
		h.log.Warn("cannot store a direct message", "peer", from, "err", err)
		ack.Status = dmwire.StatusBusy
		return ack, nil
	case !added:
		ack.Status = dmwire.StatusDuplicate
		return ack, nil
	}
	nick := chat.SanitizeNick(m.Nick)
	d.mu.Lock()
	if _, ok := d.nicks[from]; !ok && len(d.nicks) >= maxDMPeers {
		delete(d.nicks, oldest(d.nicks, func(n dmNick) time.Time { return n.at }))
	}
	d.nicks[from] = dmNick{nick: nick, at: now}
	d.mu.Unlock()
	ack.Status = dmwire.StatusStored
	return ack, &chat.Event{Kind: chat.KindDM, Time: now, PeerID: from.String(), Nick: nick, ID: id, Text: m.Text, Sent: sent}
}

// checkDM reports why m, which came on a stream from peer from, is not a
// direct message of from to this node.
func (h *Host) checkDM(from peer.ID, m dmwire.Message) error {
	signer, err := peer.IDFromBytes(m.From)
	if err != nil || signer != from {
		return fmt.Errorf("%w: sender field %x", errDMForged, m.From)
	}
	to, err := peer.IDFromBytes(m.To)
	if err != nil || to != h.self {
		return fmt.Errorf("%w: recipient field %x", errDMNotForUs, m.To)
	}
	pub, err := from.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: public key of %s: %w", errDMSignature, from, err)
	}
	signed, err := m.Signed()
	if err != nil {
		return err
	}
	if ok, err := pub.Verify(signed, m.Sig); err != nil || !ok {
		return errDMSignature
	}
	return nil
}

// allow takes one message from the receive limits of from and of all
// peers.
func (d *dms) allow(from peer.ID, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.limits[from]
	if l == nil {
		if len(d.limits) >= maxDMPeers {
			delete(d.limits, oldest(d.limits, func(l *dmLimit) time.Time { return l.at }))
		}
		l = &dmLimit{lim: rate.NewLimiter(d.limit, dmRecvBurst)}
		d.limits[from] = l
	}
	l.at = now
	return l.lim.AllowN(now, 1) && d.total.AllowN(now, 1)
}

// setLimit changes the receive limits (tests and benchmarks): limit per
// peer for peers not heard yet, and total for all.
func (d *dms) setLimit(limit, total rate.Limit) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.limit = limit
	d.total.SetLimit(total)
}
