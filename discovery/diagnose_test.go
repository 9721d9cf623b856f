package discovery

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Interfaces of the table below.
var (
	lo      = ifaceState{name: "lo", up: true, loopback: true, multicast: true, carrier: true}
	eth0    = ifaceState{name: "eth0", up: true, multicast: true, carrier: true}
	eth0off = ifaceState{name: "eth0", up: true, carrier: true}      // multicast off
	eth0nc  = ifaceState{name: "eth0", up: true, multicast: true}    // no carrier
	eth0dn  = ifaceState{name: "eth0", multicast: true}              // administratively down
	wlan0nc = ifaceState{name: "wlan0", up: true, multicast: true}   // not associated
	tun0    = ifaceState{name: "tun0", up: true, carrier: true}      // point-to-point VPN
	docker0 = ifaceState{name: "docker0", up: true, multicast: true} // a bridge without containers
	wlan0   = ifaceState{name: "wlan0", up: true, multicast: true, carrier: true}
)

func foreignIDs(ids ...string) map[string]struct{} {
	m := map[string]struct{}{}
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}

func TestDiagnose(t *testing.T) {
	queried := func(c counters) counters { c.queries = max(c.queries, 3); return c }
	for _, tc := range []struct {
		name string
		s    snapshot
		want Reason
		text string // a part of the sentence
	}{
		{"only loopback", snapshot{ifaces: []ifaceState{lo}}, ReasonLoopbackOnly, "no network interface up except loopback"},
		{"only loopback, eth0 down", snapshot{ifaces: []ifaceState{lo, eth0dn}}, ReasonLoopbackOnly, "plug in a cable or join a Wi-Fi"},
		{"only loopback beats counts", snapshot{ifaces: []ifaceState{lo}, querying: true, counts: queried(counters{})}, ReasonLoopbackOnly, "loopback"},
		{"multicast off", snapshot{ifaces: []ifaceState{lo, eth0off}, route: "eth0"}, ReasonNoMulticast, "none of the network interfaces here (eth0) can carry multicast"},
		{"only a tunnel", snapshot{ifaces: []ifaceState{lo, tun0}, route: "tun0"}, ReasonNoMulticast, "(tun0)"},
		{"routed through a tunnel", snapshot{ifaces: []ifaceState{lo, eth0, tun0}, route: "tun0"}, ReasonNoMulticast, "tun0 cannot carry multicast, which local discovery needs: choose another interface with --iface (eth0 can)"},
		{"named loopback", snapshot{ifaces: []ifaceState{lo, eth0}, iface: "lo"}, ReasonNoMulticast, "lo cannot carry multicast"},
		{"no carrier", snapshot{ifaces: []ifaceState{lo, eth0nc}, route: "eth0"}, ReasonNoCarrier, "eth0 has no link"},
		{"no carrier, no route", snapshot{ifaces: []ifaceState{lo, eth0nc}}, ReasonNoCarrier, "eth0 has no link (cable out, or Wi-Fi not connected): plug in the cable or join a Wi-Fi"},
		{"no carrier anywhere", snapshot{ifaces: []ifaceState{lo, eth0nc, wlan0nc}}, ReasonNoCarrier, "none of eth0, wlan0 has a link"},
		{"no carrier beats counts", snapshot{ifaces: []ifaceState{lo, eth0nc}, route: "eth0", querying: true, counts: queried(counters{answers: 2, own: 2})}, ReasonNoCarrier, "eth0"},
		{"named, no carrier", snapshot{ifaces: []ifaceState{lo, eth0, wlan0nc}, iface: "wlan0", route: "eth0"}, ReasonNoCarrier, "wlan0 has no link"},
		{"no route", snapshot{ifaces: []ifaceState{lo, eth0}}, ReasonNoRoute, "no route for multicast (no default route"},
		{"no route, a bridge without link", snapshot{ifaces: []ifaceState{lo, eth0, docker0}}, ReasonNoRoute, "connect to a network, or connect with --peer ADDR or /invite"},
		{"named needs no route", snapshot{ifaces: []ifaceState{lo, eth0}, iface: "eth0"}, ReasonNone, ""},
		{"named missing", snapshot{ifaces: []ifaceState{lo, eth0}, iface: "eth9"}, ReasonNone, ""},
		{"named down", snapshot{ifaces: []ifaceState{lo, eth0dn, wlan0}, iface: "eth0", route: "wlan0"}, ReasonNone, ""},
		{"foreign", snapshot{ifaces: []ifaceState{lo, eth0}, route: "eth0", querying: true,
			counts: queried(counters{answers: 3, own: 1, foreign: foreignIDs("a", "b")})}, ReasonForeignKey,
			"nobody found on your key: 2 lanchat peers nearby use a different key — check --key (or --key-file)"},
		{"one foreign", snapshot{ifaces: []ifaceState{lo, eth0}, route: "eth0", querying: true,
			counts: queried(counters{answers: 2, own: 1, foreign: foreignIDs("a")})}, ReasonForeignKey, "1 lanchat peer nearby uses a different key"},
		{"foreign, and ours found", snapshot{ifaces: []ifaceState{lo, eth0}, route: "eth0", querying: true,
			counts: queried(counters{answers: 3, own: 1, found: 1, foreign: foreignIDs("a")})}, ReasonNone, ""},
		{"firewall", snapshot{ifaces: []ifaceState{lo, eth0}, route: "eth0", querying: true, counts: queried(counters{})},
			ReasonFirewall, "not even this machine's own: a firewall may block mDNS (UDP 5353)"},
		{"no query yet", snapshot{ifaces: []ifaceState{lo, eth0}, route: "eth0", querying: true}, ReasonNone, ""},
		{"failing: counts not judged", snapshot{ifaces: []ifaceState{lo, eth0}, route: "eth0", counts: queried(counters{})}, ReasonNone, ""},
		{"others' answers, not our own: not a firewall here", snapshot{ifaces: []ifaceState{lo, eth0}, route: "eth0", querying: true, counts: queried(counters{answers: 2})}, ReasonNone, ""},
		{"alone, own answers", snapshot{ifaces: []ifaceState{lo, eth0}, route: "eth0", querying: true, counts: queried(counters{answers: 3, own: 3})}, ReasonNone, ""},
		{"found", snapshot{ifaces: []ifaceState{lo}, counts: counters{found: 1}}, ReasonNone, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, text := diagnose(tc.s)
			if reason != tc.want || !strings.Contains(text, tc.text) {
				t.Errorf("diagnose(%+v) = %q, %q; want %q with %q", tc.s, reason, text, tc.want, tc.text)
			}
			if (reason == ReasonNone) != (text == "") {
				t.Errorf("diagnose(%+v) = %q, %q: want a sentence exactly when there is a reason", tc.s, reason, text)
			}
			if text != "" && (!strings.HasPrefix(text, "nobody found") || strings.HasSuffix(text, ".")) {
				t.Errorf("diagnose: %q: want it to start with \"nobody found\", without a full stop", text)
			}
		})
	}
}

