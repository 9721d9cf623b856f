package node

import (
	"fmt"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/libp2p/go-libp2p/x/rate"
)

// Resource limits: what one peer, or anyone on the LAN, may hold of the
// host's connections and streams (libp2p's resource manager, rcmgr).
//
// libp2p's default limits scale with the machine's memory and are made
// for a public DHT node. On a machine with 24 GB they allow ~500
// unnegotiated inbound streams in all (the transient scope) but ~630 to
// one peer, so one peer with the key that opens streams and never names
// a protocol makes the host refuse every other peer's streams, newcomers'
// included; and ~80 inbound connections that have not finished their
// handshake, so ~80 TCP connections that say nothing, from anyone on the
// LAN, keep every newcomer out for the 15 s libp2p waits for a handshake.
// They also count every IPv6 peer of a /56 as one subnet, 8 connections
// (and 16 at once, then one every 5 s) for the whole LAN. A LAN chat
// needs the opposite: a single peer is bounded well under the totals, the
// totals are roomy, and a room of 250 members (each one connection and a
// handful of streams) fits with room to spare.
//
// The limits, fixed (not scaled with memory):
//
//	scope                   conns in/out/all   streams in/out/all   memory
//	system                  768 / 768 / 1024   8192 / 8192 / 16384  1 GiB
//	transient               512 / 256 / 512    2048 / 1024 / 2048   256 MiB
//	  (connections in their handshake, streams before their protocol is
//	  negotiated)
//	each peer               8 / 8 / 8          32 / 64 / 96         64 MiB
//	each connection         libp2p's: 1 connection, 32 MiB
//	each stream             libp2p's: 1 stream, 16 MiB
//	pubsub (/meshsub/*, /floodsub/1.0.0), all peers
//	                                           1024 / 1024 / 2048   256 MiB
//	  each peer                                4 / 4 / 8            8 MiB
//	/lanchat/ack/2, all                        512 / 64 / 576       16 MiB
//	  each peer                                8 / 8 / 16           1 MiB
//	/lanchat/sync/1, all                       512 / 64 / 576       256 MiB
//	  each peer                                8 / 8 / 16           64 MiB
//	/lanchat/file/1, all                       256 / 64 / 320       512 MiB
//	  each peer                                8 / 8 / 16           64 MiB
//	  (a stream's receive window grows to 16 MiB for full speed;
//	  at most maxServingPer transfers served to one peer and
//	  maxDownloads received at once, the rest answered "busy")
//	  (all: a newcomer to a room of 250 is pulled from by every member
//	  at once, and a leaver is acked by every member at once; each
//	  peer: above ackSenders and syncWorkers, and above syncServePerPeer
//	  so that sync itself answers "busy")
//	/lanchat/dm/1, all                         256 / 64 / 320       32 MiB
//	  each peer                                4 / 4 / 8            1 MiB
//	  (a sender flushes one stream per peer at a time, dmSenders at
//	  once; all: every member of a room of 250 may write to one at once)
//	/lanchat/peers/1, all                      512 / 64 / 576       32 MiB
//	  each peer                                2 / 2 / 4            1 MiB
//	  (a frame of peer exchange is 56 KiB at most; a peer sends one per
//	  exchangePace, and a newcomer gets one from every member at once)
//	/lanchat/kad/1.0.0 (the DHT, when it runs; see dht.go), all
//	                                           512 / 512 / 1024     64 MiB
//	  each peer                                4 / 4 / 8            8 MiB
//	  (the DHT keeps one stream to each peer it queries, and
//	  queries 10 peers at once)
//	identify, all                              512 / 512 / 1024     64 MiB
//	  each peer                                libp2p's: 16 / 16 / 32
//	file descriptors        libp2p's: half the process's limit
//
// Per address (connections at once, counted when the TCP connection is
// accepted or dialled, before any handshake): 16 for each IPv4 address
// and for each IPv6 address (/128; a /64 or /56 is the whole LAN),
// loopback unlimited; so up to 16 lanchat processes behind one address (a
// shared machine, a NAT) all meet. No rate of new connections per
// address: the resource manager charges it for our own dials too, and a
// forger that advertises made-up peer IDs at a member's address (mDNS is
// not authenticated) would drain that member's allowance and cut it off.
// The handshake deadline bounds what a flood of connections holds. On
// IPv6 an attacker can take many /128s of its /64: there only the
// transient limits and the deadline bound it.
//
// A peer's memory also bounds its streams: yamux reserves 256 KiB of the
// peer's 64 MiB for every stream the peer opens, before the stream
// limits are checked, and closes the connection when that fails; so a
// peer that opens more than ~250 streams at once loses its connection
// (an honest one has a handful).
//
// So one peer holds at most 32 of the 2048 unnegotiated stream slots,
// and one address at most 16 × 32 = 512 even with 16 made-up identities;
// one address holds at most 16 of the 512 handshake slots, and a slot is
// held at most handshakeTimeout: filling them takes 32 addresses that
// keep reconnecting.
//
// An inbound stream must name its protocol within negotiationTimeout
// (libp2p's default is 10 s), so an unnegotiated stream holds its slot
// that long at most.
const (
	maxSystemConnsIn = 768
	maxSystemConns   = 1024
	maxTransientIn   = 512 // connections in their handshake
	maxStreamsUnneg  = 2048
	maxPeerConns     = 8
	maxPeerStreamsIn = 32
	maxConnsPerAddr  = 16
)

