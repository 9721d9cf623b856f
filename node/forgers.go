package node

import (
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"lanchat/node/chat"
)

// Peers that forward messages whose signatures do not check.
//
// pubsub checks a message's signature before any validator, in the one
// validation worker: a member that sends thousands of messages with bad
// signatures a second keeps that worker busy and fills its queue, and
// honest lines are dropped (65 % of them, measured, before this). No
// honest peer forwards such a message: it checks the signature before it
// passes a message on, whatever the lanchat version. So the peer it came
// from is cut off once it has sent more than forgeryBurst of them (then
// forgeryRate a second): its connections are closed, the connection
// gater refuses it for forgeryBan, and the user is told once.
//
// forgeryBurst stays under what gossipsub's peer scoring takes to
// graylist a peer (9 invalid messages, see scoring.go): a graylisted peer's
// RPCs are dropped unread, so a forger sending one bad signature per RPC
// would otherwise be silenced by scoring without ever being cut off,
// banned or named to the user.
const (
	forgeryRate  = 1
	forgeryBurst = 6
	forgeryBan   = 10 * time.Minute
)

// forgers counts bad signatures per forwarding peer. bad is called from
// pubsub's event loop and never blocks; the host's housekeeping
// goroutine takes the peers to cut off from out.
type forgers struct {
	mu   sync.Mutex
	lims map[peer.ID]*rate.Limiter
	cut  map[peer.ID]time.Time // queued or cut off, until the ban ends
	out  chan peer.ID
}

func newForgers() *forgers {
	return &forgers{lims: make(map[peer.ID]*rate.Limiter), cut: make(map[peer.ID]time.Time), out: make(chan peer.ID, 16)}
}

// bad counts a message with a bad signature from p.
func (f *forgers) bad(p peer.ID) {
	if p == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if until, ok := f.cut[p]; ok && time.Now().Before(until) {
		return // its queued messages after the cut: told once
	}
	l := f.lims[p]
	if l == nil {
		if len(f.lims) >= maxSyncLimiters {
			clear(f.lims)
		}
		l = rate.NewLimiter(forgeryRate, forgeryBurst)
		f.lims[p] = l
	}
	if l.Allow() {
		return
	}
	select {
	case f.out <- p:
		if len(f.cut) >= maxSyncLimiters {
			clear(f.cut)
		}
		f.cut[p] = time.Now().Add(forgeryBan)
		delete(f.lims, p)
	default: // the next bad message tries again
	}
}

// cutOffForger bans p, closes its connections and tells the user; the
// housekeeping goroutine calls it.
func (h *Host) cutOffForger(p peer.ID) {
	h.bans.ban(p, time.Now().Add(forgeryBan))
	h.log.Warn("peer forwards messages with bad signatures; cut off", "peer", p, "for", forgeryBan)
	if err := h.host.Network().ClosePeer(p); err != nil {
		h.log.Debug("close peer", "peer", p, "err", err)
	}
	h.emit(chat.Event{Kind: chat.KindNotice, Time: time.Now(), PeerID: p.String(), Text: fmt.Sprintf(
		"peer %s sent messages with forged signatures: disconnected, and ignored for %s", p, span(forgeryBan))})
}
