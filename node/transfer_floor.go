package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// floorProtocol is the protocol of a [StreamFloor]'s copies.
const floorProtocol = "/lanchat/floor/1"

// StreamFloor is a bare libp2p host built as a [Host]'s is (TCP, the
// private network of its key, Noise, yamux as lanchat sets it up), which
// copies files over single streams with io.Copy and nothing else: the
// yardstick of the file benchmark, what the libp2p stack alone moves
// between two hosts, against which the file transfer's own costs show.
// It takes no part in chat.
type StreamFloor struct {
	h host.Host
}

// StartStreamFloor starts a floor host with key psk listening on
// listen (a multiaddr, "/ip4/0.0.0.0/tcp/0").
func StartStreamFloor(psk []byte, listen string) (*StreamFloor, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("floor key: %w", err)
	}
	cfg := DefaultConfig()
	cfg.PSK, cfg.ListenAddrs = psk, []string{listen}
	h, err := newLibp2pHost(cfg, key, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	return &StreamFloor{h: h}, nil
}

// Addrs returns the host's addresses, each with its peer ID.
func (f *StreamFloor) Addrs() []string {
	var out []string
	for _, a := range f.h.Addrs() {
		out = append(out, a.Encapsulate(ma.StringCast("/p2p/"+f.h.ID().String())).String())
	}
	return out
}

// Receive copies each stream opened to the host into the file at path
// (truncated first) and closes the stream when all is written, so that
// the sender's [StreamFloor.Send] returns; each copy's error (nil when it
// succeeded) comes on the channel returned, which is never closed.
func (f *StreamFloor) Receive(path string) <-chan error {
	done := make(chan error, 16)
	f.h.SetStreamHandler(floorProtocol, func(s network.Stream) {
		out, err := os.Create(path)
		if err == nil {
			_, err = io.Copy(out, s)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			s.Reset()
		} else {
			s.Close()
		}
		done <- err
	})
	return done
}

// Send copies the file at path to the floor host at addr (one of its
// Addrs) over one stream, and returns the time from opening the stream
// (the connection included) until the receiver closed it.
func (f *StreamFloor) Send(ctx context.Context, addr, path string) (time.Duration, error) {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return 0, fmt.Errorf("floor address %q: %w", addr, err)
	}
	in, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	start := time.Now()
	if err := f.h.Connect(ctx, *ai); err != nil {
		return 0, fmt.Errorf("floor connect: %w", err)
	}
	s, err := f.h.NewStream(ctx, ai.ID, floorProtocol)
	if err != nil {
		return 0, fmt.Errorf("floor stream: %w", err)
	}
	if _, err := io.Copy(s, in); err != nil {
		s.Reset()
		return 0, fmt.Errorf("floor copy: %w", err)
	}
	s.CloseWrite()
	if _, err := io.Copy(io.Discard, s); err != nil { // until the receiver closes
		return 0, fmt.Errorf("floor copy: %w", err)
	}
	took := time.Since(start)
	s.Close()
	return took, nil
}

// WaitIdle waits until no peer is connected, or ctx is done. A receiver
// that closes its host right after its last copy may cut the close of
// the stream its sender waits for: it waits for the sender to leave.
func (f *StreamFloor) WaitIdle(ctx context.Context) error {
	left := make(chan struct{}, 1)
	nb := &network.NotifyBundle{DisconnectedF: func(network.Network, network.Conn) {
		select {
		case left <- struct{}{}:
		default:
		}
	}}
	f.h.Network().Notify(nb)
	defer f.h.Network().StopNotify(nb)
	for len(f.h.Network().Peers()) > 0 {
		select {
		case <-left:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close stops the host.
func (f *StreamFloor) Close() error { return f.h.Close() }
