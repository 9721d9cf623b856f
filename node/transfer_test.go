package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
	"lanchat/node/filewire"
)

// fileNode starts a node in testRoom that saves files to a directory of
// its own, which it returns.
func fileNode(t *testing.T, nick string, edit func(*Config)) (*testNode, string) {
	t.Helper()
	cfg := testConfig(nick)
	cfg.DownloadDir = filepath.Join(t.TempDir(), "downloads")
	if edit != nil {
		edit(&cfg)
	}
	return startNode(t, cfg), cfg.DownloadDir
}

// writeBenchFile writes n random bytes to path.
func writeBenchFile(t testing.TB, path string, n int) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeFile writes n random bytes to dir/name and returns the path and
// the hex SHA-256.
func writeFile(t *testing.T, dir, name string, n int) (string, string) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return path, hex.EncodeToString(sum[:])
}

func isFile(k chat.EventKind, id string, self bool) func(chat.Event) bool {
	return func(ev chat.Event) bool { return ev.Kind == k && ev.ID == id && ev.Self == self }
}

// sameContent fails unless the files at a and b hold the same bytes.
func sameContent(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s (%d bytes) and %s (%d bytes) differ", a, len(x), b, len(y))
	}
}

// noPartials fails if dir's partial folder holds a file.
func noPartials(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(dir, partialDir))
	for _, e := range ents {
		t.Errorf("partial file left: %s", e.Name())
	}
}

func TestFileDirect(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	b, dir := fileNode(t, "bob", nil)
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	src, sum := writeFile(t, t.TempDir(), "data.bin", 3<<20+17)

	ctx := context.Background()
	id, err := a.OfferFile(ctx, b.id(), src)
	if err != nil {
		t.Fatalf("OfferFile = %v", err)
	}
	offer := b.wait(5*time.Second, "the offer", isFile(chat.KindFileOffer, id, false))
	if offer.Name != "data.bin" || offer.Size != 3<<20+17 || offer.Hash != sum || offer.PeerID != a.id() || offer.Nick != "alice" || offer.Room != "" {
		t.Fatalf("offer event = %+v", offer)
	}
	if own := a.wait(time.Second, "our own offer", isFile(chat.KindFileOffer, id, true)); own.To != b.id() || own.ToNick != "bob" {
		t.Errorf("own offer event = %+v, want To bob", own)
	}
	if err := b.AcceptFile(ctx, id[:6]); err != nil {
		t.Fatalf("AcceptFile(%q) = %v", id[:6], err)
	}
	done := b.wait(10*time.Second, "the file received", isFile(chat.KindFileDone, id, false))
	if done.Path != filepath.Join(dir, "data.bin") || done.Hash != sum {
		t.Fatalf("done event = %+v", done)
	}
	sameContent(t, src, done.Path)
	if sent := a.wait(5*time.Second, "the sender's done", isFile(chat.KindFileDone, id, true)); sent.PeerID != b.id() || sent.Hash != sum {
		t.Errorf("sender's done = %+v", sent)
	}
	noPartials(t, dir)
	if err := b.AcceptFile(ctx, id); !errors.Is(err, ErrOfferState) {
		t.Errorf("AcceptFile again = %v, want ErrOfferState", err)
	}

	// The same name again: a new name, nothing overwritten.
	id2, err := a.OfferFile(ctx, b.id(), src)
	if err != nil {
		t.Fatalf("OfferFile = %v", err)
	}
	b.wait(5*time.Second, "the second offer", isFile(chat.KindFileOffer, id2, false))
	if err := b.AcceptFile(ctx, ""); err != nil { // "": the newest offer
		t.Fatalf("AcceptFile(\"\") = %v", err)
	}
	done2 := b.wait(10*time.Second, "the second file", isFile(chat.KindFileDone, id2, false))
	if done2.Path != filepath.Join(dir, "data (1).bin") {
		t.Errorf("second file saved as %s, want data (1).bin", done2.Path)
	}
	sameContent(t, src, done.Path)
}

