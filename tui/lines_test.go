package tui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"lanchat/node/chat"
)

// fakeHost is a hand-written [Host] for the line-mode tests, holding
// fakeRooms. It records the calls the front end makes, in order, for all
// its rooms: "send hi", "action waves", "nick bob", "join dev", "part";
// calls into a room other than the first are prefixed "#room ".
type fakeHost struct {
	info    chat.Info
	events  chan chat.Event
	nickErr error           // returned by SetNick
	joinErr error           // returned by Join
	fileErr error           // returned by the file calls (files_test.go)
	list    []chat.RoomInfo // returned by Rooms

	mu      sync.Mutex
	rooms   []*fakeRoom // every room made, the first one first
	calls   []string
	primary *fakeRoom
}

// fakeRoom is a hand-written [Room] of a fakeHost.
type fakeRoom struct {
	host    *fakeHost
	name    string
	private bool
	events  chan chat.Event
	sendErr error // returned by Send and Action

	mu      sync.Mutex
	members []chat.Member
	left    bool
}

func newFakeHost(network string) *fakeHost {
	info := chat.Info{
		PeerID:      "12D3KooWSelf",
		Nick:        "alice",
		Network:     network,
		Fingerprint: "open",
		Addrs:       []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWSelf"},
	}
	if network == "private" {
		info.Fingerprint = "1a2b3c4d"
	}
	return &fakeHost{info: info, events: make(chan chat.Event, 16)}
}

// newFakeRoom returns the room "lobby" of a new fakeHost.
func newFakeRoom(network string) *fakeRoom {
	return newFakeHost(network).room("lobby")
}

// room makes a room of h, without a join event.
func (h *fakeHost) room(name string) *fakeRoom {
	r := &fakeRoom{host: h, name: name, events: make(chan chat.Event, 16)}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rooms = append(h.rooms, r)
	if h.primary == nil {
		h.primary = r
	}
	return r
}

func (h *fakeHost) Info() chat.Info           { return h.info }
func (h *fakeHost) Events() <-chan chat.Event { return h.events }
func (h *fakeHost) Rooms() []chat.RoomInfo    { h.record("rooms"); return h.list }

func (h *fakeHost) SetNick(ctx context.Context, nick string) error {
	return h.record("nick "+nick, h.nickErr)
}

// Join makes a room whose members are ourselves and emits our own join.
func (h *fakeHost) Join(ctx context.Context, name, passphrase string) (Room, error) {
	call := "join " + name
	if passphrase != "" {
		call += " " + passphrase
	}
	if err := h.record(call, h.joinErr); err != nil {
		return nil, err
	}
	r := h.room(name)
	r.private = passphrase != ""
	r.members = []chat.Member{{PeerID: h.info.PeerID, Nick: h.info.Nick, Self: true}}
	r.events <- chat.Event{Kind: chat.KindJoin, Room: name, Time: t0, PeerID: h.info.PeerID, Nick: h.info.Nick, Self: true}
	return r, nil
}

func (h *fakeHost) record(call string, errs ...error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, call)
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func (h *fakeHost) recorded() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// joined returns the room of h called name.
func (h *fakeHost) joined(name string) *fakeRoom {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.rooms {
		if r.name == name {
			return r
		}
	}
	return nil
}

func (f *fakeRoom) Name() string              { return f.name }
func (f *fakeRoom) Private() bool             { return f.private }
func (f *fakeRoom) Events() <-chan chat.Event { return f.events }

func (f *fakeRoom) Members() []chat.Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.members)
}

func (f *fakeRoom) setMembers(ms ...chat.Member) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members = ms
}

func (f *fakeRoom) Send(ctx context.Context, text string) error {
	return f.record("send "+text, f.sendErr)
}

func (f *fakeRoom) Action(ctx context.Context, text string) error {
	return f.record("action "+text, f.sendErr)
}

// Leave emits our own leave and closes the events, as the node does.
func (f *fakeRoom) Leave(ctx context.Context) error {
	f.record("part", nil)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left {
		return chat.ErrLeft
	}
	f.left = true
	f.events <- chat.Event{Kind: chat.KindLeave, Room: f.name, Time: t0, PeerID: f.host.info.PeerID, Nick: f.host.info.Nick, Reason: chat.ReasonQuit, Self: true}
	close(f.events)
	return nil
}

func (f *fakeRoom) record(call string, err error) error {
	if f.host.primary != f {
		call = "#" + f.name + " " + call
	}
	return f.host.record(call, err)
}

// recorded returns the calls made to the host and its rooms.
func (f *fakeRoom) recorded() []string { return f.host.recorded() }

// lineSink is the output of RunLines: each Write must be exactly one line.
type lineSink struct {
	t     *testing.T
	lines chan string
	fail  error // returned by Write when set
}

