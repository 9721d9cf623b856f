package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

// connIDs returns the IDs of n's connections to other.
func connIDs(n, other *testNode) []string {
	var ids []string
	for _, c := range n.host.Network().ConnsToPeer(other.Host.self) {
		ids = append(ids, c.ID())
	}
	slices.Sort(ids)
	return ids
}

// TestThreeRooms: alice is in three rooms, bob and carol in two each.
// Lines reach exactly the members of their room; when alice parts one
// room its members see her quit there, while in the other two rooms
// nothing happens to anybody and the same connections carry on.
func TestThreeRooms(t *testing.T) {
	t.Parallel()
	a := startHost(t, testConfig("alice"))
	b := startHost(t, testConfig("bob"))
	c := startHost(t, testConfig("carol"))
	members := map[string][]*testNode{"lobby": {a, b}, "dev": {a, b, c}, "ops": {a, c}}
	rooms := map[*testNode]map[string]*Room{a: {}, b: {}, c: {}}
	for name, ns := range members {
		for _, n := range ns {
			rooms[n][name] = n.join(name, "")
		}
	}
	mesh(a, b, c)
	for name, ns := range members {
		waitKnownIn(5*time.Second, name, ns...)
	}

	say := func(round string) {
		t.Helper()
		for name, ns := range members {
			for _, n := range ns {
				if err := rooms[n][name].Send(t.Context(), n.name+" "+round+" in "+name); err != nil {
					t.Fatalf("%s: Send in %s = %v", n.name, name, err)
				}
			}
		}
		for name, ns := range members {
			for _, rx := range ns {
				for _, tx := range ns {
					text := tx.name + " " + round + " in " + name
					ev := rx.wait(5*time.Second, text, in(name, isMessage(text)))
					if ev.PeerID != tx.id() || ev.Self != (rx == tx) {
						t.Errorf("%s got %+v", rx.name, ev)
					}
				}
			}
		}
	}
	say("hello")
	say("again") // time for strays of the first round to show
	for _, n := range []*testNode{a, b, c} {
		for _, ev := range n.events() {
			if ev.Room != "" && rooms[n][ev.Room] == nil {
				t.Errorf("%s got an event of %q, a room it is not in: %+v", n.name, ev.Room, ev)
			}
			if ev.Kind == chat.KindMessage && !strings.HasSuffix(ev.Text, " in "+ev.Room) {
				t.Errorf("%s got %q in %q", n.name, ev.Text, ev.Room)
			}
		}
		for name, r := range rooms[n] {
			if got, want := len(r.Members()), len(members[name]); got != want {
				t.Errorf("%s: %d members in %s, want %d: %+v", n.name, got, name, want, r.Members())
			}
		}
	}

	ab, ac := connIDs(a, b), connIDs(a, c)
	if len(ab) == 0 || len(ac) == 0 {
		t.Fatalf("alice's connections: %v to bob, %v to carol", ab, ac)
	}
	start := time.Now()
	if err := rooms[a]["dev"].Leave(t.Context()); err != nil {
		t.Fatalf("Leave(dev) = %v", err)
	}
	t.Logf("left dev in %v", time.Since(start))
	for _, n := range []*testNode{b, c} {
		n.wait(2*time.Second, "alice's quit in dev", in("dev", isLeave(a, chat.ReasonQuit)))
	}
	a.wait(time.Second, "own leave", in("dev", func(ev chat.Event) bool {
		return ev.Kind == chat.KindLeave && ev.Self && ev.Reason == chat.ReasonQuit
	}))
	if err := rooms[a]["dev"].Send(t.Context(), "gone"); !errors.Is(err, chat.ErrLeft) {
		t.Errorf("Send in a parted room = %v, want chat.ErrLeft", err)
	}

	// The two other rooms and dev without alice carry on; a false "lost"
	// would show within LostAfter.
	delete(rooms[a], "dev")
	members["dev"] = []*testNode{b, c}
	falseLeave := func(ev chat.Event) bool {
		return ev.Kind == chat.KindLeave && (ev.Reason == chat.ReasonLost || ev.Room != "dev")
	}
	// Time for a false "lost" to show (LostAfter and a heartbeat).
	if ev, ok := b.waitOK(testConfig("").LostAfter+testConfig("").HeartbeatInterval, falseLeave); ok {
		t.Errorf("bob: %+v after alice parted dev", ev)
	}
	say("after")
	for _, n := range []*testNode{a, b, c} {
		for _, ev := range n.events() {
			if falseLeave(ev) {
				t.Errorf("%s: unexpected leave after alice parted dev: %+v", n.name, ev)
			}
			if ev.Room == "dev" && ev.Kind == chat.KindMessage && strings.HasPrefix(ev.Text, "alice after") {
				t.Errorf("%s: alice still speaks in dev: %+v", n.name, ev)
			}
		}
	}
	if n := a.count(in("dev", isMessage("bob after in dev"))); n != 0 {
		t.Errorf("alice still hears dev after parting it")
	}
	if got := connIDs(a, b); !slices.Equal(got, ab) {
		t.Errorf("alice's connections to bob were %v, now %v", ab, got)
	}
	if got := connIDs(a, c); !slices.Equal(got, ac) {
		t.Errorf("alice's connections to carol were %v, now %v", ac, got)
	}

	// Joining again works: the topic and validator were cleaned up.
	rooms[a]["dev"] = a.join("dev", "")
	members["dev"] = []*testNode{a, b, c}
	for _, n := range []*testNode{b, c} {
		n.wait(3*time.Second, "alice back in dev", func(ev chat.Event) bool {
			return in("dev", isJoin(a))(ev) && ev.Time.After(start)
		})
	}
	say("back")

	// Host.Leave leaves every room at once, each confirmed.
	start = time.Now()
	if err := a.Leave(t.Context()); err != nil {
		t.Fatalf("Host.Leave = %v", err)
	}
	t.Logf("left all rooms in %v", time.Since(start))
	for name, r := range rooms[a] {
		if !r.confirmed.Load() {
			t.Errorf("leave of %s not confirmed by every peer", name)
		}
		for _, n := range members[name] {
			if n != a {
				n.wait(2*time.Second, "alice's quit in "+name, func(ev chat.Event) bool {
					return in(name, isLeave(a, chat.ReasonQuit))(ev) && ev.Time.After(start)
				})
			}
		}
	}
}

