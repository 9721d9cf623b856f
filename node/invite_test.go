package node

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lanchat/node/invite"
)

// TestInviteJoins: carol, given only alice's invitation (and the key),
// meets alice and, through her, bob; with the secret invitation she
// needs no key of her own.
func TestInviteJoins(t *testing.T) {
	t.Parallel()
	psk, _ := GenerateKey()
	mk := func(nick string, key []byte, peers ...string) *testNode {
		cfg := testConfig(nick)
		cfg.PSK = key
		cfg.StaticPeers = peers
		return startNode(t, cfg)
	}
	a, b := mk("alice", psk), mk("bob", psk)
	b.connect(a)
	waitKnown(5*time.Second, a, b)

	line, err := a.Invite(false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, invite.Prefix) || len(line) > 100 {
		t.Errorf("Invite(false) = %q (%d characters), want a line of lanchat: under 100 characters", line, len(line))
	}
	inv, err := ParseInvitation(line)
	if err != nil {
		t.Fatalf("ParseInvitation(%q) = %v", line, err)
	}
	other, _ := GenerateKey()
	if inv.PeerID != a.id() || !inv.Private || inv.Key != nil || !inv.Fits(psk) || inv.Fits(other) || inv.Fits(nil) {
		t.Errorf("ParseInvitation = %+v: want alice's peer ID, private, no key, fitting her key only", inv)
	}
	if want := a.addr(); len(inv.Peers) != 1 || inv.Peers[0] != want {
		t.Errorf("invitation peers %v, want [%s] (on loopback only loopback)", inv.Peers, want)
	}
	c := mk("carol", psk, inv.Peers...)
	waitKnown(10*time.Second, a, b, c)
	waitConnected(t, 5*time.Second, c, b)

	secret, err := a.Invite(true)
	if err != nil {
		t.Fatal(err)
	}
	sinv, err := ParseInvitation(secret)
	if !strings.HasPrefix(secret, invite.SecretPrefix) || err != nil || string(sinv.Key) != string(psk) || !sinv.Fits(psk) || sinv.Fits(other) {
		t.Fatalf("Invite(true) = %q, read as %+v, %v: want a secret line holding the key", secret, sinv, err)
	}
	d := mk("dave", sinv.Key, sinv.Peers...)
	waitKnown(10*time.Second, a, b, c, d)
}

// TestInviteOpen: on an open network an invitation holds no key, asked
// for or not, and fits no key.
func TestInviteOpen(t *testing.T) {
	t.Parallel()
	a := startHost(t, testConfig("alice"))
	for _, withKey := range []bool{false, true} {
		line, err := a.Invite(withKey)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := ParseInvitation(line)
		if err != nil || !strings.HasPrefix(line, invite.Prefix) || inv.Private || inv.Key != nil || !inv.Fits(nil) {
			t.Errorf("Invite(%v) = %q, %+v, %v: want an open invitation", withKey, line, inv, err)
		}
		key, _ := GenerateKey()
		if inv.Fits(key) {
			t.Error("an open invitation fits a key")
		}
	}
}

func TestInviteAddrs(t *testing.T) {
	aps := func(ss ...string) []netip.AddrPort {
		var out []netip.AddrPort
		for _, s := range ss {
			out = append(out, netip.MustParseAddrPort(s))
		}
		return out
	}
	primary := []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5")}
	for _, tc := range []struct {
		name     string
		in, want []netip.AddrPort
	}{
		{"default route first, then IPv4; no IPv6 beside IPv4",
			aps("[2001:db8::9]:1", "172.17.0.1:1", "127.0.0.1:1", "[fd00::5]:1", "10.0.0.5:1", "[fe80::1]:1"),
			aps("10.0.0.5:1", "172.17.0.1:1")},
		{"at most two", aps("10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"), aps("10.0.0.1:1", "10.0.0.2:1")},
		{"IPv6 without IPv4", aps("[2001:db8::9]:1", "[fd00::5]:1", "127.0.0.1:1"), aps("[fd00::5]:1", "[2001:db8::9]:1")},
		{"loopback only when alone", aps("127.0.0.1:1", "[::1]:1", "0.0.0.0:1"), aps("127.0.0.1:1")},
		{"mapped and repeated", aps("[::ffff:10.0.0.1]:1", "10.0.0.1:1"), aps("10.0.0.1:1")},
		{"none", aps("[fe80::1]:1", "224.0.0.251:1"), nil},
	} {
		got := inviteAddrs(tc.in, primary)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: inviteAddrs(%v) = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}

// TestInviteLine: "lanchat invite" makes the invitation of the node that
// the same flags start, without starting it; not without a fixed port.
func TestInviteLine(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("alice")
	cfg.IdentityPath = filepath.Join(dir, "identity.key")
	psk, _ := GenerateKey()
	cfg.PSK = psk
	if _, err := InviteLine(cfg, false); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "fixed port") {
		t.Errorf("InviteLine with port 0 = %v, want a ConfigError about a fixed port", err)
	}
	var ce *ConfigError
	if _, err := InviteLine(cfg, false); !errors.As(err, &ce) || ce.Field != "ListenAddrs" {
		t.Errorf("InviteLine with port 0 = %v, want a ConfigError of field ListenAddrs", err)
	}
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/40123", "/ip4/0.0.0.0/tcp/0"}
	line, err := InviteLine(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ParseInvitation(line)
	if err != nil {
		t.Fatal(err)
	}
	// The host that the same config starts has the invitation's peer ID
	// (and InviteLine works while it runs, holding the identity).
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	h := startHost(t, cfg)
	if inv.PeerID != h.id() || string(inv.Key) != string(psk) {
		t.Errorf("InviteLine = %+v, want the peer ID %s of the node and its key", inv, h.id())
	}
	if want := "/ip4/127.0.0.1/tcp/40123/p2p/" + h.id(); len(inv.Peers) != 1 || inv.Peers[0] != want {
		t.Errorf("InviteLine peers %v, want [%s]", inv.Peers, want)
	}
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/40123"}
	again, err := InviteLine(cfg, true)
	if err != nil || again != line {
		t.Errorf("InviteLine while the node runs = %q, %v, want %q", again, err, line)
	}
}
