package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
	"lanchat/node/roomkey"
	"lanchat/node/syncwire"
	"lanchat/node/wire"
)

// Room buffers that are not worth a Config field.
const (
	// subBuffer is the subscription buffer. pubsub drops messages for a full
	// subscription; this plus inboxSize plus EventBuffer is the slack a slow
	// front end has.
	subBuffer = 4096
	// inboxSize is the queue between the subscription reader and presence.
	inboxSize = 256
)

// Validation errors (logged, never returned).
var (
	errOtherRoom  = errors.New("node: envelope of another room")
	errNotSealed  = errors.New("node: clear envelope in a private room")
	errSealedOpen = errors.New("node: sealed envelope in an open room")
	errBadInner   = errors.New("node: sealed envelope holds a sealed envelope or one of another room")
	errNoSeqno    = errors.New("node: message without a sequence number")
	errLongAuthor = errors.New("node: author's peer ID too long")
)

// maxAuthorBytes bounds an author's peer ID: an Ed25519 key inlined is 38
// bytes, a hashed key (RSA) 34. A longer one (a big key inlined) is
// refused, live and from history: it would not fit the log.
const maxAuthorBytes = 48

// Room is this host in one chat room: the room's gossipsub topic and
// subscription, its validator, roster, announcer (join, heartbeats,
// re-announces) and events. Get one with [Host.Join]; leave it with
// [Room.Leave]. All methods are safe for concurrent use.
type Room struct {
	h         *Host
	log       *slog.Logger
	name      string
	wireID    string       // the envelopes' room field: name, or the key's tag
	topicName string       // "lanchat/2/room/<name>" or "lanchat/2/private/<tag>"
	key       *roomkey.Key // nil for an open room
	sink      Sink

	topic    *pubsub.Topic
	sub      *pubsub.Subscription
	peerEvts *pubsub.TopicEventHandler
	live     *liveness

	out *outbox // Events

	// gone is closed when the room starts leaving or the host closes it;
	// goneErr (chat.ErrLeft or chat.ErrClosed) is set just before.
	gone     chan struct{}
	goneOnce sync.Once
	goneErr  error

	stop         context.CancelFunc // stops readLoop and presenceLoop
	stopAnnounce context.CancelFunc // stops announceLoop and peerEventLoop
	wg           sync.WaitGroup     // readLoop, presenceLoop
	annWG        sync.WaitGroup     // announceLoop, peerEventLoop
	annOnce      sync.Once          // stops the announcer
	evtsOnce     sync.Once          // cancels peerEvts (pubsub's Cancel is not safe to call twice at once)

	// pubMu serialises publishes, so a heartbeat carrying the old nick is
	// never published after the nick envelope, nor anything after the leave.
	pubMu sync.Mutex
	nick  string // guarded by pubMu
	left  bool   // the leave is published; guarded by pubMu

	mu     sync.Mutex // guards roster; its only writer is presenceLoop
	roster *roster
	pres   *presenceLink // presence's links to peerEventLoop and announceLoop

	// History sync: pulls hand their results over without blocking (see
	// syncNote); the presence goroutine takes them on syncWake.
	syncMu      sync.Mutex
	syncPending int                                // pulls queued or running; guarded by syncMu
	syncDone    int64                              // pulls ended; guarded by syncMu
	syncResults []syncMsg                          // guarded by syncMu
	fetched     map[[syncwire.IDSize]byte]struct{} // lines fetched lately; guarded by syncMu
	syncWake    chan struct{}                      // cap 1
	pullMu      sync.Mutex                         // one pull of the room at a time

	leaveOnce sync.Once
	leaveErr  error
	shutOnce  sync.Once
	confirmed atomic.Bool  // test hook: every peer acked the leave
	pulled    atomic.Int64 // test hook: pulls ended and their events emitted
}

