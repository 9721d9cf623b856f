package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lanchat/internal/netns"
	"lanchat/node"
)

// Helpers of the history end-to-end tests (history_lan_test.go), on top of
// lan_test.go's lanProc.

// histFields are the fields of a --json line that [lanEvent] does not
// decode: "history" on a message from the log or sync, "count" on the
// "history" line that ends a batch.
type histFields struct {
	History bool `json:"history"`
	Count   int  `json:"count"`
}

func fieldsOf(e lanEvent) histFields {
	var f histFields
	_ = json.Unmarshal([]byte(e.raw), &f)
	return f
}

// isHistory reports whether e is a message event marked "history".
func isHistory(e lanEvent) bool { return e.Type == "message" && fieldsOf(e).History }

// histLAN skips in short mode, makes a LAN of n hosts (skipping when
// namespaces are unavailable, failing under CI=true), builds the binary
// and writes a swarm.key; it returns the LAN, the binary, a directory for
// the test's files and the key arguments.
func histLAN(t *testing.T, n int) (*netns.LAN, string, string, []string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("builds and runs the binary on %d network-namespace hosts; skipped with -short", n)
	}
	lan := netns.New(t, n)
	bin := testBinary(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "swarm.key")
	if err := os.WriteFile(keyFile, node.FormatSwarmKey(node.DeriveKey("history")), 0o600); err != nil {
		t.Fatal(err)
	}
	return lan, bin, dir, []string{"--key-file", keyFile}
}

// histDataDir is the --data-dir of nick's processes in dir.
func histDataDir(dir, nick string) string { return filepath.Join(dir, "data-"+nick) }

// startHist starts lanchat as startLanchat does, with the key arguments and
// --data-dir histDataDir(dir, nick), and waits for its ready line: a
// process started again with the same nick and dir has the same identity
// and the same log.
func startHist(t *testing.T, bin string, h *netns.Host, dir, nick string, key []string, extra ...string) *lanProc {
	t.Helper()
	args := append(append([]string{"--data-dir", histDataDir(dir, nick)}, key...), extra...)
	p := startLanchat(t, bin, h, dir, nick, args...)
	p.waitReady(t)
	return p
}

// checkBatches checks the JSON mode's rule for history batches in p's
// output for room: a "history" line with count N follows N history
// messages of the room with nothing between them, and every history
// message of the room is in such a batch. It returns the batches' ends.
func checkBatches(t *testing.T, p *lanProc, room string) []lanEvent {
	t.Helper()
	// The end of the last batch comes right after its last line: it may
	// not have been read yet.
	if last, ok := lastHistory(p, room); ok {
		p.waitFor(t, 5*time.Second, "the end of the last history batch", func(e lanEvent) bool {
			return e.Type == "history" && e.Room == room && e.seq > last.seq
		})
	}
	evs := p.all()
	inBatch := map[int]bool{}
	var ends []lanEvent
	for i, e := range evs {
		if e.Type != "history" || e.Room != room {
			continue
		}
		ends = append(ends, e)
		n := fieldsOf(e).Count
		if n < 1 || n > i {
			t.Errorf("%s: history line %s: count %d, want 1..%d", p.nick, e.raw, n, i)
			continue
		}
		for j := i - n; j < i; j++ {
			if !isHistory(evs[j]) || evs[j].Room != room {
				t.Errorf("%s: history batch of %d ending at line %d (%s) holds line %d: %s", p.nick, n, i, e.raw, j, evs[j].raw)
				break
			}
			inBatch[j] = true
		}
	}
	for i, e := range evs {
		if isHistory(e) && e.Room == room && !inBatch[i] {
			t.Errorf("%s: history message outside any batch (line %d): %s", p.nick, i, e.raw)
		}
	}
	return ends
}

// sayLine sends text (unique in the test) and returns the ID of its echo.
func (p *lanProc) sayLine(t *testing.T, text string) string {
	t.Helper()
	p.say(t, text)
	return p.waitFor(t, 10*time.Second, "own echo of "+text, func(e lanEvent) bool {
		return e.Type == "message" && e.Self && e.Text == text && e.PeerID == p.id
	}).ID
}

