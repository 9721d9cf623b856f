package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"lanchat/node/chat"
)

// The fakes' SendDM: recorded like the other calls, echoed (delivered) on
// the host's events as the node does, unless dmErr refuses it.

// dmErr, when set, is returned by the fakes' SendDM.
var dmErr error

func (h *fakeHost) SendDM(ctx context.Context, peerID, text string) error {
	if err := h.record("dm "+peerID+" "+text, dmErr); err != nil {
		return err
	}
	h.events <- chat.Event{Kind: chat.KindDM, Time: t0, ID: "dm-" + text, Text: text, Self: true, To: peerID, Status: chat.StatusDelivered}
	return nil
}

func (h *screenHost) SendDM(ctx context.Context, peerID, text string) error {
	if err := h.call(nil, "/msg "+peerID+" ", text); err != nil {
		return err
	}
	h.events <- chat.Event{Kind: chat.KindDM, Time: h.now(), ID: "dm-" + text, Text: text, Self: true, To: peerID, Status: chat.StatusDelivered}
	return nil
}

// peerSession is a session in lobby and dev with alice (us), two bobs
// whose nicks look alike, carol, and dave (lost) in dev only.
func peerSession(t *testing.T) *session {
	t.Helper()
	h := newScreenHost("private")
	lobby, dev := h.room("lobby"), h.room("dev")
	self := chat.Member{PeerID: idAlice, Nick: "alice", Self: true}
	lobby.setMembers(self, chat.Member{PeerID: idBob, Nick: "bob"}, chat.Member{PeerID: idAlice2, Nick: "Bob"},
		chat.Member{PeerID: idCarol, Nick: "carol"})
	dev.setMembers(self, chat.Member{PeerID: idCarol, Nick: "carol"}, chat.Member{PeerID: idDave, Nick: "dave", Lost: true})
	return newSession(h, []Room{lobby, dev})
}

func TestResolvePeer(t *testing.T) {
	const unknownID = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
	s := peerSession(t)
	s.dm.nicks = map[string]string{idYuki: "ゆき"}
	tests := []struct {
		name, wantID, wantLabel string
		wantErr                 error
	}{
		{name: "carol", wantID: idCarol, wantLabel: "carol"},
		{name: "  @carol ", wantID: idCarol, wantLabel: "carol"},
		{name: "CAROL", wantID: idCarol, wantLabel: "carol"},
		{name: "c\u0430rol", wantID: idCarol, wantLabel: "carol"}, // a Cyrillic а
		{name: "dave", wantID: idDave, wantLabel: "dave"},         // lost: a message waits for him
		{name: "bob#b0b5", wantID: idBob, wantLabel: "bob#b0b5"},
		{name: "Bob#3f2a", wantID: idAlice2, wantLabel: "Bob#3f2a"},
		{name: idBob, wantID: idBob, wantLabel: "bob#b0b5"},
		{name: "ゆき", wantID: idYuki, wantLabel: "ゆき"}, // known from a direct message only
		{name: unknownID, wantID: unknownID, wantLabel: "…kSCVe2Xo"},
		{name: "bob", wantErr: errAmbiguousPeer},
		{name: "bob#0000", wantErr: errNoPeer},
		{name: "nobody", wantErr: errNoPeer},
		{name: "", wantErr: errNoPeer},
		{name: "alice", wantErr: errSelfPeer},
		{name: idAlice, wantErr: errSelfPeer},
		{name: "12D3KooWnot-a-peer-id", wantErr: errNoPeer},
	}
	for _, tt := range tests {
		id, label, err := s.resolvePeer(tt.name)
		if !errors.Is(err, tt.wantErr) || id != tt.wantID || label != tt.wantLabel {
			t.Errorf("resolvePeer(%q) = %q, %q, %v; want %q, %q, %v", tt.name, id, label, err, tt.wantID, tt.wantLabel, tt.wantErr)
		}
	}
	_, _, err := s.resolvePeer("bob")
	if want := "2 peers are called bob: Bob#3f2a, bob#b0b5 — say which one (e.g. Bob#3f2a)"; err == nil || err.Error() != want {
		t.Errorf("resolvePeer(bob) = %v, want %q", err, want)
	}
	if _, _, err := s.resolvePeer("nobody"); err == nil || err.Error() != "nobody called nobody is here" {
		t.Errorf("resolvePeer(nobody) = %v", err)
	}
	if _, _, err := s.resolvePeer("n\x1b[2Jobody"); err == nil || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("resolvePeer with an escape = %q: not sanitised", err)
	}
}

