package discovery

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/mdns"
)

// Peer is a lanchat node seen on the network.
type Peer struct {
	ID          string           // instance name = libp2p peer ID
	Fingerprint string           // network fingerprint from TXT ("open" for no key)
	Version     string           // protocol version from TXT
	Addrs       []netip.AddrPort // where it listens: IPv4 (SRV port), IPv6 (p6 port) if advertised
}

// Handler receives what the browser sees. Methods are called from the
// goroutine running [Service.Run], one at a time, never after Run returned,
// and must not block (hand the peer to another goroutine to dial).
type Handler interface {
	// Found is called for each sighting of a peer on our network (same
	// fingerprint), repeatedly: once per query round in which it answers.
	// Answers are not authenticated: anyone can answer for any peer ID,
	// so one round may report several Peers of one ID with different
	// addresses. Take them all (merge the addresses), never let one
	// replace another.
	Found(Peer)
	// Foreign is called when the number of distinct peers seen with another
	// fingerprint grew during a query round (at most once per round); count
	// is the new total.
	Foreign(count int)
}

// Waiter is an optional interface of a [Handler], for a node that may start
// before its network is up (a laptop whose Wi-Fi connects later). When the
// Handler implements it, [Service.Run] does not fail when the network cannot
// be used (no route for multicast, interface missing, down or without an
// address): it calls Unavailable with the reason, retries every
// QueryInterval, and calls Available when discovery works (again). The same
// happens when the network goes away while Run runs. The methods are called
// like Handler's: from Run's goroutine, and must not block.
type Waiter interface {
	// Unavailable is called once when discovery cannot work for now.
	Unavailable(err error)
	// Available is called when it works again after Unavailable.
	Available()
}

// LinkWatcher is an optional interface of a [Handler], for telling the
// user that this machine's own network connection is down — rather than
// letting them watch everyone else get lost — and for finding the room at
// once when it is back. The link is down when every interface on which
// peers of ours were seen has lost its carrier, is down, has lost its
// addresses or is gone. While it is down, [Waiter.Unavailable] is not
// called (the LinkDown said it). The methods are called like Handler's:
// from Run's goroutine, and must not block.
type LinkWatcher interface {
	// LinkDown is called once when the link goes down; reason names the
	// interfaces and why, "eth0: no carrier".
	LinkDown(reason string)
	// LinkUp is called when one of those interfaces works again, or peers
	// are seen on another one. Run then queries at once, as at a start
	// (FastQueries back to back): the caller should redial the peers it
	// knows at once too.
	LinkUp()
}

// Prompter is an optional interface of a [Handler], for a caller that
// learns of changes the queries cannot see (a peer's connection closed: it
// may be gone, or may need redialling). When the Handler implements it,
// [Service.Run] receives from Prompts: each receive brings the query
// schedule back to its fastest (see Config.MaxQueryInterval), the next
// query within one QueryInterval. Prompts is called once, from Run's
// goroutine; the channel should be buffered (a send that would block can
// be dropped: one pending prompt is as good as many).
type Prompter interface {
	Prompts() <-chan struct{}
}

// DefaultService is the DNS-SD service type lanchat advertises.
const DefaultService = "_lanchat._tcp"

// Sentinel errors.
var (
	// ErrConfig is wrapped by every validation error of [New].
	ErrConfig = errors.New("discovery: invalid config")
	// ErrNoInterface is wrapped when Config.Ifaces names no interface.
	ErrNoInterface = errors.New("discovery: no such interface")
	// ErrNoMulticastRoute is wrapped when no interface at all can carry
	// multicast (usually: not connected to any network).
	ErrNoMulticastRoute = errors.New("discovery: no route for multicast")
	// ErrRunning is returned by Run while another Run of the same Service is active.
	ErrRunning = errors.New("discovery: already running")
	// ErrInterfaceDown is wrapped when every interface that could be used
	// is down, without carrier or without address; the text says which
	// and why ("eth0: no carrier").
	ErrInterfaceDown = errors.New("discovery: interface down or without address")
	// ErrNoMulticast is wrapped when the interface cannot carry multicast
	// at all (a loopback interface, a point-to-point tunnel): unlike a
	// network that is not up yet, waiting does not help.
	ErrNoMulticast = errors.New("discovery: interface without multicast")
)

