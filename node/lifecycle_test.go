package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

func TestStartConfigErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		edit func(*Config)
		want error
	}{
		{"short key", func(c *Config) { c.PSK = make([]byte, 16) }, ErrKeyLength},
		{"bad nick", func(c *Config) { c.Nick = "a\nb" }, chat.ErrInvalidNick},
		{"lost too soon", func(c *Config) { c.LostAfter = c.HeartbeatInterval }, ErrConfig},
		{"bad listen", func(c *Config) { c.ListenAddrs = []string{"tcp://x"} }, ErrConfig},
		{"bad static peer", func(c *Config) { c.StaticPeers = []string{"/ip4/1.2.3.4/tcp/5"} }, ErrBadAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("alice")
			tt.edit(&cfg)
			n, err := Start(ctx, cfg)
			if !errors.Is(err, tt.want) {
				t.Errorf("Start = %v, want %v", err, tt.want)
			}
			if n != nil {
				n.Close()
			}
		})
	}
}

func TestZeroConfigDefaults(t *testing.T) {
	t.Parallel()
	n := startNode(t, Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	info := n.Info()
	if info.Network != chat.NetworkOpen || info.Fingerprint != "open" {
		t.Errorf("Info = %+v", info)
	}
	if !strings.HasPrefix(info.Nick, "user-") || chat.ValidNick(info.Nick) != nil {
		t.Errorf("default nick %q", info.Nick)
	}
	if info.Port == 0 || info.Port6 != 0 {
		t.Errorf("ports %d/%d, want v4 only", info.Port, info.Port6)
	}
	for _, a := range info.Addrs {
		if !strings.HasSuffix(a, "/p2p/"+info.PeerID) {
			t.Errorf("address %q lacks /p2p/", a)
		}
	}
	n.wait(time.Second, "self join", func(ev chat.Event) bool { return ev.Kind == chat.KindJoin && ev.Self && ev.Nick == info.Nick })
}

func TestDefaultListenDualStack(t *testing.T) {
	t.Parallel()
	cfg := testConfig("alice")
	cfg.ListenAddrs = nil // defaults: all interfaces, v4 and v6
	n := startNode(t, cfg)
	info := n.Info()
	if info.Port == 0 {
		t.Errorf("no IPv4 port: %+v", info)
	}
	t.Logf("ports %d (v4) %d (v6), addrs %v", info.Port, info.Port6, info.Addrs)
}

// TestLANOnlyHost pins the transport: TCP only, and none of
// relay, AutoNAT or hole punching.
func TestLANOnlyHost(t *testing.T) {
	t.Parallel()
	cfg := testConfig("alice")
	cfg.ListenAddrs = nil
	n := startNode(t, cfg)
	for _, p := range n.host.Mux().Protocols() {
		for _, banned := range []string{"relay", "autonat", "dcutr", "holepunch"} {
			if strings.Contains(string(p), banned) {
				t.Errorf("host speaks %s", p)
			}
		}
	}
	for _, a := range n.host.Network().ListenAddresses() {
		if _, err := a.ValueForProtocol(ma.P_TCP); err != nil || len(a.Protocols()) != 2 {
			t.Errorf("listens on %s, want plain TCP only", a)
		}
	}
}

func TestPrivateInfo(t *testing.T) {
	t.Parallel()
	psk, _ := GenerateKey()
	cfg := testConfig("alice")
	cfg.PSK = psk
	info := startNode(t, cfg).Info()
	if info.Network != chat.NetworkPrivate || info.Fingerprint != Fingerprint(psk) {
		t.Errorf("Info = %+v", info)
	}
}

func TestSendErrorsAndClose(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig("alice"))
	if err := n.Send(""); err == nil {
		t.Errorf("Send(\"\") = nil")
	}
	if err := n.Send(strings.Repeat("x", chat.MaxTextBytes+1)); !errors.Is(err, chat.ErrTooLong) {
		t.Errorf("Send(4097 bytes) = %v, want chat.ErrTooLong", err)
	}
	if err := n.Action(strings.Repeat("x", chat.MaxTextBytes+1)); !errors.Is(err, chat.ErrTooLong) {
		t.Errorf("Action(4097 bytes) = %v, want chat.ErrTooLong", err)
	}
	if err := n.Send("a\xffb"); err == nil {
		t.Errorf("Send(bad UTF-8) = nil")
	}
	max := strings.Repeat("é", chat.MaxTextBytes/2)
	if err := n.Send(max); err != nil {
		t.Errorf("Send(4096 bytes) = %v", err)
	}
	n.wait(2*time.Second, "own long message", isMessage(max))
	n.Notice("hello")
	n.wait(time.Second, "notice", func(ev chat.Event) bool { return ev.Kind == chat.KindNotice && ev.Text == "hello" })

	n.close()
	n.close() // twice is fine
	if err := n.Send("late"); !errors.Is(err, chat.ErrLeft) {
		t.Errorf("Send after Leave and Close = %v, want chat.ErrLeft", err)
	}
	if err := n.SetNick(t.Context(), "bob"); !errors.Is(err, chat.ErrClosed) {
		t.Errorf("SetNick after Close = %v, want chat.ErrClosed", err)
	}
	if err := n.Connect(context.Background(), "/ip4/127.0.0.1/tcp/1/p2p/"+n.id()); !errors.Is(err, chat.ErrClosed) {
		t.Errorf("Connect after Close = %v, want chat.ErrClosed", err)
	}
	if _, err := n.Join(t.Context(), "other", RoomOptions{}); !errors.Is(err, chat.ErrClosed) {
		t.Errorf("Join after Close = %v, want chat.ErrClosed", err)
	}
	if err := n.Leave(t.Context()); !errors.Is(err, chat.ErrClosed) {
		t.Errorf("Leave after Close = %v, want chat.ErrClosed", err)
	}
	n.Notice("after close") // must not panic or block
	if _, ok := <-n.Host.Events(); ok {
		t.Errorf("host Events still open after Close")
	}
	if _, ok := <-n.room.Events(); ok {
		t.Errorf("room Events still open after Close")
	}
}

