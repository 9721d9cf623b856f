package discovery

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Interfaces of the table below: candidates of a look, and why each is
// not in use.
var (
	eth0    = ifaceState{name: "eth0"}
	eth0nc  = ifaceState{name: "eth0", why: whyNoCarrier}
	eth0dn  = ifaceState{name: "eth0", why: whyDown}
	eth0na  = ifaceState{name: "eth0", why: whyNoAddress}
	eth0err = ifaceState{name: "eth0", why: "discovery: start mdns responder on eth0: address in use"}
	eth9    = ifaceState{name: "eth9", why: whyNotFound}
	wlan0nc = ifaceState{name: "wlan0", why: whyNoCarrier} // not associated
	wlan0na = ifaceState{name: "wlan0", why: whyNoAddress}
	docker0 = ifaceState{name: "docker0", why: whyNoCarrier} // a bridge without containers
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
	inUse := []ifaceState{eth0}
	for _, tc := range []struct {
		name string
		s    snapshot
		want Reason
		text string // a part of the sentence
	}{
		{"only loopback", snapshot{}, ReasonLoopbackOnly, "no network interface up except loopback"},
		{"only loopback, eth0 down", snapshot{ifaces: []ifaceState{eth0dn}}, ReasonLoopbackOnly, "plug in a cable or join a Wi-Fi"},
		{"only loopback beats counts", snapshot{querying: true, counts: queried(counters{})}, ReasonLoopbackOnly, "loopback"},
		{"multicast off", snapshot{others: []string{"eth0"}}, ReasonNoMulticast, "none of the network interfaces here (eth0) can carry multicast"},
		{"only a tunnel", snapshot{others: []string{"wg0"}}, ReasonNoMulticast, "(wg0)"},
		{"many without multicast", snapshot{others: []string{"a", "b", "c", "d", "e"}}, ReasonNoMulticast, "(a, b, c, d, …)"},
		{"a tunnel beside a cable out", snapshot{ifaces: []ifaceState{eth0nc}, others: []string{"wg0"}}, ReasonNoCarrier, "eth0 has no link"},
		{"no carrier", snapshot{ifaces: []ifaceState{eth0nc}}, ReasonNoCarrier, "eth0 has no link (cable out, or Wi-Fi not connected): plug in the cable or join a Wi-Fi"},
		{"no carrier anywhere", snapshot{ifaces: []ifaceState{docker0, eth0nc, wlan0nc}}, ReasonNoCarrier, "none of docker0, eth0, wlan0 has a link"},
		{"no carrier, one down", snapshot{ifaces: []ifaceState{eth0dn, wlan0nc}}, ReasonNoCarrier, "nobody found: wlan0 has no link"},
		{"named, no carrier", snapshot{named: true, ifaces: []ifaceState{wlan0nc}}, ReasonNoCarrier, "wlan0 has no link"},
		{"a cable out beside one in use", snapshot{ifaces: []ifaceState{eth0, wlan0nc}}, ReasonNone, ""},
		{"no address", snapshot{ifaces: []ifaceState{eth0na}}, ReasonNoRoute,
			"nobody found: no route for multicast: eth0 has a link but no IP address (no DHCP lease yet?): wait for one, or set an address"},
		{"no address anywhere", snapshot{ifaces: []ifaceState{eth0na, wlan0na}}, ReasonNoRoute, "none of eth0, wlan0 has an IP address"},
		{"no address, the other without link", snapshot{ifaces: []ifaceState{docker0, eth0na}}, ReasonNoRoute, "eth0 has a link but no IP address"},
		{"no address beside another failure", snapshot{ifaces: []ifaceState{eth0err, wlan0na}}, ReasonNone, ""},
		{"a responder that cannot start", snapshot{ifaces: []ifaceState{eth0err}}, ReasonNone, ""},
		{"no default route: in use, own answers", snapshot{ifaces: inUse, querying: true, counts: queried(counters{answers: 3, own: 3})}, ReasonNone, ""},
		{"named missing", snapshot{named: true, ifaces: []ifaceState{eth9}}, ReasonNone, ""},
		{"named down", snapshot{named: true, ifaces: []ifaceState{eth0dn}}, ReasonNone, ""},
		{"named, one missing, one without link", snapshot{named: true, ifaces: []ifaceState{eth9, wlan0nc}}, ReasonNoCarrier, "wlan0 has no link"},
		{"foreign", snapshot{ifaces: inUse, querying: true,
			counts: queried(counters{answers: 3, own: 1, foreign: foreignIDs("a", "b")})}, ReasonForeignKey,
			"nobody found on your key: 2 lanchat peers nearby use a different key — check --key (or --key-file)"},
		{"one foreign", snapshot{ifaces: inUse, querying: true,
			counts: queried(counters{answers: 2, own: 1, foreign: foreignIDs("a")})}, ReasonForeignKey, "1 lanchat peer nearby uses a different key"},
		{"foreign, and ours found", snapshot{ifaces: inUse, querying: true,
			counts: queried(counters{answers: 3, own: 1, found: 1, foreign: foreignIDs("a")})}, ReasonNone, ""},
		{"firewall", snapshot{ifaces: inUse, querying: true, counts: queried(counters{})},
			ReasonFirewall, "not even this machine's own: a firewall may block mDNS (UDP 5353)"},
		{"firewall, a Wi-Fi not joined beside", snapshot{ifaces: []ifaceState{eth0, wlan0nc}, querying: true, counts: queried(counters{})},
			ReasonFirewall, "firewall"},
		{"no query yet", snapshot{ifaces: inUse, querying: true}, ReasonNone, ""},
		{"failing: counts not judged", snapshot{ifaces: inUse, counts: queried(counters{})}, ReasonNone, ""},
		{"others' answers, not our own: not a firewall here", snapshot{ifaces: inUse, querying: true, counts: queried(counters{answers: 2})}, ReasonNone, ""},
		{"alone, own answers", snapshot{ifaces: inUse, querying: true, counts: queried(counters{answers: 3, own: 3})}, ReasonNone, ""},
		{"found", snapshot{counts: counters{found: 1}}, ReasonNone, ""},
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
		env := snapshot{ifaces: []ifaceState{eth0}}
		d := newDiagState(h, func() snapshot { return env }, slog.New(slog.DiscardHandler), time.Now())
		defer d.stop()
		if other := newDiagState(struct{ Handler }{h}, nil, nil, time.Now()); other.due() != nil {
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
		env = snapshot{ifaces: []ifaceState{eth0nc}}
		d.sent(0)
		d.check(time.Now(), true)
		want("no carrier, at once", ReasonFirewall, ReasonNone, ReasonForeignKey, ReasonNoCarrier)
		// A window started again (the link was down, see runner.diagnose)
		// is not due before diagnoseAfter.
		env = snapshot{ifaces: []ifaceState{eth0}}
		d.restart(time.Now())
		d.sent(0)
		d.check(time.Now(), false)
		want("restarted", ReasonFirewall, ReasonNone, ReasonForeignKey, ReasonNoCarrier)
		<-d.due()
		d.check(time.Now(), false)
		want("restarted, then due", ReasonFirewall, ReasonNone, ReasonForeignKey, ReasonNoCarrier, ReasonFirewall)
	})
}
