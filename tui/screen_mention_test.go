package tui

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"lanchat/node/chat"
)

// rawOutput runs cmd and returns what it writes to the terminal raw
// (tea.Raw), looking into batches. The screen tests run without waiting
// Cmds (manual), so the other Cmds of a batch return at once.
func rawOutput(cmd tea.Cmd) string {
	if cmd == nil {
		return ""
	}
	switch msg := cmd().(type) {
	case tea.RawMsg:
		return fmt.Sprint(msg.Msg)
	case tea.BatchMsg:
		var b strings.Builder
		for _, c := range msg {
			b.WriteString(rawOutput(c))
		}
		return b.String()
	}
	return ""
}

// TestScreenBell checks that the bell is asked for once for each line that
// writes our nick, in any room, and never for other lines, lines from the
// log, our own lines, a room switch, or with the bell off.
func TestScreenBell(t *testing.T) {
	own := func(text string) chat.Event {
		return chat.Event{Kind: chat.KindMessage, Time: testStart, PeerID: idAlice, Nick: "alice", Text: text, Self: true}
	}
	tests := []struct {
		name   string
		off    bool
		room   string // "" = the current room (lobby)
		events []chat.Event
		want   int // bells
	}{
		{name: "mention", events: []chat.Event{msgEvent(1, idBob, "bob", "alice: lunch?")}, want: 1},
		{name: "mention in another room", room: "dev", events: []chat.Event{msgEvent(1, idBob, "bob", "hi Alice!")}, want: 1},
		{name: "action", events: []chat.Event{{Kind: chat.KindMessage, Time: testStart, PeerID: idBob, Nick: "bob", Text: "waves at alice", Action: true}}, want: 1},
		{name: "two mentions among others", events: []chat.Event{
			msgEvent(1, idBob, "bob", "alice?"), msgEvent(2, idBob, "bob", "anyone?"), msgEvent(3, idCarol, "carol", "ALICE")}, want: 2},
		{name: "no mention", events: []chat.Event{msgEvent(1, idBob, "bob", "hello all"), msgEvent(2, idBob, "bob", "malice")}, want: 0},
		{name: "history", events: []chat.Event{histEvent(-5, idBob, "bob", "alice: yesterday"), histEnd(1, idBob)}, want: 0},
		{name: "own line", events: []chat.Event{own("I am alice")}, want: 0},
		{name: "notice", events: []chat.Event{{Kind: chat.KindNotice, Time: testStart, Text: "alice"}}, want: 0},
		{name: "bell off", off: true, events: []chat.Event{msgEvent(1, idBob, "bob", "alice: lunch?")}, want: 0},
		{name: "bell off in another room", off: true, room: "dev", events: []chat.Event{msgEvent(1, idBob, "bob", "alice: lunch?")}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := newScreenHost("private")
			lobby, dev := host.room("lobby"), host.room("dev")
			ts := newTestScreenWith(t, screenConfig{bell: !tt.off}, lobby, 100, 30, dev)
			rv := ts.m.sess.cur
			if tt.room != "" {
				rv = ts.m.sess.find(tt.room)
			}
			for i := range tt.events {
				tt.events[i].Room = rv.name
			}
			out := rawOutput(ts.update(roomEventsMsg{rv: rv, events: tt.events}))
			if got := strings.Count(out, "\a"); got != tt.want || len(out) != got {
				t.Errorf("raw output %q: %d bells, want %d and nothing else", out, got, tt.want)
			}
			// Reading the mention rings nothing more; nor does drawing.
			for _, k := range []string{"alt+2", "alt+1"} {
				if out := rawOutput(ts.key(k)); out != "" {
					t.Errorf("%s wrote %q", k, out)
				}
			}
			if out := rawOutput(ts.update(tea.WindowSizeMsg{Width: 80, Height: 24})); out != "" {
				t.Errorf("a resize wrote %q", out)
			}
		})
	}
}

// TestScreenBellDefault checks the bell is on in the options by default.
func TestScreenBellDefault(t *testing.T) {
	if !DefaultScreenOptions().Bell {
		t.Error("DefaultScreenOptions has the bell off")
	}
}

