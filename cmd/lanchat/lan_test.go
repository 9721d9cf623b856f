package main

import (
	"bufio"
	"bytes"
	"cmp"
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
	"lanchat/node"
)

// The figures of issue 2's "Done when", checked by TestLAN. A figure over
// its target is flagged in the summary line ("MISSED"); only one over its
// limit fails the test: speed targets belong in benchmarks, and this test
// must not be flaky on a loaded 2-core CI machine. "Lost" comes from the
// node's fixed silence timeout (6 s), so its target is also its limit.
const (
	lanJoinTarget    = 2 * time.Second  // all of three hosts joined, after the last start
	lanJoinLimit     = 5 * time.Second  // ... fails the test
	lanMessageTarget = time.Second      // a message on every other host ("well under a second")
	lanMessageLimit  = 2 * time.Second  // ... fails the test
	lanLostTarget    = 10 * time.Second // a killed or cut-off host shown as lost; fails the test
)

// TestLAN is the end-to-end test of issue 2: the real binary on hosts of a
// network-namespace LAN, finding each other by mDNS, chatting, leaving,
// crashing, losing their link and getting it back, and a host on another key
// kept out.
//
// It runs one scenario on six hosts, in order:
//
//	h1 h2 h3   same key (swarm.key file), started together: all join each other (timed)
//	h1 h2 h3   each says a line: the two others get it (timed)
//	h4 h5      same key (passphrase), join later; h6 another key: told, sees nothing
//	h3         :end → exit 0, others see "left (quit)"
//	h4, h5     SIGKILL, link cut (together) → others see "lost" (timed)
//	h5         link restored → joins again and chats (timed)
//	h1 h2 h5   :end → exit 0; h6 :end → exit 0, nobody ever saw it
//
// The figures go into one line starting with "LAN summary:" (go test -v, or
// the failure output): grep for it.
func TestLAN(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary on six network-namespace hosts; skipped with -short")
	}
	lan := netns.New(t, 6)
	bin := testBinary(t)
	dir := t.TempDir()
	start := func(i int, key ...string) *lanProc {
		return startLanchat(t, bin, lan.Host(i), dir, fmt.Sprintf("h%d", i), key...)
	}
	// The first three hosts read the key from a swarm.key file, the
	// latecomers derive the same key from the passphrase: both ways must
	// meet. The file keeps the timed join fair: on a real LAN each machine
	// runs the passphrase's argon2id on its own CPU, here three processes
	// starting at once would share two cores for it (1–2 s instead of
	// ~0.5 s to the ready line).
	keyFile := filepath.Join(dir, "swarm.key")
	if err := os.WriteFile(keyFile, node.FormatSwarmKey(node.DeriveKey("samepass")), 0o600); err != nil {
		t.Fatal(err)
	}
	sameFile := []string{"--key-file", keyFile}
	samePass := []string{"--key", "samepass"}
	var sum lanSummary
	defer func() { reportSummary(t, sum.String()) }()

	// Three nodes with the same key find each other.
	h1, h2, h3 := start(1, sameFile...), start(2, sameFile...), start(3, sameFile...)
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
	sum.join = allJoined.Sub(lastStart)
	t.Logf("LAN: all 3 joined %v after the last start (%v after the last ready line; target %v)",
		sum.join.Round(time.Millisecond), allJoined.Sub(lastReady).Round(time.Millisecond), lanJoinTarget)
	if sum.join > lanJoinLimit {
		t.Errorf("LAN: 3 hosts all joined %v after the last start, want ≤ %v (target %v)", sum.join, lanJoinLimit, lanJoinTarget)
	}

	// Each says a line; both others get it. Latency is measured from the
	// write to the sender's stdin to the line on the receiver's stdout (the
	// first line may wait for the line modes' settle hold, up to 300 ms
	// after the last join), and from the sender's own echo to the receiver's
	// line (the network part).
	for _, from := range trio {
		text := "hello from " + from.nick
		sent := time.Now()
		from.say(t, text)
		echo := from.waitFor(t, 5*time.Second, "own message echoed", func(e lanEvent) bool {
			return e.Type == "message" && e.Text == text && e.Self && e.PeerID == from.id
		})
		for _, to := range trio {
			if to == from {
				continue
			}
			e := to.waitFor(t, 5*time.Second, "message from "+from.nick, func(e lanEvent) bool {
				return e.Type == "message" && e.Text == text && e.PeerID == from.id && e.Nick == from.nick && !e.Self
			})
			d, onNet := e.at.Sub(sent), e.at.Sub(echo.at)
			sum.msg = max(sum.msg, d)
			// Negative when the receiver's line was read before the
			// sender's echo; 1 µs marks the figure as measured.
			sum.msgNet = max(sum.msgNet, onNet, time.Microsecond)
			t.Logf("LAN: message %s→%s %v after stdin (%v after the sender's echo)",
				from.nick, to.nick, d.Round(time.Microsecond), onNet.Round(time.Microsecond))
			if d > lanMessageLimit {
				t.Errorf("LAN: message %s→%s took %v, want < %v (target %v)", from.nick, to.nick, d, lanMessageLimit, lanMessageTarget)
			}
		}
	}

	// Latecomers on the same key, and a stranger on another key.
	h4, h5 := start(4, samePass...), start(5, samePass...)
	h6 := start(6, "--key", "otherpass")
	h6Start := h6.started
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
	sum.notice = notice.at.Sub(h6Start)
	t.Logf("LAN: h6 (other key) was told %v after its start: %q", sum.notice.Round(time.Millisecond), notice.Text)

	// :end leaves gracefully.
	ended := time.Now()
	h3.say(t, ":end")
	if code := h3.waitExit(t, 10*time.Second); code != 0 {
		t.Errorf("h3 exit code after :end = %d, want 0", code)
	}
	sum.exit = time.Since(ended)
	for _, p := range []*lanProc{h1, h2, h4, h5} {
		e := p.waitFor(t, 5*time.Second, "h3 left (quit)", leaveOf(h3, "quit"))
		sum.leave = max(sum.leave, e.at.Sub(ended))
	}
	t.Logf("LAN: h3 exited 0 %v after :end; all others saw it leave (quit) within %v",
		sum.exit.Round(time.Millisecond), sum.leave.Round(time.Millisecond))

	// A killed node and a node whose link is cut are lost. Both at once:
	// each takes seconds to detect.
	if err := h4.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill h4: %v", err)
	}
	killed := time.Now()
	lan.Host(5).CutLink()
	cut := time.Now()
	for _, c := range []struct {
		what, cause string
		p           *lanProc
		at          time.Time
		d           *time.Duration
	}{{"killed", "SIGKILL", h4, killed, &sum.killed}, {"cut-off", "link cut", h5, cut, &sum.cut}} {
		for _, p := range []*lanProc{h1, h2} {
			e := p.waitFor(t, lanLostTarget+5*time.Second, c.p.nick+" lost", leaveOf(c.p, "lost"))
			d := e.at.Sub(c.at)
			*c.d = max(*c.d, d)
			t.Logf("LAN: %s %s shown as lost on %s %v after the %s", c.what, c.p.nick, p.nick,
				d.Round(time.Millisecond), c.cause)
			if d > lanLostTarget {
				t.Errorf("%s saw %s %s lost after %v, want ≤ %v", p.nick, c.what, c.p.nick, d, lanLostTarget)
			}
		}
	}

	// The cut-off node, still running, comes back when its link does: once
	// it has lost the others too, its link is restored; then it is heard
	// again (joins again everywhere) and chats both ways.
	pairs := []struct{ p, q *lanProc }{{h1, h5}, {h2, h5}, {h5, h1}, {h5, h2}}
	lostAt := make([]time.Time, len(pairs))
	for i, c := range pairs {
		lostAt[i] = c.p.waitFor(t, lanLostTarget+5*time.Second, c.q.nick+" lost", leaveOf(c.q, "lost")).at
	}
	lan.Host(5).RestoreLink()
	restored := time.Now()
	for i, c := range pairs {
		e := c.p.waitFor(t, 15*time.Second, c.q.nick+" joining again", func(e lanEvent) bool {
			return joinOf(c.q)(e) && e.at.After(lostAt[i])
		})
		sum.rejoin = max(sum.rejoin, e.at.Sub(restored))
	}
	t.Logf("LAN: h5's link restored: h5, h1, h2 all saw each other join again within %v", sum.rejoin.Round(time.Millisecond))
	for _, c := range []struct {
		from *lanProc
		to   []*lanProc
	}{{h5, []*lanProc{h1, h2}}, {h1, []*lanProc{h5}}} {
		text := "back again, from " + c.from.nick
		sent := time.Now()
		c.from.say(t, text)
		for _, to := range c.to {
			e := to.waitFor(t, 5*time.Second, "message from "+c.from.nick+" after the restore", func(e lanEvent) bool {
				return e.Type == "message" && e.Text == text && e.PeerID == c.from.id && !e.Self
			})
			sum.rejoinMsg = max(sum.rejoinMsg, e.at.Sub(sent))
		}
	}
	t.Logf("LAN: after the restore, messages h5→h1,h2 and h1→h5 arrived within %v", sum.rejoinMsg.Round(time.Millisecond))

	// Everyone still running leaves with :end and exits 0.
	for _, p := range []*lanProc{h1, h2, h5, h6} {
		p.say(t, ":end")
	}
	for _, p := range []*lanProc{h1, h2, h5, h6} {
		if code := p.waitExit(t, 10*time.Second); code != 0 {
			t.Errorf("%s exit code after :end = %d, want 0", p.nick, code)
		}
	}

	// The stranger never got in, and saw nobody; it was told once.
	sum.keptOut = "yes"
	stranger := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		sum.keptOut = "NO"
	}
	for _, p := range []*lanProc{h1, h2, h3, h4, h5} {
		if e, ok := p.find(func(e lanEvent) bool { return e.PeerID == h6.id }); ok {
			stranger("%s saw something of the other-key host: %s", p.nick, e.raw)
		}
	}
	notices := 0
	for _, e := range h6.all() {
		switch {
		case e.Type == "notice":
			notices++
		case e.Type == "ready", e.Self, e.PeerID == h6.id:
		default:
			stranger("other-key host h6 saw %s", e.raw)
		}
	}
	if notices != 1 {
		stranger("other-key host h6 got %d notices, want the different-key notice once", notices)
	}
}

