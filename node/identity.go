package node

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/libp2p/go-libp2p/core/crypto"

	"lanchat/node/files"
	"lanchat/node/internal/flock"
)

// Identity file errors. Every error about the identity file wraps
// [ErrIdentity]; one whose file is a network key (a swarm.key given as the
// identity by mistake) also wraps [ErrIdentityIsNetworkKey], so that a
// front end can say where that file belongs.
var (
	ErrIdentity             = errors.New("node: identity file")
	ErrIdentityIsNetworkKey = errors.New("node: identity file is a network key")
)

// identityPrefix starts the marshalled form of every Ed25519 libp2p private
// key (protobuf field 1, Type = 1 Ed25519; field 2, Data): a file that starts
// so is a damaged identity, anything else is some other file.
var identityPrefix = []byte{0x08, 0x01, 0x12}

// maxIdentityFile bounds what is read of an identity file; a real one is
// 68 bytes.
const maxIdentityFile = 4096

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
//
// A path that is not a regular file is refused before anything is created;
// a lock file that loadIdentity created is removed again when the identity
// cannot be used. Errors wrap [ErrIdentity] and are one sentence that names
// the file.
func loadIdentity(path string) (*identity, error) {
	if path == "" {
		k, err := newKey()
		return &identity{key: k}, err
	}
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, identityError(path, "is %s, not a file", files.Kind(st.Mode()))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, identityError(path, "cannot be read: %w", files.Cause(err))
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, identityError(path, "cannot be created in %q: %w", dir, files.Cause(err))
	}
	lockPath := path + ".lock"
	lock, created, err := openLock(lockPath)
	if err != nil {
		return nil, identityError(path, "cannot be locked: cannot open %q: %w", lockPath, files.Cause(err))
	}
	// drop closes the lock and removes it if it was made here: a failed
	// start leaves nothing behind.
	drop := func() {
		if created {
			os.Remove(lockPath)
		}
		lock.Close()
	}
	if err := flock.TryLock(lock); err != nil {
		if errors.Is(err, flock.ErrLocked) {
			lock.Close() // another process holds it: its file, not ours to remove
			k, err := newKey()
			return &identity{key: k, busy: true}, err
		}
		drop()
		return nil, identityError(path, "cannot be locked: %q: %w", lockPath, err)
	}
	key, err := readOrCreateKey(path)
	if err != nil {
		drop()
		return nil, err
	}
	return &identity{key: key, lock: lock}, nil
}

// openLock opens the lock file at path, creating it (mode 0600) if needed;
// created reports whether it did.
func openLock(path string) (f *os.File, created bool, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, false, err
	}
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	return f, false, err
}

// identityError is an error about the identity file at path: "identity file
// "PATH" " and the sentence of format, wrapping [ErrIdentity].
func identityError(path, format string, args ...any) error {
	return fmt.Errorf("%w %q "+format, append([]any{ErrIdentity, path}, args...)...)
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
	f, st, err := openRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, identityError(path, "%w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIdentityFile))
	if err != nil {
		return nil, identityError(path, "cannot be read: %w", files.Cause(err))
	}
	// Told before the mode: moving a network key to where it belongs
	// matters more than its mode.
	if bytes.HasPrefix(data, []byte(swarmKeyHeader)) {
		return nil, alsoIs{identityError(path, "is a network key (a swarm.key), not an identity"), ErrIdentityIsNetworkKey}
	}
	if err := checkPrivate(st); err != nil {
		return nil, identityError(path, "%w; run chmod 600 %s", err, path)
	}
	key, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		if !bytes.HasPrefix(data, identityPrefix) {
			// Not clearly an identity: never advise deleting it.
			return nil, identityError(path, "is not a lanchat identity (corrupt, or another kind of file); "+
				"use another path, or move it away to get a new identity")
		}
		return nil, identityError(path, "is damaged; move it away to get a new identity (and a new peer ID)")
	}
	if key.Type() != crypto.Ed25519 {
		return nil, identityError(path, "holds a %v key; lanchat identities are Ed25519: use another path", key.Type())
	}
	return key, nil
}

// alsoIs is error, with its message, that [errors.Is] also finds to be
// also.
type alsoIs struct {
	error
	also error
}

func (e alsoIs) Unwrap() []error { return []error{e.error, e.also} }

// openRegular opens path for reading if it is a regular file, without
// blocking on a named pipe or a device, and returns its mode. An error
// other than a missing file is one sentence ("is a named pipe, not a
// file").
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	// O_NONBLOCK: opening a named pipe must not wait for a writer; it
	// changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("cannot be read: %w", files.Cause(err))
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("cannot be read: %w", files.Cause(err))
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("is %s, not a file", files.Kind(st.Mode()))
	}
	return f, st, nil
}

// checkPrivate reports, as "is readable by others (mode 0644)", whether a
// secret file's mode lets other users read or change it. On Windows modes
// say nothing about that, and nothing is checked.
func checkPrivate(st fs.FileInfo) error {
	perm := st.Mode().Perm()
	switch {
	case runtime.GOOS == "windows" || perm&0o077 == 0:
		return nil
	case perm&0o044 != 0:
		return fmt.Errorf("is readable by others (mode %04o)", perm)
	default:
		return fmt.Errorf("is accessible by others (mode %04o)", perm)
	}
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
		return nil, identityError(path, "cannot be written: encode: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, identityError(path, "cannot be created: %w", files.Cause(err))
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	fail := func(err error) (crypto.PrivKey, error) {
		tmp.Close()
		return nil, identityError(path, "cannot be written: %w", files.Cause(err))
	}
	if err := tmp.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return nil, identityError(path, "cannot be written: %w", files.Cause(err))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, identityError(path, "cannot be created: %w", files.Cause(err))
	}
	return key, nil
}