func (s *lineSink) Write(p []byte) (int, error) {
	if s.fail != nil {
		return 0, s.fail
	}
	str := string(p)
	if !strings.HasSuffix(str, "\n") || strings.Count(str, "\n") != 1 {
		s.t.Errorf("Write(%q) is not exactly one line", str)
	}
	s.lines <- strings.TrimSuffix(str, "\n")
	return len(p), nil
}

// linesRun is one RunLines under test.
type linesRun struct {
	t      *testing.T
	room   *fakeRoom
	in     *io.PipeWriter
	out    *lineSink
	cancel context.CancelFunc
	done   chan error
}

const testWait = 5 * time.Second

// noSettle reads input at once; TestLinesSettle covers the hold.
var noSettle = lineTimes{}

func startLines(t *testing.T, room *fakeRoom, mode LineMode) *linesRun {
	t.Helper()
	return startLinesIn(t, room, mode, room)
}

// startLinesIn runs RunLines in rooms; room is the one linesRun.room names.
func startLinesIn(t *testing.T, room *fakeRoom, mode LineMode, rooms ...*fakeRoom) *linesRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	r := &linesRun{t: t, room: room, in: pw, cancel: cancel, done: make(chan error, 1),
		out: &lineSink{t: t, lines: make(chan string, 1000)}}
	go func() { r.done <- runLines(ctx, room.host, asRooms(rooms), pr, r.out, mode, noSettle) }()
	t.Cleanup(func() {
		cancel()
		pw.Close()
		select {
		case <-r.done:
		case <-time.After(testWait):
			t.Error("RunLines did not return after cancel")
		}
	})
	return r
}

// asRooms converts fake rooms to the interface.
func asRooms[R Room](rs []R) []Room {
	out := make([]Room, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}

// next returns the next output line.
func (r *linesRun) next() string {
	r.t.Helper()
	select {
	case l := <-r.out.lines:
		return l
	case <-time.After(testWait):
		r.t.Fatal("timed out waiting for an output line")
		return ""
	}
}

// wait returns RunLines' result.
func (r *linesRun) wait() error {
	r.t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for Cleanup
		return err
	case <-time.After(testWait):
		r.t.Fatal("timed out waiting for RunLines to return")
		return nil
	}
}

// rest returns the output lines written so far (after RunLines returned).
func (r *linesRun) rest() []string {
	var out []string
	for {
		select {
		case l := <-r.out.lines:
			out = append(out, l)
		default:
			return out
		}
	}
}

func (r *linesRun) write(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.in, s); err != nil {
		r.t.Fatalf("write input: %v", err)
	}
}

var t0 = time.Date(2025, 3, 1, 14, 3, 7, 123456789, time.UTC)

