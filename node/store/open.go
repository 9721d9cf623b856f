package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"lanchat/node/internal/flock"
)

// openChecked opens the bbolt file at path. err is a failure that moving
// the file aside would not cure (ErrLocked); cause says why the file is
// unusable and should be moved aside.
func openChecked(path string) (db *bolt.DB, cause, err error) {
	cause, err = preflight(path)
	if err != nil || cause != nil {
		return nil, cause, err
	}
	db, oerr := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	switch {
	case errors.Is(oerr, berrors.ErrTimeout):
		return nil, nil, fmt.Errorf("%w: %s", ErrLocked, path)
	case oerr != nil:
		return nil, oerr, nil
	}
	cerr := db.View(func(tx *bolt.Tx) error {
		var first error
		for e := range tx.Check() {
			if first == nil {
				first = e
			}
		}
		return first
	})
	if cerr != nil {
		db.Close()
		return nil, fmt.Errorf("consistency check: %w", cerr), nil
	}
	return db, nil, nil
}

// preflight checks, under the file's lock, that a bbolt file at path is
// not shorter than its meta page says: bbolt maps the file into memory and
// reading a page past its end would kill the process (SIGBUS) rather than
// return an error. A missing or empty file passes.
func preflight(path string) (cause, err error) {
	f, oerr := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(oerr, fs.ErrNotExist) {
		return nil, nil
	}
	if oerr != nil {
		return oerr, nil
	}
	defer f.Close()
	if err := flock.TryLock(f); err != nil {
		if errors.Is(err, flock.ErrLocked) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("store: lock %s: %w", path, err)
	}
	fi, serr := f.Stat()
	if serr != nil {
		return serr, nil
	}
	if fi.Size() == 0 {
		return nil, nil
	}
	m0, ok0 := readMeta(f, 0)
	off := int64(os.Getpagesize())
	if ok0 {
		off = int64(m0.pageSize)
	}
	m1, ok1 := readMeta(f, off)
	var m meta
	switch {
	case ok0 && ok1:
		m = m0
		if m1.txid > m0.txid {
			m = m1
		}
	case ok0:
		m = m0
	case ok1:
		m = m1
	default:
		return errors.New("not a bbolt file or both meta pages damaged"), nil
	}
	if want := int64(m.pgid) * int64(m.pageSize); fi.Size() < want || fi.Size() < 2*int64(m.pageSize) {
		return fmt.Errorf("truncated: %d bytes, want %d", fi.Size(), want), nil
	}
	return nil, nil
}

// meta is the part of a bbolt meta page preflight needs. The page is a
// 16-byte page header then: magic u32, version u32, pageSize u32, flags
// u32, root bucket (16), freelist u64, pgid u64, txid u64, checksum u64 —
// in native byte order, the checksum FNV-64a over the bytes before it.
type meta struct {
	pageSize uint32
	pgid     uint64
	txid     uint64
}

const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2
	metaOff     = 16
	metaLen     = 64
)

func readMeta(r io.ReaderAt, off int64) (meta, bool) {
	b := make([]byte, metaLen)
	if _, err := r.ReadAt(b, off+metaOff); err != nil {
		return meta{}, false
	}
	e := binary.NativeEndian
	h := fnv.New64a()
	h.Write(b[:56])
	if e.Uint32(b[0:]) != boltMagic || e.Uint32(b[4:]) != boltVersion || h.Sum64() != e.Uint64(b[56:]) {
		return meta{}, false
	}
	m := meta{pageSize: e.Uint32(b[8:]), pgid: e.Uint64(b[40:]), txid: e.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<20 {
		return meta{}, false
	}
	return m, true
}

// moveAside renames path to path.corrupt-<UTC time>, adding a counter if
// that name is taken, and returns the new name. It never overwrites.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	name := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			break
		}
		name = base + "-" + strconv.Itoa(i)
	}
	if err := os.Rename(path, name); err != nil {
		return "", err
	}
	return name, nil
}