// TestCloseWithStuckFrontEnd: a front end that stopped reading must not keep
// Close from returning.
func TestCloseWithStuckFrontEnd(t *testing.T) {
	t.Parallel()
	cfg := testConfig("alice")
	cfg.EventBuffer = 1
	h, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.Join(t.Context(), testRoom, RoomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		r.Send(t.Context(), "unread")
	}
	done := make(chan error)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		done <- errors.Join(h.Leave(ctx), h.Close())
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Leave, Close = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Leave and Close blocked by a full Events channel")
	}
}

// TestNothingAfterLeave: a line whose Send was under way when Leave began
// (paced, say) must not go out after the leave: peers would take it for a
// return and show the member again, then lose it.
func TestNothingAfterLeave(t *testing.T) {
	t.Parallel()
	a, b := startPair(t)

	// The first steps of Leave, so that sendLeave runs alone.
	b.room.markGone(chat.ErrLeft)
	b.room.stopAnnouncing()
	if err := b.room.sendLeave(context.Background()); err != nil {
		t.Fatalf("sendLeave = %v", err)
	}
	// The Send that was already past its checks publishes now.
	if err := b.room.publish(t.Context(), wire.KindMessage, "after the leave"); !errors.Is(err, chat.ErrLeft) {
		t.Errorf("publish after the leave = %v, want chat.ErrLeft", err)
	}
	a.wait(2*time.Second, "leave", isLeave(b, chat.ReasonQuit))
	b.close()
	if n := a.count(isJoin(b)); n != 1 {
		t.Errorf("alice saw bob join %d times, want once:\n%s", n, formatEvents(a.events()))
	}
}

