package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/gologshim"
	bhost "github.com/libp2p/go-libp2p/p2p/host/basic"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoremem"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"

	coremgr "github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/net/upgrader"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"lanchat/node/chat"
)

// Connection and dialling limits.
const (
	// connLow and connHigh are the connection manager's watermarks: above
	// connHigh connections it trims down to connLow, sparing pubsub's mesh
	// peers. A room of up to ~250 fully connected members is never
	// trimmed (each member is one connection; trimming a room's members
	// only makes discovery dial them again).
	connLow  = 300
	connHigh = 400
	// dialTimeout bounds one dial when the caller's ctx has no deadline. A
	// wrong key can hang a dial this long.
	dialTimeout = 5 * time.Second
	// Backoff after failed dials to one peer: doubles from backoffMin to
	// backoffMax, reset by a success.
	backoffMin = time.Second
	backoffMax = 30 * time.Second
	// staticPoll is how often a static peer's connection is checked.
	staticPoll = time.Second
	// maxBackoffs bounds the peers whose dial failures are remembered:
	// discovery hands over whatever the LAN answers, made-up peers too.
	maxBackoffs = 1024
)

// newLibp2pHost builds a libp2p host for a LAN: TCP only, Noise, yamux, pnet when
// cfg.PSK is set, no relay, no NAT traversal, the resource limits of
// [newResourceManager], inbound handshakes bounded by handshakeTimeout and
// stream protocol negotiation by negotiationTimeout.
//
// It assembles the host from its parts (peerstore, swarm, basic host)
// rather than calling libp2p.New: that package links every transport it
// knows (QUIC, WebTransport, WebRTC, websocket) even when the options
// leave them out, a third of the binary; and it offers no option for the
// negotiation timeout. What libp2p.New would add for us is off anyway:
// relay, NAT port mapping, AutoNAT, hole punching, metrics, ping, and the
// observed-address manager (a LAN peer's address is the one it listens on).
func newLibp2pHost(cfg Config, key crypto.PrivKey, gater coremgr.ConnectionGater, log *slog.Logger) (h host.Host, err error) {
	listen := make([]ma.Multiaddr, 0, len(cfg.ListenAddrs))
	for _, s := range cfg.ListenAddrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, &ConfigError{Field: "ListenAddrs",
				Reason: fmt.Sprintf("listen address %q: want a multiaddr like /ip4/0.0.0.0/tcp/4001", s),
				Err:    fmt.Errorf("%w: listen address %q: %w", ErrConfig, s, err)}
		}
		if err := probeListen(s, a); err != nil {
			return nil, err
		}
		listen = append(listen, a)
	}
	// Each part built is closed again if a later step fails: closing the
	// basic host closes the swarm, peerstore, resource and connection
	// managers it was given, so before it exists each is closed on its own.
	var undo []func() error
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	cm, err := connmgr.NewConnManager(connLow, connHigh, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	undo = append(undo, cm.Close)
	rm, err := newResourceManager()
	if err != nil {
		return nil, err
	}
	undo = append(undo, rm.Close)
	ps, err := pstoremem.NewPeerstore()
	if err != nil {
		return nil, fmt.Errorf("peerstore: %w", err)
	}
	undo = append(undo, ps.Close)
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("peer ID: %w", err)
	}
	if err := ps.AddPrivKey(self, key); err != nil {
		return nil, fmt.Errorf("peerstore: %w", err)
	}
	if err := ps.AddPubKey(self, key.GetPublic()); err != nil {
		return nil, fmt.Errorf("peerstore: %w", err)
	}
	bus := eventbus.NewBus()
	sw, err := swarm.NewSwarm(self, ps, bus,
		swarm.WithConnectionGater(gater),
		swarm.WithResourceManager(rm),
		swarm.WithDialTimeout(dialTimeout),
	)
	if err != nil {
		return nil, fmt.Errorf("swarm: %w", err)
	}
	undo = append(undo, sw.Close)
	tpt, err := tcpTransport(key, cfg.PSK, gater, rm)
	if err != nil {
		return nil, err
	}
	if err := sw.AddTransport(tpt); err != nil {
		return nil, fmt.Errorf("tcp transport: %w", err)
	}
	bh, err := bhost.NewHost(sw, &bhost.HostOpts{
		EventBus:           bus,
		ConnManager:        cm,
		UserAgent:          "lanchat/" + ProtocolVersion,
		NegotiationTimeout: negotiationTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	undo = []func() error{bh.Close}
	if err := sw.Listen(listen...); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
			// Taken between probeListen and now.
			return nil, &ConfigError{Field: "ListenAddrs",
				Reason: "a listen address is already in use (is another lanchat running?): choose another port, or tcp/0 for any free one",
				Err:    fmt.Errorf("%w: listen: %w: %w", ErrConfig, syscall.EADDRINUSE, err)}
		}
		return nil, fmt.Errorf("listen: %w", err)
	}
	bh.Start()
	h = bh
	want6 := false
	for _, a := range listen {
		if _, err := a.ValueForProtocol(ma.P_IP6); err == nil {
			want6 = true
		}
	}
	if _, port6 := listenPorts(h); want6 && port6 == 0 {
		log.Info("cannot listen on IPv6; continuing on IPv4 only")
	}
	return h, nil
}

