package node

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Tuning of the [Dialer].
const (
	// sightingDialTimeout bounds one dial of a peer found by discovery.
	sightingDialTimeout = 10 * time.Second
	// sightingSettle is how long the dialer gathers counts of peers on
	// another key or another protocol version before it tells the user,
	// once: the first queries of a start see the neighbours one answer at a
	// time, and one notice with the full count beats a notice per answer.
	sightingSettle = 2 * time.Second
	// sightingQueue bounds the sightings waiting for the dialer.
	sightingQueue = 64
	// maxOtherVersions bounds the peer IDs of other versions remembered
	// for counting.
	maxOtherVersions = 1024
)

// dialTarget is what the [Dialer] needs of a [Host].
type dialTarget interface {
	Dial(ctx context.Context, peerID string, addrs []netip.AddrPort) error
	Notice(text string)
}

// Dialer turns what local discovery sees into dials and notices. It is the
// one place of the dial policy for discovered peers: at most one dial per
// peer at a time, each bounded, through [Host.Dial] and its per-peer
// backoff; peers of another protocol version are not dialled; and the user
// is told once how many peers nearby use another key or version.
//
// Found, Foreign and Say never block (discovery's rule): they queue work
// for [Dialer.Run], which does the dialing. Sightings that find the queue
// full are dropped; discovery repeats them.
type Dialer struct {
	host    dialTarget
	log     *slog.Logger
	found   chan sighting // dropped when full
	foreign chan int      // latest count of peers on another key; capacity 1
	status  chan string   // notices; dropped when full
	settle  time.Duration // sightingSettle; shorter in tests
}

// sighting is one peer seen by discovery.
type sighting struct {
	id, version string
	addrs       []netip.AddrPort
}

// NewDialer returns a Dialer for h; log may be nil. Run it with
// [Dialer.Run].
func NewDialer(h *Host, log *slog.Logger) *Dialer {
	return newDialer(h, log)
}

func newDialer(t dialTarget, log *slog.Logger) *Dialer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dialer{
		host:    t,
		log:     log,
		found:   make(chan sighting, sightingQueue),
		foreign: make(chan int, 1),
		status:  make(chan string, 4),
		settle:  sightingSettle,
	}
}

// Found queues a peer seen on our network (same key fingerprint) for
// dialing: its peer ID, the protocol version it advertises and its TCP
// addresses. A peer of another version is counted, not dialled.
func (d *Dialer) Found(peerID, version string, addrs []netip.AddrPort) {
	select {
	case d.found <- sighting{peerID, version, addrs}:
	default:
	}
}

// Foreign records the number of peers seen with another key; only the
// latest count is kept.
func (d *Dialer) Foreign(count int) {
	select {
	case <-d.foreign:
	default:
	}
	select {
	case d.foreign <- count:
	default:
	}
}

// Say queues a notice for the user, such as a change of discovery's
// state, without blocking; with a few already queued it is dropped.
func (d *Dialer) Say(text string) {
	select {
	case d.status <- text:
	default:
	}
}

// Run dials queued peers and tells the user, once and settle after the
// first such sighting, how many peers nearby use another key and how many
// another protocol version. It runs until ctx is done, then cancels the
// dials in flight, waits for them and returns ctx's error.
func (d *Dialer) Run(ctx context.Context) error {
	inflight := map[string]bool{}
	finished := make(chan string)
	var wg sync.WaitGroup
	defer wg.Wait()
	var (
		foreign  int                 // latest count of peers on another key
		others   = map[string]bool{} // peers of another protocol version
		tell     <-chan time.Time    // fires once, settle after the first odd sighting
		told     bool
		startTel = func() {
			if tell == nil && !told {
				tell = time.After(d.settle)
			}
		}
	)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case id := <-finished:
			delete(inflight, id)
		case n := <-d.foreign:
			if n > 0 {
				foreign = max(foreign, n)
				startTel()
			}
		case text := <-d.status:
			d.host.Notice(text)
		case <-tell:
			tell, told = nil, true
			for _, text := range strangerNotices(foreign, len(others)) {
				d.host.Notice(text)
			}
		case s := <-d.found:
			if s.version != ProtocolVersion {
				if !others[s.id] && len(others) < maxOtherVersions {
					others[s.id] = true
					d.log.Debug("peer of another protocol version", "peer", s.id, "version", s.version)
				}
				startTel()
				continue
			}
			if inflight[s.id] {
				continue
			}
			inflight[s.id] = true
			wg.Go(func() {
				dctx, cancel := context.WithTimeout(ctx, sightingDialTimeout)
				err := d.host.Dial(dctx, s.id, s.addrs)
				cancel()
				if err != nil && ctx.Err() == nil {
					d.log.Debug("dial failed", "peer", s.id, "addrs", s.addrs, "err", err)
				}
				select {
				case finished <- s.id:
				case <-ctx.Done():
				}
			})
		}
	}
}

// strangerNotices are the notices about foreign peers on another key and
// others running another protocol version.
func strangerNotices(foreign, others int) []string {
	var out []string
	switch {
	case foreign == 1:
		out = append(out, "1 lanchat peer nearby uses a different key")
	case foreign > 1:
		out = append(out, fmt.Sprintf("%d lanchat peers nearby use a different key", foreign))
	}
	switch {
	case others == 1:
		out = append(out, "1 lanchat peer nearby runs another version of lanchat and cannot chat with this one: use the same version on every machine")
	case others > 1:
		out = append(out, fmt.Sprintf("%d lanchat peers nearby run another version of lanchat and cannot chat with this one: use the same version on every machine", others))
	}
	return out
}
