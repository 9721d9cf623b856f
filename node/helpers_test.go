package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// testNode is a started Node whose events are collected in the background.
type testNode struct {
	*Node
	t    testing.TB
	name string

	mu      sync.Mutex
	evs     []Event
	changed chan struct{} // closed and replaced on every new event
	drained chan struct{} // closed when Events is closed
}

// testConfig is a Config for in-process tests: loopback only, quick presence.
func testConfig(nick string) Config {
	cfg := DefaultConfig()
	cfg.Nick = nick
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.HeartbeatInterval = 250 * time.Millisecond
	cfg.LostAfter = time.Second
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("nick", nick)
	}
	return cfg
}

// startNode starts a node and closes it when the test ends.
func startNode(t testing.TB, cfg Config) *testNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start(%s) = %v", cfg.Nick, err)
	}
	tn := &testNode{Node: n, t: t, name: cfg.Nick, changed: make(chan struct{}), drained: make(chan struct{})}
	go func() {
		defer close(tn.drained)
		for ev := range n.Events() {
			tn.mu.Lock()
			tn.evs = append(tn.evs, ev)
			close(tn.changed)
			tn.changed = make(chan struct{})
			tn.mu.Unlock()
		}
	}()
	t.Cleanup(func() { tn.close() })
	return tn
}

// crash shuts the node down like Close but without the leave, as if the
// process had died, to provoke "lost".
func (n *Node) crash(ctx context.Context) error {
	n.closeOnce.Do(func() { n.closeErr = n.shutdown(ctx, false) })
	return n.closeErr
}

// beginClose does the first step of Close: it stops heartbeats, static
// dialling and the loops that watch peers, so sendLeave can run alone.
func (n *Node) beginClose() {
	n.closing.Store(true)
	n.stopAnnounce()
	n.annWG.Wait()
}

// close closes the node and waits until its events are drained.
func (tn *testNode) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tn.Close(ctx); err != nil {
		tn.t.Errorf("Close(%s) = %v", tn.name, err)
	}
	select {
	case <-tn.drained:
	case <-ctx.Done():
		tn.t.Errorf("Events of %s not closed after Close", tn.name)
	}
}

// events returns a copy of the events so far.
func (tn *testNode) events() []Event {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return append([]Event(nil), tn.evs...)
}

// wait returns the first event (from the start) matching match, waiting up
// to d for it.
func (tn *testNode) wait(d time.Duration, what string, match func(Event) bool) Event {
	tn.t.Helper()
	ev, ok := tn.waitOK(d, match)
	if !ok {
		tn.t.Fatalf("%s: no %s within %v; events:\n%s", tn.name, what, d, formatEvents(tn.events()))
	}
	return ev
}

func (tn *testNode) waitOK(d time.Duration, match func(Event) bool) (Event, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		tn.mu.Lock()
		for _, ev := range tn.evs {
			if match(ev) {
				tn.mu.Unlock()
				return ev, true
			}
		}
		ch := tn.changed
		tn.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return Event{}, false
		}
	}
}

// count returns how many events so far match.
func (tn *testNode) count(match func(Event) bool) int {
	n := 0
	for _, ev := range tn.events() {
		if match(ev) {
			n++
		}
	}
	return n
}

// addr is the node's /p2p/ multiaddr on loopback.
func (tn *testNode) addr() string {
	for _, a := range tn.Info().Addrs {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/") {
			return a
		}
	}
	tn.t.Fatalf("%s has no loopback address: %v", tn.name, tn.Info().Addrs)
	return ""
}

// connect dials other from tn.
func (tn *testNode) connect(other *testNode) {
	tn.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tn.Connect(ctx, other.addr()); err != nil {
		tn.t.Fatalf("%s: Connect(%s) = %v", tn.name, other.name, err)
	}
}

func (tn *testNode) id() string { return tn.Info().PeerID }

// Event matchers.

func isJoin(of *testNode) func(Event) bool {
	id := of.id()
	return func(ev Event) bool { return ev.Type == EventJoin && ev.PeerID == id }
}

func isLeave(of *testNode, reason string) func(Event) bool {
	id := of.id()
	return func(ev Event) bool { return ev.Type == EventLeave && ev.PeerID == id && ev.Reason == reason }
}

func isMessage(text string) func(Event) bool {
	return func(ev Event) bool { return ev.Type == EventMessage && ev.Text == text }
}

func formatEvents(evs []Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s %s peer=%.12s nick=%q old=%q reason=%s text=%q self=%v\n",
			ev.Time.Format("15:04:05.000"), ev.Type, ev.PeerID, ev.Nick, ev.OldNick, ev.Reason, ev.Text, ev.Self)
	}
	return b.String()
}

// mesh connects every pair of nodes.
func mesh(nodes ...*testNode) {
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			b.connect(a)
		}
	}
}

// waitKnown waits until every node has a join event for every other, all
// within d.
func waitKnown(d time.Duration, nodes ...*testNode) {
	end := time.Now().Add(d)
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.wait(max(time.Until(end), 0), "join of "+b.name, isJoin(b))
			}
		}
	}
}

// startTrio starts alice, bob and carol, connects each to the others and
// waits until all three know each other.
func startTrio(t testing.TB) (a, b, c *testNode) {
	t.Helper()
	a = startNode(t, testConfig("alice"))
	b = startNode(t, testConfig("bob"))
	c = startNode(t, testConfig("carol"))
	mesh(a, b, c)
	waitKnown(5*time.Second, a, b, c)
	return a, b, c
}