// handshakeTimeout bounds an inbound connection's handshake: from TCP
// accept through the private network's nonce, security negotiation,
// Noise and the muxer (libp2p's default is 15 s). A LAN handshake takes
// milliseconds; a connection that has not finished after this long is
// closed, freeing its slot.
const handshakeTimeout = 3 * time.Second

// negotiationTimeout bounds the negotiation of a stream's protocol
// (multistream-select), inbound and outbound: a LAN peer names it in a
// round trip; a stream that has not after this long is reset, freeing its
// slot (libp2p's default: 10 s).
const negotiationTimeout = 3 * time.Second

// pubsubProtocols are the stream protocols of gossipsub.
var pubsubProtocols = []protocol.ID{
	pubsub.GossipSubID_v13, pubsub.GossipSubID_v12, pubsub.GossipSubID_v11,
	pubsub.GossipSubID_v10, pubsub.FloodSubID,
}

// resourceLimits returns the limits documented above.
func resourceLimits() rcmgr.ConcreteLimitConfig {
	scaled := rcmgr.DefaultLimits
	identifyLimits(&scaled)
	proto := map[protocol.ID]rcmgr.ResourceLimits{
		ackProtocol:  {StreamsInbound: 512, StreamsOutbound: 64, Streams: 576, Memory: 16 << 20},
		syncProtocol: {StreamsInbound: 512, StreamsOutbound: 64, Streams: 576, Memory: 256 << 20},
		dmProtocol:   {StreamsInbound: 256, StreamsOutbound: 64, Streams: 320, Memory: 32 << 20},
		fileProtocol: {StreamsInbound: 256, StreamsOutbound: 64, Streams: 320, Memory: 512 << 20},
		identify.ID:  {StreamsInbound: 512, StreamsOutbound: 512, Streams: 1024, Memory: 64 << 20},
	}
	protoPeer := map[protocol.ID]rcmgr.ResourceLimits{
		ackProtocol:  {StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 1 << 20},
		syncProtocol: {StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 64 << 20},
		dmProtocol:   {StreamsInbound: 4, StreamsOutbound: 4, Streams: 8, Memory: 1 << 20},
		fileProtocol: {StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 64 << 20},
	}
	proto[dhtProtocol] = rcmgr.ResourceLimits{StreamsInbound: 512, StreamsOutbound: 512, Streams: 1024, Memory: 64 << 20}
	protoPeer[dhtProtocol] = rcmgr.ResourceLimits{StreamsInbound: 4, StreamsOutbound: 4, Streams: 8, Memory: 8 << 20}
	proto[peersProtocol] = rcmgr.ResourceLimits{StreamsInbound: 512, StreamsOutbound: 64, Streams: 576, Memory: 32 << 20}
	protoPeer[peersProtocol] = rcmgr.ResourceLimits{StreamsInbound: 2, StreamsOutbound: 2, Streams: 4, Memory: 1 << 20}
	for _, p := range pubsubProtocols {
		proto[p] = rcmgr.ResourceLimits{StreamsInbound: 1024, StreamsOutbound: 1024, Streams: 2048, Memory: 256 << 20}
		protoPeer[p] = rcmgr.ResourceLimits{StreamsInbound: 4, StreamsOutbound: 4, Streams: 8, Memory: 8 << 20}
	}
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			ConnsInbound: maxSystemConnsIn, ConnsOutbound: maxSystemConnsIn, Conns: maxSystemConns,
			StreamsInbound: 8192, StreamsOutbound: 8192, Streams: 16384,
			Memory: 1 << 30,
		},
		Transient: rcmgr.ResourceLimits{
			ConnsInbound: maxTransientIn, ConnsOutbound: 256, Conns: maxTransientIn,
			StreamsInbound: maxStreamsUnneg, StreamsOutbound: 1024, Streams: maxStreamsUnneg,
			Memory: 256 << 20,
		},
		PeerDefault: rcmgr.ResourceLimits{
			ConnsInbound: maxPeerConns, ConnsOutbound: maxPeerConns, Conns: maxPeerConns,
			StreamsInbound: maxPeerStreamsIn, StreamsOutbound: 64, Streams: 96,
			Memory: 64 << 20,
		},
		Protocol:     proto,
		ProtocolPeer: protoPeer,
	}
	return partial.Build(scaled.AutoScale())
}

