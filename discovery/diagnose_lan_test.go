package discovery_test

import (
	"strings"
	"testing"
	"time"

	"lanchat/discovery"
	"lanchat/internal/netns"
)

// Every agent is a discovery.Diagnoser: it prints
// {"ev":"diagnosis","id":REASON,"err":SENTENCE,"count":FOREIGN}
// (agentEvent has no field of its own for them: id and err carry them).
func (o *agentOut) Diagnose(d discovery.Diagnosis) {
	o.emit(agentEvent{Ev: "diagnosis", ID: string(d.Reason), Err: d.Text, Count: d.Foreign})
}

func isDiagnosis(e agentEvent) bool { return e.Ev == "diagnosis" }

// wantDiagnosis waits for a's first diagnosis within d, requires it to be
// want and logs its sentence; it returns the event.
func wantDiagnosis(t *testing.T, a *agent, d time.Duration, want discovery.Reason) agentEvent {
	t.Helper()
	e := a.waitFor(t, d, "a diagnosis", isDiagnosis)
	if discovery.Reason(e.ID) != want {
		t.Fatalf("%s on %s: diagnosis %q (%q), want %q", a.id, a.host.Name(), e.ID, e.Err, want)
	}
	if want != discovery.ReasonNone && e.Err == "" {
		t.Errorf("%s: diagnosis %q without a sentence", a.id, e.ID)
	}
	t.Logf("%s: diagnosis %q %v after its start: %q", a.id, e.ID, e.at.Sub(a.started).Round(time.Millisecond), e.Err)
	return e
}

// expectNoDiagnosis waits, within d, until a has judged a diagnosis
// window that ended at least 7 s after its start (its debug log says
// so): by then any window of 3 s without a peer found would have been
// judged, and told, seconds before. Then it fails if a told a diagnosis.
func expectNoDiagnosis(t *testing.T, a *agent, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for lastJudged(a).Sub(a.started) < 2*3*time.Second+time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no diagnosis window judged 7 s after its start, within %v", a.id, d)
		}
		time.Sleep(20 * time.Millisecond) // polling the log for an event
	}
	drain(t, a)
	for _, e := range a.backlog {
		if isDiagnosis(e) {
			t.Fatalf("%s: diagnosis %q (%q), want none", a.id, e.ID, e.Err)
		}
	}
}

// drain moves the events a has printed so far, and the test not read,
// to its backlog.
func drain(t *testing.T, a *agent) {
	t.Helper()
	for {
		select {
		case e, ok := <-a.events:
			if !ok {
				t.Fatalf("agent %s exited (%v)", a.id, a.exitErr)
			}
			a.backlog = append(a.backlog, e)
			continue
		default:
		}
		return
	}
}

// Reasons known at once (discovery cannot even query) are told within
// this of the start; the others after the queries' fair chance (3 s).
const (
	atOnce     = 2 * time.Second
	fairChance = 10 * time.Second
)

// TestDiagnoseLoopbackOnly: a machine with nothing but lo is told so at
// once, before it is told that discovery waits for the network.
func TestDiagnoseLoopbackOnly(t *testing.T) {
	h := netns.NewLoopbackOnly(t)
	a := startAgent(t, h, "lonely", "net-a", "DA_WAIT=1")
	wantDiagnosis(t, a, atOnce, discovery.ReasonLoopbackOnly)
	a.waitFor(t, atOnce, "unavailable", func(e agentEvent) bool { return e.Ev == "unavailable" })
}

// TestDiagnoseMulticastOff: an interface with multicast off, the only one
// besides lo, is told at once.
func TestDiagnoseMulticastOff(t *testing.T) {
	lan := netns.New(t, 1)
	lan.Host(1).MulticastOff()
	a := startAgent(t, lan.Host(1), "deaf", "net-a", "DA_WAIT=1")
	wantDiagnosis(t, a, atOnce, discovery.ReasonNoMulticast)
}

// TestDiagnoseNoDefaultRoute: a host without a default route (a LAN
// without a gateway) queries all the same (queries name their
// interface): it finds its peer and is told nothing, not even once the
// first window was judged.
func TestDiagnoseNoDefaultRoute(t *testing.T) {
	lan := netns.New(t, 2)
	h := lan.Host(1)
	h.NoDefaultRoute()
	a := startAgent(t, h, "unrouted", "net-a", "DA_WAIT=1")
	startAgent(t, lan.Host(2), "other", "net-a")
	a.waitFor(t, 10*time.Second, "found other", foundID("other"))
	deadline := time.Now().Add(fairChance)
	for lastJudged(a).IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no diagnosis window judged within %v", a.id, fairChance)
		}
		time.Sleep(20 * time.Millisecond) // polling the log for an event
	}
	drain(t, a)
	for _, e := range a.backlog {
		if isDiagnosis(e) || e.Ev == "unavailable" {
			t.Errorf("%s without a default route: %+v, want nothing", a.id, e)
		}
	}
}

// TestDiagnoseNoAddress: a host whose interface has a link but no
// address at all (waiting for DHCP) has no route for multicast: told at
// once, before the Unavailable it explains. With its addresses back it
// finds its peer and the diagnosis is withdrawn.
func TestDiagnoseNoAddress(t *testing.T) {
	lan := netns.New(t, 2)
	h := lan.Host(1)
	h.NoAddress()
	a := startAgent(t, h, "unaddressed", "net-a", "DA_WAIT=1", "DA_INTERVAL_MS=500")
	startAgent(t, lan.Host(2), "other", "net-a", "DA_INTERVAL_MS=500")
	e := wantDiagnosis(t, a, atOnce, discovery.ReasonNoRoute)
	if want := netns.HostIface + " has a link but no IP address"; !strings.Contains(e.Err, want) {
		t.Errorf("diagnosis %q does not say %q", e.Err, want)
	}
	a.waitFor(t, atOnce, "unavailable", func(e agentEvent) bool { return e.Ev == "unavailable" })
	h.Readdress()
	a.waitFor(t, 10*time.Second, "found other", foundID("other"))
	wantDiagnosis(t, a, 10*time.Second, discovery.ReasonNone)
}

