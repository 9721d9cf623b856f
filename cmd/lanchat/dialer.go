package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"lanchat/discovery"
)

// dialTimeout bounds one dial of a peer found by discovery.
const dialTimeout = 10 * time.Second

// foreignSettle is how long the dialer gathers counts of peers on another
// key before it tells the user, once: the first queries of a start see
// the neighbours one answer at a time, and one notice with the full count
// is better than a notice per answer.
const foreignSettle = 2 * time.Second

// dialTarget is what the dialer needs of the node.
type dialTarget interface {
	Dial(ctx context.Context, peerID string, addrs []netip.AddrPort) error
	Notice(text string)
}

// peerDialer is the [discovery.Handler] of the binary: it hands peers found
// on our network to the node to dial and tells the user about peers on
// another key. Found and Foreign never block (discovery's rule): they queue
// work for run, which does the dialing.
type peerDialer struct {
	node    dialTarget
	log     *slog.Logger
	found   chan discovery.Peer // sightings; dropped when full, discovery repeats them
	foreign chan int            // latest count of foreign peers; capacity 1
	settle  time.Duration       // foreignSettle; shorter in tests
	status  chan string         // notices about discovery itself; dropped when full
}

// foundQueue bounds the sightings waiting for run.
const foundQueue = 64

func newPeerDialer(n dialTarget, log *slog.Logger) *peerDialer {
	return &peerDialer{node: n, log: log, found: make(chan discovery.Peer, foundQueue), foreign: make(chan int, 1), settle: foreignSettle, status: make(chan string, 4)}
}

// Found queues p for dialing; when the queue is full the sighting is
// dropped (the next query sees the peer again).
func (d *peerDialer) Found(p discovery.Peer) {
	select {
	case d.found <- p:
	default:
	}
}

// Foreign records the number of peers seen with another key; only the
// latest count is kept. Only the browse goroutine calls it.
func (d *peerDialer) Foreign(count int) {
	select {
	case <-d.foreign:
	default:
	}
	select {
	case d.foreign <- count:
	default:
	}
}

// Unavailable tells the user that discovery waits for the network (it
// implements [discovery.Waiter]: a laptop whose Wi-Fi connects after
// lanchat starts finds its peers once it does).
func (d *peerDialer) Unavailable(err error) {
	d.say(discoveryNotice("is waiting for the network", err))
}

// Available tells the user that discovery works (again).
func (d *peerDialer) Available() {
	d.say("local discovery works again: looking for peers on the network")
}

// say queues a notice for run without blocking; discovery's rare status
// changes do not fill the queue, and one dropped is better than a stalled
// browse loop.
func (d *peerDialer) say(text string) {
	select {
	case d.status <- text:
	default:
	}
}

// run dials queued peers, at most one dial per peer at a time, and tells
// the user once, settle after the first sighting, how many peers use
// another key; it runs until ctx is done, then cancels the dials in flight
// and waits for them.
func (d *peerDialer) run(ctx context.Context) {
	inflight := map[string]bool{}
	finished := make(chan string)
	var wg sync.WaitGroup
	defer wg.Wait()
	var (
		foreign int              // latest count, 0 before the first sighting
		tell    <-chan time.Time // fires once, settle after the first sighting
		told    bool
	)
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-finished:
			delete(inflight, id)
		case n := <-d.foreign:
			if told {
				continue
			}
			if foreign == 0 {
				tell = time.After(d.settle)
			}
			foreign = max(foreign, n)
		case text := <-d.status:
			d.node.Notice(text)
		case <-tell:
			tell, told = nil, true
			d.node.Notice(foreignNotice(foreign))
		case p := <-d.found:
			if inflight[p.ID] {
				continue
			}
			inflight[p.ID] = true
			wg.Go(func() {
				dctx, cancel := context.WithTimeout(ctx, dialTimeout)
				err := d.node.Dial(dctx, p.ID, p.Addrs)
				cancel()
				if err != nil && ctx.Err() == nil {
					d.log.Debug("dial failed", "peer", p.ID, "addrs", p.Addrs, "err", err)
				}
				select {
				case finished <- p.ID:
				case <-ctx.Done():
				}
			})
		}
	}
}

// foreignNotice is the notice about n peers on another key.
func foreignNotice(n int) string {
	if n == 1 {
		return "1 lanchat peer nearby uses a different key"
	}
	return fmt.Sprintf("%d lanchat peers nearby use a different key", n)
}
