package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"lanchat/node/chat"
)

// newRoomsScreen makes a w×h screen in lobby, dev and ops: bob and carol
// are in the lobby, bob and dave in dev, ゆき in ops.
func newRoomsScreen(t *testing.T, w, h int) *testScreen {
	t.Helper()
	host := newScreenHost("private")
	self := chat.Member{PeerID: idAlice, Nick: "alice", Self: true}
	lobby, dev, ops := host.room("lobby"), host.room("dev"), host.room("ops")
	lobby.setMembers(self, chat.Member{PeerID: idBob, Nick: "bob"}, chat.Member{PeerID: idCarol, Nick: "carol"})
	dev.setMembers(self, chat.Member{PeerID: idBob, Nick: "bob"}, chat.Member{PeerID: idDave, Nick: "dave"})
	ops.setMembers(self, chat.Member{PeerID: idYuki, Nick: "ゆき"})
	return newTestScreen(t, lobby, w, h, dev, ops)
}

// roomsScenario has talk in all three rooms while the lobby is current:
// three lines in dev, one of them to alice, and one in ops.
func roomsScenario(ts *testScreen) {
	ts.eventsIn("lobby",
		chat.Event{Kind: chat.KindJoin, Time: testStart, PeerID: idBob, Nick: "bob"},
		msgEvent(1, idBob, "bob", "morning all"),
		msgEvent(2, idCarol, "carol", "anyone for coffee?"),
	)
	ts.eventsIn("dev",
		chat.Event{Kind: chat.KindJoin, Time: testStart, PeerID: idDave, Nick: "dave"},
		msgEvent(3, idDave, "dave", "the build is red"),
		msgEvent(4, idBob, "bob", "alice: can you look at it?"),
		msgEvent(5, idDave, "dave", "never mind, flaky test"),
	)
	ts.eventsIn("ops", msgEvent(6, idYuki, "ゆき", "deploy at three"))
}

// TestScreenRoomsGolden pins the layout with several rooms: the room bar
// with unread counts and the mention marker at 100×30, the bar collapsed
// into the header at 40×10, and dev after switching to it.
func TestScreenRoomsGolden(t *testing.T) {
	for _, tt := range []struct {
		name string
		w, h int
		keys []string
	}{
		{"wide", 100, 30, nil},
		{"narrow", 40, 10, nil},
		{"switched_wide", 100, 30, []string{"alt+2"}},
		{"switched_narrow", 40, 10, []string{"alt+2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newRoomsScreen(t, tt.w, tt.h)
			roomsScenario(ts)
			for _, k := range tt.keys {
				ts.key(k)
			}
			golden.RequireEqual(t, ts.golden())
		})
	}
}

// TestScreenRoomBar checks the facts the goldens show.
func TestScreenRoomBar(t *testing.T) {
	ts := newRoomsScreen(t, 100, 30)
	roomsScenario(ts)
	lines := strings.Split(ts.screen(), "\n")
	if !strings.Contains(lines[0], "#lobby") || !strings.Contains(lines[0], "2 peers") {
		t.Errorf("header %q: want the current room and its peers", lines[0])
	}
	for _, want := range []string{"[1 #lobby]", "2 #dev •3@", "3 #ops •1"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("room bar %q lacks %q", lines[1], want)
		}
	}
	s := strings.Join(lines, "\n")
	if !strings.Contains(s, "<carol> anyone for coffee?") || strings.Contains(s, "the build is red") {
		t.Errorf("the lobby shows another room's lines:\n%s", s)
	}
	if !strings.Contains(s, " carol") || strings.Contains(s, " dave") {
		t.Errorf("the member list is not the lobby's:\n%s", s)
	}

	ts.update(tea.WindowSizeMsg{Width: 40, Height: 10})
	if h := strings.Split(ts.screen(), "\n")[0]; !strings.Contains(h, "#lobby 1/3 •4@") {
		t.Errorf("narrow header %q: want the collapsed bar #lobby 1/3 •4@", h)
	}

	ts.update(tea.WindowSizeMsg{Width: 100, Height: 30})
	ts.key("alt+2")
	lines = strings.Split(ts.screen(), "\n")
	if !strings.Contains(lines[0], "#dev") || !strings.Contains(lines[1], "[2 #dev]") || !strings.Contains(lines[1], "3 #ops •1") ||
		strings.Contains(lines[1], "•3") {
		t.Errorf("after Alt-2 header %q, bar %q: want dev current and read", lines[0], lines[1])
	}
	s = strings.Join(lines, "\n")
	if !strings.Contains(s, "<bob> alice: can you look at it?") || strings.Contains(s, "coffee") || !strings.Contains(s, " dave") {
		t.Errorf("dev after Alt-2:\n%s", s)
	}
}