// Config configures a [Service]. Start from [DefaultConfig]; as in every
// lanchat Config, a zero field takes its default.
type Config struct {
	// Service is the DNS-SD service type. Default ("") [DefaultService].
	// Only peers advertising the same type are seen.
	Service string
	// Instance is our peer ID; used as instance name and host name, skipped
	// when browsing. Required: 1..63 ASCII letters, digits, '-' or '_'.
	Instance string
	// Port is the advertised IPv4 TCP port (SRV record). Required.
	Port int
	// Port6 is the advertised IPv6 TCP port (TXT "p6"); 0 = no IPv6
	// listener, and peers ignore our IPv6 address. Default 0.
	Port6 int
	// Fingerprint is our network fingerprint (TXT "net"), "open" without a
	// key. Peers with another fingerprint are only counted. Default ("")
	// "open".
	// Printable ASCII, no spaces, at most 64 bytes.
	Fingerprint string
	// Version is the protocol version (TXT "v"), at most 16 bytes. Default
	// ("") "1". Peers of other versions are handed to the Handler all the
	// same: whether to talk to them is the caller's decision.
	Version string
	// Ifaces restricts discovery to these network interfaces, by name.
	// Empty (default): every interface that is up, has an address, can
	// multicast and is not a loopback, followed as interfaces come and go.
	// Each interface has its own responder, which advertises that
	// interface's addresses only, and its own queries.
	Ifaces []string
	// QueryTimeout is how long each query listens for answers (the very
	// first query: half of it). Answers are handed to the Handler when the
	// query ends, so it is also the discovery delay of a newcomer. Default
	// 400 ms: a LAN answers in under a millisecond, Wi-Fi power saving can
	// delay multicast by a few hundred.
	QueryTimeout time.Duration
	// FastQueries is the number of back-to-back queries at start, so that a
	// lost packet does not delay discovery by a whole QueryInterval.
	// Default (0) 3; negative: none.
	FastQueries int
	// QueryInterval is the time between queries after the fast ones (±10 %
	// jitter) while what they see changes. Existing nodes notice a newcomer
	// that does not dial them only at their next query; each query costs
	// one answer per node on the LAN, and wakes every one of them. Default
	// 5 s.
	QueryInterval time.Duration
	// MaxQueryInterval bounds the back-off of the queries: after every
	// round that saw the same peers (IDs, fingerprints, versions and
	// addresses) as the round before, the interval doubles, from
	// QueryInterval up to this. A round that sees a change (a peer new,
	// gone or moved), a change of the interface or its addresses, and a
	// [Prompter]'s prompt bring it back to QueryInterval. A newcomer is
	// not slowed down (its own first queries are fast, and it dials the
	// peers it finds); only one that cannot dial us waits longer to be
	// seen. Default 60 s; never below QueryInterval.
	MaxQueryInterval time.Duration
	// Logger receives the package's logs and hashicorp/mdns's (at debug
	// level). nil discards them. Nothing is ever written to stdout/stderr.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults documented on [Config]. Instance and
// Port must still be set.
func DefaultConfig() Config {
	return Config{
		Service:          DefaultService,
		Fingerprint:      "open",
		Version:          "1",
		QueryTimeout:     400 * time.Millisecond,
		FastQueries:      3,
		QueryInterval:    5 * time.Second,
		MaxQueryInterval: time.Minute,
	}
}

// Service advertises this node and browses for others. Create it with [New].
type Service struct {
	cfg     Config
	log     *slog.Logger
	mlog    *log.Logger // bridge for hashicorp/mdns, at debug level
	running atomic.Bool
}

// New fills in cfg's zero fields and validates it; it starts nothing.
func New(cfg Config) (*Service, error) {
	cfg = withDefaults(cfg)
	if err := validate(cfg); err != nil {
		return nil, err
	}
	for _, name := range cfg.Ifaces {
		if _, err := lookupIface(name); err != nil {
			return nil, err
		}
	}
	cfg.Ifaces = slices.Clone(cfg.Ifaces)
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	lg = lg.With("component", "discovery")
	return &Service{
		cfg:  cfg,
		log:  lg,
		mlog: slog.NewLogLogger(lg.Handler(), slog.LevelDebug),
	}, nil
}

// withDefaults returns cfg with its zero fields set to [DefaultConfig]'s.
func withDefaults(cfg Config) Config {
	def := DefaultConfig()
	if cfg.Service == "" {
		cfg.Service = def.Service
	}
	if cfg.Fingerprint == "" {
		cfg.Fingerprint = def.Fingerprint
	}
	if cfg.Version == "" {
		cfg.Version = def.Version
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = def.QueryTimeout
	}
	switch {
	case cfg.FastQueries == 0:
		cfg.FastQueries = def.FastQueries
	case cfg.FastQueries < 0:
		cfg.FastQueries = 0
	}
	if cfg.QueryInterval == 0 {
		cfg.QueryInterval = def.QueryInterval
	}
	if cfg.MaxQueryInterval == 0 {
		cfg.MaxQueryInterval = def.MaxQueryInterval
	}
	cfg.MaxQueryInterval = max(cfg.MaxQueryInterval, cfg.QueryInterval)
	return cfg
}

func validate(cfg Config) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	svc := strings.Split(cfg.Service, ".")
	if len(svc) != 2 || !strings.HasPrefix(svc[0], "_") || len(svc[0]) < 2 ||
		(svc[1] != "_tcp" && svc[1] != "_udp") || checkID(svc[0]) != nil {
		return bad("service %q is not of the form _name._tcp", cfg.Service)
	}
	if err := checkID(cfg.Instance); err != nil {
		return bad("instance %q: need 1..%d letters, digits, '-' or '_'", cfg.Instance, maxIDLen)
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return bad("port %d out of range 1..65535", cfg.Port)
	}
	if cfg.Port6 < 0 || cfg.Port6 > 65535 {
		return bad("IPv6 port %d out of range 0..65535", cfg.Port6)
	}
	if checkToken("fingerprint", cfg.Fingerprint, maxFingerprintLen) != nil {
		return bad("fingerprint %q: need 1..%d printable ASCII bytes, no spaces", cfg.Fingerprint, maxFingerprintLen)
	}
	if checkToken("version", cfg.Version, maxVersionLen) != nil {
		return bad("version %q: need 1..%d printable ASCII bytes, no spaces", cfg.Version, maxVersionLen)
	}
	if cfg.QueryTimeout < 0 || cfg.QueryInterval < 0 || cfg.MaxQueryInterval < 0 {
		return bad("query timeout %v and intervals %v, %v must not be negative",
			cfg.QueryTimeout, cfg.QueryInterval, cfg.MaxQueryInterval)
	}
	for _, s := range txtRecords(cfg) {
		if len(s) > 255 {
			return bad("TXT string %q longer than 255 bytes", s)
		}
	}
	return nil
}