func TestLinesEvents(t *testing.T) {
	tests := []struct {
		name      string
		ev        chat.Event
		wantJSON  string
		wantPlain string
	}{
		{"join", chat.Event{Kind: chat.KindJoin, Time: t0, PeerID: "12D3KooWBob", Nick: "bob"},
			`{"type":"join","time":"2025-03-01T14:03:07.123Z","room":"lobby","peer_id":"12D3KooWBob","nick":"bob"}`,
			`* bob joined`},
		{"join self", chat.Event{Kind: chat.KindJoin, Time: t0, PeerID: "12D3KooWSelf", Nick: "alice", Self: true},
			`{"type":"join","time":"2025-03-01T14:03:07.123Z","room":"lobby","peer_id":"12D3KooWSelf","nick":"alice","self":true}`,
			``}, // plain: the ready line said it
		{"leave quit", chat.Event{Kind: chat.KindLeave, Time: t0, PeerID: "12D3KooWBob", Nick: "bob", Reason: chat.ReasonQuit},
			`{"type":"leave","time":"2025-03-01T14:03:07.123Z","room":"lobby","peer_id":"12D3KooWBob","nick":"bob","reason":"quit"}`,
			`* bob left (quit)`},
		{"leave lost", chat.Event{Kind: chat.KindLeave, Time: t0, PeerID: "12D3KooWBob", Nick: "bob", Reason: chat.ReasonLost},
			`{"type":"leave","time":"2025-03-01T14:03:07.123Z","room":"lobby","peer_id":"12D3KooWBob","nick":"bob","reason":"lost"}`,
			`* bob left (lost)`},
		{"nick", chat.Event{Kind: chat.KindNick, Time: t0, PeerID: "12D3KooWBob", OldNick: "bob", Nick: "robert"},
			`{"type":"nick","time":"2025-03-01T14:03:07.123Z","room":"lobby","peer_id":"12D3KooWBob","old":"bob","new":"robert"}`,
			`* bob is now known as robert`},
		{"message", chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m1", PeerID: "12D3KooWBob", Nick: "bob", Text: "hi", Sent: t0.Add(-time.Second)},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","room":"lobby","id":"m1","peer_id":"12D3KooWBob","nick":"bob","text":"hi","sent":"2025-03-01T14:03:06.123Z","self":false}`,
			`[14:03] <bob> hi`},
		{"message self", chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m2", PeerID: "12D3KooWSelf", Nick: "alice", Text: "hello", Sent: t0, Self: true},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","room":"lobby","id":"m2","peer_id":"12D3KooWSelf","nick":"alice","text":"hello","sent":"2025-03-01T14:03:07.123Z","self":true}`,
			`[14:03] <alice> hello`},
		{"action", chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m3", PeerID: "12D3KooWBob", Nick: "bob", Text: "waves", Sent: t0, Action: true},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","room":"lobby","id":"m3","peer_id":"12D3KooWBob","nick":"bob","text":"waves","sent":"2025-03-01T14:03:07.123Z","self":false,"action":true}`,
			`[14:03] * bob waves`},
		{"sent in another zone", chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m4", PeerID: "p", Nick: "bob", Text: "x", Sent: t0.In(time.FixedZone("JST", 9*3600))},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","room":"lobby","id":"m4","peer_id":"p","nick":"bob","text":"x","sent":"2025-03-01T14:03:07.123Z","self":false}`,
			`[14:03] <bob> x`},
		{"html and unicode are data", chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m5", PeerID: "p", Nick: "<b>", Text: `a<b>&"c" 日本語 👍`, Sent: t0},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","room":"lobby","id":"m5","peer_id":"p","nick":"<b>","text":"a<b>&\"c\" 日本語 👍","sent":"2025-03-01T14:03:07.123Z","self":false}`,
			"[14:03] <\ufffdb\ufffd> a<b>&\"c\" 日本語 👍"}, // a nick cannot forge the layout
		{"escape sequences in text", chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m6", PeerID: "p", Nick: "bob", Text: "a\x1b[2Jb\x1b]0;pwned\x07c\nd", Sent: t0},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","room":"lobby","id":"m6","peer_id":"p","nick":"bob","text":"a\u001b[2Jb\u001b]0;pwned\u0007c\nd","sent":"2025-03-01T14:03:07.123Z","self":false}`,
			`[14:03] <bob> abc d`},
		{"escape sequences in nick", chat.Event{Kind: chat.KindJoin, Time: t0, PeerID: "p", Nick: "\x1b]8;;http://x\x1b\\ev\u202eil\x1b]8;;\x1b\\\r"},
			`{"type":"join","time":"2025-03-01T14:03:07.123Z","room":"lobby","peer_id":"p","nick":"\u001b]8;;http://x\u001b\\ev` + "\u202e" + `il\u001b]8;;\u001b\\\r"}`, // U+202E is valid JSON data, left as is
			`* evil joined`},
		{"escape sequences in nick change", chat.Event{Kind: chat.KindNick, Time: t0, PeerID: "p", OldNick: "a\x1b[1mb", Nick: "c\x07d"},
			`{"type":"nick","time":"2025-03-01T14:03:07.123Z","room":"lobby","peer_id":"p","old":"a\u001b[1mb","new":"c\u0007d"}`,
			`* ab is now known as cd`},
		{"escape sequences in action", chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m7", PeerID: "p", Nick: "b\x07ob", Text: "\x1b[31mred", Sent: t0, Action: true},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","room":"lobby","id":"m7","peer_id":"p","nick":"b\u0007ob","text":"\u001b[31mred","sent":"2025-03-01T14:03:07.123Z","self":false,"action":true}`,
			`[14:03] * bob red`},
		{"notice", chat.Event{Kind: chat.KindNotice, Time: t0, Text: "2 lanchat peers nearby use a different key"},
			`{"type":"notice","time":"2025-03-01T14:03:07.123Z","text":"2 lanchat peers nearby use a different key"}`,
			`* 2 lanchat peers nearby use a different key`},
		{"error", chat.Event{Kind: chat.KindError, Time: t0, Text: "cannot reach /ip4/10.0.0.9/tcp/1"},
			`{"type":"error","time":"2025-03-01T14:03:07.123Z","text":"cannot reach /ip4/10.0.0.9/tcp/1"}`,
			`! cannot reach /ip4/10.0.0.9/tcp/1`},
		{"error with escape", chat.Event{Kind: chat.KindError, Time: t0, Text: "bad \x1b[2J"},
			`{"type":"error","time":"2025-03-01T14:03:07.123Z","text":"bad \u001b[2J"}`,
			`! bad `},
		{"time in another zone is UTC in JSON", chat.Event{Kind: chat.KindNotice, Time: time.Date(2025, 3, 1, 23, 3, 7, 5e6, time.FixedZone("JST", 9*3600)), Text: "n"},
			`{"type":"notice","time":"2025-03-01T14:03:07.005Z","text":"n"}`,
			`* n`},
		{"notice in a room", chat.Event{Kind: chat.KindNotice, Room: "lobby", Time: t0, Text: "n"},
			`{"type":"notice","time":"2025-03-01T14:03:07.123Z","room":"lobby","text":"n"}`,
			`* n`},
		{"own leave", chat.Event{Kind: chat.KindLeave, Room: "lobby", Time: t0, PeerID: "12D3KooWSelf", Nick: "alice", Reason: chat.ReasonQuit, Self: true},
			`{"type":"leave","time":"2025-03-01T14:03:07.123Z","room":"lobby","peer_id":"12D3KooWSelf","nick":"alice","reason":"quit","self":true}`,
			`* alice left (quit)`},
	}
	for _, tt := range tests {
		for _, mode := range []LineMode{JSON, Plain} {
			name := tt.name + "/plain"
			want := tt.wantPlain
			if mode == JSON {
				name = tt.name + "/json"
				want = tt.wantJSON
			}
			t.Run(name, func(t *testing.T) {
				r := startLines(t, newFakeRoom("private"), mode)
				r.next() // ready
				// Notices and errors without a room are the host's; the
				// rest come from the room, whose name they carry.
				ev := tt.ev
				if ev.Room == "" && (ev.Kind == chat.KindNotice || ev.Kind == chat.KindError) {
					r.room.host.events <- ev
				} else {
					ev.Room = "lobby"
					r.room.events <- ev
				}
				if want == "" {
					// Skipped: the next line is the one after it.
					r.room.host.events <- chat.Event{Kind: chat.KindNotice, Text: "next"}
					want = "* next"
				}
				if got := r.next(); got != want {
					t.Errorf("event %+v:\n got %s\nwant %s", tt.ev, got, want)
				}
				if mode == JSON {
					var m map[string]any
					if err := json.Unmarshal([]byte(want), &m); err != nil {
						t.Fatalf("want is not JSON: %v", err)
					}
				}
			})
		}
	}
}

func TestLinesReady(t *testing.T) {
	timeRE := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	tests := []struct {
		network  string
		wantJSON map[string]any
		plain    []string
	}{
		{"private", map[string]any{"type": "ready", "peer_id": "12D3KooWSelf", "nick": "alice", "room": "lobby", "rooms": []any{"lobby"},
			"network": "private", "fingerprint": "1a2b3c4d", "addrs": []any{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWSelf"}},
			[]string{"* lanchat: joined room lobby as alice (private network, key fingerprint 1a2b3c4d)"}},
		{"open", map[string]any{"type": "ready", "peer_id": "12D3KooWSelf", "nick": "alice", "room": "lobby", "rooms": []any{"lobby"},
			"network": "open", "fingerprint": "open", "addrs": []any{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWSelf"}},
			[]string{"* lanchat: joined room lobby as alice (open network)",
				"* " + openText}},
	}
	for _, tt := range tests {
		t.Run(tt.network+"/json", func(t *testing.T) {
			r := startLines(t, newFakeRoom(tt.network), JSON)
			var got map[string]any
			line := r.next()
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatalf("ready line %s: %v", line, err)
			}
			ts, _ := got["time"].(string)
			if !timeRE.MatchString(ts) {
				t.Errorf("ready time = %q, want RFC 3339 UTC with ms", ts)
			}
			delete(got, "time")
			if fmt.Sprint(got) != fmt.Sprint(tt.wantJSON) {
				t.Errorf("ready = %v, want %v", got, tt.wantJSON)
			}
			if tt.network == "open" {
				var n map[string]any
				if err := json.Unmarshal([]byte(r.next()), &n); err != nil || n["type"] != "notice" ||
					!strings.Contains(n["text"].(string), "anyone on this LAN can join") {
					t.Errorf("after ready on an open network: %v %v, want the open-network notice", n, err)
				}
			}
		})
		t.Run(tt.network+"/plain", func(t *testing.T) {
			r := startLines(t, newFakeRoom(tt.network), Plain)
			for _, want := range tt.plain {
				if got := r.next(); got != want {
					t.Errorf("got %q, want %q", got, want)
				}
			}
		})
	}
	t.Run("plain addresses", func(t *testing.T) {
		room := newFakeRoom("private")
		room.host.info.Addrs = []string{"/ip4/127.0.0.1/tcp/1/p2p/X", "/ip4/192.168.1.5/tcp/1/p2p/X", "/ip6/::1/tcp/2/p2p/X", "/ip6/fd00::5/tcp/2/p2p/X"}
		r := startLines(t, room, Plain)
		r.next() // joined
		if got, want := r.next(), "* reachable at /ip4/192.168.1.5/tcp/1/p2p/X /ip6/fd00::5/tcp/2/p2p/X"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("no addrs is an empty list", func(t *testing.T) {
		room := newFakeRoom("private")
		room.host.info.Addrs = nil
		r := startLines(t, room, JSON)
		if got := r.next(); !strings.HasSuffix(got, `"addrs":[]}`) {
			t.Errorf("ready = %s, want addrs []", got)
		}
	})
}

func TestLinesInput(t *testing.T) {
	errTooLong := fmt.Errorf("publish: %w", chat.ErrTooLong)
	long := strings.Repeat("x", MaxLineBytes)
	tests := []struct {
		name      string
		input     string
		sendErr   error
		nickErr   error
		members   []chat.Member
		wantCalls []string
		wantOut   []string // plain lines after the ready line
	}{
		{name: "message", input: "hi there\n", wantCalls: []string{"send hi there"}},
		{name: "crlf", input: "hi\r\n", wantCalls: []string{"send hi"}},
		{name: "last line without newline", input: "a\nb", wantCalls: []string{"send a", "send b"}},
		{name: "empty and blank lines ignored", input: "\n\r\n   \n\t\n", wantCalls: nil},
		{name: "leading spaces kept", input: "  indented\n", wantCalls: []string{"send   indented"}},
		{name: "double slash sends slash", input: "//etc/hosts\n", wantCalls: []string{"send /etc/hosts"}},
		{name: "me", input: "/me waves\n", wantCalls: []string{"action waves"}},
		{name: "me without text", input: "/me\n", wantOut: []string{"! usage: /me ACTION, e.g. /me waves"}},
		{name: "nick", input: "/nick robert\n", wantCalls: []string{"nick robert"}},
		{name: "nick upper case command", input: "/NICK robert\n", wantCalls: []string{"nick robert"}},
		{name: "nick without name", input: "/nick  \n", wantOut: []string{"! usage: /nick NAME"}},
		{name: "nick refused", input: "/nick x\n", nickErr: fmt.Errorf("set nick: %w", chat.ErrInvalidNick),
			wantCalls: []string{"nick x"},
			wantOut:   []string{`! invalid nick "x": use 1 to 32 visible characters, none of < > # and nothing invisible`}},
		{name: "nick other error", input: "/nick x\n", nickErr: chat.ErrClosed,
			wantCalls: []string{"nick x"}, wantOut: []string{"! cannot change nick: the room is closed"}},
		{name: "unknown command not sent", input: "/frobnicate now\n",
			wantOut: []string{"! unknown command /frobnicate, nothing was sent (try /help; start a line with // to send it as text)"}},
		{name: "unknown command with escape is sanitised", input: "/a\x1b[2J\n",
			wantOut: []string{"! unknown command /a, nothing was sent (try /help; start a line with // to send it as text)"}},
		{name: "help", input: "/help\n", wantOut: []string{"* " + lineHelp()}},
		{name: "who", input: "/who\n", members: []chat.Member{{PeerID: "s", Nick: "alice", Self: true}, {PeerID: "b", Nick: "b\x1b[2Job"}, {PeerID: "c", Nick: "carol", Lost: true}},
			wantOut: []string{"* 2 in lobby: alice (you), bob; 1 lost: carol"}},
		{name: "key", input: "/key\n", wantOut: []string{"* private network, key fingerprint 1a2b3c4d: everyone in the room shows the same one, compare it out loud"}},
		{name: "clear has nothing to clear", input: "/clear\n", wantOut: []string{"* /clear clears the full-screen chat (the line modes have none); lost members are no longer listed by /who"}},
		{name: "nick with a space", input: "/nick Mary Ann\n", wantCalls: []string{"nick Mary Ann"}},
		{name: "exactly max length is sent", input: long + "\n", wantCalls: []string{"send " + long}},
		{name: "max length plus cr is sent", input: long + "\r\n", wantCalls: []string{"send " + long}},
		{name: "one byte too long", input: long + "x\nok\n", wantCalls: []string{"send ok"},
			wantOut: []string{"! message too long (max 4096 bytes)"}},
		{name: "far too long then more", input: strings.Repeat("y", 100_000) + "\nok\n", wantCalls: []string{"send ok"},
			wantOut: []string{"! message too long (max 4096 bytes)"}},
		{name: "too long at end of input", input: "ok\n" + strings.Repeat("y", 20_000), wantCalls: []string{"send ok"},
			wantOut: []string{"! message too long (max 4096 bytes)"}},
		{name: "invalid utf8 replaced", input: "a\xffb\n", wantCalls: []string{"send a\uFFFDb"}},
		{name: "send error shown, not fatal", input: "one\ntwo\n", sendErr: errors.New("no peers yet"),
			wantCalls: []string{"send one", "send two"},
			wantOut:   []string{"! message not sent: no peers yet", "! message not sent: no peers yet"}},
		{name: "send too long from node", input: "one\n", sendErr: errTooLong,
			wantCalls: []string{"send one"}, wantOut: []string{"! message too long (max 4096 bytes)"}},
		{name: "action error", input: "/me x\n", sendErr: chat.ErrClosed,
			wantCalls: []string{"action x"}, wantOut: []string{"! message not sent: the room is closed"}},
		{name: "end stops reading", input: "a\n:end\nb\n", wantCalls: []string{"send a"}},
		{name: "end with spaces", input: "  :end \nb\n", wantCalls: nil},
		{name: "quit stops reading", input: "/quit\nb\n", wantCalls: nil},
		{name: "quit with a reason", input: "/quit bye all\nb\n", wantCalls: nil},
		{name: "end as part of a line is text", input: "type :end to leave\n", wantCalls: []string{"send type :end to leave"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			room := newFakeRoom("private")
			room.sendErr, room.host.nickErr, room.members = tt.sendErr, tt.nickErr, tt.members
			r := startLines(t, room, Plain)
			r.next() // ready
			go func() {
				// The input may be cut short by :end, so errors are expected.
				io.WriteString(r.in, tt.input)
				r.in.Close()
			}()
			if err := r.wait(); err != nil {
				t.Fatalf("RunLines = %v, want nil", err)
			}
			if got := room.recorded(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("input %.60q: calls %.200q, want %.200q", tt.input, got, tt.wantCalls)
			}
			if got := r.rest(); !slices.Equal(got, tt.wantOut) {
				t.Errorf("input %.60q: output %q, want %q", tt.input, got, tt.wantOut)
			}
		})
	}
}

