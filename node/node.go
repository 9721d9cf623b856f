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
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"lanchat/node/chat"
)

// Tuning that is not worth a Config field.
const (
	// The send budget, per host (peers' flood limit is per author,
	// whatever the room), below the receive limit so that peers never
	// drop what we publish: a paste of up to sendBurst lines goes out at
	// once, then sendRate/s. Presence (joins, heartbeats, nicks, leaves)
	// goes out at once too but is counted, so lines wait for it; optional
	// re-announces go out only while more than half the burst is left.
	sendRate  = 80
	sendBurst = 400
	// presenceRate bounds the heartbeats of all rooms, per second, to a
	// quarter of the budget: a host joins at most presenceRate ×
	// HeartbeatInterval rooms (and no more than maxTopicsPerPeer, the most
	// that peers track of it), so lines keep three quarters.
	presenceRate = sendRate / 4
	// housekeepingEvery is how often the host forgets authors it has not
	// heard for long (see [admission.prune]).
	housekeepingEvery = 10 * time.Second
	// oldPeerQueue is the capacity of the queue of peers found to run
	// protocol 1, who get a notice.
	oldPeerQueue = 16
)

// Host is this node on the LAN: its identity, the libp2p host (TCP, Noise,
// yamux, pnet), gossipsub, dialing and static peers, and the admission of
// incoming messages that all its rooms share. It joins rooms with
// [Host.Join]; each [Room] has its own topic, roster and events.
//
// Shut it down with [Host.Leave] (a goodbye in every room), then
// [Host.Close]. All methods are safe for concurrent use.
type Host struct {
	cfg     Config
	log     *slog.Logger
	id      *identity
	self    peer.ID
	host    host.Host
	ps      *pubsub.PubSub
	filter  *topicFilter
	notify  network.Notifiee // the filter's
	links   *linkLog
	linkN   network.Notifiee // the link log's
	adm     *admission
	info    chat.Info     // static part; Nick is filled in by Info()
	sendLim *rate.Limiter // the send budget, see sendRate
	mute    atomic.Bool   // test hook: no heartbeats or re-announces while set
	scores  *scoreWatch   // pubsub's peer scores, see scoring.go

	hist  *history // the message log
	clock hlc      // the clock of the lines we send
	sync  *syncer  // history sync, both roles
	bans  *bans    // peers cut off (the connection gater)
	// byTopic maps the topic of each joined room to it (topic string →
	// *Room), beside rooms, for pubsub's event loop, which must not wait
	// for mu (see dropTracer).
	byTopic sync.Map
	forgers *forgers  // peers forwarding bad signatures
	names   peerNames // authors' peer IDs as text, for message IDs

	out      *outbox // host-wide notices and errors
	maxRooms int     // roomLimit(cfg.HeartbeatInterval)

	// closing is closed when Close begins: it unblocks event delivery and
	// waits, and makes new calls fail with chat.ErrClosed.
	closing chan struct{}
	// cancel stops the host's own goroutines (static dialers, acks,
	// housekeeping); psCancel stops pubsub.
	cancel   context.CancelFunc
	psCancel context.CancelFunc
	wg       sync.WaitGroup

	mu     sync.Mutex
	nick   string           // one nick in every room; guarded by mu
	rooms  map[string]*Room // joined rooms by name; nil while joining; guarded by mu
	closed bool             // guarded by mu
	nickMu sync.Mutex       // serialises SetNick

	acks  acks       // leave confirmations, see ack.go
	files *transfers // file offers and transfers, see transfer.go
	olds  chan peer.ID

	dms *dms             // direct messages, see dm.go
	dmN network.Notifiee // theirs: a peer's queue goes when it connects

	dialMu   sync.Mutex
	backoffs map[peer.ID]*backoff

	reach          // the Dialer, peer exchange and remembered peers (reach.go)
	dht   *siteDHT // the private DHT, nil unless configured (dht.go)

	closeOnce sync.Once
	closeErr  error
}