// Join joins the room called name (see [chat.ValidRoom]; front ends strip
// a leading "#" with [chat.RoomName]) and starts its presence: it
// publishes a join, then a heartbeat every [Config.HeartbeatInterval]. The
// room's first event is this node's own [chat.KindJoin] (Self set).
// With opts.Passphrase the room is private (see [RoomOptions]).
//
// A host is in at most 32 rooms at once (fewer with a HeartbeatInterval
// under 2 s: see [Config.HeartbeatInterval]).
//
// Errors: [chat.ErrInvalidRoom], [chat.ErrAlreadyJoined] (a room of that
// name is joined, or being joined), [ErrTooManyRooms], [chat.ErrClosed]
// when Close has begun (also while the join is under way). ctx bounds the
// join.
func (h *Host) Join(ctx context.Context, name string, opts RoomOptions) (*Room, error) {
	if err := chat.ValidRoom(name); err != nil {
		return nil, fmt.Errorf("join room: %w", err)
	}
	h.mu.Lock()
	switch r, ok := h.rooms[name]; {
	case h.closed:
		h.mu.Unlock()
		return nil, chat.ErrClosed
	case ok && r == nil:
		h.mu.Unlock()
		return nil, fmt.Errorf("join room %q: %w (joining)", name, chat.ErrAlreadyJoined)
	case ok:
		h.mu.Unlock()
		return nil, fmt.Errorf("join room %q: %w", name, chat.ErrAlreadyJoined)
	case len(h.rooms) >= h.maxRooms:
		h.mu.Unlock()
		return nil, fmt.Errorf("join room %q: %w (at most %d at once)", name, ErrTooManyRooms, h.maxRooms)
	}
	h.rooms[name] = nil // reserved while joining
	h.mu.Unlock()

	r, err := h.newRoom(ctx, name, opts)
	if err == nil {
		err = h.register(r)
	}
	if err != nil {
		h.mu.Lock()
		if h.rooms[name] == nil {
			delete(h.rooms, name)
		}
		h.mu.Unlock()
		if errors.Is(err, chat.ErrClosed) || h.isClosing() {
			// pubsub's calls fail with its own errors once it stops.
			return nil, chat.ErrClosed
		}
		return nil, fmt.Errorf("join room %q: %w", name, err)
	}
	h.spend()
	if err := r.publish(ctx, wire.KindJoin, ""); err != nil {
		if r.isGone() {
			return nil, r.goneErr
		}
		// Heartbeats announce us anyway.
		r.log.Warn("cannot announce join", "err", err)
	}
	return r, nil
}

// newRoom derives the room's key if it is private, and joins its topic
// with the room's validator in place.
func (h *Host) newRoom(ctx context.Context, name string, opts RoomOptions) (*Room, error) {
	r := &Room{
		h:         h,
		name:      name,
		wireID:    name,
		topicName: openTopic(name),
		sink:      opts.Sink,
		live:      newLiveness(),
		out:       newOutbox(h.cfg.EventBuffer),
		gone:      make(chan struct{}),
		syncWake:  make(chan struct{}, 1),
		fetched:   make(map[[syncwire.IDSize]byte]struct{}),
	}
	if opts.Passphrase != "" {
		key, err := roomkey.Derive(h.cfg.PSK, name, opts.Passphrase)
		if err != nil {
			return nil, fmt.Errorf("derive room key: %w", err)
		}
		r.key = key
		r.wireID = key.Tag()
		r.topicName = privateTopic(key.Tag())
	}
	r.log = h.log.With("room", name)
	if r.key != nil {
		// The name of a private room stays out of logs shared with others.
		r.log = h.log.With("room", r.wireID)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if h.isClosing() {
		return nil, chat.ErrClosed
	}
	// The validator comes first: pubsub accepts without validation what
	// arrives for a topic that has none.
	if err := h.ps.RegisterTopicValidator(r.topicName, r.validate, pubsub.WithValidatorInline(true)); err != nil {
		return nil, fmt.Errorf("register validator: %w", err)
	}
	// From now on peers' subscriptions to the topic are tracked even when
	// the filter's table of topics is full.
	h.filter.join(r.topicName)
	var err error
	if r.topic, err = h.ps.Join(r.topicName); err != nil {
		r.closeTopic()
		return nil, fmt.Errorf("join topic: %w", err)
	}
	// Without its parameters pubsub scores nothing in the topic: a peer
	// delivering invalid messages would never be graylisted (scoring.go).
	if err = r.topic.SetScoreParams(roomScoreParams()); err != nil {
		r.closeTopic()
		return nil, fmt.Errorf("score topic: %w", err)
	}
	if r.sub, err = r.topic.Subscribe(pubsub.WithBufferSize(subBuffer)); err == nil {
		r.peerEvts, err = r.topic.EventHandler()
	}
	if err != nil {
		r.closeTopic()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	return r, nil
}

// register makes r a joined room of h and starts its goroutines, unless h
// is closed.
func (h *Host) register(r *Room) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		r.closeTopic()
		return chat.ErrClosed
	}
	h.rooms[r.name] = r
	h.byTopic.Store(r.topicName, r)
	r.nick = h.nick // under h.mu: SetNick either sees r or set the nick first
	r.roster = newRoster(r.name, h.self, h.nick, time.Now(), h.cfg.HeartbeatInterval, h.cfg.LostAfter)
	r.roster.connected = func(p peer.ID) bool { return h.host.Network().Connectedness(p) == network.Connected }
	r.pres = newPresenceLink()
	// Our own join comes first, before anything the goroutines emit; the
	// channel is new and has room for it.
	r.emit(chat.Event{Kind: chat.KindJoin, Room: r.name, Time: time.Now(), PeerID: h.self.String(), Nick: h.nick, Self: true})
	r.log.Info("joined room", "topic", r.topicName, "private", r.key != nil)

	ctx, stop := context.WithCancel(context.Background())
	annCtx, stopAnnounce := context.WithCancel(ctx)
	r.stop, r.stopAnnounce = stop, stopAnnounce
	inbox := make(chan Record, inboxSize)
	r.wg.Add(2)
	go r.readLoop(ctx, inbox)
	go r.presenceLoop(ctx, inbox)
	r.annWG.Add(2)
	go r.announceLoop(annCtx)
	go r.peerEventLoop(annCtx)
	h.dhtJoined(r)
	return nil
}

