package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"lanchat/node/chat"
)

// TestScreenClearForgetsLost checks that /clear drops the lost members
// from the member list and /who, and that one heard again is listed, and
// shown lost again when it is lost again.
func TestScreenClearForgetsLost(t *testing.T) {
	room := newScreenRoom("private")
	ts := newTestScreen(t, room, 80, 12)
	alice := chat.Member{PeerID: idAlice, Nick: "alice", Self: true}
	bob := chat.Member{PeerID: idBob, Nick: "bob"}
	dave := chat.Member{PeerID: idDave, Nick: "dave", Lost: true}
	room.setMembers(alice, bob, dave)
	ts.events(chat.Event{Kind: chat.KindLeave, PeerID: idDave, Nick: "dave", Reason: chat.ReasonLost, Time: testStart})
	if s := ts.screen(); !strings.Contains(s, "?dave") || !strings.Contains(s, " 2 members") {
		t.Fatalf("dave lost:\n%s", s)
	}
	ts.enter("/clear")
	ts.enter("/who")
	s := ts.screen()
	if strings.Contains(s, "dave") || strings.Contains(s, "lost") || !strings.Contains(s, "2 in #lobby:") || !strings.Contains(s, " 2 members") {
		t.Errorf("after /clear and /who, dave is still listed or the count is wrong:\n%s", s)
	}
	// Heard again: listed; lost again: shown lost again.
	dave.Lost = false
	room.setMembers(alice, bob, dave)
	ts.events(chat.Event{Kind: chat.KindJoin, PeerID: idDave, Nick: "dave", Time: testStart})
	if s := ts.screen(); !strings.Contains(s, " dave ") || !strings.Contains(s, " 3 members") {
		t.Errorf("dave back:\n%s", s)
	}
	dave.Lost = true
	room.setMembers(alice, bob, dave)
	ts.events(chat.Event{Kind: chat.KindLeave, PeerID: idDave, Nick: "dave", Reason: chat.ReasonLost, Time: testStart})
	if s := ts.screen(); !strings.Contains(s, "?dave") || !strings.Contains(s, " 1 lost") {
		t.Errorf("dave lost again:\n%s", s)
	}
}

// TestSidebarLost checks the member list's lost section: present members
// first and counted, then a "N lost" line and the lost ones; cut short,
// "+N more" counts the members left out, not the line.
func TestSidebarLost(t *testing.T) {
	room := newScreenRoom("private")
	room.setMembers(
		chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
		chat.Member{PeerID: "p-carol", Nick: "carol", Lost: true},
		chat.Member{PeerID: idBob, Nick: "bob"},
		chat.Member{PeerID: idDave, Nick: "dave", Lost: true},
	)
	rv := &roomView{room: room, name: "lobby"}
	rv.refresh()
	tests := []struct {
		height int
		want   []string
	}{
		{8, []string{" 2 members", "*alice", " bob", " 2 lost", "?carol", "?dave", "", ""}},
		{6, []string{" 2 members", "*alice", " bob", " 2 lost", "?carol", "?dave"}},
		{5, []string{" 2 members", "*alice", " bob", " 2 lost", " +2 more"}},
		{4, []string{" 2 members", "*alice", " bob", " +2 more"}},
		{3, []string{" 2 members", "*alice", " +3 more"}},
	}
	for _, tt := range tests {
		rows := renderSidebar(newScreenStyles(), sidebarProps{width: 12, height: tt.height, method: ansi.WcWidth, rv: rv})
		var got []string
		for _, r := range rows {
			got = append(got, strings.TrimRight(ansi.Strip(r), " "))
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("height %d: rows %q, want %q", tt.height, got, tt.want)
		}
	}
}