// TestLeaveAcked: every member that accepts a leave confirms it over a
// stream, so Leave returns as soon as they all have, well before its
// 500 ms bound, and without closing any connection.
func TestLeaveAcked(t *testing.T) {
	t.Parallel()
	a, b, c := startTrio(t)
	conns := len(b.host.Network().Conns())

	start := time.Now()
	if err := b.room.Leave(t.Context()); err != nil {
		t.Fatalf("Leave = %v", err)
	}
	took := time.Since(start)
	t.Logf("leave confirmed after %v", took)
	if !b.room.confirmed.Load() || took >= leaveGrace {
		t.Errorf("Leave took %v, confirmed by all: %v; want every peer's ack well within %v",
			took, b.room.confirmed.Load(), leaveGrace)
	}
	for _, n := range []*testNode{a, c} {
		n.wait(2*time.Second, "leave", isLeave(b, chat.ReasonQuit))
		if !b.connected(n.Host.self) {
			t.Errorf("bob is not connected to %s any more after leaving the room", n.name)
		}
	}
	if got := len(b.host.Network().Conns()); got != conns {
		t.Errorf("bob has %d connections after the leave, %d before", got, conns)
	}
	ev := b.wait(time.Second, "own leave", func(ev chat.Event) bool { return ev.Kind == chat.KindLeave && ev.Self })
	if ev.Reason != chat.ReasonQuit || ev.Room != testRoom || ev.PeerID != b.id() {
		t.Errorf("own leave event %+v", ev)
	}
	if _, ok := <-b.room.Events(); ok {
		t.Errorf("room Events still open after Leave")
	}
	if err := b.room.Leave(t.Context()); err != nil {
		t.Errorf("second Leave = %v, want nil (the first one's result)", err)
	}
	if err := b.Send("after"); !errors.Is(err, chat.ErrLeft) {
		t.Errorf("Send after Leave = %v, want chat.ErrLeft", err)
	}
}

func TestConcurrentClose(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig("alice"))
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- n.Close() }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("Close = %v", err)
		}
	}
}

func TestDialAndBackoff(t *testing.T) {
	t.Parallel()
	a := startNode(t, testConfig("alice"))
	b := startNode(t, testConfig("bob"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(a.Info().Port))
	if err := b.Dial(ctx, a.id(), []netip.AddrPort{ap}); err != nil {
		t.Fatalf("Dial = %v", err)
	}
	waitKnown(5*time.Second, a, b)
	if err := b.Dial(ctx, a.id(), nil); err != nil {
		t.Errorf("Dial when connected = %v, want nil (no-op)", err)
	}
	if err := b.Dial(ctx, "not a peer id", []netip.AddrPort{ap}); !errors.Is(err, ErrBadAddr) {
		t.Errorf("Dial(bad id) = %v", err)
	}
	if err := b.Dial(ctx, b.id(), []netip.AddrPort{ap}); err != nil {
		t.Errorf("Dial(self) = %v, want nil", err)
	}

	// A peer that is not there: the first dial fails, the next ones back off.
	ghost := testPeerID(t).String()
	closed := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 1)
	err := b.Dial(ctx, ghost, []netip.AddrPort{closed})
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("Dial(ghost) = %v, want ErrUnreachable", err)
	}
	for range 3 {
		if err := b.Dial(ctx, ghost, []netip.AddrPort{closed}); err != nil {
			t.Errorf("Dial(ghost) while backing off = %v, want nil", err)
		}
	}
	b.dialMu.Lock()
	bo := b.backoffs[mustPeer(t, ghost)]
	b.dialMu.Unlock()
	if bo == nil || bo.delay != backoffMin {
		t.Errorf("backoff after one failure = %+v", bo)
	}
}

// TestBackoffTableBounded: dialling ever new peer IDs (made-up mDNS
// answers, say) does not grow the backoff table without bound.
func TestBackoffTableBounded(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig("alice"))
	later := time.Now().Add(time.Hour)
	n.dialMu.Lock()
	for i := range maxBackoffs {
		n.backoffs[peer.ID(fmt.Sprint("ghost", i))] = &backoff{delay: backoffMax, next: later}
	}
	n.dialMu.Unlock()
	closed := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Dial(ctx, testPeerID(t).String(), []netip.AddrPort{closed}); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Dial = %v, want ErrUnreachable", err)
	}
	n.dialMu.Lock()
	defer n.dialMu.Unlock()
	if len(n.backoffs) > maxBackoffs {
		t.Errorf("%d peers in the backoff table, want at most %d", len(n.backoffs), maxBackoffs)
	}
}

