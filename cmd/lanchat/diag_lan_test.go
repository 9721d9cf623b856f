package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lanchat/internal/netns"
	"lanchat/node"
)

// TestDiagnoseFirewallLAN: the real binary tells the user, in one notice,
// why it finds nobody — here a firewall dropping mDNS, and a cable out
// from the start (told at once, instead of "waiting for the network" and
// not as a connection down: it had nobody to lose) — but not when a
// peer is with it anyway (--peer), nor when nothing is wrong (a host
// alone on its LAN whose own answers come back). The other reasons are
// produced by discovery's own namespace tests (discovery/diagnose_lan_test.go);
// a different key nearby by TestLAN (its h6).
func TestDiagnoseFirewallLAN(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary on a network-namespace LAN; skipped with -short")
	}
	lan := netns.New(t, 4)
	lan.Host(1).BlockMDNS()
	lan.Host(3).BlockMDNS()
	lan.Host(4).Unplug()
	bin := testBinary(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "swarm.key")
	if err := os.WriteFile(keyFile, node.FormatSwarmKey(node.DeriveKey("diag")), 0o600); err != nil {
		t.Fatal(err)
	}
	key := []string{"--key-file", keyFile}
	open := startLanchat(t, bin, lan.Host(2), dir, "open", key...)
	open.waitReady(t)
	walled := startLanchat(t, bin, lan.Host(1), dir, "walled", key...)
	peered := startLanchat(t, bin, lan.Host(3), dir, "peered", append([]string{"--peer", reachAddr(t, open)}, key...)...)
	unplugged := startLanchat(t, bin, lan.Host(4), dir, "unplugged", key...)
	walled.waitReady(t)
	peered.waitReady(t)
	unplugged.waitReady(t)
	peered.waitFor(t, 10*time.Second, "join of open", joinOf(open))

	firewall := func(e lanEvent) bool {
		return e.Type == "notice" && strings.Contains(e.Text, "a firewall may block mDNS")
	}
	e := walled.waitFor(t, 15*time.Second, "the firewall notice", firewall)
	t.Logf("walled host told %v after its start: %q", e.at.Sub(walled.started).Round(time.Millisecond), e.Text)
	if d := e.at.Sub(walled.started); d < 3*time.Second {
		t.Errorf("told %v after the start, want after the queries' 3 s", d)
	}
	// The others judged two windows (their debug logs say so): a notice
	// for the first would be out seconds before the second.
	for _, p := range []*lanProc{open, peered} {
		deadline := time.Now().Add(20 * time.Second)
		for judged(p) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no two diagnosis windows judged within 20s", p.nick)
			}
			time.Sleep(50 * time.Millisecond) // polling the log for an event
		}
		for _, ev := range p.all() {
			if ev.Type == "notice" && strings.HasPrefix(ev.Text, "nobody found") {
				t.Errorf("%s was told %q, want no diagnosis (connected, or nothing wrong)", p.nick, ev.Text)
			}
		}
	}
	notices := 0
	for _, ev := range walled.all() {
		if ev.Type == "notice" {
			notices++
		}
	}
	if notices != 1 {
		t.Errorf("walled host got %d notices, want the firewall one once", notices)
	}

	noLink := func(e lanEvent) bool {
		return e.Type == "notice" && strings.Contains(e.Text, "nobody found: eth0 has no link")
	}
	e = unplugged.waitFor(t, 5*time.Second, "the no-carrier notice", noLink)
	t.Logf("unplugged host told %v after its start: %q", e.at.Sub(unplugged.started).Round(time.Millisecond), e.Text)
	lan.Host(4).Replug()
	unplugged.waitFor(t, 15*time.Second, "join of open, the cable back", joinOf(open))
	for _, ev := range unplugged.all() {
		if ev.Type == "notice" && ev.Text != e.Text && !strings.HasPrefix(ev.Text, "local discovery works again") {
			t.Errorf("unplugged host was told %q, want only %q (and that discovery works again)", ev.Text, e.Text)
		}
	}
}

// judged returns how many diagnosis windows p's discovery judged, from
// its log (-v).
func judged(p *lanProc) int {
	b, _ := os.ReadFile(p.logFile)
	return strings.Count(string(b), `msg="mdns diagnosis"`)
}
