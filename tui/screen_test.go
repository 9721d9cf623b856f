package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"lanchat/node/chat"
)

// Golden files live in testdata/<Test>/<case>.golden; refresh them with
//
//	go test ./tui/ -run TestScreenGolden -update
//
// The screens are plain text with styles stripped (layout), except the
// "styled" case, which pins the escape sequences too. Everything is
// deterministic: fixed clock, fixed peer IDs, fixed sizes, and lipgloss
// renders styles without looking at the environment.

// chatScenario fills a room with a typical conversation: members joining,
// talking (with a mention of us and our own reply), an action, a nick
// change, a notice, a lost member, a long line and a day change.
func chatScenario(ts *testScreen) {
	ts.room.setMembers(
		chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
		chat.Member{PeerID: idBob, Nick: "bob", Addrs: []string{"/ip4/127.0.0.1/tcp/4002"}},
		chat.Member{PeerID: idCarol, Nick: "carol", Addrs: []string{"/ip4/127.0.0.1/tcp/4003"}},
		chat.Member{PeerID: idDave, Nick: "dave", Lost: true},
		chat.Member{PeerID: idYuki, Nick: "ゆき"},
	)
	at := func(min int) time.Time { return testStart.Add(time.Duration(min) * time.Minute) }
	ts.events(
		chat.Event{Kind: chat.KindJoin, Time: at(0), PeerID: idAlice, Nick: "alice", Self: true},
		chat.Event{Kind: chat.KindJoin, Time: at(0), PeerID: idBob, Nick: "bob"},
		chat.Event{Kind: chat.KindJoin, Time: at(0), PeerID: idCarol, Nick: "caroline"},
		chat.Event{Kind: chat.KindJoin, Time: at(0), PeerID: idDave, Nick: "dave"},
		msgEvent(1, idBob, "bob", "hi everyone"),
		msgEvent(2, idCarol, "caroline", "hey alice, did you see the build?"),
		chat.Event{Kind: chat.KindMessage, Time: at(2), PeerID: idAlice, Nick: "alice", Text: "yes, it's green", Self: true},
		chat.Event{Kind: chat.KindMessage, Time: at(3), PeerID: idBob, Nick: "bob", Text: "waves", Action: true},
		chat.Event{Kind: chat.KindNick, Time: at(4), PeerID: idCarol, Nick: "carol", OldNick: "caroline"},
		chat.Event{Kind: chat.KindNotice, Time: at(5), Text: "2 lanchat peers nearby use a different key"},
		chat.Event{Kind: chat.KindLeave, Time: at(6), PeerID: idDave, Nick: "dave", Reason: chat.ReasonLost},
		msgEvent(7, idBob, "bob", "a long line to show wrapping: the quick brown fox jumps over the lazy dog, "+
			"then the lazy dog jumps over the quick brown fox, and both of them go home for tea."),
		chat.Event{Kind: chat.KindJoin, Time: at(10*60 + 5), PeerID: idYuki, Nick: "ゆき"},
		msgEvent(10*60+6, idYuki, "ゆき", "おはようございます"),
	)
}

// japaneseScenario has lines of Japanese, emoji and combining marks that
// must wrap on cell width, and Japanese in the input line.
func japaneseScenario(ts *testScreen) {
	ts.room.setMembers(
		chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
		chat.Member{PeerID: idYuki, Nick: "ゆき"},
		chat.Member{PeerID: idBob, Nick: "bob"},
	)
	ts.events(
		chat.Event{Kind: chat.KindJoin, Time: testStart, PeerID: idYuki, Nick: "ゆき"},
		chat.Event{Kind: chat.KindJoin, Time: testStart, PeerID: idBob, Nick: "bob"},
		msgEvent(1, idYuki, "ゆき", "こんにちは世界！今日はいい天気ですね。日本語の長い文章がちゃんと折り返されるかテストします。"),
		msgEvent(2, idBob, "bob", "emoji 👍🎉🍣 and combining marks: e\u0301te\u0301, Zoe\u0308, man\u0303ana, also ｶﾀｶﾅ and 漢字まじり"),
		msgEvent(3, idYuki, "ゆき", "絵文字も🍙🍵大丈夫？"),
	)
	ts.typeText("日本語のテスト")
}