// Start creates the host and starts gossipsub, static-peer dialing and the
// leave-ack protocol; it joins no room (see [Host.Join]). ctx bounds
// start-up only; stop the host with [Host.Close]. When the identity file
// is in use by another process, the first host event is a notice saying
// that a temporary identity is used.
func Start(ctx context.Context, cfg Config) (*Host, error) {
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
	statics = mergeStatics(statics)

	id, err := loadIdentity(cfg.IdentityPath)
	if err != nil {
		return nil, configError("IdentityPath", err)
	}
	h := &Host{
		cfg:      cfg,
		log:      log,
		id:       id,
		adm:      newAdmission(log),
		forgers:  newForgers(),
		sendLim:  rate.NewLimiter(sendRate, sendBurst),
		out:      newOutbox(cfg.EventBuffer),
		maxRooms: roomLimit(cfg.HeartbeatInterval),
		closing:  make(chan struct{}),
		rooms:    make(map[string]*Room),
		acks:     newAcks(),
		links:    newLinkLog(),
		olds:     make(chan peer.ID, oldPeerQueue),
		backoffs: make(map[peer.ID]*backoff),
		bans:     newBans(),
	}
	if err := h.start(ctx, statics); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// start does the work of Start once h is built; on error the caller
// closes h.
func (h *Host) start(ctx context.Context, statics []peer.AddrInfo) error {
	lh, err := newLibp2pHost(h.cfg, h.id.key, h.bans, h.log)
	if err != nil {
		return err
	}
	h.host = lh
	h.self = lh.ID()
	hist, notice, err := openHistory(h.cfg, h.self, h.cfg.IdentityPath != "" && !h.id.busy, h.log)
	if err != nil {
		return err
	}
	h.hist = hist
	h.adm.marks = hist
	h.adm.addrOf = h.remoteAddr
	if notice != "" {
		h.emit(chat.Event{Kind: chat.KindNotice, Time: time.Now(), Text: notice})
	}
	h.sync = newSyncer(h)
	h.dms = newDMs(h)
	h.files = newTransfers(h)
	h.nick = h.cfg.Nick
	if h.nick == "" {
		s := h.self.String()
		h.nick = "user-" + strings.ToLower(s[len(s)-4:])
	}
	h.info = h.buildInfo()

	life, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	psLife, psCancel := context.WithCancel(context.Background())
	h.psCancel = psCancel
	h.filter = newTopicFilter(h.oldPeer)
	h.scores = newScoreWatch(h.log)
	h.ps, err = pubsub.NewGossipSub(psLife, lh,
		// Track only topics of our naming scheme, a bounded number per
		// peer: a peer announcing a million topics would otherwise grow
		// pubsub's tables without bound.
		pubsub.WithSubscriptionFilter(h.filter),
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
		// Messages admission would ignore anyway (a flood, too many new
		// authors), or too many from one forwarder, are dropped before
		// their signatures are checked (see Host.inspect).
		pubsub.WithAppSpecificRpcInspector(h.inspect),
		// A peer that delivers messages no lanchat signs is graylisted;
		// nothing else is scored (see scoring.go). Each room's topic gets
		// its parameters when joined.
		pubsub.WithPeerScore(peerScoreParams(), peerScoreThresholds()),
		// A message ID that covers what the validator judges, so that no
		// honest relay's copy passes for a copy of an invalid message.
		pubsub.WithMessageIdFn(pubsubID),
		pubsub.WithPeerScoreInspect(pubsub.ExtendedPeerScoreInspectFn(h.scores.inspect), scoreEvery),
		// Lines dropped from full queues are fetched by sync.
		pubsub.WithRawTracer(dropTracer{h}),
		// Copies of a message waiting for its signature check are
		// dropped unchecked (see pending, Host.inspect).
		pubsub.WithRawTracer(pendingTracer{h.adm.pending}),
		// Without the chat text it logs at debug level (see redacted).
		pubsub.WithLogger(slog.New(redacted{h.log.Handler()}).With("lib", "pubsub")),
	)
	if err != nil {
		return fmt.Errorf("start gossipsub: %w", err)
	}
	h.notify = h.filter.notifiee()
	lh.Network().Notify(h.notify)
	h.linkN = h.links.notifiee()
	lh.Network().Notify(h.linkN)
	lh.SetStreamHandler(ackProtocol, h.handleAck)
	lh.SetStreamHandler(syncProtocol, h.sync.handle)
	h.dmN = h.dms.notifiee()
	lh.Network().Notify(h.dmN)
	lh.SetStreamHandler(dmProtocol, h.dms.handle)
	lh.SetStreamHandler(fileProtocol, h.files.handle)
	if err := h.startReach(life); err != nil {
		return err
	}
	if err := h.startDHT(life); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start: %w", err)
	}

	if h.id.busy {
		h.emit(chat.Event{Kind: chat.KindNotice, Time: time.Now(), Text: fmt.Sprintf(
			"another lanchat on this machine is using the identity %s; this one uses a temporary identity (peer ID %s)",
			h.cfg.IdentityPath, h.self)})
	}
	h.log.Info("host started", "peer", h.self, "network", h.info.Network,
		"fingerprint", h.info.Fingerprint, "port", h.info.Port, "port6", h.info.Port6)

	h.wg.Add(4 + syncWorkers + len(statics))
	go h.ackLoop(life)
	go h.dms.loop(life)
	go func() {
		defer h.wg.Done()
		h.hist.writeLoop(life)
	}()
	for range syncWorkers {
		go h.sync.worker(life)
	}
	go h.housekeeping(life)
	for _, ai := range statics {
		go h.staticLoop(life, ai)
	}
	return nil
}

