package main

import (
	"bufio"
	"bytes"
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
)

// loopWait bounds every wait of the loopback end-to-end test.
const loopWait = 20 * time.Second

// testBin is the lanchat binary shared by the end-to-end tests of this
// package: built once, on first use, removed by TestMain.
var testBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// TestMain keeps the tests' message logs out of the user's data dir (the
// processes the tests start inherit XDG_DATA_HOME; tests that care pass
// --data-dir), and removes the shared binary after the tests.
func TestMain(m *testing.M) {
	data, err := os.MkdirTemp("", "lanchat-data-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_DATA_HOME", data)
	code := m.Run()
	os.RemoveAll(data)
	if testBin.dir != "" {
		os.RemoveAll(testBin.dir)
	}
	os.Exit(code)
}

// testBinary returns the path of the lanchat binary, building it on first
// use. It is built without the race detector even under -race: the
// end-to-end tests measure timing, and the in-process tests of run cover the
// wiring with the race detector.
func testBinary(t testing.TB) string {
	t.Helper()
	testBin.once.Do(func() {
		testBin.dir, testBin.err = os.MkdirTemp("", "lanchat-test-")
		if testBin.err != nil {
			return
		}
		testBin.path = filepath.Join(testBin.dir, "lanchat")
		cmd := exec.Command("go", "build", "-o", testBin.path, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			testBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if testBin.err != nil {
		t.Fatal(testBin.err)
	}
	return testBin.path
}

// loopProc is one lanchat process in --json mode on loopback.
type loopProc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan map[string]any // stdout, one object per line; closed at EOF
	stderr *lockedBuffer
	exited chan struct{} // closed when the process has exited
	seen   []string      // stdout lines read so far, for failure messages
	ready  map[string]any
}

// lockedBuffer is a bytes.Buffer safe for the exec copier and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLoopProc starts the binary with --json, no mDNS, loopback only, a
// fresh identity, and extra args; it waits for the ready line.
func startLoopProc(t *testing.T, bin, name string, extra ...string) *loopProc {
	t.Helper()
	args := append([]string{"--json", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0",
		"--identity", filepath.Join(t.TempDir(), name+".key"), "--nick", name}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "LANCHAT_KEY=", "LANCHAT_NICK=")
	p := &loopProc{t: t, name: name, cmd: cmd, events: make(chan map[string]any, 1000),
		stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	lines := make(chan string, 1000)
	go func() {
		defer close(p.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"type": "unparsable", "line": sc.Text()}
			}
			p.events <- m
		}
	}()
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.stderr.String())
		}
	})
	p.ready = p.waitFor("ready line", func(m map[string]any) bool { return m["type"] == "ready" })
	return p
}

// addr returns the process' first listen address (with /p2p/).
func (p *loopProc) addr() string {
	addrs, _ := p.ready["addrs"].([]any)
	if len(addrs) == 0 {
		p.t.Fatalf("%s ready line has no addrs: %v", p.name, p.ready)
	}
	return addrs[0].(string)
}

func (p *loopProc) peerID() string { return p.ready["peer_id"].(string) }

// waitFor reads events until match returns true.
func (p *loopProc) waitFor(what string, match func(map[string]any) bool) map[string]any {
	p.t.Helper()
	deadline := time.After(loopWait)
	for {
		select {
		case m, ok := <-p.events:
			if !ok {
				p.t.Fatalf("%s: stdout ended while waiting for %s; saw:\n%s", p.name, what, strings.Join(p.seen, "\n"))
			}
			b, _ := json.Marshal(m)
			p.seen = append(p.seen, string(b))
			if m["type"] == "unparsable" {
				p.t.Errorf("%s: stdout line is not JSON: %q", p.name, m["line"])
			}
			if match(m) {
				return m
			}
		case <-deadline:
			p.t.Fatalf("%s: timed out waiting for %s; saw:\n%s", p.name, what, strings.Join(p.seen, "\n"))
		}
	}
}

func (p *loopProc) waitType(typ, peerID string) map[string]any {
	p.t.Helper()
	return p.waitFor(fmt.Sprintf("%s of %s", typ, peerID), func(m map[string]any) bool {
		return m["type"] == typ && m["peer_id"] == peerID
	})
}