// scrolledScenario has more lines than fit, is scrolled up, and then gets
// three new messages.
func scrolledScenario(ts *testScreen) {
	ts.room.setMembers(
		chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
		chat.Member{PeerID: idBob, Nick: "bob"},
	)
	evs := []chat.Event{{Kind: chat.KindJoin, Time: testStart, PeerID: idBob, Nick: "bob"}}
	for i := range 40 {
		evs = append(evs, msgEvent(i, idBob, "bob", fmt.Sprintf("line %d", i)))
	}
	ts.events(evs...)
	ts.key("pgup")
	ts.key("pgup")
	ts.events(msgEvent(41, idBob, "bob", "new one"), msgEvent(42, idBob, "bob", "new two"), msgEvent(43, idBob, "bob", "new three"))
}

// duplicateScenario has two members called alice.
func duplicateScenario(ts *testScreen) {
	ts.room.setMembers(
		chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
		chat.Member{PeerID: idAlice2, Nick: "alice"},
		chat.Member{PeerID: idBob, Nick: "bob"},
	)
	ts.events(
		chat.Event{Kind: chat.KindJoin, Time: testStart, PeerID: idAlice2, Nick: "alice"},
		msgEvent(1, idAlice2, "alice", "hello, I am the other alice"),
		chat.Event{Kind: chat.KindMessage, Time: testStart.Add(2 * time.Minute), PeerID: idAlice, Nick: "alice", Text: "hi other me", Self: true},
	)
}

// openScenario is an open network with one peer.
func openScenario(ts *testScreen) {
	ts.room.setMembers(
		chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
		chat.Member{PeerID: idBob, Nick: "bob"},
	)
	ts.events(
		chat.Event{Kind: chat.KindJoin, Time: testStart, PeerID: idBob, Nick: "bob"},
		msgEvent(1, idBob, "bob", "is this private?"),
	)
}

func TestScreenGolden(t *testing.T) {
	tests := []struct {
		name    string
		network string
		w, h    int
		fill    func(*testScreen)
		styled  bool
	}{
		{"wide", "private", 100, 30, chatScenario, false},
		{"narrow", "private", 40, 10, chatScenario, false},
		{"japanese_wide", "private", 70, 14, japaneseScenario, false},
		{"japanese_narrow", "private", 40, 14, japaneseScenario, false},
		{"scrolled_new_messages", "private", 60, 12, scrolledScenario, false},
		{"duplicate_nicks", "private", 80, 12, duplicateScenario, false},
		{"open_wide", "open", 100, 12, openScenario, false},
		{"open_narrow", "open", 40, 10, openScenario, false},
		{"styled", "private", 80, 20, chatScenario, true},
		{"history", "private", 80, 20, historyScenario, false},
		{"history_narrow_top", "private", 40, 14, func(ts *testScreen) { historyScenario(ts); ts.key("home") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestScreen(t, newScreenRoom(tt.network), tt.w, tt.h)
			tt.fill(ts)
			out := ts.golden()
			if tt.styled {
				out = ts.m.View().Content
			}
			golden.RequireEqual(t, out)
		})
	}
}

