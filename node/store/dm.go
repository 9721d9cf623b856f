package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Direct messages.
//
// Both sides keep a direct message in the same file as the rooms' logs,
// in a bucket of its own (an older lanchat leaves it alone):
//
//	bucket "dms"
//	  bucket "log"    key -> value (record below), FillPercent 1.0
//	  bucket "ids"    message ID -> key
//	  bucket "queue"  peer ID "\x00" message ID -> key: ours, not yet
//	                  acknowledged by the recipient
//
// The key is made as a line's, from the time this node stored the
// message (ms, sign bit flipped, big-endian, then the message ID): the
// log is in the order this node sent or received, whatever the senders'
// clocks say. The value, version 1:
//
//	0        1       2               10              18
//	+--------+-------+---------------+---------------+
//	| ver=1  | flags | sent ns (BE)  | stored ns (BE)|
//	+--------+-------+---------------+---------------+
//	| uvarint len | peer | uvarint len | ID | uvarint len | nick |
//	+-------------+------+-------------+----+-------------+------+
//	| uvarint len | raw  |
//	+-------------+------+
//
// flags: 1 ours (sent by this node), 2 delivered (ours, acknowledged).
// The record must end exactly after raw; one that does not decode is
// skipped and logged once. The ID of a message is its sender's peer ID, a
// slash and its 16-byte id in hex: a message is kept once, whoever
// sends it how often (a sender repeats a message whose ack it missed).

// DM is one direct message as stored.
type DM struct {
	ID        string    // "<sender peer ID>/<32 hex digits>", unique
	Peer      string    // the other side: the recipient of ours, the sender of theirs
	Out       bool      // sent by this node
	Nick      string    // the other side's nick as known when stored; may be ""
	Sent      time.Time // the sender's clock
	Stored    time.Time // when this node stored it
	Delivered bool      // ours only: the recipient acknowledged it
	Raw       []byte    // the signed message, opaque here
}

// Bounds of the direct messages.
const (
	// MaxDMs is how many direct messages [Store.PruneDMs] keeps in all,
	// the newest; the queued ones are never dropped for it.
	MaxDMs = 10000
	// MaxNickLen bounds [DM.Nick], in bytes.
	MaxNickLen = 256
)

const (
	dmOut       = 1
	dmDelivered = 2
)

var (
	bucketDMs   = []byte("dms")
	bucketLog   = []byte("log")
	bucketQueue = []byte("queue")
)

// ErrInvalidDM is returned by [Store.AddDM] for a message with an empty
// or oversize field or a time that cannot be stored.
var ErrInvalidDM = errors.New("store: invalid direct message")

func validDM(d DM) error {
	switch {
	case d.ID == "" || len(d.ID) > MaxIDLen:
		return fmt.Errorf("%w: id length %d", ErrInvalidDM, len(d.ID))
	case d.Peer == "" || len(d.Peer) > MaxAuthorLen || bytes.IndexByte([]byte(d.Peer), 0) >= 0:
		return fmt.Errorf("%w: peer %q", ErrInvalidDM, d.Peer)
	case len(d.Nick) > MaxNickLen:
		return fmt.Errorf("%w: nick length %d", ErrInvalidDM, len(d.Nick))
	case len(d.Raw) > MaxRawLen:
		return fmt.Errorf("%w: raw length %d", ErrInvalidDM, len(d.Raw))
	case d.Stored.IsZero() || !inRange(d.Sent) || !inRange(d.Stored):
		return fmt.Errorf("%w: time out of range", ErrInvalidDM)
	}
	return nil
}

