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
		break
	}
	for _, e := range a.backlog {
		if isDiagnosis(e) {
			t.Fatalf("%s: diagnosis %q (%q), want none", a.id, e.ID, e.Err)
		}
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

// TestDiagnoseNoDefaultRoute: without a default route discovery cannot
// query; told at once. Once the route is back and a peer found, the
// diagnosis is withdrawn (ReasonNone).
func TestDiagnoseNoDefaultRoute(t *testing.T) {
	lan := netns.New(t, 2)
	h := lan.Host(1)
	h.NoDefaultRoute()
	a := startAgent(t, h, "unrouted", "net-a", "DA_WAIT=1", "DA_INTERVAL_MS=500")
	startAgent(t, lan.Host(2), "other", "net-a")
	wantDiagnosis(t, a, atOnce, discovery.ReasonNoRoute)
	h.MustRun("ip", "route", "add", "default", "dev", netns.HostIface)
	a.waitFor(t, 10*time.Second, "found other", foundID("other"))
	wantDiagnosis(t, a, 10*time.Second, discovery.ReasonNone)
}

// TestDiagnoseNoCarrier: a host whose cable is out (the switch side of
// its veth down; its own interface up, with addresses and routes) is told
// after the fair chance; with the cable back it finds its peer and the
// diagnosis is withdrawn.
func TestDiagnoseNoCarrier(t *testing.T) {
	lan := netns.New(t, 2)
	h := lan.Host(1)
	h.CarrierOff()
	a := startAgent(t, h, "unplugged", "net-a", "DA_WAIT=1", "DA_INTERVAL_MS=500", "DA_MAX_INTERVAL_MS=500")
	startAgent(t, lan.Host(2), "other", "net-a", "DA_INTERVAL_MS=500")
	e := wantDiagnosis(t, a, fairChance, discovery.ReasonNoCarrier)
	if d := e.at.Sub(a.started); d < 3*time.Second {
		t.Errorf("no carrier told %v after the start, want after the queries' 3 s", d)
	}
	h.CarrierOn()
	a.waitFor(t, 10*time.Second, "found other", foundID("other"))
	wantDiagnosis(t, a, 10*time.Second, discovery.ReasonNone)
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