// TestScreenLayoutFacts checks the facts the goldens show, so a golden
// refreshed by mistake cannot hide a regression.
func TestScreenLayoutFacts(t *testing.T) {
	t.Run("wide", func(t *testing.T) {
		ts := newTestScreen(t, newScreenRoom("private"), 100, 30)
		chatScenario(ts)
		s := ts.screen()
		for _, want := range []string{
			"#lobby", "🔒 private", "alice", "3 peers", // header: dave is lost
			"[14:01] <bob> hi everyone",
			"* bob waves",
			"-- caroline is now known as carol",
			"<-- dave was lost (no answer)",
			"─── Wednesday, 4 June 2025 ───",
			"--> ゆき joined",
			"?dave",     // lost marker in the member list
			" 1 lost",   // above the lost members
			"*alice",    // ourselves in the member list
			"4 members", // present ones only
		} {
			if !strings.Contains(s, want) {
				t.Errorf("wide screen lacks %q:\n%s", want, s)
			}
		}
	})
	t.Run("narrow hides the member list", func(t *testing.T) {
		ts := newTestScreen(t, newScreenRoom("private"), 40, 10)
		chatScenario(ts)
		if s := ts.screen(); strings.Contains(s, "members") || strings.Contains(s, "│") {
			t.Errorf("narrow screen shows the member list:\n%s", s)
		}
	})
	t.Run("duplicate nicks get a peer-ID suffix", func(t *testing.T) {
		ts := newTestScreen(t, newScreenRoom("private"), 80, 12)
		duplicateScenario(ts)
		s := ts.screen()
		for _, want := range []string{"<alice#3f2a> hello", "<alice#a1c3> hi other me", "alice#3f2a", "*alice#a1c3"} {
			if !strings.Contains(s, want) {
				t.Errorf("screen lacks %q:\n%s", want, s)
			}
		}
	})
	t.Run("open network warns", func(t *testing.T) {
		for _, w := range []int{100, 40} {
			ts := newTestScreen(t, newScreenRoom("open"), w, 10)
			openScenario(ts)
			s := ts.screen()
			if !strings.Contains(strings.Split(s, "\n")[0], "open") || strings.Contains(s, "🔒") {
				t.Errorf("width %d: header does not say open:\n%s", w, s)
			}
			if w == 100 && !strings.Contains(s, "anyone on this LAN can join") {
				t.Errorf("wide open header lacks the warning:\n%s", s)
			}
		}
	})
	t.Run("japanese input cursor", func(t *testing.T) {
		ts := newTestScreen(t, newScreenRoom("private"), 40, 14)
		japaneseScenario(ts)
		c := ts.m.View().Cursor
		// "> " is 2 cells and 日本語のテスト is 7 wide characters.
		if c == nil || c.X != 2+14 || c.Y != 13 {
			t.Errorf("cursor = %+v, want 16,13", c)
		}
		ts.key("left")
		ts.key("left")
		if c := ts.m.View().Cursor; c.X != 2+10 {
			t.Errorf("after two lefts cursor x = %d, want 12", c.X)
		}
	})
}

// TestScreenNickStyles checks the colours the styled golden pins, as facts:
// a member keeps its colour across a nick change (it follows the peer ID),
// and our own lines are marked with a style of their own.
func TestScreenNickStyles(t *testing.T) {
	ts := newTestScreen(t, newScreenRoom("private"), 100, 20)
	ts.room.setMembers(chat.Member{PeerID: idAlice, Nick: "alice", Self: true}, chat.Member{PeerID: idBob, Nick: "bob"})
	ts.events(
		msgEvent(1, idBob, "bob", "before"),
		chat.Event{Kind: chat.KindNick, Time: testStart, PeerID: idBob, OldNick: "bob", Nick: "robert"},
		msgEvent(2, idBob, "robert", "after"),
		chat.Event{Kind: chat.KindMessage, Time: testStart, PeerID: idAlice, Nick: "alice", Text: "mine", Self: true},
	)
	// nickStyle returns the escape sequences right before nick+"> "+text.
	content := ts.m.View().Content
	nickStyle := func(nick, text string) string {
		t.Helper()
		for _, row := range strings.Split(content, "\n") {
			plain := ansi.Strip(row)
			if !strings.Contains(plain, "<"+nick+"> "+text) {
				continue
			}
			_, rest, _ := strings.Cut(row, "<")
			i := strings.Index(rest, nick)
			return rest[:i]
		}
		t.Fatalf("no row shows <%s> %s:\n%s", nick, text, ansi.Strip(content))
		return ""
	}
	before, after, own := nickStyle("bob", "before"), nickStyle("robert", "after"), nickStyle("alice", "mine")
	if before == "" || before != after {
		t.Errorf("bob's colour %q changed to %q with his nick", before, after)
	}
	if own == "" || own == before {
		t.Errorf("our own nick style %q is not marked apart from others' (%q)", own, before)
	}
	if want := ts.m.st.ownNicks[nickColor(idAlice, len(nickPalette))].pre; own != want {
		t.Errorf("our own nick style = %q, want the own-nick style %q", own, want)
	}
}