func TestFileDecline(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	b, _ := fileNode(t, "bob", nil)
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	src, _ := writeFile(t, t.TempDir(), "x.txt", 10)
	ctx := context.Background()
	id, err := a.OfferFile(ctx, b.id(), src)
	if err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "the offer", isFile(chat.KindFileOffer, id, false))
	if err := b.DeclineFile(ctx, id); err != nil {
		t.Fatalf("DeclineFile = %v", err)
	}
	b.wait(time.Second, "our decline", isFile(chat.KindFileFailed, id, false))
	if ev := a.wait(5*time.Second, "the decline", isFile(chat.KindFileFailed, id, true)); ev.Text != "declined" || ev.PeerID != b.id() {
		t.Errorf("sender's event = %+v", ev)
	}
	a.files.mu.Lock()
	left := len(a.files.out)
	a.files.mu.Unlock()
	if left != 0 {
		t.Errorf("a declined offer is still served (%d offers)", left)
	}
	if err := b.AcceptFile(ctx, "ffff"); !errors.Is(err, ErrNoOffer) {
		t.Errorf("AcceptFile(unknown) = %v, want ErrNoOffer", err)
	}
	if _, err := a.OfferFile(ctx, a.id(), src); !errors.Is(err, ErrSelfOffer) {
		t.Errorf("OfferFile(self) = %v, want ErrSelfOffer", err)
	}
	if _, err := a.OfferFile(ctx, b.id(), t.TempDir()); !errors.Is(err, ErrNotAFile) {
		t.Errorf("OfferFile(a directory) = %v, want ErrNotAFile", err)
	}
}

// TestFileRoom offers a file in a room: members see it as a line, accept
// it, and a member who comes later finds it in the history; with the
// offerer gone from the room, a member who received it serves it.
func TestFileRoom(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	b, bdir := fileNode(t, "bob", nil)
	c, cdir := fileNode(t, "carol", nil)
	mesh(a, b, c)
	waitKnown(5*time.Second, a, b, c)
	src, sum := writeFile(t, t.TempDir(), "slides.pdf", 1<<20)
	ctx := context.Background()
	id, err := a.room.OfferFile(ctx, src)
	if err != nil {
		t.Fatalf("Room.OfferFile = %v", err)
	}
	a.wait(5*time.Second, "our own offer's line", isFile(chat.KindFileOffer, id, true))
	for _, n := range []*testNode{b, c} {
		ev := n.wait(5*time.Second, "the room's offer", isFile(chat.KindFileOffer, id, false))
		if ev.Room != testRoom || ev.Name != "slides.pdf" || ev.Hash != sum || ev.PeerID != a.id() || ev.History {
			t.Fatalf("%s: offer = %+v", n.name, ev)
		}
	}
	if err := b.AcceptFile(ctx, id); err != nil {
		t.Fatalf("AcceptFile = %v", err)
	}
	done := b.wait(10*time.Second, "the file", isFile(chat.KindFileDone, id, false))
	sameContent(t, src, done.Path)
	if filepath.Dir(done.Path) != bdir {
		t.Errorf("saved in %s, want %s", done.Path, bdir)
	}
	a.wait(5*time.Second, "bob's done", func(ev chat.Event) bool {
		return isFile(chat.KindFileDone, id, true)(ev) && ev.PeerID == b.id()
	})

	// alice leaves the room: she serves it no more, but bob does.
	var mu sync.Mutex
	var servedBy []string
	b.files.onGet = func(p peer.ID, _ filewire.ID, _ int64) {
		mu.Lock()
		servedBy = append(servedBy, "bob")
		mu.Unlock()
	}
	if err := a.room.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	c.wait(5*time.Second, "alice's leave", isLeave(a, chat.ReasonQuit))
	if err := c.AcceptFile(ctx, id); err != nil {
		t.Fatalf("AcceptFile = %v", err)
	}
	cd := c.wait(10*time.Second, "the file from bob", isFile(chat.KindFileDone, id, false))
	sameContent(t, src, cd.Path)
	if filepath.Dir(cd.Path) != cdir {
		t.Errorf("saved in %s, want %s", cd.Path, cdir)
	}
	mu.Lock()
	if len(servedBy) == 0 {
		t.Errorf("bob served nothing: carol got it elsewhere")
	}
	mu.Unlock()

	// A newcomer sees the offer in the room's history.
	d, _ := fileNode(t, "dave", nil)
	d.connect(b)
	h := d.wait(10*time.Second, "the offer from history", isFile(chat.KindFileOffer, id, false))
	if !h.History || h.Name != "slides.pdf" || h.Size != 1<<20 {
		t.Errorf("history offer = %+v", h)
	}
}

