package tui

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"lanchat/node/chat"
)

// histEvent is a chat line from the log: sent at testStart plus min
// minutes (negative: earlier), ordered by the same time, observed at
// testStart.
func histEvent(min int, id, nick, text string) chat.Event {
	sent := testStart.Add(time.Duration(min) * time.Minute)
	return chat.Event{Kind: chat.KindMessage, Time: testStart, PeerID: id, Nick: nick, Text: text,
		ID: fmt.Sprintf("h%d", min), Sent: sent, Order: sent, History: true}
}

// histEnd ends a batch of n history lines from peer ("" = our own log).
func histEnd(n int, peer string) chat.Event {
	return chat.Event{Kind: chat.KindHistory, Time: testStart, PeerID: peer, Count: n}
}

func TestHistoryTime(t *testing.T) {
	now := time.Date(2025, 6, 3, 0, 30, 0, 0, time.UTC)
	tokyo := time.FixedZone("JST", 9*3600)
	tests := []struct {
		name string
		sent time.Time
		want string
	}{
		{"today", time.Date(2025, 6, 3, 0, 10, 0, 0, time.UTC), "00:10"},
		{"yesterday", time.Date(2025, 6, 2, 23, 59, 0, 0, time.UTC), "2025-06-02 23:59"},
		{"last year", time.Date(2024, 6, 3, 0, 10, 0, 0, time.UTC), "2024-06-03 00:10"},
		// Shown in now's location: 09:10 in Tokyo is 00:10 UTC today.
		{"another zone", time.Date(2025, 6, 3, 9, 10, 0, 0, tokyo), "00:10"},
		{"another zone, another day", time.Date(2025, 6, 3, 8, 59, 0, 0, tokyo), "2025-06-02 23:59"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := historyTime(tt.sent, now); got != tt.want {
				t.Errorf("historyTime(%v, %v) = %q, want %q", tt.sent, now, got, tt.want)
			}
		})
	}
}