// Run advertises and browses until ctx is cancelled, then shuts the
// responders down and returns nil. It fails at once when no interface can
// be used (no such interface, none up with an address), unless h is a
// [Waiter]: then it waits for the network; an interface named in
// Config.Ifaces that can never carry multicast (loopback) fails at once
// whatever h is. Interfaces that come, go or change their addresses while
// it runs are followed (see the package comment). Later failures (a query
// that cannot be sent) are logged and retried at the next round. Run
// returns within about QueryTimeout of the cancellation (a query in flight
// is not cut short) and leaves no goroutine behind. Handler methods are
// called from Run's goroutine.
func (s *Service) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return fmt.Errorf("%w: nil handler", ErrConfig)
	}
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)

	r := &runner{s: s, h: h, foreign: make(map[string]struct{}), links: map[int]*link{}, had: map[string]bool{}}
	r.waiter, _ = h.(Waiter)
	r.linker, _ = h.(LinkWatcher)
	r.diag = newDiagState(h, r.snapshot, s.log, time.Now())
	defer r.diag.stop()
	var prompts <-chan struct{}
	if p, ok := h.(Prompter); ok {
		prompts = p.Prompts()
	}
	defer r.stopAll()
	var changes <-chan struct{}
	if w, err := watchLinks(); err != nil {
		s.log.Debug("mdns interface watch unavailable: looking before every round", "err", err)
	} else {
		defer w.Close()
		changes = w.Changes()
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		_, err := r.refresh()
		if err == nil {
			break
		}
		if r.waiter == nil || !transient(err) {
			return err
		}
		r.diagnose(true)
		r.unavailable(err)
		timer.Reset(jitter(s.cfg.QueryInterval))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-changes:
		}
	}
	s.log.Info("mdns started", "ifaces", r.names(), "service", s.cfg.Service,
		"instance", s.cfg.Instance, "port", s.cfg.Port, "port6", s.cfg.Port6)

	sched := newSchedule(s.cfg)
	quick := true // halve the next query's timeout: a start, or the link back
	// look refreshes the interfaces and reports whether to query at once:
	// an interface came, went or changed its addresses.
	look := func() bool {
		moved, err := r.refresh()
		if err != nil {
			r.warn("refresh", err)
			if transient(err) {
				r.diagnose(true)
				if r.waiter != nil {
					r.unavailable(err)
				}
			}
		}
		if r.relink {
			// The link is back: look for everyone as at a start.
			r.relink, quick = false, true
			sched.restart()
			r.diag.restart(time.Now())
		}
		if moved {
			sched.prompt()
		}
		return moved
	}
	for round := 0; ; round++ {
		if round > 0 {
			look()
		}
		timeout := s.cfg.QueryTimeout
		if quick {
			// On a wired LAN every answer is in within a millisecond: find
			// the peers already there sooner; later rounds catch slow ones.
			timeout /= 2
			quick = false
		}
		seen := r.query(ctx, timeout)
		if ctx.Err() != nil {
			s.log.Debug("mdns stopping")
			return nil
		}
		r.checkLink() // a peer seen on a new interface ends a cut
		if r.relink {
			r.relink, quick = false, true
			sched.restart()
			r.diag.restart(time.Now())
		}
		r.diagnose(false)
		wait := sched.after(seen)
		if wait > 0 {
			wait = jitter(wait)
		}
		due := time.Now().Add(wait)
		timer.Reset(wait)
	sleep:
		for {
			select {
			case <-ctx.Done():
				s.log.Debug("mdns stopping")
				return nil
			case <-timer.C:
				break sleep
			case <-changes:
				if look() {
					s.log.Debug("mdns interfaces changed: querying now")
					timer.Stop()
					break sleep
				}
			case <-r.diag.due():
				r.diagnose(false)
			case <-prompts:
				sched.prompt()
				if d := jitter(s.cfg.QueryInterval); time.Until(due) > d {
					s.log.Debug("mdns prompted: querying sooner", "in", d)
					due = time.Now().Add(d)
					timer.Reset(d)
				}
			}
		}
	}
}

