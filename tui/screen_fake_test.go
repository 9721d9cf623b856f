package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"lanchat/node/chat"
)

// screenHost is a hand-written Host for the screen tests, holding
// screenRooms. Like the real node its rooms echo our own messages back as
// events with Self set. It records the calls into it and its rooms in one
// list, in order: a line sent is its text, an action "/me …", a rename
// "/nick …", a join "/join NAME [PASSPHRASE]", a leave "/part", /rooms
// "/rooms"; calls into a room other than the first are prefixed "#room ".
type screenHost struct {
	mu      sync.Mutex
	info    chat.Info
	events  chan chat.Event
	rooms   []*screenRoom // every room made, the first one first
	sent    []string
	list    []chat.RoomInfo // returned by Rooms
	sendErr func(text string) error
	now     func() time.Time
	echo    bool
	block   chan struct{} // if set, calls wait for it to close
	entered chan string   // if set, calls report their text here first
}

// screenRoom is a hand-written Room of a screenHost.
type screenRoom struct {
	host    *screenHost
	name    string
	private bool
	events  chan chat.Event

	mu      sync.Mutex
	members []chat.Member
	left    bool
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

// newScreenHost returns a host with no rooms.
func newScreenHost(network string) *screenHost {
	h := &screenHost{
		info: chat.Info{
			PeerID:      idAlice,
			Nick:        "alice",
			Network:     network,
			Fingerprint: "7f3a-91c2-0be4-55d8",
			Addrs:       []string{"/ip4/127.0.0.1/tcp/4001/p2p/" + idAlice},
			Port:        4001,
		},
		events: make(chan chat.Event, 64),
		now:    func() time.Time { return testStart },
		echo:   true,
	}
	if network == "open" {
		h.info.Fingerprint = "open"
	}
	return h
}

// newScreenRoom returns the room "lobby" of a new host, with ourselves in it.
func newScreenRoom(network string) *screenRoom {
	return newScreenHost(network).room("lobby")
}

// room makes a room of h with ourselves in it, without a join event.
func (h *screenHost) room(name string) *screenRoom {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := &screenRoom{host: h, name: name, events: make(chan chat.Event, 4096),
		members: []chat.Member{{PeerID: idAlice, Nick: h.info.Nick, Self: true}}}
	h.rooms = append(h.rooms, r)
	return r
}

// joined returns the room of h called name made last, or nil.
func (h *screenHost) joined(name string) *screenRoom {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range slices.Backward(h.rooms) {
		if r.name == name {
			return r
		}
	}
	return nil
}

// hasLeft reports whether Leave was called.
func (r *screenRoom) hasLeft() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.left
}

func (h *screenHost) Info() chat.Info {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.info
}

func (h *screenHost) Events() <-chan chat.Event { return h.events }

func (h *screenHost) Rooms() []chat.RoomInfo {
	h.call(nil, "/rooms", "")
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.list
}

// Join makes a room and emits our own join in it, as the node does; like
// the node it refuses a room it is in (and not left) with
// chat.ErrAlreadyJoined.
func (h *screenHost) Join(ctx context.Context, name, passphrase string) (Room, error) {
	call := name
	if passphrase != "" {
		call += " " + passphrase
	}
	if err := h.call(nil, "/join ", call); err != nil {
		return nil, err
	}
	if r := h.joined(name); r != nil && !r.hasLeft() {
		return nil, fmt.Errorf("join room %q: %w", name, chat.ErrAlreadyJoined)
	}
	r := h.room(name)
	r.private = passphrase != ""
	r.events <- chat.Event{Kind: chat.KindJoin, Room: name, Time: h.now(), PeerID: idAlice, Nick: h.Info().Nick, Self: true}
	return r, nil
}

// call records one call (r nil: the host's) after the block and entered
// hooks, unless sendErr refuses its text.
func (h *screenHost) call(r *screenRoom, kind, text string) error {
	if h.entered != nil {
		h.entered <- kind + text
	}
	if h.block != nil {
		<-h.block
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sendErr != nil {
		if err := h.sendErr(text); err != nil {
			return err
		}
	}
	prefix := ""
	if r != nil && r != h.rooms[0] {
		prefix = "#" + r.name + " "
	}
	h.sent = append(h.sent, prefix+kind+text)
	return nil
}

func (h *screenHost) SetNick(ctx context.Context, nick string) error {
	if err := h.call(nil, "/nick ", nick); err != nil {
		return err
	}
	h.mu.Lock()
	old := h.info.Nick
	h.info.Nick = nick
	rooms := slices.Clone(h.rooms)
	h.mu.Unlock()
	for _, r := range rooms {
		r.mu.Lock()
		for i := range r.members {
			if r.members[i].Self {
				r.members[i].Nick = nick
			}
		}
		left := r.left
		r.mu.Unlock()
		if h.echo && !left {
			r.events <- chat.Event{Kind: chat.KindNick, Room: r.name, Time: h.now(), PeerID: idAlice, Nick: nick, OldNick: old, Self: true}
		}
	}
	return nil
}

// calls returns the calls made so far.
func (h *screenHost) calls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.sent...)
}

