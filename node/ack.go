package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"lanchat/node/chat"
)

// Leave confirmation.
//
// A member that leaves a room publishes a leave envelope and waits, at most
// leaveGrace, until every peer that was in the room's topic has confirmed
// it; only then does it unsubscribe. A peer confirms once its validator has
// accepted the leave (the newest envelope of the leaver in that room): it
// opens a stream of ackProtocol to the leaver, writes the room's wire ID
// (uvarint length, then the bytes), and closes the stream. Connections are
// never closed for it: other rooms, and later direct messages and file
// transfers, share them.
const (
	ackProtocol = protocol.ID("/lanchat/ack/" + ProtocolVersion)
	// leaveGrace bounds how long a leave waits for its confirmations.
	leaveGrace = 500 * time.Millisecond
	// ackTimeout bounds one ack stream, on either side.
	ackTimeout = time.Second
	// ackQueue is the capacity of the queue of acks to send; when it is
	// full, acks are dropped (the leaver then waits out leaveGrace).
	ackQueue = 64
	// ackRecheck is how often a leave waiting for acks checks which peers
	// are still in the topic.
	ackRecheck = 50 * time.Millisecond
	// ackSenders bounds the ack streams open at once.
	ackSenders = 8
	// maxAckBytes bounds what the handler reads: a length and a wire ID.
	maxAckBytes = binary.MaxVarintLen16 + chat.MaxRoomBytes
)

// ackReq is an ack to send: to's leave of the room with wire ID room was
// accepted.
type ackReq struct {
	to   peer.ID
	room string
}

// acks is a host's bookkeeping of leave confirmations: the queue of acks
// to send, and the leaves of ours waiting for theirs.
type acks struct {
	queue chan ackReq

	mu    sync.Mutex
	waits map[*ackWait]bool
}

func newAcks() acks {
	return acks{queue: make(chan ackReq, ackQueue), waits: make(map[*ackWait]bool)}
}

// ackWait is one leave of ours waiting for confirmations.
type ackWait struct {
	room string // wire ID

	mu      sync.Mutex
	pending map[peer.ID]bool
	done    chan struct{} // closed when pending is empty
}

// expect registers a leave of the room with wire ID room that peers must
// confirm. Call it before publishing the leave, and drop it after.
func (a *acks) expect(room string, peers []peer.ID) *ackWait {
	w := &ackWait{room: room, pending: make(map[peer.ID]bool, len(peers)), done: make(chan struct{})}
	for _, p := range peers {
		w.pending[p] = true
	}
	if len(w.pending) == 0 {
		close(w.done)
	}
	a.mu.Lock()
	a.waits[w] = true
	a.mu.Unlock()
	return w
}

// leaving reports whether a leave of ours is waiting for confirmations.
func (a *acks) leaving() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.waits) > 0
}

// drop forgets w.
func (a *acks) drop(w *ackWait) {
	a.mu.Lock()
	delete(a.waits, w)
	a.mu.Unlock()
}

// confirmed records that from confirmed our leave of the room with wire ID
// room; it reports whether a leave of ours was waiting for it.
func (a *acks) confirmed(from peer.ID, room string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	any := false
	for w := range a.waits {
		if w.room == room {
			any = w.ack(from) || any
		}
	}
	return any
}

// ack records from's confirmation; it reports whether it was pending.
func (w *ackWait) ack(from peer.ID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.pending[from] {
		return false
	}
	delete(w.pending, from)
	if len(w.pending) == 0 {
		close(w.done)
	}
	return true
}

// wait waits until every peer confirmed, and reports whether that happened
// before deadline fired, ctx was done or closing closed. Every ackRecheck
// it asks peers for the peers still in the topic: one that is not any more
// (it left too, or went away) will not confirm, and is not waited for.
func (w *ackWait) wait(ctx context.Context, deadline <-chan time.Time, closing <-chan struct{}, peers func() []peer.ID) bool {
	tick := time.NewTicker(ackRecheck)
	defer tick.Stop()
	for {
		select {
		case <-w.done:
			return true
		default:
		}
		select {
		case <-w.done:
			return true
		case <-tick.C:
			w.keep(peers())
		case <-deadline:
			return false
		case <-ctx.Done():
			return false
		case <-closing:
			return false
		}
	}
}

// keep stops waiting for the pending peers not in still.
func (w *ackWait) keep(still []peer.ID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return
	}
	for p := range w.pending {
		if !slices.Contains(still, p) {
			delete(w.pending, p)
		}
	}
	if len(w.pending) == 0 {
		close(w.done)
	}
}

// missing returns how many peers have not confirmed.
func (w *ackWait) missing() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// queueAck asks for an ack of to's leave of the room with wire ID room,
// without blocking: room validators call it.
func (h *Host) queueAck(to peer.ID, room string) {
	select {
	case h.acks.queue <- ackReq{to: to, room: room}:
	default:
		h.log.Debug("ack queue full; dropping an ack", "peer", to)
	}
}

// ackLoop sends the queued acks, at most ackSenders at a time, until ctx
// is done; then it waits for those under way.
func (h *Host) ackLoop(ctx context.Context) {
	defer h.wg.Done()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, ackSenders)
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-h.acks.queue:
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-slots }()
				h.sendAck(ctx, req)
			})
		}
	}
}

// sendAck confirms req.to's leave over a new stream, without dialing: a
// leaver waits only for the peers it is connected to.
func (h *Host) sendAck(ctx context.Context, req ackReq) {
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	s, err := h.host.NewStream(network.WithNoDial(ctx, "leave ack"), req.to, ackProtocol)
	if err != nil {
		h.log.Debug("cannot confirm a leave", "peer", req.to, "err", err)
		return
	}
	s.SetDeadline(time.Now().Add(ackTimeout))
	b := binary.AppendUvarint(nil, uint64(len(req.room)))
	if _, err := s.Write(append(b, req.room...)); err != nil {
		h.log.Debug("cannot confirm a leave", "peer", req.to, "err", err)
		s.Reset()
		return
	}
	s.Close()
}

// handleAck reads one ack: a peer confirms our leave of a room. Only acks
// of a leave of ours in progress count, and only for the peer at the other
// end of the stream (Noise authenticates it); while no leave of ours is in
// progress the stream is reset at once, otherwise it is bounded in time
// and size.
func (h *Host) handleAck(s network.Stream) {
	if !h.acks.leaving() {
		s.Reset()
		return
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(ackTimeout))
	br := bufio.NewReaderSize(io.LimitReader(s, maxAckBytes), 16+maxAckBytes)
	n, err := binary.ReadUvarint(br)
	if err != nil || n == 0 || n > chat.MaxRoomBytes {
		s.Reset()
		return
	}
	room := make([]byte, n)
	if _, err := io.ReadFull(br, room); err != nil {
		s.Reset()
		return
	}
	from := s.Conn().RemotePeer()
	if !h.acks.confirmed(from, string(room)) {
		h.log.Debug("ignored an ack of no leave of ours", "peer", from)
	}
}