// TestFileResume stalls a transfer half way: the receiver gives up on
// the stalled stream after its idle timeout, closes the dead connection,
// and asks again from where it stopped; the file is verified whole.
func TestFileResume(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	b, dir := fileNode(t, "bob", nil)
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	const size = 8 << 20
	src, sum := writeFile(t, t.TempDir(), "big.iso", size)
	b.files.idle = 500 * time.Millisecond

	gets := make(chan int64, 16)
	stalled, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	a.files.onGet = func(_ peer.ID, _ filewire.ID, off int64) { gets <- off }
	a.files.onChunk = func(sent int64) {
		if sent >= size/2 {
			once.Do(func() {
				close(stalled)
				<-release // the first get stalls here, half way
			})
		}
	}
	defer once.Do(func() {})
	ctx := context.Background()
	id, err := a.OfferFile(ctx, b.id(), src)
	if err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "the offer", isFile(chat.KindFileOffer, id, false))
	if err := b.AcceptFile(ctx, id); err != nil {
		t.Fatal(err)
	}
	next := func(what string) int64 {
		select {
		case off := <-gets:
			return off
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s within 10 s", what)
		}
		return 0
	}
	if off := next("first get"); off != 0 {
		t.Fatalf("first get from %d, want 0", off)
	}
	select {
	case <-stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("the transfer never got half way")
	}
	// bob gives up on the stalled stream and asks again, from what he has.
	resumed := next("get after the stall")
	close(release)
	if resumed <= 0 || resumed > size {
		t.Fatalf("resumed from %d, want from where it stopped (0 < offset <= %d)", resumed, size)
	}
	done := b.wait(15*time.Second, "the resumed file", isFile(chat.KindFileDone, id, false))
	if done.Hash != sum {
		t.Fatalf("hash %s, want %s", done.Hash, sum)
	}
	sameContent(t, src, done.Path)
	noPartials(t, dir)
	offsets := []int64{resumed}
	t.Logf("resumed from %d of %d", offsets[0], size)
}

func TestFileChanged(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	b, dir := fileNode(t, "bob", nil)
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	src, _ := writeFile(t, t.TempDir(), "notes.txt", 4096)
	ctx := context.Background()
	id, err := a.OfferFile(ctx, b.id(), src)
	if err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "the offer", isFile(chat.KindFileOffer, id, false))
	f, err := os.OpenFile(src, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("one more line\n")
	f.Close()
	if err := b.AcceptFile(ctx, id); err != nil {
		t.Fatal(err)
	}
	ev := b.wait(10*time.Second, "the failure", isFile(chat.KindFileFailed, id, false))
	if ev.Text != "the file changed since it was offered" {
		t.Errorf("receiver's failure %q", ev.Text)
	}
	if ev := a.wait(5*time.Second, "the sender's failure", isFile(chat.KindFileFailed, id, true)); ev.Text != "the file changed since it was offered" {
		t.Errorf("sender's failure %q", ev.Text)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != partialDir {
			t.Errorf("file left in the download dir: %s", e.Name())
		}
	}
}

// TestFileMaliciousName offers files under hostile names: each is saved
// inside the download dir under a plain name.
func TestFileMaliciousName(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	b, dir := fileNode(t, "bob", func(c *Config) { c.AutoAccept = true })
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	src, _ := writeFile(t, t.TempDir(), "payload", 100)
	ctx := context.Background()
	for _, tt := range []struct{ name, want string }{
		{"../../etc/passwd", "passwd"},
		{".bashrc", "bashrc"},
		{"CON", "_CON"},
		{"invoice\u202efdp.exe", "invoicefdp.exe"},
		{`..\..\windows\win.ini`, "win.ini"},
		{"..", "file"},
		{"passwd", "passwd (1)"},
	} {
		id, err := a.OfferFileNamed(ctx, b.id(), src, tt.name)
		if err != nil {
			t.Fatalf("OfferFileNamed(%q) = %v", tt.name, err)
		}
		done := b.wait(10*time.Second, "the file named "+tt.name, isFile(chat.KindFileDone, id, false))
		if done.Path != filepath.Join(dir, tt.want) {
			t.Errorf("offered as %q, saved as %q, want %q", tt.name, done.Path, filepath.Join(dir, tt.want))
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "etc")); err == nil {
		t.Errorf("something was written beside the download dir")
	}
}

