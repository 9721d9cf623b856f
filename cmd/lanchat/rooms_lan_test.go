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

// lanRoom is one entry of a "rooms" answer.
type lanRoom struct {
	Room    string `json:"room"`
	ID      string `json:"id"`
	Members int    `json:"members"`
	Joined  bool   `json:"joined"`
	Private bool   `json:"private"`
}

// TestLANRooms is the end-to-end test of rooms (issue 7): the real binary on
// three network-namespace hosts, found by mDNS, in JSON mode:
//
//	h1 --room lobby --room dev, h2 and h3 --room lobby: all meet in lobby
//	h2 /join #dev: h1 and h2 meet in dev, h3 is not there
//	h3 /rooms: lobby with 3 members (joined), dev with 2 (not joined)
//	h1 /say dev …: reaches h2 in dev, never h3
//	h2's plain line goes to its current room, dev (the last joined)
//	h2 /part: its own leave in dev; h1 sees it quit dev and nothing else:
//	   in lobby h2 is still there and chatting
//	h1, h2 /join secret with the same passphrase, h3 with another one:
//	   h1 and h2 chat there, h3 sees nobody and nothing of it
//	:end everywhere: exit 0
func TestLANRooms(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary on three network-namespace hosts; skipped with -short")
	}
	lan := netns.New(t, 3)
	bin := testBinary(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "swarm.key")
	if err := os.WriteFile(keyFile, node.FormatSwarmKey(node.DeriveKey("rooms")), 0o600); err != nil {
		t.Fatal(err)
	}
	key := []string{"--key-file", keyFile}
	var sum struct{ join, rooms, say, part, private, privMsg time.Duration }
	defer func() {
		f := figure
		reportSummary(t, fmt.Sprintf("LAN rooms summary: /join met the room's member in %s; /rooms complete %s after; "+
			"/say to another room delivered in %s; /part seen as quit in %s, other rooms intact; "+
			"private room met in %s, its line delivered in %s, outsider saw nothing",
			f(sum.join), f(sum.rooms), f(sum.say), f(sum.part), f(sum.private), f(sum.privMsg)))
	}()
	h1 := startLanchat(t, bin, lan.Host(1), dir, "h1", append(key, "--room", "dev")...)
	h2 := startLanchat(t, bin, lan.Host(2), dir, "h2", key...)
	h3 := startLanchat(t, bin, lan.Host(3), dir, "h3", key...)
	all := []*lanProc{h1, h2, h3}
	for _, p := range all {
		p.waitReady(t)
	}
	if got := readyRooms(t, h1); strings.Join(got, ",") != "lobby,dev" {
		t.Errorf("h1's ready line lists rooms %q, want lobby,dev", got)
	}
	for _, p := range all {
		for _, q := range all {
			if p != q {
				p.waitFor(t, 10*time.Second, "join of "+q.nick+" in lobby", joinIn(q, "lobby"))
			}
		}
	}

	// /join: h2 meets h1 in dev; its own join comes first.
	joined := time.Now()
	h2.say(t, "/join #dev")
	h2.waitFor(t, 5*time.Second, "own join in dev", func(e lanEvent) bool {
		return e.Type == "join" && e.Room == "dev" && e.Self
	})
	h2.waitFor(t, 10*time.Second, "join of h1 in dev", joinIn(h1, "dev"))
	e := h1.waitFor(t, 10*time.Second, "join of h2 in dev", joinIn(h2, "dev"))
	sum.join = e.at.Sub(joined)
	asked := time.Now()

	// /rooms from a node that is only in lobby. Rooms are known from the
	// subscriptions peers announce, which may trail the joins by a moment:
	// ask again until the answer is complete, as a user would.
	var rooms []lanRoom
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := len(h3.all())
		h3.say(t, "/rooms")
		e := h3.waitFor(t, 5*time.Second, "rooms answer", func(e lanEvent) bool { return e.Type == "rooms" && e.seq >= before })
		rooms = nil
		if err := json.Unmarshal(e.Rooms, &rooms); err != nil {
			t.Fatalf("rooms answer %s: %v", e.raw, err)
		}
		if hasRoom(rooms, lanRoom{Room: "lobby", Members: 3, Joined: true}) &&
			hasRoom(rooms, lanRoom{Room: "dev", Members: 2, Joined: false}) {
			sum.rooms = e.at.Sub(asked)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("h3 /rooms = %+v, want lobby with 3 members (joined) and dev with 2 (not joined)", rooms)
		}
		time.Sleep(100 * time.Millisecond) // the user's pace between two /rooms
	}

	// /say to a room other than the current one, and a plain line to the
	// current room (h2's is dev, the last it joined).
	said := time.Now()
	h1.say(t, "/say dev only for dev")
	sum.say = h2.waitFor(t, 5*time.Second, "h1's line in dev", messageIn(h1, "dev", "only for dev")).at.Sub(said)
	h2.say(t, "dev is my current room")
	h1.waitFor(t, 5*time.Second, "h2's line in dev", messageIn(h2, "dev", "dev is my current room"))
	h1.say(t, "hello lobby")
	for _, p := range []*lanProc{h2, h3} {
		p.waitFor(t, 5*time.Second, "h1's line in lobby", messageIn(h1, "lobby", "hello lobby"))
	}

	// /part leaves dev only: a graceful leave there, and h2 stays in lobby,
	// connected and chatting, lost nowhere.
	parted := time.Now()
	h2.say(t, "/part")
	h2.waitFor(t, 5*time.Second, "own leave of dev", func(e lanEvent) bool {
		return e.Type == "leave" && e.Room == "dev" && e.Self && e.Reason == "quit"
	})
	e = h1.waitFor(t, 5*time.Second, "h2 quit dev", func(e lanEvent) bool {
		return leaveOf(h2, "quit")(e) && e.Room == "dev"
	})
	sum.part = e.at.Sub(parted)
	h2.say(t, "still in lobby")
	for _, p := range []*lanProc{h1, h3} {
		p.waitFor(t, 5*time.Second, "h2's line in lobby after the part", messageIn(h2, "lobby", "still in lobby"))
	}

	// A private room: the same name with the same passphrase meets, with
	// another passphrase it is another room.
	privStart := time.Now()
	h1.say(t, "/join secret tea-at-five")
	h2.say(t, "/join secret tea-at-five")
	h3.say(t, "/join secret coffee")
	sum.private = h1.waitFor(t, 10*time.Second, "h2 in secret", joinIn(h2, "secret")).at.Sub(privStart)
	h2.waitFor(t, 10*time.Second, "h1 in secret", joinIn(h1, "secret"))
	h3.waitFor(t, 5*time.Second, "own join in its secret", func(e lanEvent) bool {
		return e.Type == "join" && e.Room == "secret" && e.Self
	})
	said = time.Now()
	h1.say(t, "/say secret the cake is in the fridge")
	sum.privMsg = h2.waitFor(t, 5*time.Second, "h1's secret line", messageIn(h1, "secret", "the cake is in the fridge")).at.Sub(said)

	// Until now h2 has left dev only: nobody saw it leave elsewhere.
	for _, p := range []*lanProc{h1, h3} {
		for _, e := range p.all() {
			if e.PeerID == h2.id && e.Type == "leave" && (e.Room != "dev" || e.Reason != "quit") {
				t.Errorf("%s saw h2 leave outside dev, or lost: %s", p.nick, e.raw)
			}
		}
	}
	for _, p := range all {
		p.say(t, ":end")
	}
	for _, p := range all {
		if code := p.waitExit(t, 10*time.Second); code != 0 {
			t.Errorf("%s exit code after :end = %d, want 0", p.nick, code)
		}
	}

	// What must never have happened.
	for _, e := range h3.all() {
		if e.Type == "message" && (e.Room == "dev" || e.Room == "secret") ||
			e.Type == "join" && e.Room == "secret" && !e.Self ||
			strings.Contains(e.raw, "cake") {
			t.Errorf("h3 saw %s", e.raw)
		}
	}
	for _, p := range all {
		for _, e := range p.all() {
			if e.Type == "leave" && e.Reason == "lost" {
				t.Errorf("%s saw a member lost: %s", p.nick, e.raw)
			}
		}
	}
}

// readyRooms returns the rooms of p's ready line.
func readyRooms(t *testing.T, p *lanProc) []string {
	t.Helper()
	var rooms []string
	if err := json.Unmarshal(p.ready.Rooms, &rooms); err != nil {
		t.Fatalf("%s ready line %s: rooms: %v", p.nick, p.ready.raw, err)
	}
	return rooms
}

func hasRoom(rooms []lanRoom, want lanRoom) bool {
	for _, r := range rooms {
		if r.Room == want.Room && r.Members == want.Members && r.Joined == want.Joined {
			return true
		}
	}
	return false
}

func joinIn(q *lanProc, room string) func(lanEvent) bool {
	return func(e lanEvent) bool { return joinOf(q)(e) && e.Room == room }
}

func messageIn(from *lanProc, room, text string) func(lanEvent) bool {
	return func(e lanEvent) bool {
		return e.Type == "message" && e.Room == room && e.Text == text && e.PeerID == from.id && !e.Self
	}
}
