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

// recordV1 is the first byte of a version 1 value. ONLY APPEND new versions.
const recordV1 = 1

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
	Sent     time.Time // the sender's clock; the display order key
	Received time.Time // when this node first got it; may be zero
	Raw      []byte    // the signed record, opaque here
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
	n := fixedLen + 3*binary.MaxVarintLen64 + len(l.Author) + len(l.ID) + len(l.Raw)
	b := make([]byte, 0, n)
	b = append(b, recordV1)
	b = binary.BigEndian.AppendUint64(b, uint64(encodeTime(l.Sent)))
	b = binary.BigEndian.AppendUint64(b, uint64(encodeTime(l.Received)))
	b = binary.BigEndian.AppendUint64(b, l.Seqno)
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
	if b[0] != recordV1 {
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