// summaryEnv names a file that end-to-end tests append their summary line
// to, when set: .ci/run sets it and prints the file at its end, since go test
// shows a passing test's log only with -v.
const summaryEnv = "LANCHAT_TEST_SUMMARY"

// reportSummary logs line and appends it, with the test's name and result,
// to the file named by $LANCHAT_TEST_SUMMARY if that is set.
func reportSummary(t *testing.T, line string) {
	t.Helper()
	t.Log(line)
	path := os.Getenv(summaryEnv)
	if path == "" {
		return
	}
	result := "ok"
	if t.Failed() {
		result = "FAILED"
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err == nil {
		_, err = fmt.Fprintf(f, "%s (%s): %s\n", t.Name(), result, line)
		err = cmp.Or(err, f.Close())
	}
	if err != nil {
		t.Errorf("$%s: %v", summaryEnv, err)
	}
}

// lanSummary holds TestLAN's figures for its one summary line.
type lanSummary struct {
	join, msg, msgNet, notice, exit, leave, killed, cut, rejoin, rejoinMsg time.Duration
	keptOut                                                                string // "yes", "NO", "" not checked
}

// String is the summary line: every figure that was reached, "-" for the
// others (the test stopped before them); a figure over its target says
// "MISSED".
func (s lanSummary) String() string {
	f := figure
	vs := func(d, target time.Duration) string {
		if d > target {
			return fmt.Sprintf("MISSED target %v", target)
		}
		return fmt.Sprintf("target %v", target)
	}
	return fmt.Sprintf("LAN summary: all 3 joined %s after the last start (%s); "+
		"message on all others ≤ %s after stdin, ≤ %s after the sender's echo (%s); "+
		":end exit 0 in %s, leave seen by all in %s; lost after kill %s, after link cut %s (%s); "+
		"cut host back %s after restore, chatting in %s; other key: notice after %s, kept out: %s",
		f(s.join), vs(s.join, lanJoinTarget), f(s.msg), f(s.msgNet), vs(s.msg, lanMessageTarget),
		f(s.exit), f(s.leave), f(s.killed), f(s.cut), vs(max(s.killed, s.cut), lanLostTarget),
		f(s.rejoin), f(s.rejoinMsg), f(s.notice), cmp.Or(s.keptOut, "-"))
}

// figure formats a measured duration for a summary line: "-" when it was
// not reached (zero), to 10 µs below 10 ms, else to the millisecond.
func figure(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < 10*time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
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
	// Rooms is the "rooms" field: names in the ready line, objects in a
	// "rooms" answer.
	Rooms json.RawMessage `json:"rooms"`

	raw string
	at  time.Time // when the test read it
	seq int       // its index in the process's output
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

// startLanchat starts lanchat --json --room lobby on host h with a fresh
// identity, a log file in dir and extra arguments (--key or --key-file,
// more rooms).
func startLanchat(t testing.TB, bin string, h *netns.Host, dir, nick string, extra ...string) *lanProc {
	t.Helper()
	p := &lanProc{nick: nick, host: h, changed: make(chan struct{}), logFile: filepath.Join(dir, nick+".log")}
	args := append([]string{"--json", "--nick", nick, "--identity", filepath.Join(dir, "id-"+nick),
		"--room", "lobby", "--log-file", p.logFile, "-v"}, extra...)
	p.cmd = h.Command(context.Background(), bin, args...)
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
			e.seq = len(p.events)
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

func (p *lanProc) dump(t testing.TB) {
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
func (p *lanProc) waitFor(t testing.TB, d time.Duration, what string, pred func(lanEvent) bool) lanEvent {
	t.Helper()
	return p.waitScan(t, d, what, pred)
}

// waitScan calls step with each event of p's output in order, from the
// first, waiting up to d for more, until step returns true; it returns
// that event. It fails on exit or timeout. It costs O(events) in all,
// for outputs of thousands of lines.
func (p *lanProc) waitScan(t testing.TB, d time.Duration, what string, step func(lanEvent) bool) lanEvent {
	t.Helper()
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	next := 0
	for {
		p.mu.Lock()
		evs := append([]lanEvent(nil), p.events[next:]...) // the new ones only
		changed, exited, code := p.changed, p.exited, p.code
		p.mu.Unlock()
		for _, e := range evs {
			next++
			if step(e) {
				return e
			}
		}
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

func (p *lanProc) waitReady(t testing.TB) {
	t.Helper()
	p.ready = p.waitFor(t, 15*time.Second, "ready", func(e lanEvent) bool { return e.Type == "ready" })
	p.id = p.ready.PeerID
	if p.id == "" || p.ready.Nick != p.nick || p.ready.Room != "lobby" || p.ready.Network != "private" {
		t.Fatalf("%s ready line = %s, want peer_id, nick %s, room lobby, network private", p.nick, p.ready.raw, p.nick)
	}
}

// waitExit waits for the process to exit and returns its exit code.
func (p *lanProc) waitExit(t testing.TB, d time.Duration) int {
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

func (p *lanProc) say(t testing.TB, line string) {
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
