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

// Across sites: two LANs joined by a router, mDNS off everywhere, one
// bootstrap node (--dht) on LAN 1 and members on both LANs given only
// --bootstrap. The figures go into one line starting with "LAN DHT
// summary:".
const (
	dhtJoinTarget = 5 * time.Second  // all members in one room, after the last start
	dhtJoinLimit  = 30 * time.Second // ... fails the test
	// dhtFindLimit bounds the wait for the last member's log to show the
	// others found in the DHT: its first lookup, or the next one 30 s
	// later if the others' records were not stored yet.
	dhtFindLimit = 40 * time.Second
	dhtRoom      = "sites"
)

// TestDHTAcrossSites: boot (LAN 1, --dht, in no room of the members) and
// m1 (LAN 1), m2, m3 (LAN 2), each member started with --no-mdns and
// only --bootstrap boot: none was told of another. The three meet in room
// "sites", and the last one's log shows both others found in the DHT.
//
// Without the DHT nothing brings them together: no mDNS, no --peer, no
// remembered peer (fresh data dirs), and the bootstrap node is only a
// bootstrap node. (Once connected to it, its peer exchange tells them of
// each other too: the test asserts that the DHT found them, not that
// only the DHT could have.)
func TestDHTAcrossSites(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary on two network-namespace LANs joined by a router; skipped with -short")
	}
	r := netns.NewRouted(t, 2, 2)
	bin := testBinary(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "swarm.key")
	if err := os.WriteFile(keyFile, node.FormatSwarmKey(node.DeriveKey("sites")), 0o600); err != nil {
		t.Fatal(err)
	}
	key := []string{"--key-file", keyFile}
	var join, found time.Duration
	defer func() {
		vs := fmt.Sprintf("target %v", dhtJoinTarget)
		if join > dhtJoinTarget {
			vs = fmt.Sprintf("MISSED target %v", dhtJoinTarget)
		}
		reportSummary(t, fmt.Sprintf("LAN DHT summary: a bootstrap node and 1+2 members on two subnets, --no-mdns, only --bootstrap: "+
			"all 3 in one room %s after the last start (%s); the last one's DHT lookup found both others %s after its start",
			figure(join), vs, figure(found)))
	}()

	boot := startHist(t, bin, r.LAN(1).Host(1), dir, "boot", key, "--dht", "--no-mdns")
	bootAddr := reachAddr(t, boot)
	member := func(h *netns.Host, nick string) *lanProc {
		return startHist(t, bin, h, dir, nick, key, "--no-mdns", "--bootstrap", bootAddr, "--room", dhtRoom)
	}
	m1 := member(r.LAN(1).Host(2), "m1")
	m2 := member(r.LAN(2).Host(1), "m2")
	m3 := member(r.LAN(2).Host(2), "m3")
	members := []*lanProc{m1, m2, m3}

	end := time.Now().Add(dhtJoinLimit)
	var last time.Time
	for _, p := range members {
		for _, q := range members {
			if p == q {
				continue
			}
			e := p.waitFor(t, max(time.Until(end), 0), "join of "+q.nick+" in "+dhtRoom, func(e lanEvent) bool {
				return joinOf(q)(e) && e.Room == dhtRoom
			})
			last = later(last, e.at)
		}
	}
	join = last.Sub(m3.started)
	t.Logf("dht: all 3 members in one room %v after the last start", join.Round(time.Millisecond))

	// The last member's lookups found the other two.
	deadline := time.Now().Add(dhtFindLimit)
	for {
		log, _ := os.ReadFile(m3.logFile)
		at1, ok1 := foundIn(string(log), m1.id)
		at2, ok2 := foundIn(string(log), m2.id)
		if ok1 && ok2 {
			found = later(at1, at2).Sub(m3.started)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("m3's log shows no DHT find of m1 and m2 within %v:\n%s", dhtFindLimit, log)
		}
		time.Sleep(100 * time.Millisecond) // polling a file: no event to wait on
	}

	for _, p := range append(members, boot) {
		p.say(t, ":end")
	}
	for _, p := range append(members, boot) {
		if code := p.waitExit(t, 10*time.Second); code != 0 {
			t.Errorf("%s exit code after :end = %d, want 0", p.nick, code)
		}
	}
}

// foundIn returns the time of the first line of log in which a DHT
// lookup found peer id, and whether there is one.
func foundIn(log, id string) (time.Time, bool) {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "dht: found a member") || !strings.Contains(line, id) {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		return at, err == nil
	}
	return time.Time{}, false
}
