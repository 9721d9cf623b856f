package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"lanchat/node/chat"
)

func TestParseInput(t *testing.T) {
	unknown := func(name string) command {
		return command{kind: cmdUnknown, arg: "unknown command " + name + ", nothing was sent (try /help; start a line with // to send it as text)"}
	}
	run := func(name, arg string) command { return command{kind: cmdRun, spec: lookupCommand(name), arg: arg} }
	usage := func(text string) command { return command{kind: cmdUsage, arg: text} }
	text := func(arg string) command { return command{kind: cmdText, arg: arg} }
	tests := []struct {
		line string
		want command
	}{
		{"", command{kind: cmdNone}},
		{"  \t ", command{kind: cmdNone}},
		{"hello", text("hello")},
		{"  indented  \t", text("  indented")},
		{"type :end to leave", text("type :end to leave")},
		{":end", run("/quit", "")},
		{"  :end  ", run("/quit", "")},
		{":END", text(":END")},
		{"/quit", run("/quit", "")},
		{"/quit bye all", run("/quit", "bye all")},
		{"/QUIT", run("/quit", "")},
		{"/q", run("/quit", "")},
		{"/exit", run("/quit", "")},
		{"  /quit", run("/quit", "")},
		{"//etc/hosts", text("/etc/hosts")},
		{"  //etc/hosts  ", text("/etc/hosts")},
		{"/me waves", run("/me", "waves")},
		{"/me\twaves  hello ", run("/me", "waves  hello")},
		{"/me", usage("usage: /me ACTION, e.g. /me waves")},
		{"/me   ", usage("usage: /me ACTION, e.g. /me waves")},
		{"/nick robert", run("/nick", "robert")},
		{"/NICK robert", run("/nick", "robert")},
		{"/nick Mary Ann", run("/nick", "Mary Ann")},
		{"/nick", usage("usage: /nick NAME")},
		{"/who", run("/who", "")},
		{"/names", run("/who", "")},
		{"/key", run("/key", "")},
		{"/help", run("/help", "")},
		{"/h", run("/help", "")},
		{"/?", run("/help", "")},
		{"/clear", run("/clear", "")},
		{"/join dev", run("/join", "dev")},
		{"/JOIN #dev", run("/join", "#dev")},
		{"/j secret  two words ", run("/join", "secret  two words")},
		{"/join", usage("usage: /join NAME [PASSPHRASE], e.g. /join dev")},
		{"/part", run("/part", "")},
		{"/part #dev", run("/part", "#dev")},
		{"/rooms", run("/rooms", "")},
		{"/list", run("/rooms", "")},
		{"/say dev hi there", run("/say", "dev hi there")},
		{"/say", usage("usage: /say ROOM TEXT, e.g. /say dev build is green")},
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

// TestCommandTable checks the table itself: every command has a name,
// usage and help and a handler, no name or alias is used twice, and /help
// of both front ends lists every command.
func TestCommandTable(t *testing.T) {
	seen := map[string]bool{}
	screen := strings.Join(screenHelp(), "\n")
	for _, c := range commandTable {
		if c.name == "" || c.usage == "" || c.help == "" || c.run == nil {
			t.Errorf("command %+v lacks a name, usage, help or handler", c)
		}
		for _, n := range append([]string{c.name}, c.aliases...) {
			if seen[n] || n != strings.ToLower(n) || !strings.HasPrefix(n, "/") {
				t.Errorf("command name %q is used twice or not a lower-case /name", n)
			}
			seen[n] = true
		}
		if !strings.Contains(lineHelp(), c.usage) || !strings.Contains(screen, c.usage) {
			t.Errorf("/help does not list %s", c.usage)
		}
	}
}

// TestJoinPassphrase checks where the screen starts hiding a /join
// passphrase, and that nothing else is hidden.
func TestJoinPassphrase(t *testing.T) {
	tests := []struct {
		line string
		want int
	}{
		{"/join secret hunter2", len("/join secret ")},
		{"  /J  #secret   two words", len("  /J  #secret   ")},
		{"/join secret ", len("/join secret ")},
		{"/join secret", -1},
		{"/join", -1},
		{"/joinx a b", -1},
		{"//join a b", -1},
		{"hello /join a b", -1},
		{"/nick a b", -1},
		{"/say dev hunter2", -1},
		{"/say dev /join x hunter2", -1},
		{"/me /join x hunter2", -1},
	}
	for _, tt := range tests {
		if got := joinPassphrase(tt.line); got != tt.want {
			t.Errorf("joinPassphrase(%q) = %d, want %d", tt.line, got, tt.want)
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
		"/join dev", "in dev", "/say lobby back in the lobby", "/me in dev", "/rooms", "/join #lobby", "in the lobby",
		"/J secret the pass phrase", "/part", "/part #dev", "/say dev x", "/part nope", "/join", "in lobby again",
		"/part", "nowhere",
	}
	for _, quit := range []string{":end", " :end ", "/quit", "/q", "/exit", "/QUIT now"} {
		t.Run(quit, func(t *testing.T) {
			input := append(slices.Clone(lines), quit, "after quit")

			room := newFakeRoom("private")
			var out strings.Builder
			if err := runLines(context.Background(), room.host, []Room{room}, strings.NewReader(strings.Join(input, "\n")+"\n"), &out, Plain, noSettle); err != nil {
				t.Fatal(err)
			}
			var lineCalls []string
			for _, c := range room.recorded() {
				prefix := ""
				if strings.HasPrefix(c, "#") {
					prefix, c, _ = strings.Cut(c, " ")
					prefix += " "
				}
				kind, text, _ := strings.Cut(c, " ")
				lineCalls = append(lineCalls, prefix+map[string]string{
					"send": "", "action": "/me ", "nick": "/nick ", "join": "/join ", "part": "/part", "rooms": "/rooms",
				}[kind]+text)
			}

			sr := newScreenRoom("private")
			sr.setMembers(chat.Member{PeerID: idAlice, Nick: "alice", Self: true}, chat.Member{PeerID: idBob, Nick: "bob"})
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

// TestJoinErrorHidesPassphrase checks that a join error never repeats the
// passphrase: not as typed, and not as Go quotes it (%q, %+q).
func TestJoinErrorHidesPassphrase(t *testing.T) {
	for _, pass := range []string{"hunter2", `say "friend"`, "パスワード\x01", "tab\there"} {
		for _, format := range []string{"derive key for %s: boom", "bad passphrase %q", "bad passphrase %+q", "%#q?"} {
			err := fmt.Errorf(format+": %w", pass, errors.New("boom"))
			got := joinErrorText("dev", pass, err)
			for _, form := range []string{pass, strconv.Quote(pass), strconv.QuoteToASCII(pass), Sanitize(pass)} {
				if strings.Contains(got, form) || strings.Contains(got, strings.Trim(form, `"`)) {
					t.Errorf("joinErrorText(%q) = %q: shows the passphrase", err, got)
				}
			}
			if !strings.HasPrefix(got, "cannot join #dev: ") || !strings.Contains(got, "****") {
				t.Errorf("joinErrorText(%q) = %q", err, got)
			}
		}
	}
}

// TestJoinErrorText checks that the join errors a user can do something
// about say what to do, in words of the front end, not the node's.
func TestJoinErrorText(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("join room %q: %w (at most 32 at once)", "dev", chat.ErrTooManyRooms),
			"cannot join #dev: you are in as many rooms as lanchat can keep at once; /part one first"},
		{fmt.Errorf("join: %w", chat.ErrClosed), "cannot join #dev: lanchat is shutting down"},
		{errors.New("the network is down"), "cannot join #dev: the network is down"},
	} {
		if got := joinErrorText("dev", "", tt.err); got != tt.want {
			t.Errorf("joinErrorText(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
