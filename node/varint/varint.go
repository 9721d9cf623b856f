// Package varint reads unsigned varints (encoding/binary's) that must be
// in their shortest form, so that a frame or a signed message has one
// encoding, and the length-prefixed frames built on them. The wire codecs
// of node (syncwire, dmwire, peerwire) share it.
package varint

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
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

// ErrFrame is a frame whose peer sent it wrong: a bad or oversize
// length, or a body cut short by the end of the stream.
var ErrFrame = errors.New("bad frame")

// ReadFrame reads one length-prefixed frame, the framing of syncwire,
// dmwire and peerwire: a shortest-form varint n, 1 ≤ n ≤ max, then n
// bytes, a type and the body. io.EOF means r ended between frames; what
// the peer sent wrong wraps [ErrFrame], and nothing of an oversize body
// is read; a failure of r itself (a read deadline, a reset) is returned
// wrapped as it is, not as ErrFrame: a slow or vanished peer has sent
// nothing wrong.
func ReadFrame(r *bufio.Reader, max uint64) (typ byte, body []byte, err error) {
	n, err := Read(r)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		return 0, nil, io.EOF
	case errors.Is(err, ErrNotShortest) || errors.Is(err, io.ErrUnexpectedEOF):
		return 0, nil, fmt.Errorf("%w: length: %w", ErrFrame, err)
	default:
		return 0, nil, fmt.Errorf("read frame length: %w", err)
	}
	if n == 0 || n > max {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes, max %d", ErrFrame, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, fmt.Errorf("%w: frame of %d bytes: %w", ErrFrame, n, err)
		}
		return 0, nil, fmt.Errorf("read frame of %d bytes: %w", n, err)
	}
	return b[0], b[1:], nil
}
