package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"golang.org/x/time/rate"
)

// Tuning that is not worth a Config field.
const (
	// leaveGrace bounds how long Close waits for its peers to confirm the
	// leave (by closing their connections); it is also how long a peer may
	// take to read it.
	leaveGrace = 500 * time.Millisecond
	// byeQueue is the capacity of the queue of peers whose leave was
	// accepted, whose connections byeLoop closes.
	byeQueue = 64
	// subBuffer is the subscription buffer. pubsub drops messages for a full
	// subscription; this plus inboxSize plus EventBuffer is the slack a slow
	// front end has.
	subBuffer = 4096
	// inboxSize is the queue between the subscription reader and presence.
	inboxSize = 256
	// Receive flood protection, per author: a steady rate and a burst.
	recvRate  = 100
	recvBurst = 500
	// Send pacing, below the receive limit so peers never drop our lines:
	// a paste of up to sendBurst lines goes out at once, then sendRate/s.
	sendRate  = 80
	sendBurst = 400
	// maxRoomBytes bounds a room name.
	maxRoomBytes = 64
)

// Node is one chat participant: a libp2p host joined to one room.
//
// All methods are safe for concurrent use.
type Node struct {
	cfg  Config
	log  *slog.Logger
	id   *identity
	self peer.ID

	host     host.Host
	ps       *pubsub.PubSub
	topic    *pubsub.Topic
	sub      *pubsub.Subscription
	peerEvts *pubsub.TopicEventHandler
	connEvts event.Subscription // EvtPeerConnectednessChanged
	info     Info               // static part; Nick is filled in by Info()

	// lifetime is the node's own life span (not a caller's context): Close
	// cancels it at the end, which stops pubsub and every goroutine and
	// unblocks event delivery. done is lifetime.Done().
	lifetime context.Context
	cancel   context.CancelFunc
	done     <-chan struct{}
	// stopAnnounce stops the announcer, the peer-event watcher and the static
	// dialers, before the leave is published.
	stopAnnounce context.CancelFunc
	annWG        sync.WaitGroup
	wg           sync.WaitGroup

	events       chan Event
	emitMu       sync.RWMutex
	eventsClosed bool

	// pubMu serialises publishes, so a heartbeat carrying the old nick is
	// never published after the nick envelope.
	pubMu   sync.Mutex
	nick    string // current nick; guarded by pubMu and mu (write both, read either)
	left    bool   // the leave is published: nothing may follow it; guarded by pubMu
	sendLim *rate.Limiter

	mu     sync.Mutex
	roster *roster

	announceCh chan struct{} // re-announce trigger, cap 1
	byes       chan peer.ID  // peers whose leave was accepted; see byeLoop

	dialMu   sync.Mutex
	backoffs map[peer.ID]*backoff

	limMu     sync.Mutex
	recvLimit rate.Limit // per-author flood limit: recvRate (tests raise it)
	recvBurst int        // recvBurst
	authors   map[peer.ID]*author
	intros    map[peer.ID]*rate.Limiter // new authors each relay may introduce
	warned    map[peer.ID]bool

	closing   atomic.Bool
	mute      atomic.Bool // test hook: no heartbeats or re-announces while set
	closeOnce sync.Once
	closeErr  error
}

// Start creates the host, joins cfg.Room and starts presence: it publishes
// the join and then a heartbeat every cfg.HeartbeatInterval. ctx bounds
// start-up only; stop the node with [Node.Close]. The first event is this
// node's own [EventJoin] (Self set).
func Start(ctx context.Context, cfg Config) (*Node, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	routeLibp2pLogs(cfg.Logger)

	statics := make([]peer.AddrInfo, 0, len(cfg.StaticPeers))
	for _, s := range cfg.StaticPeers {
		ai, err := parseP2PAddr(s)
		if err != nil {
			return nil, err
		}
		statics = append(statics, *ai)
	}

	id, err := loadIdentity(cfg.IdentityPath)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:        cfg,
		log:        log,
		id:         id,
		events:     make(chan Event, cfg.EventBuffer),
		sendLim:    rate.NewLimiter(sendRate, sendBurst),
		announceCh: make(chan struct{}, 1),
		byes:       make(chan peer.ID, byeQueue),
		backoffs:   make(map[peer.ID]*backoff),
		recvLimit:  recvRate,
		recvBurst:  recvBurst,
		authors:    make(map[peer.ID]*author),
		intros:     make(map[peer.ID]*rate.Limiter),
		warned:     make(map[peer.ID]bool),
	}
	lifetime, cancel := context.WithCancel(context.Background())
	n.lifetime, n.cancel, n.done = lifetime, cancel, lifetime.Done()
	if err := n.start(ctx, lifetime, statics); err != nil {
		n.teardown()
		return nil, err
	}
	return n, nil
}