// Name returns the room's name.
func (r *Room) Name() string { return r.name }

// Private reports whether the room is sealed with a room passphrase.
func (r *Room) Private() bool { return r.key != nil }

// Events returns the channel of the room's events, in the order they
// happened, each with Room set to the room's name. The first is this
// node's own join (Self). After [Room.Leave] the last is this node's own
// leave (Self, [chat.ReasonQuit]), and the channel is closed; after
// [Host.Close] it is closed without one.
//
// Delivery rule: when the channel is full, the room waits until the front
// end reads, so nothing is dropped; only leaving the room or closing the
// host ends the wait (and drops the event). While it waits, incoming
// messages queue in the inbox and subscription buffers (4352 more); a
// front end that stops reading for longer loses messages beyond that,
// dropped by pubsub. Heartbeats go on regardless, so peers do not see this
// node as lost, and members heard meanwhile are not reported lost because
// their messages waited.
func (r *Room) Events() <-chan chat.Event { return r.out.ch }

// Members returns a snapshot of the roster, self included, sorted by nick
// (then peer ID). Lost members stay listed, with Lost set, until they come
// back or have been lost for ten minutes (or make room for a newcomer in
// a roster full with 1000 members).
func (r *Room) Members() []chat.Member {
	r.mu.Lock()
	ms := r.roster.members()
	r.mu.Unlock()
	nick := r.h.currentNick()
	for i := range ms {
		if ms[i].Self {
			ms[i].Nick = nick
			continue
		}
		pid, err := peer.Decode(ms[i].PeerID)
		if err != nil {
			continue
		}
		for _, c := range r.h.host.Network().ConnsToPeer(pid) {
			ms[i].Addrs = append(ms[i].Addrs, c.RemoteMultiaddr().String())
		}
	}
	slices.SortFunc(ms, func(a, b chat.Member) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Nick), strings.ToLower(b.Nick)),
			strings.Compare(a.Nick, b.Nick), strings.Compare(a.PeerID, b.PeerID))
	})
	return ms
}

// present returns how many members are present, self included.
func (r *Room) present() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.roster.present()
}

// Send publishes a chat line in the room; the sender gets its own message
// once as a [chat.KindMessage] event with Self set, when pubsub echoes it.
// Text must be 1..4096 bytes of valid UTF-8 ([chat.ErrEmptyText],
// [chat.ErrTooLong], [chat.ErrBadUTF8]). To stay under every peer's flood
// limit the host paces what it sends, over all rooms: up to 400 envelopes
// go out at once, further ones at 80 per second, presence (heartbeats)
// included, so Send may block until ctx is done. After [Room.Leave] it
// fails with [chat.ErrLeft], after [Host.Close] with [chat.ErrClosed];
// nothing is published after the leave.
func (r *Room) Send(ctx context.Context, text string) error {
	return r.say(ctx, wire.KindMessage, text)
}