// TestLinesMsg runs /msg in the JSON line mode: it reaches the host as
// one SendDM to the peer named, its echo is printed; an unknown or
// ambiguous name is an error line and nothing is sent.
func TestLinesMsg(t *testing.T) {
	room := newFakeRoom("private")
	room.setMembers(chat.Member{PeerID: "12D3KooWSelf", Nick: "alice", Self: true},
		chat.Member{PeerID: idBob, Nick: "bob"}, chat.Member{PeerID: idAlice2, Nick: "bob"}, chat.Member{PeerID: idCarol, Nick: "carol"})
	r := startLines(t, room, JSON)
	r.next() // ready
	r.write("/msg carol lunch?\n/msg nobody hi\n/msg bob hi\n/msg carol\n/msg bob#b0b5 only you\n/query carol\nin the conversation\n/me waves\n/part\nback in lobby\n")
	want := []string{
		`{"type":"dm","time":"2025-03-01T14:03:07.123Z","id":"dm-lunch?","self":true,"to":"` + idCarol + `","to_nick":"","text":"lunch?","status":"delivered"}`,
		`"type":"error"` + `|nobody called nobody is here, nothing was sent`,
		`"type":"error"` + `|2 peers are called bob: bob#3f2a, bob#b0b5 — say which one (e.g. bob#3f2a), nothing was sent`,
		`"type":"error"` + `|usage: /msg NICK TEXT, e.g. /msg bob lunch?`,
		`"text":"only you"`,
		`"type":"notice"` + `|conversation with carol: what you type here goes to carol alone, as a direct message; /part closes it`,
		`"text":"in the conversation"`,
		`"type":"error"` + `|/me is for rooms; in a conversation, just type`,
	}
	for _, w := range want {
		got := r.next()
		for _, part := range strings.Split(w, "|") {
			if !strings.Contains(got, part) {
				t.Errorf("line %s\nwant it to contain %s", got, part)
			}
		}
	}
	r.in.Close()
	if err := r.wait(); err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{"dm " + idCarol + " lunch?", "dm " + idBob + " only you", "dm " + idCarol + " in the conversation", "send back in lobby"}
	if got := room.recorded(); !slices.Equal(got, wantCalls) {
		t.Errorf("calls %q,\nwant %q", got, wantCalls)
	}
}

// TestDMLines checks the JSON objects and plain lines of the direct
// message events, as the README documents them.
func TestDMLines(t *testing.T) {
	in := chat.Event{Kind: chat.KindDM, Time: t0, ID: idBob + "/00ff", PeerID: idBob, Nick: "bob", Text: "hi <b>\x1b[2J", Sent: t0.Add(-time.Second)}
	out := chat.Event{Kind: chat.KindDM, Time: t0, ID: idAlice + "/0a0b", PeerID: idAlice, Nick: "alice", Text: "hello", Self: true, To: idBob, ToNick: "bob", Status: chat.StatusQueued}
	status := chat.Event{Kind: chat.KindDMStatus, Time: t0, ID: idAlice + "/0a0b", To: idBob, ToNick: "bob", Status: chat.StatusDelivered, Self: true}
	for _, tt := range []struct {
		ev          chat.Event
		json, plain string
	}{
		{in, `{"type":"dm","time":"2025-03-01T14:03:07.123Z","id":"` + idBob + `/00ff","peer_id":"` + idBob + `","nick":"bob","text":"hi <b>\u001b[2J","sent":"2025-03-01T14:03:06.123Z","self":false}`,
			"[14:03] *bob* hi <b>"},
		{out, `{"type":"dm","time":"2025-03-01T14:03:07.123Z","id":"` + idAlice + `/0a0b","self":true,"to":"` + idBob + `","to_nick":"bob","text":"hello","status":"queued"}`,
			"[14:03] -> *bob* hello (queued: delivered when bob is back)"},
		{status, `{"type":"dm_status","time":"2025-03-01T14:03:07.123Z","id":"` + idAlice + `/0a0b","to":"` + idBob + `","status":"delivered"}`,
			"* your direct message to bob was delivered"},
	} {
		for _, mode := range []LineMode{JSON, Plain} {
			var b bytes.Buffer
			w := newLineWriter(&b, mode)
			if err := w.dmEvent(tt.ev, "bob"); err != nil {
				t.Fatal(err)
			}
			want := tt.plain
			if mode == JSON {
				want = tt.json
			}
			if got := strings.TrimSuffix(b.String(), "\n"); got != want {
				t.Errorf("%v line of %v:\n got %s\nwant %s", mode, tt.ev.Kind, got, want)
			}
		}
	}
}