// TestFileUnsolicited: a peer cannot push a file nobody asked for, nor
// fetch one that was not offered to it.
func TestFileUnsolicited(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	b, bdir := fileNode(t, "bob", nil)
	c, _ := fileNode(t, "carol", nil)
	mesh(a, b, c)
	waitKnown(5*time.Second, a, b, c)
	ctx := context.Background()

	status := func(from *testNode, to *testNode, frames ...filewire.Frame) error {
		s, err := from.host.NewStream(ctx, to.host.ID(), fileProtocol)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.SetDeadline(time.Now().Add(5 * time.Second))
		for _, f := range frames {
			filewire.Write(s, f)
		}
		s.Write(bytes.Repeat([]byte("x"), 1000))
		return readStatus(bufio.NewReader(s))
	}
	// Data pushed at bob: refused, nothing written.
	err := status(a, b, filewire.Frame{Kind: filewire.KindData, Offset: 0, Size: 1000})
	var se *statusError
	if !errors.As(err, &se) || se.code != filewire.CodeBad {
		t.Errorf("pushed data: %v, want a bad-request status", err)
	}
	if ents, _ := os.ReadDir(bdir); len(ents) != 0 {
		t.Errorf("bob's download dir has %d entries after a push", len(ents))
	}
	// A get of an offer never made.
	if err := status(c, a, filewire.Frame{Kind: filewire.KindGet, ID: filewire.ID{9}, Offset: 0}); !errors.As(err, &se) || se.code != filewire.CodeUnknown {
		t.Errorf("get of no offer: %v, want unknown", err)
	}
	// A get by carol of alice's offer to bob.
	src, _ := writeFile(t, t.TempDir(), "secret.txt", 64)
	idText, err := a.OfferFile(ctx, b.id(), src)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := filewire.ParseID(idText)
	if err := status(c, a, filewire.Frame{Kind: filewire.KindGet, ID: id, Offset: 0}); !errors.As(err, &se) || se.code != filewire.CodeRefused {
		t.Errorf("carol's get of bob's offer: %v, want refused", err)
	}
	// carol cannot accept it either: she was never offered it.
	if err := c.AcceptFile(ctx, idText); !errors.Is(err, ErrNoOffer) {
		t.Errorf("carol's AcceptFile = %v, want ErrNoOffer", err)
	}
}

