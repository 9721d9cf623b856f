package node

import (
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

// setLinkTimeout closes the connection when what it sent has gone
// unanswered for d (TCP_MAXRT, whole seconds).
func setLinkTimeout(rc syscall.RawConn, d time.Duration) error {
	return sockopt(rc, func(fd uintptr) error {
		return windows.SetsockoptInt(windows.Handle(fd), windows.IPPROTO_TCP, windows.TCP_MAXRT, int(d.Seconds()))
	})
}