// TestScreenRoomSwitching covers Alt-1…9 and Ctrl-N/Ctrl-P, the unread and
// mention counts, and that each room keeps its scrollback position and
// its input line while the input history is shared.
func TestScreenRoomSwitching(t *testing.T) {
	ts := newRoomsScreen(t, 100, 30)
	cur := func() string { return ts.m.sess.cur.name }
	for _, step := range []struct{ key, want string }{
		{"alt+2", "dev"}, {"ctrl+n", "ops"}, {"ctrl+n", "lobby"}, {"ctrl+p", "ops"}, {"alt+9", "ops"}, {"alt+1", "lobby"},
	} {
		ts.key(step.key)
		if got := cur(); got != step.want {
			t.Fatalf("%s: current room %q, want %q", step.key, got, step.want)
		}
	}

	roomsScenario(ts)
	dev := ts.m.sess.find("dev")
	if dev.unread != 3 || dev.mentions != 1 {
		t.Errorf("dev unread %d, mentions %d; want 3 and 1", dev.unread, dev.mentions)
	}
	if lobby := ts.m.sess.find("lobby"); lobby.unread != 0 {
		t.Errorf("the current room counts %d unread", lobby.unread)
	}
	// Our own line elsewhere is not unread.
	ts.eventsIn("ops", chat.Event{Kind: chat.KindMessage, Time: testStart, PeerID: idAlice, Nick: "alice", Text: "mine", Self: true})
	if ops := ts.m.sess.find("ops"); ops.unread != 1 || ops.mentions != 0 {
		t.Errorf("ops unread %d, mentions %d; want 1 and 0", ops.unread, ops.mentions)
	}

	// The input line is per room, the history shared.
	ts.enter("first line")
	ts.typeText("draft in the lobby")
	ts.key("alt+2")
	if dev.unread != 0 || dev.mentions != 0 {
		t.Errorf("dev still unread after switching to it: %d, %d", dev.unread, dev.mentions)
	}
	if got := ts.m.input().text; got != "" {
		t.Errorf("dev's input line = %q, want empty", got)
	}
	ts.key("up")
	if got := ts.m.input().text; got != "first line" {
		t.Errorf("Up in dev = %q, want the lobby's line from the shared history", got)
	}
	ts.key("alt+1")
	if got := ts.m.input().text; got != "draft in the lobby" {
		t.Errorf("back in the lobby the input line = %q, want the draft", got)
	}

	// Scrollback is per room: scrolled up in dev stays so.
	var evs []chat.Event
	for i := range 40 {
		evs = append(evs, msgEvent(i, idBob, "bob", "dev line"))
	}
	ts.eventsIn("dev", evs...)
	ts.key("alt+2")
	ts.key("pgup")
	ts.key("alt+1")
	if s := ts.screen(); strings.Contains(s, "scrolled up") || strings.Contains(s, "new message") {
		t.Errorf("the lobby shows dev's scroll state:\n%s", s)
	}
	ts.key("alt+2")
	if s := ts.screen(); !strings.Contains(s, "scrolled up") {
		t.Errorf("dev lost its scroll position:\n%s", s)
	}
}