// tcpTransport returns the host's TCP transport. It upgrades connections
// (private network, Noise, yamux, the connection gater) with an upgrader
// whose accept timeout is handshakeTimeout: an inbound connection must
// finish its handshake within it, not libp2p's 15 s. A dial is bounded by
// its context (dialTimeout). Every connection gets the link keepalive
// (see keepalive.go).
//
// Without SO_REUSEPORT: with it, two processes both listen on one fixed
// port and the kernel spreads connections between them at random. Dials
// then leave from any port, which a LAN does not mind (reuse helps NAT
// hole punching only).
func tcpTransport(key crypto.PrivKey, psk []byte, gater coremgr.ConnectionGater, rm network.ResourceManager) (*tcp.TcpTransport, error) {
	muxers := []upgrader.StreamMuxer{{ID: yamux.ID, Muxer: lanMuxer()}}
	n, err := noise.New(noise.ID, key, muxers)
	if err != nil {
		return nil, fmt.Errorf("noise: %w", err)
	}
	u, err := upgrader.New([]sec.SecureTransport{n}, muxers, pnet.PSK(psk), rm, gater,
		upgrader.WithAcceptTimeout(handshakeTimeout))
	if err != nil {
		return nil, fmt.Errorf("upgrader: %w", err)
	}
	return tcp.NewTCPTransport(keepaliveUpgrader{u}, rm, nil, tcp.DisableReuseport())
}

// lanMuxer is yamux as libp2p sets it up, without its round-trip pings:
// every connection pings every 30 s to measure a round-trip time nothing
// here reads, waking both ends (in an idle 10-node room, ~1 wakeup a
// second and 0.01 % of a core per node). Its keepalive stays: it pings a
// connection only after 30 s without a frame from the peer, and closes
// it if no answer comes within 10 s, which tells a hung peer (its kernel
// still answers TCP) from a live one; dead links are the kernel's (see
// keepalive.go).
func lanMuxer() *yamux.Transport {
	t := *yamux.DefaultTransport
	t.MeasureRTTInterval = 24 * time.Hour
	return &t
}

// probeListen fails with a [ConfigError] of field ListenAddrs, wrapping
// syscall.EADDRINUSE, when a's fixed TCP port is taken: libp2p would only
// log that and go on with the other listen addresses, or, on a port
// shared with SO_REUSEPORT, share it with another process. It checks by
// binding the port for a moment, without SO_REUSEPORT. Port 0 is never
// taken; other failures (no IPv6, say) are left to libp2p. s is a as given.
func probeListen(s string, a ma.Multiaddr) error {
	if p, err := tcpPort(a); err != nil || p == 0 {
		return nil
	}
	l, err := manet.Listen(a)
	if err == nil {
		return l.Close()
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil
	}
	p, _ := tcpPort(a)
	return &ConfigError{Field: "ListenAddrs",
		Reason: fmt.Sprintf("listen address %q: port %d is already in use (is another lanchat running?): choose another port, or tcp/0 for any free one", s, p),
		Err:    fmt.Errorf("%w: listen address %q: %w", ErrConfig, s, err)}
}

// listenPorts returns the TCP ports the host listens on for IPv4 and IPv6.
func listenPorts(h host.Host) (port, port6 int) {
	for _, a := range h.Network().ListenAddresses() {
		p, err := tcpPort(a)
		if err != nil {
			continue
		}
		if _, err := a.ValueForProtocol(ma.P_IP4); err == nil && port == 0 {
			port = p
		}
		if _, err := a.ValueForProtocol(ma.P_IP6); err == nil && port6 == 0 {
			port6 = p
		}
	}
	return port, port6
}