// TestPrivateRoom: alice and bob share a room passphrase and chat; eve
// (no passphrase) and mallory (a wrong one) join a room of the same name
// and see nothing of it; a raw subscriber to the private topic gets only
// sealed bytes, with neither nicks nor text nor the room's name; a sealed
// envelope signed again by someone else does not open.
func TestPrivateRoom(t *testing.T) {
	// Not parallel: argon2id (64 MiB, both cores, ~0.3 s a key under the
	// race detector) would starve the timing tests that run in parallel.
	psk, _ := GenerateKey()
	mk := func(nick string) *testNode {
		cfg := testConfig(nick)
		cfg.PSK = psk
		return startHost(t, cfg)
	}
	a, b, e, m := mk("alice"), mk("bob"), mk("eve"), mk("mallory")
	const name, pass, text, action = "plans", "correct horse", "the plan is at noon", "nods"
	ra, rb := a.join(name, pass), b.join(name, pass)
	re, rm := e.join(name, ""), m.join(name, "wrong horse")
	if !ra.Private() || re.Private() || ra.wireID == name || ra.wireID != rb.wireID || rm.wireID == ra.wireID {
		t.Fatalf("wire IDs: alice %q bob %q mallory %q", ra.wireID, rb.wireID, rm.wireID)
	}
	tag := ra.wireID
	raw := newRawPeer(t, psk, privateTopic(tag)) // knows the tag, not the passphrase
	mesh(a, b, e, m)
	raw.join(t, a) // connected to alice only: what it publishes reaches her validator first
	waitKnownIn(5*time.Second, name, a, b)

	if err := ra.Send(t.Context(), text); err != nil {
		t.Fatal(err)
	}
	if err := rb.Action(t.Context(), action); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{a, b} {
		if ev := n.wait(3*time.Second, "text", in(name, isMessage(text))); ev.Nick != "alice" || ev.PeerID != a.id() {
			t.Errorf("%s: %+v", n.name, ev)
		}
		if ev := n.wait(3*time.Second, "action", in(name, isMessage(action))); !ev.Action || ev.Nick != "bob" {
			t.Errorf("%s: %+v", n.name, ev)
		}
	}
	// Eve and mallory talk in their own rooms called "plans"; alice and
	// bob must not hear them either.
	re.Send(t.Context(), "eve was here")
	rm.Send(t.Context(), "mallory was here")
	e.wait(3*time.Second, "own line", isMessage("eve was here"))
	m.wait(3*time.Second, "own line", isMessage("mallory was here"))

	// What the raw subscriber got: sealed envelopes of the tag, nothing
	// readable. It must have got alice's line (the biggest of hers).
	sawText := false
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for got := 0; !sawText; got++ {
		msg, err := raw.sub.Next(ctx)
		if err != nil {
			t.Fatalf("raw subscriber got %d messages: %v", got, err)
		}
		data := msg.GetData()
		for _, secret := range []string{"alice", "bob", name, text, action, pass} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("raw subscriber reads %q in %q", secret, data)
			}
		}
		env, err := wire.Decode(data)
		if err != nil || env.Kind != wire.KindSealed || env.Room != tag {
			t.Errorf("raw subscriber got %+v, %v; want a sealed envelope of %s", env, err, tag)
		}
		if msg.GetFrom().String() != a.id() {
			continue
		}
		if inner, err := ra.open(a.Host.self, data); err != nil || inner.Text != text {
			continue // her join or a heartbeat
		}
		sawText = true
		// Re-signed by the raw peer, alice's sealed line does not open:
		// the additional data binds it to its author.
		if _, err := ra.open(raw.id, data); err == nil {
			t.Errorf("alice's sealed line opens as signed by the raw peer")
		}
		raw.publish(t, data)
	}
	if !sawText {
		t.Errorf("raw subscriber never got alice's line")
	}
	if err := raw.h.Network().ClosePeer(a.Host.self); err != nil { // its forgery went out before
		t.Fatal(err)
	}
	if err := ra.Send(t.Context(), "after the forgery"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{a, b} {
		n.wait(3*time.Second, "later line", isMessage("after the forgery"))
		if c := n.count(isMessage(text)); c != 1 {
			t.Errorf("%s shows alice's line %d times, want once", n.name, c)
		}
	}
	for _, n := range []*testNode{a, b} {
		for _, ev := range n.events() {
			if strings.Contains(ev.Text, "was here") || ev.PeerID == raw.id.String() {
				t.Errorf("%s: %+v", n.name, ev)
			}
		}
	}
	for _, n := range []*testNode{e, m} {
		for _, ev := range n.events() {
			if ev.PeerID == a.id() || ev.PeerID == b.id() || ev.Text == text || ev.Text == action {
				t.Errorf("%s sees the private room: %+v", n.name, ev)
			}
		}
		r := re
		if n == m {
			r = rm
		}
		if ms := r.Members(); len(ms) != 1 {
			t.Errorf("%s: members %+v, want only itself", n.name, ms)
		}
	}
	// Eve sees that a private room exists, by its tag, not what it is.
	want := chat.RoomInfo{ID: tag, Members: 2, Private: true} // alice and bob
	if got := e.Rooms(); !slices.Contains(got, want) {
		t.Errorf("eve's Rooms() = %+v, want %+v among them", got, want)
	}
	wantMine := chat.RoomInfo{Name: name, ID: tag, Members: 2, Joined: true, Private: true}
	if got := a.Rooms(); !slices.Contains(got, wantMine) {
		t.Errorf("alice's Rooms() = %+v, want %+v among them", got, wantMine)
	}

	// A sealed leave is confirmed and seen as a quit.
	if err := rb.Leave(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.wait(2*time.Second, "bob's quit", in(name, isLeave(b, chat.ReasonQuit)))
	if !rb.confirmed.Load() {
		t.Errorf("bob's leave of the private room was not confirmed by alice")
	}
}

// TestHostRooms: Rooms lists the joined rooms and those peers are in, with
// member counts; a private room by its tag only, unless joined.
func TestHostRooms(t *testing.T) {
	// Not parallel: argon2id (64 MiB, both cores, ~0.3 s a key under the
	// race detector) would starve the timing tests that run in parallel.
	a := startHost(t, testConfig("alice"))
	b := startHost(t, testConfig("bob"))
	c := startHost(t, testConfig("carol"))
	for _, n := range []*testNode{a, b, c} {
		n.join("lobby", "")
	}
	a.join("x", "")
	b.join("y", "")
	p := c.join("p", "sesame")
	mesh(a, b, c)
	// Once a peer is heard in the lobby, its subscriptions (sent first) are
	// known.
	waitKnownIn(5*time.Second, "lobby", a, b, c)
	tag := p.wireID

	tests := []struct {
		n    *testNode
		want []chat.RoomInfo
	}{
		{a, []chat.RoomInfo{
			{ID: tag, Members: 1, Private: true},
			{Name: "lobby", Members: 3, Joined: true},
			{Name: "x", Members: 1, Joined: true},
			{Name: "y", Members: 1},
		}},
		{c, []chat.RoomInfo{
			{Name: "lobby", Members: 3, Joined: true},
			{Name: "p", ID: tag, Members: 1, Joined: true, Private: true},
			{Name: "x", Members: 1},
			{Name: "y", Members: 1},
		}},
	}
	for _, tt := range tests {
		if got := tt.n.Rooms(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Rooms() =\n%+v\nwant\n%+v", tt.n.name, got, tt.want)
		}
	}
}

// recorder is a Sink that keeps what it gets.
type recorder struct {
	mu   sync.Mutex
	recs []Record
}

func (r *recorder) Append(rec Record) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
}