func TestAddrPortMultiaddr(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"192.168.1.5:4001", "/ip4/192.168.1.5/tcp/4001"},
		{"[::ffff:10.0.0.1]:80", "/ip4/10.0.0.1/tcp/80"},
		{"[fd00::1]:4001", "/ip6/fd00::1/tcp/4001"},
		{"[fe80::1%eth0]:4001", "/ip6zone/eth0/ip6/fe80::1/tcp/4001"},
		{"0.0.0.0:4001", ""},
		{"[::]:4001", ""},
		{"10.0.0.1:0", ""},
	}
	for _, tt := range tests {
		a, ok := addrPortMultiaddr(netip.MustParseAddrPort(tt.in))
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("addrPortMultiaddr(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if _, ok := addrPortMultiaddr(netip.AddrPort{}); ok {
		t.Errorf("zero AddrPort accepted")
	}
}

func TestStaticPeers(t *testing.T) {
	t.Parallel()
	a := startNode(t, testConfig("alice"))
	cfg := testConfig("bob")
	cfg.StaticPeers = []string{a.addr()}
	b := startNode(t, cfg)
	waitKnown(3*time.Second, a, b)

	// A static peer that refuses: one error event, not one per retry.
	ghost := "/ip4/127.0.0.1/tcp/1/p2p/" + testPeerID(t).String()
	cfg = testConfig("carol")
	cfg.StaticPeers = []string{ghost}
	c := startNode(t, cfg)
	ev := c.wait(3*time.Second, "error", func(ev chat.Event) bool { return ev.Kind == chat.KindError })
	if !strings.Contains(ev.Text, "cannot connect to /ip4/127.0.0.1/tcp/1/") {
		t.Errorf("error text %q", ev.Text)
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "config", "lanchat")
	path := filepath.Join(dir, "identity.key")

	cfg := testConfig("alice")
	cfg.IdentityPath = path
	a := startNode(t, cfg)
	id := a.id()
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v, mode %v", err, st.Mode())
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("identity dir mode %v, %v", st.Mode(), err)
	}

	// A second process on the same identity gets a temporary one and is told.
	b := startNode(t, cfg)
	if b.id() == id {
		t.Errorf("second node shares the peer ID")
	}
	b.wait(time.Second, "notice", func(ev chat.Event) bool {
		return ev.Kind == chat.KindNotice && strings.Contains(ev.Text, "temporary identity")
	})
	b.close()

	a.close()
	c := startNode(t, cfg) // the lock is free again
	if c.id() != id {
		t.Errorf("peer ID after restart %s, want %s", c.id(), id)
	}
	if c.count(func(ev chat.Event) bool { return ev.Kind == chat.KindNotice }) != 0 {
		t.Errorf("unexpected notice: %v", c.events())
	}
	c.close()

	t.Run("open permissions", func(t *testing.T) {
		os.Chmod(path, 0o644)
		defer os.Chmod(path, 0o600)
		_, err := Start(context.Background(), cfg)
		if !errors.Is(err, ErrIdentity) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("Start = %v, want permission error", err)
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.key")
		os.WriteFile(bad, []byte("garbage"), 0o600)
		cfg := cfg
		cfg.IdentityPath = bad
		_, err := Start(context.Background(), cfg)
		if !errors.Is(err, ErrIdentity) || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("Start = %v, want corrupt error", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		cfg := cfg
		cfg.IdentityPath = dir
		if _, err := Start(context.Background(), cfg); !errors.Is(err, ErrIdentity) {
			t.Errorf("Start = %v, want ErrIdentity", err)
		}
	})
	t.Run("ephemeral", func(t *testing.T) {
		cfg := cfg
		cfg.IdentityPath = ""
		n1, n2 := startNode(t, cfg), startNode(t, cfg)
		if n1.id() == n2.id() {
			t.Errorf("ephemeral identities collide")
		}
	})
}