// recordDiagnoser is a Handler and Diagnoser that records what it is told.
type recordDiagnoser struct{ got []Diagnosis }

func (r *recordDiagnoser) Found(Peer)           {}
func (r *recordDiagnoser) Foreign(int)          {}
func (r *recordDiagnoser) Diagnose(d Diagnosis) { r.got = append(r.got, d) }

// TestDiagStateWindow: the counts are judged once diagnoseAfter passed,
// not before; a reason is told once while it holds; a found peer ends it
// at once (ReasonNone told); a failing network is judged at once, its
// counts ignored.
func TestDiagStateWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &recordDiagnoser{}
		env := snapshot{ifaces: []ifaceState{lo, eth0}, route: "eth0"}
		d := newDiagState(h, "", slog.New(slog.DiscardHandler), time.Now())
		d.probe = func(string) snapshot { return env }
		defer d.stop()
		if other := newDiagState(struct{ Handler }{h}, "", nil, time.Now()); other.due() != nil {
			t.Fatal("a Handler that is not a Diagnoser gets a diagnosis timer")
		}
		reasons := func() []Reason {
			var out []Reason
			for _, g := range h.got {
				out = append(out, g.Reason)
			}
			return out
		}
		want := func(what string, rs ...Reason) {
			t.Helper()
			if got := reasons(); !slices.Equal(got, rs) {
				t.Fatalf("%s: told %q, want %q", what, got, rs)
			}
		}
		d.sent(0)
		d.check(time.Now(), false)
		want("before diagnoseAfter")
		start := time.Now()
		<-d.due()
		if waited := time.Since(start); waited != diagnoseAfter {
			t.Errorf("due after %v, want %v", waited, diagnoseAfter)
		}
		d.check(time.Now(), false)
		want("a query, no answer", ReasonFirewall)
		for range 3 {
			d.sent(0)
			<-d.due()
			d.check(time.Now(), false)
		}
		want("the same again", ReasonFirewall)
		// Backed off: a window without a query is not judged (it would
		// see no firewall, and flap).
		<-d.due()
		d.check(time.Now(), false)
		if got := reasons(); !slices.Equal(got, []Reason{ReasonFirewall}) {
			t.Fatalf("a window without a query: told %q", got)
		}
		if d.win.queries != 0 || time.Since(d.since) < diagnoseAfter {
			t.Fatalf("a window without a query was judged (reset)")
		}
		d.sent(0)
		d.check(time.Now(), false)
		want("the round after", ReasonFirewall)
		d.sent(2)
		d.own()
		d.found()
		d.check(time.Now(), false)
		want("a peer found", ReasonFirewall, ReasonNone)
		d.sent(0)
		d.foreign("x")
		<-d.due()
		d.check(time.Now(), false)
		want("a foreign peer", ReasonFirewall, ReasonNone, ReasonForeignKey)
		if g := h.got[2]; g.Foreign != 1 || !strings.Contains(g.Text, "1 lanchat peer nearby") {
			t.Errorf("told %+v: want the count of 1", g)
		}
		env = snapshot{ifaces: []ifaceState{lo, eth0}}
		d.sent(0)
		d.check(time.Now(), true)
		want("no route, at once", ReasonFirewall, ReasonNone, ReasonForeignKey, ReasonNoRoute)
	})
}