// TestScreenWindowTitle checks the terminal title: the current room, led
// by the number of unread mentions in the other rooms, which drops when
// the user switches to a room with mentions.
func TestScreenWindowTitle(t *testing.T) {
	ts := newRoomsScreen(t, 100, 30)
	title := func() string { return ts.m.View().WindowTitle }
	steps := []struct {
		name string
		do   func()
		want string
	}{
		{"at start", func() {}, "lanchat #lobby"},
		{"a line in dev", func() { ts.eventsIn("dev", msgEvent(1, idBob, "bob", "build is red")) }, "lanchat #lobby"},
		{"a mention in dev", func() { ts.eventsIn("dev", msgEvent(2, idBob, "bob", "alice: can you look?")) }, "(1) lanchat #lobby"},
		{"a mention in ops", func() { ts.eventsIn("ops", msgEvent(3, idYuki, "ゆき", "aliceさん")) }, "(2) lanchat #lobby"},
		{"a mention from the log", func() {
			ts.eventsIn("ops", histEvent(-9, idYuki, "ゆき", "alice, old news"), histEnd(1, idYuki))
		}, "(2) lanchat #lobby"},
		{"our own line naming us", func() {
			ts.eventsIn("dev", chat.Event{Kind: chat.KindMessage, Time: testStart, PeerID: idAlice, Nick: "alice", Text: "alice here", Self: true})
		}, "(2) lanchat #lobby"},
		{"a mention in the current room", func() { ts.eventsIn("lobby", msgEvent(4, idBob, "bob", "alice!")) }, "(2) lanchat #lobby"},
		{"switch to dev", func() { ts.key("alt+2") }, "(1) lanchat #dev"},
		{"switch to ops", func() { ts.key("alt+3") }, "lanchat #ops"},
		{"back to the lobby", func() { ts.key("alt+1") }, "lanchat #lobby"},
	}
	for _, st := range steps {
		st.do()
		if got := title(); got != st.want {
			t.Errorf("%s: title %q, want %q", st.name, got, st.want)
		}
	}

	// In no room.
	ts = newTestScreenWith(t, screenConfig{}, newScreenRoom("private"), 80, 24)
	ts.enter("/part")
	ts.drain()
	if ts.m.sess.cur != nil {
		t.Fatalf("still in #%s after /part", ts.m.sess.cur.name)
	}
	if got := title(); got != "lanchat" {
		t.Errorf("in no room: title %q, want %q", got, "lanchat")
	}
}

// bells counts the BEL characters in terminal output that ring the bell,
// leaving out those that end an OSC sequence (the window title's).
func bells(out string) int {
	n := 0
	var state byte
	for len(out) > 0 {
		seq, _, w, newState := ansi.DecodeSequence(out, state, nil)
		state = newState
		if seq == "\a" {
			n++
		}
		out = out[w:]
	}
	return n
}

// TestRunScreenBell runs the real program: a mention in another room rings
// the bell once (a BEL of its own, not the end of the title's sequence)
// and puts the count in the title; a line without one rings nothing, and
// with the bell off nothing rings at all.
func TestRunScreenBell(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("bell=%v", on), func(t *testing.T) {
			host := newScreenHost("private")
			lobby, dev := host.room("lobby"), host.room("dev")
			inR, inW := io.Pipe()
			t.Cleanup(func() {
				inW.Close()
				inR.Close()
			})
			out := &syncBuffer{}
			done := make(chan error, 1)
			opts := DefaultScreenOptions()
			opts.In, opts.Out, opts.Bell = inR, out, on
			go func() { done <- RunScreen(context.Background(), host, []Room{lobby, dev}, opts) }()
			waitOutput(t, out, "Welcome")

			dev.events <- chat.Event{Kind: chat.KindMessage, Room: "dev", Time: testStart, PeerID: idBob, Nick: "bob", Text: "alice: look", ID: "m1"}
			waitOutput(t, out, ansi.SetWindowTitle("(1) lanchat #lobby"))
			if on {
				deadline := time.Now().Add(10 * time.Second)
				for bells(out.String()) == 0 {
					if time.Now().After(deadline) {
						t.Fatalf("the bell never rang: %q", out.String())
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			lobby.events <- chat.Event{Kind: chat.KindMessage, Room: "lobby", Time: testStart, PeerID: idBob, Nick: "bob", Text: "no name here", ID: "m2"}
			waitOutput(t, out, "no name here")
			want := 0
			if on {
				want = 1
			}
			if got := bells(out.String()); got != want {
				t.Errorf("the bell rang %d times, want %d", got, want)
			}
			if _, err := io.WriteString(inW, ":end\r"); err != nil {
				t.Fatal(err)
			}
			if err := waitResult(t, done); err != nil {
				t.Errorf("RunScreen = %v, want nil", err)
			}
		})
	}
}
