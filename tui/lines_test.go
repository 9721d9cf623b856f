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

	"lanchat/node"
)

// fakeRoom is a hand-written [Room] for the line-mode tests. It records the
// calls the front end makes.
type fakeRoom struct {
	info    node.Info
	events  chan node.Event
	members []node.Member
	sendErr error // returned by Send and Action
	nickErr error // returned by SetNick

	mu    sync.Mutex
	calls []string // "send hi", "action waves", "nick bob"
}

func newFakeRoom(network string) *fakeRoom {
	info := node.Info{
		PeerID:      "12D3KooWSelf",
		Nick:        "alice",
		Room:        "lobby",
		Network:     network,
		Fingerprint: "open",
		Addrs:       []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWSelf"},
	}
	if network == "private" {
		info.Fingerprint = "1a2b3c4d"
	}
	return &fakeRoom{info: info, events: make(chan node.Event, 16)}
}

func (f *fakeRoom) Info() node.Info           { return f.info }
func (f *fakeRoom) Events() <-chan node.Event { return f.events }
func (f *fakeRoom) Members() []node.Member    { return f.members }
func (f *fakeRoom) Send(text string) error    { return f.record("send "+text, f.sendErr) }
func (f *fakeRoom) Action(text string) error  { return f.record("action "+text, f.sendErr) }
func (f *fakeRoom) SetNick(nick string) error { return f.record("nick "+nick, f.nickErr) }

func (f *fakeRoom) record(call string, err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return err
}

