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
// change, when the interface changes, or when a [Prompter] prompts: every
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
// The responder and the queries use one interface: Config.Iface, or by
// default the interface the kernel routes multicast through (the default
// route's). Only that interface's addresses are advertised. Without a default
// route hashicorp/mdns cannot query at all; Run then fails with
// [ErrNoMulticastRoute] instead of failing silently — unless the Handler is
// also a [Waiter]: then Run tells it, waits for the network (a laptop whose
// Wi-Fi connects after the start) and carries on when it comes. Machines on
// several LANs name the one to use with Config.Iface.
//
// # Why nobody shows up
//
// A Handler that is also a [Diagnoser] is told, in one sentence, why
// discovery finds nobody on our network, where it can be known
// (diagnose.go: a pure decision over a snapshot, tested by a table and by
// a namespace set up for each reason). The environment comes first, read
// from the interface flags and the route the kernel picks for the mDNS
// group; then what the queries of the last 3 s or more saw:
//
//	loopback-only  no interface up but loopback
//	               "nobody found: this machine has no network interface up except loopback: connect it to a network (plug in a cable or join a Wi-Fi)"
//	no-multicast   no interface up can carry multicast (or the routed/named one cannot)
//	               "nobody found: none of the network interfaces here (eth0) can carry multicast, which local discovery needs: connect with --peer ADDR or /invite"
//	               "nobody found: tun0 cannot carry multicast, which local discovery needs: choose another interface with --iface (eth0 can), or connect with --peer ADDR or /invite"
//	no-carrier     the interface is up without a link (IFF_RUNNING off)
//	               "nobody found: eth0 has no link (cable out, or Wi-Fi not connected): plug in the cable or join a Wi-Fi"
//	no-route       no route for the mDNS group (no default route), no interface named
//	               "nobody found: this machine has no route for multicast (no default route: not connected to a network?): connect to a network, or connect with --peer ADDR or /invite"
//	foreign-key    answers from other fingerprints only (worded as node's count notice)
//	               "nobody found on your key: 2 lanchat peers nearby use a different key — check --key (or --key-file)"
//	firewall       queries sent, no answer at all, not even our own
//	               "nobody found: no mDNS answer came back, not even this machine's own: a firewall may block mDNS (UDP 5353); allow it, or connect with --peer ADDR or /invite"
//
// Our own responder answers our own queries (multicast loopback), so an
// answer of ours proves that the machine lets mDNS through: its answers are
// counted, not just skipped. Nothing is said when our own answers come
// back and nobody else's: nothing is known to be wrong. The first
// four reasons are told at once when Run cannot use the network (before
// the [Waiter]'s Unavailable), otherwise after the queries had their fair
// chance; a reason is told once, then again only when it changes
// (ReasonNone when a peer is found or the problem goes away).
package discovery