// schedule paces the queries of a Run: FastQueries back to back, then
// QueryInterval, doubling after every round that saw what the round before
// it saw, up to MaxQueryInterval; a round that sees a change, or a
// prompt, brings it back to QueryInterval. A LAN whose peers stay the same
// is queried once a MaxQueryInterval by each of them, instead of once a
// QueryInterval: every query wakes every node. Not safe for concurrent use.
type schedule struct {
	min, max time.Duration
	nfast    int               // FastQueries
	fast     int               // back-to-back queries left
	wait     time.Duration     // the interval after the next round that sees no change
	last     map[string]string // what the last round saw: peer ID → sighting
}

func newSchedule(cfg Config) *schedule {
	return &schedule{min: cfg.QueryInterval, max: max(cfg.MaxQueryInterval, cfg.QueryInterval), nfast: cfg.FastQueries, fast: cfg.FastQueries, wait: cfg.QueryInterval}
}

// after returns how long to wait after a round that saw seen (peer ID →
// a summary of its sighting), before jitter: zero while fast queries are
// left.
// A failed round (seen nil) counts as a change: the network may be coming
// back, and its peers with it.
func (s *schedule) after(seen map[string]string) time.Duration {
	changed := seen == nil || !maps.Equal(seen, s.last)
	s.last = seen
	if s.fast > 1 {
		s.fast--
		return 0
	}
	if s.fast == 1 {
		s.fast = 0
		s.wait = s.min
	}
	if changed {
		s.wait = s.min
	}
	d := s.wait
	s.wait = min(2*s.wait, s.max)
	return d
}

