// Package varint reads unsigned varints (encoding/binary's) that must be
// in their shortest form, so that a frame or a signed message has one
// encoding. The wire codecs of node (syncwire, dmwire, peerwire) share it.
package varint

import (
	"encoding/binary"
	"errors"
	"io"
)

// ErrNotShortest is a varint not in its shortest form, or too long.
var ErrNotShortest = errors.New("varint not in its shortest form or too long")

// Uvarint is binary.Uvarint that also refuses a number not in its
// shortest form (k ≤ 0).
func Uvarint(b []byte) (uint64, int) {
	n, k := binary.Uvarint(b)
	if k > 1 && b[k-1] == 0 {
		return 0, -k
	}
	return n, k
}

// Read is binary.ReadUvarint that refuses a number not in its shortest
// form ([ErrNotShortest]). io.EOF means r ended before the first byte,
// io.ErrUnexpectedEOF after it.
func Read(r io.ByteReader) (uint64, error) {
	var b [binary.MaxVarintLen64]byte
	for i := range b {
		c, err := r.ReadByte()
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		b[i] = c
		if c < 0x80 {
			n, k := Uvarint(b[:i+1])
			if k <= 0 {
				return 0, ErrNotShortest
			}
			return n, nil
		}
	}
	return 0, ErrNotShortest
}
