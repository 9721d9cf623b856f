// Package node is a lanchat participant: a libp2p host on the LAN joined to
// one chat room, with presence (who is here) on top of gossipsub. It is the
// only package that imports libp2p; front ends see plain values ([Event],
// [Member], [Info]) and call methods of [Node].
//
// # Transport
//
// TCP only, Noise, yamux, and a libp2p private network (pnet) when a 32-byte
// pre-shared key is set: a peer without the key cannot complete a
// connection. No relay, hole punching, NAT port mapping or AutoNAT. Each
// room is one gossipsub topic, "lanchat/1/room/<room>", with strict signing
// and flood publishing.
//
// # Envelope
//
// Every pubsub message carries one envelope (integers big-endian):
//
//	byte 0       1       2                               10      11
//	    +-------+-------+-------------------------------+-------+--------------+-------------+
//	    |version| kind  | sent: sender's clock, unix ms | nlen  | nick (nlen B)| text (rest) |
//	    |  = 1  |       | int64                         | uint8 | UTF-8        | UTF-8       |
//	    +-------+-------+-------------------------------+-------+--------------+-------------+
//
// The fields:
//
//   - version: 1. Other versions are dropped.
//   - kind: 1 join, 2 leave, 3 heartbeat, 4 message, 5 action, 6 nick
//     (append-only). Unknown kinds are dropped.
//   - nick: 1..32 runes of printable UTF-8 (no controls or format characters
//     other than the zero-width joiner), no leading or trailing space; the
//     sender's nick when it sent the envelope.
//   - text: message and action only, 1..4096 bytes of UTF-8; empty for
//     every other kind.
//
// The largest envelope is 11+128+4096 bytes. Nothing in the envelope names
// the sender: the sender is the peer that signed the pubsub message, so
// nobody can speak as somebody else (a nick is just a label). The message
// ID is pubsub's default, author plus sequence number. A topic validator
// drops envelopes that break these rules, and, per author, traffic above 100
// messages per second after a burst of 500 (Send paces itself below that).
//
// The validator also drops replays. pubsub forgets a message ID after two
// minutes, after which anybody could publish a recorded message again, its
// signature still valid. So for each author the validator keeps an
// anti-replay window: the highest sequence number accepted and which of the
// 2048 below it were; a message accepted before, or older than the window,
// is ignored. The window is remembered for an hour after the author's last
// message. (pubsub starts an author's sequence numbers at its clock in
// nanoseconds, so a restarted author clears the window; one whose clock was
// set back by more than its last run lasted is not heard for that hour.)
//
// Identities cost nothing to make, so per-author limits alone would let one
// peer sign as thousands of authors. An author that delivers its own
// message is always admitted (each identity then costs a connection); a
// peer relaying authors not heard before may introduce 256 at once, then 4
// a second. At most 4096 authors are remembered; the one heard longest ago
// makes room.
//
// # Presence
//
// The roster is keyed by peer ID. A node publishes a join when it starts, a
// heartbeat every [Config.HeartbeatInterval] (2 s), and a leave on
// [Node.Close]. The first envelope of any kind from an unknown author adds
// it to the roster ([EventJoin]); a leave removes it ([EventLeave], "quit");
// silence for [Config.LostAfter] (6 s) marks it lost ([EventLeave], "lost")
// until it is heard again (another [EventJoin]). A nick different from the
// roster's, on a newer envelope (higher sequence number), is an [EventNick].
// An envelope older than the newest heard from a member changes no presence:
// such a leave is stale, and a lost member is not back on its strength.
//
// A member whose last connection to this node closes without a leave (a
// killed process) is lost sooner: when one and a half heartbeat intervals
// (3 s) have passed since it was last heard and nothing came since the
// close, by another route either — 1 to 3 s after it died instead of 4 to
// 6. A silently cut link closes nothing and takes LostAfter. Silence is
// measured when pubsub validates a message, so a front end slow to read
// Events does not make members look silent.
//
// gossipsub alone loses a publish made right after a peer joins (~5–10 %),
// so presence never relies on one message: when a peer joins the topic, or
// an unknown or lost member is heard, every node re-announces itself with a
// heartbeat 100–300 ms later and once more about a second after that. A
// newcomer therefore learns every nick in well under two seconds, and
// heartbeats repair anything still missing.
//
// Close publishes the leave and waits until every peer in the room has
// confirmed it, at most 500 ms, before closing its connections, so peers
// see "quit" rather than "lost". A node that accepts a leave confirms it by
// closing its connection to the leaver: it has read the leave, so nothing
// is lost when the leaver's side closes. (Closing right after writing lost
// it whenever a peer was slow to read: a socket closed with unread data is
// reset.)
package node