// TestNoGoroutineLeak starts and stops a small room and checks that the
// goroutine count returns to where it was.
func TestNoGoroutineLeak(t *testing.T) {
	run := func() {
		var nodes []*testNode
		for _, nick := range []string{"alice", "bob", "carol"} {
			nodes = append(nodes, startNode(t, testConfig(nick)))
		}
		mesh(nodes...)
		waitKnown(5*time.Second, nodes...)
		nodes[0].Send("hi")
		for _, n := range nodes {
			n.wait(2*time.Second, "hi", isMessage("hi"))
		}
		for _, n := range nodes {
			n.close()
		}
	}
	run() // warm up process-wide libp2p goroutines (metrics sweeper and such)
	before := runtime.NumGoroutine()
	run()
	deadline := time.Now().Add(5 * time.Second)
	for {
		now := runtime.NumGoroutine()
		if now <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			var ours bytes.Buffer
			for _, g := range bytes.Split(buf, []byte("\n\n")) {
				if bytes.Contains(g, []byte("lanchat/node.")) && !bytes.Contains(g, []byte("TestNoGoroutineLeak")) {
					ours.Write(g)
					ours.WriteString("\n\n")
				}
			}
			t.Fatalf("%d goroutines after Close, %d before; ours:\n%s", now, before, ours.String())
		}
		runtime.Gosched()
		time.Sleep(20 * time.Millisecond) // polling a counter; there is no event to wait for
	}
}

func mustPeer(t *testing.T, s string) peer.ID {
	t.Helper()
	p, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLeaveDuringClose: Room.Leave and Host.Close at once (a /part, then
// quitting) both return within their bounds, race on nothing, and close
// the room's Events once.
func TestLeaveDuringClose(t *testing.T) {
	t.Parallel()
	_, b := startPair(t)
	done := make(chan error, 2)
	go func() { done <- b.room.Leave(t.Context()) }()
	go func() { done <- b.Close() }()
	for range 2 {
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, chat.ErrClosed) {
				t.Errorf("Leave or Close = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Leave and Close at once did not return")
		}
	}
	if _, ok := <-b.room.Events(); ok {
		t.Errorf("room Events still open")
	}
}

// TestCloseDuringJoin: Close while a Join is under way (deriving a private
// room's key) makes the Join fail with chat.ErrClosed, promptly, and
// leaves no room behind.
func TestCloseDuringJoin(t *testing.T) {
	// Not parallel: argon2id (64 MiB, both cores, ~0.3 s a key under the
	// race detector) would starve the timing tests that run in parallel.
	n := startHost(t, testConfig("alice"))
	type result struct {
		r   *Room
		err error
	}
	joined := make(chan result, 1)
	go func() {
		r, err := n.Join(context.Background(), "plans", RoomOptions{Passphrase: "sesame"})
		joined <- result{r, err}
	}()
	joining := func() bool {
		n.Host.mu.Lock()
		defer n.Host.mu.Unlock()
		r, ok := n.rooms["plans"]
		return ok && r == nil
	}
	for deadline := time.Now().Add(5 * time.Second); !joining(); {
		if time.Now().After(deadline) {
			t.Fatal("the join never started")
		}
		runtime.Gosched()
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	select {
	case res := <-joined:
		if !errors.Is(res.err, chat.ErrClosed) || res.r != nil {
			t.Errorf("Join during Close = %v, %v; want chat.ErrClosed", res.r, res.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Join did not return after Close")
	}
	n.Host.mu.Lock()
	defer n.Host.mu.Unlock()
	if len(n.rooms) != 0 {
		t.Errorf("rooms after Close: %v", n.rooms)
	}
}