// TestLinesQueuedEventsFirst checks that events queued before an input line
// is read are printed before it is acted on, even at end of input.
func TestLinesQueuedEventsFirst(t *testing.T) {
	room := newFakeRoom("private")
	room.events <- chat.Event{Kind: chat.KindNotice, Time: t0, Text: "one"}
	room.events <- chat.Event{Kind: chat.KindJoin, Time: t0, PeerID: "p", Nick: "bob"}
	var out strings.Builder
	if err := runLines(context.Background(), room.host, []Room{room}, strings.NewReader("/bogus\n"), &out, Plain, noSettle); err != nil {
		t.Fatal(err)
	}
	want := "* lanchat: joined room lobby as alice (private network, key fingerprint 1a2b3c4d)\n* one\n* bob joined\n" +
		"! unknown command /bogus, nothing was sent (try /help; start a line with // to send it as text)\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// settleRun is one RunLines in a synctest bubble, for the tests of the
// input hold.
type settleRun struct {
	t    *testing.T
	h    *fakeHost
	in   *io.PipeWriter
	done chan error
}

// startSettle runs RunLines of h in rooms with times, and writes input.
func startSettle(t *testing.T, h *fakeHost, rooms []Room, times lineTimes, input string) *settleRun {
	pr, pw := io.Pipe()
	r := &settleRun{t: t, h: h, in: pw, done: make(chan error, 1)}
	out := &lineSink{t: t, lines: make(chan string, 100)}
	go func() { r.done <- runLines(context.Background(), h, rooms, pr, out, Plain, times) }()
	go io.WriteString(pw, input)
	return r
}

// waitCall lets the bubble's clock run a millisecond at a time until the
// host has recorded call.
func (r *settleRun) waitCall(call string) {
	for {
		synctest.Wait()
		if slices.Contains(r.h.recorded(), call) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// stop ends the input and checks that RunLines returned nil.
func (r *settleRun) stop() {
	r.in.Close()
	if err := <-r.done; err != nil {
		r.t.Errorf("RunLines = %v", err)
	}
}

// TestLinesSettle checks that input is held back after start until another
// member has joined and the joins have gone quiet, or at most settleMax.
func TestLinesSettle(t *testing.T) {
	settle := lineTimes{settleMax: 2 * time.Second, settleQuiet: 300 * time.Millisecond}
	other := chat.Member{PeerID: "p", Nick: "bob"}
	self := chat.Member{PeerID: "s", Nick: "alice", Self: true}
	join := chat.Event{Kind: chat.KindJoin, PeerID: "p", Nick: "bob"}
	tests := []struct {
		name    string
		members []chat.Member
		joinAt  []time.Duration // joins of other members, after start
		want    time.Duration   // when the input line is sent
	}{
		{"empty room: the whole hold", []chat.Member{self}, nil, 2 * time.Second},
		{"members present: quiet only", []chat.Member{self, other}, nil, 300 * time.Millisecond},
		{"a join releases after quiet", []chat.Member{self}, []time.Duration{500 * time.Millisecond}, 800 * time.Millisecond},
		{"joins extend the quiet", []chat.Member{self}, []time.Duration{500 * time.Millisecond, 700 * time.Millisecond}, time.Second},
		{"never past max", []chat.Member{self}, []time.Duration{1900 * time.Millisecond}, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				room := newFakeRoom("private")
				room.members = tt.members
				start := time.Now()
				r := startSettle(t, room.host, []Room{room}, settle, "hi\n")
				go func() {
					for _, at := range tt.joinAt {
						time.Sleep(at - time.Since(start))
						room.events <- join
					}
				}()
				r.waitCall("send hi")
				if got := time.Since(start); got < tt.want || got > tt.want+2*time.Millisecond {
					t.Errorf("line sent after %v, want %v", got, tt.want)
				}
				r.stop()
			})
		})
	}
}

