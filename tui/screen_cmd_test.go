package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"lanchat/node/chat"
)

// isQuit reports whether cmd quits the program.
func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

func TestScreenCommands(t *testing.T) {
	tests := []struct {
		name      string
		network   string
		lines     []string
		wantCalls []string
		wantShown []string // substrings of the screen
		notShown  []string
	}{
		{name: "message", lines: []string{"hello world"}, wantCalls: []string{"hello world"}, wantShown: []string{"[14:00] <alice> hello world"}},
		{name: "trailing spaces trimmed", lines: []string{"  indented  "}, wantCalls: []string{"  indented"}},
		{name: "empty line sends nothing", lines: []string{"   "}, wantCalls: nil},
		{name: "me", lines: []string{"/me waves"}, wantCalls: []string{"/me waves"}, wantShown: []string{"* alice waves"}},
		{name: "me without action", lines: []string{"/me"}, wantShown: []string{"usage: /me ACTION"}},
		{name: "nick", lines: []string{"/nick alicia", "hi"}, wantCalls: []string{"/nick alicia", "hi"},
			wantShown: []string{"you are now known as alicia", "· alicia ·", "<alicia> hi"}},
		{name: "nick without name", lines: []string{"/nick"}, wantShown: []string{"usage: /nick NAME"}},
		{name: "nick with a space", lines: []string{"/nick Mary Ann"}, wantCalls: []string{"/nick Mary Ann"}, wantShown: []string{"you are now known as Mary Ann"}},
		{name: "unknown command is not sent", lines: []string{"/frobnicate now"},
			wantShown: []string{"unknown command /frobnicate", "nothing was sent", "/nick NAME"}},
		{name: "double slash sends a slash", lines: []string{"//usr/bin is a path"}, wantCalls: []string{"/usr/bin is a path"}},
		{name: "help", lines: []string{"/help"}, wantShown: []string{"Commands:", "/who", "/key", ":end"}},
		{name: "key private", lines: []string{"/key"}, wantShown: []string{"key fingerprint 7f3a-91c2-0be4-55d8: everyone in the room shows the same one, compare it out loud"}},
		{name: "key open", network: "open", lines: []string{"/key"}, wantShown: []string{"open network: no key is set"}},
		{name: "who", lines: []string{"/who"}, wantShown: []string{
			"2 in #lobby, 1 lost:", "alice (you) " + idAlice, "listening on /ip4/127.0.0.1/tcp/4001/p2p/",
			"bob " + idBob + " via /ip4/127.0.0.1/tcp/4002", "dave (lost) " + idDave,
		}},
		{name: "clear", lines: []string{"hello", "/clear"}, wantCalls: []string{"hello"}, notShown: []string{"hello", "Welcome"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			network := tt.network
			if network == "" {
				network = "private"
			}
			room := newScreenRoom(network)
			room.setMembers(
				chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
				chat.Member{PeerID: idBob, Nick: "bob", Addrs: []string{"/ip4/127.0.0.1/tcp/4002"}},
				chat.Member{PeerID: idDave, Nick: "dave", Lost: true},
			)
			ts := newTestScreen(t, room, 200, 40)
			for _, l := range tt.lines {
				if msg := ts.enter(l); msg != nil {
					if _, ok := msg.(tea.QuitMsg); ok {
						t.Fatalf("%q quit", l)
					}
				}
			}
			if got := room.calls(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("room calls = %q, want %q", got, tt.wantCalls)
			}
			s := ts.screen()
			for _, w := range tt.wantShown {
				if !strings.Contains(s, w) {
					t.Errorf("screen lacks %q:\n%s", w, s)
				}
			}
			for _, w := range tt.notShown {
				if strings.Contains(s, w) {
					t.Errorf("screen shows %q:\n%s", w, s)
				}
			}
		})
	}
}

func TestScreenQuit(t *testing.T) {
	for _, how := range []string{":end", "/quit", "  :end  ", "ctrl+c", "ctrl+d"} {
		t.Run(how, func(t *testing.T) {
			ts := newTestScreen(t, newScreenRoom("private"), 80, 24)
			var cmd tea.Cmd
			if strings.HasPrefix(how, "ctrl+") {
				cmd = ts.key(how)
			} else {
				ts.typeText(how)
				cmd = ts.key("enter")
			}
			if !isQuit(cmd) {
				t.Errorf("%q does not quit", how)
			}
			if calls := ts.room.calls(); len(calls) != 0 {
				t.Errorf("%q sent %q", how, calls)
			}
		})
	}
}