func (f *fakeRoom) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

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
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	r := &linesRun{t: t, room: room, in: pw, cancel: cancel, done: make(chan error, 1),
		out: &lineSink{t: t, lines: make(chan string, 1000)}}
	go func() { r.done <- runLines(ctx, room, pr, r.out, mode, noSettle) }()
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
		ev        node.Event
		wantJSON  string
		wantPlain string
	}{
		{"join", node.Event{Type: node.EventJoin, Time: t0, PeerID: "12D3KooWBob", Nick: "bob"},
			`{"type":"join","time":"2025-03-01T14:03:07.123Z","peer_id":"12D3KooWBob","nick":"bob"}`,
			`* bob joined`},
		{"join self", node.Event{Type: node.EventJoin, Time: t0, PeerID: "12D3KooWSelf", Nick: "alice", Self: true},
			`{"type":"join","time":"2025-03-01T14:03:07.123Z","peer_id":"12D3KooWSelf","nick":"alice","self":true}`,
			``}, // plain: the ready line said it
		{"leave quit", node.Event{Type: node.EventLeave, Time: t0, PeerID: "12D3KooWBob", Nick: "bob", Reason: node.ReasonQuit},
			`{"type":"leave","time":"2025-03-01T14:03:07.123Z","peer_id":"12D3KooWBob","nick":"bob","reason":"quit"}`,
			`* bob left (quit)`},
		{"leave lost", node.Event{Type: node.EventLeave, Time: t0, PeerID: "12D3KooWBob", Nick: "bob", Reason: node.ReasonLost},
			`{"type":"leave","time":"2025-03-01T14:03:07.123Z","peer_id":"12D3KooWBob","nick":"bob","reason":"lost"}`,
			`* bob left (lost)`},
		{"nick", node.Event{Type: node.EventNick, Time: t0, PeerID: "12D3KooWBob", OldNick: "bob", Nick: "robert"},
			`{"type":"nick","time":"2025-03-01T14:03:07.123Z","peer_id":"12D3KooWBob","old":"bob","new":"robert"}`,
			`* bob is now known as robert`},
		{"message", node.Event{Type: node.EventMessage, Time: t0, ID: "m1", PeerID: "12D3KooWBob", Nick: "bob", Text: "hi", Sent: t0.Add(-time.Second)},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","id":"m1","peer_id":"12D3KooWBob","nick":"bob","text":"hi","sent":"2025-03-01T14:03:06.123Z","self":false}`,
			`[14:03] <bob> hi`},
		{"message self", node.Event{Type: node.EventMessage, Time: t0, ID: "m2", PeerID: "12D3KooWSelf", Nick: "alice", Text: "hello", Sent: t0, Self: true},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","id":"m2","peer_id":"12D3KooWSelf","nick":"alice","text":"hello","sent":"2025-03-01T14:03:07.123Z","self":true}`,
			`[14:03] <alice> hello`},
		{"action", node.Event{Type: node.EventMessage, Time: t0, ID: "m3", PeerID: "12D3KooWBob", Nick: "bob", Text: "waves", Sent: t0, Action: true},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","id":"m3","peer_id":"12D3KooWBob","nick":"bob","text":"waves","sent":"2025-03-01T14:03:07.123Z","self":false,"action":true}`,
			`[14:03] * bob waves`},
		{"sent in another zone", node.Event{Type: node.EventMessage, Time: t0, ID: "m4", PeerID: "p", Nick: "bob", Text: "x", Sent: t0.In(time.FixedZone("JST", 9*3600))},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","id":"m4","peer_id":"p","nick":"bob","text":"x","sent":"2025-03-01T14:03:07.123Z","self":false}`,
			`[14:03] <bob> x`},
		{"html and unicode are data", node.Event{Type: node.EventMessage, Time: t0, ID: "m5", PeerID: "p", Nick: "<b>", Text: `a<b>&"c" 日本語 👍`, Sent: t0},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","id":"m5","peer_id":"p","nick":"<b>","text":"a<b>&\"c\" 日本語 👍","sent":"2025-03-01T14:03:07.123Z","self":false}`,
			`[14:03] <<b>> a<b>&"c" 日本語 👍`},
		{"escape sequences in text", node.Event{Type: node.EventMessage, Time: t0, ID: "m6", PeerID: "p", Nick: "bob", Text: "a\x1b[2Jb\x1b]0;pwned\x07c\nd", Sent: t0},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","id":"m6","peer_id":"p","nick":"bob","text":"a\u001b[2Jb\u001b]0;pwned\u0007c\nd","sent":"2025-03-01T14:03:07.123Z","self":false}`,
			`[14:03] <bob> abc d`},
		{"escape sequences in nick", node.Event{Type: node.EventJoin, Time: t0, PeerID: "p", Nick: "\x1b]8;;http://x\x1b\\ev\u202eil\x1b]8;;\x1b\\\r"},
			`{"type":"join","time":"2025-03-01T14:03:07.123Z","peer_id":"p","nick":"\u001b]8;;http://x\u001b\\ev` + "\u202e" + `il\u001b]8;;\u001b\\\r"}`, // U+202E is valid JSON data, left as is
			`* evil  joined`},
		{"escape sequences in nick change", node.Event{Type: node.EventNick, Time: t0, PeerID: "p", OldNick: "a\x1b[1mb", Nick: "c\x07d"},
			`{"type":"nick","time":"2025-03-01T14:03:07.123Z","peer_id":"p","old":"a\u001b[1mb","new":"c\u0007d"}`,
			`* ab is now known as cd`},
		{"escape sequences in action", node.Event{Type: node.EventMessage, Time: t0, ID: "m7", PeerID: "p", Nick: "b\x07ob", Text: "\x1b[31mred", Sent: t0, Action: true},
			`{"type":"message","time":"2025-03-01T14:03:07.123Z","id":"m7","peer_id":"p","nick":"b\u0007ob","text":"\u001b[31mred","sent":"2025-03-01T14:03:07.123Z","self":false,"action":true}`,
			`[14:03] * bob red`},
		{"notice", node.Event{Type: node.EventNotice, Time: t0, Text: "2 lanchat peers nearby use a different key"},
			`{"type":"notice","time":"2025-03-01T14:03:07.123Z","text":"2 lanchat peers nearby use a different key"}`,
			`* 2 lanchat peers nearby use a different key`},
		{"error", node.Event{Type: node.EventError, Time: t0, Text: "cannot reach /ip4/10.0.0.9/tcp/1"},
			`{"type":"error","time":"2025-03-01T14:03:07.123Z","text":"cannot reach /ip4/10.0.0.9/tcp/1"}`,
			`! cannot reach /ip4/10.0.0.9/tcp/1`},
		{"error with escape", node.Event{Type: node.EventError, Time: t0, Text: "bad \x1b[2J"},
			`{"type":"error","time":"2025-03-01T14:03:07.123Z","text":"bad \u001b[2J"}`,
			`! bad `},
		{"time in another zone is UTC in JSON", node.Event{Type: node.EventNotice, Time: time.Date(2025, 3, 1, 23, 3, 7, 5e6, time.FixedZone("JST", 9*3600)), Text: "n"},
			`{"type":"notice","time":"2025-03-01T14:03:07.005Z","text":"n"}`,
			`* n`},
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
				r.room.events <- tt.ev
				if want == "" {
					// Skipped: the next line is the one after it.
					r.room.events <- node.Event{Type: node.EventNotice, Text: "next"}
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
		{"private", map[string]any{"type": "ready", "peer_id": "12D3KooWSelf", "nick": "alice", "room": "lobby",
			"network": "private", "fingerprint": "1a2b3c4d", "addrs": []any{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWSelf"}},
			[]string{"* lanchat: joined room lobby as alice (private network, key fingerprint 1a2b3c4d)"}},
		{"open", map[string]any{"type": "ready", "peer_id": "12D3KooWSelf", "nick": "alice", "room": "lobby",
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
		room.info.Addrs = []string{"/ip4/127.0.0.1/tcp/1/p2p/X", "/ip4/192.168.1.5/tcp/1/p2p/X", "/ip6/::1/tcp/2/p2p/X", "/ip6/fd00::5/tcp/2/p2p/X"}
		r := startLines(t, room, Plain)
		r.next() // joined
		if got, want := r.next(), "* reachable at /ip4/192.168.1.5/tcp/1/p2p/X /ip6/fd00::5/tcp/2/p2p/X"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("no addrs is an empty list", func(t *testing.T) {
		room := newFakeRoom("private")
		room.info.Addrs = nil
		r := startLines(t, room, JSON)
		if got := r.next(); !strings.HasSuffix(got, `"addrs":[]}`) {
			t.Errorf("ready = %s, want addrs []", got)
		}
	})
}

func TestLinesInput(t *testing.T) {
	errTooLong := fmt.Errorf("publish: %w", node.ErrTooLong)
	long := strings.Repeat("x", MaxLineBytes)
	tests := []struct {
		name      string
		input     string
		sendErr   error
		nickErr   error
		members   []node.Member
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
		{name: "nick refused", input: "/nick x\n", nickErr: fmt.Errorf("set nick: %w", node.ErrInvalidNick),
			wantCalls: []string{"nick x"},
			wantOut:   []string{`! invalid nick "x": use 1 to 32 characters, no control characters`}},
		{name: "nick other error", input: "/nick x\n", nickErr: node.ErrClosed,
			wantCalls: []string{"nick x"}, wantOut: []string{"! cannot change nick: the room is closed"}},
		{name: "unknown command not sent", input: "/frobnicate now\n",
			wantOut: []string{"! unknown command /frobnicate, nothing was sent (try /help; start a line with // to send it as text)"}},
		{name: "unknown command with escape is sanitised", input: "/a\x1b[2J\n",
			wantOut: []string{"! unknown command /a, nothing was sent (try /help; start a line with // to send it as text)"}},
		{name: "help", input: "/help\n", wantOut: []string{"* " + lineHelp}},
		{name: "who", input: "/who\n", members: []node.Member{{Nick: "alice", Self: true}, {Nick: "b\x1b[2Job"}, {Nick: "carol", Lost: true}},
			wantOut: []string{"* 3 in lobby: alice (you), bob, carol (lost)"}},
		{name: "key", input: "/key\n", wantOut: []string{"* private network, key fingerprint 1a2b3c4d: everyone in the room shows the same one, compare it out loud"}},
		{name: "clear has nothing to clear", input: "/clear\n", wantOut: []string{"* /clear clears the full-screen chat; the line modes have nothing to clear"}},
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
		{name: "action error", input: "/me x\n", sendErr: node.ErrClosed,
			wantCalls: []string{"action x"}, wantOut: []string{"! message not sent: node: closed"}},
		{name: "end stops reading", input: "a\n:end\nb\n", wantCalls: []string{"send a"}},
		{name: "end with spaces", input: "  :end \nb\n", wantCalls: nil},
		{name: "quit stops reading", input: "/quit\nb\n", wantCalls: nil},
		{name: "quit with a reason", input: "/quit bye all\nb\n", wantCalls: nil},
		{name: "end as part of a line is text", input: "type :end to leave\n", wantCalls: []string{"send type :end to leave"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			room := newFakeRoom("private")
			room.sendErr, room.nickErr, room.members = tt.sendErr, tt.nickErr, tt.members
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
	room.events <- node.Event{Type: node.EventNotice, Time: t0, Text: "one"}
	room.events <- node.Event{Type: node.EventJoin, Time: t0, PeerID: "p", Nick: "bob"}
	var out strings.Builder
	if err := runLines(context.Background(), room, strings.NewReader("/bogus\n"), &out, Plain, noSettle); err != nil {
		t.Fatal(err)
	}
	want := "* lanchat: joined room lobby as alice (private network, key fingerprint 1a2b3c4d)\n* one\n* bob joined\n" +
		"! unknown command /bogus, nothing was sent (try /help; start a line with // to send it as text)\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestLinesSettle checks that input is held back after start until another
// member has joined and the joins have gone quiet, or at most settleMax.
func TestLinesSettle(t *testing.T) {
	settle := lineTimes{settleMax: 2 * time.Second, settleQuiet: 300 * time.Millisecond}
	other := node.Member{PeerID: "p", Nick: "bob"}
	self := node.Member{PeerID: "s", Nick: "alice", Self: true}
	join := node.Event{Type: node.EventJoin, PeerID: "p", Nick: "bob"}
	tests := []struct {
		name    string
		members []node.Member
		joinAt  []time.Duration // joins of other members, after start
		want    time.Duration   // when the input line is sent
	}{
		{"empty room: the whole hold", []node.Member{self}, nil, 2 * time.Second},
		{"members present: quiet only", []node.Member{self, other}, nil, 300 * time.Millisecond},
		{"a join releases after quiet", []node.Member{self}, []time.Duration{500 * time.Millisecond}, 800 * time.Millisecond},
		{"joins extend the quiet", []node.Member{self}, []time.Duration{500 * time.Millisecond, 700 * time.Millisecond}, time.Second},
		{"never past max", []node.Member{self}, []time.Duration{1900 * time.Millisecond}, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				room := newFakeRoom("private")
				room.members = tt.members
				pr, pw := io.Pipe()
				out := &lineSink{t: t, lines: make(chan string, 100)}
				done := make(chan error, 1)
				start := time.Now()
				go func() { done <- runLines(context.Background(), room, pr, out, Plain, settle) }()
				go io.WriteString(pw, "hi\n")
				go func() {
					for _, at := range tt.joinAt {
						time.Sleep(at - time.Since(start))
						room.events <- join
					}
				}()
				for {
					synctest.Wait()
					if len(room.recorded()) > 0 {
						break
					}
					time.Sleep(time.Millisecond)
				}
				if got := time.Since(start); got < tt.want || got > tt.want+2*time.Millisecond {
					t.Errorf("line sent after %v, want %v", got, tt.want)
				}
				pw.Close()
				if err := <-done; err != nil {
					t.Errorf("RunLines = %v", err)
				}
			})
		})
	}
}

// TestLinesAloneNotice checks that the echo of our own message is followed
// by a notice when no other live member is in the room, and only then.
func TestLinesAloneNotice(t *testing.T) {
	self := node.Member{PeerID: "12D3KooWSelf", Nick: "alice", Self: true}
	bob := node.Member{PeerID: "12D3KooWBob", Nick: "bob"}
	lost := node.Member{PeerID: "12D3KooWDave", Nick: "dave", Lost: true}
	echo := node.Event{Type: node.EventMessage, Time: t0, ID: "m1", PeerID: self.PeerID, Nick: "alice", Text: "hi", Sent: t0, Self: true}
	tests := []struct {
		name      string
		members   []node.Member
		ev        node.Event
		wantPlain string // line after the event; "* next" = no notice
		wantJSON  string
	}{
		{"alone", []node.Member{self}, echo,
			"* nobody else is here yet — this message reached no one",
			`{"type":"notice","time":"2025-03-01T14:03:07.123Z","text":"nobody else is here yet — this message reached no one"}`},
		{"alone action", []node.Member{self}, func() node.Event { e := echo; e.Action = true; return e }(),
			"* nobody else is here yet — this message reached no one",
			`{"type":"notice","time":"2025-03-01T14:03:07.123Z","text":"nobody else is here yet — this message reached no one"}`},
		{"only lost members", []node.Member{self, lost}, echo,
			"* everyone else here was lost — this message may have reached no one",
			`{"type":"notice","time":"2025-03-01T14:03:07.123Z","text":"everyone else here was lost — this message may have reached no one"}`},
		{"someone here", []node.Member{self, bob, lost}, echo, "* next",
			`{"type":"notice","time":"2025-03-01T14:03:07.123Z","text":"next"}`},
		{"someone else's message", []node.Member{self}, msgFrom(bob), "* next",
			`{"type":"notice","time":"2025-03-01T14:03:07.123Z","text":"next"}`},
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
				room.events <- node.Event{Type: node.EventNotice, Time: t0, Text: "next"}
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
func msgFrom(m node.Member) node.Event {
	return node.Event{Type: node.EventMessage, Time: t0, ID: "m9", PeerID: m.PeerID, Nick: m.Nick, Text: "yo", Sent: t0}
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

func (e *echoRoom) Send(text string) error {
	if err := e.fakeRoom.Send(text); err != nil {
		return err
	}
	e.sent++
	if e.delay >= 0 {
		d := time.Duration(e.sent) * e.delay
		e.wg.Go(func() {
			time.Sleep(d)
			e.events <- node.Event{Type: node.EventMessage, Time: t0, ID: "m-" + text, PeerID: "12D3KooWSelf", Nick: "alice", Text: text, Sent: t0, Self: true}
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
			[]string{"[14:03] <alice> one", "* nobody else is here yet — this message reached no one",
				"[14:03] <alice> two", "* nobody else is here yet — this message reached no one"}, 100 * time.Millisecond},
		{":end", "one\n:end\n", 50 * time.Millisecond,
			[]string{"[14:03] <alice> one", "* nobody else is here yet — this message reached no one"}, 50 * time.Millisecond},
		{"echo never comes", "one\n", -1, nil, 2 * time.Second},
		{"nothing sent", "/who\n", 50 * time.Millisecond, []string{"* 1 in lobby: alice (you)"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				room := &echoRoom{fakeRoom: newFakeRoom("private"), delay: tt.delay}
				room.members = []node.Member{{PeerID: "12D3KooWSelf", Nick: "alice", Self: true}}
				out := &lineSink{t: t, lines: make(chan string, 100)}
				start := time.Now()
				if err := runLines(context.Background(), room, strings.NewReader(tt.input), out, Plain, times); err != nil {
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
			if err := r.wait(); (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, node.ErrClosed)) {
				t.Errorf("RunLines = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestLinesWriteError(t *testing.T) {
	room := newFakeRoom("private")
	out := &lineSink{t: t, lines: make(chan string, 10), fail: errors.New("broken pipe")}
	err := RunLines(context.Background(), room, strings.NewReader(""), out, JSON)
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
			go func() { done <- runLines(ctx, room, pr, out, Plain, noSettle) }()
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
	ev := node.Event{Type: node.EventMessage, Time: t0, ID: "12D3KooWBob/42", PeerID: "12D3KooWBob", Nick: "bob",
		Text: "a typical chat line of some sixty characters, more or less ok", Sent: t0}
	for _, mode := range []struct {
		name string
		mode LineMode
	}{{"JSON", JSON}, {"Plain", Plain}} {
		b.Run(mode.name, func(b *testing.B) {
			w := &lineWriter{out: io.Discard, mode: mode.mode}
			b.ReportAllocs()
			for b.Loop() {
				if err := w.event(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