func TestHistoryText(t *testing.T) {
	for n, want := range map[int]string{1: "— 1 earlier message —", 2: "— 2 earlier messages —", 40: "— 40 earlier messages —"} {
		if got := historyText(n); got != want {
			t.Errorf("historyText(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestOrderOf(t *testing.T) {
	a, b, c := testStart, testStart.Add(time.Minute), testStart.Add(2*time.Minute)
	tests := []struct {
		name string
		ev   chat.Event
		want time.Time
	}{
		{"order", chat.Event{Order: a, Sent: b, Time: c}, a},
		{"no order: sent", chat.Event{Sent: b, Time: c}, b},
		{"no order, no sent: time", chat.Event{Time: c}, c},
		{"nothing", chat.Event{}, time.Time{}},
	}
	for _, tt := range tests {
		if got := orderOf(tt.ev); !got.Equal(tt.want) {
			t.Errorf("%s: orderOf(%+v) = %v, want %v", tt.name, tt.ev, got, tt.want)
		}
	}
}

// TestLineWriterHistory pins the lines of history in both line modes:
// "history":true last on history messages only, the "history" object, the
// date on plain lines not of today, the batch's line room-prefixed.
func TestLineWriterHistory(t *testing.T) {
	now := time.Date(2025, 3, 1, 14, 5, 0, 0, time.UTC)
	yesterday := time.Date(2025, 2, 28, 17, 42, 10, 4e6, time.UTC)
	today := time.Date(2025, 3, 1, 9, 12, 44, 871e6, time.UTC)
	live := chat.Event{Kind: chat.KindMessage, Room: "lobby", Time: t0, ID: "B/1", PeerID: "B", Nick: "bob", Text: "hi", Sent: t0, Order: t0}
	hist := func(sent time.Time) chat.Event {
		return chat.Event{Kind: chat.KindMessage, Room: "lobby", Time: t0, ID: "B/2", PeerID: "B", Nick: "bob", Text: "old", Sent: sent, Order: sent, History: true}
	}
	histAction := hist(yesterday)
	histAction.Action = true
	histOwn := hist(today)
	histOwn.Self, histOwn.PeerID, histOwn.Nick = true, "S", "alice"
	histDev := hist(today)
	histDev.Room = "dev"
	tests := []struct {
		name      string
		ev        chat.Event
		wantPlain string // "" = no line
		wantJSON  string
	}{
		{"live", live, "[14:03] <bob> hi",
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","room":"lobby","id":"B/1","peer_id":"B","nick":"bob","text":"hi","sent":"2025-03-01T14:03:07.123Z","self":false}`},
		{"history of yesterday", hist(yesterday), "[2025-02-28 17:42] <bob> old",
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","room":"lobby","id":"B/2","peer_id":"B","nick":"bob","text":"old","sent":"2025-02-28T17:42:10.004Z","self":false,"history":true}`},
		{"history of today", hist(today), "[09:12] <bob> old",
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","room":"lobby","id":"B/2","peer_id":"B","nick":"bob","text":"old","sent":"2025-03-01T09:12:44.871Z","self":false,"history":true}`},
		{"history action", histAction, "[2025-02-28 17:42] * bob old",
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","room":"lobby","id":"B/2","peer_id":"B","nick":"bob","text":"old","sent":"2025-02-28T17:42:10.004Z","self":false,"action":true,"history":true}`},
		{"own history", histOwn, "[09:12] <alice> old",
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","room":"lobby","id":"B/2","peer_id":"S","nick":"alice","text":"old","sent":"2025-03-01T09:12:44.871Z","self":true,"history":true}`},
		{"history of another room", histDev, "#dev [09:12] <bob> old",
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","room":"dev","id":"B/2","peer_id":"B","nick":"bob","text":"old","sent":"2025-03-01T09:12:44.871Z","self":false,"history":true}`},
		{"end of a batch from disk", chat.Event{Kind: chat.KindHistory, Room: "lobby", Time: t0, Count: 40},
			"— 40 earlier messages —",
			`{"type":"history","time":"2025-03-01T14:03:07.123Z","room":"lobby","count":40}`},
		{"end of a batch from a peer", chat.Event{Kind: chat.KindHistory, Room: "lobby", Time: t0, PeerID: "B", Count: 1},
			"— 1 earlier message —",
			`{"type":"history","time":"2025-03-01T14:03:07.123Z","room":"lobby","count":1,"peer_id":"B"}`},
		{"end of a batch in another room", chat.Event{Kind: chat.KindHistory, Room: "dev", Time: t0, PeerID: "B", Count: 3},
			"#dev — 3 earlier messages —",
			`{"type":"history","time":"2025-03-01T14:03:07.123Z","room":"dev","count":3,"peer_id":"B"}`},
		{"an empty batch", chat.Event{Kind: chat.KindHistory, Room: "lobby", Time: t0},
			"",
			`{"type":"history","time":"2025-03-01T14:03:07.123Z","room":"lobby","count":0}`},
		{"sanitised", chat.Event{Kind: chat.KindMessage, Room: "lobby", Time: t0, Nick: "b\x1b[2Job", Text: "x\x1b]0;t\x07y", Sent: yesterday, History: true},
			"[2025-02-28 17:42] <bob> xy", ""},
	}
	for _, tt := range tests {
		for _, mode := range []LineMode{Plain, JSON} {
			want, name := tt.wantPlain, tt.name+"/plain"
			if mode == JSON {
				want, name = tt.wantJSON, tt.name+"/json"
				if want == "" {
					continue
				}
			}
			t.Run(name, func(t *testing.T) {
				var out bytes.Buffer
				w := newLineWriter(&out, mode)
				w.now = func() time.Time { return now }
				w.first = "lobby"
				if err := w.event(tt.ev); err != nil {
					t.Fatal(err)
				}
				if got := strings.TrimSuffix(out.String(), "\n"); got != want {
					t.Errorf("event(%+v):\n got %s\nwant %s", tt.ev, got, want)
				}
			})
		}
	}
}

// TestLinesHistory runs the line modes over a history batch, a live line
// and our own line from the log: everything in order, and our own line from
// the log is no echo (no notice that nobody is here).
func TestLinesHistory(t *testing.T) {
	room := newFakeRoom("private")
	room.members = []chat.Member{{PeerID: "12D3KooWSelf", Nick: "alice", Self: true}}
	r := startLines(t, room, Plain)
	r.next() // ready
	// The writer's clock is time.Now, and it shows times in its location.
	old := time.Date(2024, 6, 3, 14, 0, 0, 0, time.Local)
	room.events <- chat.Event{Kind: chat.KindMessage, Time: t0, ID: "S/1", PeerID: "12D3KooWSelf", Nick: "alice", Text: "mine, last year", Sent: old, Order: old, Self: true, History: true}
	room.events <- chat.Event{Kind: chat.KindMessage, Time: t0, ID: "B/1", PeerID: "12D3KooWBob", Nick: "bob", Text: "his", Sent: old.Add(time.Minute), Order: old.Add(time.Minute), History: true}
	room.events <- chat.Event{Kind: chat.KindHistory, Time: t0, Count: 2}
	room.events <- chat.Event{Kind: chat.KindNotice, Time: t0, Text: "next"}
	want := []string{"[2024-06-03 14:00] <alice> mine, last year", "[2024-06-03 14:01] <bob> his", "— 2 earlier messages —", "* next"}
	for i, w := range want {
		if got := r.next(); got != w {
			t.Errorf("line %d = %q, want %q", i, got, w)
		}
	}
}

// TestLinesAloneOncePerSilence checks that the notice after our own line
// in an empty room is said once, and again only after someone was there.
func TestLinesAloneOncePerSilence(t *testing.T) {
	self := chat.Member{PeerID: "12D3KooWSelf", Nick: "alice", Self: true}
	bob := chat.Member{PeerID: "12D3KooWBob", Nick: "bob"}
	echo := func(text string) chat.Event {
		return chat.Event{Kind: chat.KindMessage, Time: t0, ID: "S/" + text, PeerID: self.PeerID, Nick: "alice", Text: text, Sent: t0, Self: true}
	}
	const notice = "* nobody else is here yet — it will be delivered when someone joins"
	room := newFakeRoom("private")
	room.setMembers(self)
	r := startLines(t, room, Plain)
	r.next() // ready
	expect := func(lines ...string) {
		t.Helper()
		room.events <- chat.Event{Kind: chat.KindNotice, Time: t0, Text: "mark"}
		for _, w := range append(lines, "* mark") {
			if got := r.next(); got != w {
				t.Fatalf("got %q, want %q", got, w)
			}
		}
	}
	room.events <- echo("one")
	room.events <- echo("two")
	expect("[14:03] <alice> one", notice, "[14:03] <alice> two")
	// bob comes and goes between two snapshots: he was there.
	room.events <- chat.Event{Kind: chat.KindJoin, Time: t0, PeerID: bob.PeerID, Nick: "bob"}
	room.events <- chat.Event{Kind: chat.KindLeave, Time: t0, PeerID: bob.PeerID, Nick: "bob", Reason: chat.ReasonQuit}
	room.events <- echo("three")
	room.events <- echo("four")
	expect("* bob joined", "* bob left (quit)", "[14:03] <alice> three", notice, "[14:03] <alice> four")
}

// entriesOf returns the IDs of sb's entries (the text of their first span
// for entries without one), oldest first.
func entriesOf(sb *scrollback) []string {
	var out []string
	for i := range sb.entries.len() {
		e := sb.entries.at(i)
		if e.id != "" {
			out = append(out, e.id)
		} else {
			out = append(out, e.spans[0].text)
		}
	}
	return out
}

// testEntry is an entry sorting at minute min with ID id, showing id.
func testEntry(min int, id string) entry {
	return entry{kind: kindMessage, at: int64(min) * int64(time.Minute), id: id, spans: []span{{id, nil}}}
}

func TestScrollbackInsert(t *testing.T) {
	tests := []struct {
		name  string
		have  []entry
		batch []entry
		want  []string
	}{
		{"into nothing", nil, []entry{testEntry(1, "a"), testEntry(2, "b")}, []string{"a", "b"}},
		{"all before", []entry{testEntry(5, "x"), testEntry(6, "y")}, []entry{testEntry(1, "a"), testEntry(2, "b")},
			[]string{"a", "b", "x", "y"}},
		{"all after", []entry{testEntry(1, "x")}, []entry{testEntry(5, "a"), testEntry(6, "b")}, []string{"x", "a", "b"}},
		{"interleaved", []entry{testEntry(1, "x"), testEntry(3, "y"), testEntry(5, "z")},
			[]entry{testEntry(0, "a"), testEntry(2, "b"), testEntry(4, "c"), testEntry(4, "d"), testEntry(6, "e")},
			[]string{"a", "x", "b", "y", "c", "d", "z", "e"}},
		{"same time: by ID", []entry{testEntry(1, "m"), testEntry(1, "p")},
			[]entry{testEntry(1, "a"), testEntry(1, "n"), testEntry(1, "z")},
			[]string{"a", "m", "n", "p", "z"}},
		{"same key keeps batch order", []entry{testEntry(1, "m")},
			[]entry{{kind: kindHistory, at: testEntry(2, "").at, id: "n", spans: []span{{"sep", nil}}}, testEntry(2, "n")},
			[]string{"m", "n", "n"}},
		// Looking from the newest end, a line goes after the newest one
		// that is not newer than it: an older entry with a key ahead (a
		// sender's clock) does not pull it up above the lines after that.
		{"a key ahead", []entry{testEntry(5, "ahead"), testEntry(1, "y"), testEntry(6, "z")},
			[]entry{testEntry(3, "a")},
			[]string{"ahead", "y", "a", "z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := &scrollback{follow: true, width: 40}
			for _, e := range tt.have {
				sb.add(e)
			}
			sb.insert(slices.Clone(tt.batch))
			if got := entriesOf(sb); !slices.Equal(got, tt.want) {
				t.Errorf("entries %q, want %q", got, tt.want)
			}
			if sb.unread != 0 {
				t.Errorf("history counted as %d unread", sb.unread)
			}
		})
	}
}

// TestScrollbackInsertRandom inserts random sorted batches among entries
// with random keys (not sorted: the order they were shown in) and compares
// with inserting the lines one by one, each after the newest entry not
// after it; the anchor stays on its entry.
func TestScrollbackInsertRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 2025))
	for round := range 200 {
		sb := &scrollback{follow: true, width: 40}
		var want []entry
		for i := range rng.IntN(50) {
			e := testEntry(rng.IntN(100), fmt.Sprintf("e%d", i))
			sb.add(e)
			want = append(want, e)
		}
		if len(want) > 0 && rng.IntN(2) == 0 {
			sb.follow, sb.anchor = false, rowPos{e: rng.IntN(len(want))}
		}
		for b := range 3 {
			var batch []entry
			for i := range rng.IntN(20) {
				batch = append(batch, testEntry(rng.IntN(100), fmt.Sprintf("b%d.%d", b, i)))
			}
			slices.SortStableFunc(batch, func(x, y entry) int {
				if c := cmp.Compare(x.at, y.at); c != 0 {
					return c
				}
				return strings.Compare(x.id, y.id)
			})
			anchorID := ""
			if !sb.follow {
				anchorID = sb.entries.at(sb.anchor.e).id
			}
			sb.insert(slices.Clone(batch))
			for _, e := range batch {
				j := len(want)
				for j > 0 && want[j-1].sortsAfter(e.at, e.id) {
					j--
				}
				want = slices.Insert(want, j, e)
			}
			var wantIDs []string
			for _, e := range want {
				wantIDs = append(wantIDs, e.id)
			}
			if got := entriesOf(sb); !slices.Equal(got, wantIDs) {
				t.Fatalf("round %d batch %d: entries\n%q\nwant\n%q", round, b, got, wantIDs)
			}
			if !sb.follow && sb.entries.at(sb.anchor.e).id != anchorID {
				t.Fatalf("round %d batch %d: anchor moved from %q to %q", round, b, anchorID, sb.entries.at(sb.anchor.e).id)
			}
		}
	}
}

// TestScrollbackInsertKeepsView checks the viewport across an insertion:
// following it stays at the bottom, scrolled up it shows the same rows,
// and the row caches stay attached to their entries, across blocks.
func TestScrollbackInsertKeepsView(t *testing.T) {
	const height = 5
	n := 2*entryBlock + 100 // three blocks
	fill := func() *scrollback {
		sb := &scrollback{follow: true, width: 40}
		for i := range n {
			sb.add(testEntry(2*i+1, fmt.Sprintf("e%05d", i)))
		}
		return sb
	}
	rows := func(sb *scrollback) []string {
		var out []string
		for _, r := range sb.visible(height) {
			out = append(out, ansi.Strip(r.s))
		}
		return out
	}
	// One line near the start, one in the middle, one at the end.
	batch := func() []entry {
		return []entry{testEntry(2, "h-early"), testEntry(2*entryBlock+2, "h-mid"), testEntry(2*n+2, "h-late")}
	}

	t.Run("following", func(t *testing.T) {
		sb := fill()
		sb.prepare(height)
		sb.insert(batch())
		if got := rows(sb); got[len(got)-1] != "h-late" || !sb.follow {
			t.Errorf("after inserting, the bottom rows are %q (following %v), want the newest line last", got, sb.follow)
		}
		got := entriesOf(sb)
		if len(got) != n+3 || got[1] != "h-early" || got[entryBlock+2] != "h-mid" || got[n+2] != "h-late" {
			t.Errorf("inserted lines out of place: %q %q %q", got[1], got[entryBlock+2], got[n+2])
		}
	})
	t.Run("scrolled up", func(t *testing.T) {
		sb := fill()
		sb.scroll(-(n / 2), height) // the middle block
		sb.prepare(height)
		before := rows(sb)
		sb.insert(batch())
		if got := rows(sb); !slices.Equal(got, before) || sb.follow {
			t.Errorf("scrolled up, the view moved: %q, was %q (following %v)", got, before, sb.follow)
		}
		for _, c := range sb.wrapped {
			e := sb.entries.at(c.i)
			if e.wrapKey != c.wrapKey || len(e.rows) == 0 || ansi.Strip(e.rows[0].s) != e.id {
				t.Fatalf("row cache %d does not belong to entry %q", c.i, e.id)
			}
		}
	})
}

// TestScreenHistory covers history on the screen: a batch at join goes
// above what is shown, under a separator, dated when not of today; a batch
// from a sync goes in between live lines; the view stays at the bottom;
// history is neither unread nor a mention.
func TestScreenHistory(t *testing.T) {
	bob := chat.Member{PeerID: idBob, Nick: "bob"}
	self := chat.Member{PeerID: idAlice, Nick: "alice", Self: true}

	t.Run("in place", func(t *testing.T) {
		room := newScreenRoom("private")
		room.setMembers(self, bob)
		ts := newTestScreen(t, room, 80, 20)
		ts.events(
			chat.Event{Kind: chat.KindJoin, Time: testStart, PeerID: idAlice, Nick: "alice", Self: true},
			histEvent(-24*60, idBob, "bob", "yesterday's line"),
			histEvent(-30, idBob, "bob", "this morning"),
		)
		// The batch is put in place when it ends.
		if s := ts.screen(); strings.Contains(s, "yesterday's line") {
			t.Errorf("history shown before its batch ended:\n%s", s)
		}
		ts.events(histEnd(2, ""), msgEvent(1, idBob, "bob", "live one"), msgEvent(5, idBob, "bob", "live five"))
		ts.events(histEvent(3, idCarol, "carol", "missed three"), histEnd(1, idBob))
		lines := strings.Split(ts.screen(), "\n")
		want := []string{
			"— 2 earlier messages —",
			"[2025-06-02 14:00] <bob> yesterday's line",
			"[13:30] <bob> this morning",
			"Welcome to #lobby",
			"[14:01] <bob> live one",
			"— 1 earlier message —",
			"[14:03] <carol> missed three",
			"[14:05] <bob> live five",
		}
		at := 0
		for _, w := range want {
			i := slices.IndexFunc(lines[at:], func(l string) bool { return strings.Contains(l, w) })
			if i < 0 {
				t.Fatalf("want %q after line %d:\n%s", w, at, strings.Join(lines, "\n"))
			}
			at += i + 1
		}
		if !ts.m.tab().msgs.sb.follow {
			t.Errorf("not following after history came")
		}
		if content := ts.m.View().Content; !strings.Contains(content, ts.m.st.dim.Render("— 1 earlier message —")) {
			t.Errorf("the separator is not dim:\n%q", content)
		}
	})

	t.Run("order falls back to sent", func(t *testing.T) {
		room := newScreenRoom("private")
		ts := newTestScreen(t, room, 80, 20)
		ts.events(msgEvent(10, idBob, "bob", "live ten"))
		e := histEvent(5, idBob, "bob", "five, no order")
		e.Order = time.Time{}
		ts.events(e, histEnd(1, idBob))
		s := ts.screen()
		if i, j := strings.Index(s, "five, no order"), strings.Index(s, "live ten"); i < 0 || j < 0 || i > j {
			t.Errorf("a line without Order is not placed by Sent:\n%s", s)
		}
	})

	t.Run("batch ended without its event", func(t *testing.T) {
		room := newScreenRoom("private")
		ts := newTestScreen(t, room, 80, 20)
		ts.events(histEvent(-5, idBob, "bob", "old"))
		ts.events(msgEvent(1, idBob, "bob", "live"))
		s := ts.screen()
		if !strings.Contains(s, "— 1 earlier message —") || strings.Index(s, "old") > strings.Index(s, "live") {
			t.Errorf("a batch cut short by a live line is not shown in place:\n%s", s)
		}
	})

	t.Run("not unread, no mention", func(t *testing.T) {
		ts := newRoomsScreen(t, 100, 30) // in lobby
		ts.eventsIn("dev", histEvent(-5, idBob, "bob", "alice: old news"), histEvent(-4, idBob, "bob", "more"), histEnd(2, idBob))
		dev := ts.m.sess.find("dev")
		if dev.unread != 0 || dev.mentions != 0 {
			t.Errorf("history counted: dev unread %d, mentions %d", dev.unread, dev.mentions)
		}
		ts.eventsIn("dev", msgEvent(6, idBob, "bob", "alice: new"))
		if dev.unread != 1 || dev.mentions != 1 {
			t.Errorf("after a live line dev unread %d, mentions %d; want 1 and 1", dev.unread, dev.mentions)
		}
	})

	t.Run("scrolled up", func(t *testing.T) {
		room := newScreenRoom("private")
		ts := newTestScreen(t, room, 60, 12)
		var evs []chat.Event
		for i := range 40 {
			evs = append(evs, msgEvent(i, idBob, "bob", fmt.Sprintf("line %d", i)))
		}
		ts.events(evs...)
		ts.key("pgup")
		before := ts.screen()
		ts.events(histEvent(-60, idBob, "bob", "older"), histEvent(50, idBob, "bob", "newer"), histEnd(2, idBob))
		if after := ts.screen(); after != before {
			t.Errorf("history moved the view or counted as new:\n%s\nwas:\n%s", after, before)
		}
		ts.key("end")
		if s := ts.screen(); !strings.Contains(s, "newer") {
			t.Errorf("the history line after the view is not at the bottom:\n%s", s)
		}
	})

	t.Run("own line from the log", func(t *testing.T) {
		room := newScreenRoom("private") // alone
		ts := newTestScreen(t, room, 80, 20)
		e := histEvent(-5, idAlice, "alice", "mine")
		e.Self = true
		ts.events(e, histEnd(1, ""))
		if s := ts.screen(); !strings.Contains(s, "<alice> mine") || strings.Contains(s, "will be delivered") {
			t.Errorf("our own line from the log:\n%s", s)
		}
	})
}

// TestScreenAloneOncePerSilence checks that the notice after our own line
// in an empty room is shown once, and again after someone was there.
func TestScreenAloneOncePerSilence(t *testing.T) {
	self := chat.Member{PeerID: idAlice, Nick: "alice", Self: true}
	room := newScreenRoom("private")
	ts := newTestScreen(t, room, 120, 20)
	ts.enter("one")
	ts.enter("two")
	if s := ts.screen(); strings.Count(s, "nobody else is here yet — it will be delivered when someone joins") != 1 {
		t.Errorf("want the notice once for two lines:\n%s", s)
	}
	room.setMembers(self)
	ts.events(
		chat.Event{Kind: chat.KindJoin, Time: testStart, PeerID: idBob, Nick: "bob"},
		chat.Event{Kind: chat.KindLeave, Time: testStart, PeerID: idBob, Nick: "bob", Reason: chat.ReasonQuit},
	)
	ts.enter("three")
	if s := ts.screen(); strings.Count(s, "will be delivered") != 2 {
		t.Errorf("want the notice again after bob came and went:\n%s", s)
	}
}

// historyScenario is a room joined with yesterday's lines on disk, then a
// live talk, and a sync that brings a line said while we were cut off.
func historyScenario(ts *testScreen) {
	ts.room.setMembers(
		chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
		chat.Member{PeerID: idBob, Nick: "bob"},
		chat.Member{PeerID: idCarol, Nick: "carol"},
	)
	own := histEvent(-20*60+2, idAlice, "alice", "see you tomorrow")
	own.Self = true
	ts.events(
		chat.Event{Kind: chat.KindJoin, Time: testStart, PeerID: idAlice, Nick: "alice", Self: true},
		histEvent(-20*60, idBob, "bob", "shipping the release tonight"),
		histEvent(-20*60+1, idCarol, "carol", "good luck, and a long line that wraps under its date stamp"),
		own,
		histEnd(3, ""),
		chat.Event{Kind: chat.KindJoin, Time: testStart, PeerID: idBob, Nick: "bob"},
		msgEvent(1, idBob, "bob", "morning"),
		msgEvent(4, idBob, "bob", "did you see carol's note?"),
	)
	ts.events(histEvent(2, idCarol, "carol", "release is out"), histEnd(1, idBob))
}