// TestScreenJoinPart joins a room, talks in it and leaves it and the others.
func TestScreenJoinPart(t *testing.T) {
	room := newScreenRoom("private")
	ts := newTestScreen(t, room, 100, 30)
	if ts.m.lay.bar {
		t.Error("one room has a room bar")
	}
	ts.enter("/join #ops")
	if got := ts.m.sess.cur.name; got != "ops" {
		t.Fatalf("after /join current room is %q", got)
	}
	s := ts.screen()
	if !ts.m.lay.bar || !strings.Contains(s, "You joined #ops as alice") || !strings.Contains(s, "[2 #ops]") {
		t.Errorf("after /join #ops:\n%s", s)
	}
	ts.enter("hello ops")
	ts.enter("/say lobby hello lobby")
	ts.enter("/join lobby")
	if got := ts.m.sess.cur.name; got != "lobby" {
		t.Errorf("/join of a joined room: current room %q, want lobby", got)
	}
	s = ts.screen()
	if !strings.Contains(s, "<alice> hello lobby") || strings.Contains(s, "hello ops") || !strings.Contains(s, "you are already in #lobby") {
		t.Errorf("the lobby after /say:\n%s", s)
	}
	ts.key("alt+2")
	ts.enter("/part")
	if got := ts.m.sess.cur.name; got != "lobby" || len(ts.m.sess.rooms) != 1 || ts.m.lay.bar {
		t.Errorf("after /part: current %q, %d rooms, bar %v", got, len(ts.m.sess.rooms), ts.m.lay.bar)
	}
	if s := ts.screen(); !strings.Contains(s, "You left #ops.") {
		t.Errorf("after /part:\n%s", s)
	}
	ts.enter("/part nope")
	ts.enter("/part lobby")
	s = ts.screen()
	if ts.m.sess.cur != nil || !strings.Contains(s, "no room") || !strings.Contains(s, "You left #lobby. You are in no room now") {
		t.Errorf("after leaving every room:\n%s", s)
	}
	ts.enter("anyone?")
	if s := ts.screen(); !strings.Contains(s, "error: you are in no room, nothing was sent") {
		t.Errorf("a line in no room:\n%s", s)
	}
	want := []string{"/join ops", "#ops hello ops", "hello lobby", "#ops /part", "/part"}
	if got := room.calls(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if cmd := ts.key("ctrl+n"); cmd != nil {
		t.Error("Ctrl-N in no room did something")
	}
}

// TestScreenRoomsList shows the answer to /rooms.
func TestScreenRoomsList(t *testing.T) {
	room := newScreenRoom("private")
	room.host.list = []chat.RoomInfo{
		{Name: "", ID: "a1b2c3d4", Members: 2, Private: true},
		{Name: "lobby", Members: 1, Joined: true},
	}
	ts := newTestScreen(t, room, 100, 30)
	ts.enter("/rooms")
	s := ts.screen()
	for _, want := range []string{"Rooms on the network:", "🔒 a1b2c3d4", "2 members", "private", "#lobby", "1 member", "joined"} {
		if !strings.Contains(s, want) {
			t.Errorf("/rooms lacks %q:\n%s", want, s)
		}
	}
}

// TestScreenPassphraseHidden checks that a /join passphrase is never drawn
// and never kept in the input history, though it reaches the host.
func TestScreenPassphraseHidden(t *testing.T) {
	room := newScreenRoom("private")
	ts := newTestScreen(t, room, 100, 30)
	ts.typeText("/join secret hunter2")
	s := ts.screen()
	if strings.Contains(s, "hunter2") || !strings.Contains(s, "> /join secret *******") {
		t.Errorf("the passphrase is on the screen:\n%s", s)
	}
	if c := ts.m.View().Cursor; c == nil || c.X != len("> /join secret hunter2") {
		t.Errorf("cursor %+v, want after the masked passphrase", c)
	}
	ts.run(ts.key("enter"))
	ts.drain()
	ts.key("up")
	if got := ts.m.input().text; strings.Contains(got, "hunter2") {
		t.Errorf("Up brings back the passphrase: %q", got)
	}
	if s := ts.screen(); strings.Contains(s, "hunter2") || !strings.Contains(s, "is sealed with its passphrase") {
		t.Errorf("after /join:\n%s", s)
	}
	if got := room.calls(); !slices.Equal(got, []string{"/join secret hunter2"}) {
		t.Errorf("calls %q", got)
	}
}

// TestScreenPrivateMarked checks that a private room is marked as such in
// the room bar and the header, wide and narrow, and an open one is not:
// before typing, a user sees whether outsiders could read it.
func TestScreenPrivateMarked(t *testing.T) {
	room := newScreenRoom("private")
	ts := newTestScreen(t, room, 100, 30)
	ts.enter("/join secret hunter2")
	ts.drain()
	lines := strings.Split(ts.screen(), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "🔑#secret") || !strings.Contains(lines[1], "[2 🔑#secret]") ||
		!strings.Contains(lines[1], "1 #lobby") || strings.Contains(lines[1], "🔑#lobby") {
		t.Fatalf("100×30 header and bar:\n%s\n%s\nwant #secret marked 🔑 in both, #lobby not", lines[0], lines[1])
	}
	ts.update(tea.WindowSizeMsg{Width: 40, Height: 10})
	if head := strings.Split(ts.screen(), "\n")[0]; !strings.Contains(head, "🔑#secret") {
		t.Errorf("40×10 header %q, want #secret marked 🔑", head)
	}
}

// TestScreenOtherRoomClosed checks that a room's channel closing without
// our /part ends the screen with an error.
func TestScreenOtherRoomClosed(t *testing.T) {
	ts := newRoomsScreen(t, 80, 24)
	if cmd := ts.update(roomEventsMsg{rv: ts.m.sess.find("dev"), closed: true}); !isQuit(cmd) {
		t.Fatal("a closed room did not quit")
	}
	if !errors.Is(ts.m.exitErr, chat.ErrClosed) {
		t.Errorf("exit error %v, want chat.ErrClosed", ts.m.exitErr)
	}
}

// TestScreenHostEvents shows a host-wide notice in the current room.
func TestScreenHostEvents(t *testing.T) {
	ts := newRoomsScreen(t, 100, 30)
	ts.key("alt+3")
	ts.update(hostEventsMsg{events: []chat.Event{{Kind: chat.KindNotice, Time: testStart, Text: "a peer runs an older lanchat"}}})
	if s := ts.screen(); !strings.Contains(s, "-!- a peer runs an older lanchat") {
		t.Errorf("host notice not shown:\n%s", s)
	}
	if cmd := ts.update(hostEventsMsg{closed: true}); !isQuit(cmd) || !errors.Is(ts.m.exitErr, chat.ErrClosed) {
		t.Errorf("closed host events: quit %v, exit error %v", isQuit(cmd), ts.m.exitErr)
	}
}

// TestRunScreenNoLeak checks that RunScreen's goroutines (the event waits
// of every room and the host, the calls) are gone when it returns.
func TestRunScreenNoLeak(t *testing.T) {
	room := newScreenRoom("private")
	dev := room.host.room("dev")
	inR, inW := io.Pipe()
	defer inW.Close()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- RunScreen(context.Background(), room.host, []Room{room, dev}, ScreenOptions{In: inR, Out: out})
	}()
	waitOutput(t, out, "Welcome")
	io.WriteString(inW, "/join ops\r")
	waitOutput(t, out, "#ops")
	io.WriteString(inW, "/part\r:end\r")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunScreen = %v", err)
		}
	case <-time.After(10 * time.Second):
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("RunScreen did not return:\n%s", buf[:n])
	}
	for _, fn := range []string{"tui.takeEvents", "tui.(*screenModel).startOps", "tui.stopContext"} {
		waitNoGoroutine(t, fn)
	}
}

