package tui

import (
	"context"
	"slices"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"lanchat/node"
)

func TestParseInput(t *testing.T) {
	unknown := func(name string) command {
		return command{cmdUnknown, "unknown command " + name + ", nothing was sent (try /help; start a line with // to send it as text)"}
	}
	tests := []struct {
		line string
		want command
	}{
		{"", command{kind: cmdNone}},
		{"  \t ", command{kind: cmdNone}},
		{"hello", command{cmdSend, "hello"}},
		{"  indented  \t", command{cmdSend, "  indented"}},
		{"type :end to leave", command{cmdSend, "type :end to leave"}},
		{":end", command{kind: cmdQuit}},
		{"  :end  ", command{kind: cmdQuit}},
		{":END", command{cmdSend, ":END"}},
		{"/quit", command{kind: cmdQuit}},
		{"/quit bye all", command{kind: cmdQuit}},
		{"/QUIT", command{kind: cmdQuit}},
		{"/q", command{kind: cmdQuit}},
		{"/exit", command{kind: cmdQuit}},
		{"  /quit", command{kind: cmdQuit}},
		{"//etc/hosts", command{cmdSend, "/etc/hosts"}},
		{"  //etc/hosts  ", command{cmdSend, "/etc/hosts"}},
		{"/me waves", command{cmdAction, "waves"}},
		{"/me\twaves  hello ", command{cmdAction, "waves  hello"}},
		{"/me", command{cmdUsage, "usage: /me ACTION, e.g. /me waves"}},
		{"/me   ", command{cmdUsage, "usage: /me ACTION, e.g. /me waves"}},
		{"/nick robert", command{cmdNick, "robert"}},
		{"/NICK robert", command{cmdNick, "robert"}},
		{"/nick Mary Ann", command{cmdNick, "Mary Ann"}},
		{"/nick", command{cmdUsage, "usage: /nick NAME"}},
		{"/who", command{kind: cmdWho}},
		{"/names", command{kind: cmdWho}},
		{"/key", command{kind: cmdKey}},
		{"/help", command{kind: cmdHelp}},
		{"/h", command{kind: cmdHelp}},
		{"/?", command{kind: cmdHelp}},
		{"/clear", command{kind: cmdClear}},
		{"/frobnicate now", unknown("/frobnicate")},
		{"/", unknown("/")},
		{"/a\x1b[2J", unknown("/a")},
		{"/mewaves", unknown("/mewaves")},
	}
	for _, tt := range tests {
		if got := parseInput(tt.line); got != tt.want {
			t.Errorf("parseInput(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

// TestInputSameInBothModes types the same lines into the screen and into a
// line mode and checks that the room sees the same calls: the two front ends
// read input by the same rules.
func TestInputSameInBothModes(t *testing.T) {
	lines := []string{
		"hello", "  indented  ", "//etc/hosts", "  //x", "/me waves", "/ME shouts", "/nick Mary Ann",
		"/nick", "/me", "/who", "/names", "/key", "/help", "/h", "/clear", "/bogus", "  /who", ":END", "last",
	}
	for _, quit := range []string{":end", " :end ", "/quit", "/q", "/exit", "/QUIT now"} {
		t.Run(quit, func(t *testing.T) {
			input := append(slices.Clone(lines), quit, "after quit")

			room := newFakeRoom("private")
			var out strings.Builder
			if err := runLines(context.Background(), room, strings.NewReader(strings.Join(input, "\n")+"\n"), &out, Plain, noSettle); err != nil {
				t.Fatal(err)
			}
			var lineCalls []string
			for _, c := range room.recorded() {
				kind, text, _ := strings.Cut(c, " ")
				lineCalls = append(lineCalls, map[string]string{"send": "", "action": "/me ", "nick": "/nick "}[kind]+text)
			}

			sr := newScreenRoom("private")
			sr.setMembers(node.Member{PeerID: idAlice, Nick: "alice", Self: true}, node.Member{PeerID: idBob, Nick: "bob"})
			ts := newTestScreen(t, sr, 100, 30)
			quitAt := -1
			for i, l := range input {
				if _, ok := ts.enter(l).(tea.QuitMsg); ok {
					quitAt = i
					break
				}
			}
			if quitAt != len(lines) {
				t.Errorf("the screen quit at line %d, want at %q (line %d)", quitAt, quit, len(lines))
			}
			if got := sr.calls(); !slices.Equal(got, lineCalls) {
				t.Errorf("screen calls %q,\nline mode calls %q", got, lineCalls)
			}
		})
	}
}
