package discovery

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// linkWatch tells of changes of the machine's interfaces and addresses as
// they happen: a netlink socket subscribed to the kernel's link and
// address groups (RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR).
// The messages are not parsed: any of them means "look again", and the
// look is net.Interfaces. An idle machine sends none, so watching costs
// nothing between changes (no polling).
type linkWatch struct {
	f  *os.File
	c  chan struct{} // cap 1: one pending change is as good as many
	wg sync.WaitGroup
}

// watchLinks starts watching; Close stops it.
func watchLinks() (*linkWatch, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("discovery: netlink socket: %w", err)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("discovery: netlink bind: %w", err)
	}
	w := &linkWatch{f: os.NewFile(uintptr(fd), "netlink"), c: make(chan struct{}, 1)}
	w.wg.Go(w.read)
	return w, nil
}

func (w *linkWatch) read() {
	buf := make([]byte, 1<<16)
	for {
		_, err := w.f.Read(buf)
		if errors.Is(err, os.ErrClosed) {
			return
		}
		// A message, or an overrun (ENOBUFS: changes were lost): either
		// way, look again.
		select {
		case w.c <- struct{}{}:
		default:
		}
		if err != nil && !errors.Is(err, unix.ENOBUFS) {
			return // broken: Run still looks before every query round
		}
	}
}

// Changes receives after the interfaces or their addresses changed.
func (w *linkWatch) Changes() <-chan struct{} { return w.c }

// Close stops the watch and waits for its reader.
func (w *linkWatch) Close() {
	w.f.Close()
	w.wg.Wait()
}

// onlyJoined turns IP_MULTICAST_ALL (IPV6_MULTICAST_ALL) off on c: the
// socket receives the group's datagrams only from the interfaces on which
// it joined the group, not from every interface on which any socket did.
// A failure (an old kernel) only costs wakeups: the responder checks the
// arrival interface anyway.
func onlyJoined(c net.PacketConn, v6 bool) {
	sc, ok := c.(interface {
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		if v6 {
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
		} else {
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
		}
	})
}
