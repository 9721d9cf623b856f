package tui

import (
	"strings"
	"testing"

	"lanchat/node/chat"
)

// Look-alike nicks: "bob" and "bоb" (a Cyrillic о) have one skeleton.
var (
	lookSelf  = chat.Member{PeerID: "12D3KooWSelf", Nick: "alice", Self: true}
	lookBob   = chat.Member{PeerID: "12D3KooWBobA", Nick: "bob"}
	lookBob2  = chat.Member{PeerID: "12D3KooWBobB", Nick: "bоb"}
	lookCarol = chat.Member{PeerID: "12D3KooWCarl", Nick: "carol"}
)

func TestSessionLabelsBySkeleton(t *testing.T) {
	for _, tt := range []struct {
		name    string
		members []chat.Member
		want    map[string]string // peer ID -> label
	}{
		{"unique", []chat.Member{lookSelf, lookBob, lookCarol},
			map[string]string{lookSelf.PeerID: "alice", lookBob.PeerID: "bob", lookCarol.PeerID: "carol"}},
		{"cyrillic о", []chat.Member{lookSelf, lookBob, lookBob2, lookCarol},
			map[string]string{lookSelf.PeerID: "alice", lookBob.PeerID: "bob#BobA", lookBob2.PeerID: "bоb#BobB", lookCarol.PeerID: "carol"}},
		{"case", []chat.Member{lookBob, {PeerID: "12D3KooWBobC", Nick: "Bob"}},
			map[string]string{lookBob.PeerID: "bob#BobA", "12D3KooWBobC": "Bob#BobC"}},
		{"the same nick", []chat.Member{lookBob, {PeerID: "12D3KooWBobD", Nick: "bob"}},
			map[string]string{lookBob.PeerID: "bob#BobA", "12D3KooWBobD": "bob#BobD"}},
		// An older peer's nick with a joiner between letters is shown
		// without it, and is a look-alike like any other.
		{"joiner", []chat.Member{lookBob, {PeerID: "12D3KooWBobE", Nick: "b\u200dob"}},
			map[string]string{lookBob.PeerID: "bob#BobA", "12D3KooWBobE": "bob#BobE"}},
		// A peer ID ground to end like bob's: the labels still differ.
		{"same last 4 of the peer ID", []chat.Member{lookBob, {PeerID: "12D3KooWxBobA", Nick: "bob"}, {PeerID: "12D3KooWyxBobA", Nick: "bob"}},
			map[string]string{lookBob.PeerID: "bob#WBobA", "12D3KooWxBobA": "bob#WxBobA", "12D3KooWyxBobA": "bob#yxBobA"}},
		{"layout characters", []chat.Member{{PeerID: "12D3KooWEvil", Nick: "bob> hi <carol"}},
			map[string]string{"12D3KooWEvil": "bob\ufffd hi \ufffdcarol"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			room := newFakeRoom("private")
			room.members = tt.members
			rv := &roomView{room: room}
			rv.refresh()
			for id, want := range tt.want {
				if got := rv.labels[id]; got != want {
					t.Errorf("labels[%s] = %q, want %q", id, got, want)
				}
			}
			for _, mb := range tt.members {
				if got, want := rv.label(mb.PeerID, mb.Nick), tt.want[mb.PeerID]; got != want {
					t.Errorf("label(%s, %q) = %q, want %q", mb.PeerID, mb.Nick, got, want)
				}
			}
		})
	}

	// Someone not in the roster (a line from the log) whose nick looks
	// like a member's is told apart too; a member's own old nick is not.
	room := newFakeRoom("private")
	room.members = []chat.Member{lookSelf, lookBob}
	rv := &roomView{room: room}
	rv.refresh()
	if got, want := rv.label("12D3KooWGone", "BOB"), "BOB#Gone"; got != want {
		t.Errorf("label of a departed BOB = %q, want %q", got, want)
	}
	if got, want := rv.label(lookBob.PeerID, "Bob"), "Bob"; got != want {
		t.Errorf("label of bob's own old nick = %q, want %q", got, want)
	}
}

