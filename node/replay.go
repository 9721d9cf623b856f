package node

// replayWindow is how far below the highest sequence number seen from an
// author a message may still arrive (once): gossipsub may deliver an author's
// messages out of order across routes, by a few messages, or by up to a second
// of traffic when one is recovered by gossip. Anything older is a replay.
const replayWindow = 2048

// seqWindow remembers which of an author's recent pubsub sequence numbers
// have been accepted, so that a signed message re-published later (after
// pubsub's seen-cache forgot it, 2 minutes) is recognised as a replay. It is
// the anti-replay window of IPsec (RFC 4303 §3.4.3): the highest number
// accepted, and a bitmap of the replayWindow numbers at and below it. The
// zero value has accepted nothing.
//
// pubsub numbers an author's messages with a counter that starts at the
// author's clock in nanoseconds when its process starts, so a restarted
// author's numbers are far above the old ones and clear the window.
type seqWindow struct {
	top  uint64                    // highest number accepted
	any  bool                      // whether anything was accepted
	bits [replayWindow / 64]uint64 // bit seq%replayWindow: seq accepted
}

// accept reports whether seq is new, and records it.
func (w *seqWindow) accept(seq uint64) bool {
	switch {
	case !w.any || seq > w.top:
		if !w.any || seq-w.top >= replayWindow {
			w.bits = [replayWindow / 64]uint64{}
		} else {
			for s := w.top + 1; s < seq; s++ {
				w.clear(s)
			}
		}
		w.top, w.any = seq, true
	case w.top-seq >= replayWindow:
		return false // too old to tell: treat as a replay
	case w.has(seq):
		return false
	}
	w.set(seq)
	return true
}

func (w *seqWindow) has(seq uint64) bool {
	i := seq % replayWindow
	return w.bits[i/64]&(1<<(i%64)) != 0
}

func (w *seqWindow) set(seq uint64) {
	i := seq % replayWindow
	w.bits[i/64] |= 1 << (i % 64)
}

func (w *seqWindow) clear(seq uint64) {
	i := seq % replayWindow
	w.bits[i/64] &^= 1 << (i % 64)
}
