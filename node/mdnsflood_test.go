package node

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hangTarget is a dialTarget whose dials to made-up peers hang until
// their timeout (an attacker's silent address), and whose dial of the
// real peer returns at once. It counts the dials and the most in flight.
type hangTarget struct {
	real     string
	realDial chan struct{} // closed at the first dial of real
	once     sync.Once
	dials    atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
}

func (h *hangTarget) Dial(ctx context.Context, id string, addrs []netip.AddrPort) error {
	h.dials.Add(1)
	if id == h.real {
		h.once.Do(func() { close(h.realDial) })
		return nil
	}
	n := h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			break
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

func (h *hangTarget) Notice(string) {}

// floodRounds hands d rounds of sightings: fakes made-up peers at silent
// addresses and the real peer, first or last, then waits a query round
// (discovery's QueryInterval shortened to 100 ms). It returns the first
// round in which the real peer was dialled (-1 if never).
func floodRounds(d *Dialer, tg *hangTarget, fakes, rounds int, realFirst bool) int {
	realAddr := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:4001")}
	realRound := -1
	for round := range rounds {
		if realFirst {
			d.Found(tg.real, ProtocolVersion, realAddr)
		}
		for i := range fakes {
			ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(9 + i/250), byte(i % 250)}), 9)
			d.Found(fmt.Sprintf("fake%04d", i), ProtocolVersion, []netip.AddrPort{ap})
		}
		if !realFirst {
			d.Found(tg.real, ProtocolVersion, realAddr)
		}
		<-time.After(100 * time.Millisecond) // the next query round, not waiting for anything
		select {
		case <-tg.realDial:
			if realRound < 0 {
				realRound = round
			}
		default:
		}
	}
	return realRound
}

// TestDialerUnderInstanceFlood measures the Dialer when discovery hands it
// the answers of responders advertising 500 made-up peers at silent
// addresses each query round: how many dials start, how many hang at
// once, and when the real peer is dialled. Discovery hands over the
// answers of quiet sources first (the real peer's), so the real peer is
// dialled in the first round; handed over last, its sighting finds the
// Dialer's queue (sightingQueue) full and is dropped, every round: that
// case is measured, not asserted (see the report of issue 10).
func TestDialerUnderInstanceFlood(t *testing.T) {
	const fakes, rounds = 500, 5
	for _, realFirst := range []bool{true, false} {
		name := map[bool]string{true: "real first", false: "real last"}[realFirst]
		t.Run(name, func(t *testing.T) {
			tg := &hangTarget{real: "real", realDial: make(chan struct{})}
			d := newDialer(tg, nil)
			runDialer(t, d)
			start := time.Now()
			realRound := floodRounds(d, tg, fakes, rounds, realFirst)
			t.Logf("%s, %d made-up peers × %d rounds: %d dials started in %v, at most %d hanging at once; real peer dialled in round %d",
				name, fakes, rounds, tg.dials.Load(), time.Since(start).Round(time.Millisecond), tg.peak.Load(), realRound)
			if realFirst && realRound != 0 {
				t.Errorf("real peer handed over first dialled in round %d, want 0", realRound)
			}
			if p := tg.peak.Load(); p > maxBook {
				t.Errorf("%d dials in flight at once, want at most maxBook (%d)", p, maxBook)
			}
		})
	}
}