// TestScreenQuitWaitsForSends checks that a line typed just before :end is
// sent before the screen quits, and that room calls run one at a time in
// the order they were typed.
func TestScreenQuitWaitsForSends(t *testing.T) {
	ts := newTestScreen(t, newScreenRoom("private"), 80, 24)
	ts.typeText("first")
	first := ts.key("enter")
	if first == nil {
		t.Fatal("Enter started no room call")
	}
	ts.typeText("/nick al2")
	if cmd := ts.key("enter"); cmd != nil {
		t.Fatal("a second room call started while the first runs")
	}
	ts.typeText("second")
	ts.key("enter")
	ts.typeText(":end")
	if cmd := ts.key("enter"); cmd != nil {
		t.Fatal(":end quit with room calls queued")
	}
	// Run the first call; its completion starts the queued ones, whose
	// completion quits.
	next := ts.update(first())
	if next == nil {
		t.Fatal("queued calls did not start")
	}
	if !isQuit(ts.update(next())) {
		t.Error("did not quit after the queued calls")
	}
	if got, want := ts.room.calls(), []string{"first", "/nick al2", "second"}; !slices.Equal(got, want) {
		t.Errorf("room calls = %q, want %q", got, want)
	}
}

func TestScreenSendErrors(t *testing.T) {
	room := newScreenRoom("private")
	room.host.sendErr = func(text string) error {
		switch {
		case len(text) > 20:
			return fmt.Errorf("send: %w", chat.ErrTooLong)
		case text == "!!":
			return fmt.Errorf("set nick: %w", chat.ErrInvalidNick)
		case text == "closed":
			return chat.ErrClosed
		}
		return nil
	}
	ts := newTestScreen(t, room, 200, 24)
	long := strings.Repeat("x", 30)
	ts.enter(long)
	ts.enter("/nick !!")
	ts.enter("closed")
	s := ts.screen()
	for _, want := range []string{
		"error: message too long (max 4096 bytes) — press Up to edit it",
		`error: invalid nick "!!"`,
		"error: message not sent: the room is closed — press Up to edit it",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "<alice> xxx") {
		t.Errorf("a failed message is shown as sent:\n%s", s)
	}
	ts.key("up")
	ts.key("up")
	ts.key("up")
	if ts.m.input().text != long {
		t.Errorf("Up does not bring back the long message: %q", ts.m.input().text)
	}
}

func TestScreenPaste(t *testing.T) {
	t.Run("one line goes into the input", func(t *testing.T) {
		ts := newTestScreen(t, newScreenRoom("private"), 80, 24)
		ts.typeText("say: ")
		if cmd := ts.update(tea.PasteMsg{Content: "pasted text\n"}); cmd != nil {
			t.Error("a one-line paste sent something")
		}
		if got := ts.m.input().text; got != "say: pasted text" {
			t.Errorf("input = %q", got)
		}
	})
	t.Run("few lines are sent in order", func(t *testing.T) {
		ts := newTestScreen(t, newScreenRoom("private"), 80, 24)
		ts.typeText("first: ")
		ts.run(ts.update(tea.PasteMsg{Content: "one\r\ntwo\n\nthree\n"}))
		if got, want := ts.room.calls(), []string{"first: one", "two", "three"}; !slices.Equal(got, want) {
			t.Errorf("sent %q, want %q", got, want)
		}
		if ts.m.input().text != "" {
			t.Errorf("input not empty: %q", ts.m.input().text)
		}
		if s := ts.screen(); !strings.Contains(s, "<alice> three") {
			t.Errorf("echo missing:\n%s", s)
		}
	})
	t.Run("pasted commands are sent as text", func(t *testing.T) {
		ts := newTestScreen(t, newScreenRoom("private"), 80, 24)
		ts.run(ts.update(tea.PasteMsg{Content: "/quit\n:end\n"}))
		if got, want := ts.room.calls(), []string{"/quit", ":end"}; !slices.Equal(got, want) {
			t.Errorf("sent %q, want %q", got, want)
		}
	})
	t.Run("many lines ask first", func(t *testing.T) {
		ts := newTestScreen(t, newScreenRoom("private"), 80, 24)
		var lines []string
		for i := range 8 {
			lines = append(lines, fmt.Sprintf("line %d", i))
		}
		if cmd := ts.update(tea.PasteMsg{Content: strings.Join(lines, "\n")}); cmd != nil {
			t.Fatal("a long paste was sent without asking")
		}
		if s := ts.screen(); !strings.Contains(s, "Paste 8 lines as 8 messages? Enter: send") {
			t.Fatalf("no question:\n%s", s)
		}
		ts.key("x") // ignored while asking
		ts.run(ts.key("enter"))
		if got := ts.room.calls(); !slices.Equal(got, lines) {
			t.Errorf("sent %q, want %q", got, lines)
		}
	})
	t.Run("many lines cancelled", func(t *testing.T) {
		ts := newTestScreen(t, newScreenRoom("private"), 80, 24)
		ts.update(tea.PasteMsg{Content: "1\n2\n3\n4\n5\n6\n7\n"})
		ts.key("esc")
		if s := ts.screen(); !strings.Contains(s, "paste of 7 lines cancelled") {
			t.Errorf("no cancel note:\n%s", s)
		}
		if calls := ts.room.calls(); len(calls) != 0 {
			t.Errorf("sent %q", calls)
		}
		ts.typeText("ok")
		if ts.m.input().text != "ok" {
			t.Errorf("typing after cancel: %q", ts.m.input().text)
		}
	})
}

