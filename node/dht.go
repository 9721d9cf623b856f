package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	golog "github.com/ipfs/go-log/v2"
	kad "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	"github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"go.uber.org/zap/zapcore"

	"lanchat/node/chat"
)

// Sites joined by routed links.
//
// mDNS stops at the router and peer exchange needs one link to start
// from. For sites joined by a VPN or a WAN, a host given bootstrap nodes
// ([Config.Bootstrap]; [Config.DHT] for a bootstrap node itself) runs a
// private Kademlia DHT (go-libp2p-kad-dht) in server mode, on its own
// protocol, dhtProtocol, never the public one's: one DHT, not the dual
// one, whose WAN half drops private addresses, which is all a VPN has.
// It runs over the host's connections, hence inside the private network:
// a node without the key cannot connect to any member, so it can neither
// query nor store anything.
//
// Each joined room is advertised as a provider record under its
// rendezvous ([Room.rendezvous]; routing discovery turns it into a
// content ID by SHA-256), re-advertised every dhtAdvertiseEvery, and
// looked up right after the join and every [Config.DHTFindInterval].
// Records expire after dhtRecordValidity, so a member gone stays findable
// that long at most (its dials then fail and back off). The rendezvous
// never holds a private room's name: it is derived from the room's key,
// and cannot be linked to its topic by anyone without the key.
//
// Found members go to the host's [Dialer], like peers of the peer
// exchange: the same address book, backoff and admission; addresses
// unspecified, multicast and link-local are dropped, and loopback ones
// unless a bootstrap node is on loopback (a DHT on this machine); such
// addresses are not advertised either.
// Bootstrap nodes are dialled at start and redialled with the static
// peers' backoff (1 s doubling to 30 s) whenever disconnected, and
// protected from the connection manager's trimming.
//
// Without Bootstrap or DHT none of this runs: a LAN pays nothing.
const (
	// dhtPrefix is the DHT's protocol prefix: dhtProtocol is its one
	// protocol.
	dhtPrefix   = protocol.ID("/lanchat")
	dhtProtocol = dhtPrefix + "/kad/1.0.0"
	// dhtOpTimeout bounds one advertisement or lookup.
	dhtOpTimeout = 20 * time.Second
	// dhtAdvertiseEvery is how often a room's record is stored again.
	dhtAdvertiseEvery = 10 * time.Minute
	// dhtRecordValidity is how long a stored record lasts, and the
	// addresses that came with it.
	dhtRecordValidity = 3 * dhtAdvertiseEvery
	// dhtRetryMin is the first wait after a failed advertisement or while
	// the DHT knows no peer; it doubles up to DHTFindInterval. Short: a
	// bootstrap node answers within milliseconds of the start, and each
	// check of the routing table is a lock and a count.
	dhtRetryMin = 100 * time.Millisecond
	// dhtFindLimit bounds the members one lookup returns.
	dhtFindLimit = 256
	// maxDHTFound bounds the peers remembered as found through the DHT.
	maxDHTFound = 1024
	// rendezvousPrefix starts every rendezvous.
	rendezvousPrefix = topicPrefix + "rendezvous/"
	// bootstrapTag protects bootstrap connections from trimming.
	bootstrapTag = "lanchat-bootstrap"
)

// siteDHT is the host's private DHT and the room loops that advertise and
// find members through it.
type siteDHT struct {
	h      *Host
	kad    *kad.IpfsDHT
	disc   *drouting.RoutingDiscovery
	boot   []peer.AddrInfo
	loop   bool       // a bootstrap node is on loopback
	joined chan *Room // rooms joined, for run

	offered atomic.Uint64 // members handed to the Dialer
	mu      sync.Mutex
	found   map[peer.ID]time.Time // members found, when last; guarded by mu
}

// parseBootstrap parses one of [Config.Bootstrap]; its errors are
// [ConfigError]s of field Bootstrap.
func parseBootstrap(s string) (*peer.AddrInfo, error) {
	ai, err := parseP2PAddr(s)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.Field = "Bootstrap"
			if rest, ok := strings.CutPrefix(ce.Reason, "bad peer address"); ok {
				ce.Reason = "bad bootstrap node address" + rest
			}
		}
		return nil, err
	}
	return ai, nil
}

// CheckBootstrap reports what is wrong with s as a bootstrap node's
// address ([Config.Bootstrap]): a [ConfigError] of field Bootstrap, or
// nil.
func CheckBootstrap(s string) error {
	_, err := parseBootstrap(s)
	return err
}

