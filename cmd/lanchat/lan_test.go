package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lanchat/internal/netns"
)

// TestLAN is the end-to-end test of the issue: the real binary on hosts of a
// network-namespace LAN, finding each other by mDNS, chatting, leaving,
// crashing, losing their link, and a host on another key kept out.
//
// It runs one scenario on six hosts, in order:
//
//	h1 h2 h3   same key, started together: all join each other (timed)
//	h1         says hello: h2 and h3 get it (timed)
//	h4 h5      same key, join later; h6 another key: told, sees nothing
//	h3         :end → exit 0, others see "left (quit)"
//	h4, h5     SIGKILL, link cut (together) → others see "lost" within 10 s (timed)
//	h1 h2      :end → exit 0; nobody ever saw h6 join
func TestLAN(t *testing.T) {
	lan := netns.New(t, 6)
	bin := buildLanchat(t)
	dir := t.TempDir()
	start := func(i int, key string) *lanProc {
		return startLanchat(t, bin, lan.Host(i), dir, fmt.Sprintf("h%d", i), key)
	}

	// Three nodes with the same key find each other.
	h1, h2, h3 := start(1, "samepass"), start(2, "samepass"), start(3, "samepass")
	lastStart := h3.started
	trio := []*lanProc{h1, h2, h3}
	var lastReady time.Time
	for _, p := range trio {
		p.waitReady(t)
		lastReady = later(lastReady, p.ready.at)
	}
	var allJoined time.Time
	for _, p := range trio {
		for _, q := range trio {
			if p != q {
				e := p.waitFor(t, 10*time.Second, "join of "+q.nick, joinOf(q))
				allJoined = later(allJoined, e.at)
			}
		}
	}
	t.Logf("discovery: 3 nodes all joined %v after the last start (%v after the last ready)",
		allJoined.Sub(lastStart).Round(time.Millisecond), allJoined.Sub(lastReady).Round(time.Millisecond))
	if d := allJoined.Sub(lastStart); d > 2*time.Second {
		t.Logf("NOTE: slower than the 2 s target of the issue")
	}

	// A message reaches both others.
	sent := time.Now()
	h1.say(t, "hello from h1")
	for _, p := range []*lanProc{h2, h3} {
		e := p.waitFor(t, 5*time.Second, "message from h1", func(e lanEvent) bool {
			return e.Type == "message" && e.Text == "hello from h1" && e.PeerID == h1.id && e.Nick == "h1" && !e.Self
		})
		t.Logf("message latency h1→%s: %v", p.nick, e.at.Sub(sent).Round(time.Microsecond))
	}
	h1.waitFor(t, 5*time.Second, "own message echoed", func(e lanEvent) bool {
		return e.Type == "message" && e.Text == "hello from h1" && e.Self
	})

	// Latecomers on the same key, and a stranger on another key.
	h4, h5 := start(4, "samepass"), start(5, "samepass")
	h6 := start(6, "otherpass")
	h4.waitReady(t)
	h5.waitReady(t)
	h6.waitReady(t)
	for _, p := range []*lanProc{h1, h2} {
		for _, q := range []*lanProc{h4, h5} {
			p.waitFor(t, 10*time.Second, "join of "+q.nick, joinOf(q))
			q.waitFor(t, 10*time.Second, "join of "+p.nick, joinOf(p))
		}
	}
	notice := h6.waitFor(t, 15*time.Second, "different-key notice", func(e lanEvent) bool {
		return e.Type == "notice" && strings.Contains(e.Text, "different key")
	})
	t.Logf("h6 (other key) was told: %q", notice.Text)

	// :end leaves gracefully.
	h3.say(t, ":end")
	if code := h3.waitExit(t, 10*time.Second); code != 0 {
		t.Errorf("h3 exit code after :end = %d, want 0", code)
	}
	for _, p := range []*lanProc{h1, h2} {
		p.waitFor(t, 5*time.Second, "h3 left (quit)", leaveOf(h3, "quit"))
	}

	// A killed node and a node whose link is cut are lost. Both at once:
	// each takes seconds to detect.
	if err := h4.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill h4: %v", err)
	}
	killed := time.Now()
	lan.Host(5).CutLink()
	cut := time.Now()
	for _, c := range []struct {
		what string
		p    *lanProc
		at   time.Time
	}{{"killed", h4, killed}, {"cut-off", h5, cut}} {
		for _, p := range []*lanProc{h1, h2} {
			e := p.waitFor(t, 15*time.Second, c.p.nick+" lost", leaveOf(c.p, "lost"))
			d := e.at.Sub(c.at)
			t.Logf("%s %s shown as lost on %s after %v", c.what, c.p.nick, p.nick, d.Round(time.Millisecond))
			if d > 10*time.Second {
				t.Errorf("%s saw %s %s lost after %v, want ≤ 10s", p.nick, c.what, c.p.nick, d)
			}
		}
	}

	// The stranger never got in, and saw nobody.
	for _, p := range []*lanProc{h1, h2, h3, h4, h5} {
		if e, ok := p.find(joinOf(h6)); ok {
			t.Errorf("%s saw the other-key host join: %+v", p.nick, e)
		}
	}
	for _, e := range h6.all() {
		if (e.Type == "join" && e.PeerID != h6.id) || (e.Type == "message" && !e.Self) {
			t.Errorf("other-key host h6 saw %+v", e)
		}
		if e.Type == "notice" {
			t.Logf("h6 notice: %q", e.Text)
		}
	}

	for _, p := range []*lanProc{h1, h2, h6} {
		p.say(t, ":end")
	}
	for _, p := range []*lanProc{h1, h2, h6} {
		if code := p.waitExit(t, 10*time.Second); code != 0 {
			t.Errorf("%s exit code after :end = %d, want 0", p.nick, code)
		}
	}
}