// TestScreenNickCompletion completes nicks from the roster with Tab.
func TestScreenNickCompletion(t *testing.T) {
	room := newScreenRoom("private")
	room.setMembers(
		chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
		chat.Member{PeerID: idAlice2, Nick: "alex"},
		chat.Member{PeerID: idYuki, Nick: "ゆき"},
	)
	ts := newTestScreen(t, room, 80, 24)
	ts.events(chat.Event{Kind: chat.KindJoin, PeerID: idYuki, Nick: "ゆき", Time: testStart})
	ts.typeText("al")
	ts.key("tab")
	if got := ts.m.input().text; got != "alex: " {
		t.Errorf("Tab after al = %q, want %q (own nick is not completed)", got, "alex: ")
	}
	ts.typeText("hi ゆ")
	ts.key("tab")
	if got := ts.m.input().text; got != "alex: hi ゆき " {
		t.Errorf("Tab after ゆ = %q", got)
	}
	ts.key("ctrl+u")
	ts.typeText("/wh")
	ts.key("tab")
	if got := ts.m.input().text; got != "/who " {
		t.Errorf("Tab after /wh = %q", got)
	}
}

// TestScreenMentionAndRoster checks that the header counts peers, the
// roster follows join/leave/nick events and a lost member is marked.
func TestScreenRosterFollowsEvents(t *testing.T) {
	room := newScreenRoom("private")
	ts := newTestScreen(t, room, 80, 12)
	room.setMembers(
		chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
		chat.Member{PeerID: idBob, Nick: "bob"},
	)
	ts.events(chat.Event{Kind: chat.KindJoin, PeerID: idBob, Nick: "bob", Time: testStart})
	if s := ts.screen(); !strings.Contains(s, "1 peer ") || !strings.Contains(s, " bob") {
		t.Errorf("after bob joined:\n%s", s)
	}
	room.setMembers(
		chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
		chat.Member{PeerID: idBob, Nick: "bob", Lost: true},
	)
	ts.events(chat.Event{Kind: chat.KindLeave, PeerID: idBob, Nick: "bob", Reason: chat.ReasonLost, Time: testStart})
	if s := ts.screen(); !strings.Contains(s, "0 peers") || !strings.Contains(s, "?bob") || !strings.Contains(s, " 1 lost") || !strings.Contains(s, " 1 member ") {
		t.Errorf("after bob was lost:\n%s", s)
	}
	room.setMembers(chat.Member{PeerID: idAlice, Nick: "alice", Self: true})
	ts.events(chat.Event{Kind: chat.KindLeave, PeerID: idBob, Nick: "bob", Reason: chat.ReasonQuit, Time: testStart})
	if s := ts.screen(); strings.Contains(s, "?bob") || !strings.Contains(s, "<-- bob left (quit)") {
		t.Errorf("after bob left:\n%s", s)
	}
}

