package node

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"lanchat/node/chat"
)

// TestDHTFindsMembers: X and Y, each given only the bootstrap node B (in
// no room), find each other through the private DHT and meet in a private
// room. B's peer exchange is cut off, so B tells nobody of anybody: only
// the DHT can have brought X and Y together. K, without the network key
// and given B too, reaches neither B nor the DHT.
func TestDHTFindsMembers(t *testing.T) {
	psk := bytes.Repeat([]byte{7}, 32)
	const room, pass = "ops", "correct horse"

	bcfg := testConfig("boot")
	bcfg.PSK, bcfg.DHT = psk, true
	b := startHost(t, bcfg)
	// B's peer exchange never learns of its peers: it tells none of them
	// of the others.
	b.sub.Close()

	cfg := func(nick string, key []byte) Config {
		c := testConfig(nick)
		c.PSK, c.Bootstrap = key, []string{b.addr()}
		c.DHTFindInterval = 500 * time.Millisecond
		return c
	}
	x := startHost(t, cfg("x", psk))
	x.room = x.join(room, pass)
	y := startHost(t, cfg("y", psk))
	y.room = y.join(room, pass)
	k := startHost(t, cfg("k", nil))
	k.room = k.join(room, pass)

	waitKnownIn(30*time.Second, room, x, y)
	if !x.dht.foundByDHT(y.self) && !y.dht.foundByDHT(x.self) {
		t.Errorf("x and y met, but neither found the other through the DHT")
	}
	if n := b.x.frames.Load(); n != 0 {
		t.Errorf("the bootstrap node sent %d frames of peer exchange, want 0", n)
	}
	for _, tn := range []*testNode{x, y} {
		if !tn.connected(b.self) {
			t.Errorf("%s is not connected to the bootstrap node", tn.name)
		}
	}

	// The keyless node: its dials of B fail at the handshake (told as an
	// error), so its DHT knows nobody, B's does not know it, and nobody
	// met it.
	k.wait(15*time.Second, "bootstrap failure", func(ev chat.Event) bool {
		return ev.Kind == chat.KindError && strings.HasPrefix(ev.Text, "bootstrap node: ")
	})
	if n := k.dht.kad.RoutingTable().Size(); n != 0 {
		t.Errorf("keyless node's DHT knows %d peers, want 0", n)
	}
	if b.dht.kad.RoutingTable().Find(k.self) != "" {
		t.Errorf("the bootstrap node's DHT knows the keyless node")
	}
	if k.dht.offered.Load() != 0 {
		t.Errorf("the keyless node found %d members through the DHT, want 0", k.dht.offered.Load())
	}
	for _, tn := range []*testNode{x, y, b} {
		if tn.connected(k.self) {
			t.Errorf("%s is connected to the keyless node", tn.name)
		}
	}
	if n := x.count(isJoin(k)) + y.count(isJoin(k)); n != 0 {
		t.Errorf("%d joins of the keyless node seen, want 0", n)
	}
}

// TestDHTOff: without Bootstrap or DHT a host runs no DHT and offers no
// DHT protocol.
func TestDHTOff(t *testing.T) {
	a := startHost(t, testConfig("a"))
	if a.dht != nil {
		t.Fatal("a host without Bootstrap runs a DHT")
	}
	for _, p := range a.host.Mux().Protocols() {
		if strings.Contains(string(p), "/kad/") {
			t.Errorf("a host without the DHT offers %s", p)
		}
	}
}

// TestBootstrapConfig: a bad bootstrap address fails Start with a
// ConfigError of field Bootstrap that says what is wrong.
func TestBootstrapConfig(t *testing.T) {
	for _, s := range []string{"nonsense", "/ip4/10.0.0.1/tcp/4001", "/ip4/10.0.0.1/tcp/4001/p2p/12D3Koo"} {
		cfg := testConfig("a")
		cfg.Bootstrap = []string{s}
		_, err := Start(context.Background(), cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "Bootstrap" || !strings.HasPrefix(ce.Reason, "bad bootstrap node address ") {
			t.Errorf("Start(Bootstrap %q) = %v, want a ConfigError of Bootstrap", s, err)
		}
	}
}

// TestRendezvous: a private room's rendezvous depends on its key, and
// holds neither its name nor its tag; an open room's is a hash of its
// topic.
func TestRendezvous(t *testing.T) {
	a := startHost(t, testConfig("a"))
	r1 := a.join("secret-plans", "one")
	r2 := a.join("secret-plans-2", "one")
	open := a.join("lobby", "")
	for _, r := range []*Room{r1, r2, open} {
		ns := r.rendezvous()
		if !strings.HasPrefix(ns, rendezvousPrefix) || len(ns) != len(rendezvousPrefix)+32 {
			t.Errorf("rendezvous of %s = %q, want %s and 32 hex digits", r.name, ns, rendezvousPrefix)
		}
		if strings.Contains(ns, r.name) || strings.Contains(ns, r.wireID) {
			t.Errorf("rendezvous of %s = %q holds its name or tag %s", r.name, ns, r.wireID)
		}
	}
	if r1.rendezvous() == r2.rendezvous() {
		t.Errorf("two private rooms share the rendezvous %q", r1.rendezvous())
	}
	b := startHost(t, testConfig("b"))
	if got, want := b.join("secret-plans", "one").rendezvous(), r1.rendezvous(); got != want {
		t.Errorf("rendezvous on another host = %q, want %q", got, want)
	}
	c := startHost(t, testConfig("c"))
	if c.join("secret-plans", "two").rendezvous() == r1.rendezvous() {
		t.Errorf("another passphrase gives the same rendezvous")
	}
}
