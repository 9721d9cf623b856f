package tui

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// TestTmuxTwoNodes runs two real lanchat binaries in tmux, connected over
// loopback with --peer (never mDNS), and uses them as a person would:
// typing with send-keys (Japanese too), reading the other screen with
// capture-pane, resizing the window, and leaving with :end or by closing
// the terminal.
//
// Without tmux the test is skipped, except under CI=true, where tmux must
// be installed (.ci/run installs it).
func TestTmuxTwoNodes(t *testing.T) {
	tm, bin, dir := startTmuxTest(t)

	alice := tm.start(t, "alice", bin, dir)
	addr := waitListenAddr(t, filepath.Join(dir, "alice.log"))
	// Keys typed before the screen puts the terminal in raw mode are
	// discarded by the terminal, as for any full-screen program: wait for it.
	alice.waitFor(t, "alice's screen", contains("Welcome to #lobby"))
	// Alone in the room, a line reaches no one, and the screen says so.
	alice.typeLine(t, "anyone here?")
	alice.waitFor(t, "the nobody-here notice", contains("<alice> anyone here?"),
		contains("nobody else is here yet — it will be delivered when someone joins"))
	bob := tm.start(t, "bob", bin, dir, "--peer", addr)

	alice.waitFor(t, "bob joined", contains("--> bob joined"), contains(" bob "))
	bob.waitFor(t, "alice joined", contains("--> alice joined"))
	// What alice said alone reaches bob, as history under a separator.
	bob.waitFor(t, "alice's earlier line", contains("— 1 earlier message —"), contains("<alice> anyone here?"))

	bob.typeLine(t, "hello from bob")
	alice.waitFor(t, "bob's line", contains("<bob> hello from bob"))
	if s := bob.waitFor(t, "bob's own line", contains("<bob> hello from bob")); strings.Contains(s, "will be delivered") {
		t.Errorf("bob was told his line would be delivered later, with alice in the room:\n%s", s)
	}

	alice.typeLine(t, "こんにちは世界")
	bob.waitFor(t, "alice's Japanese line", contains("<alice> こんにちは世界"))
	bob.typeLine(t, "日本語の長い文章がちゃんと折り返されるかテストします。今日はいい天気ですね。")

	const long = "日本語の長い文章がちゃんと折り返されるかテストします。今日はいい天気ですね。"
	wide := alice.waitFor(t, "bob's long Japanese line", containsWrapped(long))
	t.Logf("alice, 100×30:\n%s", wide)
	if !strings.Contains(wide, "#lobby") || !strings.Contains(wide, "2 members") {
		t.Errorf("wide screen lacks the header or the member list:\n%s", wide)
	}

	// Resize: the narrow layout has no member list, every line fits, and
	// the Japanese text is re-wrapped, not cut.
	tm.run(t, "resize-window", "-t", "alice:", "-x", "45", "-y", "12")
	narrow := alice.waitFor(t, "the 45×12 redraw", fits(45, 12), not(contains("│")), containsWrapped(long))
	t.Logf("alice, 45×12:\n%s", narrow)
	tm.run(t, "resize-window", "-t", "alice:", "-x", "40", "-y", "10")
	alice.waitFor(t, "the 40×10 redraw", fits(40, 10), containsWrapped(long))
	tm.run(t, "resize-window", "-t", "alice:", "-x", "100", "-y", "30")
	alice.waitFor(t, "the 100×30 redraw", fits(100, 30), contains("2 members"), contains("<alice> こんにちは世界"))

	// The cursor after Japanese input is on the cell after the last
	// character: "> " plus three wide characters.
	tm.run(t, "send-keys", "-t", "alice:", "-l", "日本語")
	alice.waitFor(t, "the typed Japanese", inputIs("日本語"))
	if x := tm.cursorX(t, "alice:"); x != 2+6 {
		t.Errorf("cursor after typing 日本語 is at column %d, want 8", x)
	}
	tm.run(t, "send-keys", "-t", "alice:", "C-u")
	alice.waitFor(t, "the cleared input line", inputIs(""))

	// carol closes her terminal (tmux sends SIGHUP): alice sees her leave
	// at once, not lost seconds later.
	carol := tm.start(t, "carol", bin, dir, "--peer", addr)
	alice.waitFor(t, "carol joined", contains("--> carol joined"))
	carol.waitFor(t, "carol's screen", contains("--> alice joined"))
	tm.run(t, "kill-session", "-t", carol.target())
	alice.waitFor(t, "carol's leave", contains("<-- carol left (quit)"))

	// bob leaves with :end: exit status 0, and alice sees the leave.
	bob.typeLine(t, ":end")
	if code := bob.waitExit(t); code != "0" {
		t.Errorf("bob exited with status %s after :end, want 0; stderr: %s", code, bob.stderr())
	}
	alice.waitFor(t, "bob's leave", contains("<-- bob left (quit)"), contains("0 peers"))
	alice.typeLine(t, ":end")
	if code := alice.waitExit(t); code != "0" {
		t.Errorf("alice exited with status %s after :end, want 0; stderr: %s", code, alice.stderr())
	}
}