// TestLinesLookalikePlain: plain lines label look-alike nicks by the
// roster, kept up to date by the roster events; JSON keeps them as is.
func TestLinesLookalikePlain(t *testing.T) {
	bobHi := chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m1", PeerID: lookBob.PeerID, Nick: "bob", Text: "hi", Sent: t0}
	for _, mode := range []LineMode{Plain, JSON} {
		name := map[LineMode]string{Plain: "plain", JSON: "json"}[mode]
		t.Run(name, func(t *testing.T) {
			room := newFakeRoom("private")
			room.members = []chat.Member{lookSelf, lookBob}
			r := startLines(t, room, mode)
			r.next() // ready

			expect := func(plain, jsonPart string) {
				t.Helper()
				got := r.next()
				if mode == Plain && got != plain {
					t.Errorf("got  %s\nwant %s", got, plain)
				}
				if mode == JSON && !strings.Contains(got, jsonPart) {
					t.Errorf("got  %s\nwant it to hold %s", got, jsonPart)
				}
			}
			room.events <- bobHi
			expect("[14:03] <bob> hi", `"nick":"bob"`)

			room.setMembers(lookSelf, lookBob, lookBob2)
			room.events <- chat.Event{Kind: chat.KindJoin, Time: t0, PeerID: lookBob2.PeerID, Nick: lookBob2.Nick}
			expect("* bоb#BobB joined", `"nick":"bоb"`)
			room.events <- bobHi
			expect("[14:03] <bob#BobA> hi", `"nick":"bob","text":"hi"`)
			room.events <- chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m2", PeerID: lookBob2.PeerID, Nick: lookBob2.Nick, Text: "waves", Sent: t0, Action: true}
			expect("[14:03] * bоb#BobB waves", `"nick":"bоb"`)

			room.setMembers(lookSelf, lookBob2, chat.Member{PeerID: lookBob.PeerID, Nick: "robert"})
			room.events <- chat.Event{Kind: chat.KindNick, Time: t0, PeerID: lookBob.PeerID, OldNick: "bob", Nick: "robert"}
			expect("* bob#BobA is now known as robert", `"old":"bob","new":"robert"`)
			room.events <- chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m3", PeerID: lookBob2.PeerID, Nick: lookBob2.Nick, Text: "alone now", Sent: t0}
			expect("[14:03] <bоb> alone now", `"nick":"bоb"`)

			r.write("/who\n")
			expect("* 3 in lobby: alice (you), bоb, robert", `"text":"3 in lobby: alice (you), bоb, robert"`)
		})
	}
}

// TestLinesMentionJSON: "mention":true on someone else's live line that
// names our nick, and on no other.
func TestLinesMentionJSON(t *testing.T) {
	msg := func(id, text string) chat.Event {
		return chat.Event{Kind: chat.KindMessage, Time: t0, ID: id, PeerID: lookBob.PeerID, Nick: "bob", Text: text, Sent: t0}
	}
	for _, tt := range []struct {
		name string
		ev   chat.Event
		want bool
	}{
		{"names us", msg("m1", "hi alice"), true},
		{"any case", msg("m2", "ALICE: ping"), true},
		{"action", func() chat.Event { e := msg("m3", "pokes alice"); e.Action = true; return e }(), true},
		{"another word", msg("m4", "malice"), false},
		{"not us", msg("m5", "hi carol"), false},
		{"from the log", func() chat.Event { e := msg("m6", "hi alice"); e.History = true; return e }(), false},
		{"our own", chat.Event{Kind: chat.KindMessage, Time: t0, ID: "m7", PeerID: lookSelf.PeerID, Nick: "alice", Text: "alice here", Sent: t0, Self: true}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			room := newFakeRoom("private")
			room.members = []chat.Member{lookSelf, lookBob}
			r := startLines(t, room, JSON)
			r.next() // ready
			room.events <- tt.ev
			got := r.next()
			if has := strings.Contains(got, `"mention":true`); has != tt.want {
				t.Errorf("%s: mention %v, want %v", got, has, tt.want)
			}
			if strings.Contains(got, `"mention":false`) {
				t.Errorf("%s: want no \"mention\" field when false", got)
			}
		})
	}
}
