package node

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeTarget records dials and notices; each Dial blocks until released.
type fakeTarget struct {
	dials   chan string   // peer IDs, as Dial is entered
	flights chan flight   // the same dials with their addresses
	release chan struct{} // one receive lets one Dial return
	notices chan string
}

func newFakeTarget(dials, notices int) *fakeTarget {
	return &fakeTarget{dials: make(chan string, dials), flights: make(chan flight, dials),
		release: make(chan struct{}), notices: make(chan string, notices)}
}

func (f *fakeTarget) Dial(ctx context.Context, id string, addrs []netip.AddrPort) error {
	f.flights <- flight{id, slices.Clone(addrs)}
	f.dials <- id
	select {
	case <-f.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeTarget) Notice(text string) { f.notices <- text }

// runDialer runs d until the test ends, and waits for Run to return.
func runDialer(t *testing.T, d *Dialer) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return cancel
}

func TestDialer(t *testing.T) {
	f := newFakeTarget(10, 10)
	d := newDialer(f, nil)
	d.settle = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(ctx) })

	addrs := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:4001")}
	d.Found("A", ProtocolVersion, addrs)
	if got := recvWithin(t, f.dials, "dial of A"); got != "A" {
		t.Fatalf("dialled %q, want A", got)
	}
	// While A's dial is in flight, more sightings of A are not dialled, but
	// another peer is.
	d.Found("A", ProtocolVersion, addrs)
	d.Found("A", ProtocolVersion, addrs)
	d.Found("B", ProtocolVersion, addrs)
	if got := recvWithin(t, f.dials, "dial of B"); got != "B" {
		t.Fatalf("dialled %q while A is in flight, want B", got)
	}
	f.release <- struct{}{}
	f.release <- struct{}{}
	// Once a dial is done, a new sighting dials again (the host's backoff
	// decides whether it is needed). Sightings repeat, as discovery's do:
	// one made before Run has seen the dial finish is dropped.
	deadline := time.Now().Add(5 * time.Second)
redial:
	for {
		d.Found("A", ProtocolVersion, addrs)
		select {
		case got := <-f.dials:
			if got != "A" {
				t.Fatalf("dialled %q, want A again", got)
			}
			break redial
		case <-time.After(10 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("timed out waiting for the second dial of A")
			}
		}
	}

	// Peers on another key: counts that arrive within the settle time make
	// one notice with the latest count; later counts make none.
	d.Foreign(1)
	d.Foreign(3)
	if got, want := recvWithin(t, f.notices, "notice"), "3 lanchat peers nearby use a different key"; got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	d.Foreign(5)

	// Stopping cancels the dial in flight and waits for it.
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	select {
	case got := <-f.notices:
		t.Errorf("second notice %q, want the user told once", got)
	default:
	}
}

// A peer that advertises another protocol version (an older lanchat) is
// not dialled: it could connect, but shares no room with us. The user is
// told once how many there are.
func TestDialerOtherVersion(t *testing.T) {
	f := newFakeTarget(10, 10)
	d := newDialer(f, nil)
	d.settle = 50 * time.Millisecond
	runDialer(t, d)
	d.Found("old1", "1", nil)
	d.Found("old2", "1", nil)
	d.Found("old1", "1", nil)
	want := "2 lanchat peers nearby run another version of lanchat and cannot chat with this one: use the same version on every machine"
	if got := recvWithin(t, f.notices, "version notice"); got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	// A peer of our version is still dialled, and nothing more is said.
	d.Found("new", ProtocolVersion, []netip.AddrPort{netip.MustParseAddrPort("10.0.0.9:4001")})
	if got := recvWithin(t, f.dials, "dial of new"); got != "new" {
		t.Errorf("dialled %q, want new (and never old1 or old2)", got)
	}
	f.release <- struct{}{}
	d.Found("old3", "1", nil)
	select {
	case got := <-f.notices:
		t.Errorf("second notice %q, want the user told once", got)
	case <-time.After(3 * d.settle):
	}
}