func (r *recorder) records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// TestSink: a room's sink gets every accepted record, its own too, in
// order, each with the signed message, which verifies; a changed byte
// does not.
func TestSink(t *testing.T) {
	// Not parallel: argon2id (64 MiB, both cores, ~0.3 s a key under the
	// race detector) would starve the timing tests that run in parallel.
	for _, pass := range []string{"", "sesame"} {
		t.Run(fmt.Sprintf("private=%v", pass != ""), func(t *testing.T) {
			t.Parallel()
			a := startHost(t, testConfig("alice"))
			b := startHost(t, testConfig("bob"))
			var sink recorder
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			ra, err := a.Join(ctx, "lobby", RoomOptions{Passphrase: pass, Sink: &sink})
			if err != nil {
				t.Fatal(err)
			}
			a.collect(ra.Events())
			rb := b.join("lobby", pass)
			b.connect(a)
			waitKnownIn(5*time.Second, "lobby", a, b)
			for i := range 5 {
				rb.Send(ctx, fmt.Sprint("line ", i))
			}
			a.wait(3*time.Second, "last line", isMessage("line 4"))
			ra.Send(ctx, "mine")
			a.wait(3*time.Second, "own line", isMessage("mine"))

			var lines []string
			var prev uint64
			for _, rec := range sink.records() {
				if err := rec.Verify(); err != nil {
					t.Errorf("Verify(%s) = %v", rec.ID, err)
				}
				if rec.Room != "lobby" || rec.Envelope.Room != ra.wireID || rec.Received.IsZero() ||
					rec.ID != fmt.Sprintf("%s/%016x", rec.Author, rec.Seqno) || rec.Envelope.Kind == wire.KindSealed {
					t.Errorf("record %+v", rec)
				}
				if rec.Author == b.Host.self {
					if rec.Seqno <= prev {
						t.Errorf("bob's records out of order: %d after %d", rec.Seqno, prev)
					}
					prev = rec.Seqno
				}
				if rec.Envelope.Kind == wire.KindMessage {
					lines = append(lines, rec.Envelope.Text)
				}
				bad := rec
				bad.Raw = bytes.Clone(rec.Raw)
				bad.Raw[len(bad.Raw)/2] ^= 1
				if err := bad.Verify(); !errors.Is(err, ErrBadRecord) {
					t.Errorf("Verify(changed record) = %v, want ErrBadRecord", err)
				}
				other := rec
				other.Author = a.Host.self
				if rec.Author == a.Host.self {
					other.Author = b.Host.self
				}
				if err := other.Verify(); !errors.Is(err, ErrBadRecord) {
					t.Errorf("Verify(record of another author) = %v, want ErrBadRecord", err)
				}
			}
			want := []string{"line 0", "line 1", "line 2", "line 3", "line 4", "mine"}
			if !slices.Equal(lines, want) {
				t.Errorf("sink got lines %q, want %q", lines, want)
			}
		})
	}
}

