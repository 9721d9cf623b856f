package tui

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"lanchat/node"
)

// screenRoom is a hand-written Room for the screen tests. Like the real
// node it echoes our own messages back as events with Self set.
type screenRoom struct {
	mu      sync.Mutex
	info    node.Info
	members []node.Member
	events  chan node.Event
	sent    []string // Send, Action ("/me …") and SetNick ("/nick …") calls in order
	sendErr func(text string) error
	now     func() time.Time
	echo    bool
	block   chan struct{} // if set, room calls wait for it to close
	entered chan string   // if set, room calls report their text here first
}

// Peer IDs of the test members: the last four characters tell them apart.
const (
	idAlice  = "12D3KooWAliceAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAa1c3"
	idAlice2 = "12D3KooWAliceBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB3f2a"
	idBob    = "12D3KooWBobbbCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCb0b5"
	idCarol  = "12D3KooWCarolDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDca41"
	idDave   = "12D3KooWDaveEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEd4e7"
	idYuki   = "12D3KooWYukiFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFf00d"
)

// testStart is the fixed time the tests' sessions start at.
var testStart = time.Date(2025, 6, 3, 14, 0, 0, 0, time.UTC)

func newScreenRoom(network string) *screenRoom {
	r := &screenRoom{
		info: node.Info{
			PeerID:      idAlice,
			Nick:        "alice",
			Room:        "lobby",
			Network:     network,
			Fingerprint: "7f3a-91c2-0be4-55d8",
			Addrs:       []string{"/ip4/127.0.0.1/tcp/4001/p2p/" + idAlice},
			Port:        4001,
		},
		members: []node.Member{{PeerID: idAlice, Nick: "alice", Self: true}},
		events:  make(chan node.Event, 4096),
		now:     func() time.Time { return testStart },
		echo:    true,
	}
	if network == "open" {
		r.info.Fingerprint = "open"
	}
	return r
}

func (r *screenRoom) Info() node.Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.info
}

func (r *screenRoom) Events() <-chan node.Event { return r.events }

func (r *screenRoom) Members() []node.Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]node.Member(nil), r.members...)
}

func (r *screenRoom) call(kind, text string) error {
	if r.entered != nil {
		r.entered <- kind + text
	}
	if r.block != nil {
		<-r.block
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sendErr != nil {
		if err := r.sendErr(text); err != nil {
			return err
		}
	}
	r.sent = append(r.sent, kind+text)
	return nil
}

func (r *screenRoom) Send(text string) error {
	if err := r.call("", text); err != nil {
		return err
	}
	if r.echo {
		r.events <- node.Event{Type: node.EventMessage, Time: r.now(), PeerID: idAlice, Nick: r.Info().Nick, Text: text, Self: true}
	}
	return nil
}

func (r *screenRoom) Action(text string) error {
	if err := r.call("/me ", text); err != nil {
		return err
	}
	if r.echo {
		r.events <- node.Event{Type: node.EventMessage, Time: r.now(), PeerID: idAlice, Nick: r.Info().Nick, Text: text, Action: true, Self: true}
	}
	return nil
}

func (r *screenRoom) SetNick(nick string) error {
	if err := r.call("/nick ", nick); err != nil {
		return err
	}
	r.mu.Lock()
	old := r.info.Nick
	r.info.Nick = nick
	for i := range r.members {
		if r.members[i].Self {
			r.members[i].Nick = nick
		}
	}
	r.mu.Unlock()
	if r.echo {
		r.events <- node.Event{Type: node.EventNick, Time: r.now(), PeerID: idAlice, Nick: nick, OldNick: old, Self: true}
	}
	return nil
}

// calls returns the room calls made so far.
func (r *screenRoom) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...)
}

// setMembers replaces the roster.
func (r *screenRoom) setMembers(ms ...node.Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members = ms
}

// testScreen is a screenModel driven directly through Update in tests.
type testScreen struct {
	t    *testing.T
	m    *screenModel
	room *screenRoom
}

// newTestScreen makes a w×h screen on room with the clock at testStart.
func newTestScreen(t *testing.T, room *screenRoom, w, h int) *testScreen {
	t.Helper()
	m := newScreenModel(room, screenConfig{now: func() time.Time { return testStart }})
	ts := &testScreen{t: t, m: m, room: room}
	ts.update(tea.WindowSizeMsg{Width: w, Height: h})
	return ts
}

// update applies msg and returns the command Update returned.
func (ts *testScreen) update(msg tea.Msg) tea.Cmd {
	ts.t.Helper()
	_, cmd := ts.m.Update(msg)
	return cmd
}