// TestDialerMergesAddrs: the addresses of every sighting of a peer ID are
// dialled together, one answer never replaces another, and an address
// that no dial in flight has starts another dial at once (a silent address
// advertised for the peer must not hold its real one back).
func TestDialerMergesAddrs(t *testing.T) {
	f := newFakeTarget(10, 10)
	d := newDialer(f, nil)
	runDialer(t, d)
	dead := netip.MustParseAddrPort("10.0.0.66:4001")
	real := netip.MustParseAddrPort("10.0.0.2:4001")
	next := func(what string) []netip.AddrPort {
		t.Helper()
		select {
		case fl := <-f.flights:
			<-f.dials
			return fl.addrs
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
			return nil
		}
	}
	d.Found("B", ProtocolVersion, []netip.AddrPort{dead})
	if got := next("dial of the dead address"); !slices.Equal(got, []netip.AddrPort{dead}) {
		t.Fatalf("first dial at %v, want %v", got, dead)
	}
	// The dial hangs. The attacker repeats its answer: nothing new to dial.
	// The real answer comes: dialled at once, with the dead one merged.
	d.Found("B", ProtocolVersion, []netip.AddrPort{dead})
	d.Found("B", ProtocolVersion, []netip.AddrPort{real})
	got := next("dial of the real address")
	if len(got) != 2 || !slices.Contains(got, dead) || !slices.Contains(got, real) {
		t.Fatalf("second dial at %v, want both %v and %v", got, real, dead)
	}
	if got[0] != real {
		t.Errorf("second dial at %v, want the address seen last, %v, first", got, real)
	}
	select {
	case fl := <-f.flights:
		t.Fatalf("extra dial %v", fl)
	default:
	}
	f.release <- struct{}{}
	f.release <- struct{}{}
	// Once both are done, an answer with the dead address alone still
	// dials the real one seen before (answers repeat; one made before Run
	// saw the dials end is dropped).
	deadline := time.Now().Add(5 * time.Second)
	for {
		d.Found("B", ProtocolVersion, []netip.AddrPort{dead})
		select {
		case fl := <-f.flights:
			<-f.dials
			if !slices.Contains(fl.addrs, real) {
				t.Fatalf("dial after a poisoned answer at %v, want %v merged in", fl.addrs, real)
			}
			return
		case <-time.After(10 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("timed out waiting for the third dial")
			}
		}
	}
}

// TestAddrBookBounded: made-up answers do not grow the book without bound,
// and an address expires addrTTL after it was last seen.
func TestAddrBookBounded(t *testing.T) {
	b := addrBook{}
	t0 := time.Unix(1000, 0)
	for i := range maxPeerAddrs * 3 {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 4001)
		if f, ok := b.sighted(sighting{id: "B", version: ProtocolVersion, addrs: []netip.AddrPort{ap}}, t0.Add(time.Duration(i)*time.Millisecond)); ok {
			b.landed(f)
		}
	}
	if n := len(b["B"].seen); n != maxPeerAddrs {
		t.Errorf("%d addresses kept, want %d", n, maxPeerAddrs)
	}
	for i := range maxBook * 2 {
		if f, ok := b.sighted(sighting{id: fmt.Sprint("P", i), addrs: []netip.AddrPort{netip.MustParseAddrPort("10.9.9.9:1")}}, t0); ok {
			b.landed(f)
		}
	}
	if len(b) > maxBook {
		t.Errorf("%d peers in the book, want at most %d", len(b), maxBook)
	}
	x := netip.MustParseAddrPort("10.1.1.1:1")
	y := netip.MustParseAddrPort("10.1.1.2:1")
	f, _ := b.sighted(sighting{id: "C", addrs: []netip.AddrPort{x}}, t0)
	b.landed(f)
	f, _ = b.sighted(sighting{id: "C", addrs: []netip.AddrPort{y}}, t0.Add(addrTTL+time.Second))
	if !slices.Equal(f.addrs, []netip.AddrPort{y}) {
		t.Errorf("dial at %v after %v expired, want only %v", f.addrs, x, y)
	}
}