// TestScreenRoomClosed checks that the screen ends with an error when the
// room's event channel closes under it.
func TestScreenRoomClosed(t *testing.T) {
	ts := newTestScreen(t, newScreenRoom("private"), 80, 24)
	if cmd := ts.update(roomEventsMsg{rv: ts.m.sess.cur, closed: true}); !isQuit(cmd) {
		t.Fatal("closed events did not quit")
	}
	if ts.m.exitErr == nil {
		t.Error("no exit error")
	}
}

func TestScreenCtrlDDeletesWhenTyping(t *testing.T) {
	ts := newTestScreen(t, newScreenRoom("private"), 80, 24)
	ts.typeText("ab")
	ts.key("ctrl+a")
	if cmd := ts.key("ctrl+d"); cmd != nil {
		t.Error("Ctrl-D on a line with text did something besides deleting")
	}
	if got := ts.m.input().text; got != "b" {
		t.Errorf("input = %q, want %q", got, "b")
	}
}

func TestMentions(t *testing.T) {
	tests := []struct {
		text, nick string
		want       bool
	}{
		{"alice: hi", "alice", true},
		{"hi Alice!", "alice", true},
		{"ALICE", "alice", true},
		{"malice aforethought", "alice", false},
		{"alices", "alice", false},
		{"alice_2 is not alice", "alice", true},
		{"alice_2", "alice", false},
		{"ゆきさん、おはよう", "ゆき", true},
		{"yukiさん", "yuki", true},
		{"ゆき、おはよう", "ゆき", true},
		{"anything", "", false},
	}
	for _, tt := range tests {
		if got := mentions(tt.text, tt.nick); got != tt.want {
			t.Errorf("mentions(%q, %q) = %v, want %v", tt.text, tt.nick, got, tt.want)
		}
	}
}

// TestScreenAloneNotice checks that our own message is followed by a dim
// notice when nobody else was in the room to receive it, and only then.
func TestScreenAloneNotice(t *testing.T) {
	self := chat.Member{PeerID: idAlice, Nick: "alice", Self: true}
	bob := chat.Member{PeerID: idBob, Nick: "bob"}
	lostDave := chat.Member{PeerID: idDave, Nick: "dave", Lost: true}
	tests := []struct {
		name    string
		members []chat.Member
		line    string
		shown   string // our message on the screen
		want    string // the notice after it; "" = none
	}{
		{"alone", []chat.Member{self}, "anyone there?", "<alice> anyone there?", "-- nobody else is here yet — it will be delivered when someone joins"},
		{"alone action", []chat.Member{self}, "/me waves", "* alice waves", "-- nobody else is here yet — it will be delivered when someone joins"},
		{"only lost members", []chat.Member{self, lostDave}, "hello?", "<alice> hello?", "-- everyone else here was lost — it will be delivered when someone is here again"},
		{"someone here", []chat.Member{self, bob}, "hi bob", "<alice> hi bob", ""},
		{"someone here and one lost", []chat.Member{self, bob, lostDave}, "hi bob", "<alice> hi bob", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			room := newScreenRoom("private")
			room.setMembers(tt.members...)
			ts := newTestScreen(t, room, 120, 20)
			ts.enter(tt.line)
			s := ts.screen()
			if !strings.Contains(s, tt.shown) {
				t.Fatalf("screen lacks %q:\n%s", tt.shown, s)
			}
			if tt.want == "" {
				if strings.Contains(s, "will be delivered") {
					t.Errorf("notice shown with someone in the room:\n%s", s)
				}
				return
			}
			lines := strings.Split(s, "\n")
			i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, tt.shown) })
			if i < 0 || i+1 >= len(lines) || !strings.Contains(lines[i+1], tt.want) {
				t.Errorf("want %q right after our message:\n%s", tt.want, s)
			}
		})
	}

	t.Run("not after someone joined", func(t *testing.T) {
		room := newScreenRoom("private")
		ts := newTestScreen(t, room, 120, 20)
		room.setMembers(self, bob)
		ts.events(chat.Event{Kind: chat.KindJoin, Time: testStart, PeerID: idBob, Nick: "bob"})
		ts.enter("hi bob")
		if s := ts.screen(); strings.Contains(s, "will be delivered") {
			t.Errorf("notice shown after bob joined:\n%s", s)
		}
	})
}
