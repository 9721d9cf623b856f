package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"lanchat/node/chat"
)

// The file calls of the fakes, recorded like their other calls.

func (h *fakeHost) OfferFile(ctx context.Context, peerID, path string) (string, error) {
	return "0123456789abcdef", h.record("offer "+peerID+" "+path, h.fileErr)
}

func (h *fakeHost) AcceptFile(ctx context.Context, id string) error {
	return h.record("accept "+id, h.fileErr)
}

func (h *fakeHost) DeclineFile(ctx context.Context, id string) error {
	return h.record("decline "+id, h.fileErr)
}

func (f *fakeRoom) OfferFile(ctx context.Context, path string) (string, error) {
	return "0123456789abcdef", f.record("offer #"+f.name+" "+path, f.host.fileErr)
}

func (h *screenHost) OfferFile(ctx context.Context, peerID, path string) (string, error) {
	return "0123456789abcdef", h.call(nil, "/send ", peerID+" "+path)
}

func (h *screenHost) AcceptFile(ctx context.Context, id string) error {
	return h.call(nil, "/accept ", id)
}

func (h *screenHost) DeclineFile(ctx context.Context, id string) error {
	return h.call(nil, "/decline ", id)
}

func (r *screenRoom) OfferFile(ctx context.Context, path string) (string, error) {
	return "0123456789abcdef", r.host.call(r, "/send ", path)
}

const (
	fileID   = "3f2a9c1b7d0e4f55"
	fileHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

// fileEvents is a transfer as the node reports it to a receiver.
func fileEvents(room string) []chat.Event {
	base := chat.Event{Room: room, Time: t0, PeerID: "12D3KooWBob", Nick: "bob", ID: fileID, Name: "report.pdf", Size: 2_100_000}
	offer, prog, done, failed := base, base, base, base
	offer.Kind, offer.Hash = chat.KindFileOffer, fileHash
	prog.Kind, prog.Room, prog.Bytes = chat.KindFileProgress, "", 1_050_000
	done.Kind, done.Room, done.Path, done.Hash = chat.KindFileDone, "", "/home/alice/Downloads/lanchat/report.pdf", fileHash
	failed.Kind, failed.Room, failed.Text = chat.KindFileFailed, "", "the file changed since it was offered"
	return []chat.Event{offer, prog, done, failed}
}

func TestFileJSON(t *testing.T) {
	var out bytes.Buffer
	w := newLineWriter(&out, JSON)
	for _, ev := range fileEvents("lobby") {
		if err := w.event(ev); err != nil {
			t.Fatal(err)
		}
	}
	sent := chat.Event{Kind: chat.KindFileProgress, Time: t0, PeerID: "12D3KooWCarol", ID: fileID, Bytes: 10, Size: 20, Self: true}
	w.event(sent)
	want := []string{
		`{"type":"file_offer","time":"2025-03-01T14:03:07.123Z","room":"lobby","id":"3f2a9c1b7d0e4f55","peer_id":"12D3KooWBob","nick":"bob","name":"report.pdf","size":2100000,"hash":"` + fileHash + `"}`,
		`{"type":"file_progress","time":"2025-03-01T14:03:07.123Z","id":"3f2a9c1b7d0e4f55","bytes":1050000,"size":2100000}`,
		`{"type":"file_done","time":"2025-03-01T14:03:07.123Z","id":"3f2a9c1b7d0e4f55","path":"/home/alice/Downloads/lanchat/report.pdf","hash":"` + fileHash + `"}`,
		`{"type":"file_failed","time":"2025-03-01T14:03:07.123Z","id":"3f2a9c1b7d0e4f55","error":"the file changed since it was offered"}`,
		`{"type":"file_progress","time":"2025-03-01T14:03:07.123Z","id":"3f2a9c1b7d0e4f55","bytes":10,"size":20,"peer_id":"12D3KooWCarol","self":true}`,
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), out.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
		if !json.Valid([]byte(got[i])) {
			t.Errorf("line %d is not JSON: %s", i, got[i])
		}
	}
}

