//go:build unix

package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLoadIdentityErrors checks that every unusable identity file is one
// sentence naming the file, that a file lanchat cannot tell is its own is
// never to be deleted, that the file is left as it was, and that the lock
// file made for it is removed again.
func TestLoadIdentityErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	lockIsDir := filepath.Join(dir, "lockdir.key")
	if err := os.Mkdir(lockIsDir+".lock", 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
		networkKey       bool // wraps ErrIdentityIsNetworkKey
	}{
		{"swarm key", write("swarm.key", string(FormatSwarmKey(make([]byte, KeySize))), 0o600), "is a network key (a swarm.key), not an identity", true},
		{"swarm key readable by others", write("swarm644.key", string(FormatSwarmKey(make([]byte, KeySize))), 0o644), "is a network key", true},
		{"garbage", write("garbage.key", "garbage", 0o600), "is not a lanchat identity (corrupt, or another kind of file); use another path, or move it away to get a new identity", false},
		{"protobuf without type", write("proto.key", "\x12\x02ab", 0o600), "is not a lanchat identity", false},
		{"damaged", write("damaged.key", "\x08\x01\x12\x40ab", 0o600), "is damaged; move it away to get a new identity (and a new peer ID)", false},
		{"readable by others", write("open.key", "anything", 0o644), "is readable by others (mode 0644); run chmod 600 ", false},
		{"writable by group", write("gw.key", "anything", 0o620), "is accessible by others (mode 0620); run chmod 600 ", false},
		{"named pipe", fifo, "is a named pipe, not a file", false},
		{"directory", sub, "is a directory, not a file", false},
		{"lock is a directory", lockIsDir, `cannot be locked: cannot open "` + lockIsDir + `.lock": is a directory`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := readRegular(tt.path)
			id, err := loadIdentity(tt.path)
			if err == nil {
				id.release()
				t.Fatalf("loadIdentity(%s) = nil error, want one", tt.path)
			}
			msg := err.Error()
			if !errors.Is(err, ErrIdentity) || errors.Is(err, ErrIdentityIsNetworkKey) != tt.networkKey || errors.Is(err, ErrSwarmKey) {
				t.Errorf("loadIdentity(%s) = %v; want ErrIdentity, ErrIdentityIsNetworkKey %v, not ErrSwarmKey", tt.path, err, tt.networkKey)
			}
			if want := `node: identity file "` + tt.path + `" `; !strings.HasPrefix(msg, want) || !strings.Contains(msg, tt.want) {
				t.Errorf("loadIdentity(%s) = %q, want %q…%q", tt.path, msg, want, tt.want)
			}
			for _, bad := range []string{"proto:", "delete", "\n"} {
				if strings.Contains(msg, bad) {
					t.Errorf("loadIdentity(%s) = %q, want no %q in it", tt.path, msg, bad)
				}
			}
			if after := readRegular(tt.path); after != before {
				t.Errorf("loadIdentity(%s) changed the file", tt.path)
			}
			if tt.path != lockIsDir {
				if _, err := os.Lstat(tt.path + ".lock"); err == nil {
					t.Errorf("loadIdentity(%s) left %s.lock behind", tt.path, tt.path)
				}
			}
		})
	}
}

// readRegular returns the content of path if it is a regular file, else
// "" (reading a named pipe would wait for a writer).
func readRegular(path string) string {
	if st, err := os.Lstat(path); err != nil || !st.Mode().IsRegular() {
		return ""
	}
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestLoadIdentityLockKept checks that a failed load keeps a lock file
// that was there before (it may be another identity's, in use), and that a
// good identity keeps its lock while in use and can be loaded again after.
func TestLoadIdentityLockKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadIdentity(bad); err == nil {
		t.Fatal("loadIdentity(garbage) = nil error")
	}
	if _, err := os.Stat(bad + ".lock"); err != nil {
		t.Errorf("lock file that was there before: %v, want it kept", err)
	}

	good := filepath.Join(dir, "good.key")
	a, err := loadIdentity(good)
	if err != nil {
		t.Fatalf("loadIdentity(new) = %v", err)
	}
	b, err := loadIdentity(good)
	if err != nil || !b.busy {
		t.Errorf("second loadIdentity while the first holds it = busy %v, %v; want busy", b != nil && b.busy, err)
	}
	a.release()
	c, err := loadIdentity(good)
	if err != nil || c.busy || !c.key.Equals(a.key) {
		t.Fatalf("loadIdentity after release = %v, busy %v; want the same key, not busy", err, c != nil && c.busy)
	}
	c.release()
}

// TestReadSwarmKeyIdentity checks that an identity given as the network
// key is named as one, not only as a malformed swarm.key.
func TestReadSwarmKeyIdentity(t *testing.T) {
	_, err := ReadSwarmKey(strings.NewReader("\x08\x01\x12\x40" + strings.Repeat("k", 64)))
	if !errors.Is(err, ErrSwarmKey) || !strings.Contains(err.Error(), "this is a lanchat identity (an identity.key), not a network key") {
		t.Errorf("ReadSwarmKey(identity) = %v, want ErrSwarmKey saying it is an identity", err)
	}
}