func tcpPort(a ma.Multiaddr) (int, error) {
	s, err := a.ValueForProtocol(ma.P_TCP)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

// buildInfo fills the static part of Info.
func (h *Host) buildInfo() chat.Info {
	info := chat.Info{
		PeerID:      h.self.String(),
		Network:     chat.NetworkOpen,
		Fingerprint: Fingerprint(h.cfg.PSK),
	}
	if h.cfg.PSK != nil {
		info.Network = chat.NetworkPrivate
	}
	for _, a := range h.host.Addrs() {
		info.Addrs = append(info.Addrs, a.String()+"/p2p/"+h.self.String())
	}
	info.Port, info.Port6 = listenPorts(h.host)
	return info
}

var libp2pLogOnce sync.Once

// routeLibp2pLogs sends libp2p's process-wide logs (warnings and errors
// only) to l, or discards them when l is nil, so they never reach a
// terminal UI. Only the first call has an effect: libp2p reads the handler
// once per subsystem.
func routeLibp2pLogs(l *slog.Logger) {
	libp2pLogOnce.Do(func() {
		var h slog.Handler = slog.DiscardHandler
		if l != nil {
			h = minLevel{Handler: l.Handler(), min: slog.LevelWarn}
		}
		gologshim.SetDefaultHandler(h)
	})
}

// minLevel is a slog.Handler that drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: m.Handler.WithAttrs(as), min: m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: m.Handler.WithGroup(name), min: m.min}
}