// start does the work of Start; on error the caller tears down what exists.
func (n *Node) start(ctx, lifetime context.Context, statics []peer.AddrInfo) error {
	cfg := n.cfg
	h, err := newHost(cfg, n.id.key, n.log)
	if err != nil {
		return err
	}
	n.host = h
	n.self = h.ID()
	if cfg.Nick == "" {
		s := n.self.String()
		cfg.Nick = "user-" + strings.ToLower(s[len(s)-4:])
		n.cfg.Nick = cfg.Nick
	}
	n.nick = cfg.Nick
	n.roster = newRoster(n.self, cfg.Nick, time.Now(), cfg.HeartbeatInterval, cfg.LostAfter)
	n.info = n.buildInfo()

	topic := topicName(cfg.Room)
	n.ps, err = pubsub.NewGossipSub(lifetime, h,
		// Track only our room's subscriptions: a peer announcing a million
		// topics would otherwise grow pubsub's tables without bound.
		pubsub.WithSubscriptionFilter(pubsub.NewAllowlistSubscriptionFilter(topic)),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithFloodPublish(true),
		// Room for a whole paste burst (sendBurst lines) per peer, with
		// margin: a line dropped from a full queue arrives later by
		// gossip, out of order, or not at all.
		pubsub.WithPeerOutboundQueueSize(1024),
		pubsub.WithValidateQueueSize(4096),
		// One worker keeps each author's lines in order: with several,
		// signature checks finish out of order and so do deliveries. One
		// core checks ~20000 signatures a second, plenty for a chat.
		pubsub.WithValidateWorkers(1),
		pubsub.WithLogger(n.log.With("lib", "pubsub")),
	)
	if err != nil {
		return fmt.Errorf("start gossipsub: %w", err)
	}
	if err := n.ps.RegisterTopicValidator(topic, n.validate, pubsub.WithValidatorInline(true)); err != nil {
		return fmt.Errorf("join room %q: %w", cfg.Room, err)
	}
	if n.topic, err = n.ps.Join(topic); err != nil {
		return fmt.Errorf("join room %q: %w", cfg.Room, err)
	}
	if n.sub, err = n.topic.Subscribe(pubsub.WithBufferSize(subBuffer)); err != nil {
		return fmt.Errorf("join room %q: %w", cfg.Room, err)
	}
	if n.peerEvts, err = n.topic.EventHandler(); err != nil {
		return fmt.Errorf("join room %q: %w", cfg.Room, err)
	}
	if n.connEvts, err = h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged), eventbus.BufSize(64)); err != nil {
		return fmt.Errorf("watch connections: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start: %w", err)
	}

	// Our own join comes first, before anything the goroutines emit.
	n.emit(Event{Type: EventJoin, Time: time.Now(), PeerID: n.self.String(), Nick: cfg.Nick, Self: true})
	if n.id.busy {
		n.emit(Event{Type: EventNotice, Time: time.Now(), Text: fmt.Sprintf(
			"another lanchat on this machine is using the identity %s; this one uses a temporary identity (peer ID %s)",
			cfg.IdentityPath, n.self)})
	}
	n.log.Info("node started", "peer", n.self, "room", cfg.Room, "network", n.info.Network,
		"fingerprint", n.info.Fingerprint, "port", n.info.Port, "port6", n.info.Port6)

	inbox := make(chan inMsg, inboxSize)
	n.wg.Add(3)
	go n.readLoop(lifetime, inbox)
	go n.presenceLoop(lifetime, inbox)
	go n.byeLoop(lifetime)

	annCtx, stopAnnounce := context.WithCancel(lifetime)
	n.stopAnnounce = stopAnnounce
	n.annWG.Add(3 + len(statics))
	go n.announceLoop(annCtx)
	go n.peerEventLoop(annCtx)
	go n.connLoop(annCtx)
	for _, ai := range statics {
		go n.staticLoop(annCtx, ai)
	}

	if err := n.publish(kindJoin, ""); err != nil {
		return fmt.Errorf("announce join: %w", err)
	}
	return nil
}

