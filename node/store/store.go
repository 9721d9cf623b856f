package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Sentinel errors, checked with [errors.Is].
var (
	// ErrLocked is returned by [Open] when another Store, in this process or
	// another, has the file open.
	ErrLocked = errors.New("store: log file in use by another lanchat")
	// ErrClosed is returned by methods called after [Store.Close].
	ErrClosed = errors.New("store: closed")
	// ErrInvalidLine is returned by [Store.Append] for a line with an empty
	// or oversize field or a time that cannot be stored.
	ErrInvalidLine = errors.New("store: invalid line")
)

// Defaults for the zero fields of [Config].
const (
	DefaultMaxLines = 10000
	DefaultMaxAge   = 30 * 24 * time.Hour
)

// lockTimeout bounds how long Open waits for the file lock.
const lockTimeout = 200 * time.Millisecond

// Config configures a [Store]. Zero fields take the defaults of
// [DefaultConfig].
type Config struct {
	// Path is the bbolt file, e.g. <data-dir>/log.db. Its directory is
	// created with mode 0700 if missing, the file with mode 0600.
	// Required.
	Path string

	// MaxLines is how many lines [Store.Prune] keeps per room, newest
	// first. Default 10,000: about 6.5 MB of disk per full room with
	// 200-byte records (BenchmarkDisk10000), and more
	// than a day of chat; more keeps history longer but costs disk and
	// sync time.
	MaxLines int

	// MaxAge is how old, by [Line.Sent], a line may be before
	// [Store.Prune] drops it. Default 30 days; shorter keeps less history
	// on disk, longer makes a late joiner's catch-up larger.
	MaxAge time.Duration

	// Logger receives warnings about damaged records and recovery. Nil
	// discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults for a store at path.
func DefaultConfig(path string) Config {
	return Config{Path: path, MaxLines: DefaultMaxLines, MaxAge: DefaultMaxAge}
}

// Store is a room log on disk. Its methods are safe for concurrent use;
// writes are serialised by bbolt and each is durable (fsync) when it
// returns.
type Store struct {
	cfg       Config
	db        *bolt.DB
	log       *slog.Logger
	recovered string

	closeOnce sync.Once
	closeErr  error
	warned    sync.Map // string(room+"\x00"+key) -> struct{}: damaged values already logged
}

var (
	bucketMeta  = []byte("meta")
	bucketRooms = []byte("rooms")
	bucketLines = []byte("lines")
	bucketIDs   = []byte("ids")
	keyFormat   = []byte("format")
	keyCount    = []byte("n")
)

const formatV1 = 1

// Open opens or creates the log at cfg.Path. A file another Store holds
// gives [ErrLocked] within a fraction of a second. A file that is
// unreadable or corrupt is moved aside and an empty log started; see
// [Store.Recovered]. Open starts no goroutines.
func Open(cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("store: no path")
	}
	if cfg.MaxLines <= 0 {
		cfg.MaxLines = DefaultMaxLines
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	s := &Store{cfg: cfg, log: lg}

	db, cause, err := openChecked(cfg.Path)
	if err != nil {
		return nil, err
	}
	if cause != nil {
		aside, err := moveAside(cfg.Path, time.Now())
		if err != nil {
			return nil, fmt.Errorf("store: move corrupt log aside: %w (corrupt because: %v)", err, cause)
		}
		s.recovered = fmt.Sprintf("The message log %s was unreadable (%v); it was moved aside to %s and an empty log was started.", cfg.Path, cause, aside)
		lg.Warn("Corrupt message log moved aside", "path", cfg.Path, "aside", aside, "err", cause)
		db, cause, err = openChecked(cfg.Path)
		if err != nil {
			return nil, err
		}
		if cause != nil {
			return nil, fmt.Errorf("store: open fresh log %s: %w", cfg.Path, cause)
		}
	}
	s.db = db
	if err := db.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := m.Get(keyFormat); v == nil {
			if err := m.Put(keyFormat, []byte{formatV1}); err != nil {
				return err
			}
		} else if len(v) != 1 || v[0] != formatV1 {
			return fmt.Errorf("unknown log format %x", v)
		}
		_, err = tx.CreateBucketIfNotExists(bucketRooms)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: init %s: %w", cfg.Path, err)
	}
	return s, nil
}

// Recovered returns "" or one sentence for the user saying that the log
// file was unreadable, where it was moved and that an empty log was
// started.
func (s *Store) Recovered() string { return s.recovered }

// Close closes the file and releases its lock, waiting for transactions
// in flight. It is safe to call twice; later calls return the first
// result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return s.closeErr
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	return mapErr(s.db.View(fn))
}