// TestRoomBarOverflow draws more tabs than fit: the current one is always
// shown, the row never overflows, and "…" says that tabs are left out.
func TestRoomBarOverflow(t *testing.T) {
	st := newScreenStyles()
	var tabs []tabInfo
	for _, n := range []string{"lobby", "dev", "ops", "design", "a-very-long-room-name-indeed", "random", "music", "food", "games"} {
		tabs = append(tabs, tabInfo{name: n, unread: 2})
	}
	for cur := range tabs {
		for _, w := range []int{1, 10, 30, 60, 100, 300} {
			tabs := slices.Clone(tabs)
			tabs[cur].current = true
			row := ansi.Strip(renderRoomBar(st, roomBarProps{width: w, tabs: tabs}))
			if got := ansi.StringWidth(row); got != w {
				t.Errorf("current %d, width %d: row is %d cells: %q", cur, w, got, row)
			}
			if w >= 30 && !strings.Contains(row, "[") {
				t.Errorf("current %d, width %d: the current tab is not shown: %q", cur, w, row)
			}
			if w < 100 && !strings.Contains(row, "…") {
				t.Errorf("current %d, width %d: no … for the tabs left out: %q", cur, w, row)
			}
		}
	}
}

// longRoomNames are five rooms with names as long as a room name may be
// (64 bytes), Japanese ones included.
var longRoomNames = []string{
	"日本語の部屋の名前はとても長いですね本当に",
	"a-very-long-room-name-that-goes-on-and-on-and-on-forever-and-eve",
	"開発チームの雑談部屋です",
	"another-room-with-a-long-name-for-the-width-test",
	"ops",
}

