package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lanchat/internal/netns"
	"lanchat/node"
)

// Reach across subnets: two LANs joined by a router (netns.NewRouted), so
// that mDNS finds only the members of its own LAN. The figures go into one
// line starting with "LAN reach summary:" (go test -v, or the failure
// output; .ci/run collects it).
const (
	reachJoinTarget = 5 * time.Second  // all four in one room, after the last start
	reachJoinLimit  = 20 * time.Second // ... fails the test
)

// reachSummary holds the figures of TestReach.
type reachSummary struct {
	join, direct, restart time.Duration
}

func (s reachSummary) String() string {
	vs := func(d, target time.Duration) string {
		if d > target {
			return fmt.Sprintf("MISSED target %v", target)
		}
		return fmt.Sprintf("target %v", target)
	}
	return fmt.Sprintf("LAN reach summary: 2+2 hosts on two subnets, one --peer across: all 4 in one room %s after the last start (%s); "+
		"with the bridge gone, a line across in %s; the bridge restarted with --no-mdns and no --peer: back in the room in %s (%s)",
		figure(s.join), vs(s.join, reachJoinTarget), figure(s.direct), figure(s.restart), vs(s.restart, reachJoinTarget))
}

// reachAddr returns p's --peer address on its LAN (from its ready line).
func reachAddr(t *testing.T, p *lanProc) string {
	t.Helper()
	for _, a := range p.ready.Addrs {
		if strings.HasPrefix(a, "/ip4/"+p.host.IP().String()+"/tcp/") {
			return a
		}
	}
	t.Fatalf("%s has no address on its LAN in %v", p.nick, p.ready.Addrs)
	return ""
}

// waitRoom waits until each of ps has seen every other join, after
// since, within d of now, and returns when the last join came.
func waitRoom(t *testing.T, d time.Duration, since time.Time, ps ...*lanProc) time.Time {
	t.Helper()
	return waitMet(t, d, since, ps, ps)
}

// waitMet waits until each of ps has seen each of qs join and each of qs
// each of ps, after since, within d of now, and returns when the last
// join came.
func waitMet(t *testing.T, d time.Duration, since time.Time, ps, qs []*lanProc) time.Time {
	t.Helper()
	end := time.Now().Add(d)
	var last time.Time
	pairs := func(ps, qs []*lanProc) {
		for _, p := range ps {
			for _, q := range qs {
				if p == q {
					continue
				}
				e := p.waitFor(t, max(time.Until(end), 0), "join of "+q.nick, func(e lanEvent) bool {
					return joinOf(q)(e) && e.at.After(since)
				})
				last = later(last, e.at)
			}
		}
	}
	pairs(ps, qs)
	pairs(qs, ps)
	return last
}

// TestReach: a on LAN 1 with b, c on LAN 2 with d; only c is given a
// peer (--peer a). The four meet in one room (peer exchange: a and c tell
// their LAN of each other, and each dials the ones it is told of). With a
// gone, b's lines still reach c and d: b is directly connected to them,
// not only through a. Then a, restarted with --no-mdns and no --peer,
// finds the room again from the peers it remembers.
//
// Each half fails without its feature: without peer exchange b, c and d
// still see each other join (gossipsub relays through a) but the line
// after a's leave reaches neither c nor d; without remembered peers a
// restarted alone meets nobody.
func TestReach(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary on two network-namespace LANs joined by a router; skipped with -short")
	}
	r := netns.NewRouted(t, 2, 2)
	bin := testBinary(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "swarm.key")
	if err := os.WriteFile(keyFile, node.FormatSwarmKey(node.DeriveKey("reach")), 0o600); err != nil {
		t.Fatal(err)
	}
	key := []string{"--key-file", keyFile}
	var sum reachSummary
	defer func() { reportSummary(t, sum.String()) }()

	a := startHist(t, bin, r.LAN(1).Host(1), dir, "a", key)
	b := startLanchat(t, bin, r.LAN(1).Host(2), dir, "b", append([]string{"--data-dir", histDataDir(dir, "b")}, key...)...)
	d := startLanchat(t, bin, r.LAN(2).Host(2), dir, "d", append([]string{"--data-dir", histDataDir(dir, "d")}, key...)...)
	c := startLanchat(t, bin, r.LAN(2).Host(1), dir, "c", append([]string{"--data-dir", histDataDir(dir, "c"), "--peer", reachAddr(t, a)}, key...)...)
	lastStart := c.started
	for _, p := range []*lanProc{b, c, d} {
		p.waitReady(t)
	}
	all := []*lanProc{a, b, c, d}
	joined := waitRoom(t, reachJoinLimit, time.Time{}, all...)
	sum.join = joined.Sub(lastStart)
	t.Logf("reach: all 4 of two subnets in one room %v after the last start", sum.join.Round(time.Millisecond))
	if sum.join > reachJoinLimit {
		t.Errorf("all 4 in one room after %v, want ≤ %v", sum.join, reachJoinLimit)
	}

	// a, the only link given, leaves: b's line still reaches c and d.
	a.say(t, ":end")
	if code := a.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("a exit code after :end = %d, want 0", code)
	}
	for _, p := range []*lanProc{b, c, d} {
		p.waitFor(t, 5*time.Second, "a left (quit)", leaveOf(a, "quit"))
	}
	sent := time.Now()
	b.say(t, "still here across the router")
	for _, p := range []*lanProc{c, d} {
		e := p.waitFor(t, 10*time.Second, "b's line without a", func(e lanEvent) bool {
			return e.Type == "message" && e.Text == "still here across the router" && e.PeerID == b.id
		})
		sum.direct = max(sum.direct, e.at.Sub(sent))
	}
	t.Logf("reach: with a gone, b's line reached c and d in %v", sum.direct.Round(time.Millisecond))

	// a comes back with no mDNS and no --peer: only what it remembers.
	left := time.Now()
	a2 := startHist(t, bin, r.LAN(1).Host(1), dir, "a", key, "--no-mdns")
	if a2.id != a.id {
		t.Fatalf("a restarted with peer ID %s, want %s", a2.id, a.id)
	}
	back := waitMet(t, reachJoinLimit, left, []*lanProc{a2}, []*lanProc{b, c, d})
	sum.restart = back.Sub(a2.started)
	t.Logf("reach: a restarted with --no-mdns back in the room (all saw each other) %v after its start", sum.restart.Round(time.Millisecond))
	if sum.restart > reachJoinLimit {
		t.Errorf("a back in the room after %v, want ≤ %v", sum.restart, reachJoinLimit)
	}
	for _, p := range []*lanProc{a2, b, c, d} {
		p.say(t, ":end")
	}
	for _, p := range []*lanProc{a2, b, c, d} {
		if code := p.waitExit(t, 10*time.Second); code != 0 {
			t.Errorf("%s exit code after :end = %d, want 0", p.nick, code)
		}
	}
}