// withDefaults fills zero fields of cfg and checks the rest.
func withDefaults(cfg Config) (Config, error) {
	if cfg.Room == "" {
		cfg.Room = DefaultRoom
	}
	if err := validRoom(cfg.Room); err != nil {
		return cfg, err
	}
	if cfg.Nick != "" {
		if err := validNick(cfg.Nick); err != nil {
			return cfg, err
		}
	}
	if err := checkPSK(cfg.PSK); err != nil {
		return cfg, err
	}
	if len(cfg.ListenAddrs) == 0 {
		cfg.ListenAddrs = DefaultListenAddrs()
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.LostAfter == 0 {
		cfg.LostAfter = DefaultLostAfter
	}
	if cfg.EventBuffer == 0 {
		cfg.EventBuffer = DefaultEventBuffer
	}
	switch {
	case cfg.HeartbeatInterval < 0:
		return cfg, fmt.Errorf("%w: negative HeartbeatInterval %v", ErrConfig, cfg.HeartbeatInterval)
	case cfg.LostAfter < 2*cfg.HeartbeatInterval:
		return cfg, fmt.Errorf("%w: LostAfter %v must be at least twice HeartbeatInterval %v",
			ErrConfig, cfg.LostAfter, cfg.HeartbeatInterval)
	case cfg.EventBuffer < 0:
		return cfg, fmt.Errorf("%w: negative EventBuffer %d", ErrConfig, cfg.EventBuffer)
	}
	if len(cfg.PSK) == 0 {
		cfg.PSK = nil
	}
	cfg.PSK = slices.Clone(cfg.PSK)
	cfg.ListenAddrs = slices.Clone(cfg.ListenAddrs)
	cfg.StaticPeers = slices.Clone(cfg.StaticPeers)
	return cfg, nil
}

// validRoom checks a room name: 1..64 bytes of printable UTF-8, no spaces.
func validRoom(room string) error {
	if room == "" || len(room) > maxRoomBytes {
		return fmt.Errorf("%w: %q must be 1 to %d bytes", ErrInvalidRoom, room, maxRoomBytes)
	}
	if !utf8.ValidString(room) {
		return fmt.Errorf("%w: %w", ErrInvalidRoom, ErrBadUTF8)
	}
	for _, r := range room {
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w: %q: character %U not allowed", ErrInvalidRoom, room, r)
		}
	}
	return nil
}

// topicName is the gossipsub topic of a room.
func topicName(room string) string { return "lanchat/" + ProtocolVersion + "/room/" + room }

// Info reports this node's identity and addresses.
func (n *Node) Info() Info {
	info := n.info
	info.Addrs = slices.Clone(info.Addrs)
	n.mu.Lock()
	info.Nick = n.nick
	n.mu.Unlock()
	return info
}

// Events returns the channel of room events, in the order they happened.
//
// Delivery rule: when the channel is full, the node waits until the front end
// reads, so nothing is dropped; only Close ends the wait. While it waits,
// incoming messages queue in the inbox and subscription buffers (4352
// more); a front end that stops reading for longer loses messages beyond
// that, dropped by pubsub. Heartbeats go on regardless, so peers do not see
// this node as lost, and members heard meanwhile are not reported lost
// because their messages waited. The channel is closed before Close returns.
func (n *Node) Events() <-chan Event { return n.events }

// Send publishes a chat line; the sender gets its own message once as an
// [EventMessage] with Self set, when pubsub echoes it. Text must be 1..4096
// bytes of valid UTF-8 ([ErrEmptyText], [ErrTooLong], [ErrBadUTF8]). To stay under every peer's
// flood limit Send paces bursts: up to 400 lines go out at once, further lines
// at 80 per second, so Send may block; Close unblocks it with [ErrClosed].
// Nothing is published after Close has published the leave.
func (n *Node) Send(text string) error { return n.say(kindMessage, text) }

// Action publishes a /me action; like [Node.Send].
func (n *Node) Action(text string) error { return n.say(kindAction, text) }

