package node

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
)

// TestAckStream drives the leave-ack handler from a raw host: while no
// leave is in progress every ack stream is reset at once; during one, an
// ack counts only for the peer that sends it and only for the room being
// left, an oversized one is refused, and a silent stream is cut after
// ackTimeout.
func TestAckStream(t *testing.T) {
	t.Parallel()
	a := startNode(t, testConfig("alice"))
	raw := newRawHost(t, nil)
	connectRaw(t, raw, a)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// ack opens an ack stream, writes b (and closes its side unless b is
	// nil), and returns how long until the handler ended the stream, and
	// whether it reset it.
	ack := func(b []byte) (time.Duration, bool) {
		t.Helper()
		s, err := raw.NewStream(ctx, a.Host.self, ackProtocol)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		start := time.Now()
		s.SetDeadline(start.Add(2 * ackTimeout))
		if b != nil {
			if _, err := s.Write(b); err != nil {
				return time.Since(start), true
			}
			s.CloseWrite()
		}
		_, err = io.Copy(io.Discard, s)
		took := time.Since(start)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the handler kept an ack stream open for %v", took)
		}
		return took, err != nil
	}
	roomAck := func(room string) []byte { return append(binary.AppendUvarint(nil, uint64(len(room))), room...) }

	// No leave of alice's in progress: nothing to read.
	if took, reset := ack(roomAck(testRoom)); !reset || took >= ackTimeout/2 {
		t.Errorf("ack stream with no leave in progress: reset %v after %v, want a reset at once", reset, took)
	}

	other := testPeerID(t)
	w := a.acks.expect(testRoom, []peer.ID{raw.ID(), other})
	defer a.acks.drop(w)
	if _, reset := ack(roomAck("dev")); reset || w.missing() != 2 {
		t.Errorf("ack of a room not being left: reset %v, %d missing, want 2", reset, w.missing())
	}
	if _, reset := ack(binary.AppendUvarint(nil, 1<<20)); !reset || w.missing() != 2 {
		t.Errorf("oversized ack: reset %v, %d missing", reset, w.missing())
	}
	if took, _ := ack(nil); took < ackTimeout/2 {
		t.Errorf("silent ack stream ended after %v, want about %v", took, ackTimeout)
	}
	if _, reset := ack(roomAck(testRoom)); reset || w.missing() != 1 {
		t.Errorf("raw peer's ack: reset %v, %d missing, want 1 (the other peer's)", reset, w.missing())
	}
	select {
	case <-w.done:
		t.Errorf("the raw peer confirmed the leave for the other peer too")
	default:
	}
}

// TestLeaveUnackedPeer: a peer in the topic that never confirms (not a
// lanchat) holds Leave up for leaveGrace, no longer; the others still see
// a quit.
func TestLeaveUnackedPeer(t *testing.T) {
	t.Parallel()
	a, b := startPair(t)
	raw := newRawPeer(t, nil, openTopic(testRoom))
	raw.join(t, b)

	start := time.Now()
	if err := b.room.Leave(t.Context()); err != nil {
		t.Fatalf("Leave = %v", err)
	}
	took := time.Since(start)
	t.Logf("Leave took %v", took)
	if b.room.confirmed.Load() || took < leaveGrace {
		t.Errorf("Leave took %v, confirmed %v: it did not wait for the raw peer", took, b.room.confirmed.Load())
	}
	if took > leaveGrace+2*time.Second {
		t.Errorf("Leave took %v, want about %v", took, leaveGrace)
	}
	a.wait(2*time.Second, "bob's quit", isLeave(b, chat.ReasonQuit))
	if !b.connected(raw.id) || !b.connected(a.Host.self) {
		t.Errorf("bob closed connections to leave the room")
	}
}
