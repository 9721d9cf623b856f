package node

import (
	"context"
	"net"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/transport"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Link liveness. A member that is directly connected is present while its
// connection is (see presence.go), so a link that dies silently (a cable
// pulled, a laptop gone out of Wi-Fi range) must close its connection
// within seconds. The kernel's TCP keepalive does that without waking the
// process: on a connection idle for linkIdle it sends a probe every
// linkProbe, the peer's kernel answers, and a connection whose peer has
// not answered anything for linkTimeout is closed (TCP_USER_TIMEOUT, which
// bounds unacknowledged data too: a line sent into a dead link). So a cut
// link closes 4 to 5 s after the last packet from the peer. An
// application-level ping (yamux's keepalive) would do the same at the cost
// of two wakeups per connection and interval: measured in an idle 10-node
// room, a 3 s yamux keepalive costs each node 0.1 % of a core, the probes
// nothing measurable.
//
// Where TCP_USER_TIMEOUT (or its like) is missing, linkProbeCount probes
// bound an idle link, but data in flight only retransmission's own
// timeout (minutes).
const (
	linkIdle       = 2 * time.Second
	linkProbe      = time.Second
	linkProbeCount = 3
	linkTimeout    = 4 * time.Second
)

// keepaliveUpgrader is the transport.Upgrader of the host's TCP transport:
// it sets the link keepalive on every TCP connection, dialled or
// accepted, before the upgrade. (libp2p's TCP transport sets a 30 s
// keepalive of its own just before; this one replaces it.)
type keepaliveUpgrader struct{ transport.Upgrader }

func (u keepaliveUpgrader) Upgrade(ctx context.Context, t transport.Transport, c manet.Conn, dir network.Direction, p peer.ID, scope network.ConnManagementScope) (transport.CapableConn, error) {
	setLinkKeepalive(c)
	return u.Upgrader.Upgrade(ctx, t, c, dir, p, scope)
}

func (u keepaliveUpgrader) UpgradeGatedMaListener(t transport.Transport, l transport.GatedMaListener) transport.Listener {
	return u.Upgrader.UpgradeGatedMaListener(t, keepaliveListener{l})
}

// keepaliveListener sets the link keepalive on every connection it accepts.
type keepaliveListener struct{ transport.GatedMaListener }

func (l keepaliveListener) Accept() (manet.Conn, network.ConnManagementScope, error) {
	c, scope, err := l.GatedMaListener.Accept()
	if err == nil {
		setLinkKeepalive(c)
	}
	return c, scope, err
}

// setLinkKeepalive sets the link keepalive on c, if it is a TCP
// connection; best effort: a connection without it is closed by presence's
// silence timeout instead.
func setLinkKeepalive(c net.Conn) {
	if k, ok := c.(interface {
		SetKeepAliveConfig(net.KeepAliveConfig) error
	}); ok {
		_ = k.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: linkIdle, Interval: linkProbe, Count: linkProbeCount})
	}
	if s, ok := c.(syscall.Conn); ok {
		if rc, err := s.SyscallConn(); err == nil {
			_ = setLinkTimeout(rc, linkTimeout)
		}
	}
}

// sockopt runs set on rc's socket and returns the first error of the two.
func sockopt(rc syscall.RawConn, set func(fd uintptr) error) error {
	var err error
	if cerr := rc.Control(func(fd uintptr) { err = set(fd) }); cerr != nil {
		return cerr
	}
	return err
}
