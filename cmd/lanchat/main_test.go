package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"lanchat/discovery"
	"lanchat/node"
)

// noEnv is an empty environment for run.
func noEnv(string) string { return "" }

// runArgs runs the program in-process with empty stdin and returns its exit
// code, stdout and stderr.
func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb, noEnv)
	return code, out.String(), errb.String()
}

// writeFile writes a test file and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunUsageErrors(t *testing.T) {
	dir := t.TempDir()
	notKey := writeFile(t, "notkey", "hello\n")
	shortKey := writeFile(t, "short.key", "/key/swarm/psk/1.0.0/\n/base16/\n00112233445566778899aabbccddeeff\n")
	badHex := writeFile(t, "badhex.key", "/key/swarm/psk/1.0.0/\n/base16/\nzz\n")
	swarmKey := writeFile(t, "swarm.key", string(node.FormatSwarmKey(make([]byte, node.KeySize))))
	openKey := writeFile(t, "open.key", string(node.FormatSwarmKey(make([]byte, node.KeySize))))
	chmod(t, openKey, 0o644)
	groupWritableKey := writeFile(t, "gw.key", string(node.FormatSwarmKey(make([]byte, node.KeySize))))
	chmod(t, groupWritableKey, 0o620)
	openIdentity := writeFile(t, "open-id.key", "garbage")
	chmod(t, openIdentity, 0o644)
	protoJunk := writeFile(t, "proto.key", "\x12\x02ab")         // parses as far as "proto: required field … not set"
	damaged := writeFile(t, "damaged.key", "\x08\x01\x12\x40ab") // an Ed25519 identity cut short
	identityAsKey := writeFile(t, "identity.key", "\x08\x01\x12\x40"+strings.Repeat("k", 64))
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	logLink := filepath.Join(t.TempDir(), "log")
	if err := os.Symlink(filepath.Join(dir, "elsewhere.log"), logLink); err != nil {
		t.Fatal(err)
	}
	lockIsDir := filepath.Join(t.TempDir(), "id.key")
	if err := os.Mkdir(lockIsDir+".lock", 0o700); err != nil {
		t.Fatal(err)
	}
	// Safe defaults in case a case wrongly gets as far as starting a node:
	// loopback only, no mDNS, a throwaway identity; empty stdin leaves at once.
	safe := []string{"--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--identity", filepath.Join(dir, "id.key"), "--json"}
	tests := []struct {
		name string
		args []string
		want string // substring of the one-line error
	}{
		{"unknown flag", []string{"--bogus"}, "lanchat: unknown flag --bogus (see lanchat --help)\n"},
		{"unknown short flag", []string{"-x"}, "lanchat: unknown flag -x (see lanchat --help)\n"},
		{"flag without value", []string{"--nick"}, "lanchat: --nick needs a value (see lanchat --help)\n"},
		{"bad bool", []string{"--plain=maybe"}, "lanchat: --plain=maybe: the value must be true or false, or left out (see lanchat --help)\n"},
		{"positional argument", []string{"hello"}, `unexpected argument "hello"`},
		{"key and key file", []string{"--key", "a", "--key-file", notKey}, "--key and --key-file cannot be used together"},
		{"empty key", []string{"--key", ""}, "--key: the passphrase is empty"},
		{"empty key file path", []string{"--key-file", ""}, "--key-file: the path is empty"},
		{"plain and json", []string{"--plain", "--json"}, "--plain and --json cannot be used together"},
		{"missing key file", []string{"--key-file", filepath.Join(dir, "nope.key")}, `cannot read key file "` + filepath.Join(dir, "nope.key") + `": no such file or directory`},
		{"key file is a directory", []string{"--key-file", dir}, "it is a directory"},
		{"not a swarm key", []string{"--key-file", notKey}, `key file "` + notKey + `": malformed swarm.key: first line must be /key/swarm/psk/1.0.0/`},
		{"short key", []string{"--key-file", shortKey}, "key must be 32 bytes"},
		{"bad hex key", []string{"--key-file", badHex}, "bad base16 key"},
		{"unknown interface", []string{"--iface", "nosuchif0"}, `--iface "nosuchif0": no such network interface`},
		{"log file in missing dir", []string{"--log-file", filepath.Join(dir, "no", "such", "log")}, "cannot open log file"},
		{"bad peer multiaddr", []string{"--peer", "not-a-multiaddr"},
			`lanchat: --peer: bad peer address "not-a-multiaddr": want a multiaddr like /ip4/192.168.1.5/tcp/4001/p2p/12D3Koo…` + "\n"},
		{"peer ID cut short", []string{"--peer", "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWEhijjbCebtK2bphBh1MT94QHzytM94zWHsXzC"},
			`lanchat: --peer: bad peer address "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWEhijjbCebtK2bphBh1MT94QHzytM94zWHsXzC": the peer ID after /p2p/ is not valid (cut short when copied?)` + "\n"},
		{"peer without p2p", []string{"--peer", "/ip4/127.0.0.1/tcp/4001"}, "want a multiaddr ending in /p2p/"},
		{"nick with control character", []string{"--nick", "al\x07ice"}, "--nick: invalid nick"},
		{"nick too long", []string{"--nick", strings.Repeat("n", 33)}, "--nick: invalid nick"},
		{"nick only spaces", []string{"--nick", "   "}, "--nick: invalid nick"},
		{"room with space", []string{"--room", "a b"}, `lanchat: --room "a b": a room name is 1 to 64 bytes of visible characters, no spaces (e.g. --room lobby)` + "\n"},
		{"second room bad", []string{"--room", "lobby", "--room", "x\ty"}, `--room "x\ty": a room name`},
		{"empty room", []string{"--room", ""}, "--room: the name is empty"},
		{"empty identity", []string{"--identity", ""}, "--identity: the path is empty"},
		{"identity is a directory", []string{"--identity", dir}, "--identity: identity file"},
		{"empty data dir", []string{"--data-dir", ""}, "--data-dir: the path is empty"},
		{"data dir is a file", []string{"--data-dir", notKey}, `--data-dir "` + notKey + `": not a directory`},
		{"no history lines", []string{"--history-lines", "0"}, "--history-lines 0: want at least 1 line"},
		{"history days not a number", []string{"--history-days", "a week"}, `--history-days=a week: the value must be a whole number`},
		{"history days too many", []string{"--history-days", "100000"}, "--history-days 100000: want 1 to 36500 days"},
		{"sync lines zero", []string{"--sync-lines", "0"}, "--sync-lines 0: want 1 to 100000 lines"},
		{"listen garbage", []string{"--listen", "garbage"}, `lanchat: --listen: listen address "garbage": want a multiaddr like /ip4/0.0.0.0/tcp/4001` + "\n"},
		{"empty nick", []string{"--nick", ""}, "lanchat: --nick: the nick is empty; give 1 to 32 visible characters, or leave --nick out\n"},
		{"key only spaces", []string{"--key", " \t"}, "lanchat: --key: the passphrase is only white space; choose one with words in it\n"},
		{"listen quic", []string{"--listen", "/ip4/0.0.0.0/udp/4001/quic-v1"},
			`lanchat: --listen "/ip4/0.0.0.0/udp/4001/quic-v1": lanchat listens on TCP only: use an address like /ip4/0.0.0.0/tcp/4001 or /ip6/::/tcp/4001` + "\n"},
		{"listen websocket", []string{"--listen", "/ip4/127.0.0.1/tcp/0/ws"}, "lanchat listens on TCP only"},
		{"listen unix socket", []string{"--listen", "/unix/tmp/chat.sock"}, "lanchat listens on TCP only"},
		{"peer quic", []string{"--peer", "/ip4/127.0.0.1/udp/4001/quic-v1/p2p/12D3KooWRbZWaSycWbZByiymBK2o8QAX8h4BaEavVDNTtHUpuREY"}, "--peer \"/ip4/127.0.0.1/udp/4001/quic-v1/p2p/12D3KooWRbZWaSycWbZByiymBK2o8QAX8h4BaEavVDNTtHUpuREY\": lanchat talks TCP only"},
		{"bootstrap garbage", []string{"--bootstrap", "garbage"}, `lanchat: --bootstrap: bad bootstrap node address "garbage": want a multiaddr like /ip4/192.168.1.5/tcp/4001/p2p/12D3Koo…` + "\n"},
		{"bootstrap without peer id", []string{"--bootstrap", "/ip4/10.8.0.1/tcp/4001"}, "--bootstrap: bad bootstrap node address \"/ip4/10.8.0.1/tcp/4001\": want a multiaddr ending in /p2p/<peer id>"},
		{"bootstrap quic", []string{"--bootstrap", "/ip4/10.8.0.1/udp/4001/quic-v1/p2p/12D3KooWRbZWaSycWbZByiymBK2o8QAX8h4BaEavVDNTtHUpuREY"}, "lanchat talks TCP only"},
		{"peer websocket", []string{"--peer", "/dns4/chat.lan/tcp/443/wss/p2p/12D3KooWRbZWaSycWbZByiymBK2o8QAX8h4BaEavVDNTtHUpuREY"}, "lanchat talks TCP only"},
		{"swarm key as identity", []string{"--identity", swarmKey},
			`lanchat: --identity: identity file "` + swarmKey + `" is a network key (a swarm.key), not an identity; give it with --key-file` + "\n"},
		{"identity not protobuf", []string{"--identity", protoJunk}, `identity file "` + protoJunk + `" is not a lanchat identity (corrupt, or another kind of file); use another path, or move it away`},
		{"identity damaged", []string{"--identity", damaged}, `identity file "` + damaged + `" is damaged; move it away to get a new identity`},
		{"identity lock unusable", []string{"--identity", lockIsDir}, `identity file "` + lockIsDir + `" cannot be locked: cannot open "` + lockIsDir + `.lock": is a directory`},
		{"identity named pipe", []string{"--identity", fifo}, `identity file "` + fifo + `" is a named pipe, not a file`},
		{"identity readable by others", []string{"--identity", openIdentity},
			`identity file "` + openIdentity + `" is readable by others (mode 0644); run chmod 600 ` + openIdentity + "\n"},
		{"key file named pipe", []string{"--key-file", fifo}, `cannot read key file "` + fifo + `": it is a named pipe, not a file`},
		{"key file readable by others", []string{"--key-file", openKey},
			`key file "` + openKey + `" is readable by others (mode 0644); run chmod 600 ` + openKey + " (or 640 to share it with your group)\n"},
		{"key file writable by group", []string{"--key-file", groupWritableKey}, "is writable by others (mode 0620)"},
		{"identity as key file", []string{"--key-file", identityAsKey}, "this is a lanchat identity (an identity.key), not a network key"},
		{"empty log file path", []string{"--log-file", ""}, "--log-file: the path is empty"},
		{"log file symlink", []string{"--log-file", logLink}, `cannot open log file "` + logLink + `": it is a symbolic link; give the path of a regular file`},
		{"log file named pipe", []string{"--log-file", fifo}, "it is a named pipe; give the path of a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{}, safe...), tt.args...)
			code, out, errs := runArgs(t, args...)
			if code != exitUsage {
				t.Errorf("run(%q) = %d, want %d (stdout %q, stderr %q)", tt.args, code, exitUsage, out, errs)
			}
			if !strings.HasPrefix(errs, "lanchat: ") || strings.Count(errs, "\n") != 1 || !strings.HasSuffix(errs, "\n") {
				t.Errorf("run(%q) stderr = %q, want one line starting with \"lanchat: \"", tt.args, errs)
			}
			if !strings.Contains(errs, tt.want) {
				t.Errorf("run(%q) stderr = %q, want it to contain %q", tt.args, errs, tt.want)
			}
			if out != "" {
				t.Errorf("run(%q) stdout = %q, want nothing", tt.args, out)
			}
			// Library jargon, and advice that destroys a file lanchat
			// cannot tell is its own, never reach the user.
			for _, bad := range []string{"proto:", "open lock", "delete", "no transport"} {
				if strings.Contains(errs, bad) {
					t.Errorf("run(%q) stderr = %q, want no %q in it", tt.args, errs, bad)
				}
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(dir, "elsewhere.log")); err == nil {
		t.Error("--log-file followed a symbolic link")
	}
	for _, p := range []string{swarmKey, protoJunk, damaged, fifo, openIdentity} {
		if _, err := os.Stat(p + ".lock"); err == nil {
			t.Errorf("a failed --identity %s left %s.lock behind", p, p)
		}
	}
	if want := string(node.FormatSwarmKey(make([]byte, node.KeySize))); readString(t, swarmKey) != want {
		t.Errorf("the swarm.key given as --identity changed")
	}
}

// TestRunBlankEnvKey checks that a LANCHAT_KEY of only white space is a
// usage error, as --key " " is, rather than a network nobody else is on.
func TestRunBlankEnvKey(t *testing.T) {
	env := func(k string) string {
		if k == "LANCHAT_KEY" {
			return "   "
		}
		return ""
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--json",
		"--identity", filepath.Join(t.TempDir(), "id.key")}, strings.NewReader(""), &out, &errb, env)
	want := "lanchat: LANCHAT_KEY is only white space; set it to the network's passphrase, or unset it for an open network\n"
	if code != exitUsage || errb.String() != want || out.Len() != 0 {
		t.Errorf("run with LANCHAT_KEY=%q = %d, stdout %q, stderr %q; want %d and %q", "   ", code, out.String(), errb.String(), exitUsage, want)
	}
}

