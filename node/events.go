package node

import (
	"sync"

	"lanchat/node/chat"
)

// outbox is an Events channel with its delivery rule, the host's or a
// room's: a send waits while the channel is full, so nothing is dropped,
// until a stop channel closes (then the event is dropped); after close
// every event is dropped. The channel is closed exactly once. Safe for
// concurrent use.
type outbox struct {
	ch chan chat.Event

	mu     sync.RWMutex // held for reading by sends, for writing by close
	closed bool
}

func newOutbox(size int) *outbox { return &outbox{ch: make(chan chat.Event, size)} }

// send delivers ev, waiting while the channel is full until stop or stop2
// closes (a nil one never does), and reports whether it was delivered.
func (o *outbox) send(ev chat.Event, stop, stop2 <-chan struct{}) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closed {
		return false
	}
	select {
	case o.ch <- ev:
		return true
	default:
	}
	select {
	case o.ch <- ev:
		return true
	case <-stop:
	case <-stop2:
	}
	return false
}

// close closes the channel, once; it waits for sends under way, so call
// it only once their stop channels are closed.
func (o *outbox) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closed = true
		close(o.ch)
	}
}