func (n *Node) say(k kind, text string) error {
	switch {
	case text == "":
		return ErrEmptyText
	case len(text) > MaxTextBytes:
		return fmt.Errorf("%w: %d bytes, max %d", ErrTooLong, len(text), MaxTextBytes)
	case !utf8.ValidString(text):
		return fmt.Errorf("send: %w", ErrBadUTF8)
	}
	if n.closing.Load() {
		return ErrClosed
	}
	if err := n.sendLim.Wait(n.lifetime); err != nil {
		return ErrClosed
	}
	return n.publish(k, text)
}

// SetNick renames this node and announces it. Peers (and this node, as an
// [EventNick] with Self set) see the change when the announcement arrives.
// The nick must be valid ([ErrInvalidNick]).
func (n *Node) SetNick(nick string) error {
	if err := validNick(nick); err != nil {
		return err
	}
	if n.closing.Load() {
		return ErrClosed
	}
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	n.mu.Lock()
	n.nick = nick
	n.mu.Unlock()
	return n.publishLocked(kindNick, "")
}

// Members returns a snapshot of the roster, self included, sorted by nick
// (then peer ID). Lost members stay listed, with Lost set, until they come
// back or have been gone for an hour.
func (n *Node) Members() []Member {
	n.mu.Lock()
	ms := n.roster.members()
	for i := range ms {
		if ms[i].Self {
			ms[i].Nick = n.nick
		}
	}
	n.mu.Unlock()
	for i := range ms {
		if ms[i].Self {
			continue
		}
		pid, err := peer.Decode(ms[i].PeerID)
		if err != nil {
			continue
		}
		for _, c := range n.host.Network().ConnsToPeer(pid) {
			ms[i].Addrs = append(ms[i].Addrs, c.RemoteMultiaddr().String())
		}
	}
	slices.SortFunc(ms, func(a, b Member) int {
		if c := strings.Compare(strings.ToLower(a.Nick), strings.ToLower(b.Nick)); c != 0 {
			return c
		}
		if c := strings.Compare(a.Nick, b.Nick); c != 0 {
			return c
		}
		return strings.Compare(a.PeerID, b.PeerID)
	})
	return ms
}

// Notice injects a notice event for the front end (e.g. from discovery). It
// follows the delivery rule of [Node.Events], so it may block while the
// channel is full; after Close it does nothing.
func (n *Node) Notice(text string) {
	n.emit(Event{Type: EventNotice, Time: time.Now(), Text: text})
}

// Close leaves the room and shuts the node down, in this order:
//
//  1. stop heartbeats, re-announces and static-peer redials;
//  2. publish the leave envelope and wait until every peer in the room has
//     confirmed it by closing its connection (bounded by ctx and 500 ms);
//  3. cancel the subscription and close the topic (peers are told we
//     unsubscribed);
//  4. close the libp2p host (all connections);
//  5. stop pubsub and every goroutine, and wait for them;
//  6. close the Events channel and release the identity lock.
//
// ctx bounds only the wait of step 2: when it is done, Close still publishes
// the leave but tears down at once, and peers may then see "lost" instead
// of "quit". Give it a fresh context (e.g. one second), not one already
// cancelled by a signal. Close is safe to call more than once and from several
// goroutines; later calls wait for the first and return its result.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() { n.closeErr = n.shutdown(ctx, true) })
	return n.closeErr
}