// identifyLimits adds to config the limits libp2p.SetDefaultServiceLimits
// gives identify, the one libp2p service the host runs (that function is
// in the root libp2p package, which links every transport; see
// [newLibp2pHost]).
func identifyLimits(config *rcmgr.ScalingLimitConfig) {
	config.AddServiceLimit(identify.ServiceName,
		rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20},
		rcmgr.BaseLimitIncrease{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20})
	config.AddServicePeerLimit(identify.ServiceName,
		rcmgr.BaseLimit{StreamsInbound: 16, StreamsOutbound: 16, Streams: 32, Memory: 1 << 20},
		rcmgr.BaseLimitIncrease{})
	for _, id := range [...]protocol.ID{identify.ID, identify.IDPush} {
		config.AddProtocolLimit(id,
			rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20},
			rcmgr.BaseLimitIncrease{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20})
		config.AddProtocolPeerLimit(id,
			rcmgr.BaseLimit{StreamsInbound: 16, StreamsOutbound: 16, Streams: 32, Memory: 32 * (256<<20 + 16<<10)},
			rcmgr.BaseLimitIncrease{})
	}
}

// newResourceManager returns the host's resource manager, with
// [resourceLimits] and the per-address limits documented there.
func newResourceManager() (network.ResourceManager, error) {
	perAddr4 := []rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: maxConnsPerAddr}}
	perAddr6 := []rcmgr.ConnLimitPerSubnet{{PrefixLength: 128, ConnCount: maxConnsPerAddr}}
	// Unlimited (a zero Limiter): see above for why there is no rate.
	rl := &rate.Limiter{}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits()),
		rcmgr.WithLimitPerSubnet(perAddr4, perAddr6),
		rcmgr.WithConnRateLimiters(rl),
		rcmgr.WithMetricsDisabled(),
	)
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	return rm, nil
}