func TestDialerNeverBlocks(t *testing.T) {
	f := newFakeTarget(1, 1)
	d := newDialer(f, nil)
	// Run is not running: the methods must still return at once.
	for range sightingQueue * 3 {
		d.Found("A", ProtocolVersion, nil)
	}
	for i := range 10 {
		d.Foreign(i)
	}
	for range 10 {
		d.Say("discovery is waiting")
	}
	if got := <-d.foreign; got != 9 {
		t.Errorf("foreign count kept = %d, want the latest, 9", got)
	}
}

func TestDialerSay(t *testing.T) {
	f := newFakeTarget(1, 2)
	d := newDialer(f, nil)
	runDialer(t, d)
	d.Say("local discovery works again")
	if got, want := recvWithin(t, f.notices, "notice"), "local discovery works again"; got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
}

func TestStrangerNotices(t *testing.T) {
	for _, tc := range []struct {
		foreign, others int
		want            []string
	}{
		{0, 0, nil},
		{1, 0, []string{"1 lanchat peer nearby uses a different key"}},
		{2, 0, []string{"2 lanchat peers nearby use a different key"}},
		{0, 1, []string{"1 lanchat peer nearby runs another version of lanchat and cannot chat with this one: use the same version on every machine"}},
		{3, 2, []string{"3 lanchat peers nearby use a different key",
			"2 lanchat peers nearby run another version of lanchat and cannot chat with this one: use the same version on every machine"}},
	} {
		got := strangerNotices(tc.foreign, tc.others)
		if len(got) != len(tc.want) {
			t.Errorf("strangerNotices(%d, %d) = %q, want %q", tc.foreign, tc.others, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("strangerNotices(%d, %d) = %q, want %q", tc.foreign, tc.others, got, tc.want)
			}
		}
	}
}

// recvWithin returns the next string from ch, failing the test after 5 s.
func recvWithin[T any](t *testing.T, ch chan T, what string) T {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// TestBackoffPerAddress: a failed address backs off the peer for that
// address only; a new address is dialled at once, without growing the
// wait; the address where the peer was reached is always dialled along.
func TestBackoffPerAddress(t *testing.T) {
	t0 := time.Unix(1000, 0)
	x := netip.MustParseAddrPort("10.0.0.66:9")
	y := netip.MustParseAddrPort("10.0.0.2:4001")
	r := netip.MustParseAddrPort("10.0.0.3:4001")
	var b backoff
	step := func(now time.Time, addrs []netip.AddrPort, want []netip.AddrPort) (bool, []netip.AddrPort) {
		t.Helper()
		full, got := b.pick(now, addrs)
		if !slices.Equal(got, want) {
			t.Fatalf("pick(%v) at +%v = %v, want %v", addrs, now.Sub(t0), got, want)
		}
		return full, got
	}
	full, got := step(t0, []netip.AddrPort{x}, []netip.AddrPort{x})
	b.start(got)
	b.done(t0, got, full, false, nil)
	if b.delay != backoffMin {
		t.Fatalf("delay after a failed dial = %v, want %v", b.delay, backoffMin)
	}
	step(t0, []netip.AddrPort{x}, nil) // backing off
	full, got = step(t0, []netip.AddrPort{x, y}, []netip.AddrPort{y})
	b.start(got)
	step(t0, []netip.AddrPort{y}, nil) // being dialled
	b.done(t0, got, full, false, nil)
	if b.delay != backoffMin {
		t.Errorf("delay after a failed new address = %v, want it unchanged, %v", b.delay, backoffMin)
	}
	full, got = step(t0.Add(backoffMin), []netip.AddrPort{x, y}, []netip.AddrPort{x, y})
	b.start(got)
	b.done(t0.Add(backoffMin), got, full, true, []netip.AddrPort{r})
	step(t0.Add(backoffMin), []netip.AddrPort{x}, []netip.AddrPort{r, x})

	// Made-up addresses: at most maxTried are dialled while backing off.
	b = backoff{}
	full, got = step(t0, []netip.AddrPort{x}, []netip.AddrPort{x})
	b.start(got)
	b.done(t0, got, full, false, nil)
	dialled := 0
	for i := range maxTried * 2 {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 1)
		full, got := b.pick(t0, []netip.AddrPort{ap})
		dialled += len(got)
		b.start(got)
		b.done(t0, got, full, false, nil)
	}
	if dialled != maxTried-1 {
		t.Errorf("%d made-up addresses dialled while backing off, want %d", dialled, maxTried-1)
	}
}