// parseP2PAddr parses a multiaddr that ends in /p2p/<id>. Its errors are
// [ConfigError]s of field StaticPeers that say what is wrong with s.
func parseP2PAddr(s string) (*peer.AddrInfo, error) {
	bad := func(why string, err error) error {
		if err == nil {
			err = ErrBadAddr
		} else {
			err = fmt.Errorf("%w %q: %w", ErrBadAddr, s, err)
		}
		return &ConfigError{Field: "StaticPeers", Reason: fmt.Sprintf("bad peer address %q: %s", s, why), Err: err}
	}
	a, err := ma.NewMultiaddr(strings.TrimSpace(s))
	if err != nil {
		// An address that parses up to its /p2p/ part has a bad peer ID:
		// most often one cut short when it was copied.
		if before, id, ok := strings.Cut(strings.TrimSpace(s), "/p2p/"); ok && id != "" {
			if _, err2 := ma.NewMultiaddr(before); err2 == nil {
				return nil, bad("the peer ID after /p2p/ is not valid (cut short when copied?)", err)
			}
		}
		return nil, bad("want a multiaddr like /ip4/192.168.1.5/tcp/4001/p2p/12D3Koo…", err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return nil, bad("want a multiaddr ending in /p2p/<peer id>, like /ip4/192.168.1.5/tcp/4001/p2p/12D3Koo…", err)
	}
	if len(ai.Addrs) == 0 {
		return nil, bad("no address before /p2p/", nil)
	}
	return ai, nil
}

// Dial connects to a peer found by discovery, unless already connected.
// addrs are the peer's TCP addresses as discovery saw them; IPv6
// link-local addresses need their zone. Anyone on the LAN can advertise
// any peer ID at any address, so each address counts on its own: a dial in
// which every address failed backs the peer off (1 s, doubling to 30 s),
// but during that time an address not yet tried is still dialled at once —
// one dead address advertised for a peer never keeps its real one from
// being tried. The addresses at which the peer was last reached, with its
// identity proven by the handshake, are dialled along with addrs. Dial
// returns nil at once when connected, when addrs hold nothing to dial
// now, or for this node itself. ctx bounds the dial (5 s when it has no
// deadline). Safe to call often and concurrently: an address already
// being dialled is not dialled twice.
func (h *Host) Dial(ctx context.Context, peerID string, addrs []netip.AddrPort) error {
	if h.isClosing() {
		return chat.ErrClosed
	}
	pid, err := peer.Decode(peerID)
	if err != nil {
		return fmt.Errorf("%w: peer id %q: %w", ErrBadAddr, peerID, err)
	}
	if pid == h.self || h.connected(pid) {
		return nil
	}
	usable := make([]netip.AddrPort, 0, len(addrs))
	for _, ap := range addrs {
		if _, ok := addrPortMultiaddr(ap); ok {
			usable = append(usable, ap)
		}
	}
	if len(usable) == 0 {
		return fmt.Errorf("%w: no usable address for %s", ErrBadAddr, pid)
	}
	now := time.Now()
	h.dialMu.Lock()
	b := h.backoffs[pid]
	if b == nil {
		h.pruneBackoffsLocked(now)
		b = &backoff{}
		h.backoffs[pid] = b
	}
	full, pick := b.pick(now, usable)
	if len(pick) == 0 {
		h.dialMu.Unlock()
		return nil
	}
	b.start(pick)
	h.dialMu.Unlock()

	ai := peer.AddrInfo{ID: pid}
	for _, ap := range pick {
		a, _ := addrPortMultiaddr(ap)
		ai.Addrs = append(ai.Addrs, a)
	}
	err = h.connect(ctx, ai)
	var reached []netip.AddrPort
	if err == nil {
		reached = h.outboundAddrs(pid)
	}
	h.dialMu.Lock()
	b.done(time.Now(), pick, full, err == nil, reached)
	h.dialMu.Unlock()
	if err != nil && !h.connected(pid) {
		// Only what discovery hands over next is dialled again: drop the
		// failed addresses from the peerstore, so that the swarm does not
		// dial them along with the next ones.
		for _, a := range ai.Addrs {
			h.host.Peerstore().SetAddr(pid, a, 0)
		}
	}
	return err
}

// outboundAddrs returns the remote addresses of the outbound connections
// to pid: addresses where it answered with its own identity.
func (h *Host) outboundAddrs(pid peer.ID) []netip.AddrPort {
	var out []netip.AddrPort
	for _, c := range h.host.Network().ConnsToPeer(pid) {
		if c.Stat().Direction != network.DirOutbound {
			continue
		}
		na, err := manet.ToNetAddr(c.RemoteMultiaddr())
		if err != nil {
			continue
		}
		if ta, ok := na.(*net.TCPAddr); ok {
			ap := ta.AddrPort()
			out = append(out, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		}
	}
	return out
}

// pruneBackoffsLocked makes room in a full backoff table: first it forgets
// peers that may be dialled again anyway and are not being dialled (only
// how long they would wait next time, and where they were reached, is
// lost), then, if that is not enough, any. h.dialMu is held.
func (h *Host) pruneBackoffsLocked(now time.Time) {
	if len(h.backoffs) < maxBackoffs {
		return
	}
	for p, b := range h.backoffs {
		if b.ready(now) && len(b.pending) == 0 {
			delete(h.backoffs, p)
		}
	}
	for p := range h.backoffs {
		if len(h.backoffs) < maxBackoffs {
			break
		}
		delete(h.backoffs, p)
	}
}

// Connect dials a multiaddr that ends in /p2p/<id> (a --peer address) now,
// ignoring any backoff. ctx bounds the dial (5 s when it has no deadline).
// Errors are one sentence, "cannot connect to <addr>: <why>"; a peer on
// another key gives "…: handshake failed — does the peer use the same
// key?" wrapping [ErrHandshake], a peer that does not answer wraps
// [ErrUnreachable].
func (h *Host) Connect(ctx context.Context, addr string) error {
	if h.isClosing() {
		return chat.ErrClosed
	}
	ai, err := parseP2PAddr(addr)
	if err != nil {
		return err
	}
	if ai.ID == h.self {
		return fmt.Errorf("%w %q: that is this node itself", ErrBadAddr, addr)
	}
	return h.connect(ctx, *ai)
}

// connected reports whether there is a live connection to pid.
func (h *Host) connected(pid peer.ID) bool {
	return h.host.Network().Connectedness(pid) == network.Connected
}

// connect dials ai and turns failures into one plain sentence.
func (h *Host) connect(ctx context.Context, ai peer.AddrInfo) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dialTimeout)
		defer cancel()
	}
	// Our own backoff decides when to retry, not the swarm's.
	if sw, ok := h.host.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(ai.ID)
	}
	h.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
	err := h.host.Connect(network.WithDialPeerTimeout(ctx, dialTimeout), ai)
	if err == nil {
		h.log.Debug("connected", "peer", ai.ID)
		return nil
	}
	if h.isClosing() {
		return chat.ErrClosed
	}
	return h.dialError(ai, err)
}