// Action publishes a /me action; like [Room.Send].
func (r *Room) Action(ctx context.Context, text string) error {
	return r.say(ctx, wire.KindAction, text)
}

func (r *Room) say(ctx context.Context, k wire.Kind, text string) error {
	if err := chat.ValidText(text); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if r.isGone() {
		return r.goneErr
	}
	if err := r.h.pace(ctx, r.gone); err != nil {
		if r.isGone() {
			return r.goneErr
		}
		return fmt.Errorf("send: %w", err)
	}
	return r.publish(ctx, k, text)
}

// setNick announces nick in the room and uses it from now on.
func (r *Room) setNick(ctx context.Context, nick string) error {
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	r.nick = nick
	r.h.spend()
	return r.publishLocked(ctx, wire.KindNick, "")
}

// publish publishes an envelope of kind k with the current nick.
func (r *Room) publish(ctx context.Context, k wire.Kind, text string) error {
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	return r.publishLocked(ctx, k, text)
}

// publishLocked is publish with pubMu held. After the leave it publishes
// nothing: peers would take a later envelope for a return.
func (r *Room) publishLocked(ctx context.Context, k wire.Kind, text string) error {
	return r.publishEnvelope(ctx, k, text, wire.File{})
}

// publishEnvelope is publishLocked of an envelope that may offer a file.
func (r *Room) publishEnvelope(ctx context.Context, k wire.Kind, text string, file wire.File) error {
	if r.left {
		return chat.ErrLeft
	}
	if r.isGone() {
		return r.goneErr
	}
	data, err := r.envelopeOf(k, text, file)
	if err != nil {
		return err
	}
	if err := r.topic.Publish(ctx, data); err != nil {
		if r.isGone() {
			return r.goneErr
		}
		if errors.Is(err, pubsub.ErrTopicClosed) || r.h.isClosing() {
			return chat.ErrClosed
		}
		return fmt.Errorf("publish %s: %w", k, err)
	}
	return nil
}

// envelope encodes an envelope of kind k with the current nick and time,
// sealed for a private room; pubMu is held.
func (r *Room) envelope(k wire.Kind, text string) ([]byte, error) {
	return r.envelopeOf(k, text, wire.File{})
}

// envelopeOf is envelope with a file offered (zero: none).
func (r *Room) envelopeOf(k wire.Kind, text string, file wire.File) ([]byte, error) {
	now := time.Now().UnixMilli()
	e := wire.Envelope{Kind: k, Room: r.wireID, Sent: now, Nick: r.nick, Text: text, File: file}
	if k.HasText() {
		e.Clock = r.h.clock.next(now)
	}
	b, err := wire.Encode(e)
	if err != nil || r.key == nil {
		return b, err
	}
	return wire.Encode(wire.Envelope{Kind: wire.KindSealed, Room: r.wireID, Sealed: r.key.Seal(b, r.ad(r.h.self))})
}

// ad is the additional data of author's sealed envelopes: its peer ID
// bytes and the room's tag. A sealed envelope thus opens only as signed by
// its author, and only in its room.
func (r *Room) ad(author peer.ID) []byte {
	return append([]byte(author), r.wireID...)
}

// open decodes the envelope data that author signed: it must be of this
// room, and for a private room sealed with the room's key (it returns the
// inner envelope).
func (r *Room) open(author peer.ID, data []byte) (wire.Envelope, error) {
	env, err := wire.Decode(data)
	if err != nil {
		return env, err
	}
	if env.Room != r.wireID {
		return env, fmt.Errorf("%w: %q", errOtherRoom, env.Room)
	}
	if r.key == nil {
		if env.Kind == wire.KindSealed {
			return env, errSealedOpen
		}
		return env, nil
	}
	if env.Kind != wire.KindSealed {
		return env, fmt.Errorf("%w: %s", errNotSealed, env.Kind)
	}
	plain, err := r.key.Open(env.Sealed, r.ad(author))
	if err != nil {
		return env, err
	}
	inner, err := wire.Decode(plain)
	if err != nil {
		return inner, fmt.Errorf("inner envelope: %w", err)
	}
	if inner.Kind == wire.KindSealed || inner.Room != r.wireID {
		return inner, errBadInner
	}
	return inner, nil
}