// withDefaults fills zero fields of cfg and checks the rest.
func withDefaults(cfg Config) (Config, error) {
	if cfg.Nick != "" {
		if err := chat.ValidNick(cfg.Nick); err != nil {
			ce := configError("Nick", err)
			ce.Reason += fmt.Sprintf(" (use 1 to %d visible characters)", chat.MaxNickRunes)
			return cfg, ce
		}
	}
	if err := checkPSK(cfg.PSK); err != nil {
		return cfg, configError("PSK", err)
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
	if cfg.MaxFileSize == 0 {
		cfg.MaxFileSize = DefaultMaxFileSize
	}
	for _, d := range []struct {
		v   *int
		def int
	}{{&cfg.HistoryMaxLines, DefaultHistoryMaxLines}, {&cfg.HistoryShow, DefaultHistoryShow}, {&cfg.SyncMaxLines, DefaultSyncMaxLines}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&cfg.HistoryMaxAge, DefaultHistoryMaxAge}, {&cfg.SyncWindow, DefaultSyncWindow}, {&cfg.SyncInterval, DefaultSyncInterval}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.HistoryMaxLines < 0 {
		return cfg, &ConfigError{Field: "HistoryMaxLines", Reason: fmt.Sprintf("history of %d lines: want a positive number", cfg.HistoryMaxLines), Err: ErrConfig}
	}
	if cfg.HistoryMaxAge < 0 {
		return cfg, &ConfigError{Field: "HistoryMaxAge", Reason: fmt.Sprintf("history of %v: want a positive duration", cfg.HistoryMaxAge), Err: ErrConfig}
	}
	if cfg.HistoryShow < 0 || cfg.SyncMaxLines < 0 || cfg.SyncWindow < 0 || cfg.SyncInterval < 0 {
		return cfg, fmt.Errorf("%w: negative HistoryShow, SyncMaxLines, SyncWindow or SyncInterval", ErrConfig)
	}
	// Sync never reaches beyond what the log keeps: it would fetch again,
	// and show again, the lines that pruning drops.
	cfg.SyncMaxLines = min(cfg.SyncMaxLines, cfg.HistoryMaxLines)
	cfg.SyncWindow = min(cfg.SyncWindow, cfg.HistoryMaxAge)
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
	cfg.Bootstrap = slices.Clone(cfg.Bootstrap)
	for _, b := range cfg.Bootstrap {
		if _, err := parseBootstrap(b); err != nil {
			return cfg, err
		}
	}
	if cfg.DHTFindInterval == 0 {
		cfg.DHTFindInterval = DefaultDHTFindInterval
	}
	if cfg.DHTFindInterval < 0 {
		return cfg, fmt.Errorf("%w: negative DHTFindInterval %v", ErrConfig, cfg.DHTFindInterval)
	}
	return cfg, nil
}

// Info reports this host's identity, network and addresses, and the nick.
func (h *Host) Info() chat.Info {
	info := h.info
	info.Addrs = slices.Clone(info.Addrs)
	info.Nick = h.currentNick()
	return info
}

// currentNick returns the nick, the same in every room.
func (h *Host) currentNick() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nick
}

// Events returns the channel of host-wide events: notices and errors with
// Room "" (the identity is in use, a static peer is unreachable, a peer
// runs an older lanchat, [Host.Notice]). Room events come on each
// [Room.Events]. Delivery blocks while the channel is full, until the
// front end reads or Close begins (then the event is dropped). The channel
// is closed before Close returns.
func (h *Host) Events() <-chan chat.Event { return h.out.ch }

