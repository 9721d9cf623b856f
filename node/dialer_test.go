package node

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeTarget records dials and notices; each Dial blocks until released.
type fakeTarget struct {
	dials   chan string   // peer IDs, as Dial is entered
	release chan struct{} // one receive lets one Dial return
	notices chan string
}

func newFakeTarget(dials, notices int) *fakeTarget {
	return &fakeTarget{dials: make(chan string, dials), release: make(chan struct{}), notices: make(chan string, notices)}
}

func (f *fakeTarget) Dial(ctx context.Context, id string, _ []netip.AddrPort) error {
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
	d.Found("B", ProtocolVersion, nil)
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
	d.Found("new", ProtocolVersion, nil)
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
func recvWithin(t *testing.T, ch chan string, what string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		return ""
	}
}