// prompt brings the schedule back to its fastest interval.
func (s *schedule) prompt() { s.wait = s.min }

// restart starts the schedule afresh, fast queries first: the network is
// back after a cut, and every peer is to be found again at once.
func (s *schedule) restart() { s.fast, s.wait = s.nfast, s.min }

// jitter returns d ±10 %.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

// entryBuffer bounds the answers kept from one query. Each node answers
// once per query (twice with IPv4 and IPv6), other services' answers
// count too.
const entryBuffer = 1024

// maxForeign bounds the set of foreign peer IDs remembered for counting.
const maxForeign = 4096

// runner is the state of one Run.
type runner struct {
	s        *Service
	h        Handler
	links    map[int]*link     // the interfaces in use, by index
	state    map[string]string // every candidate interface of the last look → why it is not in use ("" when it is)
	had      map[string]bool   // interfaces on which peers of ours were seen
	foreign  map[string]struct{}
	reported int         // foreign count last given to Handler.Foreign
	lastWarn string      // last warning logged, to log a repeated failure once
	waiter   Waiter      // h as a Waiter, or nil
	down     bool        // waiter was told Unavailable and not Available since
	linker   LinkWatcher // h as a LinkWatcher, or nil
	cut      bool        // linker was told LinkDown and not LinkUp since
	relink   bool        // LinkUp was just told: query as at a start
	diag     *diagState  // counts and tells for a Diagnoser, over every link (see diagnose.go)
}

// link is one interface in use: its responder and what its queries need.
type link struct {
	ifi       net.Interface
	ips       []net.IP
	v4, v6    bool // query over IPv4, IPv6; v6 cleared after an IPv6 send failure
	responder *responder
}

// checkMulticast returns an error wrapping ErrNoMulticast when ifi can
// never carry mDNS: it is a loopback interface, or it has no multicast.
func checkMulticast(ifi *net.Interface) error {
	if ifi.Flags&net.FlagLoopback != 0 || ifi.Flags&net.FlagMulticast == 0 {
		return fmt.Errorf("%w: %s cannot carry mDNS (a loopback or point-to-point interface has no multicast): choose another with --iface", ErrNoMulticast, ifi.Name)
	}
	return nil
}

// transient reports whether err of refresh may go away by itself: the
// network is not (or no longer) up.
func transient(err error) bool {
	return errors.Is(err, ErrNoMulticastRoute) || errors.Is(err, ErrNoInterface) || errors.Is(err, ErrInterfaceDown)
}

// unavailable tells the waiter, once, that discovery cannot work for now;
// not while the LinkWatcher knows the link is down: that notice said it.
func (r *runner) unavailable(err error) {
	if r.down || r.cut {
		return
	}
	r.down = true
	r.s.log.Warn("mdns waiting for the network", "err", err)
	r.waiter.Unavailable(err)
}

// warn logs a failure once until a different failure or a success happens.
func (r *runner) warn(what string, err error) {
	msg := what + ": " + err.Error()
	if msg == r.lastWarn {
		r.s.log.Debug("mdns "+what+" failed again", "err", err)
		return
	}
	r.lastWarn = msg
	r.s.log.Warn("mdns "+what+" failed", "err", err)
}

func (r *runner) ok(what string) {
	if strings.HasPrefix(r.lastWarn, what+": ") {
		r.s.log.Info("mdns " + what + " works again")
		r.lastWarn = ""
	}
}

// names returns the names of the interfaces in use, sorted.
func (r *runner) names() []string {
	var out []string
	for _, l := range r.links {
		out = append(out, l.ifi.Name)
	}
	slices.Sort(out)
	return out
}

// Why a candidate interface cannot be used now, as its candidate.why
// says (other failures give their error's text). The diagnosis and the
// LinkWatcher's reason read them.
const (
	whyNotFound  = "not found"      // named in Config.Ifaces, not on this machine (now)
	whyDown      = "interface down" // administratively down (no IFF_UP)
	whyNoCarrier = "no carrier"     // up without a link (no IFF_RUNNING): cable out, Wi-Fi not associated
	whyNoAddress = "no address"     // up with a link, no address to advertise (no DHCP lease yet)
)