func messageWithID(id string) func(lanEvent) bool {
	return func(e lanEvent) bool { return e.Type == "message" && e.ID == id }
}

// messagesIn returns p's message events in room, in output order.
func messagesIn(p *lanProc, room string) []lanEvent {
	var out []lanEvent
	for _, e := range p.all() {
		if e.Type == "message" && e.Room == room {
			out = append(out, e)
		}
	}
	return out
}

// checkOnce fails the test for every message ID p showed more than once in
// room, and returns p's messages of room by ID.
func checkOnce(t *testing.T, p *lanProc, room string) map[string]lanEvent {
	t.Helper()
	byID := map[string]lanEvent{}
	for _, e := range messagesIn(p, room) {
		if first, ok := byID[e.ID]; ok {
			t.Errorf("%s showed message %s twice:\n  %s\n  %s", p.nick, e.ID, first.raw, e.raw)
			continue
		}
		byID[e.ID] = e
	}
	return byID
}

// hostAddrs are the addresses a peer may use to reach h: IPv4, ULA IPv6
// and link-local IPv6.
func hostAddrs(h *netns.Host) []string {
	return []string{h.IP().String(), h.IP6().String(), fmt.Sprintf("fe80::%x", h.Index())}
}

// establishedTo returns h's established TCP connections (ss lines) whose
// peer address is one of addrs.
func establishedTo(t *testing.T, h *netns.Host, addrs []string) []string {
	t.Helper()
	want := map[string]bool{}
	for _, a := range addrs {
		want[a] = true
	}
	var out []string
	for _, line := range strings.Split(h.MustRun("ss", "-tnH", "state", "established"), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		peerAddr := f[len(f)-1]
		if i := strings.LastIndexByte(peerAddr, ':'); i > 0 {
			peerAddr = peerAddr[:i]
		}
		peerAddr = strings.Trim(peerAddr, "[]")
		peerAddr, _, _ = strings.Cut(peerAddr, "%")
		peerAddr = strings.TrimPrefix(peerAddr, "::ffff:")
		if want[peerAddr] {
			out = append(out, strings.Join(f, " "))
		}
	}
	return out
}

// killConns destroys h's TCP connections to the given hosts with ss -K
// (SOCK_DESTROY: h's side is closed at once, the peer gets a reset if the
// link lets it through) and checks that none is left. It returns how many
// were established before.
func killConns(t *testing.T, h *netns.Host, peers ...*netns.Host) int {
	t.Helper()
	var addrs []string
	for _, q := range peers {
		addrs = append(addrs, hostAddrs(q)...)
	}
	before := len(establishedTo(t, h, addrs))
	for _, a := range addrs {
		if strings.Contains(a, ":") {
			a = "[" + a + "]" // ss's filter syntax for IPv6
		}
		h.MustRun("ss", "-K", "-tnH", "dst", a)
	}
	if left := establishedTo(t, h, addrs); len(left) > 0 {
		t.Fatalf("%s: TCP connections left after ss -K: %q", h.Name(), left)
	}
	return before
}

// logTime returns the time of the first line of p's log file (written
// with -v) that holds every one of parts, e.g. `msg="peer joined topic"`
// and "peer=<ID>".
func logTime(p *lanProc, parts ...string) (time.Time, bool) {
	b, err := os.ReadFile(p.logFile)
	if err != nil {
		return time.Time{}, false
	}
next:
	for _, line := range strings.Split(string(b), "\n") {
		for _, s := range parts {
			if !strings.Contains(line, s) {
				continue next
			}
		}
		f, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		if at, err := time.Parse(time.RFC3339Nano, f); err == nil {
			return at, true
		}
	}
	return time.Time{}, false
}

// logWarnings returns the first max warnings and errors of p's log.
func logWarnings(p *lanProc, max int) []string {
	b, _ := os.ReadFile(p.logFile)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if len(out) < max && (strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR")) {
			out = append(out, line)
		}
	}
	return out
}

// lastHistory returns p's last history message in room.
func lastHistory(p *lanProc, room string) (lanEvent, bool) {
	evs := p.all()
	for i := len(evs) - 1; i >= 0; i-- {
		if isHistory(evs[i]) && evs[i].Room == room {
			return evs[i], true
		}
	}
	return lanEvent{}, false
}