// shutdown implements Close. With leave false it vanishes without a word,
// like a crashed process (tests use it to provoke "lost").
func (n *Node) shutdown(ctx context.Context, leave bool) error {
	n.closing.Store(true)
	n.stopAnnounce()
	n.peerEvts.Cancel()
	n.annWG.Wait()

	var errs []error
	if leave {
		if err := n.sendLeave(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	n.sub.Cancel()
	if err := n.topic.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close topic: %w", err))
	}
	if err := n.teardown(); err != nil {
		errs = append(errs, err)
	}
	n.log.Info("node closed", "peer", n.self)
	return errors.Join(errs...)
}

// teardown closes the host, stops every goroutine, closes Events and
// releases the identity. It is also the clean-up of a failed Start.
func (n *Node) teardown() error {
	var err error
	if n.stopAnnounce != nil {
		n.stopAnnounce()
	}
	n.annWG.Wait()
	if n.connEvts != nil {
		// Before the host closes its connections: the swarm would wait
		// for a full subscription that nobody reads.
		n.connEvts.Close()
	}
	if n.host != nil {
		if e := n.host.Close(); e != nil {
			err = fmt.Errorf("close host: %w", e)
		}
	}
	n.cancel()
	n.wg.Wait()
	n.emitMu.Lock()
	if !n.eventsClosed {
		n.eventsClosed = true
		close(n.events)
	}
	n.emitMu.Unlock()
	n.id.release()
	return err
}

// sendLeave publishes the leave envelope and waits until every peer in the
// room has closed its connection to us, bounded by ctx and leaveGrace. A
// peer closes once it has accepted the leave (see [Node.byeLoop]): it has
// read it, so closing our side cannot lose it. (Closing right after
// writing could: a socket closed with unread data is reset, and a peer that
// had not read the leave yet, busy or slow, would report us lost.)
func (n *Node) sendLeave(ctx context.Context) error {
	deadline := time.NewTimer(leaveGrace)
	defer deadline.Stop()
	peers := n.topic.ListPeers()
	n.pubMu.Lock()
	if n.left {
		n.pubMu.Unlock()
		return nil
	}
	data, err := n.envelope(kindLeave, "")
	if err != nil {
		n.pubMu.Unlock()
		return err
	}
	// Publish even when ctx is already done (a signal's context, say):
	// publishing takes microseconds, and only the wait is optional.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaveGrace)
	err = n.topic.Publish(pctx, data)
	cancel()
	n.left = true
	n.pubMu.Unlock()
	if err != nil {
		n.log.Warn("cannot announce leave", "err", err)
		return nil
	}
	start := time.Now()
	if n.waitGone(ctx, deadline.C, peers) {
		n.log.Debug("every peer has the leave", "peers", len(peers), "after", time.Since(start))
	} else {
		n.log.Debug("not every peer confirmed the leave in time", "peers", len(peers))
	}
	return nil
}

// waitGone waits until none of peers is connected, and reports whether
// that happened before deadline fired or ctx was done. It reads the
// connection events itself: connLoop has stopped.
func (n *Node) waitGone(ctx context.Context, deadline <-chan time.Time, peers []peer.ID) bool {
	pending := make(map[peer.ID]bool, len(peers))
	for _, p := range peers {
		if n.connected(p) {
			pending[p] = true
		}
	}
	for len(pending) > 0 {
		select {
		case e, ok := <-n.connEvts.Out():
			if !ok {
				return false
			}
			if ev, ok := e.(event.EvtPeerConnectednessChanged); ok && ev.Connectedness == network.NotConnected {
				delete(pending, ev.Peer)
			}
		case <-deadline:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// byeLoop closes the connections to peers whose leave the validator
// accepted: the leaver waits for that before it closes its own side (see
// [Node.sendLeave]). It runs until ctx is done.
func (n *Node) byeLoop(ctx context.Context) {
	defer n.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-n.byes:
			if err := n.host.Network().ClosePeer(p); err != nil {
				n.log.Debug("cannot close connection to a member that left", "peer", p, "err", err)
			}
		}
	}
}

// publish sends an envelope of kind k with the current nick.
func (n *Node) publish(k kind, text string) error {
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	return n.publishLocked(k, text)
}

// publishLocked is publish with pubMu held. After the leave it publishes
// nothing: peers would take a later envelope for a return.
func (n *Node) publishLocked(k kind, text string) error {
	if n.left {
		return ErrClosed
	}
	data, err := n.envelope(k, text)
	if err != nil {
		return err
	}
	if err := n.topic.Publish(n.lifetime, data); err != nil {
		if n.closing.Load() || errors.Is(err, pubsub.ErrTopicClosed) || errors.Is(err, context.Canceled) {
			return ErrClosed
		}
		return fmt.Errorf("publish %s: %w", k, err)
	}
	return nil
}

// envelope encodes an envelope of kind k with the current nick and time.
func (n *Node) envelope(k kind, text string) ([]byte, error) {
	return encode(envelope{Kind: k, Sent: time.Now().UnixMilli(), Nick: n.nick, Text: text})
}

// emit delivers ev to Events, blocking while the channel is full until the
// node shuts down. After Close it drops ev.
func (n *Node) emit(ev Event) {
	n.emitMu.RLock()
	defer n.emitMu.RUnlock()
	if n.eventsClosed {
		return
	}
	select {
	case n.events <- ev:
	case <-n.done:
	}
}
