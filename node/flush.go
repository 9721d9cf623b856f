package node

import (
	"bytes"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// flushTracer is a pubsub.RawTracer that tells Close when the leave
// envelope has been written to every peer in the room. pubsub has no
// delivery acknowledgement; SendRPCCompleted (the RPC was handed to the
// stream) is the closest thing, and DropRPC means it never will be.
type flushTracer struct {
	self peer.ID

	mu      sync.Mutex
	want    []byte           // data of the awaited message; nil when idle
	pending map[peer.ID]bool // peers it has not been written to yet
	done    chan struct{}    // closed when pending is empty
}

var _ pubsub.RawTracer = (*flushTracer)(nil)

// expect starts waiting for data to be written to peers. The returned
// channel is closed once it has been (or dropped) for every one of them.
// Call it before publishing data.
func (t *flushTracer) expect(data []byte, peers []peer.ID) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.want = data
	t.done = make(chan struct{})
	t.pending = make(map[peer.ID]bool, len(peers))
	for _, p := range peers {
		t.pending[p] = true
	}
	if len(t.pending) == 0 {
		close(t.done)
	}
	return t.done
}

// sent records that rpc was written to (or dropped for) p.
func (t *flushTracer) sent(rpc *pubsub.RPC, p peer.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.want == nil || !t.pending[p] {
		return
	}
	for _, m := range rpc.GetPublish() {
		if peer.ID(m.GetFrom()) == t.self && bytes.Equal(m.GetData(), t.want) {
			delete(t.pending, p)
			if len(t.pending) == 0 {
				close(t.done)
			}
			return
		}
	}
}

// SendRPCCompleted implements pubsub.RawTracer.
func (t *flushTracer) SendRPCCompleted(rpc *pubsub.RPC, p peer.ID, _ time.Duration) { t.sent(rpc, p) }

// DropRPC implements pubsub.RawTracer.
func (t *flushTracer) DropRPC(rpc *pubsub.RPC, p peer.ID) { t.sent(rpc, p) }

// The rest of pubsub.RawTracer is not needed.

func (t *flushTracer) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (t *flushTracer) OnClosedOutboundStream(peer.ID)           {}
func (t *flushTracer) Join(string)                              {}
func (t *flushTracer) Leave(string)                             {}
func (t *flushTracer) Graft(peer.ID, string)                    {}
func (t *flushTracer) Prune(peer.ID, string)                    {}
func (t *flushTracer) ValidateMessage(*pubsub.Message)          {}
func (t *flushTracer) DeliverMessage(*pubsub.Message)           {}
func (t *flushTracer) RejectMessage(*pubsub.Message, string)    {}
func (t *flushTracer) DuplicateMessage(*pubsub.Message)         {}
func (t *flushTracer) ThrottlePeer(peer.ID)                     {}
func (t *flushTracer) RecvRPC(*pubsub.RPC)                      {}
func (t *flushTracer) SendRPC(*pubsub.RPC, peer.ID)             {}
func (t *flushTracer) UndeliverableMessage(*pubsub.Message)     {}