// candidate is an interface that discovery would use, as one look saw it.
type candidate struct {
	ifi net.Interface
	ips []net.IP
	why string // why it cannot be used now ("no carrier"), "" when it can
}

// scan lists the candidate interfaces: those of Config.Ifaces, or every
// interface that can multicast and is not a loopback. It fails when a
// named interface can never carry multicast, and when the only one named
// does not exist.
func (s *Service) scan() ([]candidate, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("discovery: list interfaces: %w", err)
	}
	var out []candidate
	if len(s.cfg.Ifaces) > 0 {
		for _, name := range s.cfg.Ifaces {
			i := slices.IndexFunc(ifs, func(ifi net.Interface) bool { return ifi.Name == name })
			if i < 0 {
				if len(s.cfg.Ifaces) == 1 {
					_, err := lookupIface(name)
					return nil, err
				}
				out = append(out, candidate{ifi: net.Interface{Name: name}, why: whyNotFound})
				continue
			}
			if err := checkMulticast(&ifs[i]); err != nil {
				return nil, err
			}
			out = append(out, s.candidate(ifs[i]))
		}
		return out, nil
	}
	for _, ifi := range ifs {
		if checkMulticast(&ifi) == nil {
			out = append(out, s.candidate(ifi))
		}
	}
	return out, nil
}

func (s *Service) candidate(ifi net.Interface) candidate {
	c := candidate{ifi: ifi}
	ips, err := advertisedIPs(&ifi)
	switch {
	case ifi.Flags&net.FlagUp == 0:
		c.why = whyDown
	case ifi.Flags&net.FlagRunning == 0:
		c.why = whyNoCarrier
	case err != nil:
		c.why = err.Error()
	case len(ips) == 0:
		c.why = whyNoAddress
	}
	if c.why == "" {
		c.ips = ips
	}
	return c
}

// refresh looks at the interfaces: it starts a responder on each that can
// be used and has none, restarts it where the addresses changed, stops
// those that cannot be used any more, and reports whether it changed
// anything. It fails, with the reasons, when no interface can be used.
func (r *runner) refresh() (moved bool, err error) {
	cands, err := r.s.scan()
	if err != nil {
		moved = len(r.links) > 0
		r.stopAll()
		r.state = nil
		return moved, err
	}
	r.state = make(map[string]string, len(cands))
	use := map[int]bool{}
	var why []string
	for _, c := range cands {
		r.state[c.ifi.Name] = c.why
		if c.why != "" {
			why = append(why, c.ifi.Name+": "+c.why)
			continue
		}
		l := r.links[c.ifi.Index]
		if l != nil && l.ifi.Name == c.ifi.Name && slices.EqualFunc(l.ips, c.ips, net.IP.Equal) {
			use[c.ifi.Index] = true
			continue
		}
		if l != nil {
			r.s.log.Info("mdns addresses changed, restarting responder", "iface", c.ifi.Name, "ips", c.ips)
			l.responder.Close()
			delete(r.links, c.ifi.Index)
		}
		l, err := r.start(c)
		if err != nil {
			r.state[c.ifi.Name] = err.Error()
			why = append(why, c.ifi.Name+": "+err.Error())
			continue
		}
		r.s.log.Info("mdns responder started", "iface", c.ifi.Name, "ips", c.ips)
		r.links[c.ifi.Index] = l
		use[c.ifi.Index] = true
		moved = true
	}
	for idx, l := range r.links {
		if !use[idx] {
			r.s.log.Info("mdns interface gone from use", "iface", l.ifi.Name, "why", r.state[l.ifi.Name])
			l.responder.Close()
			delete(r.links, idx)
			moved = true
		}
	}
	r.checkLink()
	if len(r.links) == 0 {
		switch {
		case len(why) > 0:
			return moved, fmt.Errorf("%w: %s", ErrInterfaceDown, strings.Join(why, ", "))
		default:
			if _, err := multicastRoute(); err != nil {
				return moved, err // says "no default route?", the likely story
			}
			return moved, fmt.Errorf("%w: no network interface can carry multicast (not connected to a network?)", ErrNoMulticastRoute)
		}
	}
	r.ok("refresh")
	r.available()
	return moved, nil
}

