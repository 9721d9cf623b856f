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

	"lanchat/node/chat"
)

// testRoom is the room most tests use.
const testRoom = chat.DefaultRoom

// testNode is a started Host, usually in testRoom, whose events (the
// host's and every room's it joined through the helpers) are collected in
// the background, in one log.
type testNode struct {
	*Host
	room *Room // testRoom, or nil (see startHost)
	t    testing.TB
	name string

	mu      sync.Mutex
	evs     []chat.Event
	changed chan struct{} // closed and replaced on every new event
	readers sync.WaitGroup
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

// startHost starts a host in no room and closes it when the test ends.
func startHost(t testing.TB, cfg Config) *testNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start(%s) = %v", cfg.Nick, err)
	}
	tn := &testNode{Host: h, t: t, name: cfg.Nick, changed: make(chan struct{})}
	tn.collect(h.Events())
	t.Cleanup(func() { tn.close() })
	return tn
}

// startNode starts a host in testRoom and closes it when the test ends.
func startNode(t testing.TB, cfg Config) *testNode {
	t.Helper()
	tn := startHost(t, cfg)
	tn.room = tn.join(testRoom, "")
	return tn
}

// join joins a room and collects its events.
func (tn *testNode) join(name, passphrase string) *Room {
	tn.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := tn.Join(ctx, name, RoomOptions{Passphrase: passphrase})
	if err != nil {
		tn.t.Fatalf("%s: Join(%q) = %v", tn.name, name, err)
	}
	tn.collect(r.Events())
	return r
}

// collect appends the events of ch to the log until ch is closed.
func (tn *testNode) collect(ch <-chan chat.Event) {
	tn.readers.Go(func() {
		for ev := range ch {
			tn.mu.Lock()
			tn.evs = append(tn.evs, ev)
			close(tn.changed)
			tn.changed = make(chan struct{})
			tn.mu.Unlock()
		}
	})
}

// Send, Action and Members are those of the node's testRoom.
func (tn *testNode) Send(text string) error   { return tn.room.Send(context.Background(), text) }
func (tn *testNode) Action(text string) error { return tn.room.Action(context.Background(), text) }
func (tn *testNode) Members() []chat.Member   { return tn.room.Members() }

// close leaves every room, closes the host and waits until all its events
// are drained, as a front end's quit does.
func (tn *testNode) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tn.Leave(ctx); err != nil && err != chat.ErrClosed {
		tn.t.Errorf("Leave(%s) = %v", tn.name, err)
	}
	if err := tn.Close(); err != nil {
		tn.t.Errorf("Close(%s) = %v", tn.name, err)
	}
	tn.waitDrained(ctx)
}

// crash closes the host without a leave, as if the process had died, to
// provoke "lost".
func (tn *testNode) crash() {
	if err := tn.Close(); err != nil {
		tn.t.Errorf("Close(%s) = %v", tn.name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tn.waitDrained(ctx)
}

func (tn *testNode) waitDrained(ctx context.Context) {
	drained := make(chan struct{})
	go func() { tn.readers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		tn.t.Errorf("Events of %s not closed after Close", tn.name)
	}
}

// events returns a copy of the events so far.
func (tn *testNode) events() []chat.Event {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return append([]chat.Event(nil), tn.evs...)
}

// wait returns the first event (from the start) matching match, waiting up
// to d for it.
func (tn *testNode) wait(d time.Duration, what string, match func(chat.Event) bool) chat.Event {
	tn.t.Helper()
	ev, ok := tn.waitOK(d, match)
	if !ok {
		tn.t.Fatalf("%s: no %s within %v; events:\n%s", tn.name, what, d, formatEvents(tn.events()))
	}
	return ev
}

func (tn *testNode) waitOK(d time.Duration, match func(chat.Event) bool) (chat.Event, bool) {
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
			return chat.Event{}, false
		}
	}
}

// count returns how many events so far match.
func (tn *testNode) count(match func(chat.Event) bool) int {
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

// Event matchers. Those without a room match events of any room.

func isJoin(of *testNode) func(chat.Event) bool {
	id := of.id()
	return func(ev chat.Event) bool { return ev.Kind == chat.KindJoin && ev.PeerID == id }
}

func isLeave(of *testNode, reason string) func(chat.Event) bool {
	id := of.id()
	return func(ev chat.Event) bool { return ev.Kind == chat.KindLeave && ev.PeerID == id && ev.Reason == reason }
}

func isMessage(text string) func(chat.Event) bool {
	return func(ev chat.Event) bool { return ev.Kind == chat.KindMessage && ev.Text == text }
}

// in restricts match to events of room.
func in(room string, match func(chat.Event) bool) func(chat.Event) bool {
	return func(ev chat.Event) bool { return ev.Room == room && match(ev) }
}

func formatEvents(evs []chat.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s #%s %s peer=%.12s nick=%q old=%q reason=%s text=%q self=%v\n",
			ev.Time.Format("15:04:05.000"), ev.Room, ev.Kind, ev.PeerID, ev.Nick, ev.OldNick, ev.Reason, ev.Text, ev.Self)
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

// waitKnownIn is waitKnown for the joins of one room.
func waitKnownIn(d time.Duration, room string, nodes ...*testNode) {
	end := time.Now().Add(d)
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.wait(max(time.Until(end), 0), "join of "+b.name+" in "+room, in(room, isJoin(b)))
			}
		}
	}
}

// startPair starts alice and bob, connects them and waits until they
// know each other.
func startPair(t testing.TB) (a, b *testNode) {
	t.Helper()
	a = startNode(t, testConfig("alice"))
	b = startNode(t, testConfig("bob"))
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	return a, b
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