// TestTmuxRooms runs two real lanchat binaries in tmux, in the rooms lobby
// and dev (--room twice), connected over loopback with --peer, and checks
// the room bar as a person sees it: unread counts and the mention marker
// of the rooms not shown, switching with Alt-2, Ctrl-N and Ctrl-P, /join
// and /part, at 100×30 and at 40×10 (where the bar collapses into the
// header, "#lobby 1/3 •2").
func TestTmuxRooms(t *testing.T) {
	tm, bin, dir := startTmuxTest(t)
	rooms := []string{"--room", "lobby", "--room", "dev"}

	alice := tm.start(t, "alice", bin, dir, rooms...)
	addr := waitListenAddr(t, filepath.Join(dir, "alice.log"))
	alice.waitFor(t, "alice's rooms", contains("Welcome to #lobby"), contains("[1 #lobby] 2 #dev"))
	bob := tm.start(t, "bob", bin, dir, append([]string{"--peer", addr}, rooms...)...)
	alice.waitFor(t, "bob in the lobby", contains("--> bob joined"), contains("1 peer"))
	bob.waitFor(t, "bob's rooms", contains("[1 #lobby] 2 #dev"), contains("--> alice joined"))

	// alice joins a third room and comes back to the lobby.
	alice.typeLine(t, "/join ops")
	alice.waitFor(t, "ops joined", contains("You joined #ops"), contains("1 #lobby  2 #dev [3 #ops]"))
	tm.run(t, "send-keys", "-t", alice.target(), "M-1")
	alice.waitFor(t, "back in the lobby", contains("[1 #lobby] 2 #dev  3 #ops"))

	// bob talks in the lobby, then in dev: alice, in the lobby, sees the
	// lobby's line and dev's count, with the mention marker.
	bob.typeLine(t, "hello lobby")
	alice.waitFor(t, "bob's lobby line", contains("<bob> hello lobby"))
	tm.run(t, "send-keys", "-t", bob.target(), "M-2")
	bob.waitFor(t, "bob in dev", contains("1 #lobby [2 #dev]"))
	bob.typeLine(t, "the build is red")
	bob.typeLine(t, "alice: can you look?")
	wide := alice.waitFor(t, "dev's unread count", contains("2 #dev •2@"), not(contains("the build is red")))
	t.Logf("alice, 100×30, in the lobby:\n%s", wide)

	// At 40×10 the bar collapses into the header.
	tm.run(t, "resize-window", "-t", "alice:", "-x", "40", "-y", "10")
	narrow := alice.waitFor(t, "the collapsed bar", fits(40, 10), contains("#lobby 1/3 •2@"))
	t.Logf("alice, 40×10, in the lobby:\n%s", narrow)
	tm.run(t, "resize-window", "-t", "alice:", "-x", "100", "-y", "30")
	alice.waitFor(t, "the 100×30 redraw", fits(100, 30), contains("2 #dev •2@"))

	// Alt-2 shows dev, read now; Ctrl-N and Ctrl-P move along the bar.
	tm.run(t, "send-keys", "-t", alice.target(), "M-2")
	alice.waitFor(t, "dev", contains("1 #lobby [2 #dev] 3 #ops"), contains("<bob> alice: can you look?"), not(contains("hello lobby")))
	tm.run(t, "send-keys", "-t", alice.target(), "C-n")
	alice.waitFor(t, "ops after Ctrl-N", contains("[3 #ops]"), contains("You joined #ops"))
	tm.run(t, "send-keys", "-t", alice.target(), "C-n")
	alice.waitFor(t, "the lobby after Ctrl-N wraps", contains("[1 #lobby]"), contains("<bob> hello lobby"))
	tm.run(t, "send-keys", "-t", alice.target(), "C-p")
	alice.waitFor(t, "ops after Ctrl-P", contains("[3 #ops]"))

	// An unread count at 40×10 without a mention.
	tm.run(t, "resize-window", "-t", "alice:", "-x", "40", "-y", "10")
	bob.typeLine(t, "just a note")
	alice.waitFor(t, "the collapsed count", fits(40, 10), contains("#ops 3/3 •1"), not(contains("•1@")))
	tm.run(t, "resize-window", "-t", "alice:", "-x", "100", "-y", "30")

	// alice leaves ops: the others stay, and bob sees nobody lost.
	alice.typeLine(t, "/part")
	// The room joined last of those left, dev, is current now.
	alice.waitFor(t, "ops left", contains("You left #ops."), contains("1 #lobby [2 #dev]"), not(contains("#ops ")))
	bob.typeLine(t, "still here?")
	alice.waitFor(t, "dev still works", contains("<bob> still here?"))
	if s, _ := bob.capture(); strings.Contains(s, "lost") {
		t.Errorf("bob sees someone lost after alice's /part:\n%s", s)
	}

	for _, p := range []*pane{bob, alice} {
		p.typeLine(t, ":end")
		if code := p.waitExit(t); code != "0" {
			t.Errorf("%s exited with status %s after :end, want 0; stderr: %s", p.name, code, p.stderr())
		}
	}
}