// TestScreenSizes draws every size from 0×0 to 45×12 and a few huge and
// degenerate ones: no panic, the right number of lines, none too wide.
func TestScreenSizes(t *testing.T) {
	ts := newTestScreen(t, newScreenRoom("open"), 80, 24)
	chatScenario(ts)
	ts.typeText("a line being typed 日本語 with some length to it")
	for w := 0; w <= 45; w++ {
		for h := 0; h <= 12; h++ {
			ts.update(tea.WindowSizeMsg{Width: w, Height: h})
			ts.screen()
			ts.key("pgup")
			ts.screen()
			ts.key("home")
			ts.screen()
			ts.key("end")
		}
	}
	for _, sz := range [][2]int{{1000, 300}, {1, 1}, {2, 50}, {61, 3}, {-1, -1}} {
		ts.update(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		ts.screen()
	}
}

// TestScreenResizeKeepsPosition checks that resizing while scrolled up
// keeps the same lines in view and that resizing at the bottom follows.
func TestScreenResizeKeepsPosition(t *testing.T) {
	ts := newTestScreen(t, newScreenRoom("private"), 60, 12)
	scrolledScenario(ts)
	before := ts.screen()
	if !strings.Contains(before, "line 22") {
		t.Fatalf("scrolled screen lacks line 22:\n%s", before)
	}
	ts.update(tea.WindowSizeMsg{Width: 100, Height: 12})
	ts.update(tea.WindowSizeMsg{Width: 45, Height: 12})
	after := ts.screen()
	if !strings.Contains(after, "line 22") || !strings.Contains(after, "3 new messages") {
		t.Errorf("after resizing, the view moved:\n%s", after)
	}
	ts.key("end")
	ts.update(tea.WindowSizeMsg{Width: 50, Height: 10})
	if s := ts.screen(); !strings.Contains(s, "new three") || strings.Contains(s, "new messages") {
		t.Errorf("at the bottom after End and a resize:\n%s", s)
	}
}

// TestScreenScrolling covers the scroll keys, the mouse wheel, following
// only at the bottom and the new-messages marker.
func TestScreenScrolling(t *testing.T) {
	ts := newTestScreen(t, newScreenRoom("private"), 59, 12) // 9 pane rows, no member list
	var evs []chat.Event
	for i := range 100 {
		evs = append(evs, msgEvent(i, idBob, "bob", fmt.Sprintf("line %d", i)))
	}
	ts.events(evs...)
	last := func() string {
		lines := strings.Split(ts.screen(), "\n")
		return strings.TrimSpace(lines[len(lines)-3]) // last pane row
	}
	if got := last(); !strings.HasSuffix(got, "line 99") {
		t.Fatalf("following: last row %q", got)
	}
	ts.key("pgup")
	if got := last(); !strings.HasSuffix(got, "line 91") {
		t.Errorf("after PgUp last row %q, want line 91", got)
	}
	ts.events(msgEvent(200, idBob, "bob", "fresh"))
	if got := last(); !strings.HasSuffix(got, "line 91") {
		t.Errorf("scrolled up, a new message moved the view: last row %q", got)
	}
	if s := ts.screen(); !strings.Contains(s, "1 new message below") {
		t.Errorf("no new-message marker:\n%s", s)
	}
	ts.update(tea.MouseWheelMsg{Button: tea.MouseWheelUp})
	if got := last(); !strings.HasSuffix(got, "line 88") {
		t.Errorf("after wheel up last row %q, want line 88", got)
	}
	ts.update(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	ts.key("home")
	if s := ts.screen(); !strings.Contains(s, "Welcome to #lobby") {
		t.Errorf("Home does not show the first line:\n%s", s)
	}
	ts.key("pgup") // at the top already: stays
	if s := ts.screen(); !strings.Contains(s, "Welcome to #lobby") {
		t.Errorf("PgUp at the top moved:\n%s", s)
	}
	for range 20 {
		ts.key("pgdown")
	}
	if got := last(); !strings.HasSuffix(got, "fresh") || !ts.m.tab().msgs.sb.follow {
		t.Errorf("PgDn to the end: last row %q, following %v", got, ts.m.tab().msgs.sb.follow)
	}
	ts.events(msgEvent(201, idBob, "bob", "fresher"))
	if got := last(); !strings.HasSuffix(got, "fresher") {
		t.Errorf("back at the bottom, not following: last row %q", got)
	}
	ts.key("pgup")
	ts.key("end")
	if s := ts.screen(); !ts.m.tab().msgs.sb.follow || strings.Contains(s, "scrolled up") {
		t.Errorf("End does not return to the bottom:\n%s", s)
	}
}

// TestScreenDayChange checks that a line on a new day is preceded by a
// day-change line, and only then.
func TestScreenDayChange(t *testing.T) {
	ts := newTestScreen(t, newScreenRoom("private"), 80, 20)
	ts.events(msgEvent(1, idBob, "bob", "before midnight"), msgEvent(2, idBob, "bob", "still today"))
	if s := ts.screen(); strings.Contains(s, "───  ") || strings.Count(s, "June") > 0 {
		t.Errorf("day line without a day change:\n%s", s)
	}
	ts.events(msgEvent(24*60, idBob, "bob", "tomorrow"))
	if s := ts.screen(); strings.Count(s, "Wednesday, 4 June 2025") != 1 {
		t.Errorf("want one day-change line:\n%s", s)
	}
}

// TestScreenSanitizes feeds a peer's nick and text full of escape
// sequences and control characters: none may reach the terminal. The only
// escape sequences in the output are the screen's own colours (SGR).
func TestScreenSanitizes(t *testing.T) {
	evil := "\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\\x07\x08\r\nX\u202e\x9b31m"
	room := newScreenRoom("private")
	room.setMembers(
		chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
		chat.Member{PeerID: idBob + "\x1b[5m", Nick: "bob\x1b[31m\x1b]0;t\x07", Addrs: []string{"/ip4/1.2.3.4\x1b[2J"}},
	)
	ts := newTestScreen(t, room, 100, 30)
	ts.events(
		chat.Event{Kind: chat.KindJoin, Time: testStart, PeerID: idBob + "\x1b[5m", Nick: "bob\x1b[31m\x1b]0;t\x07"},
		msgEvent(1, idBob+"\x1b[5m", "bob\x1b[31m\x1b]0;t\x07", evil),
		chat.Event{Kind: chat.KindMessage, Time: testStart, PeerID: idBob, Nick: evil, Text: evil, Action: true},
		chat.Event{Kind: chat.KindNick, Time: testStart, PeerID: idBob, Nick: evil, OldNick: evil},
		chat.Event{Kind: chat.KindNotice, Time: testStart, Text: evil},
		chat.Event{Kind: chat.KindError, Time: testStart, Text: evil},
		chat.Event{Kind: chat.KindLeave, Time: testStart, PeerID: idBob, Nick: evil, Reason: evil},
	)
	ts.enter("/who")
	for _, w := range []int{100, 40} {
		ts.update(tea.WindowSizeMsg{Width: w, Height: 30})
		content := ts.m.View().Content
		checkOnlySGR(t, content)
		if !strings.Contains(ansi.Strip(content), "click") {
			t.Errorf("the visible text of the message is gone:\n%s", ansi.Strip(content))
		}
	}
}

// checkOnlySGR fails unless every escape sequence in s is an SGR (style)
// sequence and s holds no other control character than newline.
func checkOnlySGR(t *testing.T, s string) {
	t.Helper()
	var state byte
	for len(s) > 0 {
		seq, _, n, newState := ansi.DecodeSequence(s, state, nil)
		state = newState
		switch {
		case len(seq) > 1 && seq[0] == '\x1b':
			if seq[1] != '[' || seq[len(seq)-1] != 'm' {
				t.Errorf("escape sequence %q reaches the terminal", seq)
			}
		case len(seq) == 1 && seq[0] < 0x20 && seq[0] != '\n':
			t.Errorf("control character %q reaches the terminal", seq)
		case seq == "\x7f":
			t.Errorf("DEL reaches the terminal")
		}
		for _, r := range seq {
			if r >= 0x80 && r < 0xa0 {
				t.Errorf("C1 control %U reaches the terminal", r)
			}
		}
		s = s[n:]
	}
}
