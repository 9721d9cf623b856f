package tui

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"lanchat/node/chat"
)

// TestNoLibp2p checks that package tui sees the chat only through its own
// interfaces and the plain types of node/chat: nothing it imports, directly
// or not, is libp2p.
func TestNoLibp2p(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	cmd := exec.Command(goTool, "list", "-deps", "lanchat/tui")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps lanchat/tui: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "lanchat/node/chat") {
		t.Errorf("go list -deps lanchat/tui lacks lanchat/node/chat:\n%s", out)
	}
	for _, d := range deps {
		if strings.Contains(d, "libp2p") || d == "lanchat/node" {
			t.Errorf("lanchat/tui depends on %s", d)
		}
	}
}

// twoRooms returns the rooms lobby and dev of one host: bob is in both,
// carol only in dev.
func twoRooms() (lobby, dev *fakeRoom) {
	h := newFakeHost("private")
	self := chat.Member{PeerID: "12D3KooWSelf", Nick: "alice", Self: true}
	lobby, dev = h.room("lobby"), h.room("dev")
	lobby.setMembers(self, chat.Member{PeerID: "12D3KooWBob", Nick: "bob"})
	dev.setMembers(self, chat.Member{PeerID: "12D3KooWBob", Nick: "bob"}, chat.Member{PeerID: "12D3KooWCarol", Nick: "carol"})
	return lobby, dev
}

// TestLinesRooms drives a JSON session in two rooms through /join, /say,
// /part and /rooms, and checks the lines and the calls.
func TestLinesRooms(t *testing.T) {
	lobby, dev := twoRooms()
	h := lobby.host
	h.list = []chat.RoomInfo{
		{Name: "", ID: "a1b2c3d4", Members: 2, Private: true},
		{Name: "dev", Members: 3, Joined: true},
		{Name: "lobby", Members: 2, Joined: true},
	}
	r := startLinesIn(t, lobby, JSON, lobby, dev)
	norm := func(l string) string { return jsonTimeRE.ReplaceAllString(l, `"time":"T"`) }
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			if got := norm(r.next()); got != w {
				t.Fatalf("got  %s\nwant %s", got, w)
			}
		}
	}
	expect(`{"type":"ready","time":"T","peer_id":"12D3KooWSelf","nick":"alice","room":"lobby","rooms":["lobby","dev"],"network":"private","fingerprint":"1a2b3c4d","addrs":["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWSelf"]}`)

	dev.events <- chat.Event{Kind: chat.KindMessage, Room: "dev", Time: t0, ID: "m1", PeerID: "12D3KooWCarol", Nick: "carol", Text: "hi alice", Sent: t0}
	expect(`{"type":"message","time":"T","room":"dev","id":"m1","peer_id":"12D3KooWCarol","nick":"carol","text":"hi alice","sent":"2025-03-01T14:03:07.123Z","self":false,"mention":true}`)

	r.write("to the lobby\n/say dev to dev\n/say #nowhere x\n/join ops\n")
	expect(
		`{"type":"error","time":"T","text":"you are not in #nowhere, nothing was sent (join it with /join nowhere)"}`,
		`{"type":"join","time":"T","room":"ops","peer_id":"12D3KooWSelf","nick":"alice","self":true}`,
	)
	r.write("in ops\n/join #dev\nin dev\n/part\n")
	expect(
		`{"type":"notice","time":"T","room":"dev","text":"you are already in #dev"}`,
		`{"type":"leave","time":"T","room":"dev","peer_id":"12D3KooWSelf","nick":"alice","reason":"quit","self":true}`,
	)
	// dev is gone: the room joined last of those left, ops, is current.
	r.write("in ops again\n/part lobby\n/rooms\n/part nowhere\n/join secret pass phrase\n/join #\n")
	expect(
		`{"type":"leave","time":"T","room":"lobby","peer_id":"12D3KooWSelf","nick":"alice","reason":"quit","self":true}`,
		`{"type":"rooms","time":"T","rooms":[{"room":"","id":"a1b2c3d4","members":2,"joined":false,"private":true},{"room":"dev","members":3,"joined":true},{"room":"lobby","members":2,"joined":true}]}`,
		`{"type":"error","time":"T","text":"you are not in #nowhere"}`,
		`{"type":"join","time":"T","room":"secret","peer_id":"12D3KooWSelf","nick":"alice","self":true}`,
		`{"type":"error","time":"T","text":"invalid room name \"#\": use 1 to 64 bytes, no spaces"}`,
	)
	r.write("/part ops\n/part\nnowhere to go\n:end\n")
	expect(
		`{"type":"leave","time":"T","room":"ops","peer_id":"12D3KooWSelf","nick":"alice","reason":"quit","self":true}`,
		`{"type":"leave","time":"T","room":"secret","peer_id":"12D3KooWSelf","nick":"alice","reason":"quit","self":true}`,
		`{"type":"error","time":"T","text":"you are in no room, nothing was sent: join one with /join NAME"}`,
	)
	if err := r.wait(); err != nil {
		t.Fatalf("RunLines = %v", err)
	}
	want := []string{
		"send to the lobby", "#dev send to dev", "join ops", "#ops send in ops", "#dev send in dev", "#dev part",
		"#ops send in ops again", "part", "rooms", "join secret pass phrase", "#ops part", "#secret part",
	}
	if got := h.recorded(); !slices.Equal(got, want) {
		t.Errorf("calls\n %q\nwant\n %q", got, want)
	}
	if s := h.joined("secret"); s == nil || !s.private {
		t.Errorf("/join with a passphrase did not make a private room")
	}
}