func encodeDM(d DM) []byte {
	var flags byte
	if d.Out {
		flags |= dmOut
	}
	if d.Delivered {
		flags |= dmDelivered
	}
	b := make([]byte, 0, 18+4*binary.MaxVarintLen32+len(d.Peer)+len(d.ID)+len(d.Nick)+len(d.Raw))
	b = append(b, recordV1, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(encodeTime(d.Sent)))
	b = binary.BigEndian.AppendUint64(b, uint64(encodeTime(d.Stored)))
	for _, f := range [][]byte{[]byte(d.Peer), []byte(d.ID), []byte(d.Nick), d.Raw} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

func decodeDM(v []byte) (DM, error) {
	if len(v) < 18 || v[0] != recordV1 || v[1]&^(dmOut|dmDelivered) != 0 {
		return DM{}, fmt.Errorf("%w: direct message header", errRecord)
	}
	d := DM{Out: v[1]&dmOut != 0, Delivered: v[1]&dmDelivered != 0,
		Sent:   decodeTime(int64(binary.BigEndian.Uint64(v[2:]))),
		Stored: decodeTime(int64(binary.BigEndian.Uint64(v[10:])))}
	rest := v[18:]
	var fields [4][]byte
	for i, max := range [4]int{MaxAuthorLen, MaxIDLen, MaxNickLen, MaxRawLen} {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(max) || n > uint64(len(rest)-k) {
			return DM{}, fmt.Errorf("%w: direct message field %d", errRecord, i)
		}
		fields[i] = bytes.Clone(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	if len(rest) != 0 {
		return DM{}, fmt.Errorf("%w: %d bytes after the direct message", errRecord, len(rest))
	}
	d.Peer, d.ID, d.Nick, d.Raw = string(fields[0]), string(fields[1]), string(fields[2]), fields[3]
	if d.Raw == nil {
		d.Raw = []byte{}
	}
	return d, nil
}

// dmBuckets returns the log, ids and queue buckets, creating them when
// write is set; nils when they do not exist.
func dmBuckets(tx *bolt.Tx, write bool) (log, ids, queue *bolt.Bucket, err error) {
	if !write {
		root := tx.Bucket(bucketDMs)
		if root == nil {
			return nil, nil, nil, nil
		}
		log, ids, queue = root.Bucket(bucketLog), root.Bucket(bucketIDs), root.Bucket(bucketQueue)
		if log == nil || ids == nil || queue == nil {
			return nil, nil, nil, nil
		}
		return log, ids, queue, nil
	}
	root, err := tx.CreateBucketIfNotExists(bucketDMs)
	if err != nil {
		return nil, nil, nil, err
	}
	var bs [3]*bolt.Bucket
	for i, name := range [][]byte{bucketLog, bucketIDs, bucketQueue} {
		if bs[i], err = root.CreateBucketIfNotExists(name); err != nil {
			return nil, nil, nil, err
		}
	}
	bs[0].FillPercent = 1.0
	return bs[0], bs[1], bs[2], nil
}

func queueKey(peer, id string) []byte { return []byte(peer + "\x00" + id) }

// decodeDMAt decodes the value at k, logging a damaged one once.
func (s *Store) decodeDMAt(k, v []byte) (DM, bool) {
	d, err := decodeDM(v)
	if err == nil && d.ID != keyID(k) {
		err = fmt.Errorf("%w: id %q under key for %q", errRecord, d.ID, keyID(k))
	}
	if err != nil {
		if _, seen := s.warned.LoadOrStore("\x00dm\x00"+string(k), struct{}{}); !seen {
			s.log.Warn("Skipping damaged direct message record", "id", keyID(k), "err", err)
		}
		return DM{}, false
	}
	return d, true
}

// AddDM stores d unless a message with its ID is stored, and reports
// whether it added it; one of ours not delivered is queued. It is on
// disk when AddDM returns.
func (s *Store) AddDM(d DM) (added bool, err error) {
	if err := validDM(d); err != nil {
		return false, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		log, ids, queue, err := dmBuckets(tx, true)
		if err != nil {
			return err
		}
		if ids.Get([]byte(d.ID)) != nil {
			return nil
		}
		k := lineKey(d.Stored, d.ID)
		if err := log.Put(k, encodeDM(d)); err != nil {
			return err
		}
		if err := ids.Put([]byte(d.ID), k); err != nil {
			return err
		}
		if d.Out && !d.Delivered {
			if err := queue.Put(queueKey(d.Peer, d.ID), k); err != nil {
				return err
			}
		}
		added = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: add direct message: %w", err)
	}
	return added, nil
}

// HasDM reports whether the message id is stored.
func (s *Store) HasDM(id string) (bool, error) {
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		if _, ids, _, _ := dmBuckets(tx, false); ids != nil {
			ok = ids.Get([]byte(id)) != nil
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: has direct message: %w", err)
	}
	return ok, nil
}

// GetDM returns the message id, if stored.
func (s *Store) GetDM(id string) (d DM, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		log, ids, _, _ := dmBuckets(tx, false)
		if ids == nil {
			return nil
		}
		if k := ids.Get([]byte(id)); k != nil {
			if v := log.Get(k); v != nil {
				d, ok = s.decodeDMAt(k, v)
			}
		}
		return nil
	})
	if err != nil {
		return DM{}, false, fmt.Errorf("store: get direct message: %w", err)
	}
	return d, ok, nil
}

// DeliveredDM marks our queued message id to peer delivered, and reports
// whether it was queued until now (only one call does) with the message.
func (s *Store) DeliveredDM(peer, id string) (changed bool, d DM, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		log, _, queue, err := dmBuckets(tx, true)
		if err != nil {
			return err
		}
		qk := queueKey(peer, id)
		k := queue.Get(qk)
		if k == nil {
			return nil
		}
		k = bytes.Clone(k)
		if err := queue.Delete(qk); err != nil {
			return err
		}
		v := log.Get(k)
		if v == nil {
			return nil
		}
		var ok bool
		if d, ok = s.decodeDMAt(k, v); !ok {
			return nil
		}
		d.Delivered = true
		changed = true
		return log.Put(k, encodeDM(d))
	})
	if err != nil {
		return false, DM{}, fmt.Errorf("store: mark direct message delivered: %w", err)
	}
	return changed, d, nil
}