// startDHT starts the DHT, the bootstrap loops and the room loops when
// the config asks for them (added to h.wg, stopped by ctx).
func (h *Host) startDHT(ctx context.Context) error {
	if len(h.cfg.Bootstrap) == 0 && !h.cfg.DHT {
		return nil
	}
	routeGoLog(h.cfg.Logger)
	d := &siteDHT{h: h, joined: make(chan *Room, h.maxRooms), found: make(map[peer.ID]time.Time)}
	for _, s := range h.cfg.Bootstrap {
		ai, err := parseBootstrap(s)
		if err != nil {
			return err
		}
		d.boot = append(d.boot, *ai)
	}
	d.boot = mergeStatics(d.boot)
	for _, ai := range d.boot {
		d.loop = d.loop || slices.ContainsFunc(ai.Addrs, manet.IsIPLoopback)
	}
	k, err := kad.New(h.host,
		kad.Mode(kad.ModeServer),
		kad.ProtocolPrefix(dhtPrefix),
		// Provider records only: no values (nor public keys) stored for
		// others.
		kad.DisableValues(),
		kad.ProviderManagerOpts(
			records.ProvideValidity(dhtRecordValidity),
			records.ProviderAddrTTL(dhtRecordValidity),
			records.CleanupInterval(dhtAdvertiseEvery),
		),
		kad.BootstrapPeers(d.boot...),
		// Addresses that mean nothing on another machine are neither
		// advertised nor kept for others (unless the DHT is on this
		// machine): the Dialer would drop them anyway.
		kad.AddressFilter(func(as []ma.Multiaddr) []ma.Multiaddr {
			return slices.DeleteFunc(slices.Clone(as), func(a ma.Multiaddr) bool {
				ap, ok := multiaddrAddrPort(a)
				return ok && !dialable(ap, d.loop)
			})
		}),
	)
	if err != nil {
		return fmt.Errorf("start dht: %w", err)
	}
	d.kad = k
	d.disc = drouting.NewRoutingDiscovery(k)
	h.dht = d
	h.wg.Add(1 + len(d.boot))
	go func() {
		defer h.wg.Done()
		d.run(ctx)
	}()
	for _, ai := range d.boot {
		h.host.ConnManager().Protect(ai.ID, bootstrapTag)
		go func() {
			defer h.wg.Done()
			d.bootstrapLoop(ctx, ai)
		}()
	}
	h.log.Info("dht started", "protocol", dhtProtocol, "bootstrap", len(d.boot))
	return nil
}

// closeDHT closes the DHT. Call it after the goroutines of startDHT
// returned, before the libp2p host closes.
func (h *Host) closeDHT() {
	if h.dht == nil {
		return
	}
	if err := h.dht.kad.Close(); err != nil {
		h.log.Debug("close dht", "err", err)
	}
}

// dhtJoined hands a room just joined to the DHT's room loops, if the DHT
// runs. It does not block for long: run takes rooms at once.
func (h *Host) dhtJoined(r *Room) {
	if h.dht == nil {
		return
	}
	select {
	case h.dht.joined <- r:
	case <-h.closing:
	}
}

// bootstrapLoop keeps the host connected to one bootstrap node.
func (d *siteDHT) bootstrapLoop(ctx context.Context, ai peer.AddrInfo) {
	h := d.h
	redial(ctx, redialer{
		connected: func() bool { return h.connected(ai.ID) },
		dial:      func(ctx context.Context) error { return h.connect(ctx, ai) },
		report: func(err error) {
			h.log.Warn("bootstrap node unreachable", "peer", ai.ID, "err", err)
			h.emit(chat.Event{Kind: chat.KindError, Time: time.Now(), Text: "bootstrap node: " + err.Error()})
		},
		recovered: func() {
			h.log.Info("bootstrap node connected", "peer", ai.ID)
		},
	})
}

// run starts a room loop for each room joined, until ctx is done; then
// it waits for them.
func (d *siteDHT) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-d.joined:
			wg.Go(func() { d.roomLoop(ctx, r) })
		}
	}
}