func TestFileLimits(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	b, _ := fileNode(t, "bob", func(c *Config) { c.MaxFileSize = 1000 })
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	ctx := context.Background()
	src, _ := writeFile(t, t.TempDir(), "big", 1001)
	id, err := a.OfferFile(ctx, b.id(), src)
	if err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "the offer", isFile(chat.KindFileOffer, id, false))
	if err := b.AcceptFile(ctx, id); !errors.Is(err, ErrFileTooLarge) {
		t.Errorf("AcceptFile over the limit = %v, want ErrFileTooLarge", err)
	}
	small, _ := writeFile(t, t.TempDir(), "small", 1000)
	id2, err := a.OfferFile(ctx, b.id(), small)
	if err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "the offer", isFile(chat.KindFileOffer, id2, false))
	b.files.space = func(string) (int64, bool) { return fileSpaceReserve, true }
	if err := b.AcceptFile(ctx, id2); !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "is free") {
		t.Errorf("AcceptFile on a full disk = %v, want ErrNoSpace", err)
	}
	b.files.space = diskFree
	if err := b.AcceptFile(ctx, id2); err != nil {
		t.Errorf("AcceptFile = %v", err)
	}
	b.wait(10*time.Second, "the small file", isFile(chat.KindFileDone, id2, false))
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 2_100_000: "2.1 MB", 4 << 30: "4.3 GB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestFileResumeAfterRestart: a room's offer cut off half way is still in
// the room's history after the receiver restarts, and accepting it again
// resumes from the partial file.
func TestFileResumeAfterRestart(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	keep := t.TempDir()
	bobCfg := func(c *Config) {
		c.IdentityPath = filepath.Join(keep, "bob.key")
		c.DataDir = filepath.Join(keep, "data")
		c.DownloadDir = filepath.Join(keep, "downloads")
	}
	b, dir := fileNode(t, "bob", bobCfg)
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	const size = 4 << 20
	src, sum := writeFile(t, t.TempDir(), "big.iso", size)
	gets := make(chan int64, 16)
	stalled, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	a.files.onGet = func(_ peer.ID, _ filewire.ID, off int64) { gets <- off }
	a.files.onChunk = func(sent int64) {
		if sent >= size/2 {
			once.Do(func() { close(stalled); <-release })
		}
	}
	defer once.Do(func() {})
	ctx := context.Background()
	id, err := a.room.OfferFile(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "the offer", isFile(chat.KindFileOffer, id, false))
	if err := b.AcceptFile(ctx, id); err != nil {
		t.Fatal(err)
	}
	<-gets
	select {
	case <-stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("the transfer never got half way")
	}
	// What was sent before the stall is in bob's partial file once it
	// is all read; then bob goes away.
	part := filepath.Join(dir, partialDir, id)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := os.Stat(part)
		if err == nil && st.Size() >= size/2 || time.Now().After(deadline) {
			break
		}
		b.waitOK(20*time.Millisecond, func(chat.Event) bool { return false })
	}
	b.close()

	b2, _ := fileNode(t, "bob", bobCfg)
	b2.connect(a)
	ev := b2.wait(10*time.Second, "the offer from history", isFile(chat.KindFileOffer, id, false))
	if !ev.History {
		t.Errorf("offer after the restart = %+v, want one from history", ev)
	}
	if err := b2.AcceptFile(ctx, id); err != nil {
		t.Fatal(err)
	}
	var resumed int64
	select {
	case resumed = <-gets:
	case <-time.After(10 * time.Second):
		t.Fatal("no get after the restart")
	}
	close(release)
	if resumed < size/2 {
		t.Errorf("resumed from %d, want from the partial file's %d", resumed, size/2)
	}
	done := b2.wait(10*time.Second, "the file", isFile(chat.KindFileDone, id, false))
	if done.Hash != sum {
		t.Fatalf("hash %s, want %s", done.Hash, sum)
	}
	sameContent(t, src, done.Path)
}

// TestFileOfferBound: the offers served are bounded; copies held for a
// room make room first, and a copy never pushes out an offer of ours.
func TestFileOfferBound(t *testing.T) {
	h := startHost(t, testConfig("alice"))
	tr := h.files
	src, _ := writeFile(t, t.TempDir(), "f", 1)
	add := func(n, m byte, holder bool) error {
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		err = tr.register(&outOffer{id: filewire.ID{n, m}, f: f, holder: holder})
		if err != nil {
			f.Close()
		}
		return err
	}
	add(0, 1, true) // the oldest: a copy
	for i := 1; i < maxOutOffers; i++ {
		add(byte(i), 1, false)
	}
	if err := add(0, 2, false); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	_, copyKept := tr.out[filewire.ID{0, 1}]
	_, firstKept := tr.out[filewire.ID{1, 1}]
	n := len(tr.out)
	tr.mu.Unlock()
	if copyKept || !firstKept || n != maxOutOffers {
		t.Errorf("after one offer too many: copy kept %v, oldest offer kept %v, %d served", copyKept, firstKept, n)
	}
	if err := add(1, 2, true); !errors.Is(err, ErrTransferBusy) {
		t.Errorf("a copy with no room = %v, want ErrTransferBusy", err)
	}
}