func (r *screenRoom) Name() string              { return r.name }
func (r *screenRoom) Private() bool             { return r.private }
func (r *screenRoom) Events() <-chan chat.Event { return r.events }

func (r *screenRoom) Members() []chat.Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]chat.Member(nil), r.members...)
}

func (r *screenRoom) Send(ctx context.Context, text string) error {
	if err := r.host.call(r, "", text); err != nil {
		return err
	}
	if r.host.echo {
		r.events <- chat.Event{Kind: chat.KindMessage, Room: r.name, Time: r.host.now(), PeerID: idAlice, Nick: r.host.Info().Nick, Text: text, Self: true}
	}
	return nil
}

func (r *screenRoom) Action(ctx context.Context, text string) error {
	if err := r.host.call(r, "/me ", text); err != nil {
		return err
	}
	if r.host.echo {
		r.events <- chat.Event{Kind: chat.KindMessage, Room: r.name, Time: r.host.now(), PeerID: idAlice, Nick: r.host.Info().Nick, Text: text, Action: true, Self: true}
	}
	return nil
}

// Leave emits our own leave and closes the events, as the node does.
func (r *screenRoom) Leave(ctx context.Context) error {
	if err := r.host.call(r, "/part", ""); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.left {
		return chat.ErrLeft
	}
	r.left = true
	r.events <- chat.Event{Kind: chat.KindLeave, Room: r.name, Time: r.host.now(), PeerID: idAlice, Nick: r.host.Info().Nick, Reason: chat.ReasonQuit, Self: true}
	close(r.events)
	return nil
}

// calls returns the calls made so far into the room's host and its rooms.
func (r *screenRoom) calls() []string { return r.host.calls() }

// setMembers replaces the roster.
func (r *screenRoom) setMembers(ms ...chat.Member) {
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

// newTestScreen makes a w×h screen in room (and more rooms of its host)
// with the clock at testStart.
func newTestScreen(t *testing.T, room *screenRoom, w, h int, more ...*screenRoom) *testScreen {
	t.Helper()
	return newTestScreenWith(t, screenConfig{}, room, w, h, more...)
}

// newTestScreenWith is newTestScreen with cfg (its clock and manual are
// set: the clock at testStart, events delivered by the test).
func newTestScreenWith(t *testing.T, cfg screenConfig, room *screenRoom, w, h int, more ...*screenRoom) *testScreen {
	t.Helper()
	cfg.now, cfg.manual = func() time.Time { return testStart }, true
	m := newScreenModel(room.host, asRooms(append([]*screenRoom{room}, more...)), cfg)
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

// events feeds events of the current room as the event Cmd would deliver
// them.
func (ts *testScreen) events(evs ...chat.Event) {
	ts.t.Helper()
	ts.update(roomEventsMsg{rv: ts.m.sess.cur, events: evs})
}

// eventsIn feeds events of the room called name.
func (ts *testScreen) eventsIn(name string, evs ...chat.Event) {
	ts.t.Helper()
	rv := ts.m.sess.find(name)
	if rv == nil {
		ts.t.Fatalf("not in room %q", name)
	}
	for i := range evs {
		evs[i].Room = name
	}
	ts.update(roomEventsMsg{rv: rv, events: evs})
}

// drain delivers everything the fake rooms have queued (echoes of our own
// messages, nick changes, our own joins and leaves, a closed channel).
func (ts *testScreen) drain() {
	ts.t.Helper()
	for _, rv := range slices.Clone(ts.m.sess.rooms) {
		ch := rv.room.Events()
	room:
		for {
			select {
			case e, ok := <-ch:
				if !ok {
					ts.update(roomEventsMsg{rv: rv, closed: true})
					break room
				}
				ts.update(roomEventsMsg{rv: rv, events: []chat.Event{e}})
			default:
				break room
			}
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
func msgEvent(min int, id, nick, text string) chat.Event {
	return chat.Event{Kind: chat.KindMessage, Time: testStart.Add(time.Duration(min) * time.Minute), PeerID: id, Nick: nick, Text: text, ID: fmt.Sprintf("m%d", min)}
}
