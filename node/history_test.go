package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"lanchat/node/chat"
	"lanchat/node/store"
	"lanchat/node/syncwire"
	"lanchat/node/wire"
)

// historyOf returns the texts of tn's history message events in room, in
// the order they came.
func historyOf(tn *testNode, room string) []string {
	var out []string
	for _, ev := range tn.events() {
		if ev.Room == room && ev.Kind == chat.KindMessage && ev.History {
			out = append(out, ev.Text)
		}
	}
	return out
}

// textCount counts tn's message events with text in room.
func textCount(tn *testNode, room, text string) int {
	return tn.count(in(room, isMessage(text)))
}

// waitLines waits until tn has shown a message event for every text.
func waitLines(tn *testNode, d time.Duration, texts []string) {
	tn.t.Helper()
	end := time.Now().Add(d)
	for _, text := range texts {
		tn.wait(max(time.Until(end), 0), "line "+text, in(testRoom, isMessage(text)))
	}
}

// marker sends a live line from tn and waits until every one of nodes
// shows it: events emitted before it (a duplicate, say) are then
// collected too.
func marker(t *testing.T, from *testNode, text string, nodes ...*testNode) {
	t.Helper()
	if err := from.Send(text); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		ev := n.wait(5*time.Second, "marker "+text, in(testRoom, isMessage(text)))
		if ev.History {
			t.Errorf("%s: live line %q marked history", n.name, text)
		}
	}
}

// TestLateJoiner: alice and bob exchange 50 lines; carol joins and shows
// all 50, in order, once each, marked history, in one batch before the
// live line that follows.
func TestLateJoiner(t *testing.T) {
	a, b := startPair(t)
	var texts []string
	for i := range 50 {
		from := a
		if i%2 == 1 {
			from = b
		}
		text := fmt.Sprintf("line %02d from %s", i, from.name)
		texts = append(texts, text)
		if err := from.Send(text); err != nil {
			t.Fatal(err)
		}
		// Wait for each at the other side, so the order is a conversation.
		other := map[*testNode]*testNode{a: b, b: a}[from]
		other.wait(5*time.Second, text, isMessage(text))
	}
	c := startNode(t, testConfig("carol"))
	c.connect(a)
	c.connect(b)
	c.wait(5*time.Second, "history batch", func(ev chat.Event) bool { return ev.Kind == chat.KindHistory && ev.Count > 0 })
	waitLines(c, 5*time.Second, texts)
	marker(t, a, "live after history", c)

	if got := historyOf(c, testRoom); !slices.Equal(got, texts) {
		t.Fatalf("carol's history = %q\nwant %q", got, texts)
	}
	for _, text := range texts {
		if n := textCount(c, testRoom, text); n != 1 {
			t.Errorf("carol shows %q %d times, want once", text, n)
		}
	}
	// The batch comes before the live line, and nothing is between the
	// history events and their KindHistory.
	evs := c.events()
	last, live := -1, -1
	for i, ev := range evs {
		if ev.Kind == chat.KindMessage && ev.History {
			last = i
		}
		if isMessage("live after history")(ev) {
			live = i
		}
	}
	if last < 0 || live < last {
		t.Errorf("live line at %d, last history line at %d; want history first", live, last)
	}
	for _, n := range []*testNode{a, b} {
		if h := historyOf(n, testRoom); len(h) != 0 {
			t.Errorf("%s shows history %q; it saw every line live", n.name, h)
		}
	}
	// Order keys: non-decreasing in the batch.
	var prev time.Time
	for _, ev := range evs {
		if ev.Kind == chat.KindMessage && ev.History {
			if ev.Order.Before(prev) {
				t.Errorf("history line %q out of order: %v before %v", ev.Text, ev.Order, prev)
			}
			prev = ev.Order
			if ev.Self || ev.Nick == "" || ev.Sent.IsZero() {
				t.Errorf("history event %+v: want another's line with nick and time", ev)
			}
		}
	}
}

// TestAlone: lines sent with nobody there reach the first one to come,
// exactly once.
func TestAlone(t *testing.T) {
	a := startNode(t, testConfig("alice"))
	texts := []string{"anyone?", "hello?", "I'll wait"}
	for _, text := range texts {
		if err := a.Send(text); err != nil {
			t.Fatal(err)
		}
		a.wait(5*time.Second, "own "+text, isMessage(text))
	}
	b := startNode(t, testConfig("bob"))
	b.connect(a)
	waitLines(b, 5*time.Second, texts)
	// Another pull, then a live line: a duplicate would come before it.
	n := b.room.pulled.Load()
	b.sync.queue(b.room, a.self, true)
	deadline := time.Now().Add(5 * time.Second)
	for b.room.pulled.Load() == n && time.Now().Before(deadline) {
		b.waitOK(50*time.Millisecond, func(chat.Event) bool { return false })
	}
	marker(t, a, "welcome", b)
	for _, text := range texts {
		if got := textCount(b, testRoom, text); got != 1 {
			t.Errorf("bob shows %q %d times, want once", text, got)
		}
	}
	if got := historyOf(b, testRoom); !slices.Equal(got, texts) {
		t.Errorf("bob's history = %q, want %q", got, texts)
	}
}