// events feeds room events as the event Cmd would deliver them.
func (ts *testScreen) events(evs ...node.Event) {
	ts.t.Helper()
	ts.update(roomEventsMsg{events: evs})
}

// drain delivers everything the fake room has queued (echoes of our own
// messages and nick changes).
func (ts *testScreen) drain() {
	ts.t.Helper()
	for {
		select {
		case e := <-ts.room.events:
			ts.events(e)
		default:
			return
		}
	}
}

// key presses one key, named as tea.Key.Keystroke names it, or types text.
func (ts *testScreen) key(k string) tea.Cmd {
	ts.t.Helper()
	return ts.update(keyMsg(k))
}

// keyMsg builds the key press message for a keystroke name or a text.
func keyMsg(k string) tea.KeyPressMsg {
	special := map[string]tea.Key{
		"enter": {Code: tea.KeyEnter}, "tab": {Code: tea.KeyTab}, "shift+tab": {Code: tea.KeyTab, Mod: tea.ModShift},
		"backspace": {Code: tea.KeyBackspace}, "delete": {Code: tea.KeyDelete}, "esc": {Code: tea.KeyEscape},
		"up": {Code: tea.KeyUp}, "down": {Code: tea.KeyDown}, "left": {Code: tea.KeyLeft}, "right": {Code: tea.KeyRight},
		"home": {Code: tea.KeyHome}, "end": {Code: tea.KeyEnd}, "pgup": {Code: tea.KeyPgUp}, "pgdown": {Code: tea.KeyPgDown},
		"space": {Code: tea.KeySpace, Text: " "},
	}
	if key, ok := special[k]; ok {
		return tea.KeyPressMsg(key)
	}
	if mod, rest, ok := strings.Cut(k, "+"); ok && len(rest) == 1 {
		switch mod {
		case "ctrl":
			return tea.KeyPressMsg{Code: rune(rest[0]), Mod: tea.ModCtrl}
		case "alt":
			return tea.KeyPressMsg{Code: rune(rest[0]), Mod: tea.ModAlt}
		}
	}
	r := []rune(k)
	code := tea.KeyExtended
	if len(r) == 1 {
		code = r[0]
	}
	return tea.KeyPressMsg{Code: code, Text: k}
}

// typeText types s one character at a time.
func (ts *testScreen) typeText(s string) {
	ts.t.Helper()
	for _, r := range s {
		ts.key(string(r))
	}
}

// run executes cmd (room calls) and feeds its result back, then delivers
// the room's echoes. It returns the message cmd produced.
func (ts *testScreen) run(cmd tea.Cmd) tea.Msg {
	ts.t.Helper()
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if _, ok := msg.(opsDoneMsg); ok {
		next := ts.update(msg)
		ts.drain()
		if next != nil {
			return ts.run(next)
		}
	}
	return msg
}

// enter types line and presses Enter, running what it sends.
func (ts *testScreen) enter(line string) tea.Msg {
	ts.t.Helper()
	ts.typeText(line)
	return ts.run(ts.key("enter"))
}

// screen returns the screen as plain text (styles stripped) after checking
// it has the terminal's height and no line is wider than the terminal.
func (ts *testScreen) screen() string {
	ts.t.Helper()
	content := ts.m.View().Content
	plain := ansi.Strip(content)
	lines := strings.Split(plain, "\n")
	if ts.m.width > 0 && ts.m.height > 0 && len(lines) != ts.m.height {
		ts.t.Errorf("screen has %d lines, want %d:\n%s", len(lines), ts.m.height, plain)
	}
	for i, l := range lines {
		if w := ansi.StringWidthWc(l); w > ts.m.width {
			ts.t.Errorf("line %d is %d cells wide, terminal is %d: %q", i, w, ts.m.width, l)
		}
	}
	return plain
}

// golden returns the screen with the cursor position, for golden files.
func (ts *testScreen) golden() string {
	ts.t.Helper()
	s := ts.screen()
	c := ts.m.View().Cursor
	cur := "hidden"
	if c != nil {
		cur = fmt.Sprintf("%d,%d", c.X, c.Y)
	}
	return s + "\n-- cursor " + cur + "\n"
}

// msgEvent is a chat line from a peer.
func msgEvent(min int, id, nick, text string) node.Event {
	return node.Event{Type: node.EventMessage, Time: testStart.Add(time.Duration(min) * time.Minute), PeerID: id, Nick: nick, Text: text, ID: fmt.Sprintf("m%d", min)}
}