// TestScreenFitsManyLongRooms draws five rooms with long names (and a long
// nick, unread counts, mentions, /who, /rooms, an error) at 40×10 and
// 100×30, in every room and with both width methods: every line fits the
// terminal (testScreen.screen checks it), and with the room bar collapsed
// into the header a long name gives way to the other rooms' unread marker.
func TestScreenFitsManyLongRooms(t *testing.T) {
	for _, size := range [][2]int{{40, 10}, {100, 30}} {
		for _, method := range []ansi.Method{ansi.WcWidth, ansi.GraphemeWidth} {
			host := newScreenHost("open")
			var rooms []*screenRoom
			for _, n := range longRoomNames {
				r := host.room(n)
				r.setMembers(chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
					chat.Member{PeerID: idYuki, Nick: "ゆきゆきゆきゆきゆきゆきゆきゆきゆきゆきゆきゆきゆきゆき"})
				rooms = append(rooms, r)
			}
			for _, n := range longRoomNames {
				host.list = append(host.list, chat.RoomInfo{Name: n, Members: 2, Joined: true})
			}
			host.list = append(host.list, chat.RoomInfo{ID: "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", Members: 12, Private: true})
			ts := newTestScreen(t, rooms[0], size[0], size[1], rooms[1:]...)
			if method == ansi.GraphemeWidth {
				ts.update(tea.ModeReportMsg{Mode: ansi.ModeUnicodeCore, Value: ansi.ModeSet})
			}
			for _, n := range longRoomNames[1:] {
				ts.eventsIn(n, msgEvent(1, idYuki, "ゆきゆきゆきゆきゆきゆきゆきゆきゆきゆきゆきゆきゆきゆき", "alice: "+n))
			}
			ts.screen()
			for i, n := range longRoomNames {
				ts.key(fmt.Sprintf("alt+%d", i+1))
				ts.enter("/who")
				ts.enter("/rooms")
				ts.enter("/say nowhere-" + n + " x")
				s := ts.screen()
				if i == 0 && size[1] < roomBarMinHeight {
					// The others are unread, two of them wrote our nick.
					if h := strings.Split(s, "\n")[0]; !strings.Contains(h, "1/5 •4@") || !strings.Contains(h, "open") {
						t.Errorf("%dx%d: header %q lacks the other rooms' marker 1/5 •4@ or the open warning", size[0], size[1], h)
					}
				}
				if got := ts.m.sess.cur.name; got != n {
					t.Fatalf("alt+%d: current room %q, want %q", i+1, got, n)
				}
			}
		}
	}
}

