package discovery

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
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
	// ReasonNoMulticast: interfaces are up, but none can carry multicast
	// (point-to-point tunnels without it, multicast turned off).
	ReasonNoMulticast Reason = "no-multicast"
	// ReasonNoCarrier: the interfaces discovery would use are up but none
	// has a link (the kernel's IFF_RUNNING is off: cable out, Wi-Fi not
	// associated, veth peer down).
	ReasonNoCarrier Reason = "no-carrier"
	// ReasonNoRoute: the interfaces with a link have no IP address (no
	// DHCP lease yet), so there is no route for the mDNS group on any.
	// A missing default route alone is no reason: queries name their
	// interface, and a LAN without a gateway works.
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
//   - at once, when no interface can be used (Run waits for it, see
//     [Waiter]): no interface but loopback, no interface with multicast,
//     no link, no address. With a [Waiter], this Diagnose comes before the
//     Unavailable it explains;
//   - otherwise after the queries had a fair chance (about 3 s of them, the
//     fast queries included, over every interface in use) and found no
//     peer on our network: a different key nearby, a firewall suspected;
//     then again each time the reason changes, judged over the queries
//     of the last 3 s or more (at least one round).
//
// While a [LinkWatcher] knows the link is down (LinkDown was called, not
// LinkUp yet), nothing is judged: its LinkDown said what is wrong. It is
// never called with the same Reason twice in a row. It is called like
// Handler's methods: from Run's goroutine, and must not block.
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
	queries int                 // queries sent: one per interface in use and round (the IPv4 one went out)
	answers int                 // answers received, of any instance and service, our own included
	own     int                 // answers of our own responder (instance name = ours)
	found   int                 // answers of peers on our network, as handed to Found
	foreign map[string]struct{} // peer IDs seen with another fingerprint
}

// ifaceState is one interface discovery considered (a candidate of
// the runner's last look), as the diagnosis sees it.
type ifaceState struct {
	name string
	why  string // why it is not in use: whyNotFound, whyDown, whyNoCarrier, whyNoAddress or another failure; "" when it is
}

// snapshot is the environment and the counts a diagnosis is made from.
type snapshot struct {
	// named reports whether Config.Ifaces is set: ifaces are those, and
	// nothing else is looked at.
	named bool
	// ifaces are the interfaces discovery considered: those named, or
	// every interface up or down that can multicast and is not a loopback.
	ifaces []ifaceState
	// others are the interfaces up, not loopback, that discovery does not
	// consider because they cannot carry multicast (not filled when named).
	others []string
	// querying reports whether the counts are worth judging: the queries
	// ran for a diagnosis window (not a network Run waits for).
	querying bool
	counts   counters
}

// diagnose returns why s finds nobody on our network and the sentence
// that tells the user, or ReasonNone. It is pure: the order of the checks
// is the order of [Reason]'s constants. The environment is judged only
// when no interface is in use (then Run has nothing to query on); the
// counts only when one is.
func diagnose(s snapshot) (Reason, string) {
	if s.counts.found > 0 {
		return ReasonNone, ""
	}
	var inUse, present, linked, unaddressed []ifaceState // in use; up; up with a link; up with a link, no address
	for _, f := range s.ifaces {
		switch f.why {
		case "":
			inUse = append(inUse, f)
		case whyNotFound, whyDown:
		case whyNoCarrier:
			present = append(present, f)
		case whyNoAddress:
			unaddressed = append(unaddressed, f)
			fallthrough
		default:
			present = append(present, f)
			linked = append(linked, f)
		}
	}
	if len(inUse) == 0 {
		switch {
		case len(present) == 0 && s.named:
			return ReasonNone, "" // the named interfaces are missing or down: the Waiter's Unavailable says which
		case len(present) == 0 && len(s.others) == 0:
			return ReasonLoopbackOnly, "nobody found: this machine has no network interface up except loopback: " +
				"connect it to a network (plug in a cable or join a Wi-Fi)"
		case len(present) == 0:
			return ReasonNoMulticast, fmt.Sprintf("nobody found: none of the network interfaces here (%s) can carry multicast, "+
				"which local discovery needs: connect with --peer ADDR or /invite", list(s.others))
		case len(linked) == 0:
			return ReasonNoCarrier, noLink(names(present), len(present))
		case len(unaddressed) == len(linked):
			return ReasonNoRoute, noAddress(names(unaddressed), len(unaddressed))
		}
		return ReasonNone, "" // another failure (a responder that cannot start): Run's own error says it
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

// noAddress is the no-route sentence for the interfaces what (n of
// them), linked but without an address.
func noAddress(what string, n int) string {
	has := " has a link but no IP address"
	if n > 1 {
		what, has = "none of "+what, " has an IP address"
	}
	return "nobody found: no route for multicast: " + what + has + " (no DHCP lease yet?): wait for one, or set an address"
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
	for _, f := range ifs {
		out = append(out, f.name)
	}
	return list(out)
}

// list joins names, at most four.
func list(names []string) string {
	if len(names) > 4 {
		names = append(names[:4:4], "…")
	}
	return strings.Join(names, ", ")
}

// snapshot reads the environment part of a diagnosis: the candidates of
// the last look and why each is not in use, and, when none is in use and
// none was named, the interfaces that cannot carry multicast. Nothing is
// sent.
func (r *runner) snapshot() snapshot {
	s := snapshot{named: len(r.s.cfg.Ifaces) > 0}
	for _, name := range slices.Sorted(maps.Keys(r.state)) {
		s.ifaces = append(s.ifaces, ifaceState{name: name, why: r.state[name]})
	}
	if s.named || len(r.links) > 0 {
		return s
	}
	ifs, err := net.Interfaces()
	if err != nil {
		// Nothing known: an unknown interface, so that no-multicast is
		// not told for nothing.
		s.ifaces = append(s.ifaces, ifaceState{name: "?", why: err.Error()})
		return s
	}
	for _, f := range ifs {
		if _, considered := r.state[f.Name]; !considered && f.Flags&net.FlagUp != 0 && f.Flags&net.FlagLoopback == 0 {
			s.others = append(s.others, f.Name)
		}
	}
	return s
}

// diagnose judges the diagnosis window (see [diagState.check]), unless
// the LinkWatcher was told that the link is down: that notice says what
// is wrong, and a second one ("eth0 has no link") would only repeat it.
// The window then starts again.
func (r *runner) diagnose(failing bool) {
	if r.cut {
		if r.diag.on() {
			r.s.log.Debug("mdns diagnosis skipped: link down")
		}
		r.diag.restart(time.Now())
		return
	}
	r.diag.check(time.Now(), failing)
}

// diagState is a Run's diagnosis: the counts of the current window and
// what the Diagnoser was told last. Used from Run's goroutine only; its
// methods do nothing when the Handler is not a Diagnoser, or on a nil
// *diagState (a runner made by a test).
type diagState struct {
	to    Diagnoser // nil: nothing is counted or told
	log   *slog.Logger
	since time.Time // start of the window
	win   counters
	told  Reason
	timer *time.Timer     // wakes Run's sleep when the window is due
	probe func() snapshot // the environment (the runner's snapshot)
}

// newDiagState returns the diagnosis of a Run for h, started at now,
// reading the environment with probe; it logs to log.
func newDiagState(h Handler, probe func() snapshot, log *slog.Logger, now time.Time) *diagState {
	d := &diagState{log: log, probe: probe}
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

// restart starts a new window at now, when there is a Diagnoser: what
// the queries saw before is not judged.
func (d *diagState) restart(now time.Time) {
	if d.on() {
		d.reset(now)
	}
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
		s := d.probe()
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
