package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"

	"lanchat/node/internal/flock"
)

// ErrIdentity is wrapped by every error about the identity file.
var ErrIdentity = errors.New("node: identity file")

// identity is this node's key and, if it came from a file, the lock that
// keeps a second process on the same machine from using the same file.
type identity struct {
	key  crypto.PrivKey
	lock *os.File // nil for an ephemeral identity
	// busy reports that the file was locked by another process and an
	// ephemeral identity is used instead.
	busy bool
}

// release drops the file lock.
func (id *identity) release() {
	if id.lock != nil {
		id.lock.Close() // closing the descriptor releases the flock
		id.lock = nil
	}
}

// loadIdentity returns the Ed25519 identity kept at path, creating it (mode
// 0600, parent directory 0700) on first use. It holds an exclusive lock on
// path+".lock" until release: when another process holds it, loadIdentity
// returns a fresh ephemeral key with busy set, so two lanchat processes on one
// machine do not share a peer ID. path "" gives an ephemeral identity.
func loadIdentity(path string) (*identity, error) {
	if path == "" {
		k, err := newKey()
		return &identity{key: k}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("%w: create directory: %w", ErrIdentity, err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: open lock: %w", ErrIdentity, err)
	}
	if err := flock.TryLock(lock); err != nil {
		lock.Close()
		if errors.Is(err, flock.ErrLocked) {
			k, err := newKey()
			return &identity{key: k, busy: true}, err
		}
		return nil, fmt.Errorf("%w: lock %s: %w", ErrIdentity, path+".lock", err)
	}
	key, err := readOrCreateKey(path)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return &identity{key: key, lock: lock}, nil
}

func newKey() (crypto.PrivKey, error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate identity: %w", err)
	}
	return k, nil
}

// readOrCreateKey reads the key at path or, if there is no file, creates one.
// The caller holds the lock.
func readOrCreateKey(path string) (crypto.PrivKey, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIdentity, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIdentity, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrIdentity, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is accessible by other users (mode %04o); run: chmod 600 %s",
			ErrIdentity, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrIdentity, path, err)
	}
	key, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is corrupt (delete it to get a new identity): %w", ErrIdentity, path, err)
	}
	if key.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: %s holds a %v key, want Ed25519", ErrIdentity, path, key.Type())
	}
	return key, nil
}

// createKey writes a new key to path with mode 0600, atomically: a reader
// never sees a half-written file.
func createKey(path string) (crypto.PrivKey, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	data, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %w", ErrIdentity, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("%w: create: %w", ErrIdentity, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%w: chmod: %w", ErrIdentity, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%w: write: %w", ErrIdentity, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%w: sync: %w", ErrIdentity, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("%w: close: %w", ErrIdentity, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIdentity, err)
	}
	return key, nil
}