// TestDialerOffer: a batch of peers learnt from a peer (or remembered) is
// dialled like sightings, all of it at once (more than sightingQueue,
// which drops what does not fit), merged in the address book with what
// discovery sees of the same peers.
func TestDialerOffer(t *testing.T) {
	const n = 2 * sightingQueue
	f := newFakeTarget(n+1, 1)
	d := newDialer(f, nil)
	runDialer(t, d)
	a1 := netip.MustParseAddrPort("10.0.0.1:4001")
	a2 := netip.MustParseAddrPort("10.0.1.1:4001")
	d.Found("P0", ProtocolVersion, []netip.AddrPort{a1})
	if got := recvWithin(t, f.flights, "dial of P0"); got.id != "P0" {
		t.Fatalf("dialled %v, want P0", got)
	}
	<-f.dials
	var batch []sighting
	for i := range n {
		batch = append(batch, sighting{id: fmt.Sprintf("P%d", i), version: ProtocolVersion, addrs: []netip.AddrPort{a2}})
	}
	d.offer(batch)
	// n more dials (P0's first still in flight); each let through after
	// it is seen.
	seen := map[string][]netip.AddrPort{}
	for range n {
		fl := recvWithin(t, f.flights, "dial of an offered peer")
		<-f.dials
		seen[fl.id] = append(seen[fl.id], fl.addrs...)
		f.release <- struct{}{}
	}
	if len(seen) != n {
		t.Fatalf("%d offered peers dialled, want %d", len(seen), n)
	}
	// P0's dial of a1 was in flight: the offer dials a2, the new address,
	// along with it.
	if got := seen["P0"]; !slices.Contains(got, a1) || !slices.Contains(got, a2) {
		t.Errorf("P0 dialled at %v, want both %v (discovery) and %v (offered)", got, a1, a2)
	}
}

// TestDialerRedialAll: a redial cancels the dial in flight (it hangs on
// a link that was down) and dials that peer again at once, at the same
// address, with the extra peers given; a plain sighting of the same
// address would not (the address is being dialled).
func TestDialerRedialAll(t *testing.T) {
	f := newFakeTarget(8, 1)
	d := newDialer(f, nil)
	runDialer(t, d)
	a1 := netip.MustParseAddrPort("10.0.0.1:4001")
	a2 := netip.MustParseAddrPort("10.0.0.2:4001")
	d.Found("P1", ProtocolVersion, []netip.AddrPort{a1})
	recvWithin(t, f.flights, "first dial of P1")
	<-f.dials
	d.Found("P1", ProtocolVersion, []netip.AddrPort{a1}) // in flight: no second dial
	d.redialAll([]sighting{{id: "P2", version: ProtocolVersion, addrs: []netip.AddrPort{a2}}})
	got := map[string][]netip.AddrPort{}
	for range 2 {
		fl := recvWithin(t, f.flights, "a dial of the redial")
		<-f.dials
		got[fl.id] = fl.addrs
	}
	if !slices.Equal(got["P1"], []netip.AddrPort{a1}) || !slices.Equal(got["P2"], []netip.AddrPort{a2}) {
		t.Errorf("redial dialled %v, want P1 at %v and P2 at %v", got, a1, a2)
	}
	select {
	case fl := <-f.flights:
		t.Errorf("unexpected dial %v", fl)
	default:
	}
}
