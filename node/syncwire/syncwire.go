// Package syncwire is the frame codec of lanchat's history sync stream,
// /lanchat/sync/1 (package node runs the protocol; package
// [lanchat/node/reconcile] computes what each side lacks). It imports
// nothing of libp2p.
//
// # Frames
//
// Both directions are a sequence of frames: an unsigned varint length
// (encoding/binary's Uvarint), then that many bytes, the first of which
// is the frame's type. A frame is at most [MaxFrame] bytes. Every varint,
// here and in the bodies, must be in its shortest form: a message has
// one encoding.
//
//	+----------+------+---------+
//	| length   | type | body    |
//	| uvarint  | u8   | ...     |
//	+----------+------+---------+
//
// The types (ONLY APPEND TO THIS LIST) and their bodies (integers
// big-endian):
//
//	1 hello      requester → responder: topic (uvarint length, 1..256
//	             bytes), floor (int64 unix ms): the oldest line the
//	             requester reconciles, proof (uvarint length, 0..64
//	             bytes): for a private room, the room key sealing
//	             nothing, bound to both peers and the topic — so only a
//	             member with the passphrase is served
//	2 welcome    responder → requester: status (u8: 0 ok, 1 not in the
//	             room, 2 busy), floor (int64 unix ms: the floor both use,
//	             the later of the two), older (uvarint: lines the
//	             responder holds below that floor)
//	3 reconcile  either way: a message of package reconcile
//	4 fetch      requester → responder: 1..256 IDs of 16 bytes each
//	5 record     responder → requester: one signed pubsub message as
//	             stored (1..MaxRecord bytes)
//	6 end        responder → requester: the records of the last fetch
//	             are all sent (empty body)
//
// An exchange: hello, welcome; reconcile back and forth until the
// requester knows what it lacks; then fetch, records, end, as often as
// needed; the requester closes the stream. A frame out of turn ends it.
//
// Example, the hello for topic "lanchat/2/room/lobby" with floor
// 0x0193a5b2c3d4 (an open room: no proof):
//
//	1f                                 length 31
//	01                                 hello
//	14 6c 61 … 62 79                   topic (20 bytes)
//	00 00 01 93 a5 b2 c3 d4            floor
//	00                                 proof (none)
package syncwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"lanchat/node/varint"
)

// Frame types. ONLY APPEND TO THIS LIST: the values are on the wire.
const (
	TypeHello     = 1
	TypeWelcome   = 2
	TypeReconcile = 3
	TypeFetch     = 4
	TypeRecord    = 5
	TypeEnd       = 6
)

// Welcome statuses. ONLY APPEND TO THIS LIST.
const (
	StatusOK        = 0
	StatusNotJoined = 1
	StatusBusy      = 2
)

// Limits.
const (
	// MaxFrame is the largest frame, type byte included.
	MaxFrame = 128 << 10
	// MaxTopic is the longest topic name in a hello.
	MaxTopic = 256
	// MaxFetch is the most IDs in one fetch frame.
	MaxFetch = 256
	// MaxRecord is the largest record: a pubsub message holding the
	// largest envelope (8 KiB) with its signature, key and topic.
	MaxRecord = 12 << 10
	// IDSize is the size of a line's sync ID.
	IDSize = 16
	// MaxProof is the longest proof in a hello.
	MaxProof = 64
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("syncwire: malformed frame")

// Hello opens an exchange.
type Hello struct {
	Topic string
	Floor int64  // unix ms
	Proof []byte // of the room key, for a private room; else empty
}

// Welcome answers a hello.
type Welcome struct {
	Status byte
	Floor  int64  // unix ms
	Older  uint64 // lines the responder holds below Floor
}

// WriteFrame writes one frame of type typ with body.
func WriteFrame(w io.Writer, typ byte, body []byte) error {
	if 1+len(body) > MaxFrame {
		return fmt.Errorf("syncwire: frame of %d bytes, max %d", 1+len(body), MaxFrame)
	}
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen32+1+len(body)), uint64(1+len(body)))
	b = append(b, typ)
	b = append(b, body...)
	_, err := w.Write(b)
	return err
}