// TestLinesDMLabels: in plain mode a peer whose nick looks like another
// member's is shown with its peer-ID suffix, so a look-alike cannot pass
// for bob in a direct message either.
func TestLinesDMLabels(t *testing.T) {
	room := newFakeRoom("private")
	room.setMembers(chat.Member{PeerID: "12D3KooWSelf", Nick: "alice", Self: true},
		chat.Member{PeerID: idBob, Nick: "bob"}, chat.Member{PeerID: idAlice2, Nick: "b\u043eb"})
	r := startLines(t, room, Plain)
	r.next() // ready
	room.host.events <- chat.Event{Kind: chat.KindDM, Time: t0, ID: "x", PeerID: idAlice2, Nick: "b\u043eb", Text: "send me the key"}
	if got, want := r.next(), "[14:03] *b\u043eb#3f2a* send me the key"; got != want {
		t.Errorf("plain DM from a look-alike = %q, want %q", got, want)
	}
	room.host.events <- chat.Event{Kind: chat.KindDM, Time: t0, ID: "y", PeerID: idCarol, Nick: "carol", Text: "hi"}
	if got, want := r.next(), "[14:03] *carol* hi"; got != want {
		t.Errorf("plain DM from a peer in no room = %q, want %q", got, want)
	}
	room.host.events <- chat.Event{Kind: chat.KindDM, Time: t0, ID: "z", PeerID: idDave, Nick: "Alice", Text: "it is me"}
	if got, want := r.next(), "[14:03] *Alice#d4e7* it is me"; got != want {
		t.Errorf("plain DM from a peer called like us = %q, want %q", got, want)
	}
}

