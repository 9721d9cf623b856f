package varint

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestShortestOnly(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want uint64
		err  error
	}{
		{[]byte{0x05}, 5, nil},
		{[]byte{0x85, 0x01}, 133, nil},
		{[]byte{0x85, 0x00}, 0, ErrNotShortest},
		{[]byte{0x85}, 0, io.ErrUnexpectedEOF},
		{nil, 0, io.EOF},
		{bytes.Repeat([]byte{0xff}, 11), 0, ErrNotShortest},
	} {
		n, err := Read(bytes.NewReader(c.in))
		if n != c.want || !errors.Is(err, c.err) {
			t.Errorf("Read(% x) = %d, %v; want %d, %v", c.in, n, err, c.want, c.err)
		}
		if _, k := Uvarint(c.in); c.err == nil && k != len(c.in) || c.err == ErrNotShortest && k > 0 {
			t.Errorf("Uvarint(% x) length %d", c.in, k)
		}
	}
}