// TestRunIdentityLockKept checks that a failed --identity removes only a
// lock file it created: one that was there before stays.
func TestRunIdentityLockKept(t *testing.T) {
	bad := writeFile(t, "id.key", "garbage")
	if err := os.WriteFile(bad+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runArgs(t, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--json", "--identity", bad)
	if code != exitUsage {
		t.Fatalf("run = %d, want %d; stderr %q", code, exitUsage, errs)
	}
	if _, err := os.Stat(bad + ".lock"); err != nil {
		t.Errorf("the lock file that was there before: %v, want it kept", err)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunHelpVersion(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		code, out, errs := runArgs(t, arg)
		if code != exitOK || !strings.Contains(out, "Usage:") || !strings.Contains(out, "--key-file") || errs != "" {
			t.Errorf("run(%s) = %d, stdout %q, stderr %q; want 0 and the usage on stdout", arg, code, out, errs)
		}
	}
	code, out, _ := runArgs(t, "--version")
	if code != exitOK || !strings.HasPrefix(out, "lanchat ") {
		t.Errorf("run(--version) = %d, %q; want 0 and a version line", code, out)
	}
}

// TestRunLoopbackEOF runs the whole program in-process on loopback with an
// empty stdin: it prints the ready line and the open-network notice, then
// leaves at end of input with exit code 0.
func TestRunLoopbackEOF(t *testing.T) {
	t.Parallel() // end of input waits out the line modes' 2 s settle in an empty room
	dir := t.TempDir()
	id := filepath.Join(dir, "sub", "identity.key")
	env := func(k string) string {
		if k == "LANCHAT_NICK" {
			return "  eve\tthe\x1b tester  "
		}
		return ""
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--json", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--identity", id},
		strings.NewReader(""), &out, &errb, env)
	if code != exitOK {
		t.Fatalf("run = %d, want 0; stderr %q", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var ready, notice map[string]any
	if len(lines) < 2 || json.Unmarshal([]byte(lines[0]), &ready) != nil || json.Unmarshal([]byte(lines[1]), &notice) != nil {
		t.Fatalf("stdout = %q, want a ready line and a notice", out.String())
	}
	if ready["type"] != "ready" || ready["network"] != "open" || ready["nick"] != "eve the tester" || ready["room"] != "lobby" {
		t.Errorf("ready = %v, want open network, nick from LANCHAT_NICK clamped, room lobby", ready)
	}
	if notice["type"] != "notice" || !strings.Contains(notice["text"].(string), "anyone on this LAN") {
		t.Errorf("second line = %v, want the open-network notice", notice)
	}
	if st, err := os.Stat(id); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("identity file: %v, %v; want it created with mode 0600", st, err)
	}
}

func TestKeygen(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "swarm.key")
		code, out, errs := runArgs(t, "keygen", p)
		if code != exitOK || out != "" {
			t.Fatalf("keygen %s = %d, stdout %q, stderr %q", p, code, out, errs)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("key file mode = %v, want 0600", st.Mode().Perm())
		}
		first := readKey(t, p)
		if !strings.Contains(errs, node.Fingerprint(first)) {
			t.Errorf("stderr %q does not name the fingerprint %s", errs, node.Fingerprint(first))
		}

		code, _, errs = runArgs(t, "keygen", p)
		if code != exitUsage || !strings.Contains(errs, "already exists") {
			t.Errorf("keygen over an existing file = %d, %q; want 2 and a refusal", code, errs)
		}
		if again := readKey(t, p); !bytes.Equal(again, first) {
			t.Error("keygen changed an existing key file")
		}
	})
	t.Run("stdout", func(t *testing.T) {
		code, out, errs := runArgs(t, "keygen")
		if code != exitOK || errs != "" {
			t.Fatalf("keygen = %d, stderr %q", code, errs)
		}
		k1, err := node.ReadSwarmKey(strings.NewReader(out))
		if err != nil {
			t.Fatalf("keygen output %q: %v", out, err)
		}
		_, out2, _ := runArgs(t, "keygen")
		if k2, _ := node.ReadSwarmKey(strings.NewReader(out2)); bytes.Equal(k1, k2) {
			t.Error("two keygen runs gave the same key")
		}
	})
	t.Run("errors", func(t *testing.T) {
		dir := t.TempDir()
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"keygen", "a", "b"}, `unexpected argument "b"`},
			{[]string{"keygen", "--force"}, "unknown flag --force"},
			{[]string{"keygen", "--force", filepath.Join(dir, "x")}, "unknown flag --force"},
			{[]string{"keygen", filepath.Join(dir, "x"), "--force"}, "unknown flag --force"},
			{[]string{"keygen", "-"}, "unknown flag -"},
			{[]string{"keygen", filepath.Join(dir, "missing", "swarm.key")}, "cannot create"},
		} {
			code, _, errs := runArgs(t, tt.args...)
			if code != exitUsage || !strings.HasPrefix(errs, "lanchat: keygen: ") || strings.Count(errs, "\n") != 1 ||
				!strings.Contains(errs, tt.want) {
				t.Errorf("run(%q) = %d, %q; want 2 and one line with %q", tt.args, code, errs, tt.want)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
			t.Error("keygen with an unknown flag wrote a key")
		}
	})
	t.Run("key file works", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "swarm.key")
		if code, _, errs := runArgs(t, "keygen", p); code != exitOK {
			t.Fatalf("keygen: %d %s", code, errs)
		}
		code, out, errs := runArgs(t, "--json", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0",
			"--identity", filepath.Join(t.TempDir(), "id"), "--key-file", p)
		if code != exitOK || !strings.Contains(out, `"network":"private"`) ||
			!strings.Contains(out, `"fingerprint":"`+node.Fingerprint(readKey(t, p))+`"`) {
			t.Errorf("run --key-file = %d, stdout %q, stderr %q; want a private network with the key's fingerprint", code, out, errs)
		}
	})
}