// persistentConfig is testConfig with an identity and data dir in dir.
func persistentConfig(nick, dir string) Config {
	cfg := testConfig(nick)
	cfg.IdentityPath = filepath.Join(dir, "id.key")
	cfg.DataDir = filepath.Join(dir, "data")
	return cfg
}

// TestRestart: a node that stops without a goodbye and starts again shows
// its log from disk, then what it missed meanwhile.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	a := startNode(t, persistentConfig("alice", dir))
	b := startNode(t, testConfig("bob"))
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	before := []string{"before 1", "before 2"}
	for _, text := range before {
		if err := b.Send(text); err != nil {
			t.Fatal(err)
		}
		a.wait(5*time.Second, text, isMessage(text))
	}
	a.crash()
	b.wait(5*time.Second, "alice lost", isLeave(a, chat.ReasonLost))
	missed := []string{"while you were away", "still away?"}
	for _, text := range missed {
		if err := b.Send(text); err != nil {
			t.Fatal(err)
		}
	}
	a2 := startNode(t, persistentConfig("alice", dir))
	if a2.id() != a.id() {
		t.Fatalf("restarted with peer ID %s, want %s", a2.id(), a.id())
	}
	a2.wait(5*time.Second, "disk batch", func(ev chat.Event) bool {
		return ev.Kind == chat.KindHistory && ev.PeerID == "" && ev.Count == len(before)
	})
	a2.connect(b)
	waitLines(a2, 5*time.Second, missed)
	want := append(slices.Clone(before), missed...)
	if got := historyOf(a2, testRoom); !slices.Equal(got, want) {
		t.Errorf("history after restart = %q, want %q", got, want)
	}
	st, err := os.Stat(filepath.Join(dir, "data", a.id(), historyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("log file: %v, %v; want mode 0600", st, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "data", a.id())); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("log dir: %v, %v; want mode 0700", st, err)
	}
}

// TestCorruptLog: a log that cannot be read is moved aside with one
// sentence, and the chat goes on with an empty log.
func TestCorruptLog(t *testing.T) {
	dir := t.TempDir()
	a := startHost(t, persistentConfig("alice", dir))
	id := a.id()
	a.close()
	path := filepath.Join(dir, "data", id, historyFile)
	garbage := []byte(strings.Repeat("not a bbolt file ", 500))
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	a2 := startNode(t, persistentConfig("alice", dir))
	ev := a2.wait(5*time.Second, "notice", func(ev chat.Event) bool {
		return ev.Kind == chat.KindNotice && strings.Contains(ev.Text, "moved aside")
	})
	if strings.Count(ev.Text, ". ") > 0 || !strings.Contains(ev.Text, path) {
		t.Errorf("notice %q: want one sentence naming %s", ev.Text, path)
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("files moved aside: %v, want one", aside)
	}
	if b, err := os.ReadFile(aside[0]); err != nil || string(b) != string(garbage) {
		t.Errorf("the file moved aside differs from the corrupt log (%v)", err)
	}
	b := startNode(t, testConfig("bob"))
	b.connect(a2)
	waitKnown(5*time.Second, a2, b)
	marker(t, b, "still works", a2)
}

