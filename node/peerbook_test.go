package node

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
)

// newPeerID returns a new valid peer ID.
func newPeerID(t testing.TB) peer.ID {
	t.Helper()
	k, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func addrsN(n int, base string) []netip.AddrPort {
	var out []netip.AddrPort
	for i := range n {
		out = append(out, netip.MustParseAddrPort(fmt.Sprintf("%s:%d", base, 4000+i)))
	}
	return out
}

// TestPeerBookRoundTrip: what is saved is loaded again, newest first; the
// file is mode 0600 and nothing else is left in the directory.
func TestPeerBookRoundTrip(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Round(time.Second)
	b := newPeerBook(dir, slog.New(slog.DiscardHandler))
	p1, p2 := newPeerID(t), newPeerID(t)
	b.saw(p1, addrsN(2, "10.0.0.1"), now.Add(-time.Hour))
	b.saw(p2, addrsN(1, "10.0.1.2"), now)
	// Seen again with a new address: it goes first, the old ones after.
	b.saw(p1, addrsN(1, "10.0.2.1"), now.Add(-time.Minute))
	if err := b.save(now, nil); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, peersFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", peersFile, st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("the directory holds %d files after a save, want only %s", len(ents), peersFile)
	}

	c := newPeerBook(dir, slog.New(slog.DiscardHandler))
	c.load(now)
	got := c.offers(func(peer.ID) bool { return false })
	want := []sighting{
		{id: p2.String(), version: ProtocolVersion, addrs: addrsN(1, "10.0.1.2")},
		{id: p1.String(), version: ProtocolVersion, addrs: append(addrsN(1, "10.0.2.1"), addrsN(2, "10.0.0.1")...)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("loaded %v, want %v", got, want)
	}
	if got := c.offers(func(p peer.ID) bool { return p == p2 }); len(got) != 1 || got[0].id != p1.String() {
		t.Errorf("offers skipping p2 = %v, want p1 only", got)
	}
}

// TestPeerBookBounds: at most maxRemembered peers (the one seen longest
// ago makes room) of maxRememberedAddrs addresses each; nobody not seen
// for rememberFor, on load or on save; a save notes connected peers as
// seen.
func TestPeerBookBounds(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	b := newPeerBook(dir, slog.New(slog.DiscardHandler))
	var ids []peer.ID
	for i := range maxRemembered + 10 {
		id := newPeerID(t)
		ids = append(ids, id)
		b.saw(id, addrsN(maxRememberedAddrs+4, "10.0.0.1"), now.Add(time.Duration(i-maxRemembered-10)*time.Minute))
	}
	if len(b.peers) != maxRemembered {
		t.Fatalf("%d peers remembered, want %d", len(b.peers), maxRemembered)
	}
	for _, id := range ids[:10] {
		if b.peers[id] != nil {
			t.Errorf("peer %d of the first seen is still remembered", slices.Index(ids, id))
		}
	}
	for _, r := range b.peers {
		if len(r.addrs) != maxRememberedAddrs {
			t.Fatalf("a peer has %d addresses, want %d", len(r.addrs), maxRememberedAddrs)
		}
	}
	// The oldest remembered peer goes out of date; a connected one is
	// noted as seen at the save.
	old, kept := ids[10], ids[11]
	b.peers[old].seen = now.Add(-rememberFor - time.Minute)
	b.peers[kept].seen = now.Add(-rememberFor - time.Minute)
	if err := b.save(now, []peer.ID{kept}); err != nil {
		t.Fatal(err)
	}
	if b.peers[old] != nil || b.peers[kept] == nil {
		t.Errorf("after a save: out-of-date peer kept %v, connected peer kept %v; want false, true", b.peers[old] != nil, b.peers[kept] != nil)
	}
	// On load, what went out of date since is left out.
	c := newPeerBook(dir, slog.New(slog.DiscardHandler))
	c.load(now.Add(rememberFor - 30*time.Minute))
	if n := len(c.peers); n == 0 || n >= maxRemembered-1 {
		t.Errorf("%d peers loaded 30 days later, want only those seen in the last 30 days", n)
	}
}

// TestPeerBookBadFile: a file that is not a peer book (or of another
// version, or too big) is ignored, and replaced at the next save; the
// entries of one that are not valid are skipped.
func TestPeerBookBadFile(t *testing.T) {
	now := time.Now()
	id := newPeerID(t)
	good := fmt.Sprintf(`{"version":1,"peers":[{"id":%q,"addrs":["10.0.0.1:4001","0.0.0.0:1","[fe80::1]:4"],"seen":%q},`+
		`{"id":"not a peer","addrs":["10.0.0.2:4001"],"seen":%q},{"id":%q,"addrs":["224.0.0.1:5"],"seen":%q}]}`,
		id, now.Format(time.RFC3339), now.Format(time.RFC3339), newPeerID(t), now.Format(time.RFC3339))
	for _, tc := range []struct {
		name, data string
		want       int
	}{
		{"garbage", "\x00\x01 not json", 0},
		{"version 2", `{"version":2,"peers":[]}`, 0},
		{"too big", `{"version":1,"peers":[]}` + strings.Repeat(" ", maxPeersFile), 0},
		{"some entries bad", good, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, peersFile)
			if err := os.WriteFile(path, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			b := newPeerBook(dir, slog.New(slog.DiscardHandler))
			b.load(now)
			if got := b.offers(func(peer.ID) bool { return false }); len(got) != tc.want {
				t.Fatalf("loaded %v, want %d peers", got, tc.want)
			}
			if tc.want == 1 {
				if got := b.peers[id].addrs; fmt.Sprint(got) != "[10.0.0.1:4001]" {
					t.Errorf("addresses %v, want 10.0.0.1:4001 only", got)
				}
				return
			}
			b.saw(id, addrsN(1, "10.0.0.9"), now)
			if err := b.save(now, nil); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(path)
			var f peersFileJSON
			if err := json.Unmarshal(data, &f); err != nil || f.Version != peersFileVersion || len(f.Peers) != 1 {
				t.Errorf("after a save the file is %q (%v), want a peer book of one peer", data, err)
			}
		})
	}
}

