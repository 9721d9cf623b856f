package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTmuxFileProgress sends a file between two real lanchat binaries in
// tmux over loopback and watches the receiver's progress bar, with its
// speed and time left, then the sender's and the receiver's verdicts.
func TestTmuxFileProgress(t *testing.T) {
	tm, bin, dir := startTmuxTest(t)
	// A sparse file: big enough for the bar to be seen moving, cheap to make.
	src := filepath.Join(dir, "big.iso")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(256 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()

	alice := tm.start(t, "alice", bin, dir)
	addr := waitListenAddr(t, filepath.Join(dir, "alice.log"))
	alice.waitFor(t, "alice's screen", contains("Welcome to #lobby"))
	downloads := filepath.Join(dir, "downloads")
	bob := tm.start(t, "bob", bin, dir, "--peer", addr, "--download-dir", downloads)
	alice.waitFor(t, "bob joined", contains("--> bob joined"))
	bob.waitFor(t, "bob's screen", contains("Welcome to #lobby"))

	alice.typeLine(t, "/send bob "+src)
	alice.waitFor(t, "alice's own offer", contains("you offer big.iso (268.4 MB) to bob"))
	bob.waitFor(t, "the offer", contains("alice offers big.iso (268.4 MB) — /accept "))
	bob.typeLine(t, "/accept")
	moving := bob.waitFor(t, "the progress bar", contains("⇣ big.iso ← alice"), contains("█"), contains("MB/s"), contains(" left"), fits(100, 30))
	t.Logf("bob, receiving:\n%s", moving)
	sending := alice.waitFor(t, "the sender's bar", contains("⇡ big.iso → bob"))
	t.Logf("alice, sending:\n%s", sending)
	done := bob.waitFor(t, "the file received", contains("received big.iso (268.4 MB) from alice, verified:"),
		containsWrapped(filepath.Join(downloads, "big.iso")), contains("100%  done, verified"))
	t.Logf("bob, done:\n%s", done)
	alice.waitFor(t, "the sender's verdict", contains("bob received big.iso (268.4 MB), verified"))
	if st, err := os.Stat(filepath.Join(downloads, "big.iso")); err != nil || st.Size() != 256<<20 {
		t.Fatalf("received file: %v, %v", st, err)
	}
	bar := ""
	for _, l := range strings.Split(moving, "\n") {
		if strings.Contains(l, "⇣ big.iso") {
			bar = l
		}
	}
	if !strings.Contains(bar, "%") {
		t.Errorf("the bar's row has no percentage: %q", bar)
	}
	for _, p := range []*pane{bob, alice} {
		p.typeLine(t, ":end")
		if code := p.waitExit(t); code != "0" {
			t.Errorf("%s exited with status %s, want 0; stderr: %s", p.name, code, p.stderr())
		}
	}
}