// waitFor polls cond until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFileDeclineAcceptAgain declines the download of a room's file and
// accepts it again while the first download is still stopping: the one
// stopping must not take the offer's state from the one running (else a
// third accept starts a second download into the same partial file, and
// a decline cannot stop the running one).
func TestFileDeclineAcceptAgain(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	b, _ := fileNode(t, "bob", nil)
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	src, sum := writeFile(t, t.TempDir(), "again.bin", 1<<20)

	gets, release := make(chan struct{}, 64), make(chan struct{})
	a.files.onGet = func(peer.ID, filewire.ID, int64) {
		select {
		case gets <- struct{}{}:
		default:
		}
		<-release
	}
	stopping, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	b.files.onReceived = func(filewire.ID) { once.Do(func() { close(stopping); <-resume }) }
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	defer once.Do(func() {})

	ctx := context.Background()
	id, err := a.room.OfferFile(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "the offer", isFile(chat.KindFileOffer, id, false))
	if err := b.AcceptFile(ctx, id); err != nil {
		t.Fatal(err)
	}
	<-gets
	if err := b.DeclineFile(ctx, id); err != nil {
		t.Fatalf("DeclineFile = %v", err)
	}
	<-stopping // the first download stopped, and waits to say so
	if err := b.AcceptFile(ctx, id); err != nil {
		t.Fatalf("AcceptFile again = %v", err)
	}
	<-gets // the second download asks
	close(resume)
	active := func() int {
		b.files.mu.Lock()
		defer b.files.mu.Unlock()
		return b.files.active
	}
	waitFor(t, 5*time.Second, "end of the first download", func() bool { return active() == 1 })
	if err := b.AcceptFile(ctx, id); !errors.Is(err, ErrOfferState) {
		t.Errorf("AcceptFile while the second download runs = %v, want ErrOfferState", err)
	}
	releaseOnce.Do(func() { close(release) })
	done := b.wait(10*time.Second, "the file", isFile(chat.KindFileDone, id, false))
	if done.Hash != sum {
		t.Errorf("hash %s, want %s", done.Hash, sum)
	}
	sameContent(t, src, done.Path)
}

