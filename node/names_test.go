package node

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func testPeer(t testing.TB) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestMessageID pins the ID's form, "<peer ID>/<seqno hex>", the same
// with and without the cache, and the author name taken back from it.
func TestMessageID(t *testing.T) {
	var names peerNames
	p := testPeer(t)
	seq := binary.BigEndian.AppendUint64(nil, 0x18a2b3c4d5e6f708)
	want := fmt.Sprintf("%s/%x", p, seq)
	for range 2 { // uncached, then cached
		if got := names.messageID(p, seq); got != want {
			t.Errorf("peerNames.messageID = %q, want %q", got, want)
		}
	}
	if got := messageID(p, seq); got != want {
		t.Errorf("messageID = %q, want %q", got, want)
	}
	if got := authorName(Record{ID: want, Author: p}); got != p.String() {
		t.Errorf("authorName = %q, want %q", got, p.String())
	}
	if got := authorName(Record{Author: p}); got != p.String() {
		t.Errorf("authorName without ID = %q, want %q", got, p.String())
	}
}

// TestPeerNamesBound checks that the cache never holds more than
// maxAuthors names.
func TestPeerNamesBound(t *testing.T) {
	var names peerNames
	seq := make([]byte, 8)
	for i := range maxAuthors + 10 {
		names.messageID(peer.ID(fmt.Sprint("made-up-", i)), seq)
	}
	if n := len(names.m); n > maxAuthors || n == 0 {
		t.Errorf("cache holds %d names, want 1..%d", n, maxAuthors)
	}
}

// BenchmarkMessageID compares a message ID made with fmt and base58 each
// time, as before, with the cached name.
func BenchmarkMessageID(b *testing.B) {
	p := testPeer(b)
	seq := make([]byte, 8)
	b.Run("fmt", func(b *testing.B) {
		for b.Loop() {
			_ = fmt.Sprintf("%s/%x", p, seq)
		}
	})
	b.Run("cached", func(b *testing.B) {
		var names peerNames
		for b.Loop() {
			_ = names.messageID(p, seq)
		}
	})
}
