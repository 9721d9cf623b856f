package node

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/transport"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/sys/unix"
)

// recordingUpgrader is a transport.Upgrader that records what the
// keepaliveUpgrader hands it, and upgrades nothing.
type recordingUpgrader struct {
	transport.Upgrader
	conn     manet.Conn
	listener transport.GatedMaListener
}

var errNoUpgrade = errors.New("test: no upgrade")

func (u *recordingUpgrader) Upgrade(_ context.Context, _ transport.Transport, c manet.Conn, _ network.Direction, _ peer.ID, _ network.ConnManagementScope) (transport.CapableConn, error) {
	u.conn = c
	return nil, errNoUpgrade
}

func (u *recordingUpgrader) UpgradeGatedMaListener(_ transport.Transport, l transport.GatedMaListener) transport.Listener {
	u.listener = l
	return nil
}

// libp2pKeepalive does to c what libp2p's TCP transport does before the
// upgrade: a 30 s keepalive.
func libp2pKeepalive(t *testing.T, c manet.Conn) {
	t.Helper()
	k := c.(interface {
		SetKeepAlive(bool) error
		SetKeepAlivePeriod(time.Duration) error
	})
	if err := k.SetKeepAlive(true); err != nil {
		t.Fatal(err)
	}
	if err := k.SetKeepAlivePeriod(30 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// tcpListener is a GatedMaListener that accepts as libp2p's TCP listener
// does (with its 30 s keepalive), without gating.
type tcpListener struct {
	manet.Listener
	t *testing.T
}

func (l tcpListener) Accept() (manet.Conn, network.ConnManagementScope, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		libp2pKeepalive(l.t, c)
	}
	return c, nil, err
}

// sockopts reads c's keepalive options: SO_KEEPALIVE, TCP_KEEPIDLE (s),
// TCP_KEEPINTVL (s), TCP_KEEPCNT, TCP_USER_TIMEOUT (ms).
func sockopts(t *testing.T, c manet.Conn) [5]int {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got [5]int
	var gerr error
	opts := [5][2]int{{unix.SOL_SOCKET, unix.SO_KEEPALIVE}, {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL}, {unix.IPPROTO_TCP, unix.TCP_KEEPCNT}, {unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT}}
	if err := rc.Control(func(fd uintptr) {
		for i, o := range opts {
			v, err := unix.GetsockoptInt(int(fd), o[0], o[1])
			gerr = errors.Join(gerr, err)
			got[i] = v
		}
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return got
}

// TestLinkKeepalive: a dialled connection on its way to the upgrade and an
// accepted one both carry the link keepalive (2 s idle, 1 s probes, 3
// probes, 4 s user timeout) in place of libp2p's 30 s keepalive.
func TestLinkKeepalive(t *testing.T) {
	l, err := manet.Listen(ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rec := &recordingUpgrader{}
	u := keepaliveUpgrader{rec}
	u.UpgradeGatedMaListener(nil, tcpListener{l, t})
	if rec.listener == nil {
		t.Fatal("UpgradeGatedMaListener handed no listener on")
	}

	var d manet.Dialer
	out, err := d.Dial(l.Multiaddr())
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	libp2pKeepalive(t, out)
	if _, err := u.Upgrade(context.Background(), nil, out, network.DirOutbound, "", nil); !errors.Is(err, errNoUpgrade) {
		t.Fatalf("Upgrade = %v, want the wrapped upgrader's error", err)
	}
	in, _, err := rec.listener.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()

	want := [5]int{1, int(linkIdle / time.Second), int(linkProbe / time.Second), linkProbeCount, int(linkTimeout / time.Millisecond)}
	for _, c := range []struct {
		name string
		conn manet.Conn
	}{{"dialled", rec.conn}, {"accepted", in}} {
		if got := sockopts(t, c.conn); got != want {
			t.Errorf("%s connection: keepalive, idle s, interval s, count, user timeout ms = %v, want %v", c.name, got, want)
		}
	}
}
