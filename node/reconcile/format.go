package reconcile

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
)

// Modes. ONLY APPEND TO THIS LIST: the values are on the wire.
const (
	modeSkip        = 0
	modeFingerprint = 1
	modeIDList      = 2
	modeIDDiff      = 3
)

// Shape of the tree.
const (
	buckets   = 16 // a differing range is cut into at most this many
	perRange  = 4  // items per range cut, when there are few
	listBelow = 16 // a range of fewer items goes as an id list
	fpSize    = 16 // bytes of a fingerprint
)

// Sizes, in bytes, that a writer plans with.
const (
	maxBound            = binary.MaxVarintLen64 + 1 + IDSize // time, prefix length, prefix
	maxSkip             = maxBound + 1
	maxFingerprintRange = maxBound + 1 + fpSize
	// reserve is kept free in every message to end it early: a pending
	// skip, then a fingerprint.
	reserve = maxSkip + maxFingerprintRange
)

// bound is the upper end of a range: the key (time, id), id being the
// prefix padded with zeros, or infinity. The zero bound is the lowest key,
// where the first range starts.
type bound struct {
	time int64
	id   [IDSize]byte
	inf  bool
}

// compare orders finite bounds (the reader meets no other: infinity is
// last, and above the rest by definition).
func (b bound) compare(c bound) int {
	if x := cmp.Compare(b.time, c.time); x != 0 {
		return x
	}
	return bytes.Compare(b.id[:], c.id[:])
}

// above reports whether it is below b.
func (b bound) above(it Item) bool {
	if b.inf || it.Time != b.time {
		return b.inf || it.Time < b.time
	}
	return bytes.Compare(it.ID[:], b.id[:]) < 0
}

// between returns the shortest bound k with a < k <= b, for items a < b.
func between(a, b Item) bound {
	k := bound{time: b.Time}
	if a.Time < b.Time {
		return k
	}
	l := 0
	for l < IDSize-1 && a.ID[l] == b.ID[l] {
		l++
	}
	copy(k.id[:l+1], b.ID[:l+1])
	return k
}

// uvarintLen returns the length of the uvarint encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// rng is one range of a message as read.
type rng struct {
	upper  bound
	mode   byte
	fp     [fpSize]byte
	ids    []byte // id list: its IDs; id diff: the IDs the list lacks
	m      int    // id diff: the IDs the bitmap covers
	bitmap []byte // id diff
}

// count returns the number of IDs in g.ids.
func (g *rng) count() int { return len(g.ids) / IDSize }

// id returns the i-th ID of g.ids.
func (g *rng) id(i int) [IDSize]byte { return [IDSize]byte(g.ids[i*IDSize:]) }

// reader reads the ranges of a message, checking every rule of the
// package comment. Its results share memory with the message.
type reader struct {
	b        []byte // what is left
	reply    bool   // id diffs allowed: a responder's message
	prev     int64  // time of the last bound
	last     bound  // the last bound
	n        int    // ranges read
	lastSkip bool   // the last range was a skip
	end      bool   // the last bound was infinity
}

// fail returns an error wrapping ErrMalformed, naming the range at hand.
func (r *reader) fail(format string, args ...any) error {
	return fmt.Errorf("%w: range %d: %s", ErrMalformed, r.n, fmt.Sprintf(format, args...))
}

func (r *reader) uvarint(what string) (uint64, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		return 0, r.fail("bad %s", what)
	}
	if n > 1 && r.b[n-1] == 0 {
		return 0, r.fail("%s not in its shortest form", what)
	}
	r.b = r.b[n:]
	return v, nil
}

// next returns the next range, or false at the end of the message.
func (r *reader) next() (g rng, ok bool, err error) {
	if len(r.b) == 0 {
		if r.lastSkip {
			return g, false, r.fail("skip at the end")
		}
		return g, false, nil
	}
	r.n++
	if r.end {
		return g, false, r.fail("range after the infinity bound")
	}
	if g.upper, err = r.bound(); err != nil {
		return g, false, err
	}
	if len(r.b) == 0 {
		return g, false, r.fail("no mode")
	}
	g.mode, r.b = r.b[0], r.b[1:]
	switch g.mode {
	case modeSkip:
		if r.lastSkip {
			return g, false, r.fail("two skips in a row")
		}
	case modeFingerprint:
		if len(r.b) < fpSize {
			return g, false, r.fail("fingerprint of %d bytes", len(r.b))
		}
		g.fp, r.b = [fpSize]byte(r.b), r.b[fpSize:]
	case modeIDList:
		if g.ids, err = r.ids("id list", "id list length"); err != nil {
			return g, false, err
		}
	case modeIDDiff:
		if !r.reply {
			return g, false, r.fail("id diff from an initiator")
		}
		m, err := r.uvarint("id diff bitmap length")
		if err != nil {
			return g, false, err
		}
		if m > uint64(len(r.b))*8 {
			return g, false, r.fail("id diff bitmap of %d bits, %d bytes left", m, len(r.b))
		}
		nb := int((m + 7) / 8)
		g.m, g.bitmap, r.b = int(m), r.b[:nb], r.b[nb:]
		if m%8 != 0 && g.bitmap[nb-1]>>(m%8) != 0 {
			return g, false, r.fail("id diff bitmap padding not zero")
		}
		if g.ids, err = r.ids("id diff", "id diff length"); err != nil {
			return g, false, err
		}
	default:
		return g, false, r.fail("unknown mode %d", g.mode)
	}
	r.lastSkip = g.mode == modeSkip
	return g, true, nil
}