// Notice injects a host-wide notice event for the front end (from
// discovery, say). It follows the delivery rule of [Host.Events], so it
// may block while the channel is full; after Close it does nothing.
func (h *Host) Notice(text string) {
	h.emit(chat.Event{Kind: chat.KindNotice, Time: time.Now(), Text: text})
}

// emit delivers ev to the host's Events, blocking while the channel is
// full until Close begins. After Close it drops ev.
func (h *Host) emit(ev chat.Event) { h.out.send(ev, h.closing, nil) }

// isClosing reports whether Close has begun.
func (h *Host) isClosing() bool { return isClosed(h.closing) }

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// SetNick renames this node in every joined room, and for rooms joined
// later. Peers (and this node, as a [chat.KindNick] event with Self set)
// see the change in each room when its announcement arrives there. The
// nick must be valid ([chat.ErrInvalidNick]); after Close it is
// [chat.ErrClosed]. ctx bounds the announcements.
func (h *Host) SetNick(ctx context.Context, nick string) error {
	if err := chat.ValidNick(nick); err != nil {
		return fmt.Errorf("set nick: %w", err)
	}
	h.nickMu.Lock()
	defer h.nickMu.Unlock()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return chat.ErrClosed
	}
	h.nick = nick
	rooms := h.joinedLocked()
	h.mu.Unlock()
	var errs []error
	for _, r := range rooms {
		if err := r.setNick(ctx, nick); err != nil && !errors.Is(err, chat.ErrLeft) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// joinedLocked returns the joined rooms; h.mu is held.
func (h *Host) joinedLocked() []*Room {
	rooms := make([]*Room, 0, len(h.rooms))
	for _, r := range h.rooms {
		if r != nil {
			rooms = append(rooms, r)
		}
	}
	return rooms
}

// Rooms lists the rooms seen on the network: the joined ones, and those
// that directly connected peers are subscribed to, sorted by name (then
// ID). A private room this node has not joined has Name "" and its tag as
// ID; a joined private room has both. Members is the roster's count of
// present members for a joined room, otherwise the number of connected
// peers subscribed to it; rooms nobody is in any more are left out.
func (h *Host) Rooms() []chat.RoomInfo {
	h.mu.Lock()
	joined := h.joinedLocked()
	h.mu.Unlock()
	mine := make(map[string]bool, len(joined))
	var out []chat.RoomInfo
	for _, r := range joined {
		mine[r.topicName] = true
		info := chat.RoomInfo{Name: r.name, Members: r.present(), Joined: true, Private: r.Private()}
		if r.Private() {
			info.ID = r.wireID
		}
		out = append(out, info)
	}
	for _, topic := range h.filter.seen() {
		id, private, ok := parseTopic(topic)
		if !ok || mine[topic] {
			continue
		}
		n := len(h.ps.ListPeers(topic))
		if n == 0 {
			continue
		}
		info := chat.RoomInfo{Name: id, Members: n}
		if private {
			info = chat.RoomInfo{ID: id, Members: n, Private: true}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b chat.RoomInfo) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return out
}

// Leave leaves every joined room gracefully, in parallel (see
// [Room.Leave]), bounded by ctx and half a second; the host stays up and
// connected. Call [Host.Close] afterwards to shut down. It returns the
// rooms' errors joined, or [chat.ErrClosed] after Close.
func (h *Host) Leave(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return chat.ErrClosed
	}
	rooms := h.joinedLocked()
	h.mu.Unlock()
	errs := make([]error, len(rooms))
	var wg sync.WaitGroup
	for i, r := range rooms {
		wg.Go(func() {
			if err := r.Leave(ctx); err != nil && !errors.Is(err, chat.ErrLeft) {
				errs[i] = fmt.Errorf("leave room %q: %w", r.name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close shuts the host down without a goodbye (memberlist's Shutdown):
// peers see its members lost, not quit — call [Host.Leave] first for a
// graceful exit. In this order it:
//
//  1. makes new calls fail with [chat.ErrClosed] and unblocks event
//     delivery and leaves in progress;
//  2. stops every room (cancels its subscription and closes its topic:
//     peers are told we unsubscribed) and closes its Events channel;
//  3. stops static-peer dialing, leave acks and housekeeping, and waits
//     for them;
//  4. closes the libp2p host (all connections) and stops pubsub;
//  5. closes the host's Events channel and releases the identity lock.
//
// Close is safe to call more than once and from several goroutines; later
// calls wait for the first and return its result.
func (h *Host) Close() error {
	h.closeOnce.Do(func() { h.closeErr = h.shutdown() })
	return h.closeErr
}

func (h *Host) shutdown() error {
	h.mu.Lock()
	h.closed = true
	rooms := h.joinedLocked()
	h.mu.Unlock()
	close(h.closing)

	var wg sync.WaitGroup
	for _, r := range rooms {
		wg.Go(r.closeByHost)
	}
	wg.Wait()
	if h.sync != nil {
		h.sync.close()
	}
	if h.files != nil {
		h.files.close() // before the connections close: partial files stay
	}
	if h.cancel != nil {
		h.cancel()
	}
	h.wg.Wait()
	h.closeDHT()
	h.closeReach()
	var err error
	if h.host != nil {
		h.host.RemoveStreamHandler(ackProtocol)
		h.host.RemoveStreamHandler(syncProtocol)
		h.host.RemoveStreamHandler(dmProtocol)
		h.host.RemoveStreamHandler(fileProtocol)
		for _, n := range []network.Notifiee{h.notify, h.linkN, h.dmN} {
			if n != nil {
				h.host.Network().StopNotify(n)
			}
		}
		if e := h.host.Close(); e != nil {
			err = fmt.Errorf("close host: %w", e)
		}
	}
	if h.psCancel != nil {
		h.psCancel()
	}
	if h.hist != nil {
		// After pubsub stopped: no author is heard any more.
		h.hist.saveMarks(h.adm.takeMarks(time.Now()))
		if e := h.hist.close(); e != nil && err == nil {
			err = fmt.Errorf("close message log: %w", e)
		}
	}
	h.out.close()
	h.id.release()
	h.log.Info("host closed", "peer", h.self)
	return err
}

// oldPeer notes, without blocking, that p runs protocol 1; the subscription
// filter calls it from pubsub's event loop.
func (h *Host) oldPeer(p peer.ID) {
	select {
	case h.olds <- p:
	default:
	}
}

// housekeeping prunes admission's tables now and then,
// saves admission's marks, cuts off peers that forward forged signatures,
// and tells the user
// about peers that run an older lanchat. It runs until ctx is done.
func (h *Host) housekeeping(ctx context.Context) {
	defer h.wg.Done()
	tick := time.NewTicker(housekeepingEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			h.adm.prune(now)
			h.hist.saveMarks(h.adm.takeMarks(now))
		case p := <-h.forgers.out:
			h.cutOffForger(p)
		case t := <-h.adm.throttles:
			h.tellThrottled(t)
		case p := <-h.olds:
			h.log.Info("peer runs protocol 1", "peer", p)
			h.emit(chat.Event{Kind: chat.KindNotice, Time: time.Now(), Text: fmt.Sprintf(
				"a peer runs an older lanchat (%s): it cannot chat with this version until it is upgraded", p)})
		}
	}
}

// roomLimit is how many rooms a host with heartbeat interval hb may be in
// at once: their heartbeats take at most presenceRate of the send budget,
// and peers track at most maxTopicsPerPeer topics of a peer (the rooms
// beyond would hear nothing).
func roomLimit(hb time.Duration) int {
	return min(maxTopicsPerPeer, max(1, int(presenceRate*hb/time.Second)))
}

// spend counts one presence envelope, published at once, against the send
// budget: later lines wait for it instead, so that the host as a whole
// stays below peers' flood limit.
func (h *Host) spend() { h.sendLim.Reserve() }

// spare reports whether the send budget has room for an optional envelope
// (a re-announce), more than half the burst, and takes it if so.
func (h *Host) spare() bool {
	return h.sendLim.Tokens() > sendBurst/2 && h.sendLim.Allow()
}

// pace waits until the host's send budget lets one more line out, or
// ctx is done or gone closes.
func (h *Host) pace(ctx context.Context, gone <-chan struct{}) error {
	res := h.sendLim.Reserve()
	d := res.Delay()
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		res.Cancel()
		return ctx.Err()
	case <-gone:
		res.Cancel()
		return chat.ErrLeft
	}
}