// TestPeerBookNotForTemporary: a host with an ephemeral identity keeps no
// peers in the data dir, even after meeting one.
func TestPeerBookNotForTemporary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig("alice")
	cfg.DataDir = dir
	a := startNode(t, cfg)
	b := startNode(t, testConfig("bob"))
	b.connect(a)
	waitKnown(5*time.Second, a, b)
	a.close()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == peersFile {
			t.Errorf("an ephemeral identity left %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRememberedPeers: alice meets bob and carol, and exits; restarted
// with the same identity and data dir and no peer given (no discovery
// either: these tests have none), she finds them again from the peers
// she remembers, and both see her join.
func TestRememberedPeers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig("alice")
	cfg.DataDir = dir
	cfg.IdentityPath = filepath.Join(dir, "alice.key")
	a := startNode(t, cfg)
	b, c := startNode(t, testConfig("bob")), startNode(t, testConfig("carol"))
	c.connect(b)
	a.connect(b)
	waitKnown(5*time.Second, a, b, c)
	a.close()
	if _, err := os.Stat(filepath.Join(dir, a.self.String(), peersFile)); err != nil {
		t.Fatalf("no peer book after Close: %v", err)
	}
	for _, n := range []*testNode{b, c} {
		n.wait(5*time.Second, "alice's leave", isLeave(a, "quit"))
	}

	start := time.Now()
	a2 := startNode(t, cfg)
	if a2.self != a.self {
		t.Fatalf("restarted with peer ID %s, want %s", a2.self, a.self)
	}
	for _, n := range []*testNode{b, c} {
		n.wait(10*time.Second, "alice joining again", func(ev chat.Event) bool {
			return isJoin(a2)(ev) && ev.Time.After(start)
		})
	}
	waitKnown(5*time.Second, a2, b, c)
	t.Logf("restarted alice met her room again %v after her start", time.Since(start).Round(time.Millisecond))
}
