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
//
// # Why nobody shows up
//
// A Handler that is also a [Diagnoser] is told, in one sentence, why
// discovery finds nobody on our network, where it can be known
// (diagnose.go: a pure decision over a snapshot, tested by a table and by
// a namespace set up for each reason). When no interface can be used, the
// candidates of the last look (those of Config.Ifaces, or every interface
// that can multicast and is not a loopback) and why each is not in use
// tell it, at once; when some are in use, what the queries of all of them
// saw over the last 3 s or more (one count summed over the interfaces):
//
//	loopback-only  no interface up but loopback
//	               "nobody found: this machine has no network interface up except loopback: connect it to a network (plug in a cable or join a Wi-Fi)"
//	no-multicast   interfaces up, none can carry multicast
//	               "nobody found: none of the network interfaces here (eth0) can carry multicast, which local discovery needs: connect with --peer ADDR or /invite"
//	no-carrier     those up have no link (IFF_RUNNING off)
//	               "nobody found: eth0 has no link (cable out, or Wi-Fi not connected): plug in the cable or join a Wi-Fi"
//	               "nobody found: none of eth0, wlan0 has a link (cable out, or Wi-Fi not connected): plug in the cable or join a Wi-Fi"
//	no-route       those with a link have no IP address
//	               "nobody found: no route for multicast: eth0 has a link but no IP address (no DHCP lease yet?): wait for one, or set an address"
//	foreign-key    answers from other fingerprints only (worded as node's count notice)
//	               "nobody found on your key: 2 lanchat peers nearby use a different key — check --key (or --key-file)"
//	firewall       queries sent, no answer at all, not even our own
//	               "nobody found: no mDNS answer came back, not even this machine's own: a firewall may block mDNS (UDP 5353); allow it, or connect with --peer ADDR or /invite"
//
// A missing default route is no reason (queries name their interface);
// an interface in use is never the subject of the first four, and one
// that cannot be used while another is (a Wi-Fi not joined beside a
// working cable) is not worth a word. Our own responder answers our own
// queries (multicast loopback), so an answer of ours proves that the
// machine lets mDNS through: its answers are counted, not just skipped.
// Nothing is said when our own answers come back and nobody else's:
// nothing is known to be wrong. A reason is told once, then again only
// when it changes (ReasonNone when a peer is found or the problem goes
// away). Nothing is judged while a [LinkWatcher] knows the link is down:
// a cable pulled after peers were found is told by LinkDown alone; a
// machine that starts without carrier has no peers to lose and is told
// no-carrier.
package discovery