// validate is the topic validator, called by pubsub (for our own messages
// in the publishing goroutine, for others' in its validation worker). It
// rejects envelopes that no lanchat signs (see [certainlyBad]): of another
// room, clear in a private room or sealed in an open one, a box that does
// not open, bytes that are not fields; it ignores those a newer lanchat
// may sign (a later version or kind, longer text, other nick rules), so
// that a peer forwarding them is never penalised as invalid; admission
// ignores replays, floods and too many new authors. The author is the
// signer (StrictSign); nothing in the payload says who sent it. For an
// accepted message it records when the author was heard, confirms a leave
// to its author (see ack.go), and sets the [Record] as ValidatorData. It
// calls nothing of pubsub.
func (r *Room) validate(_ context.Context, src peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	author := m.GetFrom()
	if len(author) > maxAuthorBytes {
		r.h.adm.warnOnce(author, "rejected bad envelope", errLongAuthor)
		return pubsub.ValidationReject
	}
	env, err := r.open(author, m.GetData())
	if err != nil {
		if !certainlyBad(m.GetData(), err) {
			r.h.adm.warnOnce(author, "ignored an envelope this version cannot read (a newer lanchat?)", err)
			return pubsub.ValidationIgnore
		}
		r.h.adm.warnOnce(author, "rejected bad envelope", err)
		return pubsub.ValidationReject
	}
	seq, ok := seqno(m)
	if !ok {
		r.h.adm.warnOnce(author, "rejected bad envelope", errNoSeqno)
		return pubsub.ValidationReject
	}
	now := time.Now()
	// pubsub itself drops messages of ours that come back from the network.
	if author != r.h.self {
		if res, flood := r.h.adm.screen(author, src, seq); res != pubsub.ValidationAccept {
			if flood {
				r.h.sync.lost(r, src)
			}
			return res
		}
		leave := env.Kind == wire.KindLeave
		// Not for a leave older than something already heard: the author
		// may have restarted since.
		if newest := r.live.heard(author, seq, now, leave); leave && newest {
			r.h.queueAck(author, r.wireID)
		}
	}
	m.ValidatorData = &Record{
		ID:       r.h.names.messageID(author, m.GetSeqno()),
		Author:   author,
		Seqno:    seq,
		Room:     r.name,
		Envelope: env,
		Received: now,
	}
	return pubsub.ValidationAccept
}

// emit delivers ev to Events, blocking while the channel is full until the
// room is gone (left or closed); then, and after Events is closed, it drops
// ev.
func (r *Room) emit(ev chat.Event) { r.out.send(ev, r.gone, nil) }

// emitLast delivers the room's last event: it waits while the channel is
// full, but at most leaveGrace, and not past ctx or the host's closing.
func (r *Room) emitLast(ctx context.Context, ev chat.Event) {
	ctx, cancel := context.WithTimeout(ctx, leaveGrace)
	defer cancel()
	r.out.send(ev, ctx.Done(), r.h.closing)
}

// closeEvents closes Events, once.
func (r *Room) closeEvents() { r.out.close() }

// markGone closes gone with reason, and reports whether this call did.
func (r *Room) markGone(reason error) bool {
	did := false
	r.goneOnce.Do(func() {
		r.goneErr = reason
		close(r.gone)
		did = true
	})
	return did
}

// isGone reports whether the room is leaving, left or closed.
func (r *Room) isGone() bool { return isClosed(r.gone) }

// Leave leaves the room gracefully, this room only: other rooms and the
// connections they share are untouched. In this order it:
//
//  1. makes new Sends fail with [chat.ErrLeft], and stops heartbeats and
//     re-announces;
//  2. publishes the leave, and waits until every peer that was in the
//     topic has confirmed it or left the topic (see ack.go), bounded by
//     ctx and 500 ms — peers that did not confirm in time may see "lost"
//     instead of "quit";
//  3. cancels the subscription and closes the topic (peers are told we
//     unsubscribed), and stops the room's goroutines;
//  4. delivers this node's own leave event (Self, [chat.ReasonQuit]),
//     waiting at most 500 ms while Events is full, and closes Events.
//
// The leave is published even when ctx is already done; only the waits are
// cut short. Leave is safe to call more than once and from several
// goroutines; later calls wait for the first and return its result. After
// [Host.Close] it returns [chat.ErrClosed].
func (r *Room) Leave(ctx context.Context) error {
	r.leaveOnce.Do(func() { r.leaveErr = r.leave(ctx) })
	return r.leaveErr
}