// dialError maps a libp2p dial error to one sentence a user understands,
// "cannot connect to <addr>: <why>". It wraps ErrHandshake when the peer
// answered but the handshake failed (what a peer on another key looks
// like), ErrUnreachable when nothing answered, and the libp2p error.
func (h *Host) dialError(ai peer.AddrInfo, err error) error {
	where := ai.ID.String()
	if len(ai.Addrs) > 0 {
		where = ai.Addrs[0].String() + "/p2p/" + ai.ID.String()
	}
	h.log.Debug("dial failed", "peer", ai.ID, "err", err)
	msg := err.Error()
	e := &connectError{cause: err}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(msg, "connection refused"):
		e.kind, e.msg = ErrUnreachable, "connection refused (is lanchat running there?)"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		strings.Contains(msg, "no route to host") || strings.Contains(msg, "network is unreachable"):
		e.kind, e.msg = ErrUnreachable, "host unreachable"
	case strings.Contains(msg, "peer id mismatch"):
		e.msg = "a different peer answers there"
	case strings.Contains(msg, "failed to negotiate") || strings.Contains(msg, "privnet") ||
		strings.Contains(msg, "message was too large"):
		e.kind, e.msg = ErrHandshake, handshakeHint
	case errors.Is(err, context.DeadlineExceeded):
		// A third of dials to a peer on another key hang until the timeout
		// with no detail; a TCP connection that opens tells them apart from a
		// host that does not answer at all.
		if tcpAnswers(ai.Addrs) {
			e.kind, e.msg = ErrHandshake, handshakeHint
		} else {
			e.kind, e.msg = ErrUnreachable, "no answer (timed out)"
		}
	case errors.Is(err, context.Canceled):
		e.msg = "cancelled"
	default:
		e.msg = lastLine(msg)
	}
	e.msg = "cannot connect to " + where + ": " + e.msg
	return e
}

// handshakeHint is the reason given when the handshake fails.
const handshakeHint = "handshake failed — does the peer use the same key?"

// connectError is a dial failure explained in one sentence.
type connectError struct {
	msg   string
	kind  error // ErrHandshake, ErrUnreachable or nil
	cause error // from libp2p
}

func (e *connectError) Error() string { return e.msg }

func (e *connectError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.cause}
	}
	return []error{e.kind, e.cause}
}

// lastLine returns the last line of a multi-line libp2p error, without the
// "* [addr]" bullet.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	if strings.HasPrefix(s, "* [") {
		if i := strings.Index(s, "] "); i >= 0 {
			s = s[i+2:]
		}
	}
	return s
}