func (s *Store) update(fn func(*bolt.Tx) error) error {
	return mapErr(s.db.Update(fn))
}

func mapErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Validate reports whether l can be stored: [ErrInvalidLine] for an empty
// or oversize field or a time that cannot be stored.
func (l Line) Validate() error { return validLine(l) }

func validLine(l Line) error {
	switch {
	case l.Room == "" || len(l.Room) > MaxRoomLen:
		return fmt.Errorf("%w: room length %d", ErrInvalidLine, len(l.Room))
	case l.ID == "" || len(l.ID) > MaxIDLen:
		return fmt.Errorf("%w: id length %d", ErrInvalidLine, len(l.ID))
	case len(l.Author) > MaxAuthorLen:
		return fmt.Errorf("%w: author length %d", ErrInvalidLine, len(l.Author))
	case len(l.Raw) > MaxRawLen:
		return fmt.Errorf("%w: raw length %d", ErrInvalidLine, len(l.Raw))
	case l.Sent.IsZero() || !inRange(l.Sent) || !inRange(l.Received) || !inRange(l.Order):
		return fmt.Errorf("%w: time out of range", ErrInvalidLine)
	}
	return nil
}

// Append stores l unless a line with the same room and ID is already
// stored, and reports whether it added it. The line is on disk when Append
// returns.
func (s *Store) Append(l Line) (added bool, err error) {
	n, err := s.AppendBatch([]Line{l})
	return n == 1, err
}