// TestScreenQuery: /query opens a conversation tab whose lines go as
// direct messages; a peer that writes first gets a tab too, unread and
// marked like a mention, with the bell; /part closes a conversation.
func TestScreenQuery(t *testing.T) {
	sr := newScreenRoom("private")
	sr.setMembers(chat.Member{PeerID: idAlice, Nick: "alice", Self: true}, chat.Member{PeerID: idBob, Nick: "bob"},
		chat.Member{PeerID: idCarol, Nick: "carol"})
	ts := newTestScreenWith(t, screenConfig{bell: true}, sr, 100, 20)
	// /msg from a room: its echo shows there, and opens no tab.
	ts.enter("/msg carol hi from the lobby")
	drainHost(ts)
	if scr := ts.screen(); !strings.Contains(scr, "-> *carol* hi from the lobby") || len(ts.m.sess.rooms) != 1 {
		t.Errorf("after /msg carol in lobby (%d tabs):\n%s", len(ts.m.sess.rooms), scr)
	}
	ts.enter("/query bob")
	if cur := ts.m.sess.cur; cur == nil || cur.peer != idBob {
		t.Fatalf("after /query bob the current tab is %+v, want the conversation with bob", cur)
	}
	ts.enter("are you there?")
	drainHost(ts)
	if got := sr.calls(); !slices.Equal(got, []string{"/msg " + idCarol + " hi from the lobby", "/msg " + idBob + " are you there?"}) {
		t.Errorf("calls %q, want one direct message to bob", got)
	}
	scr := ts.screen()
	for _, want := range []string{" 1 #lobby ", "[2 @bob]", "Conversation with bob", "-> *bob* are you there?"} {
		if !strings.Contains(scr, want) {
			t.Errorf("screen lacks %q:\n%s", want, scr)
		}
	}

	// carol writes: a tab of her own, not current, unread like a mention.
	cmd := ts.update(hostEventsMsg{events: []chat.Event{{Kind: chat.KindDM, Time: testStart, ID: "c1", PeerID: idCarol, Nick: "carol", Text: "psst"}}})
	if rawOutput(cmd) != "\a" {
		t.Error("a direct message did not ring the bell")
	}
	rv := ts.m.sess.conversation(idCarol)
	if rv == nil || rv == ts.m.sess.cur || rv.unread != 1 || rv.mentions != 1 {
		t.Fatalf("carol's conversation = %+v, want a tab, not current, 1 unread mention", rv)
	}
	if scr := ts.screen(); !strings.Contains(scr, "@carol •1@") || !strings.Contains(ts.m.windowTitle(), "(1)") {
		t.Errorf("the bar or the title does not show carol's message as a mention:\n%s\ntitle %q", scr, ts.m.windowTitle())
	}
	ts.key("alt+3")
	if scr := ts.screen(); !strings.Contains(scr, "*carol* psst") {
		t.Errorf("carol's tab does not show her message:\n%s", scr)
	}
	if rv.unread != 0 {
		t.Errorf("carol's tab still unread after switching to it")
	}

	// A queued message, then its delivery, in bob's tab.
	ts.key("alt+2")
	ts.update(hostEventsMsg{events: []chat.Event{{Kind: chat.KindDM, Time: testStart, ID: "q1", Self: true, To: idBob, ToNick: "bob", Text: "later then", Status: chat.StatusQueued}}})
	ts.update(hostEventsMsg{events: []chat.Event{{Kind: chat.KindDMStatus, Time: testStart, ID: "q1", To: idBob, ToNick: "bob", Status: chat.StatusDelivered, Self: true}}})
	scr = ts.screen()
	for _, want := range []string{"later then (queued: delivered when bob is back)", "-- delivered to bob: “later then”"} {
		if !strings.Contains(scr, want) {
			t.Errorf("bob's tab lacks %q:\n%s", want, scr)
		}
	}

	ts.enter("/part")
	ts.drain()
	if ts.m.sess.conversation(idBob) != nil {
		t.Error("/part did not close the conversation with bob")
	}
	if scr := ts.screen(); !strings.Contains(scr, "You closed the conversation with bob.") || strings.Contains(scr, "@bob") {
		t.Errorf("after /part:\n%s", scr)
	}
}

// drainHost delivers the events the fake host has queued.
func drainHost(ts *testScreen) {
	ts.t.Helper()
	h := ts.room.host
	for {
		select {
		case e := <-h.events:
			ts.update(hostEventsMsg{events: []chat.Event{e}})
		default:
			return
		}
	}
}

