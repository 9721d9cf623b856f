//go:build !linux

package discovery

import (
	"errors"
	"net"
)

// linkWatch is Linux only; elsewhere the interfaces are looked at again
// before every query round (see Run).
type linkWatch struct{}

func watchLinks() (*linkWatch, error) {
	return nil, errors.New("discovery: interface watch not supported")
}

func (w *linkWatch) Changes() <-chan struct{} { return nil }
func (w *linkWatch) Close()                   {}

func onlyJoined(net.PacketConn, bool) {}
