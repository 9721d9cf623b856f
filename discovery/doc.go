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
// then once per QueryInterval (±10 % jitter). A newcomer therefore finds the
// existing nodes within half a QueryTimeout (the first query is shorter); existing nodes see the newcomer at
// their next query (or when it dials them). Every sighting of a peer on our
// network is reported again through [Handler.Found], so the caller can redial
// after a drop; the caller dedupes.
//
// Answers are read only after each query has ended: hashicorp/mdns keeps
// writing to an entry after handing out its pointer, so reading it earlier
// would race. The answer channel is buffered (hashicorp/mdns drops answers
// when it is full) and fully drained after each query.
//
// Everything received is untrusted input: answers for other services
// (hashicorp/mdns does not filter by service), malformed TXT, foreign
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
package discovery