// buildLanchat builds the binary under test into a temporary directory.
func buildLanchat(t *testing.T) string {
	t.Helper()
	gotool, err := exec.LookPath("go")
	if err != nil {
		gotool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "lanchat")
	cmd := exec.Command(gotool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// lanEvent is one JSON line of `lanchat --json` (the union of all types).
type lanEvent struct {
	Type    string   `json:"type"`
	Time    string   `json:"time"`
	PeerID  string   `json:"peer_id"`
	Nick    string   `json:"nick"`
	Room    string   `json:"room"`
	Network string   `json:"network"`
	Addrs   []string `json:"addrs"`
	Reason  string   `json:"reason"`
	Old     string   `json:"old"`
	New     string   `json:"new"`
	ID      string   `json:"id"`
	Text    string   `json:"text"`
	Sent    string   `json:"sent"`
	Self    bool     `json:"self"`

	raw string
	at  time.Time // when the test read it
}

// lanProc is a lanchat process on a host, with its output history.
type lanProc struct {
	nick    string
	host    *netns.Host
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	started time.Time
	logFile string
	stderr  bytes.Buffer // written by exec's copier until Wait returns

	mu      sync.Mutex
	events  []lanEvent
	changed chan struct{} // closed and replaced on every event and at exit
	exited  bool          // Wait returned; code is valid
	code    int

	ready lanEvent // set by waitReady
	id    string
}

func startLanchat(t *testing.T, bin string, h *netns.Host, dir, nick, key string) *lanProc {
	t.Helper()
	p := &lanProc{nick: nick, host: h, changed: make(chan struct{}), logFile: filepath.Join(dir, nick+".log")}
	p.cmd = h.Command(context.Background(), bin, "--json", "--nick", nick, "--key", key,
		"--identity", filepath.Join(dir, "id-"+nick), "--room", "lobby", "--log-file", p.logFile, "-v")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LANCHAT_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", nick, err)
	}
	p.started = time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := bufio.NewScanner(stdout)
		s.Buffer(make([]byte, 64*1024), 1024*1024)
		for s.Scan() {
			e := lanEvent{raw: s.Text(), at: time.Now()}
			if err := json.Unmarshal(s.Bytes(), &e); err != nil {
				e.Type = "unparsable"
			}
			p.mu.Lock()
			p.events = append(p.events, e)
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
		p.mu.Lock()
		p.exited, p.code = true, p.cmd.ProcessState.ExitCode()
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		_ = p.stdin.Close()
		_ = p.cmd.Process.Kill()
		<-done
		if t.Failed() {
			p.dump(t)
		}
	})
	return p
}

func (p *lanProc) dump(t *testing.T) {
	t.Helper()
	var b strings.Builder
	for _, e := range p.all() {
		fmt.Fprintf(&b, "  %s %s\n", e.at.Format("15:04:05.000"), e.raw)
	}
	logs, _ := os.ReadFile(p.logFile)
	const maxLog = 8 << 10
	if len(logs) > maxLog {
		logs = append([]byte("…"), logs[len(logs)-maxLog:]...)
	}
	t.Logf("%s (%s, %s) stdout:\n%sstderr:\n%s\nlog tail:\n%s", p.nick, p.host.Name(), p.host.IP(), b.String(), p.stderr.String(), logs)
}

func (p *lanProc) all() []lanEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]lanEvent(nil), p.events...)
}

func (p *lanProc) find(pred func(lanEvent) bool) (lanEvent, bool) {
	for _, e := range p.all() {
		if pred(e) {
			return e, true
		}
	}
	return lanEvent{}, false
}

// waitFor returns the first event (from the start of the output) matching
// pred, waiting up to d. It fails on exit or timeout.
func (p *lanProc) waitFor(t *testing.T, d time.Duration, what string, pred func(lanEvent) bool) lanEvent {
	t.Helper()
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		p.mu.Lock()
		for _, e := range p.events {
			if pred(e) {
				p.mu.Unlock()
				return e
			}
		}
		changed, exited, code := p.changed, p.exited, p.code
		p.mu.Unlock()
		if exited {
			t.Fatalf("%s exited (code %d) before %s", p.nick, code, what)
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("%s: no %s within %v", p.nick, what, d)
		}
	}
}

func (p *lanProc) waitReady(t *testing.T) {
	t.Helper()
	p.ready = p.waitFor(t, 15*time.Second, "ready", func(e lanEvent) bool { return e.Type == "ready" })
	p.id = p.ready.PeerID
	if p.id == "" || p.ready.Nick != p.nick || p.ready.Room != "lobby" || p.ready.Network != "private" {
		t.Fatalf("%s ready line = %s, want peer_id, nick %s, room lobby, network private", p.nick, p.ready.raw, p.nick)
	}
}

// waitExit waits for the process to exit and returns its exit code.
func (p *lanProc) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		p.mu.Lock()
		changed, exited, code := p.changed, p.exited, p.code
		p.mu.Unlock()
		if exited {
			return code
		}
		select {
		case <-changed:
		case <-timeout.C:
			_ = p.cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump into stderr
			t.Fatalf("%s did not exit within %v", p.nick, d)
		}
	}
}

func (p *lanProc) say(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatalf("write to %s: %v", p.nick, err)
	}
}

func joinOf(q *lanProc) func(lanEvent) bool {
	return func(e lanEvent) bool { return e.Type == "join" && q.id != "" && e.PeerID == q.id }
}

func leaveOf(q *lanProc, reason string) func(lanEvent) bool {
	return func(e lanEvent) bool { return e.Type == "leave" && e.PeerID == q.id && e.Reason == reason }
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