// TestFileSpaceShared: the disk space a download still needs is kept for
// it: a second download that fits only in the space the first will fill
// is refused.
func TestFileSpaceShared(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	b, _ := fileNode(t, "bob", nil)
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	const size = 1 << 20
	release := make(chan struct{})
	defer close(release)
	a.files.onGet = func(peer.ID, filewire.ID, int64) { <-release }
	b.files.space = func(string) (int64, bool) { return size + size/2 + fileSpaceReserve, true }
	ctx := context.Background()
	var ids []string
	for _, name := range []string{"one.bin", "two.bin"} {
		src, _ := writeFile(t, t.TempDir(), name, size)
		id, err := a.room.OfferFile(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		b.wait(5*time.Second, "the offer of "+name, isFile(chat.KindFileOffer, id, false))
		ids = append(ids, id)
	}
	if err := b.AcceptFile(ctx, ids[0]); err != nil {
		t.Fatalf("AcceptFile(first) = %v", err)
	}
	if err := b.AcceptFile(ctx, ids[1]); !errors.Is(err, ErrNoSpace) {
		t.Errorf("AcceptFile(second) = %v, want ErrNoSpace: the first download needs that space", err)
	}
}

// TestFileProtectEach: two transfers of one offer to one peer at once
// (a receiver asking again before the holder noticed the first stream
// broke): the end of one leaves the connection protected for the other.
func TestFileProtectEach(t *testing.T) {
	// In no room: gossipsub protects the connections of a room's mesh.
	a, b := startHost(t, testConfig("alice")), startHost(t, testConfig("bob"))
	b.connect(a)
	const size = 64 << 10
	src, _ := writeFile(t, t.TempDir(), "twice.bin", size)
	ctx := context.Background()
	idText, err := a.OfferFile(ctx, b.id(), src)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := filewire.ParseID(idText)

	var chunks sync.Mutex
	first := true
	held, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	a.files.onChunk = func(int64) {
		chunks.Lock()
		hold := first
		first = false
		chunks.Unlock()
		if hold {
			close(held)
			<-release
		}
	}
	get := func() (network.Stream, *bufio.Reader) {
		s, err := b.host.NewStream(ctx, a.host.ID(), fileProtocol)
		if err != nil {
			t.Fatal(err)
		}
		s.SetDeadline(time.Now().Add(10 * time.Second))
		if err := filewire.Write(s, filewire.Frame{Kind: filewire.KindGet, ID: id}); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(s)
		if f, err := filewire.Read(br); err != nil || f.Kind != filewire.KindData {
			t.Fatalf("answer to a get: %+v, %v", f, err)
		}
		return s, br
	}
	s1, _ := get()
	defer s1.Reset()
	<-held // the first transfer is under way, and holds
	s2, br2 := get()
	if _, err := io.CopyN(io.Discard, br2, size); err != nil {
		t.Fatalf("second transfer: %v", err)
	}
	writeStatus(s2, filewire.CodeOK, "")
	s2.Close()
	serving := func() int {
		a.files.mu.Lock()
		defer a.files.mu.Unlock()
		return a.files.nserving
	}
	waitFor(t, 5*time.Second, "end of the second transfer", func() bool { return serving() == 1 })
	if !a.host.ConnManager().IsProtected(b.host.ID(), "") {
		t.Errorf("the connection to bob is no longer protected, the first transfer still running")
	}
}

// TestFilePartialNoFollow: the partial files are kept private, and a
// symbolic link where a partial file goes is never followed: the file it
// points to is neither written nor truncated (a hash mismatch truncates
// the partial file).
func TestFilePartialNoFollow(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no symbolic links or modes to test here")
	}
	a, _ := fileNode(t, "alice", nil)
	b, dir := fileNode(t, "bob", nil)
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	src, _ := writeFile(t, t.TempDir(), "data.bin", 4096)
	ctx := context.Background()
	id, err := a.OfferFile(ctx, b.id(), src)
	if err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "the offer", isFile(chat.KindFileOffer, id, false))

	// Someone made the partial folder open to all, and left a link in it.
	partials := filepath.Join(dir, partialDir)
	if err := os.MkdirAll(partials, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(partials, 0o777)
	victim := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(partials, id)); err != nil {
		t.Fatal(err)
	}
	if err := b.AcceptFile(ctx, id); err != nil {
		t.Fatalf("AcceptFile = %v", err)
	}
	ev := b.wait(10*time.Second, "the outcome", func(ev chat.Event) bool {
		return ev.ID == id && (ev.Kind == chat.KindFileDone || ev.Kind == chat.KindFileFailed)
	})
	if want := "is a symbolic link"; ev.Kind != chat.KindFileFailed || !strings.HasSuffix(ev.Text, want) {
		t.Errorf("outcome %v %q, want a failure ending %q", ev.Kind, ev.Text, want)
	}
	if got, _ := os.ReadFile(victim); string(got) != "precious" {
		t.Errorf("the file the link points to holds %q, want %q", got, "precious")
	}
	if st, err := os.Lstat(partials); err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Errorf("partial folder: %v, %v; want mode 0700", st.Mode(), err)
	}
}

// TestFileSync: the writeback and sync of a download work on a file of
// the test's temporary dir (a wrong system call fails here, not silently
// in a transfer).
func TestFileSync(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "sync"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 3*fileSyncEvery)
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	writeback(f, 0, 0, fileSyncEvery)
	writeback(f, 0, fileSyncEvery, 2*fileSyncEvery)
	if err := datasync(f); err != nil {
		t.Errorf("datasync = %v", err)
	}
	f.Close()
	if err := datasync(f); err == nil {
		t.Errorf("datasync of a closed file = nil, want an error")
	}
}

// TestFileSenderCut: a transfer the receiver stops half way (a room's
// offer, declined: the offerer is not told) ends on the sender's side
// too, as a failure, not as progress that never ends.
func TestFileSenderCut(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	b, _ := fileNode(t, "bob", nil)
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	const size = 4 << 20
	src, _ := writeFile(t, t.TempDir(), "cut.bin", size)
	half, release := make(chan struct{}), make(chan struct{})
	var once, releaseOnce sync.Once
	a.files.onChunk = func(sent int64) {
		if sent >= size/2 {
			once.Do(func() { close(half); <-release })
		}
	}
	defer releaseOnce.Do(func() { close(release) })
	ctx := context.Background()
	id, err := a.room.OfferFile(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "the offer", isFile(chat.KindFileOffer, id, false))
	if err := b.AcceptFile(ctx, id); err != nil {
		t.Fatal(err)
	}
	<-half
	a.wait(5*time.Second, "the sender's progress", isFile(chat.KindFileProgress, id, true))
	if err := b.DeclineFile(ctx, id); err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "the decline", isFile(chat.KindFileFailed, id, false))
	releaseOnce.Do(func() { close(release) })
	ev := a.wait(10*time.Second, "the end of the transfer on the sender's side", isFile(chat.KindFileFailed, id, true))
	if ev.PeerID != b.id() || ev.Text == "" {
		t.Errorf("sender's failure = %+v, want bob's, with why", ev)
	}
}