// inviteLine types /invite (with arg) on p and returns the line of its
// answer.
func inviteLine(t *testing.T, p *lanProc, arg, prefix string) string {
	t.Helper()
	p.say(t, strings.TrimSpace("/invite "+arg))
	e := p.waitFor(t, 5*time.Second, "the invitation", func(e lanEvent) bool {
		return e.Type == "notice" && strings.Contains(e.Text, " "+prefix)
	})
	f := strings.Fields(e.Text)
	return f[len(f)-1]
}

// TestReachInvite: a newcomer on the other subnet joins with the line of
// /invite and the passphrase; another with the line of /invite key alone
// (it holds the key). Without the invitations neither has any way across
// (the second not even the key).
func TestReachInvite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary on two network-namespace LANs joined by a router; skipped with -short")
	}
	r := netns.NewRouted(t, 2, 2)
	bin := testBinary(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "swarm.key")
	if err := os.WriteFile(keyFile, node.FormatSwarmKey(node.DeriveKey("reach")), 0o600); err != nil {
		t.Fatal(err)
	}
	key := []string{"--key-file", keyFile}
	var joined, secretJoined time.Duration
	var plain, secret string
	defer func() {
		reportSummary(t, fmt.Sprintf("LAN reach invite summary: a newcomer across the router with /invite and the passphrase in the room %s after its start, "+
			"one with /invite key alone %s after its start; lines of %d and %d characters",
			figure(joined), figure(secretJoined), len(plain), len(secret)))
	}()
	a := startHist(t, bin, r.LAN(1).Host(1), dir, "a", key)
	b := startHist(t, bin, r.LAN(1).Host(2), dir, "b", key)
	waitRoom(t, 10*time.Second, time.Time{}, a, b)

	plain = inviteLine(t, a, "", "lanchat:")
	c := startHist(t, bin, r.LAN(2).Host(1), dir, "c", []string{"--key", "reach"}, "--join-invite", plain)
	joined = waitRoom(t, reachJoinLimit, time.Time{}, a, b, c).Sub(c.started)
	t.Logf("reach: c joined with %q in %v", plain, joined.Round(time.Millisecond))

	secret = inviteLine(t, a, "key", "lanchat-secret:")
	d := startHist(t, bin, r.LAN(2).Host(2), dir, "d", nil, "--join-invite", secret)
	secretJoined = waitRoom(t, reachJoinLimit, time.Time{}, a, b, c, d).Sub(d.started)
	t.Logf("reach: d joined with the secret line (%d characters) in %v", len(secret), secretJoined.Round(time.Millisecond))
	for _, p := range []*lanProc{a, b, c, d} {
		p.say(t, ":end")
	}
	for _, p := range []*lanProc{a, b, c, d} {
		if code := p.waitExit(t, 10*time.Second); code != 0 {
			t.Errorf("%s exit code after :end = %d, want 0", p.nick, code)
		}
	}
}