func (r *Room) leave(ctx context.Context) error {
	if !r.markGone(chat.ErrLeft) {
		// The host closed the room, or is closing it.
		r.shutdown()
		r.closeEvents()
		return r.goneErr
	}
	r.stopAnnouncing()
	err := r.sendLeave(ctx)
	r.shutdown()
	r.emitLast(ctx, chat.Event{Kind: chat.KindLeave, Room: r.name, Time: time.Now(),
		PeerID: r.h.self.String(), Nick: r.h.currentNick(), Reason: chat.ReasonQuit, Self: true})
	r.closeEvents()
	r.log.Info("left room")
	return err
}

// closeByHost stops the room without a leave, for Host.Close.
func (r *Room) closeByHost() {
	r.markGone(chat.ErrClosed)
	r.shutdown()
	r.closeEvents()
}

// stopAnnouncing stops heartbeats, re-announces and the peer-event watch,
// and waits for them. Leave and Host.Close may call it at once.
func (r *Room) stopAnnouncing() {
	r.annOnce.Do(func() {
		r.stopAnnounce()
		r.cancelPeerEvents()
	})
	r.annWG.Wait()
}

// cancelPeerEvents cancels the topic's event handler, if any, once.
func (r *Room) cancelPeerEvents() {
	r.evtsOnce.Do(func() {
		if r.peerEvts != nil {
			r.peerEvts.Cancel()
		}
	})
}

// sendLeave publishes the leave envelope and waits until every peer in the
// topic has confirmed it, bounded by ctx and leaveGrace. A peer confirms
// once its validator accepted the leave (see [Host.handleAck]).
func (r *Room) sendLeave(ctx context.Context) error {
	deadline := time.NewTimer(leaveGrace)
	defer deadline.Stop()
	peers := r.topic.ListPeers()
	w := r.h.acks.expect(r.wireID, peers)
	defer r.h.acks.drop(w)

	r.pubMu.Lock()
	if r.left {
		r.pubMu.Unlock()
		return nil
	}
	data, err := r.envelope(wire.KindLeave, "")
	if err != nil {
		r.pubMu.Unlock()
		return err
	}
	// Publish even when ctx is already done (a signal's context, say):
	// publishing takes microseconds, and only the wait is optional.
	r.h.spend()
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaveGrace)
	err = r.topic.Publish(pctx, data)
	cancel()
	r.left = true
	r.pubMu.Unlock()
	if err != nil {
		r.log.Warn("cannot announce leave", "err", err)
		return nil
	}
	start := time.Now()
	if w.wait(ctx, deadline.C, r.h.closing, r.topic.ListPeers) {
		r.confirmed.Store(true)
		r.log.Debug("every peer confirmed the leave", "peers", len(peers), "after", time.Since(start))
	} else {
		r.log.Debug("not every peer confirmed the leave in time", "peers", len(peers), "missing", w.missing())
	}
	return nil
}

// shutdown stops the room: the announcer, the subscription and topic, the
// validator and the room's goroutines, and takes the room off the host's
// list. It does not close Events. Safe to call more than once; later calls
// wait for the first.
func (r *Room) shutdown() {
	r.shutOnce.Do(func() {
		r.stopAnnouncing()
		r.closeTopic()
		r.stop()
		r.wg.Wait()
		r.h.mu.Lock()
		if r.h.rooms[r.name] == r {
			delete(r.h.rooms, r.name)
			r.h.byTopic.CompareAndDelete(r.topicName, r)
		}
		r.h.mu.Unlock()
	})
}

// closeTopic cancels the subscription, closes the topic, removes the
// validator and the topic's place in the subscription filter, whichever of
// them exist. The order matters: pubsub closes a
// topic only without subscriptions and event handlers, and handles
// Cancel before a later Close (one event loop, unbuffered requests).
func (r *Room) closeTopic() {
	r.cancelPeerEvents()
	if r.sub != nil {
		r.sub.Cancel()
	}
	if r.topic != nil {
		if err := r.topic.Close(); err != nil && !r.h.isClosing() {
			r.log.Warn("cannot close topic", "err", err)
		}
	}
	if err := r.h.ps.UnregisterTopicValidator(r.topicName); err != nil && !r.h.isClosing() {
		r.log.Warn("cannot remove validator", "err", err)
	}
	r.h.filter.part(r.topicName)
}
