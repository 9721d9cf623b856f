package node

import (
	"context"
	"path/filepath"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// reach is what a host does to meet peers beyond its multicast domain:
// its Dialer, the peer exchange (exchange.go) and the remembered peers
// (peerbook.go). Start wires it with startReach, Close unwires it with
// closeReach.
type reach struct {
	dialer *Dialer
	x      *exchange
	book   *peerBook
	xN     network.Notifiee
	sub    event.Subscription
}

// Dialer returns the host's dialer, to which local discovery hands what
// it sees (see [Dialer.Found]). The host runs it from Start until Close.
func (h *Host) Dialer() *Dialer { return h.dialer }

// startReach makes the host's Dialer, peer exchange and peer book, loads
// the book and starts their goroutines (added to h.wg, stopped by ctx).
func (h *Host) startReach(ctx context.Context) error {
	h.dialer = newDialer(h, h.log.With("component", "dialer"))
	h.x = newExchange(h)
	dir := ""
	if h.cfg.DataDir != "" && h.hist.temp == "" {
		dir = filepath.Join(h.cfg.DataDir, h.self.String())
	}
	h.book = newPeerBook(dir, h.log)
	h.book.load(time.Now())
	sub, err := h.x.subscribe()
	if err != nil {
		return err
	}
	h.sub = sub
	h.xN = h.x.notifiee()
	h.host.Network().Notify(h.xN)
	h.host.SetStreamHandler(peersProtocol, h.x.handle)
	h.wg.Add(4)
	go func() {
		defer h.wg.Done()
		h.dialer.Run(ctx)
	}()
	go func() {
		defer h.wg.Done()
		h.x.watch(ctx, sub)
	}()
	go func() {
		defer h.wg.Done()
		h.x.run(ctx)
	}()
	go h.rememberLoop(ctx)
	return nil
}

// closeReach stops the peer exchange and writes the peer book, noting the
// peers still connected as seen now. Call it after the goroutines of
// startReach returned, before the libp2p host closes.
func (h *Host) closeReach() {
	if h.x == nil {
		return
	}
	h.host.RemoveStreamHandler(peersProtocol)
	if h.xN != nil {
		h.host.Network().StopNotify(h.xN)
	}
	if h.sub != nil {
		h.sub.Close()
	}
	if err := h.book.save(time.Now(), h.x.connectedPeers()); err != nil {
		h.log.Warn("cannot write the remembered peers", "err", err)
	}
}

// mergeStatics merges the static peers of one peer ID into one, with the
// addresses of all, in order: such a peer is dialled at all its addresses
// at once (an invitation gives several) by one loop, which reports one
// failure, not one per address.
func mergeStatics(statics []peer.AddrInfo) []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, ai := range statics {
		i := slices.IndexFunc(out, func(o peer.AddrInfo) bool { return o.ID == ai.ID })
		if i < 0 {
			out = append(out, peer.AddrInfo{ID: ai.ID, Addrs: slices.Clone(ai.Addrs)})
			continue
		}
		for _, a := range ai.Addrs {
			if !slices.ContainsFunc(out[i].Addrs, a.Equal) {
				out[i].Addrs = append(out[i].Addrs, a)
			}
		}
	}
	return out
}