func TestJoinErrors(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig("alice"))
	for _, name := range []string{"", "my room", "#lobby", strings.Repeat("r", chat.MaxRoomBytes+1), "a\x00b"} {
		if _, err := n.Join(t.Context(), name, RoomOptions{}); !errors.Is(err, chat.ErrInvalidRoom) {
			t.Errorf("Join(%q) = %v, want chat.ErrInvalidRoom", name, err)
		}
	}
	for _, pass := range []string{"", "sesame"} {
		if _, err := n.Join(t.Context(), testRoom, RoomOptions{Passphrase: pass}); !errors.Is(err, chat.ErrAlreadyJoined) {
			t.Errorf("Join(%q, %q) again = %v, want chat.ErrAlreadyJoined", testRoom, pass, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := n.Join(ctx, "late", RoomOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Join(cancelled) = %v, want context.Canceled", err)
	}
	n.join("late", "") // the failed join left nothing behind
}

// TestSetNickEveryRoom: one nick per host, announced in every room.
func TestSetNickEveryRoom(t *testing.T) {
	t.Parallel()
	a := startHost(t, testConfig("alice"))
	b := startHost(t, testConfig("bob"))
	for _, name := range []string{"lobby", "dev"} {
		a.join(name, "")
		b.join(name, "")
	}
	b.connect(a)
	waitKnownIn(5*time.Second, "lobby", a, b)
	waitKnownIn(5*time.Second, "dev", a, b)
	if err := a.SetNick(t.Context(), "alice2"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lobby", "dev"} {
		for _, n := range []*testNode{a, b} {
			ev := n.wait(2*time.Second, "nick in "+name, in(name, func(ev chat.Event) bool {
				return ev.Kind == chat.KindNick && ev.PeerID == a.id()
			}))
			if ev.OldNick != "alice" || ev.Nick != "alice2" || ev.Self != (n == a) {
				t.Errorf("%s: %+v", n.name, ev)
			}
		}
	}
	if got := a.Info().Nick; got != "alice2" {
		t.Errorf("Info().Nick = %q", got)
	}
	r := a.join("ops", "") // a room joined later has the new nick
	if ms := r.Members(); len(ms) != 1 || ms[0].Nick != "alice2" {
		t.Errorf("members of a new room: %+v", ms)
	}
	a.wait(time.Second, "own join", in("ops", func(ev chat.Event) bool {
		return ev.Kind == chat.KindJoin && ev.Self && ev.Nick == "alice2"
	}))
}

// TestLivenessNewest pins the validator's side of presence: which envelope
// is the newest of an author in a room, and whether it is a leave.
func TestLivenessNewest(t *testing.T) {
	l := newLiveness()
	p := peer.ID("bob")
	t0 := time.Unix(0, 0)
	steps := []struct {
		seq     uint64
		leave   bool
		newest  bool
		leaving bool
	}{
		{10, false, true, false},
		{12, true, true, true},   // the leave
		{11, false, false, true}, // sent before it, arrived after: still leaving
		{20, false, true, false}, // back
		{15, true, false, false}, // a stale leave
	}
	for i, s := range steps {
		if got := l.heard(p, s.seq, t0.Add(time.Duration(i)*time.Second), s.leave); got != s.newest {
			t.Errorf("step %d: heard(%d, leave %v) = %v, want %v", i, s.seq, s.leave, got, s.newest)
		}
		if h := l.peers[p]; h.leaving != s.leaving || !h.at.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Errorf("step %d: %+v, want leaving %v", i, h, s.leaving)
		}
	}
}

// TestJoinLimit: a host joins at most roomLimit rooms at once (peers
// track no more of its topics, and their heartbeats must stay within the
// send budget); leaving one makes room.
func TestJoinLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig("alice")
	n := startHost(t, cfg)
	limit := roomLimit(cfg.HeartbeatInterval)
	var rooms []*Room
	for i := range limit {
		rooms = append(rooms, n.join(fmt.Sprint("r", i), ""))
	}
	_, err := n.Join(t.Context(), "one-too-many", RoomOptions{})
	if !errors.Is(err, ErrTooManyRooms) || !strings.Contains(err.Error(), fmt.Sprint("at most ", limit)) {
		t.Fatalf("Join of room %d = %v, want ErrTooManyRooms", limit+1, err)
	}
	if err := rooms[0].Leave(t.Context()); err != nil {
		t.Fatal(err)
	}
	n.join("one-too-many", "")
}
