package node

import (
	"encoding/hex"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// peerNames caches the text form of peer IDs for the message IDs that a
// room's validator makes of every message it accepts. The text form is
// base58, some 2 µs to encode (the most of the validator's own work,
// BenchmarkSuiteCapacity's profile), and one author sends many messages;
// the validator runs in pubsub's single worker, on the path of every
// line. It holds at most maxAuthors names and starts over when full:
// made-up identities then cost what they cost without it. The zero value
// is ready; it is safe for concurrent use (a node's own messages are
// validated in the goroutine that publishes them).
type peerNames struct {
	mu sync.Mutex
	m  map[peer.ID]string
}

// name returns p.String().
func (c *peerNames) name(p peer.ID) string {
	c.mu.Lock()
	s, ok := c.m[p]
	c.mu.Unlock()
	if ok {
		return s
	}
	s = p.String()
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxAuthors {
		c.m = make(map[peer.ID]string)
	}
	c.m[p] = s
	c.mu.Unlock()
	return s
}

// messageID is [messageID], with the author's name from the cache.
func (c *peerNames) messageID(from peer.ID, seq []byte) string {
	return joinID(c.name(from), seq)
}

// joinID is a message ID: the author's peer ID as text, a slash, and the
// sequence number in lowercase hex.
func joinID(author string, seq []byte) string {
	b := make([]byte, 0, len(author)+1+hex.EncodedLen(len(seq)))
	b = append(b, author...)
	b = append(b, '/')
	b = hex.AppendEncode(b, seq)
	return string(b)
}

// authorName returns the text form of rec's author, rec.Author.String(),
// without encoding it again: it is the start of rec.ID.
func authorName(rec Record) string {
	if i := strings.LastIndexByte(rec.ID, '/'); i > 0 {
		return rec.ID[:i]
	}
	return rec.Author.String()
}