// TestLinesAloneNotice checks that the echo of our own message is followed
// by a notice when no other live member is in the room, and only then.
func TestLinesAloneNotice(t *testing.T) {
	self := chat.Member{PeerID: "12D3KooWSelf", Nick: "alice", Self: true}
	bob := chat.Member{PeerID: "12D3KooWBob", Nick: "bob"}
	lost := chat.Member{PeerID: "12D3KooWDave", Nick: "dave", Lost: true}
	echo := chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m1", PeerID: self.PeerID, Nick: "alice", Text: "hi", Sent: t0, Self: true}
	tests := []struct {
		name      string
		members   []chat.Member
		ev        chat.Event
		wantPlain string // line after the event; "* next" = no notice
		wantJSON  string
	}{
		{"alone", []chat.Member{self}, echo,
			"* nobody else is here yet — it will be delivered when someone joins",
			`{"type":"notice","time":"2025-03-01T14:03:07.123Z","room":"lobby","text":"nobody else is here yet — it will be delivered when someone joins"}`},
		{"alone action", []chat.Member{self}, func() chat.Event { e := echo; e.Action = true; return e }(),
			"* nobody else is here yet — it will be delivered when someone joins",
			`{"type":"notice","time":"2025-03-01T14:03:07.123Z","room":"lobby","text":"nobody else is here yet — it will be delivered when someone joins"}`},
		{"only lost members", []chat.Member{self, lost}, echo,
			"* everyone else here was lost — it will be delivered when someone is here again",
			`{"type":"notice","time":"2025-03-01T14:03:07.123Z","room":"lobby","text":"everyone else here was lost — it will be delivered when someone is here again"}`},
		{"someone here", []chat.Member{self, bob, lost}, echo, "* next",
			`{"type":"notice","time":"2025-03-01T14:03:07.123Z","room":"lobby","text":"next"}`},
		{"someone else's message", []chat.Member{self}, msgFrom(bob), "* next",
			`{"type":"notice","time":"2025-03-01T14:03:07.123Z","room":"lobby","text":"next"}`},
	}
	for _, tt := range tests {
		for _, mode := range []LineMode{Plain, JSON} {
			want, name := tt.wantPlain, tt.name+"/plain"
			if mode == JSON {
				want, name = tt.wantJSON, tt.name+"/json"
			}
			t.Run(name, func(t *testing.T) {
				room := newFakeRoom("private")
				room.members = tt.members
				r := startLines(t, room, mode)
				r.next() // ready
				room.events <- tt.ev
				room.events <- chat.Event{Kind: chat.KindNotice, Time: t0, Text: "next"}
				r.next() // the message
				got := r.next()
				if mode == JSON {
					got = jsonTimeRE.ReplaceAllString(got, `"time":"2025-03-01T14:03:07.123Z"`)
				}
				if got != want {
					t.Errorf("after %+v with members %v:\n got %s\nwant %s", tt.ev, tt.members, got, want)
				}
			})
		}
	}
}