// DropDM removes our queued message id to peer, from the queue and the
// log (the recipient refused it), and reports whether it was queued.
func (s *Store) DropDM(peer, id string) (dropped bool, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		log, ids, queue, err := dmBuckets(tx, true)
		if err != nil {
			return err
		}
		qk := queueKey(peer, id)
		k := queue.Get(qk)
		if k == nil {
			return nil
		}
		k = bytes.Clone(k)
		dropped = true
		return errors.Join(queue.Delete(qk), log.Delete(k), ids.Delete([]byte(id)))
	})
	if err != nil {
		return false, fmt.Errorf("store: drop direct message: %w", err)
	}
	return dropped, nil
}

// QueuedDMs returns our messages to peer ("" for every peer) that are not
// delivered, oldest first (by the order of the log). Damaged records are
// skipped.
func (s *Store) QueuedDMs(peer string) ([]DM, error) {
	type kd struct {
		k []byte
		d DM
	}
	var found []kd
	err := s.view(func(tx *bolt.Tx) error {
		log, _, queue, _ := dmBuckets(tx, false)
		if queue == nil {
			return nil
		}
		c := queue.Cursor()
		prefix := []byte(peer + "\x00")
		if peer == "" {
			prefix = nil
		}
		for qk, k := c.Seek(prefix); qk != nil && bytes.HasPrefix(qk, prefix); qk, k = c.Next() {
			v := log.Get(k)
			if v == nil {
				continue
			}
			if d, ok := s.decodeDMAt(k, v); ok {
				found = append(found, kd{bytes.Clone(k), d})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: queued direct messages: %w", err)
	}
	slices.SortFunc(found, func(a, b kd) int { return bytes.Compare(a.k, b.k) })
	out := make([]DM, len(found))
	for i, f := range found {
		out[i] = f.d
	}
	return out, nil
}

// RecentDMs returns the newest n direct messages, with every peer, in
// the order of the log (oldest first): what a restarted node shows again.
// Damaged records are skipped.
func (s *Store) RecentDMs(n int) ([]DM, error) {
	var out []DM
	err := s.view(func(tx *bolt.Tx) error {
		log, _, _, _ := dmBuckets(tx, false)
		if log == nil {
			return nil
		}
		c := log.Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			if d, ok := s.decodeDMAt(k, v); ok {
				out = append(out, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: recent direct messages: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// QueuedDMCount returns how many of our messages are not delivered: to
// peer, and in all.
func (s *Store) QueuedDMCount(peer string) (toPeer, total int, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		_, _, queue, _ := dmBuckets(tx, false)
		if queue == nil {
			return nil
		}
		prefix := []byte(peer + "\x00")
		return queue.ForEach(func(k, _ []byte) error {
			total++
			if bytes.HasPrefix(k, prefix) {
				toPeer++
			}
			return nil
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("store: count queued direct messages: %w", err)
	}
	return toPeer, total, nil
}

// PruneDMs drops the queued messages stored before now minus queueAge
// (they are returned, for the user to be told), then the others stored
// before now minus maxAge, then the oldest of those beyond max (queued
// ones are never dropped for the count). It returns the expired queued
// messages and how many others it dropped. One transaction.
func (s *Store) PruneDMs(now time.Time, maxAge, queueAge time.Duration, max int) (expired []DM, removed int, err error) {
	var none bool // no direct message yet: not worth a write (an fsync)
	if err := s.view(func(tx *bolt.Tx) error {
		none = tx.Bucket(bucketDMs) == nil
		return nil
	}); err != nil || none {
		return nil, 0, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		expired, removed = nil, 0
		log, ids, queue, err := dmBuckets(tx, false)
		if log == nil || err != nil {
			return err
		}
		queued := make(map[string][]byte) // log key -> queue key
		if err := queue.ForEach(func(qk, k []byte) error {
			queued[string(k)] = bytes.Clone(qk)
			return nil
		}); err != nil {
			return err
		}
		type drop struct{ k, qk []byte }
		var drops []drop
		cutoff := lineKey(now.Add(-maxAge), "")
		staleBefore := now.Add(-queueAge)
		excess := log.Stats().KeyN - len(queued) - max
		c := log.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if qk, ok := queued[string(k)]; ok {
				d, ok := s.decodeDMAt(k, v)
				if !ok || d.Stored.Before(staleBefore) {
					drops = append(drops, drop{bytes.Clone(k), qk})
					if ok {
						expired = append(expired, d)
					}
				}
				continue
			}
			if bytes.Compare(k, cutoff) < 0 || excess > 0 {
				drops = append(drops, drop{k: bytes.Clone(k)})
				excess--
				removed++
			}
		}
		for _, d := range drops {
			if d.qk != nil {
				if err := queue.Delete(d.qk); err != nil {
					return err
				}
			}
			if err := errors.Join(log.Delete(d.k), ids.Delete(d.k[8:])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: prune direct messages: %w", err)
	}
	slices.SortFunc(expired, func(a, b DM) int { return cmp.Compare(a.Stored.UnixNano(), b.Stored.UnixNano()) })
	return expired, removed, nil
}
