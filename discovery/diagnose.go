package discovery

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Reason is why discovery finds nobody on our network, as told to a
// [Diagnoser]. The values are stable: tests and callers may compare them.
type Reason string

// The reasons, in the order they are looked for: the first that holds is
// the one told. Each is explained in [Diagnosis.Text].
const (
	// ReasonNone: a peer on our network was found, or nothing is known to
	// be wrong (our own responder answers; nobody else runs lanchat here,
	// or the LAN filters multicast between machines).
	ReasonNone Reason = ""
	// ReasonLoopbackOnly: no network interface is up except loopback.
	ReasonLoopbackOnly Reason = "loopback-only"
	// ReasonNoMulticast: no interface that is up can carry multicast (or the
	// one chosen or routed through cannot): loopback, point-to-point
	// tunnels, multicast turned off.
	ReasonNoMulticast Reason = "no-multicast"
	// ReasonNoCarrier: the interface is up but has no link (the kernel's
	// IFF_RUNNING is off: cable out, Wi-Fi not associated, veth peer down).
	ReasonNoCarrier Reason = "no-carrier"
	// ReasonNoRoute: the kernel has no route for the mDNS group (no
	// default route), and no interface was named.
	ReasonNoRoute Reason = "no-route"
	// ReasonForeignKey: nobody on our network answered, but lanchat nodes
	// with another network fingerprint did.
	ReasonForeignKey Reason = "foreign-key"
	// ReasonFirewall: queries went out and no answer at all came back, not
	// even our own responder's (which answers our queries through
	// multicast loopback): something drops mDNS on this machine.
	ReasonFirewall Reason = "firewall"
)

// Diagnosis is what a [Diagnoser] is told.
type Diagnosis struct {
	// Reason is the reason found, ReasonNone when there is none (any more).
	Reason Reason
	// Text is one sentence for the user: what is wrong, then what to do
	// (for example "nobody found: eth0 has no link (…): plug in the cable
	// or join a Wi-Fi"). "" for ReasonNone. No trailing punctuation.
	Text string
	// Foreign is the number of peers with another fingerprint seen in the
	// rounds the diagnosis looked at (ReasonForeignKey's count).
	Foreign int
}

// Diagnoser is an optional interface of a [Handler], for a caller that
// tells the user why nobody shows up. When the Handler implements it,
// [Service.Run] calls Diagnose when the diagnosis changes, ReasonNone
// included (a peer was found, or the problem went away):
//
//   - at once, when the network cannot be used (Run waits for it, see
//     [Waiter]): no interface but loopback, no interface with multicast,
//     no link, no route. With a [Waiter], this Diagnose comes before the
//     Unavailable it explains;
//   - otherwise after the queries had a fair chance (about 3 s of them, the
//     fast queries included) and found no peer on our network: the
//     reasons above, a different key nearby, a firewall suspected;
//     then again each time the reason changes, judged over the queries
//     of the last 3 s or more (at least one round).
//
// It is never called with the same Reason twice in a row. It is called
// like Handler's methods: from Run's goroutine, and must not block.
type Diagnoser interface {
	Diagnose(Diagnosis)
}

// diagnoseAfter is how long the queries look before their counts are
// judged: three fast queries and their answers fit in it, and a peer
// given with --peer or remembered from an earlier run has had time to
// connect (the caller skips the diagnosis when it has).
const diagnoseAfter = 3 * time.Second

// counters are what the queries of a diagnosis window saw.
type counters struct {
	queries int                 // queries sent (the IPv4 one went out)
	answers int                 // answers received, of any instance and service, our own included
	own     int                 // answers of our own responder (instance name = ours)
	found   int                 // answers of peers on our network, as handed to Found
	foreign map[string]struct{} // peer IDs seen with another fingerprint
}

// ifaceState is one network interface as the diagnosis sees it.
type ifaceState struct {
	name      string
	up        bool // administratively up (IFF_UP)
	loopback  bool
	multicast bool // can carry mDNS: IFF_MULTICAST and not point-to-point
	carrier   bool // has a link (IFF_RUNNING: the kernel's operstate is up)
}

// snapshot is the environment and the counts a diagnosis is made from.
type snapshot struct {
	ifaces []ifaceState // every interface of the machine
	iface  string       // Config.Iface, "" for the default route's
	route  string       // the interface the kernel routes the IPv4 mDNS group through, "" for no route
	// querying reports whether the counts are worth judging: the queries
	// ran for a diagnosis window (not a network Run waits for).
	querying bool
	counts   counters
}