// jsonTimeRE matches the "time" field of a JSON line.
var jsonTimeRE = regexp.MustCompile(`"time":"[^"]*"`)

// msgFrom is a chat line from m.
func msgFrom(m chat.Member) chat.Event {
	return chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m9", PeerID: m.PeerID, Nick: m.Nick, Text: "yo", Sent: t0}
}

// echoRoom is a fakeRoom that echoes our own messages like the node does:
// later, from another goroutine, the n-th message n×delay after it was sent
// (so in order), or never when delay < 0.
type echoRoom struct {
	*fakeRoom
	delay time.Duration
	sent  int
	wg    sync.WaitGroup
}

func (e *echoRoom) Send(ctx context.Context, text string) error {
	if err := e.fakeRoom.Send(ctx, text); err != nil {
		return err
	}
	e.sent++
	if e.delay >= 0 {
		d := time.Duration(e.sent) * e.delay
		e.wg.Go(func() {
			time.Sleep(d)
			e.events <- chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m-" + text, PeerID: "12D3KooWSelf", Nick: "alice", Text: text, Sent: t0, Self: true}
		})
	}
	return nil
}

// TestLinesAwaitEchoes checks that on leaving, RunLines waits for the echoes
// of the messages it sent, so a piped line is always printed, but not for
// ever when an echo never comes.
func TestLinesAwaitEchoes(t *testing.T) {
	times := lineTimes{echo: 2 * time.Second}
	tests := []struct {
		name     string
		input    string
		delay    time.Duration
		want     []string // output after the ready line
		wantTime time.Duration
	}{
		{"end of input", "one\ntwo\n", 50 * time.Millisecond,
			[]string{"[14:03] <alice> one", "* nobody else is here yet — it will be delivered when someone joins",
				"[14:03] <alice> two"}, 100 * time.Millisecond}, // the notice once per silence
		{":end", "one\n:end\n", 50 * time.Millisecond,
			[]string{"[14:03] <alice> one", "* nobody else is here yet — it will be delivered when someone joins"}, 50 * time.Millisecond},
		{"echo never comes", "one\n", -1, nil, 2 * time.Second},
		{"nothing sent", "/who\n", 50 * time.Millisecond, []string{"* 1 in lobby: alice (you)"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				room := &echoRoom{fakeRoom: newFakeRoom("private"), delay: tt.delay}
				room.members = []chat.Member{{PeerID: "12D3KooWSelf", Nick: "alice", Self: true}}
				out := &lineSink{t: t, lines: make(chan string, 100)}
				start := time.Now()
				if err := runLines(context.Background(), room.host, []Room{room}, strings.NewReader(tt.input), out, Plain, times); err != nil {
					t.Fatalf("RunLines = %v", err)
				}
				if got := time.Since(start); got != tt.wantTime {
					t.Errorf("RunLines took %v, want %v", got, tt.wantTime)
				}
				close(out.lines)
				var got []string
				for l := range out.lines {
					got = append(got, l)
				}
				if got, want := got[1:], tt.want; !slices.Equal(got, want) {
					t.Errorf("output %q, want %q", got, want)
				}
				room.wg.Wait()
			})
		})
	}
}

