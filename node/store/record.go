package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Bounds on a stored line; [Store.Append] rejects larger input with
// [ErrInvalidLine] and the decoder treats larger values as damaged.
const (
	MaxRoomLen   = 1024    // bytes of [Line.Room]
	MaxAuthorLen = 256     // bytes of [Line.Author]
	MaxIDLen     = 512     // bytes of [Line.ID]
	MaxRawLen    = 2 << 20 // bytes of [Line.Raw]; a sanity bound, node applies its own
)

// The first byte of a value: its version. ONLY APPEND new versions.
// Version 2 adds the order time after the sequence number.
const (
	recordV1 = 1
	recordV2 = 2
)

const fixedLen = 1 + 8 + 8 + 8

// zeroTime encodes the zero time.Time, whose UnixNano is undefined.
const zeroTime = math.MinInt64

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// errRecord is wrapped by every decode failure.
var errRecord = errors.New("store: damaged record")

// Line is one chat line as stored.
type Line struct {
	Room     string    // the room's wire ID (its name, or a private room's tag)
	ID       string    // "<author peer ID>/<seqno hex>", unique within the room
	Author   string    // the author's peer ID, as text
	Seqno    uint64    // the author's sequence number
	Sent     time.Time // the display order key: this node's, as it placed the line
	Order    time.Time // the order key as signed, the same on every node (sync's); zero = Sent
	Received time.Time // when this node first got it; may be zero
	Raw      []byte    // the signed record, opaque here
}

// order returns l's signed order key, Sent when it has none.
func (l Line) order() time.Time {
	if l.Order.IsZero() {
		return l.Sent
	}
	return l.Order
}

// MessageID returns the ID of the line author sent with seqno, in the form
// [Line.ID] documents.
func MessageID(author string, seqno uint64) string {
	return fmt.Sprintf("%s/%x", author, seqno)
}

func encodeTime(t time.Time) int64 {
	if t.IsZero() {
		return zeroTime
	}
	return t.UnixNano()
}

func decodeTime(ns int64) time.Time {
	if ns == zeroTime {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// inRange reports whether t can be encoded (zero included).
func inRange(t time.Time) bool {
	return t.IsZero() || (!t.Before(minTime) && !t.After(maxTime))
}

// encodeRecord returns the version 1 value of l (l.Room is not included).
func encodeRecord(l Line) []byte {
	n := fixedLen + 8 + 3*binary.MaxVarintLen64 + len(l.Author) + len(l.ID) + len(l.Raw)
	b := make([]byte, 0, n)
	b = append(b, recordV2)
	b = binary.BigEndian.AppendUint64(b, uint64(encodeTime(l.Sent)))
	b = binary.BigEndian.AppendUint64(b, uint64(encodeTime(l.Received)))
	b = binary.BigEndian.AppendUint64(b, l.Seqno)
	b = binary.BigEndian.AppendUint64(b, uint64(encodeTime(l.order())))
	for _, f := range [][]byte{[]byte(l.Author), []byte(l.ID), l.Raw} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// decodeRecord parses a value written by encodeRecord. It never panics and
// copies everything it returns (bbolt values live only as long as their
// transaction).
func decodeRecord(b []byte) (Line, error) {
	var l Line
	if len(b) < fixedLen {
		return l, fmt.Errorf("%w: %d bytes, short", errRecord, len(b))
	}
	if b[0] != recordV1 && b[0] != recordV2 {
		return l, fmt.Errorf("%w: unknown version %d", errRecord, b[0])
	}
	sent := int64(binary.BigEndian.Uint64(b[1:]))
	if sent == zeroTime {
		return l, fmt.Errorf("%w: no sent time", errRecord)
	}
	l.Sent = decodeTime(sent)
	l.Received = decodeTime(int64(binary.BigEndian.Uint64(b[9:])))
	l.Seqno = binary.BigEndian.Uint64(b[17:])
	rest := b[fixedLen:]
	l.Order = l.Sent
	if b[0] == recordV2 {
		if len(rest) < 8 {
			return Line{}, fmt.Errorf("%w: %d bytes, short", errRecord, len(b))
		}
		o := int64(binary.BigEndian.Uint64(rest))
		if o == zeroTime {
			return Line{}, fmt.Errorf("%w: no order time", errRecord)
		}
		l.Order = decodeTime(o)
		rest = rest[8:]
	}
	field := func(name string, max int) ([]byte, error) {
		n, k := binary.Uvarint(rest)
		if k <= 0 {
			return nil, fmt.Errorf("%w: bad %s length", errRecord, name)
		}
		if n > uint64(max) || n > uint64(len(rest)-k) {
			return nil, fmt.Errorf("%w: %s length %d out of bounds", errRecord, name, n)
		}
		f := rest[k : k+int(n)]
		rest = rest[k+int(n):]
		return f, nil
	}
	author, err := field("author", MaxAuthorLen)
	if err != nil {
		return Line{}, err
	}
	id, err := field("id", MaxIDLen)
	if err != nil {
		return Line{}, err
	}
	if len(id) == 0 {
		return Line{}, fmt.Errorf("%w: empty id", errRecord)
	}
	raw, err := field("raw", MaxRawLen)
	if err != nil {
		return Line{}, err
	}
	if len(rest) != 0 {
		return Line{}, fmt.Errorf("%w: %d trailing bytes", errRecord, len(rest))
	}
	l.Author = string(author)
	l.ID = string(id)
	l.Raw = append([]byte(nil), raw...)
	return l, nil
}

// lineKey returns the display-order key of a line sent at sent with id.
func lineKey(sent time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(sent.UnixMilli())^(1<<63))
	return append(k, id...)
}

// keyTime returns the time part of a line key.
func keyTime(k []byte) time.Time {
	if len(k) < 8 {
		return time.Time{}
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(k) ^ (1 << 63)))
}

// keyID returns the message ID part of a line key.
func keyID(k []byte) string {
	if len(k) < 8 {
		return ""
	}
	return string(k[8:])
}

// valueOrder returns the signed order time of a stored value without
// decoding the rest.
func valueOrder(v []byte) (time.Time, bool) {
	switch {
	case len(v) >= fixedLen+8 && v[0] == recordV2:
		o := int64(binary.BigEndian.Uint64(v[fixedLen:]))
		return decodeTime(o), o != zeroTime
	}
	// Version 1 kept no signed order (its sent time is this node's
	// display key): such a line is not offered to sync, whose sets must
	// agree on every line's time.
	return time.Time{}, false
}