// TestLinesRoomsPlain checks the plain lines of several rooms: the first
// room's lines as before, the others' prefixed with "#room ".
func TestLinesRoomsPlain(t *testing.T) {
	lobby, dev := twoRooms()
	r := startLinesIn(t, lobby, Plain, lobby, dev)
	if got, want := r.next(), "* lanchat: joined rooms lobby, dev as alice (private network, key fingerprint 1a2b3c4d)"; got != want {
		t.Fatalf("ready %q, want %q", got, want)
	}
	for _, ev := range []chat.Event{
		{Kind: chat.KindJoin, Room: "dev", PeerID: "12D3KooWSelf", Nick: "alice", Self: true}, // said by ready
		{Kind: chat.KindJoin, Room: "lobby", PeerID: "12D3KooWSelf", Nick: "alice", Self: true},
		{Kind: chat.KindMessage, Room: "dev", Time: t0, PeerID: "12D3KooWCarol", Nick: "carol\x1b[2J", Text: "hi"},
		{Kind: chat.KindMessage, Room: "lobby", Time: t0, PeerID: "12D3KooWBob", Nick: "bob", Text: "yo"},
	} {
		if ev.Room == "dev" {
			dev.events <- ev
		} else {
			lobby.events <- ev
		}
	}
	got := []string{r.next(), r.next()}
	slices.Sort(got) // two channels: no order between them
	if want := []string{"#dev [14:03] <carol> hi", "[14:03] <bob> yo"}; !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	r.write("/join ops\n/rooms\n/part dev\n")
	for _, want := range []string{"#ops * alice joined", "* no rooms seen on the network", "#dev * alice left (quit)"} {
		if got := r.next(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	r.write("/join dev\n")
	if got, want := r.next(), "#dev * alice joined"; got != want {
		t.Errorf("joining again: %q, want %q", got, want)
	}
}

// TestLinesRoomClosed checks that a room's channel closing without our
// /part ends RunLines with chat.ErrClosed, and the host's too.
func TestLinesRoomClosed(t *testing.T) {
	for _, which := range []string{"dev", "host"} {
		t.Run(which, func(t *testing.T) {
			lobby, dev := twoRooms()
			r := startLinesIn(t, lobby, Plain, lobby, dev)
			r.next()
			if which == "dev" {
				close(dev.events)
			} else {
				close(lobby.host.events)
			}
			if err := r.wait(); !errors.Is(err, chat.ErrClosed) {
				t.Errorf("RunLines = %v, want chat.ErrClosed", err)
			}
		})
	}
}

// TestLinesPartAwaited checks that /part right before the end of input
// still prints our own leave, and a join error is an error line that does
// not repeat the passphrase.
func TestLinesPartAwaited(t *testing.T) {
	lobby, dev := twoRooms()
	lobby.host.joinErr = errors.New("derive key for hunter2: boom")
	var out strings.Builder
	err := runLines(context.Background(), lobby.host, []Room{lobby, dev}, strings.NewReader("/join x hunter2\n/part dev\n"), &out, Plain, lineTimes{echo: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"! cannot join #x: derive key for ****: boom", "#dev * alice left (quit)"}
	if !slices.Equal(lines[1:], want) {
		t.Errorf("output %q, want %q after the ready line", lines[1:], want)
	}
}

// TestLinesSettleRooms checks that the input hold looks at every room: a
// member in the second room is enough to wait only for the quiet, and a
// join in it extends the hold.
func TestLinesSettleRooms(t *testing.T) {
	settle := lineTimes{settleMax: 2 * time.Second, settleQuiet: 300 * time.Millisecond}
	self := chat.Member{PeerID: "s", Nick: "alice", Self: true}
	for _, tt := range []struct {
		name   string
		joinAt time.Duration // a join in dev; 0: none
		want   time.Duration
	}{
		{"members elsewhere: quiet only", 0, 300 * time.Millisecond},
		{"a join elsewhere extends the quiet", 200 * time.Millisecond, 500 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lobby, dev := twoRooms()
				lobby.setMembers(self)
				start := time.Now()
				r := startSettle(t, lobby.host, []Room{lobby, dev}, settle, "hi\n")
				if tt.joinAt > 0 {
					go func() {
						time.Sleep(tt.joinAt)
						dev.events <- chat.Event{Kind: chat.KindJoin, Room: "dev", PeerID: "d", Nick: "dave"}
					}()
				}
				r.waitCall("send hi")
				if got := time.Since(start); got < tt.want || got > tt.want+2*time.Millisecond {
					t.Errorf("line sent after %v, want %v", got, tt.want)
				}
				r.stop()
			})
		})
	}
}