// evilText is what a hostile peer or a confused host may put into a name or
// an error: screen clearing, a window title, a hyperlink, a bell, C1 CSI
// (as a character and as a stray byte) and a bidi override.
const evilText = "\x1b[2J\x1b]0;pwned\x07\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\\x07\r\n\u202e\u009b31m\x9b32m"

// TestScreenRoomTextSanitized checks that room names (of the rooms joined
// and of /rooms), host notices and the text of the errors the host and the
// rooms return never reach the terminal raw: not in the room bar, the
// header, the window title, /who, /rooms, or an error line.
func TestScreenRoomTextSanitized(t *testing.T) {
	host := newScreenHost("private")
	lobby, evil := host.room("lobby"), host.room("dev"+evilText)
	host.list = []chat.RoomInfo{{Name: "dev" + evilText, Members: 2, Joined: true}, {ID: evilText, Members: 1, Private: true}}
	host.sendErr = func(text string) error {
		if strings.HasPrefix(text, "fail") {
			return errors.New("refused by" + evilText)
		}
		return nil
	}
	ts := newTestScreen(t, lobby, 100, 30, evil)
	ts.key("alt+2")
	for _, l := range []string{"/who", "/rooms", "/nick fail", "fail to send", "/me fail too"} {
		ts.enter(l)
	}
	if s := ts.screen(); !strings.Contains(s, "cannot change nick: refused by") || !strings.Contains(s, "message not sent: refused by") {
		t.Errorf("the errors are not shown:\n%s", s)
	}
	ts.update(hostEventsMsg{events: []chat.Event{{Kind: chat.KindNotice, Time: testStart, Text: evilText}, {Kind: chat.KindError, Time: testStart, Text: evilText}}})
	for _, size := range [][2]int{{100, 30}, {40, 10}} {
		ts.update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		v := ts.m.View()
		checkOnlySGR(t, v.Content)
		checkOnlySGR(t, v.WindowTitle)
		if s := ansi.Strip(v.Content); !strings.Contains(s, "click") {
			t.Errorf("%dx%d: the visible text is gone:\n%s", size[0], size[1], s)
		}
	}
}

// TestScreenPastedPassphraseNotSent checks that a paste of several lines,
// which go out as chat text, leaves out a /join line with a passphrase.
func TestScreenPastedPassphraseNotSent(t *testing.T) {
	room := newScreenRoom("private")
	ts := newTestScreen(t, room, 100, 30)
	ts.run(ts.update(tea.PasteMsg{Content: "see you there\n/join secret hunter2\n/join dev\n"}))
	if got, want := room.calls(), []string{"see you there", "/join dev"}; !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	if s := ts.screen(); strings.Contains(s, "hunter2") || !strings.Contains(s, "a pasted /join line with a passphrase was not sent") {
		t.Errorf("after the paste:\n%s", s)
	}
}