// ids reads a uvarint count and that many IDs (what and its length name
// them in errors).
func (r *reader) ids(what, length string) ([]byte, error) {
	n, err := r.uvarint(length)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)/IDSize) {
		return nil, r.fail("%s of %d IDs, %d bytes left", what, n, len(r.b))
	}
	ids := r.b[:n*IDSize]
	r.b = r.b[n*IDSize:]
	return ids, nil
}

func (r *reader) bound() (bound, error) {
	t, err := r.uvarint("bound time")
	if err != nil {
		return bound{}, err
	}
	if t == 0 {
		r.end = true
		return bound{inf: true}, nil // above the last, which is not infinity
	}
	d := t - 1
	if d > uint64(math.MaxInt64-r.prev) {
		return bound{}, r.fail("bound time beyond the largest int64")
	}
	b := bound{time: r.prev + int64(d)}
	n, err := r.uvarint("bound prefix length")
	if err != nil {
		return bound{}, err
	}
	switch {
	case n > IDSize:
		return bound{}, r.fail("bound prefix of %d bytes", n)
	case n > uint64(len(r.b)):
		return bound{}, r.fail("bound prefix of %d bytes, %d left", n, len(r.b))
	case n > 0 && r.b[n-1] == 0:
		return bound{}, r.fail("bound prefix ends in a zero byte")
	}
	copy(b.id[:], r.b[:n])
	r.b = r.b[n:]
	if b.compare(r.last) <= 0 {
		return bound{}, r.fail("bound not above the one before")
	}
	r.prev, r.last = b.time, b
	return b, nil
}

// writer writes a message, merging skips and dropping a last one.
type writer struct {
	b        []byte
	max      int   // MaxMessage
	prev     int64 // time of the last bound written
	skipping bool  // a skip up to skipTo is pending
	skipTo   bound
	ranges   int // ranges written
}

func newWriter(max int) *writer {
	return &writer{b: append(make([]byte, 0, 512), Version), max: max}
}

// room returns the bytes left for ranges, the reserve kept.
func (w *writer) room() int { return w.max - len(w.b) - reserve }

func (w *writer) bound(b bound) {
	if b.inf {
		w.b = append(w.b, 0)
		return
	}
	w.b = binary.AppendUvarint(w.b, uint64(b.time-w.prev)+1)
	w.prev = b.time
	n := IDSize
	for n > 0 && b.id[n-1] == 0 {
		n--
	}
	w.b = append(w.b, byte(n))
	w.b = append(w.b, b.id[:n]...)
}

// start writes a pending skip, then the bound and mode of a range.
func (w *writer) start(b bound, mode byte) {
	w.flush()
	w.bound(b)
	w.b = append(w.b, mode)
	w.ranges++
}

// skip ends a range done: nothing is written until another range is.
func (w *writer) skip(b bound) { w.skipping, w.skipTo = true, b }

// flush writes a pending skip.
func (w *writer) flush() {
	if w.skipping {
		w.skipping = false
		w.bound(w.skipTo)
		w.b = append(w.b, modeSkip)
		w.ranges++
	}
}

func (w *writer) fingerprint(b bound, fp [fpSize]byte) {
	w.start(b, modeFingerprint)
	w.b = append(w.b, fp[:]...)
}

func (w *writer) idList(b bound, items []Item) {
	w.start(b, modeIDList)
	w.b = binary.AppendUvarint(w.b, uint64(len(items)))
	for _, it := range items {
		w.b = append(w.b, it.ID[:]...)
	}
}

func (w *writer) idDiff(b bound, m int, bitmap []byte, ext [][IDSize]byte) {
	w.start(b, modeIDDiff)
	w.b = binary.AppendUvarint(w.b, uint64(m))
	w.b = append(w.b, bitmap...)
	w.b = binary.AppendUvarint(w.b, uint64(len(ext)))
	for _, id := range ext {
		w.b = append(w.b, id[:]...)
	}
}
