package discovery

import (
	"context"
	"log/slog"
	"net/netip"
	"time"
)

// Peer is a lanchat node seen on the network.
type Peer struct {
	ID          string           // instance name = libp2p peer ID
	Fingerprint string           // network fingerprint from TXT ("open" for no key)
	Version     string           // protocol version from TXT
	Addrs       []netip.AddrPort // where it listens
}

// Handler receives what the browser sees. Methods are called from the browse goroutine and must not block.
type Handler interface {
	// Found is called for each sighting of a peer on our network (same fingerprint), repeatedly.
	Found(Peer)
	// Foreign is called when the number of distinct peers seen with another fingerprint grows.
	Foreign(count int)
}

// Config configures a [Service]. Start from [DefaultConfig].
type Config struct {
	Service       string        // "_lanchat._tcp"
	Instance      string        // our peer ID; used as instance name, skipped when browsing
	Port          int           // advertised IPv4 TCP port
	Port6         int           // advertised IPv6 TCP port (0 = none)
	Fingerprint   string        // our network fingerprint
	Version       string        // protocol version
	Iface         string        // "" = default interface
	QueryTimeout  time.Duration // per query
	FastQueries   int           // quick queries at start
	QueryInterval time.Duration // then one query per interval
	Logger        *slog.Logger
}

// DefaultConfig returns the defaults documented on [Config].
func DefaultConfig() Config { panic("TODO") }

// Service advertises this node and browses for others.
type Service struct{}

// New validates cfg; it starts nothing.
func New(cfg Config) (*Service, error) { panic("TODO") }

// Run advertises and browses until ctx is cancelled, then stops the responder and returns nil
// (or the error that stopped it).
func (s *Service) Run(ctx context.Context, h Handler) error { panic("TODO") }
