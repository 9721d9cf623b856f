package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Mark is what the log remembers of a message author across runs, for
// anti-replay: the highest pubsub sequence number accepted from it, and
// when it was last heard. A signed message recorded by a peer and
// published again after its author left, and after this node forgot the
// author (a restart, an hour of silence, a full table), has a number at
// or below the mark: package node takes it for the replay it is.
type Mark struct {
	Seqno uint64
	Heard time.Time
}

// MaxMarks bounds the marks kept; [Store.Prune] drops those heard longest
// ago beyond it, and those heard before MarkAge.
const (
	MaxMarks = 16384
	MarkAge  = 24 * time.Hour
)

var bucketMarks = []byte("marks")

// A mark's value: seqno, then heard in Unix milliseconds, both big-endian.
const markLen = 16

// SaveMarks stores marks, keyed by author (a peer ID as a string), in one
// transaction. A mark never goes back: the higher sequence number and the
// later time of the stored and the new one stay.
func (s *Store) SaveMarks(marks map[string]Mark) error {
	if len(marks) == 0 {
		return nil
	}
	err := s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketMarks)
		if err != nil {
			return err
		}
		for author, m := range marks {
			if author == "" || len(author) > MaxAuthorLen {
				continue
			}
			if old, ok := decodeMark(b.Get([]byte(author))); ok {
				m.Seqno = max(m.Seqno, old.Seqno)
				if old.Heard.After(m.Heard) {
					m.Heard = old.Heard
				}
			}
			v := binary.BigEndian.AppendUint64(make([]byte, 0, markLen), m.Seqno)
			v = binary.BigEndian.AppendUint64(v, uint64(m.Heard.UnixMilli()))
			if err := b.Put([]byte(author), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save marks: %w", err)
	}
	return nil
}

// Mark returns the stored mark of author.
func (s *Store) Mark(author string) (m Mark, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMarks); b != nil {
			m, ok = decodeMark(b.Get([]byte(author)))
		}
		return nil
	})
	if err != nil {
		return Mark{}, false, fmt.Errorf("store: read mark: %w", err)
	}
	return m, ok, nil
}

func decodeMark(v []byte) (Mark, bool) {
	if len(v) != markLen {
		return Mark{}, false
	}
	return Mark{Seqno: binary.BigEndian.Uint64(v), Heard: time.UnixMilli(int64(binary.BigEndian.Uint64(v[8:])))}, true
}

// pruneMarks drops, in tx, the marks heard before now minus MarkAge (and
// those that do not decode), then the ones heard longest ago beyond
// MaxMarks. It returns how many it dropped.
func pruneMarks(tx *bolt.Tx, now time.Time) (int, error) {
	b := tx.Bucket(bucketMarks)
	if b == nil {
		return 0, nil
	}
	type kept struct {
		key   []byte
		heard int64
	}
	var drop [][]byte
	var keep []kept
	cutoff := now.Add(-MarkAge)
	if err := b.ForEach(func(k, v []byte) error {
		m, ok := decodeMark(v)
		if !ok || m.Heard.Before(cutoff) {
			drop = append(drop, bytes.Clone(k))
		} else {
			keep = append(keep, kept{bytes.Clone(k), m.Heard.UnixMilli()})
		}
		return nil
	}); err != nil {
		return 0, err
	}
	if len(keep) > MaxMarks {
		slices.SortFunc(keep, func(a, b kept) int { return cmp.Compare(a.heard, b.heard) })
		for _, k := range keep[:len(keep)-MaxMarks] {
			drop = append(drop, k.key)
		}
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(drop), nil
}