// TestReadmeDMJSON checks the README's direct message example (its
// second ```json block) against the JSON line writer, byte for byte.
func TestReadmeDMJSON(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(readme), "```json\n")
	_, rest, _ = strings.Cut(rest, "```json\n")
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README has no second ```json block")
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		var v struct {
			Type, Time, ID, Nick, Text, Sent, To, Status string
			PeerID                                       string `json:"peer_id"`
			ToNick                                       string `json:"to_nick"`
			Self                                         bool
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("README line %s: %v", line, err)
		}
		parse := func(s string) time.Time {
			tm, _ := time.Parse(time.RFC3339, s)
			return tm
		}
		ev := chat.Event{Time: parse(v.Time), ID: v.ID, PeerID: v.PeerID, Nick: v.Nick, Text: v.Text, Sent: parse(v.Sent),
			Self: v.Self, To: v.To, ToNick: v.ToNick, Status: v.Status}
		switch v.Type {
		case "dm":
			ev.Kind = chat.KindDM
			seen[map[bool]string{true: "echo " + v.Status, false: "dm"}[v.Self]] = true
		case "dm_status":
			ev.Kind = chat.KindDMStatus
			seen["dm_status"] = true
		case "error":
			ev.Kind = chat.KindError
		default:
			t.Errorf("README line %s: type %q in the direct message example", line, v.Type)
		}
		var b bytes.Buffer
		if err := newLineWriter(&b, JSON).roomEvent(nil, ev, false); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(b.String(), "\n"); got != line {
			t.Errorf("README:\n%s\nthe code writes:\n%s", line, got)
		}
	}
	for _, k := range []string{"dm", "echo delivered", "echo queued", "dm_status"} {
		if !seen[k] {
			t.Errorf("the README's direct message example has no %s line", k)
		}
	}
}

// TestDMLabelCannotEndTheFrame: "*", which frames the peer of a direct
// message line, or a look-alike of it, in a nick cannot end the frame
// early and make the rest of the nick pass for the text of the peer
// named before it: dave called "carol* the key is" is not carol saying
// "the key is* …", in plain lines or on the screen.
func TestDMLabelCannotEndTheFrame(t *testing.T) {
	room := newFakeRoom("private")
	room.setMembers(chat.Member{PeerID: "12D3KooWSelf", Nick: "alice", Self: true},
		chat.Member{PeerID: idCarol, Nick: "carol"})
	r := startLines(t, room, Plain)
	r.next() // ready
	for _, tt := range []struct{ nick, want string }{
		{"carol* the key is", "[14:03] *carol\uFFFD the key is* hunter2"},
		{"carol\u2217 the key is", "[14:03] *carol\uFFFD the key is* hunter2"},
		{"carol\uff0a the key is", "[14:03] *carol\uFFFD the key is* hunter2"},
	} {
		room.host.events <- chat.Event{Kind: chat.KindDM, Time: t0, ID: "x", PeerID: idDave, Nick: tt.nick, Text: "hunter2"}
		if got := r.next(); got != tt.want {
			t.Errorf("plain DM from a peer called %q = %q, want %q", tt.nick, got, tt.want)
		}
	}

	sr := newScreenRoom("private")
	sr.setMembers(chat.Member{PeerID: idAlice, Nick: "alice", Self: true}, chat.Member{PeerID: idCarol, Nick: "carol"})
	ts := newTestScreenWith(t, screenConfig{}, sr, 100, 20)
	ts.update(hostEventsMsg{events: []chat.Event{{Kind: chat.KindDM, Time: testStart, ID: "d1", PeerID: idDave, Nick: "carol* the key is", Text: "hunter2"}}})
	ts.key("alt+2")
	if scr := ts.screen(); strings.Contains(scr, "*carol*") || !strings.Contains(scr, "*carol\uFFFD the key is* hunter2") {
		t.Errorf("dave's tab shows his nick as another frame:\n%s", scr)
	}
}

// TestDMStars derives the characters that look like "*" from the
// confusables data (as chat.Skeleton sees them) and compares them with
// dmStars.
func TestDMStars(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !unicode.IsGraphic(r) {
			continue // not in a nick anyway
		}
		want := strings.ContainsRune(chat.Skeleton(string(r)), '*')
		if got := strings.ContainsRune(dmStars, r); got != want {
			t.Errorf("%U %q: in dmStars = %v, want %v", r, r, got, want)
		}
	}
}

// TestScreenMsgInNoRoom: /msg typed in no room shows its echo there, the
// pane where it was typed.
func TestScreenMsgInNoRoom(t *testing.T) {
	sr := newScreenRoom("private")
	sr.setMembers(chat.Member{PeerID: idAlice, Nick: "alice", Self: true}, chat.Member{PeerID: idCarol, Nick: "carol"})
	ts := newTestScreenWith(t, screenConfig{}, sr, 100, 20)
	ts.enter("/part")
	ts.drain()
	if ts.m.sess.cur != nil {
		t.Fatal("still in a room after /part")
	}
	ts.enter("/msg 12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo hi from nowhere")
	drainHost(ts)
	if scr := ts.screen(); !strings.Contains(scr, "hi from nowhere") {
		t.Errorf("the echo of /msg in no room is not shown:\n%s", scr)
	}
}

// TestScreenDMFromManyPeers: identities cost nothing, so direct messages
// from ever new peers must not open tabs, nor grow what the session
// remembers of peers, without bound: past a limit, the message of a peer
// with no tab shows in the current one.
func TestScreenDMFromManyPeers(t *testing.T) {
	sr := newScreenRoom("private")
	sr.setMembers(chat.Member{PeerID: idAlice, Nick: "alice", Self: true}, chat.Member{PeerID: idCarol, Nick: "carol"})
	ts := newTestScreenWith(t, screenConfig{}, sr, 100, 20)
	const n = maxDMNicks + 100
	start := time.Now()
	for i := range n {
		id := fmt.Sprintf("12D3KooWFlood%039d", i)
		ts.update(hostEventsMsg{events: []chat.Event{{Kind: chat.KindDM, Time: testStart, ID: id + "/1", PeerID: id, Nick: fmt.Sprintf("p%d", i), Text: fmt.Sprintf("hello %d", i)}}})
	}
	t.Logf("%d messages from as many peers in %v", n, time.Since(start))
	if got := len(ts.m.sess.rooms); got > 1+maxPeerConversations {
		t.Errorf("%d tabs, want at most the room and %d conversations", got, maxPeerConversations)
	}
	if got := len(ts.m.sess.dm.nicks); got > maxDMNicks {
		t.Errorf("the session remembers %d peers of direct messages, want at most %d", got, maxDMNicks)
	}
	if scr := ts.screen(); !strings.Contains(scr, fmt.Sprintf("*p%d* hello %d", n-1, n-1)) {
		t.Errorf("the last message, from a peer with no tab, is not in the current one:\n%s", scr)
	}
	// A peer with a tab still gets its messages there.
	first := fmt.Sprintf("12D3KooWFlood%039d", 0)
	ts.update(hostEventsMsg{events: []chat.Event{{Kind: chat.KindDM, Time: testStart, ID: first + "/2", PeerID: first, Nick: "p0", Text: "again"}}})
	if rv := ts.m.sess.conversation(first); rv == nil || rv.unread != 2 {
		t.Errorf("the first peer's conversation = %+v, want its tab with 2 unread", rv)
	}
}

// TestScreenConversationRelabelled: a peer that wrote first under a nick
// nobody known had, its tab named by it alone, gets its suffix when
// another peer called so appears (as labels in rooms do): the bare nick
// does not stay with whoever took it first.
func TestScreenConversationRelabelled(t *testing.T) {
	sr := newScreenRoom("private")
	self := chat.Member{PeerID: idAlice, Nick: "alice", Self: true}
	sr.setMembers(self, chat.Member{PeerID: idCarol, Nick: "carol"})
	ts := newTestScreenWith(t, screenConfig{}, sr, 100, 20)
	ts.update(hostEventsMsg{events: []chat.Event{{Kind: chat.KindDM, Time: testStart, ID: "d1", PeerID: idDave, Nick: "bob", Text: "it is me, bob"}}})
	rv := ts.m.sess.conversation(idDave)
	if rv == nil || rv.title() != "@bob" {
		t.Fatalf("dave's conversation = %+v, want a tab @bob", rv)
	}
	sr.setMembers(self, chat.Member{PeerID: idCarol, Nick: "carol"}, chat.Member{PeerID: idBob, Nick: "bob"})
	ts.events(chat.Event{Kind: chat.KindJoin, Room: "lobby", Time: testStart, PeerID: idBob, Nick: "bob"})
	if got, want := rv.title(), "@bob#d4e7"; got != want {
		t.Errorf("with the real bob in the lobby, dave's tab is %q, want %q", got, want)
	}
	if scr := ts.screen(); !strings.Contains(scr, "@bob#d4e7") {
		t.Errorf("the bar does not show dave's tab with its suffix:\n%s", scr)
	}
}

// TestDMHistoryLines: a direct message stored before this run, which the
// node emits again at start, is a line like a room's history: dated when
// not today, marked history in JSON, and no echo the line modes wait for.
func TestDMHistoryLines(t *testing.T) {
	old := t0.Add(-48 * time.Hour)
	in := chat.Event{Kind: chat.KindDM, Time: old, ID: idBob + "/00ff", PeerID: idBob, Nick: "bob", Text: "from before", Sent: old, History: true}
	out := chat.Event{Kind: chat.KindDM, Time: old, ID: idAlice + "/0a0b", PeerID: idAlice, Nick: "alice", Text: "my answer", Self: true, To: idBob, ToNick: "bob", Status: chat.StatusDelivered, History: true}
	stamp := historyTime(old, t0)
	for _, tt := range []struct {
		ev          chat.Event
		json, plain string
	}{
		{in, `{"type":"dm","time":"2025-02-27T14:03:07.123Z","id":"` + idBob + `/00ff","peer_id":"` + idBob + `","nick":"bob","text":"from before","sent":"2025-02-27T14:03:07.123Z","self":false,"history":true}`,
			"[" + stamp + "] *bob* from before"},
		{out, `{"type":"dm","time":"2025-02-27T14:03:07.123Z","id":"` + idAlice + `/0a0b","self":true,"to":"` + idBob + `","to_nick":"bob","text":"my answer","status":"delivered","history":true}`,
			"[" + stamp + "] -> *bob* my answer"},
	} {
		for _, mode := range []LineMode{JSON, Plain} {
			var b bytes.Buffer
			w := newLineWriter(&b, mode)
			w.now = func() time.Time { return t0 }
			if err := w.dmEvent(tt.ev, "bob"); err != nil {
				t.Fatal(err)
			}
			want := tt.plain
			if mode == JSON {
				want = tt.json
			}
			if got := strings.TrimSuffix(b.String(), "\n"); got != want {
				t.Errorf("%v line of %q:\n got %s\nwant %s", mode, tt.ev.Text, got, want)
			}
		}
	}
	if stamp == "14:03" {
		t.Errorf("a line of two days ago is stamped %q, as if of today", stamp)
	}
}

// TestScreenDMHistory: in the full-screen UI the direct messages from
// before this run open no tab and ring no bell; /query shows them in the
// conversation it opens, above what is said now.
func TestScreenDMHistory(t *testing.T) {
	sr := newScreenRoom("private")
	sr.setMembers(chat.Member{PeerID: idAlice, Nick: "alice", Self: true}, chat.Member{PeerID: idBob, Nick: "bob"})
	ts := newTestScreenWith(t, screenConfig{bell: true}, sr, 100, 20)
	old := testStart.Add(-time.Hour)
	cmd := ts.update(hostEventsMsg{events: []chat.Event{
		{Kind: chat.KindDM, Time: old, ID: idBob + "/01", PeerID: idBob, Nick: "bob", Text: "said yesterday", Sent: old, History: true},
		{Kind: chat.KindDM, Time: old.Add(time.Minute), ID: idAlice + "/02", PeerID: idAlice, Nick: "alice", Text: "and my answer", Sent: old.Add(time.Minute),
			Self: true, To: idBob, ToNick: "bob", Status: chat.StatusDelivered, History: true},
	}})
	if rawOutput(cmd) == "\a" {
		t.Error("history rang the bell")
	}
	if len(ts.m.sess.rooms) != 1 {
		t.Fatalf("history opened a tab: %d tabs", len(ts.m.sess.rooms))
	}
	if scr := ts.screen(); strings.Contains(scr, "said yesterday") {
		t.Errorf("history shows in the lobby:\n%s", scr)
	}
	ts.enter("/query bob")
	ts.update(hostEventsMsg{events: []chat.Event{{Kind: chat.KindDM, Time: testStart, ID: idBob + "/03", PeerID: idBob, Nick: "bob", Text: "said now"}}})
	scr := ts.screen()
	i, j, k := strings.Index(scr, "*bob* said yesterday"), strings.Index(scr, "-> *bob* and my answer"), strings.Index(scr, "*bob* said now")
	if i < 0 || j < i || k < j {
		t.Errorf("bob's conversation lacks the history above the new line:\n%s", scr)
	}
}
