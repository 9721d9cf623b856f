// Package discovery finds lanchat nodes on the local network with multicast
// DNS (github.com/hashicorp/mdns) and tells the caller about them. It knows
// nothing of chat: it advertises an instance name, a port and a few TXT
// fields, and reports what it sees to a [Handler].
//
// # What goes on the wire
//
// Each node runs an mDNS responder for one DNS-SD service instance:
//
//	<peerID>._lanchat._tcp.local.   PTR/SRV/TXT   port = IPv4 TCP port
//	<peerID>.local.                 A/AAAA        addresses of the interface
//	TXT: "id=<peerID>" "v=<version>" "net=<fingerprint>" ["p6=<IPv6 port>"]
//
// The fingerprint tags the network key (an HMAC of it, never the key; "open"
// without one) so that peers on another key can be counted without dialling.
// Each TXT string is kept well under the 255-byte limit (hashicorp/mdns
// silently stops answering when one is longer).
//
// # Browsing
//
// hashicorp/mdns only answers queries; it never announces itself and says no
// goodbye. So [Service.Run] queries FastQueries times back to back at start,
// then once per QueryInterval (±10 % jitter), an interval that doubles
// after each round that saw the same peers as the one before, up to
// MaxQueryInterval, and drops back to QueryInterval when a round sees a
// change, when an interface changes, or when a [Prompter] prompts: every
// query wakes every node on the LAN, and a LAN whose nodes stay the same
// has nothing new to tell. A newcomer therefore finds the
// existing nodes within half a QueryTimeout (the first query is shorter); existing nodes see the newcomer at
// their next query (or, at once, when it dials them). Every sighting of a peer on our
// network is reported again through [Handler.Found], so the caller can redial
// after a drop; the caller dedupes, and merges the addresses of different
// answers for one peer ID.
//
// The browser sends its queries and reads the answers itself (with
// github.com/miekg/dns), one response packet at a time, rather than through
// hashicorp/mdns's client: that one merges all responses about one instance
// name into a single entry, the last record winning, so whoever answered
// last for a peer ID — a forger without the key, say, advertising it at a
// dead address — decided the only address reported. Here every answer is
// reported as it came, the forged one beside the real one, and the caller
// dials all of them (node's [lanchat/node.Dialer] merges them per peer ID).
// The answers of a query are kept (at most 1024, and at most 64 from one
// source address, so that one responder cannot crowd the real peers out)
// and handed over when it ends; the same answer received twice in a round (over IPv4 and IPv6) is
// handed over once.
//
// Everything received is untrusted input: answers for other services
// (responders answer for every service they have), malformed TXT, forged
// addresses. An answer is used only when its instance name equals its id=
// field and every field parses; our own answers are skipped.
//
// # Interfaces
//
// Discovery runs on every interface that is up, has carrier and an
// address, can multicast and is not a loopback (IPv4 and IPv6), or on
// those named in Config.Ifaces. Each has its own responder, which answers
// only the queries that arrived on that interface, with that interface's
// addresses, and its own queries each round (all interfaces at once): a
// machine on two LANs is seen on both and tells neither of the other's
// addresses. hashicorp/mdns's Server cannot keep to one interface (Linux
// hands a group datagram to every socket of the group, whatever interface
// it came in on), so the responder is this package's, answering with the
// records of a hashicorp/mdns service per interface (see responder.go).
//
// Interfaces are followed without a restart: on Linux a netlink socket
// (link and address groups) tells of every change as it happens, at no
// cost in between; elsewhere, and in any case before each query round,
// the interfaces are listed again (one getifaddrs). An interface that
// comes up, or whose addresses change, gets its responder (re)started and
// is queried at once; one that goes away, goes down or loses its carrier
// is dropped. No route is needed: queries name their interface.
//
// When no interface can be used, Run fails with [ErrInterfaceDown] (or
// [ErrNoMulticastRoute] when there is no candidate at all) — unless the
// Handler is also a [Waiter]: then Run tells it, waits for the network (a
// laptop whose Wi-Fi connects after the start) and carries on when it
// comes. A Handler that is a [LinkWatcher] is told when every interface
// on which peers were seen lost its link ("eth0: no carrier") and when it
// is back; Run then queries as at a start.
package discovery