// start starts the responder of c.
func (r *runner) start(c candidate) (*link, error) {
	cfg := r.s.cfg
	zone, err := mdns.NewMDNSService(cfg.Instance, cfg.Service, "local.", cfg.Instance+".local.", cfg.Port, c.ips, txtRecords(cfg))
	if err != nil {
		return nil, fmt.Errorf("discovery: mdns service: %w", err)
	}
	resp, err := startResponder(&c.ifi, zone, r.s.log)
	if err != nil {
		return nil, fmt.Errorf("discovery: start mdns responder on %s: %w", c.ifi.Name, err)
	}
	l := &link{ifi: c.ifi, ips: c.ips, responder: resp}
	for _, ip := range c.ips {
		if ip.To4() != nil {
			l.v4 = true
		} else {
			l.v6 = true
		}
	}
	// Without an IPv6 address sending the IPv6 query fails; a link-local
	// one is left out of c.ips when a routable one exists.
	l.v6 = l.v6 || hasIPv6(&c.ifi)
	return l, nil
}

// checkLink tells the LinkWatcher when every interface on which peers
// were seen has lost its link, and when one has it back.
func (r *runner) checkLink() {
	if r.linker == nil || len(r.had) == 0 {
		return
	}
	var why []string
	up := false
	for _, name := range slices.Sorted(maps.Keys(r.had)) {
		w, known := r.state[name]
		if !known {
			w = "gone"
		}
		if w == "" {
			up = true
			break
		}
		why = append(why, name+": "+w)
	}
	switch {
	case !up && !r.cut:
		r.cut = true
		reason := strings.Join(why, ", ")
		r.s.log.Warn("mdns own link down", "why", reason)
		r.linker.LinkDown(reason)
	case up && r.cut:
		r.cut, r.relink = false, true
		r.s.log.Info("mdns own link back")
		r.linker.LinkUp()
	}
}

// available tells the waiter that discovery works again, if it was told
// otherwise.
func (r *runner) available() {
	if r.down {
		r.down = false
		r.s.log.Info("mdns network available")
		r.waiter.Available()
	}
}

// stopAll stops every responder.
func (r *runner) stopAll() {
	for idx, l := range r.links {
		l.responder.Close()
		delete(r.links, idx)
	}
}

// hasIPv6 reports whether ifi has any IPv6 address (link-local included):
// without one, sending the IPv6 query fails and takes the IPv4 one with it.
func hasIPv6(ifi *net.Interface) bool {
	addrs, err := ifi.Addrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() == nil {
			return true
		}
	}
	return false
}