// startTmuxTest skips the test without tmux (fails it under CI=true, where
// tmux must be installed: .ci/run installs it) or with -short, and returns
// a tmux server for it, the lanchat binary built into a temporary
// directory, and that directory.
func startTmuxTest(t *testing.T) (tm *tmux, bin, dir string) {
	t.Helper()
	tmuxPath, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is not installed, and CI=true requires the real-terminal test to run")
		}
		t.Skip("tmux is not installed: skipping the real-terminal test")
	}
	if testing.Short() {
		t.Skip("-short: skipping the real-terminal test (builds and runs the binary)")
	}
	dir = t.TempDir()
	bin = buildLanchat(t, dir)
	return newTmux(t, tmuxPath), bin, dir
}

// buildLanchat builds the binary into dir.
func buildLanchat(t *testing.T, dir string) string {
	t.Helper()
	// The go command that runs this test is the one to build with; go test
	// puts its GOROOT's bin first in PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command in PATH to build lanchat with: %v", err)
	}
	bin := filepath.Join(dir, "lanchat")
	cmd := exec.Command(goTool, "build", "-o", bin, "lanchat/cmd/lanchat")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build lanchat/cmd/lanchat: %v\n%s", err, out)
	}
	return bin
}

// tmux runs commands against a private tmux server, killed at cleanup.
type tmux struct {
	path, socket string
}

func newTmux(t *testing.T, path string) *tmux {
	tm := &tmux{path: path, socket: fmt.Sprintf("lanchat-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() {
		// The server exits by itself when the last session ends; this is
		// for a failed test.
		exec.Command(tm.path, "-L", tm.socket, "kill-server").Run() //nolint:errcheck
	})
	return tm
}

