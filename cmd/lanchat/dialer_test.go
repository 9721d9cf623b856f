package main

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"lanchat/discovery"
)

// fakeTarget records dials and notices; each Dial blocks until released.
type fakeTarget struct {
	dials   chan string   // peer IDs, as Dial is entered
	release chan struct{} // one receive lets one Dial return
	notices chan string
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

func TestPeerDialer(t *testing.T) {
	f := &fakeTarget{dials: make(chan string, 10), release: make(chan struct{}), notices: make(chan string, 10)}
	d := newPeerDialer(f, slog.New(slog.DiscardHandler))
	d.settle = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.run(ctx) })

	recv := func(ch chan string, what string) string { t.Helper(); return recvWithin(t, ch, what) }
	a := discovery.Peer{ID: "A", Addrs: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:4001")}}
	d.Found(a)
	if got := recv(f.dials, "dial of A"); got != "A" {
		t.Fatalf("dialled %q, want A", got)
	}
	// While A's dial is in flight, more sightings of A are not dialled, but
	// another peer is.
	d.Found(a)
	d.Found(a)
	d.Found(discovery.Peer{ID: "B"})
	if got := recv(f.dials, "dial of B"); got != "B" {
		t.Fatalf("dialled %q while A is in flight, want B", got)
	}
	f.release <- struct{}{}
	f.release <- struct{}{}
	// Once a dial is done, a new sighting dials again (node decides whether
	// it is needed). Sightings repeat, as discovery's do: one made before run
	// has seen the dial finish is dropped.
	deadline := time.Now().Add(5 * time.Second)
redial:
	for {
		d.Found(a)
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
	if got, want := recv(f.notices, "notice"), "3 lanchat peers nearby use a different key"; got != want {
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
		t.Fatal("run did not return after cancel")
	}
	select {
	case got := <-f.notices:
		t.Errorf("second notice %q, want the user told once", got)
	default:
	}
}

func TestPeerDialerNeverBlocks(t *testing.T) {
	f := &fakeTarget{dials: make(chan string, 1), release: make(chan struct{}), notices: make(chan string, 1)}
	d := newPeerDialer(f, slog.New(slog.DiscardHandler))
	// run is not running: the handler methods must still return at once.
	for range foundQueue * 3 {
		d.Found(discovery.Peer{ID: "A"})
	}
	for i := range 10 {
		d.Foreign(i)
	}
	if got := <-d.foreign; got != 9 {
		t.Errorf("foreign count kept = %d, want the latest, 9", got)
	}
}

func TestForeignNotice(t *testing.T) {
	for n, want := range map[int]string{
		1: "1 lanchat peer nearby uses a different key",
		2: "2 lanchat peers nearby use a different key",
	} {
		if got := foreignNotice(n); got != want {
			t.Errorf("foreignNotice(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPeerDialerDiscoveryStatus(t *testing.T) {
	f := &fakeTarget{dials: make(chan string, 1), release: make(chan struct{}), notices: make(chan string, 2)}
	d := newPeerDialer(f, slog.New(slog.DiscardHandler))
	var _ discovery.Waiter = d
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { d.run(ctx) })
	recv := func(ch chan string, what string) string { t.Helper(); return recvWithin(t, ch, what) }
	d.Unavailable(discovery.ErrNoMulticastRoute)
	if got := recv(f.notices, "notice"); !strings.Contains(got, "local discovery is waiting for the network") ||
		!strings.Contains(got, "--peer") {
		t.Errorf("Unavailable notice %q, want it to say discovery waits and mention --peer", got)
	}
	d.Available()
	if got, want := recv(f.notices, "notice"), "local discovery works again: looking for peers on the network"; got != want {
		t.Errorf("Available notice %q, want %q", got, want)
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
