package node

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setLinkTimeout closes the connection when what it sent has gone
// unanswered for d (TCP_RXT_CONNDROPTIME, whole seconds).
func setLinkTimeout(rc syscall.RawConn, d time.Duration) error {
	return sockopt(rc, func(fd uintptr) error {
		return unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_RXT_CONNDROPTIME, int(d.Seconds()))
	})
}