// run runs a tmux command and returns its output.
func (tm *tmux) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := tm.try(args...)
	if err != nil {
		t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (tm *tmux) try(args ...string) (string, error) {
	args = append([]string{"-L", tm.socket, "-f", os.DevNull}, args...)
	var out bytes.Buffer
	cmd := exec.Command(tm.path, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// cursorX returns the cursor column in a session's pane.
func (tm *tmux) cursorX(t *testing.T, session string) int {
	t.Helper()
	var x int
	out := tm.run(t, "display-message", "-p", "-t", session, "#{cursor_x}")
	if _, err := fmt.Sscan(out, &x); err != nil {
		t.Fatalf("cursor_x %q: %v", out, err)
	}
	return x
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// pane is one lanchat running in its own tmux session.
type pane struct {
	tm   *tmux
	name string
	dir  string
}

// start runs lanchat for nick in a new 100×30 session named nick. A
// wrapper script records the exit status in <dir>/<nick>.exit.
func (tm *tmux) start(t *testing.T, nick, bin, dir string, extra ...string) *pane {
	t.Helper()
	args := []string{bin, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0",
		"--identity", filepath.Join(dir, nick+".id"), "--nick", nick,
		"--data-dir", filepath.Join(dir, "data"),
		"--log-file", filepath.Join(dir, nick+".log")}
	args = append(args, extra...)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	exit := shellQuote(filepath.Join(dir, nick+".exit"))
	script := fmt.Sprintf("#!/bin/sh\n%s 2>%s\necho $? > %s.tmp && mv %s.tmp %s\n",
		strings.Join(quoted, " "), shellQuote(filepath.Join(dir, nick+".stderr")), exit, exit, exit)
	path := filepath.Join(dir, nick+".sh")
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	tm.run(t, "new-session", "-d", "-s", nick, "-x", "100", "-y", "30", path)
	return &pane{tm: tm, name: nick, dir: dir}
}

// target names the pane's session for tmux's -t. The colon matters: a bare
// name can match a window name (e.g. "b" matches "bash") in another session.
func (p *pane) target() string { return p.name + ":" }

// capture returns the visible screen of the pane.
func (p *pane) capture() (string, error) {
	return p.tm.try("capture-pane", "-p", "-t", p.target())
}

// screenCheck is a condition on a captured screen.
type screenCheck func(screen string) bool

func contains(s string) screenCheck {
	return func(screen string) bool { return strings.Contains(screen, s) }
}

// containsWrapped checks that the message pane shows s, which may be
// wrapped over several rows: rows are joined without their indentation and
// the member list. s must not contain spaces.
func containsWrapped(s string) screenCheck {
	return func(screen string) bool {
		var b strings.Builder
		for _, l := range strings.Split(screen, "\n") {
			if i := strings.Index(l, " │"); i >= 0 {
				l = l[:i]
			}
			b.WriteString(strings.TrimSpace(l))
		}
		return strings.Contains(b.String(), s)
	}
}

// inputIs checks the input line (the last line) shows "> "+s.
func inputIs(s string) screenCheck {
	return func(screen string) bool {
		lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
		return strings.TrimRight(lines[len(lines)-1], " ") == strings.TrimRight("> "+s, " ")
	}
}

func not(c screenCheck) screenCheck { return func(screen string) bool { return !c(screen) } }

// fits checks that the screen has h lines and none is wider than w cells.
func fits(w, h int) screenCheck {
	return func(screen string) bool {
		lines := strings.Split(strings.TrimSuffix(screen, "\n"), "\n")
		if len(lines) != h {
			return false
		}
		for _, l := range lines {
			if ansi.StringWidthWc(l) > w {
				return false
			}
		}
		return true
	}
}

// waitFor polls the pane until all checks hold and returns the screen.
func (p *pane) waitFor(t *testing.T, what string, checks ...screenCheck) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var screen string
	for {
		s, err := p.capture()
		if err == nil {
			screen = s
			ok := true
			for _, c := range checks {
				if !c(s) {
					ok = false
					break
				}
			}
			if ok {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s never appeared; screen:\n%s\nstderr: %s", p.name, what, screen, p.stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// typeLine types text and presses Enter.
func (p *pane) typeLine(t *testing.T, text string) {
	t.Helper()
	p.tm.run(t, "send-keys", "-t", p.target(), "-l", text)
	p.tm.run(t, "send-keys", "-t", p.target(), "Enter")
}

// waitExit waits for the wrapper to record lanchat's exit status.
func (p *pane) waitExit(t *testing.T) string {
	t.Helper()
	path := filepath.Join(p.dir, p.name+".exit")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil {
			return strings.TrimSpace(string(b))
		}
		if time.Now().After(deadline) {
			s, _ := p.capture()
			t.Fatalf("%s did not exit; screen:\n%s\nstderr: %s", p.name, s, p.stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stderr returns what lanchat wrote to stderr.
func (p *pane) stderr() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, p.name+".stderr"))
	return string(b)
}

// listenAddrRE matches the loopback listen address lanchat logs at start.
var listenAddrRE = regexp.MustCompile(`/ip4/127\.0\.0\.1/tcp/[0-9]+/p2p/[1-9A-HJ-NP-Za-km-z]+`)

// waitListenAddr reads the first node's address from its log file.
func waitListenAddr(t *testing.T, logPath string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(logPath); err == nil {
			if a := listenAddrRE.Find(b); a != nil {
				return string(a)
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("no listen address in %s:\n%s", logPath, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
