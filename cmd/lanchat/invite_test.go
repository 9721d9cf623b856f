package main

import (
	"path/filepath"
	"strings"
	"testing"

	"lanchat/node"
	"lanchat/node/invite"
)

// TestInviteCommand: "lanchat invite" prints the invitation of the node
// the same flags start; "invite key" one that holds the key, with a
// warning on stderr; without a fixed port it is a usage error.
func TestInviteCommand(t *testing.T) {
	dir := t.TempDir()
	id := filepath.Join(dir, "identity.key")
	flags := []string{"--identity", id, "--listen", "/ip4/127.0.0.1/tcp/40777", "--key", "our passphrase"}

	code, out, errs := runArgs(t, append([]string{"invite"}, flags...)...)
	if code != exitOK || !strings.HasPrefix(out, invite.Prefix) || strings.Count(out, "\n") != 1 || errs != "" {
		t.Fatalf("invite = %d, stdout %q, stderr %q; want 0 and one lanchat: line", code, out, errs)
	}
	inv, err := node.ParseInvitation(out)
	if err != nil || !inv.Private || inv.Key != nil || !inv.Fits(node.DeriveKey("our passphrase")) {
		t.Fatalf("the invitation %q reads as %+v, %v: want a private network's, without the key", out, inv, err)
	}
	if len(inv.Peers) != 1 || !strings.HasPrefix(inv.Peers[0], "/ip4/127.0.0.1/tcp/40777/p2p/") {
		t.Errorf("invitation peers %v, want the --listen address", inv.Peers)
	}

	code, out, errs = runArgs(t, append([]string{"invite", "key"}, flags...)...)
	if code != exitOK || !strings.HasPrefix(out, invite.SecretPrefix) || !strings.Contains(errs, "secret") {
		t.Fatalf("invite key = %d, stdout %q, stderr %q; want 0, a lanchat-secret: line and a warning", code, out, errs)
	}
	if sinv, err := node.ParseInvitation(out); err != nil || sinv.PeerID != inv.PeerID || string(sinv.Key) != string(node.DeriveKey("our passphrase")) {
		t.Errorf("the secret invitation reads as %+v, %v: want the same peer and the key", sinv, err)
	}

	code, out, errs = runArgs(t, "invite", "--identity", id)
	if code != exitUsage || out != "" || !strings.Contains(errs, "--listen: an invitation needs the fixed port") {
		t.Errorf("invite without a fixed port = %d, %q, %q; want 2 and the sentence about --listen", code, out, errs)
	}
	if code, out, _ := runArgs(t, "invite", "--help"); code != exitOK || !strings.Contains(out, "lanchat invite [key]") {
		t.Errorf("invite --help = %d, %q", code, out)
	}
}

// TestJoinInviteErrors: a bad --join-invite, or one that does not fit the
// key given, is a usage error in one sentence, which never repeats the
// line (it may hold the key).
func TestJoinInviteErrors(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, withKey bool, key ...string) string {
		t.Helper()
		args := append([]string{"invite"}, key...)
		if withKey {
			args = append([]string{"invite", "key"}, key...)
		}
		args = append(args, "--identity", filepath.Join(dir, name), "--listen", "/ip4/127.0.0.1/tcp/40778")
		code, out, errs := runArgs(t, args...)
		if code != exitOK {
			t.Fatalf("%v = %d, %q", args, code, errs)
		}
		return strings.TrimSpace(out)
	}
	private := mk("a", false, "--key", "ours")
	secret := mk("a", true, "--key", "ours")
	open := mk("b", false)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"empty", []string{"--join-invite", " "}, "--join-invite: the line is empty"},
		{"a multiaddr", []string{"--join-invite", "/ip4/10.0.0.5/tcp/4001"}, "--join-invite: not a lanchat invitation"},
		{"cut short", []string{"--join-invite", private[:len(private)-3]}, "--join-invite: the invitation is mistyped or cut short"},
		{"secret cut short", []string{"--join-invite", secret[:len(secret)-3]}, "--join-invite: the invitation is mistyped or cut short"},
		{"no key", []string{"--join-invite", private}, "--join-invite: the invitation is for a private network: give its key"},
		{"wrong key", []string{"--join-invite", private, "--key", "theirs"}, "--join-invite: the key given is not the network key of the invitation"},
		{"wrong key for a secret", []string{"--join-invite", secret, "--key", "theirs"}, "--join-invite: the key given is not the network key"},
		{"key for an open one", []string{"--join-invite", open, "--key", "ours"}, "--join-invite: the invitation is for an open network"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runArgs(t, append(tc.args, "--identity", filepath.Join(dir, "joiner"))...)
			if code != exitUsage || !strings.HasPrefix(errs, "lanchat: "+tc.want) || strings.Count(errs, "\n") != 1 {
				t.Errorf("%s: exit %d, stderr %q; want 2 and one line starting %q", tc.name, code, errs, "lanchat: "+tc.want)
			}
			if strings.Contains(errs, secret[len(invite.SecretPrefix):len(invite.SecretPrefix)+20]) {
				t.Errorf("%s: the error repeats the invitation: %q", tc.name, errs)
			}
		})
	}
}

// TestJoinInviteConfig: a good invitation becomes static peers, and the
// key of a secret one the network key.
func TestJoinInviteConfig(t *testing.T) {
	dir := t.TempDir()
	code, secret, errs := runArgs(t, "invite", "key", "--key", "ours", "--identity", filepath.Join(dir, "a"), "--listen", "/ip4/127.0.0.1/tcp/40779")
	if code != exitOK {
		t.Fatalf("invite key = %d, %q", code, errs)
	}
	for _, extra := range [][]string{nil, {"--key", "ours"}} {
		opts, err := parseOptions(append([]string{"--join-invite", strings.TrimSpace(secret), "--peer", "/ip4/10.0.0.9/tcp/1/p2p/12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"}, extra...), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := opts.nodeConfig(noEnv)
		if err != nil {
			t.Fatalf("nodeConfig with %v = %v", extra, err)
		}
		if string(cfg.PSK) != string(node.DeriveKey("ours")) {
			t.Errorf("with %v: the network key is not the invitation's", extra)
		}
		if len(cfg.StaticPeers) != 2 || !strings.HasPrefix(cfg.StaticPeers[1], "/ip4/127.0.0.1/tcp/40779/p2p/") {
			t.Errorf("with %v: static peers %v, want the --peer, then the invitation's", extra, cfg.StaticPeers)
		}
	}
}