// query runs one mDNS query on every interface in use, at the same time,
// and reports their answers: every answer packet on its own (see browse),
// the same sighting once per round. It returns what it reported, for the
// schedule: each peer ID found with a summary of its sightings (nil if
// every query failed).
func (r *runner) query(ctx context.Context, timeout time.Duration) map[string]string {
	start := time.Now()
	links := slices.SortedFunc(maps.Values(r.links), func(x, y *link) int { return x.ifi.Index - y.ifi.Index })
	type result struct {
		answers []answer
		err     error
	}
	results := make([]result, len(links))
	var wg sync.WaitGroup
	for i, l := range links {
		wg.Go(func() {
			a, err := browse(ctx, r.s.cfg.Service, &l.ifi, l.v4, l.v6, timeout, entryBuffer, r.s.log)
			results[i] = result{a, err}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	seen := map[string]bool{}
	var found map[string]string
	n := 0
	for i, l := range links {
		answers, err := results[i].answers, results[i].err
		if errors.Is(err, errQueryV6) && l.v4 {
			// An IPv6 send failure must not cost the IPv4 answers
			// (hashicorp/mdns fails the whole query, #121, #35): go on
			// with IPv4 only until the addresses change.
			r.s.log.Debug("mdns query over IPv6 failed, using IPv4 only", "iface", l.ifi.Name, "err", err)
			l.v6 = false
			err = nil
		}
		if err != nil {
			r.warn("query", fmt.Errorf("on %s: %w", l.ifi.Name, err))
			continue
		}
		r.diag.sent(len(answers))
		if found == nil {
			found = map[string]string{}
		}
		n += len(answers)
		for _, a := range quietFirst(answers) {
			k := fmt.Sprint(a.Name, a.TXT, a.Port, a.V4, a.V6)
			if seen[k] {
				continue // the same answer over IPv4 and IPv6
			}
			seen[k] = true
			p, ok := r.handle(a)
			if !ok {
				continue
			}
			if p.Fingerprint == r.s.cfg.Fingerprint && !r.had[l.ifi.Name] {
				r.had[l.ifi.Name] = true
			}
			if len(found) < maxFound {
				found[p.ID] += fmt.Sprint(p.Fingerprint, p.Version, p.Addrs)
			}
		}
	}
	if found != nil {
		r.ok("query")
	}
	r.reportForeign()
	r.s.log.Debug("mdns query done", "ifaces", len(links), "answers", n, "took", time.Since(start))
	return found
}

// maxFound bounds the peers a round remembers for the schedule (a flood
// of made-up answers is at most entryBuffer).
const maxFound = entryBuffer

// quietFirst orders answers by how many answers their source address
// gave in the query, fewest first, and otherwise in arrival order. A
// lanchat node answers once per query; a responder that answers for
// dozens of instances is most likely making them up. Its answers go to
// the Handler last, so that a Handler with a bounded queue (node's
// Dialer drops sightings when it is full) takes the real peers first.
func quietFirst(answers []answer) []answer {
	per := map[netip.Addr]int{}
	for _, a := range answers {
		per[a.Src]++
	}
	out := slices.Clone(answers)
	slices.SortStableFunc(out, func(x, y answer) int { return per[x.Src] - per[y.Src] })
	return out
}

// handle reports one answer to the Handler: Found at once, foreign peers
// counted for reportForeign. It returns the peer and whether it is one of
// ours or a foreign one.
func (r *runner) handle(a answer) (Peer, bool) {
	cfg := r.s.cfg
	p, err := parseAnswer(cfg.Service, a)
	switch {
	case errors.Is(err, errOtherService):
		return p, false
	case err != nil:
		r.s.log.Debug("mdns answer ignored", "name", a.Name, "err", err)
		return p, false
	case p.ID == cfg.Instance:
		r.diag.own()
		return p, false
	case p.Fingerprint != cfg.Fingerprint:
		r.diag.foreign(p.ID)
		if _, seen := r.foreign[p.ID]; !seen && len(r.foreign) < maxForeign {
			r.foreign[p.ID] = struct{}{}
			r.s.log.Debug("mdns foreign peer", "peer", p.ID, "fingerprint", p.Fingerprint)
		}
	default:
		r.diag.found()
		r.h.Found(p)
	}
	return p, true
}

// reportForeign calls Handler.Foreign once per round, when the count grew.
func (r *runner) reportForeign() {
	if len(r.foreign) > r.reported {
		r.reported = len(r.foreign)
		r.h.Foreign(r.reported)
	}
}

// multicastRoute returns the source address the kernel would use for the
// IPv4 mDNS group, i.e. checks there is a route for it. Connecting a UDP
// socket sends nothing.
func multicastRoute() (netip.Addr, error) {
	c, err := net.Dial("udp4", "224.0.0.251:5353")
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w (no default route? connect to a network, or dial peers directly): %v",
			ErrNoMulticastRoute, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// lookupIface finds an interface by name, listing the existing ones in the error.
func lookupIface(name string) (*net.Interface, error) {
	ifi, err := net.InterfaceByName(name)
	if err == nil {
		return ifi, nil
	}
	var names []string
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			if i.Flags&net.FlagLoopback == 0 {
				names = append(names, i.Name)
			}
		}
	}
	return nil, &ifaceError{name: name, have: names}
}

// ifaceError reads `interface "eth9" not found (have: eth0, wlan0)` and
// wraps [ErrNoInterface].
type ifaceError struct {
	name string
	have []string
}

func (e *ifaceError) Error() string {
	if len(e.have) == 0 {
		return fmt.Sprintf("interface %q not found", e.name)
	}
	return fmt.Sprintf("interface %q not found (have: %s)", e.name, strings.Join(e.have, ", "))
}

func (e *ifaceError) Unwrap() error { return ErrNoInterface }