// tcpAnswers reports whether a plain TCP connection to one of addrs opens
// within a short time.
func tcpAnswers(addrs []ma.Multiaddr) bool {
	for _, a := range addrs {
		na, err := manet.ToNetAddr(a)
		if err != nil {
			continue
		}
		c, err := net.DialTimeout(na.Network(), na.String(), 500*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
	}
	return false
}

// addrPortMultiaddr converts a TCP address to a multiaddr.
func addrPortMultiaddr(ap netip.AddrPort) (ma.Multiaddr, bool) {
	ip := ap.Addr()
	if !ap.IsValid() || ap.Port() == 0 || ip.IsUnspecified() || ip.IsMulticast() {
		return nil, false
	}
	var s string
	switch {
	case ip.Is4() || ip.Is4In6():
		s = fmt.Sprintf("/ip4/%s/tcp/%d", ip.Unmap(), ap.Port())
	case ip.Zone() != "":
		s = fmt.Sprintf("/ip6zone/%s/ip6/%s/tcp/%d", ip.Zone(), ip.WithZone(""), ap.Port())
	default:
		s = fmt.Sprintf("/ip6/%s/tcp/%d", ip, ap.Port())
	}
	a, err := ma.NewMultiaddr(s)
	return a, err == nil
}

// backoff is the retry state of dials to one peer. For a static peer only
// delay and next are used. For a peer found by discovery (see [Host.Dial])
// they back off the peer after a dial in which every address failed, and
// the sets below keep one address from standing in for another.
type backoff struct {
	delay time.Duration // last wait; 0 before the first failure
	next  time.Time     // no dial before this

	tried   map[netip.AddrPort]bool // failed since the peer was last ready to dial
	pending map[netip.AddrPort]int  // being dialled, by how many dials
	reached []netip.AddrPort        // where the last successful dial reached the peer
}

// maxTried bounds the failed addresses remembered per peer: beyond it an
// address advertised for the peer waits for the peer's backoff like the
// others, so made-up addresses cannot make it dial without end.
const maxTried = 32

// ready reports whether a dial may start at now.
func (b *backoff) ready(now time.Time) bool { return !now.Before(b.next) }

// fail records a failed dial at now and returns the wait before the next.
func (b *backoff) fail(now time.Time) time.Duration {
	b.delay = min(max(2*b.delay, backoffMin), backoffMax)
	b.next = now.Add(b.delay)
	return b.delay
}

// pick returns the addresses of addrs, and of where the peer was last
// reached, to dial at now: all of them when the peer is ready (full),
// else only those not tried since; never one already being dialled.
func (b *backoff) pick(now time.Time, addrs []netip.AddrPort) (full bool, pick []netip.AddrPort) {
	full = b.ready(now)
	seen := map[netip.AddrPort]bool{}
	for _, ap := range append(slices.Clone(b.reached), addrs...) {
		if seen[ap] || b.pending[ap] > 0 {
			continue
		}
		seen[ap] = true
		if full || (!b.tried[ap] && len(b.tried) < maxTried) {
			pick = append(pick, ap)
		}
	}
	return full, pick
}

// start records that a dial of addrs begins.
func (b *backoff) start(addrs []netip.AddrPort) {
	if b.pending == nil {
		b.pending = map[netip.AddrPort]int{}
	}
	for _, ap := range addrs {
		b.pending[ap]++
	}
}

// done records the end at now of a dial of addrs started when the peer
// was ready (full) or not, that reached the peer (ok) at the addresses
// reached, or failed.
func (b *backoff) done(now time.Time, addrs []netip.AddrPort, full, ok bool, reached []netip.AddrPort) {
	for _, ap := range addrs {
		if b.pending[ap]--; b.pending[ap] <= 0 {
			delete(b.pending, ap)
		}
	}
	switch {
	case ok:
		b.delay, b.next, b.tried = 0, time.Time{}, nil
		if len(reached) > 0 {
			b.reached = reached
		}
	case full:
		// The peer was tried at every address known: back it off, and
		// start the tally of failed addresses afresh.
		b.fail(now)
		b.tried = map[netip.AddrPort]bool{}
		fallthrough
	default:
		if b.tried == nil {
			b.tried = map[netip.AddrPort]bool{}
		}
		for _, ap := range addrs {
			if len(b.tried) < maxTried {
				b.tried[ap] = true
			}
		}
	}
}

// reset forgets past failures.
func (b *backoff) reset() { *b = backoff{} }

// staticLoop keeps a connection to one static peer: it dials at once, then
// redials with backoff whenever the connection is gone, until ctx is done.
// A failure is shown to the user once per distinct error.
func (h *Host) staticLoop(ctx context.Context, ai peer.AddrInfo) {
	defer h.wg.Done()
	redial(ctx, redialer{
		connected: func() bool { return h.connected(ai.ID) },
		dial:      func(ctx context.Context) error { return h.connect(ctx, ai) },
		report: func(err error) {
			h.log.Warn("static peer unreachable", "peer", ai.ID, "err", err)
			h.emit(chat.Event{Kind: chat.KindError, Time: time.Now(), Text: err.Error()})
		},
		recovered: func() {
			h.log.Info("static peer connected", "peer", ai.ID)
		},
	})
}

// redialer is what redial needs; a struct of funcs so tests can drive it
// without a network.
type redialer struct {
	connected func() bool
	dial      func(context.Context) error
	report    func(error) // a new kind of failure
	recovered func()      // connected after a reported failure
}

// redial runs the static-peer loop of r until ctx is done.
func redial(ctx context.Context, r redialer) {
	var b backoff
	lastErr := ""
	for {
		wait := staticPoll
		if !r.connected() {
			err := r.dial(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				wait = b.fail(time.Now())
				if msg := err.Error(); msg != lastErr {
					lastErr = msg
					r.report(err)
				}
			} else {
				b.reset()
				if lastErr != "" {
					lastErr = ""
					r.recovered()
				}
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// maxLinkDowns bounds the peers whose last connection close is remembered.
const maxLinkDowns = 4096

// linkLog remembers when the last connection to each peer closed, for
// presence's quicker "lost" (see [roster.links]). A network notifiee writes
// it as connections open and close; room presence loops read it. Safe for
// concurrent use.
type linkLog struct {
	mu     sync.Mutex
	downAt map[peer.ID]time.Time
	closed chan struct{} // a token whenever a peer's last connection closes; capacity 1
}

func newLinkLog() *linkLog {
	return &linkLog{downAt: make(map[peer.ID]time.Time), closed: make(chan struct{}, 1)}
}

// notifiee returns the network notifiee that keeps l.
func (l *linkLog) notifiee() network.Notifiee {
	return &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			l.mu.Lock()
			delete(l.downAt, c.RemotePeer())
			l.mu.Unlock()
		},
		DisconnectedF: func(n network.Network, c network.Conn) {
			p := c.RemotePeer()
			if n.Connectedness(p) == network.Connected {
				return // another connection is left
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			if _, ok := l.downAt[p]; !ok && len(l.downAt) >= maxLinkDowns {
				delete(l.downAt, oldest(l.downAt, func(t time.Time) time.Time { return t }))
			}
			l.downAt[p] = time.Now()
			select {
			case l.closed <- struct{}{}:
			default: // one pending is as good as many
			}
		},
	}
}

// closedAt returns when the last connection to p closed, zero if it has
// not since it was last connected (or never was).
func (l *linkLog) closedAt(p peer.ID) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.downAt[p]
}

// prune forgets closes before t: a member silent since then is lost by
// LostAfter anyway.
func (l *linkLog) prune(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, at := range l.downAt {
		if at.Before(t) {
			delete(l.downAt, p)
		}
	}
}

// LinkClosed returns a channel that receives when the last connection to
// a peer closes (a member gone, or a link cut), for local discovery to
// look for peers again soon ([lanchat/discovery.Prompter]). One value is
// kept while nobody receives: closes coalesce. The channel is never
// closed.
func (h *Host) LinkClosed() <-chan struct{} { return h.links.closed }

// linkDown returns when the last direct connection to p closed, zero while
// p is connected or if it never was.
func (h *Host) linkDown(p peer.ID) time.Time {
	if h.connected(p) {
		return time.Time{}
	}
	return h.links.closedAt(p)
}

// redacted is a slog.Handler that keeps chat text out of logs: pubsub's
// debug logs show the first 32 bytes of every message they send or
// receive ("dataPrefix"), which for an open room is what people typed.
// It replaces any attribute of that name, at any depth, once resolved.
type redacted struct{ slog.Handler }

func (h redacted) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(scrub(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h redacted) WithAttrs(as []slog.Attr) slog.Handler {
	rpc := false
	for i := range as {
		as[i] = scrub(as[i])
		rpc = rpc || as[i].Key == "system" && as[i].Value.String() == "pubsub/rpc"
	}
	if rpc {
		return rpcTrace{redacted{h.Handler.WithAttrs(as)}}
	}
	return redacted{h.Handler.WithAttrs(as)}
}

func (h redacted) WithGroup(name string) slog.Handler { return redacted{h.Handler.WithGroup(name)} }

// rpcTrace is [redacted] for pubsub's RPC logger (system=pubsub/rpc),
// without its trace of every RPC at debug level, "sent" and "received":
// a record per RPC, each resolving the whole RPC into attributes, they
// took 17 % of every process's CPU in the LAN catch-up of 10,000 lines
// (run with -v), as much as all its signature checks. The RPC logger's
// other records (errors reading and sending) stay.
type rpcTrace struct{ redacted }

func (h rpcTrace) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo && (r.Message == "sent" || r.Message == "received") {
		return nil
	}
	return h.redacted.Handle(ctx, r)
}

func (h rpcTrace) WithAttrs(as []slog.Attr) slog.Handler {
	for i := range as {
		as[i] = scrub(as[i])
	}
	return rpcTrace{redacted{h.Handler.WithAttrs(as)}}
}

func (h rpcTrace) WithGroup(name string) slog.Handler {
	return rpcTrace{redacted{h.Handler.WithGroup(name)}}
}

// scrub returns a with message data replaced, in groups too.
func scrub(a slog.Attr) slog.Attr {
	a.Value = a.Value.Resolve()
	switch {
	case a.Key == "dataPrefix" || a.Key == "data":
		return slog.String(a.Key, "[not logged]")
	case a.Value.Kind() == slog.KindGroup:
		g := a.Value.Group()
		out := make([]slog.Attr, len(g))
		for i, b := range g {
			out[i] = scrub(b)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	}
	return a
}