func TestLinesInputJSON(t *testing.T) {
	room := newFakeRoom("private")
	r := startLines(t, room, JSON)
	r.next() // ready
	r.write("/bogus\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(r.next()), &m); err != nil {
		t.Fatal(err)
	}
	if m["type"] != "error" || !strings.HasPrefix(m["text"].(string), "unknown command /bogus") {
		t.Errorf("after /bogus: %v, want an error object", m)
	}
	r.write(":end\n")
	if err := r.wait(); err != nil {
		t.Errorf("RunLines = %v, want nil", err)
	}
}

func TestLinesReturn(t *testing.T) {
	tests := []struct {
		name    string
		act     func(r *linesRun)
		wantErr bool
	}{
		{"end", func(r *linesRun) { r.write(":end\n") }, false},
		{"quit", func(r *linesRun) { r.write("/quit\n") }, false},
		{"eof", func(r *linesRun) { r.in.Close() }, false},
		{"read error", func(r *linesRun) { r.in.CloseWithError(errors.New("tty gone")) }, false},
		{"ctx cancel", func(r *linesRun) { r.cancel() }, false},
		{"events closed", func(r *linesRun) { close(r.room.events) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startLines(t, newFakeRoom("private"), Plain)
			r.next() // ready
			tt.act(r)
			if err := r.wait(); (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, chat.ErrClosed)) {
				t.Errorf("RunLines = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestLinesWriteError(t *testing.T) {
	room := newFakeRoom("private")
	out := &lineSink{t: t, lines: make(chan string, 10), fail: errors.New("broken pipe")}
	err := RunLines(context.Background(), room.host, []Room{room}, strings.NewReader(""), out, JSON)
	if err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Errorf("RunLines with a failing writer = %v, want the write error", err)
	}
}

// TestLinesNoLeak checks that the input reader goroutine ends: at once on
// end of input, and as soon as the input is closed when RunLines returned for
// another reason while a Read was blocked.
func TestLinesNoLeak(t *testing.T) {
	for _, how := range []string{"eof", "end", "cancel"} {
		t.Run(how, func(t *testing.T) {
			room := newFakeRoom("private")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pr, pw := io.Pipe()
			out := &lineSink{t: t, lines: make(chan string, 100)}
			done := make(chan error, 1)
			go func() { done <- runLines(ctx, room.host, []Room{room}, pr, out, Plain, noSettle) }()
			<-out.lines
			switch how {
			case "eof":
				pw.Close()
			case "end":
				io.WriteString(pw, ":end\n")
			case "cancel":
				cancel()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("RunLines = %v", err)
				}
			case <-time.After(testWait):
				t.Fatal("RunLines did not return")
			}
			pw.Close() // what process exit does to a blocked stdin read
			waitNoGoroutine(t, "tui.readLineInputs")
		})
	}
}

// waitNoGoroutine waits until no goroutine runs a function whose name contains fn.
func waitNoGoroutine(t *testing.T, fn string) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if !strings.Contains(string(buf[:n]), fn) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutine %s still running:\n%s", fn, buf[:n])
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline, not synchronising
	}
}

func BenchmarkLines(b *testing.B) {
	ev := chat.Event{Kind: chat.KindMessage, Time: t0, ID: "12D3KooWBob/42", PeerID: "12D3KooWBob", Nick: "bob",
		Text: "a typical chat line of some sixty characters, more or less ok", Sent: t0}
	for _, mode := range []struct {
		name string
		mode LineMode
	}{{"JSON", JSON}, {"Plain", Plain}} {
		b.Run(mode.name, func(b *testing.B) {
			w := newLineWriter(io.Discard, mode.mode)
			b.ReportAllocs()
			for b.Loop() {
				if err := w.event(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