// roomLoop advertises r and looks up its members until r is left or ctx
// is done. While the DHT knows no peer (the bootstrap nodes are not
// reached yet) it waits, dhtRetryMin doubling up to DHTFindInterval.
func (d *siteDHT) roomLoop(ctx context.Context, r *Room) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-r.gone:
			cancel()
		case <-stop:
		}
	}()
	ns := r.rendezvous()
	every := d.h.cfg.DHTFindInterval
	var advertised time.Time
	retry := dhtRetryMin
	t := time.NewTimer(0)
	defer t.Stop()
	later := func() {
		t.Reset(retry)
		retry = min(2*retry, every)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d.kad.RoutingTable().Size() == 0 {
			later()
			continue
		}
		if time.Since(advertised) >= dhtAdvertiseEvery {
			actx, done := context.WithTimeout(ctx, dhtOpTimeout)
			_, err := d.disc.Advertise(actx, ns, discovery.TTL(dhtRecordValidity))
			done()
			if err != nil {
				if ctx.Err() == nil {
					r.log.Debug("dht: cannot advertise the room", "err", err)
				}
				later()
				continue
			}
			advertised = time.Now()
		}
		d.find(ctx, r, ns)
		retry = dhtRetryMin
		t.Reset(every)
	}
}

// find looks up the members of the room of rendezvous ns and hands those
// not connected to the Dialer, each as soon as it is found. (The lookup
// itself connects to the DHT nodes it asks, members among them: those
// dials are the DHT's, not the Dialer's.)
func (d *siteDHT) find(ctx context.Context, r *Room, ns string) {
	ctx, cancel := context.WithTimeout(ctx, dhtOpTimeout)
	defer cancel()
	ch, err := d.disc.FindPeers(ctx, ns, discovery.Limit(dhtFindLimit))
	if err != nil {
		r.log.Debug("dht: cannot look up the room", "err", err)
		return
	}
	h := d.h
	for ai := range ch {
		if ai.ID == h.self {
			continue
		}
		d.note(ai.ID)
		connected := h.connected(ai.ID)
		r.log.Debug("dht: found a member", "peer", ai.ID, "addrs", ai.Addrs, "connected", connected)
		if connected || h.bans.banned(ai.ID) {
			// Connected already, often by the DHT's own lookups, which
			// dial the peers they are told of.
			continue
		}
		addrs := tellAddrs(nil, ai.Addrs, d.loop)
		if len(addrs) == 0 {
			continue
		}
		d.offered.Add(1)
		h.dialer.offer([]sighting{{id: ai.ID.String(), version: ProtocolVersion, addrs: addrs}})
	}
}

// note remembers that p was found through the DHT.
func (d *siteDHT) note(p peer.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.found[p]; !ok && len(d.found) >= maxDHTFound {
		delete(d.found, oldest(d.found, func(t time.Time) time.Time { return t }))
	}
	d.found[p] = time.Now()
}

// foundByDHT reports whether p was found through the DHT.
func (d *siteDHT) foundByDHT(p peer.ID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.found[p]
	return ok
}

// rendezvous returns the name under which the room's members meet in the
// DHT: for a private room one derived from its key
// ([roomkey.Key.Rendezvous]), which neither names the room nor can be
// linked to its topic without the key; for an open room a hash of its
// topic.
func (r *Room) rendezvous() string {
	if r.key != nil {
		return rendezvousPrefix + r.key.Rendezvous()
	}
	sum := sha256.Sum256([]byte("lanchat rendezvous v1\x00" + r.topicName))
	return rendezvousPrefix + hex.EncodeToString(sum[:16])
}

var goLogOnce sync.Once

// routeGoLog sends the logs of go-log, the DHT's logging library, which
// otherwise writes errors to stderr (through a full-screen UI), to l at
// warning level and above, or discards them when l is nil. Only the first
// call has an effect: go-log is process-wide.
func routeGoLog(l *slog.Logger) {
	goLogOnce.Do(func() {
		if l == nil {
			golog.SetPrimaryCore(zapcore.NewNopCore())
			return
		}
		golog.SetPrimaryCore(slogCore{log: l})
	})
}

// slogCore is a zapcore.Core that writes warnings and errors to a slog
// logger, with the entry's logger name as attribute "lib".
type slogCore struct {
	log    *slog.Logger
	fields []zapcore.Field
}

func (c slogCore) Enabled(l zapcore.Level) bool { return l >= zapcore.WarnLevel }

func (c slogCore) With(fs []zapcore.Field) zapcore.Core {
	return slogCore{log: c.log, fields: append(slices.Clip(c.fields), fs...)}
}

func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(slices.Clip(c.fields), fs...) {
		f.AddTo(enc)
	}
	attrs := []any{"lib", e.LoggerName}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		attrs = append(attrs, k, enc.Fields[k])
	}
	level := slog.LevelWarn
	if e.Level >= zapcore.ErrorLevel {
		level = slog.LevelError
	}
	c.log.Log(context.Background(), level, e.Message, attrs...)
	return nil
}

func (c slogCore) Sync() error { return nil }