// TestLinesRoomTextSanitized checks that in plain mode room names (of the
// rooms joined, in the ready line and the "#room " prefixes, and of /rooms)
// and error texts from the host never reach the output raw.
func TestLinesRoomTextSanitized(t *testing.T) {
	h := newFakeHost("private")
	lobby, evil := h.room("lobby"), h.room("dev"+evilText)
	evil.members = []chat.Member{{PeerID: "12D3KooWSelf", Nick: "alice", Self: true}}
	h.list = []chat.RoomInfo{{Name: "dev" + evilText, Members: 2, Joined: true}, {ID: evilText, Members: 1, Private: true}}
	h.nickErr = errors.New("refused by" + evilText)
	h.joinErr = errors.New("refused by" + evilText)
	lobby.sendErr = errors.New("refused by" + evilText)
	evil.events <- chat.Event{Kind: chat.KindMessage, Room: evil.name, Time: t0, PeerID: "p" + evilText, Nick: "bob" + evilText, Text: "hi" + evilText}
	evil.events <- chat.Event{Kind: chat.KindNotice, Room: evil.name, Time: t0, Text: evilText}
	h.events <- chat.Event{Kind: chat.KindError, Time: t0, Text: evilText}
	var out strings.Builder
	input := "/rooms\n/who\n/nick x\n/join x secret\n/me fails\n/part\n"
	if err := runLines(context.Background(), h, []Room{lobby, evil}, strings.NewReader(input), &out, Plain, noSettle); err != nil {
		t.Fatal(err)
	}
	checkOnlySGR(t, out.String())
	if strings.ContainsAny(out.String(), "\x1b\x07\u202e\u009b") || strings.Count(out.String(), "#dev") < 3 ||
		!strings.Contains(out.String(), "message not sent: refused by") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestLinesSettleAfterJoin checks the input hold after a /join: started in
// no room, nothing holds the /join; the line after it waits until another
// member joined the new room and the joins went quiet, or at most
// settleMax. A join in another room does not count.
func TestLinesSettleAfterJoin(t *testing.T) {
	settle := lineTimes{settleMax: 2 * time.Second, settleQuiet: 300 * time.Millisecond}
	for _, tt := range []struct {
		name   string
		joinIn string        // where another member joins 100 ms after our /join: "dev", "lobby" or none
		want   time.Duration // when "hi" is sent
	}{
		{"nobody joins: the whole hold", "", 2 * time.Second},
		{"a join in the new room", "dev", 400 * time.Millisecond},
		{"a join elsewhere does not count", "lobby", 2 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newFakeHost("private")
				lobby := h.room("lobby")
				lobby.setMembers(chat.Member{PeerID: "12D3KooWSelf", Nick: "alice", Self: true}, chat.Member{PeerID: "b", Nick: "bob"})
				r := startSettle(t, h, []Room{lobby}, settle, "/join dev\nhi\n")
				// The lobby has bob: the start hold is the quiet only.
				r.waitCall("join dev")
				joined := time.Now()
				if tt.joinIn != "" {
					go func() {
						time.Sleep(100 * time.Millisecond)
						h.joined(tt.joinIn).events <- chat.Event{Kind: chat.KindJoin, Room: tt.joinIn, PeerID: "c", Nick: "carol"}
					}()
				}
				r.waitCall("#dev send hi")
				if got := time.Since(joined); got < tt.want || got > tt.want+2*time.Millisecond {
					t.Errorf("line sent %v after the join, want %v", got, tt.want)
				}
				r.stop()
			})
		})
	}
}

// TestLinesSettleNoRoom checks that started in no room, input is not held:
// there are no members to wait for.
func TestLinesSettleNoRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newFakeHost("private")
		start := time.Now()
		var out strings.Builder
		settle := lineTimes{settleMax: 2 * time.Second, settleQuiet: 300 * time.Millisecond}
		if err := runLines(context.Background(), h, nil, strings.NewReader("/rooms\n"), &out, Plain, settle); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 0 {
			t.Errorf("RunLines took %v, want no hold", got)
		}
		if !slices.Equal(h.recorded(), []string{"rooms"}) {
			t.Errorf("calls %q", h.recorded())
		}
	})
}