func readKey(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	k, err := node.ReadSwarmKey(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return k
}

func TestClampNick(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice", "alice"},
		{"  alice  ", "alice"},
		{"alice\tbob\n", "alice bob"},
		{"a  \t b", "a b"},
		{"\x1b[31mred", "[31mred"},
		{"\u202eevil", "evil"},
		{"bad\xffutf8", "badutf8"},
		{"\u0301accent", "accent"},
		{"日本語のユーザー", "日本語のユーザー"},
		{strings.Repeat("x", 40), strings.Repeat("x", 32)},
		{strings.Repeat("日", 40), strings.Repeat("日", 32)},
		{strings.Repeat("x", 31) + " yz", strings.Repeat("x", 31)},
		{"", ""},
		{" \t\x07 ", ""},
	}
	for _, tt := range tests {
		if got := clampNick(tt.in); got != tt.want {
			t.Errorf("clampNick(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDefaultNick(t *testing.T) {
	host, _ := os.Hostname()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"LANCHAT_NICK first", map[string]string{"LANCHAT_NICK": "nicky", "USER": "root"}, "nicky"},
		{"then USER", map[string]string{"USER": "root"}, "root"},
		{"unusable LANCHAT_NICK falls through", map[string]string{"LANCHAT_NICK": "\x07", "USER": "root"}, "root"},
		{"then hostname", nil, clampNick(host)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := defaultNick(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("defaultNick = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRunIdentityFallback checks that an unusable default identity file does
// not stop the chat: lanchat runs with a temporary identity and says so.
func TestRunIdentityFallback(t *testing.T) {
	cfgDir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfgDir) // os.UserConfigDir on Linux
	t.Setenv("HOME", cfgDir)
	def, err := os.UserConfigDir()
	if err != nil {
		t.Skip("no user config dir:", err)
	}
	bad := filepath.Join(def, "lanchat", "identity.key")
	if err := os.MkdirAll(filepath.Dir(bad), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--json", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"},
		strings.NewReader(""), &out, &errb, noEnv)
	if code != exitOK {
		t.Fatalf("run = %d, want 0; stderr %q", code, errb.String())
	}
	if !strings.Contains(out.String(), "using a temporary identity") {
		t.Errorf("stdout %q, want a notice about the temporary identity", out.String())
	}
	if got, _ := os.ReadFile(bad); string(got) != "not a key" {
		t.Errorf("identity file changed to %q; it must be left alone", got)
	}
}

func TestLogGate(t *testing.T) {
	for _, flush := range []bool{false, true} {
		var buf bytes.Buffer
		g := &logGate{}
		log := slog.New(gateHandler{slog.NewTextHandler(&buf, nil), g}).With("k", "v")
		log.Info("held")
		if buf.Len() != 0 {
			t.Fatalf("gate closed but wrote %q", buf.String())
		}
		g.release(flush)
		if got := strings.Contains(buf.String(), "msg=held k=v"); got != flush {
			t.Errorf("release(%v): output %q", flush, buf.String())
		}
		log.Info("after")
		if !strings.Contains(buf.String(), "msg=after") {
			t.Errorf("open gate dropped a record: %q", buf.String())
		}
	}
}

// TestRunCannotListen checks a runtime failure: exit code 1 and one line on
// stderr, without libp2p's own logs of the failed start.
func TestRunCannotListen(t *testing.T) {
	// 203.0.113.0/24 (TEST-NET-3) is never a local address: bind fails.
	code, out, errs := runArgs(t, "--json", "--no-mdns", "--listen", "/ip4/203.0.113.7/tcp/4001",
		"--identity", filepath.Join(t.TempDir(), "id"))
	if code != exitFailure {
		t.Errorf("run = %d, want %d; stderr %q", code, exitFailure, errs)
	}
	if !strings.HasPrefix(errs, "lanchat: ") || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "203.0.113.7") {
		t.Errorf("stderr = %q, want one line naming the address", errs)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
}

func TestDiscoveryNotice(t *testing.T) {
	tests := []struct {
		what string
		err  error
		want string
	}{
		{"stopped", fmt.Errorf("%w (no default route? connect to a network, or dial peers directly): dial udp4 224.0.0.251:5353: connect: network is unreachable", discovery.ErrNoMulticastRoute),
			"local discovery stopped: no network route for multicast (not connected to a network, or an interface without multicast: see --iface); connect to others with --peer"},
		{"is unavailable", fmt.Errorf("%w: eth7", discovery.ErrNoInterface),
			"local discovery is unavailable: no such interface: eth7; connect to others with --peer"},
	}
	for _, tt := range tests {
		if got := discoveryNotice(tt.what, tt.err); got != tt.want {
			t.Errorf("discoveryNotice(%q, %q) = %q, want %q", tt.what, tt.err, got, tt.want)
		}
	}
}

// TestRunDataDir checks where the history goes: under $XDG_DATA_HOME (or
// ~/.local/share) per peer ID, private to the user.
func TestRunDataDir(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, xdg, home, want string }{
		{"xdg", "/x/data", "/home/u", "/x/data/lanchat"},
		{"home", "", "/home/u", "/home/u/.local/share/lanchat"},
		{"relative xdg ignored", "data", "/home/u", "/home/u/.local/share/lanchat"},
		{"nothing", "", "", ""},
	} {
		env := map[string]string{"XDG_DATA_HOME": tc.xdg, "HOME": tc.home}
		if got := defaultDataDir(func(k string) string { return env[k] }); got != tc.want {
			t.Errorf("%s: defaultDataDir = %q, want %q", tc.name, got, tc.want)
		}
	}
	dir := t.TempDir()
	env := func(k string) string {
		if k == "XDG_DATA_HOME" {
			return filepath.Join(dir, "xdg")
		}
		return ""
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--json", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--identity", filepath.Join(dir, "id.key")},
		strings.NewReader("hello, anyone?\n"), &out, &errb, env)
	if code != exitOK {
		t.Fatalf("run = %d, want 0; stderr %q", code, errb.String())
	}
	var ready map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(out.String(), "\n", 2)[0]), &ready); err != nil {
		t.Fatalf("ready line: %v in %q", err, out.String())
	}
	path := filepath.Join(dir, "xdg", "lanchat", ready["peer_id"].(string), "history.db")
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("history file %s: %v, %v; want it with mode 0600", path, st, err)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("history dir: %v, %v; want mode 0700", st, err)
	}
}