// diagnose returns why s finds nobody on our network and the sentence
// that tells the user, or ReasonNone. It is pure: the order of the checks
// is the order of [Reason]'s constants.
func diagnose(s snapshot) (Reason, string) {
	if s.counts.found > 0 {
		return ReasonNone, ""
	}
	var up, mc []ifaceState // up and not loopback; of those, able to carry mDNS
	var named *ifaceState
	for i, f := range s.ifaces {
		if f.name == s.iface {
			named = &s.ifaces[i]
		}
		if f.up && !f.loopback {
			up = append(up, f)
			if f.multicast {
				mc = append(mc, f)
			}
		}
	}
	if len(up) == 0 {
		return ReasonLoopbackOnly, "nobody found: this machine has no network interface up except loopback: " +
			"connect it to a network (plug in a cable or join a Wi-Fi)"
	}
	if len(mc) == 0 {
		return ReasonNoMulticast, fmt.Sprintf("nobody found: none of the network interfaces here (%s) can carry multicast, "+
			"which local discovery needs: connect with --peer ADDR or /invite", names(up))
	}
	// The interface discovery uses: the one named, else the routed one.
	use := s.route
	if s.iface != "" {
		if named == nil {
			return ReasonNone, "" // Run's own error says so
		}
		use = s.iface
	}
	if use == "" {
		var linked []ifaceState
		for _, f := range mc {
			if f.carrier {
				linked = append(linked, f)
			}
		}
		if len(linked) == 0 {
			return ReasonNoCarrier, noLink(names(mc), len(mc))
		}
		return ReasonNoRoute, "nobody found: this machine has no route for multicast (no default route: not connected to a network?): " +
			"connect to a network, or connect with --peer ADDR or /invite"
	}
	for _, f := range s.ifaces {
		if f.name != use {
			continue
		}
		if f.loopback || !f.multicast {
			return ReasonNoMulticast, fmt.Sprintf("nobody found: %s cannot carry multicast, which local discovery needs: "+
				"choose another interface with --iface (%s can), or connect with --peer ADDR or /invite", use, names(mc))
		}
		if !f.up {
			return ReasonNone, "" // named, and down: Run's own error says so
		}
		if !f.carrier {
			return ReasonNoCarrier, noLink(use, 1)
		}
	}
	if !s.querying || s.counts.queries == 0 {
		return ReasonNone, ""
	}
	if n := len(s.counts.foreign); n > 0 {
		return ReasonForeignKey, "nobody found on your key: " + foreignCount(n) + " — check --key (or --key-file)"
	}
	if s.counts.own == 0 && s.counts.answers == 0 {
		return ReasonFirewall, "nobody found: no mDNS answer came back, not even this machine's own: " +
			"a firewall may block mDNS (UDP 5353); allow it, or connect with --peer ADDR or /invite"
	}
	return ReasonNone, ""
}

// noLink is the no-carrier sentence for the interfaces what (n of them).
func noLink(what string, n int) string {
	has := " has no link"
	if n > 1 {
		what, has = "none of "+what, " has a link"
	}
	return "nobody found: " + what + has + " (cable out, or Wi-Fi not connected): plug in the cable or join a Wi-Fi"
}

// foreignCount words a count of peers on another key as node's Dialer
// does in its notice, so that both read alike.
func foreignCount(n int) string {
	if n == 1 {
		return "1 lanchat peer nearby uses a different key"
	}
	return fmt.Sprintf("%d lanchat peers nearby use a different key", n)
}

// names lists the interfaces' names, at most four.
func names(ifs []ifaceState) string {
	var out []string
	for i, f := range ifs {
		if i == 4 {
			out = append(out, "…")
			break
		}
		out = append(out, f.name)
	}
	return strings.Join(out, ", ")
}