// ReadFrame reads one frame and returns its type and body. A frame
// longer than max (at most MaxFrame) is an error; io.EOF means the stream
// ended between frames. What the peer sent wrong — a bad or oversize
// length, a frame cut short by the end of the stream — wraps
// [ErrMalformed]; a failure of the stream itself (a read deadline, a
// reset) is returned wrapped as it is, not as ErrMalformed: a slow or
// vanished peer has not sent anything wrong.
func ReadFrame(r *bufio.Reader, max int) (typ byte, body []byte, err error) {
	typ, body, err = varint.ReadFrame(r, uint64(min(max, MaxFrame)))
	switch {
	case err == nil || err == io.EOF:
		return typ, body, err
	case errors.Is(err, varint.ErrFrame):
		return 0, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return 0, nil, fmt.Errorf("syncwire: %w", err)
}

// AppendHello appends the body of h.
func AppendHello(b []byte, h Hello) []byte {
	b = binary.AppendUvarint(b, uint64(len(h.Topic)))
	b = append(b, h.Topic...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Floor))
	b = binary.AppendUvarint(b, uint64(len(h.Proof)))
	return append(b, h.Proof...)
}

// DecodeHello parses a hello body.
func DecodeHello(b []byte) (Hello, error) {
	bad := fmt.Errorf("%w: hello of %d bytes", ErrMalformed, len(b))
	n, k := varint.Uvarint(b)
	if k <= 0 || n == 0 || n > MaxTopic || uint64(len(b)-k) < n+8 {
		return Hello{}, bad
	}
	h := Hello{Topic: string(b[k : k+int(n)])}
	rest := b[k+int(n):]
	h.Floor = int64(binary.BigEndian.Uint64(rest))
	rest = rest[8:]
	p, k := varint.Uvarint(rest)
	if k <= 0 || p > MaxProof || uint64(len(rest)-k) != p {
		return Hello{}, bad
	}
	if p > 0 {
		h.Proof = append([]byte(nil), rest[k:]...)
	}
	return h, nil
}

// AppendWelcome appends the body of w.
func AppendWelcome(b []byte, w Welcome) []byte {
	b = append(b, w.Status)
	b = binary.BigEndian.AppendUint64(b, uint64(w.Floor))
	return binary.AppendUvarint(b, w.Older)
}

// DecodeWelcome parses a welcome body. An unknown status is an error.
func DecodeWelcome(b []byte) (Welcome, error) {
	if len(b) < 10 || b[0] > StatusBusy {
		return Welcome{}, fmt.Errorf("%w: welcome of %d bytes", ErrMalformed, len(b))
	}
	w := Welcome{Status: b[0], Floor: int64(binary.BigEndian.Uint64(b[1:9]))}
	n, k := varint.Uvarint(b[9:])
	if k <= 0 || 9+k != len(b) {
		return Welcome{}, fmt.Errorf("%w: welcome count", ErrMalformed)
	}
	w.Older = n
	return w, nil
}

// AppendFetch appends the body of a fetch of ids (at most MaxFetch).
func AppendFetch(b []byte, ids [][IDSize]byte) []byte {
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

// DecodeFetch parses a fetch body.
func DecodeFetch(b []byte) ([][IDSize]byte, error) {
	if len(b) == 0 || len(b)%IDSize != 0 || len(b)/IDSize > MaxFetch {
		return nil, fmt.Errorf("%w: fetch of %d bytes", ErrMalformed, len(b))
	}
	ids := make([][IDSize]byte, len(b)/IDSize)
	for i := range ids {
		copy(ids[i][:], b[i*IDSize:])
	}
	return ids, nil
}