// TestScreenPartThenTalk checks what happens between /part and the end of
// the leave: a line typed into the room being left is not sent there, and
// joining it again right away joins anew instead of switching to the room
// on its way out.
func TestScreenPartThenTalk(t *testing.T) {
	room := newScreenRoom("private")
	ops := room.host.room("ops")
	ts := newTestScreen(t, room, 100, 30, ops)
	ts.typeText("/part")
	leave := ts.key("enter") // the Leave is under way, not done
	ts.enter("too late")
	if s := ts.screen(); !strings.Contains(s, "error: you are leaving #lobby, nothing was sent") {
		t.Errorf("a line typed while leaving:\n%s", s)
	}
	ts.typeText("/join lobby")
	ts.key("enter")
	ts.run(leave)
	if got, want := room.calls(), []string{"/part", "/join lobby"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	rv := ts.m.sess.cur
	if rv == nil || rv.name != "lobby" || rv.room == Room(room) || len(ts.m.sess.rooms) != 2 {
		t.Fatalf("after /part and /join lobby: current %+v, %d rooms", rv, len(ts.m.sess.rooms))
	}
	ts.enter("back again")
	if got := room.calls(); got[len(got)-1] != "#lobby back again" {
		t.Errorf("the line went to %q, want the new lobby", got[len(got)-1])
	}
	if s := ts.screen(); !strings.Contains(s, "<alice> back again") {
		t.Errorf("the new lobby:\n%s", s)
	}
}

// TestScreenJoinTwice types "/join dev" twice before the first is done:
// the second is not an error, it finds the room joined.
func TestScreenJoinTwice(t *testing.T) {
	room := newScreenRoom("private")
	ts := newTestScreen(t, room, 100, 30)
	ts.typeText("/join dev")
	first := ts.key("enter")
	ts.typeText("/join dev")
	ts.key("enter")
	ts.run(first)
	s := ts.screen()
	if strings.Contains(s, "error") || !strings.Contains(s, "you are already in #dev") || len(ts.m.sess.rooms) != 2 || ts.m.sess.cur.name != "dev" {
		t.Errorf("after /join dev twice (%d rooms):\n%s", len(ts.m.sess.rooms), s)
	}
}

// TestScreenNickInNoRoom renames while in no room, where no room reports
// the new nick: the header, the next room's welcome and the mention
// marker use it all the same.
func TestScreenNickInNoRoom(t *testing.T) {
	room := newScreenRoom("private")
	ts := newTestScreen(t, room, 100, 30)
	ts.enter("/part")
	ts.enter("/nick bob")
	if h := strings.Split(ts.screen(), "\n")[0]; !strings.Contains(h, "bob") {
		t.Errorf("header after /nick in no room: %q", h)
	}
	ts.enter("/join dev")
	ts.enter("/join ops")
	if s := ts.screen(); !strings.Contains(s, "You joined #ops as bob") {
		t.Errorf("after /join:\n%s", s)
	}
	ts.eventsIn("dev", msgEvent(1, idCarol, "carol", "bob: ping"), msgEvent(2, idCarol, "carol", "alice: ping"))
	if dev := ts.m.sess.find("dev"); dev.unread != 2 || dev.mentions != 1 {
		t.Errorf("dev unread %d, mentions %d; want 2 and 1 (for bob)", dev.unread, dev.mentions)
	}
}

// hangingHost is a screenHost whose Join blocks until its context is done.
type hangingHost struct {
	*screenHost
	entered chan struct{}
}

func (h *hangingHost) Join(ctx context.Context, name, passphrase string) (Room, error) {
	close(h.entered)
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestRunScreenSecondCtrlC checks that a second Ctrl-C ends RunScreen even
// while a call hangs: the call's context is cancelled, RunScreen waits for
// it and returns.
func TestRunScreenSecondCtrlC(t *testing.T) {
	room := newScreenRoom("private")
	h := &hangingHost{screenHost: room.host, entered: make(chan struct{})}
	inR, inW := io.Pipe()
	defer inW.Close()
	done := make(chan error, 1)
	go func() {
		done <- RunScreen(context.Background(), h, []Room{room}, ScreenOptions{In: inR, Out: &syncBuffer{}})
	}()
	io.WriteString(inW, "/join slow\r")
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("Join was never called")
	}
	io.WriteString(inW, "\x03")
	io.WriteString(inW, "\x03")
	if err := waitResult(t, done); err != nil {
		t.Errorf("RunScreen = %v", err)
	}
}