func (p *loopProc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("%s: write stdin: %v", p.name, err)
	}
}

// waitExit waits for the process to exit and checks its exit code.
func (p *loopProc) waitExit(want int) {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(loopWait):
		p.t.Fatalf("%s did not exit", p.name)
	}
	if got := p.cmd.ProcessState.ExitCode(); got != want {
		p.t.Errorf("%s exit code = %d (%v), want %d; stderr:\n%s", p.name, got, p.cmd.ProcessState, want, p.stderr.String())
	}
}

// TestLoopbackChat runs the real binary, several processes on 127.0.0.1
// connected with --peer (no mDNS): they see each other join, messages are
// delivered, and every way of leaving (":end", SIGINT, SIGTERM, SIGHUP, end
// of input) exits 0 and is seen by the others as a leave with reason quit.
func TestLoopbackChat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	start := time.Now()
	bin := testBinary(t)
	t.Logf("binary: %v", time.Since(start).Round(time.Millisecond))
	key := []string{"--key", "loopback test passphrase"}

	alice := startLoopProc(t, bin, "alice", key...)
	if alice.ready["network"] != "private" {
		t.Errorf("ready = %v, want network private", alice.ready)
	}
	start = time.Now()
	bob := startLoopProc(t, bin, "bob", append(key, "--peer", alice.addr())...)
	t.Logf("bob ready: %v", time.Since(start).Round(time.Millisecond))
	alice.waitType("join", bob.peerID())
	bob.waitType("join", alice.peerID())
	t.Logf("both joined: %v after bob started", time.Since(start).Round(time.Millisecond))

	const text = "hello from bob, こんにちは <b>&"
	start = time.Now()
	bob.send(text)
	m := alice.waitType("message", bob.peerID())
	t.Logf("first message bob → alice: %v (stdin to stdout; includes the line modes' settle hold, up to 300 ms after the last join)",
		time.Since(start).Round(time.Microsecond))
	if m["text"] != text || m["nick"] != "bob" || m["self"] != false {
		t.Errorf("alice got %v, want bob's message %q with self false", m, text)
	}
	m = bob.waitType("message", bob.peerID())
	if m["text"] != text || m["self"] != true {
		t.Errorf("bob's echo %v, want his message with self true", m)
	}

	alice.send("/me waves")
	m = bob.waitType("message", alice.peerID())
	if m["text"] != "waves" || m["action"] != true {
		t.Errorf("bob got %v, want alice's action", m)
	}

	// bob's input is past the settle hold now (his first line was read).
	start = time.Now()
	bob.send("second")
	if m := alice.waitType("message", bob.peerID()); m["text"] != "second" {
		t.Errorf("alice got %v, want bob's second message", m)
	}
	t.Logf("next message bob → alice: %v (stdin to stdout)", time.Since(start).Round(time.Microsecond))

	bob.send("/nick robert")
	m = alice.waitType("nick", bob.peerID())
	if m["old"] != "bob" || m["new"] != "robert" {
		t.Errorf("alice got %v, want bob renamed to robert", m)
	}

	start = time.Now()
	bob.send(":end")
	bob.waitExit(0)
	t.Logf("bob exited: %v after :end", time.Since(start).Round(time.Millisecond))
	if m := alice.waitType("leave", bob.peerID()); m["reason"] != "quit" {
		t.Errorf("alice got %v after :end, want reason quit", m)
	}

	// Not subtests: alice belongs to this test and may fail it.
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		name := strings.ToLower(strings.ReplaceAll(sig.String(), " ", ""))
		p := startLoopProc(t, bin, name, append(key, "--peer", alice.addr())...)
		alice.waitType("join", p.peerID())
		p.waitType("join", alice.peerID())
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		p.waitExit(0)
		if m := alice.waitType("leave", p.peerID()); m["reason"] != "quit" {
			t.Errorf("alice got %v after %v, want reason quit", m, sig)
		}
	}

	alice.stdin.Close()
	alice.waitExit(0)
}