// TestFileBadHolder: a member that serves a room's file wrong (here
// while the offerer is busy) cannot make the download fail: the bytes it
// sent are dropped, it is not asked again, and the file comes from the
// offerer once it can serve.
func TestFileBadHolder(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	b, _ := fileNode(t, "bob", nil)
	m, _ := fileNode(t, "mallory", nil)
	mesh(a, b, m)
	waitKnown(5*time.Second, a, b, m)
	const size = 1 << 20
	src, sum := writeFile(t, t.TempDir(), "good.bin", size)
	ctx := context.Background()
	idText, err := a.room.OfferFile(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "the offer", isFile(chat.KindFileOffer, idText, false))
	id, _ := filewire.ParseID(idText)

	// mallory holds other bytes under the offer's ID.
	junk, _ := writeFile(t, t.TempDir(), "junk.bin", size)
	jf, err := os.Open(junk)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := jf.Stat()
	if err := m.files.register(&outOffer{id: id, name: "good.bin", path: junk, f: jf, size: size,
		mtime: st.ModTime(), room: testRoom, holder: true}); err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{}, 16)
	m.files.onGet = func(peer.ID, filewire.ID, int64) {
		select {
		case served <- struct{}{}:
		default:
		}
	}
	busy := func(on bool) {
		a.files.mu.Lock()
		defer a.files.mu.Unlock()
		if on {
			a.files.nserving = maxServing
		} else {
			a.files.nserving = 0
		}
	}
	busy(true)
	if err := b.AcceptFile(ctx, idText); err != nil {
		t.Fatal(err)
	}
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("mallory was never asked")
	}
	busy(false)
	ev := b.wait(20*time.Second, "the outcome", func(ev chat.Event) bool {
		return ev.ID == idText && (ev.Kind == chat.KindFileDone || ev.Kind == chat.KindFileFailed)
	})
	if ev.Kind != chat.KindFileDone || ev.Hash != sum {
		t.Fatalf("outcome %v %q, want the file", ev.Kind, ev.Text)
	}
	sameContent(t, src, ev.Path)
}

// TestFilePrunePartials: partial files no offer can bring back (older
// than the log keeps a line) are removed at the first accept; others stay.
func TestFilePrunePartials(t *testing.T) {
	a, _ := fileNode(t, "alice", nil)
	b, dir := fileNode(t, "bob", nil)
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	partials := filepath.Join(dir, partialDir)
	if err := os.MkdirAll(partials, 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-DefaultHistoryMaxAge - time.Hour)
	files := map[string]bool{ // name: whether it stays
		"0123456789abcdef": false, // an old partial file
		"fedcba9876543210": true,  // a recent one
		"notes.txt":        true,  // not a partial file
	}
	for name := range files {
		p := filepath.Join(partials, name)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if name != "fedcba9876543210" {
			os.Chtimes(p, old, old)
		}
	}
	src, _ := writeFile(t, t.TempDir(), "x.bin", 100)
	ctx := context.Background()
	id, err := a.OfferFile(ctx, b.id(), src)
	if err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "the offer", isFile(chat.KindFileOffer, id, false))
	if err := b.AcceptFile(ctx, id); err != nil {
		t.Fatal(err)
	}
	b.wait(10*time.Second, "the file", isFile(chat.KindFileDone, id, false))
	for name, stays := range files {
		_, err := os.Stat(filepath.Join(partials, name))
		if got := err == nil; got != stays {
			t.Errorf("%s: there %v, want %v", name, got, stays)
		}
	}
}