// TestForgedHistory: a member whose sync handler serves altered or
// invented lines gets none of them shown, and is cut off.
func TestForgedHistory(t *testing.T) {
	for _, tc := range []struct {
		name  string
		forge func(t *testing.T, raw []byte) []byte
	}{
		{"altered", func(t *testing.T, raw []byte) []byte {
			var m pb.Message
			if err := proto.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			env, err := wire.Decode(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			env.Text = "I owe mallory 100 euros"
			m.Data, _ = wire.Encode(env)
			return rawMessage(&m)
		}},
		{"bad signature", func(t *testing.T, raw []byte) []byte {
			var m pb.Message
			proto.Unmarshal(raw, &m)
			m.Signature[0] ^= 1
			return rawMessage(&m)
		}},
		{"another room", func(t *testing.T, raw []byte) []byte {
			var m pb.Message
			proto.Unmarshal(raw, &m)
			m.Topic = proto.String(openTopic("elsewhere"))
			return rawMessage(&m)
		}},
		{"oversize", func(t *testing.T, raw []byte) []byte {
			return append(raw, make([]byte, syncwire.MaxRecord)...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := startNode(t, testConfig("mallory"))
			for i := range 3 {
				if err := m.Send(fmt.Sprintf("genuine %d", i)); err != nil {
					t.Fatal(err)
				}
				m.wait(5*time.Second, "own line", isMessage(fmt.Sprintf("genuine %d", i)))
			}
			forging := func(raw []byte) []byte { return tc.forge(t, raw) }
			m.host.SetStreamHandler(syncProtocol, func(st network.Stream) { serveForged(t, m.Host, st, forging) })

			v := startNode(t, testConfig("victim"))
			v.connect(m)
			v.wait(5*time.Second, "cut-off notice", func(ev chat.Event) bool {
				return ev.Kind == chat.KindNotice && strings.Contains(ev.Text, "does not check")
			})
			for _, ev := range v.events() {
				if ev.Kind == chat.KindMessage {
					t.Errorf("victim shows %q", ev.Text)
				}
			}
			if len(v.host.Network().ConnsToPeer(m.self)) != 0 {
				t.Error("victim still connected to the forger")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := v.Connect(ctx, m.addr()); err == nil {
				t.Error("victim accepts a new connection to the forger")
			}
		})
	}
}

// serveForged serves a pull as h would, but hands each line through
// forge.
func serveForged(t *testing.T, h *Host, st network.Stream, forge func([]byte) []byte) {
	defer st.Close()
	br := bufio.NewReader(st)
	typ, body, err := syncwire.ReadFrame(br, syncwire.MaxFrame)
	if err != nil || typ != syncwire.TypeHello {
		return
	}
	hello, _ := syncwire.DecodeHello(body)
	r := h.roomByTopic(hello.Topic)
	items, floor, _ := r.syncItems(time.Now())
	floor = max(floor, hello.Floor)
	set, byID := reconcileSet(items, floor)
	syncwire.WriteFrame(st, syncwire.TypeWelcome, syncwire.AppendWelcome(nil, syncwire.Welcome{Floor: floor}))
	for {
		typ, body, err := syncwire.ReadFrame(br, syncwire.MaxFrame)
		if err != nil {
			return
		}
		switch typ {
		case syncwire.TypeReconcile:
			reply, err := set.Respond(body, reconcileLimits())
			if err != nil {
				t.Errorf("forger: Respond: %v", err)
				return
			}
			syncwire.WriteFrame(st, syncwire.TypeReconcile, reply)
		case syncwire.TypeFetch:
			ids, _ := syncwire.DecodeFetch(body)
			var want []string
			for _, id := range ids {
				want = append(want, byID[id])
			}
			lines, _ := h.hist.st.Get(r.topicName, want)
			for _, l := range lines {
				syncwire.WriteFrame(st, syncwire.TypeRecord, forge(l.Raw))
			}
			syncwire.WriteFrame(st, syncwire.TypeEnd, nil)
		}
	}
}

// TestUnaskedLine: a peer that answers a fetch with a genuine line that
// was not asked for is cut off too.
func TestUnaskedLine(t *testing.T) {
	m := startNode(t, testConfig("mallory"))
	for _, text := range []string{"one", "two"} {
		if err := m.Send(text); err != nil {
			t.Fatal(err)
		}
		m.wait(5*time.Second, text, isMessage(text))
	}
	m.hist.flush()
	lines, err := m.hist.st.Recent(m.room.topicName, 10)
	if err != nil || len(lines) != 2 {
		t.Fatalf("mallory's log: %d lines, %v", len(lines), err)
	}
	first := lines[0].Raw
	m.host.SetStreamHandler(syncProtocol, func(st network.Stream) {
		serveForged(t, m.Host, st, func([]byte) []byte { return first })
	})
	v := startNode(t, testConfig("victim"))
	v.connect(m)
	v.wait(5*time.Second, "cut-off notice", func(ev chat.Event) bool {
		return ev.Kind == chat.KindNotice && strings.Contains(ev.Text, "does not check")
	})
	if n := v.count(func(ev chat.Event) bool { return ev.Kind == chat.KindMessage }); n != 0 {
		t.Errorf("victim shows %d lines of the forger", n)
	}
}

// TestWrongClock: a line whose sender's clock is an hour ahead is placed
// by its arrival, and the user is told once.
func TestWrongClock(t *testing.T) {
	a, b := startPair(t)
	ahead := time.Now().Add(time.Hour).UnixMilli()
	for i, text := range []string{"from the future", "again"} {
		data, err := wire.Encode(wire.Envelope{Kind: wire.KindMessage, Room: testRoom, Sent: ahead + int64(i), Nick: "alice", Text: text})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.room.topic.Publish(context.Background(), data); err != nil {
			t.Fatal(err)
		}
	}
	ev := b.wait(5*time.Second, "line", isMessage("again"))
	if limit := time.Now().Add(maxSkew + time.Second); ev.Order.After(limit) {
		t.Errorf("order key %v, want at most %v", ev.Order, limit)
	}
	if ev.Sent.UnixMilli() != ahead+1 {
		t.Errorf("Sent = %v, want the sender's clock", ev.Sent)
	}
	notices := b.count(func(ev chat.Event) bool {
		return ev.Kind == chat.KindNotice && strings.Contains(ev.Text, "alice's clock is 1h0m0s ahead")
	})
	if notices != 1 {
		t.Errorf("%d clock notices, want 1:\n%s", notices, formatEvents(b.events()))
	}
	// Our own next line follows nothing from the future.
	if err := b.Send("reply"); err != nil {
		t.Fatal(err)
	}
	own := b.wait(5*time.Second, "reply", isMessage("reply"))
	if own.Order.After(time.Now().Add(time.Second)) {
		t.Errorf("own reply ordered at %v: it followed a wrong clock", own.Order)
	}
}

// TestHLC: a reply sorts after the line it answers even when the
// replier's clock is behind.
func TestHLC(t *testing.T) {
	var c hlc
	c.observe(1_000_500, 1_000_000) // seen 500 ms ahead: within maxSkew
	if got := c.next(1_000_000); got != 1_000_501 {
		t.Errorf("next = %d, want 1000501", got)
	}
	if got := c.next(999_000); got != 1_000_501 {
		t.Errorf("next with the clock set back = %d, want 1000501 (never backwards)", got)
	}
	c.observe(1_000_000+maxSkew.Milliseconds()+1, 1_000_000)
	if got := c.next(1_000_000); got != 1_000_501 {
		t.Errorf("next after a clock beyond maxSkew = %d, want it ignored", got)
	}
	key, off := liveOrder(5_000_000, 5_000_000, time.UnixMilli(5_000_000+3*maxSkew.Milliseconds()))
	if key != 5_000_000+2*maxSkew.Milliseconds() || off != -3*maxSkew {
		t.Errorf("liveOrder of a line 3 maxSkew behind = %d, %v", key, off)
	}
}

// TestHistoryStats checks that two nodes with identical logs reconcile in
// a few bytes: the cost of the periodic pull.
func TestHistoryStats(t *testing.T) {
	a, b := startPair(t)
	for i := range 20 {
		if err := a.Send(fmt.Sprintf("l%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitLines(b, 5*time.Second, []string{"l19"})
	a.hist.flush()
	b.hist.flush()
	before := b.sync.pullBytes.Load()
	ok := b.sync.pullsOK.Load()
	b.sync.queue(b.room, a.self, true)
	deadline := time.Now().Add(5 * time.Second)
	for b.sync.pullsOK.Load() == ok {
		if time.Now().After(deadline) {
			t.Fatal("no pull")
		}
		b.waitOK(20*time.Millisecond, func(chat.Event) bool { return false })
	}
	total := b.sync.pullBytes.Load() - before
	t.Logf("pull of identical 20-line logs: %d bytes both ways", total)
	if total > 1024 {
		t.Errorf("pull of identical logs took %d bytes, want ≤ 1 KiB", total)
	}
}

// TestPrivateHistory: a private room's lines reach a late joiner who has
// the passphrase, sealed all the way; one without it sees nothing.
func TestPrivateHistory(t *testing.T) {
	a := startHost(t, testConfig("alice"))
	ra := a.join("secret", "correct horse")
	texts := []string{"the plan", "is on"}
	for _, text := range texts {
		if err := ra.Send(context.Background(), text); err != nil {
			t.Fatal(err)
		}
		a.wait(5*time.Second, text, in("secret", isMessage(text)))
	}
	c := startHost(t, testConfig("carol"))
	c.join("secret", "correct horse")
	e := startHost(t, testConfig("eve"))
	re := e.join("secret", "wrong guess")
	c.connect(a)
	e.connect(a)
	for _, text := range texts {
		ev := c.wait(5*time.Second, text, in("secret", isMessage(text)))
		if !ev.History {
			t.Errorf("carol: %q not marked history", text)
		}
	}
	a.hist.flush()
	lines, _ := a.hist.st.Recent(ra.topicName, 10)
	for _, l := range lines {
		if strings.Contains(string(l.Raw), "the plan") {
			t.Error("the log keeps a private room's line in clear")
		}
	}
	// Eve's room is another topic: a pull from alice finds nothing there.
	n := re.pulled.Load()
	e.sync.queue(re, a.self, true)
	deadline := time.Now().Add(5 * time.Second)
	for re.pulled.Load() == n && time.Now().Before(deadline) {
		e.waitOK(20*time.Millisecond, func(chat.Event) bool { return false })
	}
	if n := e.count(func(ev chat.Event) bool { return ev.Kind == chat.KindMessage }); n != 0 {
		t.Errorf("eve, without the passphrase, shows %d lines", n)
	}
}

// TestOlderNotFetched: beyond the sync window's count, lines are not
// fetched, and the user is told how many.
func TestOlderNotFetched(t *testing.T) {
	cfg := testConfig("alice")
	cfg.SyncMaxLines = 5
	a := startNode(t, cfg)
	var texts []string
	for i := range 8 {
		text := fmt.Sprintf("old %d", i)
		texts = append(texts, text)
		if err := a.Send(text); err != nil {
			t.Fatal(err)
		}
		a.wait(5*time.Second, text, isMessage(text))
	}
	a.hist.flush()
	cfg = testConfig("bob")
	cfg.SyncMaxLines = 5
	b := startNode(t, cfg)
	b.connect(a)
	waitLines(b, 5*time.Second, texts[3:])
	ev := b.wait(5*time.Second, "notice", func(ev chat.Event) bool { return ev.Kind == chat.KindNotice && strings.Contains(ev.Text, "older") })
	if !strings.HasPrefix(ev.Text, "3 older messages are not fetched") {
		t.Errorf("notice %q, want it to count 3", ev.Text)
	}
	if got := historyOf(b, testRoom); !slices.Equal(got, texts[3:]) {
		t.Errorf("history = %q, want %q", got, texts[3:])
	}
}

// FuzzParseRaw feeds arbitrary bytes to the decoder of fetched lines (a
// pubsub message, then an envelope, sealed or not): it must never panic,
// and what it accepts is a chat line of the room whose signature checks.
func FuzzParseRaw(f *testing.F) {
	h, err := Start(context.Background(), Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	open := &Room{h: h, name: testRoom, wireID: testRoom, topicName: openTopic(testRoom)}
	for _, l := range signedLines(f, h, open, 2, 1) {
		f.Add(l.Raw)
	}
	f.Add([]byte{0x0a, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		rec, err := open.parseRaw(raw, true)
		if err != nil {
			return
		}
		if !rec.Envelope.Kind.HasText() || rec.Envelope.Room != testRoom {
			t.Fatalf("accepted %+v", rec)
		}
	})
}

// TestWrongClockSync: a line whose sender's clock was days behind is kept
// where it arrived, yet sync, which goes by the signed clock, neither
// fetches it again and again nor takes the peers holding it for forgers.
func TestWrongClockSync(t *testing.T) {
	a, b := startPair(t)
	past := time.Now().Add(-72 * time.Hour).UnixMilli()
	data, err := wire.Encode(wire.Envelope{Kind: wire.KindMessage, Room: testRoom, Sent: past, Nick: "alice", Text: "from 3 days ago"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.room.topic.Publish(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "the line", isMessage("from 3 days ago"))
	marker(t, a, "and now", b)
	c := startNode(t, testConfig("carol"))
	c.connect(b)
	c.wait(5*time.Second, "history", isMessage("and now"))
	for _, n := range []*testNode{a, b, c} {
		if n.count(func(ev chat.Event) bool {
			return ev.Kind == chat.KindNotice && strings.Contains(ev.Text, "does not check")
		}) != 0 {
			t.Errorf("%s cut a peer off over a wrong clock:\n%s", n.name, formatEvents(n.events()))
		}
	}
	if len(c.host.Network().ConnsToPeer(b.self)) == 0 {
		t.Error("carol is not connected to bob any more")
	}
	// A second pull between carol and bob fetches nothing.
	before, ok := c.sync.pullBytes.Load(), c.sync.pullsOK.Load()
	c.sync.queue(c.room, b.self, true)
	deadline := time.Now().Add(5 * time.Second)
	for c.sync.pullsOK.Load() == ok && time.Now().Before(deadline) {
		c.waitOK(10*time.Millisecond, func(chat.Event) bool { return false })
	}
	if got := c.sync.pullBytes.Load() - before; got > 1024 {
		t.Errorf("second pull took %d bytes; the logs differ", got)
	}
}

// TestUnloggableLine: a line the log cannot keep is not shown (it would
// come back with every pull), and does not keep the lines committed with
// it off the disk.
func TestUnloggableLine(t *testing.T) {
	a := startNode(t, testConfig("alice"))
	good := signedLines(t, a.Host, a.room, 1, 1)[0]
	bad := good
	bad.ID, bad.Author = "x/1", strings.Repeat("x", 300)
	if a.hist.add(bad) {
		t.Error("add of an unloggable line reported it new")
	}
	if !a.hist.add(good) {
		t.Fatal("add of a good line reported it known")
	}
	a.hist.flush()
	if ok, err := a.hist.st.Has(good.Room, good.ID); !ok || err != nil {
		t.Errorf("good line not logged: %v, %v", ok, err)
	}
}

// TestPaddedRecord: a fetched line must be in the form pubsub encodes:
// protobuf keeps the last copy of a field, so junk before it would pass
// the signature check and bloat every log that keeps it.
func TestPaddedRecord(t *testing.T) {
	a := startNode(t, testConfig("alice"))
	raw := signedLines(t, a.Host, a.room, 1, 1)[0].Raw
	if _, err := a.room.parseRaw(raw, true); err != nil {
		t.Fatalf("genuine line: %v", err)
	}
	junk := proto.Clone(&pb.Message{Data: make([]byte, 5000)}).(*pb.Message)
	padded := append(rawMessage(junk), raw...)
	if _, err := a.room.parseRaw(padded, true); err == nil {
		t.Error("a padded line passes")
	}
}

// TestSyncWithinLog: sync never reaches beyond what the log keeps.
func TestSyncWithinLog(t *testing.T) {
	cfg := testConfig("alice")
	cfg.HistoryMaxLines = 3
	cfg.HistoryMaxAge = time.Hour
	a := startHost(t, cfg)
	if a.cfg.SyncMaxLines != 3 || a.cfg.SyncWindow != time.Hour {
		t.Errorf("SyncMaxLines %d, SyncWindow %v; want 3 and 1h", a.cfg.SyncMaxLines, a.cfg.SyncWindow)
	}
}

// TestPrivateHelloProof: a peer subscribed to a private room's topic by
// its tag (which anyone sees) but without the passphrase is not served.
func TestPrivateHelloProof(t *testing.T) {
	a := startHost(t, testConfig("alice"))
	ra := a.join("secret", "correct horse")
	if err := ra.Send(context.Background(), "sealed"); err != nil {
		t.Fatal(err)
	}
	a.wait(5*time.Second, "own line", in("secret", isMessage("sealed")))
	e := startHost(t, testConfig("eve"))
	topic, err := e.ps.Join(ra.topicName)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	e.connect(a)
	deadline := time.Now().Add(5 * time.Second)
	for !ra.hasMember(e.self) {
		if time.Now().After(deadline) {
			t.Fatal("alice does not see eve in the topic")
		}
		a.waitOK(10*time.Millisecond, func(chat.Event) bool { return false })
	}
	fake := &Room{h: e.Host, name: "secret", wireID: ra.wireID, topicName: ra.topicName, fetched: map[[syncwire.IDSize]byte]struct{}{}}
	if _, err := e.sync.pull(context.Background(), fake, a.self); !errors.Is(err, errNotJoined) {
		t.Errorf("pull without the key = %v, want errNotJoined", err)
	}
}

// TestLogUnusable: a data dir that cannot hold the log gives a notice and
// a temporary log, never a refusal to chat; a log held by another process
// is an error naming the data dir.
func TestLogUnusable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := persistentConfig("alice", dir)
	cfg.DataDir = filepath.Join(file, "data")
	a := startNode(t, cfg)
	a.wait(5*time.Second, "notice", func(ev chat.Event) bool {
		return ev.Kind == chat.KindNotice && strings.Contains(ev.Text, "history is kept only until lanchat exits")
	})
	if a.hist.temp == "" {
		t.Error("no temporary log")
	}
	if err := a.Send("still chatting"); err != nil {
		t.Fatal(err)
	}
	a.wait(5*time.Second, "own line", isMessage("still chatting"))
	id := a.id()
	a.close()

	cfg = persistentConfig("alice", dir)
	held, err := store.Open(store.Config{Path: filepath.Join(cfg.DataDir, id, historyFile)})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	h, err := Start(context.Background(), cfg)
	if err == nil {
		h.Close()
		t.Fatal("Start with the log held by another: no error")
	}
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "DataDir" || !strings.Contains(ce.Reason, "in use by another lanchat") {
		t.Errorf("Start = %v, want a DataDir ConfigError saying the log is in use", err)
	}
}

// linesAt signs lines by h in r, line i with clock orders[i].
func linesAt(tb testing.TB, h *Host, r *Room, orders []int64, seq0 uint64) []store.Line {
	tb.Helper()
	out := make([]store.Line, len(orders))
	for i, o := range orders {
		data, err := wire.Encode(wire.Envelope{Kind: wire.KindMessage, Room: r.wireID, Sent: o, Clock: o, Nick: "seed", Text: fmt.Sprintf("l%d", i)})
		if err != nil {
			tb.Fatal(err)
		}
		seq := binary.BigEndian.AppendUint64(nil, seq0+uint64(i))
		m := &pb.Message{From: []byte(h.self), Data: data, Seqno: seq, Topic: proto.String(r.topicName)}
		b, _ := proto.Marshal(m)
		if m.Signature, err = h.id.key.Sign(append([]byte(pubsub.SignPrefix), b...)); err != nil {
			tb.Fatal(err)
		}
		out[i] = store.Line{Room: r.topicName, ID: messageID(h.self, seq), Author: h.self.String(), Seqno: seq0 + uint64(i),
			Sent: time.UnixMilli(o), Order: time.UnixMilli(o), Received: time.Now(), Raw: rawMessage(m)}
	}
	return out
}

// TestSyncIdenticalLarge: identical logs larger than SyncMaxLines, with
// ties at every millisecond, reconcile to nothing; one extra line to
// exactly one fetch.
func TestSyncIdenticalLarge(t *testing.T) {
	for _, tie := range []int{1, 2, 3, 7} {
		t.Run(fmt.Sprint("tie", tie), func(t *testing.T) {
			ca, cb := testConfig("alice"), testConfig("bob")
			ca.SyncMaxLines, cb.SyncMaxLines = 20, 20
			a := startNode(t, ca)
			b := startNode(t, cb)
			b.connect(a)
			waitKnown(5*time.Second, a, b)
			base := time.Now().Add(-time.Hour).UnixMilli()
			var orders []int64
			for i := range 60 {
				orders = append(orders, base+int64(i/tie))
			}
			src := startHost(t, testConfig("src"))
			r := &Room{h: src.Host, wireID: testRoom, topicName: openTopic(testRoom)}
			lines := linesAt(t, src.Host, r, orders, 1)
			seed(t, a, lines)
			seed(t, b, lines)
			res, err := b.sync.pull(context.Background(), b.room, a.self)
			if err != nil || len(res.recs) != 0 {
				t.Fatalf("identical: %d recs, %v", len(res.recs), err)
			}
			extra := linesAt(t, src.Host, r, []int64{base + 100}, 1000)
			seed(t, a, extra)
			res, err = b.sync.pull(context.Background(), b.room, a.self)
			if err != nil || len(res.recs) != 1 {
				t.Fatalf("one apart (newest): %d recs, %v", len(res.recs), err)
			}
			// and the other way round
			res, err = a.sync.pull(context.Background(), a.room, b.self)
			if err != nil || len(res.recs) != 0 {
				t.Fatalf("a from b: %d recs, %v", len(res.recs), err)
			}
			// a missing line inside the window
			mid := linesAt(t, src.Host, r, []int64{base + 55/int64(tie)}, 2000)
			seed(t, a, mid)
			res, err = b.sync.pull(context.Background(), b.room, a.self)
			if err != nil || len(res.recs) != 1 {
				t.Fatalf("one apart (mid): %d recs, %v", len(res.recs), err)
			}
		})
	}
}

// TestHoldOrder: a live line that comes after a pull ended but before
// presence took its result waits behind the lines held for that pull.
func TestHoldOrder(t *testing.T) {
	a := startNode(t, testConfig("alice"))
	r := a.room
	l := newLogView(r)
	defer l.stopHold()
	src := startHost(t, testConfig("src"))
	sr := &Room{h: src.Host, wireID: testRoom, topicName: openTopic(testRoom)}
	now := time.Now().UnixMilli()
	lines := linesAt(t, src.Host, sr, []int64{now, now + 1}, 1)
	var recs []Record
	for _, ln := range lines {
		rec, err := r.parseRaw(ln.Raw, true)
		if err != nil {
			t.Fatal(err)
		}
		rec.Received = time.Now()
		recs = append(recs, rec)
	}
	ev := func(rec Record) []chat.Event {
		return []chat.Event{{Kind: chat.KindMessage, ID: rec.ID, Text: rec.Envelope.Text}}
	}
	r.syncNote(1, nil) // queued
	l.synced(1, nil)
	if out := l.live(recs[0], ev(recs[0])); len(out) != 0 {
		t.Fatalf("first line not held: %v", out)
	}
	// The pull ends: finish -> syncNote(-1) ... presence takes the inbox first.
	r.syncMu.Lock()
	r.syncPending--
	r.syncMu.Unlock()
	out := l.live(recs[1], ev(recs[1]))
	if len(out) == 1 && len(l.held) == 1 {
		t.Errorf("%q emitted while %q is still held (order inverted)", out[0].Text, l.held[0].Text)
	}
}

// TestFetchBudget: what a host fetches is bounded whatever its peers; the
// newest lines come first.
func TestFetchBudget(t *testing.T) {
	a := startNode(t, testConfig("alice"))
	lines := signedLines(t, a.Host, a.room, 50, 1)
	seed(t, a, lines)
	c := startHost(t, testConfig("carol"))
	c.sync.fetchLim = rate.NewLimiter(0, 20)
	c.room = c.join(testRoom, "")
	c.connect(a)
	c.wait(5*time.Second, "history", func(ev chat.Event) bool { return ev.Kind == chat.KindHistory })
	got := historyOf(c, testRoom)
	if len(got) != 20 {
		t.Fatalf("carol fetched %d lines, want the budget's 20", len(got))
	}
	if want := "seeded line 30 of 50: lorem ipsum dolor sit amet"; got[0] != want {
		t.Errorf("first line fetched %q, want the newest 20 from %q", got[0], want)
	}
}

// TestDroppedLinesRepaired: live lines the receiver dropped unseen — here
// over a flood limit set below what the sender sends at once, as a burst
// that reaches the validator all at once after a stall would be — are
// fetched by sync soon after (not at the periodic pull, 45 s at the
// earliest), each once.
func TestDroppedLinesRepaired(t *testing.T) {
	a := startNode(t, testConfig("alice"))
	const limit, burst = 20, 50
	a.adm.setLimit(limit, burst)
	b := startNode(t, testConfig("bob"))
	b.sendLim.SetLimit(rate.Inf)
	b.connect(a)
	waitKnown(5*time.Second, a, b)

	const n = 300
	var texts []string
	for i := range n {
		text := fmt.Sprintf("burst %03d", i)
		texts = append(texts, text)
		if err := b.Send(text); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	waitLines(a, 15*time.Second, texts)
	fetched := len(historyOf(a, testRoom))
	t.Logf("%d lines sent at once to a flood limit of %d/s after %d: all shown %v later, %d of them fetched by sync",
		n, limit, burst, time.Since(start).Round(time.Millisecond), fetched)
	if fetched == 0 {
		t.Fatal("no line came by sync: nothing was dropped, the test shows nothing")
	}
	marker(t, b, "and after", a)
	for _, text := range texts {
		if c := textCount(a, testRoom, text); c != 1 {
			t.Errorf("alice shows %q %d times, want once", text, c)
		}
	}
}

// TestPartitionClosedConns: carol is cut off from alice and bob, as a
// Wi-Fi that drops for a while is: her connections close and nobody can
// dial anybody across the cut (the gater refuses it). Both sides chat
// meanwhile. When the link is back (new connections), every node has
// every line within a few seconds — long before the periodic pull (an
// hour here) — although the pulls of the first joins are only seconds
// old: a pull speaks for the connection it went over, not for the new
// one.
func TestPartitionClosedConns(t *testing.T) {
	var nodes []*testNode
	for _, nick := range []string{"alice", "bob", "carol"} {
		cfg := testConfig(nick)
		cfg.SyncInterval = time.Hour
		nodes = append(nodes, startNode(t, cfg))
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	mesh(a, b, c)
	waitKnown(5*time.Second, a, b, c)
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for _, n := range nodes {
		for n.sync.pullsOK.Load() < 2 { // the joins' pulls, from both others
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d pulls after the joins, want 2", n.name, n.sync.pullsOK.Load())
			}
			<-tick.C
		}
	}
	pulled := time.Now()

	// The cut: the connections closed, and refused both ways by the
	// gater (the ban list) until refuse is called again with a time past.
	refuse := func(x, y *testNode, until time.Time) {
		x.bans.ban(y.self, until)
		y.bans.ban(x.self, until)
	}
	for _, n := range []*testNode{a, b} {
		refuse(n, c, time.Now().Add(time.Hour))
		if err := c.host.Network().ClosePeer(n.self); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*testNode{a, b} {
		n.wait(5*time.Second, "carol lost", isLeave(c, "lost"))
		c.wait(5*time.Second, n.name+" lost", isLeave(n, "lost"))
	}
	var texts []string
	say := func(from *testNode, text string, to ...*testNode) {
		t.Helper()
		if err := from.Send(text); err != nil {
			t.Fatal(err)
		}
		for _, n := range to {
			n.wait(5*time.Second, "live "+text, in(testRoom, isMessage(text)))
		}
		texts = append(texts, text)
	}
	say(a, "during the cut, from alice", b)
	say(b, "during the cut, from bob", a)
	say(c, "during the cut, from carol")
	say(c, "during the cut, carol again")

	// The heal: new connections.
	for _, n := range []*testNode{a, b} {
		refuse(n, c, time.Now())
		c.connect(n)
	}
	healed := time.Now()
	if d := healed.Sub(pulled); d >= syncMinGap {
		t.Fatalf("healed %v after the joins' pulls, not within syncMinGap (%v): the test shows nothing", d, syncMinGap)
	}
	t.Logf("healed %v after the joins' pulls", healed.Sub(pulled).Round(time.Millisecond))
	for _, n := range nodes {
		waitLines(n, 10*time.Second, texts)
	}
	t.Logf("every node had all %d lines %v after the heal", len(texts), time.Since(healed).Round(time.Millisecond))
	marker(t, a, "after the heal", b, c)
	for _, n := range nodes {
		for _, text := range texts {
			if k := textCount(n, testRoom, text); k != 1 {
				t.Errorf("%s shows %q %d times, want once", n.name, text, k)
			}
		}
	}
}

// TestDropTracer: the lines pubsub drops from its full queues plan a
// repair pull from the peer that sent them; those it ignores on our
// validator's word do not (a replay, say: admission says which are
// floods).
func TestDropTracer(t *testing.T) {
	a, b := startPair(t)
	topic := a.room.topicName
	m := &pubsub.Message{Message: &pb.Message{Topic: &topic}, ReceivedFrom: b.self}
	planned := func() bool {
		a.sync.mu.Lock()
		defer a.sync.mu.Unlock()
		return a.sync.repairs[jobKey{a.room, b.self}] != nil
	}
	tr := dropTracer{a.Host}
	tr.RejectMessage(m, pubsub.RejectValidationIgnored)
	tr.RejectMessage(m, pubsub.RejectValidationFailed)
	if planned() {
		t.Fatal("a repair planned for a line our validator turned down")
	}
	for name, drop := range map[string]func(){
		"validation queue full": func() { tr.RejectMessage(m, pubsub.RejectValidationQueueFull) },
		"throttled":             func() { tr.RejectMessage(m, pubsub.RejectValidationThrottled) },
		"undeliverable":         func() { tr.UndeliverableMessage(m) },
	} {
		a.sync.close()
		a.sync.mu.Lock()
		a.sync.closed = false
		a.sync.mu.Unlock()
		drop()
		if !planned() {
			t.Errorf("%s: no repair planned", name)
		}
	}
	other := "lanchat/2/room/elsewhere"
	tr.UndeliverableMessage(&pubsub.Message{Message: &pb.Message{Topic: &other}, ReceivedFrom: b.self})
}

// TestHistoryMarkAfterClose: a validator that outlives the log at
// shutdown looks up marks in a closed log; that is not warned about.
func TestHistoryMarkAfterClose(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	h, _, err := openHistory(Config{}, "", false, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.mark("someone"); ok {
		t.Error("mark found in a closed log")
	}
	if logged.Len() > 0 {
		t.Errorf("logged after close: %s", logged.String())
	}
}