// probe reads the environment part of a snapshot: the interfaces and the
// interface multicast is routed through. Nothing is sent.
func probe(iface string) snapshot {
	s := snapshot{iface: iface}
	ifs, err := net.Interfaces()
	if err != nil {
		// Nothing known of the interfaces: judge by the counts alone.
		return snapshot{iface: iface, route: "?", ifaces: []ifaceState{{name: "?", up: true, multicast: true, carrier: true}}}
	}
	local, rerr := multicastRoute()
	for _, f := range ifs {
		s.ifaces = append(s.ifaces, ifaceState{
			name:      f.Name,
			up:        f.Flags&net.FlagUp != 0,
			loopback:  f.Flags&net.FlagLoopback != 0,
			multicast: f.Flags&net.FlagMulticast != 0 && f.Flags&net.FlagPointToPoint == 0,
			carrier:   f.Flags&net.FlagRunning != 0,
		})
		if rerr == nil && s.route == "" && hasAddr(&f, local) {
			s.route = f.Name
		}
	}
	return s
}

// hasAddr reports whether ifi has the address ip.
func hasAddr(ifi *net.Interface, ip netip.Addr) bool {
	addrs, err := ifi.Addrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if got, ok := netip.AddrFromSlice(ipn.IP); ok && got.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// diagState is a Run's diagnosis: the counts of the current window and
// what the Diagnoser was told last. Used from Run's goroutine only; its
// methods do nothing when the Handler is not a Diagnoser, or on a nil
// *diagState (a runner made by a test).
type diagState struct {
	to    Diagnoser // nil: nothing is counted or told
	log   *slog.Logger
	iface string    // Config.Iface
	since time.Time // start of the window
	win   counters
	told  Reason
	timer *time.Timer // wakes Run's sleep when the window is due
	probe func(iface string) snapshot
}

// newDiagState returns the diagnosis of a Run for h, started at now;
// it logs to log.
func newDiagState(h Handler, iface string, log *slog.Logger, now time.Time) *diagState {
	d := &diagState{iface: iface, log: log, probe: probe}
	d.to, _ = h.(Diagnoser)
	if d.to != nil {
		d.timer = time.NewTimer(diagnoseAfter)
		d.reset(now)
	}
	return d
}

// on reports whether there is a Diagnoser to count for.
func (d *diagState) on() bool { return d != nil && d.to != nil }

// reset starts a new window at now.
func (d *diagState) reset(now time.Time) {
	d.since = now
	d.win = counters{foreign: map[string]struct{}{}}
	d.timer.Reset(diagnoseAfter)
}

// stop releases the timer.
func (d *diagState) stop() {
	if d.on() {
		d.timer.Stop()
	}
}

// due returns a channel that receives when the window may be judged (nil
// without a Diagnoser: never).
func (d *diagState) due() <-chan time.Time {
	if !d.on() {
		return nil
	}
	return d.timer.C
}

// Counting hooks of the runner.

func (d *diagState) sent(answers int) {
	if d.on() {
		d.win.queries++
		d.win.answers += answers
	}
}

func (d *diagState) own() {
	if d.on() {
		d.win.own++
	}
}

func (d *diagState) found() {
	if d.on() {
		d.win.found++
	}
}

func (d *diagState) foreign(id string) {
	if d.on() && len(d.win.foreign) < maxForeign {
		d.win.foreign[id] = struct{}{}
	}
}

// check judges the window when it is due — diagnoseAfter long and with a
// query in it; at once when failing: the network cannot be used — and
// tells the Diagnoser when the reason changed; a judged window starts a
// new one. A peer found ends the window at once, as ReasonNone.
func (d *diagState) check(now time.Time, failing bool) {
	if !d.on() {
		return
	}
	if d.win.found == 0 && !failing && (now.Sub(d.since) < diagnoseAfter || d.win.queries == 0) {
		return // not due; or no query since the last judgement (backed off): nothing new to judge
	}
	reason, text := ReasonNone, ""
	if d.win.found == 0 {
		s := d.probe(d.iface)
		s.querying = !failing
		s.counts = d.win
		reason, text = diagnose(s)
	}
	w := d.win
	n := len(w.foreign)
	d.log.Debug("mdns diagnosis", "reason", reason, "failing", failing, "window", now.Sub(d.since).Round(time.Millisecond),
		"queries", w.queries, "answers", w.answers, "own", w.own, "found", w.found, "foreign", n)
	d.reset(now)
	if reason == d.told {
		return
	}
	d.told = reason
	if reason != ReasonNone {
		d.log.Info("mdns finds nobody", "reason", reason)
	}
	d.to.Diagnose(Diagnosis{Reason: reason, Text: text, Foreign: n})
}