// TestDiagnoseNoCarrier: a host that starts with its cable out (the
// switch side of its veth down; its own interface up, with addresses and
// routes) cannot use it: told at once, before the Unavailable it
// explains, and not as a link down (it had no peers to lose). With the
// cable back it finds its peer and the diagnosis is withdrawn.
func TestDiagnoseNoCarrier(t *testing.T) {
	lan := netns.New(t, 2)
	h := lan.Host(1)
	h.Unplug()
	a := startAgent(t, h, "unplugged", "net-a", "DA_WAIT=1", "DA_LINK=1", "DA_INTERVAL_MS=500", "DA_MAX_INTERVAL_MS=500")
	startAgent(t, lan.Host(2), "other", "net-a", "DA_INTERVAL_MS=500")
	e := wantDiagnosis(t, a, atOnce, discovery.ReasonNoCarrier)
	if want := netns.HostIface + " has no link"; !strings.Contains(e.Err, want) {
		t.Errorf("diagnosis %q does not say %q", e.Err, want)
	}
	a.waitFor(t, atOnce, "unavailable", func(e agentEvent) bool { return e.Ev == "unavailable" })
	h.Replug()
	a.waitFor(t, 10*time.Second, "found other", foundID("other"))
	wantDiagnosis(t, a, 10*time.Second, discovery.ReasonNone)
	drain(t, a)
	for _, e := range a.backlog {
		if e.Ev == "linkdown" || e.Ev == "linkup" {
			t.Errorf("%s, started without carrier, was told %+v, want only the diagnosis", a.id, e)
		}
	}
}

// TestDiagnoseForeignKey: a node alone on its key among nodes of another
// one is told how many there are; those that found each other are told
// nothing.
func TestDiagnoseForeignKey(t *testing.T) {
	lan := netns.New(t, 3)
	fast := "DA_INTERVAL_MS=1000"
	mine1 := startAgent(t, lan.Host(1), "mine1", "net-a", fast)
	mine2 := startAgent(t, lan.Host(2), "mine2", "net-a", fast)
	stranger := startAgent(t, lan.Host(3), "stranger", "net-b", fast)
	e := wantDiagnosis(t, stranger, fairChance, discovery.ReasonForeignKey)
	if e.Count != 2 {
		t.Errorf("stranger: diagnosis counts %d foreign peers, want 2", e.Count)
	}
	for _, a := range []*agent{mine1, mine2} {
		expectNoDiagnosis(t, a, 2*fairChance)
	}
}

// TestDiagnoseFirewall: a host whose firewall drops mDNS (UDP 5353 in)
// gets no answer, not even its own: a firewall is suspected. Its
// neighbour, which hears its own answers but nobody else's, is told
// nothing: nothing is known to be wrong there.
func TestDiagnoseFirewall(t *testing.T) {
	lan := netns.New(t, 2)
	lan.Host(1).BlockMDNS()
	walled := startAgent(t, lan.Host(1), "walled", "net-a", "DA_INTERVAL_MS=1000")
	open := startAgent(t, lan.Host(2), "open", "net-a", "DA_INTERVAL_MS=1000")
	wantDiagnosis(t, walled, fairChance, discovery.ReasonFirewall)
	expectNoDiagnosis(t, open, 2*fairChance)
}

// lastJudged returns when a last judged a diagnosis window, from its
// debug log; zero if never.
func lastJudged(a *agent) time.Time {
	var last time.Time
	for _, line := range strings.Split(a.stderr.String(), "\n") {
		if !strings.Contains(line, `msg="mdns diagnosis"`) {
			continue
		}
		f, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		if at, err := time.Parse(time.RFC3339Nano, f); err == nil {
			last = at
		}
	}
	return last
}

// TestDiagnoseNamed: with --iface (Config.Ifaces) the diagnosis looks at
// the interfaces named only: a machine whose eth0 has no carrier is told
// so when eth0 is the one named, though its eth1 works; not named, it
// finds its peer on eth1 and is told nothing.
func TestDiagnoseNamed(t *testing.T) {
	lanA, lanB := netns.New(t, 1), netns.New(t, 1)
	m := lanA.Host(1)
	eth1 := lanB.Attach(m, "eth1")
	m.Unplug()
	startAgent(t, lanB.Host(1), "b1", "net-a", "DA_INTERVAL_MS=500")
	named := startAgent(t, m, "named", "net-a", "DA_WAIT=1", "DA_IFACE="+netns.HostIface)
	e := wantDiagnosis(t, named, atOnce, discovery.ReasonNoCarrier)
	if want := "nobody found: " + netns.HostIface + " has no link"; !strings.HasPrefix(e.Err, want) {
		t.Errorf("diagnosis %q, want it to start with %q", e.Err, want)
	}
	named.terminate(t)
	every := startAgent(t, m, "every", "net-a", "DA_WAIT=1")
	every.waitFor(t, 10*time.Second, "found b1 on "+eth1.Iface, foundID("b1"))
	drain(t, every)
	for _, e := range every.backlog {
		if isDiagnosis(e) {
			t.Errorf("every interface, one in use: diagnosis %q (%q), want none", e.ID, e.Err)
		}
	}
}