func TestFilePlain(t *testing.T) {
	var out bytes.Buffer
	w := newLineWriter(&out, Plain)
	w.first = "lobby"
	w.now = func() time.Time { return t0 }
	evs := fileEvents("lobby")
	evs[0].Name = "evil\u202eexe.pdf\x1b[2J" // what a peer may send: shown harmless
	for _, ev := range evs {
		w.event(ev)
	}
	w.event(chat.Event{Kind: chat.KindFileFailed, Time: t0, PeerID: "12D3KooWBob", Nick: "bob", ID: fileID, Name: "x", Text: "declined", Self: true})
	want := "[" + t0.Local().Format("15:04") + "] * bob offers evilexe.pdf (2.1 MB) — /accept 3f2a9c1b or /decline 3f2a9c1b\n" +
		"* received report.pdf (2.1 MB) from bob, verified: /home/alice/Downloads/lanchat/report.pdf\n" +
		"! receiving report.pdf from bob failed: the file changed since it was offered\n" +
		"* bob declined x\n"
	if out.String() != want {
		t.Errorf("plain lines:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestFileCommands runs /send, /accept and /decline through the line
// modes' command table.
func TestFileCommands(t *testing.T) {
	h := newFakeHost("private")
	r := h.room("lobby")
	r.setMembers(chat.Member{PeerID: h.info.PeerID, Nick: "alice", Self: true},
		chat.Member{PeerID: "12D3KooWBob", Nick: "bob"},
		chat.Member{PeerID: "12D3KooWBob2", Nick: "Bob"})
	in := strings.Join([]string{
		"/send #lobby /tmp/a b.txt",
		"/send 12D3KooWBob /tmp/x",
		"/send bob /tmp/y", // bob and Bob look alike: their labels tell them apart
		"/send bob#WBob /tmp/y",
		"/send carol /tmp/z",
		"/send #dev /tmp/z",
		"/send bob",
		"/accept",
		"/accept 3f2a",
		"/decline 3f2a",
	}, "\n") + "\n"
	var out bytes.Buffer
	if err := runLines(context.Background(), h, []Room{r}, strings.NewReader(in), &out, Plain, lineTimes{}); err != nil {
		t.Fatal(err)
	}
	calls := strings.Join(h.recorded(), "\n")
	for _, want := range []string{"offer #lobby /tmp/a b.txt", "offer 12D3KooWBob /tmp/x", "offer 12D3KooWBob /tmp/y", "accept ", "accept 3f2a", "decline 3f2a"} {
		if !strings.Contains(calls, want) {
			t.Errorf("no call %q; calls:\n%s", want, calls)
		}
	}
	if strings.Contains(calls, "/tmp/z") {
		t.Errorf("a file was offered to nobody:\n%s", calls)
	}
	for _, want := range []string{"cannot send to carol: nobody called carol is here", "you are not in #dev", "usage: /send NICK|#ROOM PATH",
		"cannot send to bob: 2 peers are called bob: Bob#Bob2, bob#WBob — say which one"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFileCommandError(t *testing.T) {
	h := newFakeHost("private")
	h.fileErr = errors.New("node: the file is larger than the limit: big.iso is 5.0 GB, the limit is 4.3 GB")
	r := h.room("lobby")
	var out bytes.Buffer
	runLines(context.Background(), h, []Room{r}, strings.NewReader("/accept\n/send #lobby ~/big.iso\n"), &out, JSON, lineTimes{})
	for _, want := range []string{
		`"text":"cannot accept: the file is larger than the limit: big.iso is 5.0 GB, the limit is 4.3 GB"`,
		`"text":"cannot send big.iso to #lobby: the file is larger`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}

// TestFilePanel drives the transfers panel: a progress bar with speed and
// time left while a file comes, "done" for a while after, then nothing.
func TestFilePanel(t *testing.T) {
	now := t0
	h := newScreenHost("private")
	m := newScreenModel(h, []Room{h.room("lobby")}, screenConfig{manual: true, now: func() time.Time { return now }})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 20})
	evs := fileEvents("")
	offer, prog, done := evs[0], evs[1], evs[2]
	m.Update(hostEventsMsg{events: []chat.Event{offer}})
	if v := screenText(m); !strings.Contains(v, "bob offers report.pdf (2.1 MB) — /accept 3f2a9c1b") {
		t.Fatalf("no offer line:\n%s", v)
	}
	start := prog
	start.Bytes = 0
	m.Update(hostEventsMsg{events: []chat.Event{start}})
	now = now.Add(time.Second)
	m.Update(hostEventsMsg{events: []chat.Event{prog}}) // half in a second
	v := screenText(m)
	if !strings.Contains(v, "⇣ report.pdf ← bob") || !strings.Contains(v, " 50%  1.1 MB/s  1s left") || !strings.Contains(v, "█") {
		t.Fatalf("no progress bar at 50%%:\n%s", v)
	}
	if _, cmd := m.Update(fileTickMsg{}); cmd == nil {
		t.Errorf("no next tick while a transfer runs")
	}
	now = now.Add(time.Second)
	m.Update(hostEventsMsg{events: []chat.Event{done}})
	if v := screenText(m); !strings.Contains(v, "100%  done, verified") || !strings.Contains(v, "received report.pdf (2.1 MB) from bob, verified") {
		t.Fatalf("no finished transfer:\n%s", v)
	}
	now = now.Add(panelLinger)
	m.Update(fileTickMsg{})
	if v := screenText(m); strings.Contains(v, "⇣") {
		t.Fatalf("the finished transfer is still shown:\n%s", v)
	}
	if m.fileH != 0 {
		t.Errorf("the panel still takes %d rows", m.fileH)
	}
}

// TestFilePanelNarrow: the panel fits any width.
func TestFilePanelNarrow(t *testing.T) {
	for _, w := range []int{100, 40, 20, 8, 1} {
		r := &transferRow{id: fileID, name: strings.Repeat("long name ", 10), size: 100, bytes: 40, nick: "bob"}
		line := r.render(newScreenStyles(), w, ansi.GraphemeWidth, "bob")
		if got := ansi.StringWidth(line); got > w {
			t.Errorf("width %d: row is %d cells: %q", w, got, ansi.Strip(line))
		}
	}
}

// screenText is the screen as text, without styles.
func screenText(m *screenModel) string {
	c, _ := m.render()
	return ansi.Strip(c)
}

func TestEtaText(t *testing.T) {
	for d, want := range map[time.Duration]string{3 * time.Second: "3s", 80 * time.Second: "1m20s", 2*time.Hour + 5*time.Minute: "2h05m"} {
		if got := etaText(d); got != want {
			t.Errorf("etaText(%v) = %q, want %q", d, got, want)
		}
	}
	if got := expandHome("~/x"); !filepath.IsAbs(got) && got != "~/x" {
		t.Errorf("expandHome(~/x) = %q", got)
	}
}

// gatedRoom is a fakeRoom whose offers wait for release, reporting their
// path on offering first, and whose sends report their text on sent.
type gatedRoom struct {
	*fakeRoom
	offering, sent chan string
	release        chan struct{}
}

func (g *gatedRoom) OfferFile(ctx context.Context, path string) (string, error) {
	g.offering <- path
	select {
	case <-g.release:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return g.fakeRoom.OfferFile(ctx, path)
}

func (g *gatedRoom) Send(ctx context.Context, text string) error {
	err := g.fakeRoom.Send(ctx, text)
	g.sent <- text
	return err
}

// bigFile makes a sparse file of hashNoticeSize bytes in a temporary dir.
func bigFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.iso")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(hashNoticeSize); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSendInBackground: while /send reads a big file for its hash, the
// line modes go on sending lines and showing events; they say it is
// hashing, and report the offer's outcome when it comes, before leaving.
func TestSendInBackground(t *testing.T) {
	h := newFakeHost("private")
	h.fileErr = errors.New("node: the file changed while it was read")
	g := &gatedRoom{fakeRoom: h.room("lobby"), offering: make(chan string, 1), sent: make(chan string, 1), release: make(chan struct{})}
	path := bigFile(t)
	in, input := io.Pipe()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- runLines(context.Background(), h, []Room{g}, in, &out, Plain, lineTimes{}) }()
	fmt.Fprintf(input, "/send #lobby %s\n", path)
	waitChan(t, g.offering, "the offer to start")
	g.events <- chat.Event{Kind: chat.KindNotice, Time: t0, Text: "a notice while hashing"}
	fmt.Fprintln(input, "typed while hashing")
	if got := waitChan(t, g.sent, "the line typed meanwhile"); got != "typed while hashing" {
		t.Fatalf("sent %q", got)
	}
	if s := out.String(); !strings.Contains(s, "hashing big.iso (67.1 MB)…") || !strings.Contains(s, "a notice while hashing") {
		t.Errorf("while hashing, the output lacks the notices:\n%s", s)
	}
	input.Close() // the end of input waits for the offer
	close(g.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "cannot send big.iso to #lobby: the file changed while it was read") {
		t.Errorf("the offer's failure was not shown:\n%s", s)
	}
	calls := h.recorded()
	if len(calls) != 2 || calls[0] != "send typed while hashing" || !strings.HasPrefix(calls[1], "offer #lobby ") {
		t.Errorf("calls %q, want the line sent before the offer was made", calls)
	}
}

// TestScreenSendInBackground: in the full-screen UI an offer is made
// beside the queue of calls, so a line typed while the file is hashed is
// sent at once.
func TestScreenSendInBackground(t *testing.T) {
	room := newScreenRoom("private")
	ts := newTestScreen(t, room, 80, 20)
	path := bigFile(t)
	ts.typeText("/send #lobby " + path)
	offer := ts.key("enter") // not run yet: the file is being hashed
	if offer == nil {
		t.Fatal("no call for /send")
	}
	if s := ts.screen(); !strings.Contains(s, "hashing big.iso (67.1 MB)…") {
		t.Errorf("no hashing notice:\n%s", s)
	}
	ts.enter("typed while hashing")
	if calls := room.host.calls(); len(calls) != 1 || calls[0] != "typed while hashing" {
		t.Fatalf("calls %q while the offer is made, want the line sent", calls)
	}
	msg := offer()
	if _, ok := msg.(offerDoneMsg); !ok {
		t.Fatalf("the offer's Cmd returned %T", msg)
	}
	ts.update(msg)
	if calls := room.host.calls(); len(calls) != 2 || calls[1] != "/send "+path {
		t.Errorf("calls %q, want the offer after the line", calls)
	}
}

// waitChan returns what ch gives, failing after 10 s.
func waitChan(t *testing.T, ch <-chan string, what string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		return ""
	}
}

// TestFilePlainProgress: plain mode prints a transfer's progress sparsely,
// once another quarter is done and 5 s have passed, whichever is later,
// with the speed since the line before; a quick transfer only its end.
func TestFilePlainProgress(t *testing.T) {
	var out bytes.Buffer
	w := newLineWriter(&out, Plain)
	w.first = "lobby"
	w.now = func() time.Time { return t0 }
	const size = 100_000_000
	prog := func(self bool, after time.Duration, bytes int64) {
		w.event(chat.Event{Kind: chat.KindFileProgress, Time: t0.Add(after), PeerID: "12D3KooWBob", Nick: "bob",
			ID: fileID, Name: "report.pdf", Size: size, Bytes: bytes, Self: self})
	}
	prog(false, 0, 0)
	prog(true, 0, 0)                       // our own sending of the same offer, to bob
	prog(false, 2*time.Second, 30_000_000) // a quarter, but too soon
	prog(false, 6*time.Second, 40_000_000) // line: 30 MB in 6 s
	prog(false, 8*time.Second, 60_000_000) // too soon
	prog(false, 12*time.Second, 60_000_000)
	prog(false, 30*time.Second, 70_000_000) // the same quarter
	prog(true, 30*time.Second, 100_000_000) // all sent: the outcome says it
	prog(false, 40*time.Second, 99_000_000)
	w.event(chat.Event{Kind: chat.KindFileDone, Time: t0.Add(41 * time.Second), PeerID: "12D3KooWBob", Nick: "bob",
		ID: fileID, Name: "report.pdf", Size: size, Path: "/dl/report.pdf"})
	prog(false, 50*time.Second, 0)          // accepted again: starts anew
	prog(false, 51*time.Second, 90_000_000) // too soon after its start
	want := "* report.pdf from bob: 40% (40.0 MB of 100.0 MB), 6.7 MB/s\n" +
		"* report.pdf from bob: 60% (60.0 MB of 100.0 MB), 3.3 MB/s\n" +
		"* report.pdf from bob: 99% (99.0 MB of 100.0 MB), 1.4 MB/s\n" +
		"* received report.pdf (100.0 MB) from bob, verified: /dl/report.pdf\n"
	if out.String() != want {
		t.Errorf("plain lines:\n%s\nwant:\n%s", out.String(), want)
	}
}