// AppendBatch stores the lines not already stored in one transaction (one
// fsync) and returns how many it added. A line repeated within lines is
// added once. An invalid line fails the whole batch with [ErrInvalidLine].
func (s *Store) AppendBatch(lines []Line) (added int, err error) {
	for _, l := range lines {
		if err := validLine(l); err != nil {
			return 0, err
		}
	}
	err = s.update(func(tx *bolt.Tx) error {
		added = 0
		rooms := tx.Bucket(bucketRooms)
		for _, l := range lines {
			rb, err := roomForWrite(rooms, l.Room)
			if err != nil {
				return err
			}
			ids := rb.Bucket(bucketIDs)
			if ids.Get([]byte(l.ID)) != nil {
				continue
			}
			lb := rb.Bucket(bucketLines)
			lb.FillPercent = 1.0
			ids.FillPercent = 0.9
			k := lineKey(l.Sent, l.ID)
			if err := lb.Put(k, encodeRecord(l)); err != nil {
				return err
			}
			if err := ids.Put([]byte(l.ID), k); err != nil {
				return err
			}
			if err := addCount(rb, 1); err != nil {
				return err
			}
			added++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: append: %w", err)
	}
	return added, nil
}

func roomForWrite(rooms *bolt.Bucket, room string) (*bolt.Bucket, error) {
	rb, err := rooms.CreateBucketIfNotExists([]byte(room))
	if err != nil {
		return nil, fmt.Errorf("room %q: %w", room, err)
	}
	for _, name := range [][]byte{bucketLines, bucketIDs} {
		if _, err := rb.CreateBucketIfNotExists(name); err != nil {
			return nil, fmt.Errorf("room %q: %w", room, err)
		}
	}
	return rb, nil
}

// roomBuckets returns the lines and ids buckets of room, or nils when the
// room has no log.
func roomBuckets(tx *bolt.Tx, room string) (lines, ids *bolt.Bucket) {
	rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
	if rb == nil {
		return nil, nil
	}
	lines, ids = rb.Bucket(bucketLines), rb.Bucket(bucketIDs)
	if lines == nil || ids == nil {
		return nil, nil
	}
	return lines, ids
}

func count(rb *bolt.Bucket) int64 {
	v := rb.Get(keyCount)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func addCount(rb *bolt.Bucket, d int64) error {
	n := max(count(rb)+d, 0)
	return rb.Put(keyCount, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// decode decodes the value at k in room, logging a damaged one once.
func (s *Store) decode(room string, k, v []byte) (Line, bool) {
	l, err := decodeRecord(v)
	if err == nil && l.ID != keyID(k) {
		err = fmt.Errorf("%w: id %q under key for %q", errRecord, l.ID, keyID(k))
	}
	if err != nil {
		if _, seen := s.warned.LoadOrStore(room+"\x00"+string(k), struct{}{}); !seen {
			s.log.Warn("Skipping damaged log record", "room", room, "id", keyID(k), "err", err)
		}
		return Line{}, false
	}
	l.Room = room
	return l, true
}

// Has reports whether the line id of room is stored.
func (s *Store) Has(room, id string) (bool, error) {
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		if _, ids := roomBuckets(tx, room); ids != nil {
			ok = ids.Get([]byte(id)) != nil
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: has: %w", err)
	}
	return ok, nil
}

// Recent returns the newest n lines of room, oldest first, in display order
// (by Sent to the millisecond, then ID). Damaged records are skipped, so it
// may return fewer.
func (s *Store) Recent(room string, n int) ([]Line, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []Line
	err := s.view(func(tx *bolt.Tx) error {
		lb, _ := roomBuckets(tx, room)
		if lb == nil {
			return nil
		}
		c := lb.Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			if l, ok := s.decode(room, k, v); ok {
				out = append(out, l)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: recent: %w", err)
	}
	reverse(out)
	return out, nil
}

// Item is a stored line's ID and times, for sync.
type Item struct {
	ID    string
	Sent  time.Time // the display order key, to the millisecond
	Order time.Time // the signed order key ([Line.Order])
}

// Items returns, for sync, the ID and times of the newest max lines of
// room placed (by [Line.Sent], to the millisecond) at or after since,
// newest last. max <= 0 means no limit. Damaged records are skipped.
func (s *Store) Items(room string, since time.Time, max int) ([]Item, error) {
	var out []Item
	floor := lineKey(since, "")
	err := s.view(func(tx *bolt.Tx) error {
		lb, _ := roomBuckets(tx, room)
		if lb == nil {
			return nil
		}
		c := lb.Cursor()
		for k, v := c.Last(); k != nil && (max <= 0 || len(out) < max); k, v = c.Prev() {
			if bytes.Compare(k, floor) < 0 {
				break
			}
			order, ok := valueOrder(v)
			if !ok {
				continue
			}
			out = append(out, Item{ID: keyID(k), Sent: keyTime(k), Order: order})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: items: %w", err)
	}
	reverse(out)
	return out, nil
}

// Count returns how many lines of room are stored.
func (s *Store) Count(room string) (int, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		if rb := tx.Bucket(bucketRooms).Bucket([]byte(room)); rb != nil {
			n = count(rb)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return int(n), nil
}

// Get returns the lines of room among ids that are stored, in display
// order, each once. Unknown IDs and damaged records are left out.
func (s *Store) Get(room string, ids []string) ([]Line, error) {
	type kl struct {
		k []byte
		l Line
	}
	var found []kl
	err := s.view(func(tx *bolt.Tx) error {
		lb, ib := roomBuckets(tx, room)
		if lb == nil {
			return nil
		}
		seen := make(map[string]bool, len(ids))
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			k := ib.Get([]byte(id))
			if k == nil {
				continue
			}
			v := lb.Get(k)
			if v == nil {
				continue
			}
			if l, ok := s.decode(room, k, v); ok {
				found = append(found, kl{bytes.Clone(k), l})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	sort.Slice(found, func(i, j int) bool { return bytes.Compare(found[i].k, found[j].k) < 0 })
	out := make([]Line, len(found))
	for i, f := range found {
		out[i] = f.l
	}
	return out, nil
}

// Prune drops, in every room, the lines sent before now minus MaxAge and
// then the oldest lines beyond MaxLines, and returns how many it dropped.
// It runs in one transaction.
func (s *Store) Prune(now time.Time) (removed int, err error) {
	cutoff := lineKey(now.Add(-s.cfg.MaxAge), "")
	err = s.update(func(tx *bolt.Tx) error {
		removed = 0
		rooms := tx.Bucket(bucketRooms)
		var names [][]byte
		if err := rooms.ForEachBucket(func(k []byte) error {
			names = append(names, bytes.Clone(k))
			return nil
		}); err != nil {
			return err
		}
		for _, name := range names {
			rb := rooms.Bucket(name)
			lb, ib := rb.Bucket(bucketLines), rb.Bucket(bucketIDs)
			if lb == nil || ib == nil {
				continue
			}
			excess := count(rb) - int64(s.cfg.MaxLines)
			var drop [][]byte
			c := lb.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if bytes.Compare(k, cutoff) >= 0 && int64(len(drop)) >= excess {
					break
				}
				drop = append(drop, bytes.Clone(k))
			}
			for _, k := range drop {
				if err := lb.Delete(k); err != nil {
					return err
				}
				if err := ib.Delete(k[8:]); err != nil {
					return err
				}
			}
			if err := addCount(rb, -int64(len(drop))); err != nil {
				return err
			}
			removed += len(drop)
		}
		// Marks are not lines: not counted in removed.
		_, err := pruneMarks(tx, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune: %w", err)
	}
	return removed, nil
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}
