// Package node is a lanchat participant on the LAN: a [Host] (identity,
// libp2p host, gossipsub, dialing, static peers, admission of incoming
// messages) that joins any number of chat rooms, each a [Room] (topic,
// validator, roster, announcer, events). It is the only package that
// imports libp2p; front ends see the plain values of [lanchat/node/chat]
// and call methods of Host and Room.
//
// # Transport
//
// TCP only, Noise, yamux, and a libp2p private network (pnet) when a 32-byte
// pre-shared key is set: a peer without the key cannot complete a
// connection. No relay, hole punching, NAT port mapping or AutoNAT.
// gossipsub with strict signing and flood publishing carries the rooms.
// All rooms share the host's connections.
//
// # Topics
//
// Each room is one gossipsub topic. An open room is "lanchat/2/room/<name>";
// a private room (one joined with a passphrase) is "lanchat/2/private/<tag>",
// where the tag is 32 hex digits derived from the room key
// ([lanchat/node/roomkey]): the name of a private room never goes on the
// wire. The "2" is [ProtocolVersion]; a peer subscribed to a topic of
// protocol 1 ("lanchat/1/room/…") is told about with a notice, since the
// two cannot chat.
//
// The subscription filter lets pubsub track only topics of this naming
// scheme, at most 32 per peer, and at most 4096 distinct topics in all
// besides those of the rooms this node is in (so that peers announcing
// made-up rooms cannot crowd out its own); it forgets a peer's topics
// when the peer's last connection closes. It never fails an RPC (pubsub
// would drop the messages in it too) and never calls pubsub. What it
// tracks is what [Host.Rooms] lists, with the peers subscribed to each.
// So every node announces the rooms it is in just by being subscribed; a
// private room shows as its tag. Since peers track at most 32 topics of
// a node, a node joins at most 32 rooms at once ([ErrTooManyRooms]; fewer
// with a short heartbeat, see below).
//
// # Envelope
//
// Every pubsub message carries one envelope of [lanchat/node/wire]
// (version 2: a kind, then tag-length-value fields that older readers
// skip; its package comment draws it). Its room field must be the room's
// wire ID — its name, or a private room's tag — or the message is
// rejected: a signed envelope of one room cannot be replayed into another.
// Nothing in the envelope names the sender: the sender is the peer that
// signed the pubsub message, so nobody can speak as somebody else (a nick
// is just a label). The pubsub message ID is the author and sequence
// number, as pubsub's default, then the first 16 bytes of the SHA-256 of
// the topic (uvarint length, bytes) and the data (see Peer scoring).
//
// In a private room every envelope — join, heartbeat, message, nick,
// leave — is published as a sealed envelope: its sealed field is
// [roomkey.Key.Seal] of the inner envelope's bytes, with additional data
// the author's peer ID bytes followed by the tag, so that a sealed
// envelope opens only as signed by its author and only in its room. The
// validator opens it (rejecting what does not open), decodes the inner
// envelope, and checks that its room is the tag and its kind not sealed.
// A member of the network without the passphrase derives another tag, so
// it joins another topic and sees nothing; one that subscribes to the
// topic by its tag gets only sealed bytes.
//
// # Inbound pipeline
//
// One owner per piece, in this order:
//
//  1. The room's validator (pubsub runs it inline, one worker, so each
//     author's messages stay in order) decodes and checks the envelope as
//     above.
//  2. Admission, one for the host and shared by all its rooms (and, later,
//     its streams), drops replays, floods and swarms of new identities
//     (below).
//  3. The validator notes that the author was heard (for presence), confirms
//     a leave to its author (below), and wraps what it accepted in a
//     [Record] that keeps the raw signed message, so that history can
//     store it and check it again ([Record.Verify]).
//  4. The room's presence goroutine, the roster's only writer, applies
//     each record to the roster and hands it to the room's [Sink], if any,
//     then emits the events.
//
// # Admission
//
// Per author, across rooms: at most 100 messages per second after a burst
// of 500. A per-room allowance would multiply with the rooms an attacker
// joins; an honest host instead stays below the limit as a whole, with
// one send budget for all its rooms: 400 envelopes at once, then 80 a
// second. Lines ([Room.Send]) wait for it; presence envelopes (join,
// heartbeat, nick, leave) go out at once but are counted, so lines wait
// for them instead; re-announces go out only while more than half the
// burst is left (one held back tries again a second later), so a peer
// churning its subscriptions cannot make a host flood. Heartbeats of all rooms may take a quarter of the budget, which
// bounds the rooms a host may join: 20 × [Config.HeartbeatInterval] in
// seconds, at most 32.
//
// Replays: pubsub forgets a message ID after two minutes, after which
// anybody could publish a recorded message again, its signature still
// valid. So for each author admission keeps an anti-replay window: the
// highest sequence number accepted and which of the 2048 below it were; a
// message accepted before, or older than the window, is ignored. The
// numbers are the author's in all topics, so there is one window per
// author for all rooms: a room whose messages arrive late (by another
// route, or by gossip within its 5 s) is fine unless they are 2048 of the
// author's messages behind, some 20 s of its fastest sending. The window
// is remembered for an hour after the author's last message; a recording
// of an author forgotten by then (or pushed out of the table, below) is
// accepted again, and shows as lines of a returning member.
// (pubsub numbers an author's messages in all topics with one counter that
// starts at its clock in nanoseconds, so a restarted author clears the
// window; one whose clock was set back by more than its last run lasted is
// not heard for that hour.)
//
// Identities cost nothing to make, so per-author limits alone would let one
// peer sign as thousands of authors. An author that delivers its own
// message is admitted (each identity then costs a connection); a peer
// relaying authors not heard before may introduce 256 at once, then 4 a
// second; the peers connected from one IP address, 1024 at once, then 16
// a second, their own identities included. A relayed newcomer (not heard
// in the last 24 hours, not connected) starts with 50 of its 500, and
// earns the rest at the flood limit's rate. The new authors of lines
// fetched by sync count as introductions of the peer that serves them.
// At most 4096 authors are remembered; the one heard longest ago makes
// room. Bad envelopes are logged once per peer (for at most 1024 peers;
// the rest at debug level); each limit that drops something is told to
// the user once per peer (naming at most 8 of a kind).
//
// # Peer scoring
//
// gossipsub's peer scoring is on for invalid messages only (scoring.go):
// a peer's score is minus the square of the invalid messages it delivered
// (those the validator rejects, bad signatures), a count that loses 10 %
// a second. At -10 (4 messages) it gets no gossip, at -50 (8) none of our
// messages, below -80 (9) its RPCs are dropped unread, for up to a second
// after 9, 23 s after 100. A peer that disconnects keeps its count for 10
// minutes. Nothing
// else is scored: what is ignored (floods, replays, new authors, a newer
// version), a quiet room and a shared address cost nothing. A relay
// forwards only what it accepted, so what the validator rejects is a
// contract: it depends on the message and its topic only, and may only
// shrink — a case may move from Reject to Ignore, never back without a
// new protocol version (TestRejectContract). The message ID covers topic
// and data so that a key holder cannot sign, under one sequence number, a
// message we reject and one an honest relay forwards, and have the relay
// charged for it.
//
// # Presence
//
// Each room has its own roster, keyed by peer ID. A node publishes a join
// when it joins and a leave on [Room.Leave]. The first envelope of any
// kind from an unknown author adds it to the roster ([chat.KindJoin]); a
// leave removes it ([chat.KindLeave], "quit"). A nick different from the
// roster's, on a newer envelope (higher sequence number), is a
// [chat.KindNick]. An envelope older than the newest heard from a member
// changes no presence: such a leave is stale, and a lost member is not
// back on its strength. A member's leave is remembered for three minutes,
// so that its envelopes arriving late by another route do not bring it
// back. A lost member stays listed (Lost set, not counted as present) for
// ten minutes after it was lost, then is forgotten; heard after that it
// joins as new. A roster holds at most 1000 members, self and lost ones
// included, and remembers at most 4096 leaves (identities cost nothing to
// make): a newcomer to a full roster takes the place of the member lost
// longest ago or, if none is, is not listed (its lines are still
// delivered) and the room's Events say so with a notice, at most every
// ten minutes. Nobody present is pushed out by newcomers.
//
// Whether a member is still there is told by its link, not by chatter. A
// member directly in the room's topic (connected to this node and
// subscribed, as pubsub's peer events say) is present for as long as it
// is, however quiet: an idle room costs nothing. Connections keep the
// kernel's TCP keepalive (probes after 2 s idle, closed when the peer has
// answered nothing for 4 s: keepalive.go), so a silently cut link closes
// within about 5 s, and a killed process's at once; yamux pings a
// connection silent for 30 s and closes it when a hung peer does not
// answer. A member whose direct link goes (it leaves the topic: its
// connection closed, or it unsubscribed) is lost [Config.HeartbeatInterval]
// (2 s) later unless it is heard meanwhile by another route (a crash is
// thus shown 2 s after it, a cut cable 6 to 7 s). A member that is not
// directly in the topic (heard through others only) is lost after
// [Config.LostAfter] (6 s) of silence; so while the room has such a member,
// this node publishes a heartbeat whenever it has published nothing in
// the room for a HeartbeatInterval, the first at once (a line counts as
// one), and the member, which then has no direct link to us either, does
// the same. While every member is directly in the topic no heartbeat goes
// out. Silence is measured when the validator accepts a message (it notes
// the time in a small table that presence reads), so a front end slow to
// read Events does not make members look silent. Presence does nothing
// periodic: it wakes when a record arrives, when the topic's peers
// change, and at the roster's next deadline.
//
// gossipsub alone loses a publish made right after a peer joins (~5–10 %),
// so presence never relies on one message: when a peer joins the topic, or
// an unknown or lost member is heard, every node re-announces itself with a
// heartbeat 100–300 ms later and once more about 0.9 s after that
// (triggers that come meanwhile share them; re-announces wait for room in
// the send budget, see above). At most 3 such pairs start at once, then
// one per 5 s per room, and one peer's triggers start a pair once per
// 30 s: a peer churning its subscription costs a pair per 30 s, not one
// per churn. With no periodic heartbeat, nothing but a re-announce tells
// a newcomer who is there, so none is dropped: a trigger that filter
// holds back is answered by the next re-announce, or passes when its
// peer's 30 s are up; a re-announce skipped for want of send budget tries
// again a second later. A member back from away is re-announced to
// whatever that filter says: one lost, one back in the topic after its
// direct link went (a link that healed, or a process that crashed and
// started again before it was lost), one heard again after its leave (it
// quit and came back, knowing nobody). It cannot be away and back more
// often than its link or its own leave allows, and the pacing bounds the
// rest. A newcomer therefore learns every nick in well under two seconds,
// a member back with the same identity too.
//
// # Leave confirmation
//
// Leaving one room must not disturb the others, so a leave is confirmed
// explicitly, never by closing connections. [Room.Leave] publishes the
// leave and waits until every peer that was in the topic has confirmed it
// (or is not in the topic any more: it left too, or went away), at most
// 500 ms, before it unsubscribes, so peers see "quit" rather than "lost".
// A peer whose validator accepts the newest envelope of a member in a
// room, and it is a leave, opens a stream of protocol "/lanchat/ack/2" to
// that member (over a connection it has; it never dials for it), writes
// the room's wire ID (uvarint length, then the bytes) and closes it; at
// most 8 such streams at once, each within a second, 64 queued (more are
// dropped: the leaver then waits its 500 ms out). The handler resets the
// stream at once while no leave of its own is in progress; otherwise it
// reads at most a length and 64 bytes within a second, and counts the ack
// only for the peer at the other end of the stream (authenticated by
// Noise) and only for a room it is leaving: nobody can confirm for
// another peer.
//
// # History
//
// Every chat line a room accepts — a message or action, live or fetched,
// this node's own included — is kept in the host's message log (package
// [lanchat/node/store], a bbolt file, DataDir/<peer ID>/history.db, see
// [Config.DataDir]) as it was signed: the raw pubsub message, so that any
// node can check it again whoever hands it on (history.go). A line's ID is
// its author and sequence number; the log holds each once per room, and a
// room shows a line only when the log did not have it: a line is shown once
// whichever way it came, and a replay of a logged line is never shown. The
// log keeps HistoryMaxLines per room for HistoryMaxAge (10,000 lines, 30
// days), pruned hourly; writes are committed in batches by one goroutine.
// On join a room first shows its newest HistoryShow lines from the log,
// as a batch of history events ([chat.Event.History]) ended by a
// [chat.KindHistory].
//
// Members reconcile their logs over "/lanchat/sync/1" (sync.go; frames of
// [lanchat/node/syncwire], range-based set reconciliation of
// [lanchat/node/reconcile]): a node pulls from every peer that joins a
// room's topic (which covers its own join, a newcomer, and a reconnection
// after a partition, or a lost member heard again) and every SyncInterval
// from the member it pulled from longest ago. From one peer it pulls at
// most every 10 s while the connection of the last pull lasts; a new
// connection pulls at once, since lines may have been missed while there
// was none.
// What it fetches is checked as a live line is (signature, topic, room,
// sealing) and must be what it asked for, else the peer is cut off. While
// a pull is in flight, live lines wait for it (at most 2 s), so the batch
// it brings is shown before them.
//
// Lines are ordered by a hybrid logical clock (the envelope's clock
// field, clock.go): a reply follows what its sender had seen even when the
// sender's clock is behind. A clock more than 2 minutes off is not
// followed: such a live line is placed within 2 minutes of its arrival,
// and the user is told once per sender. Its wall time is what is shown.
//
// # Direct messages
//
// [Host.SendDM] sends a line to one peer alone, over a stream of
// "/lanchat/dm/1" (dm.go; frames of [lanchat/node/dmwire], whose package
// comment draws them), never through gossip: no one else sees it. The
// message is signed by the sender's identity key over a domain-separated
// encoding that holds the recipient's peer ID, a random 16-byte ID, the
// sender's clock, nick and text; its ID in events is the sender's peer ID,
// a slash and that ID in hex. The recipient refuses it unless the
// stream's remote peer (Noise authenticates it) is the signer and the
// recipient is itself, and it follows chat's rules for text and nick;
// beyond the sender's rate (10 a second after a burst of 100; 100 a
// second for all peers) it answers "busy" before checking the signature.
// It stores the message in its log (the same file as the rooms', bucket
// "dms"), then acknowledges it on the stream, then shows it: a message
// already in the log (sent again because an ack was lost, or after a
// restart of either side) is acknowledged as a duplicate and not shown
// again. Exactly once, as long as the recipient's log keeps the message
// (30 days, HistoryMaxAge) — far longer than the sender retries.
//
// The sender first stores the message in its outbox, then sends the
// peer's outbox over one stream, in order, each message after the ack of
// the one before (5 s for each exchange). The echo of a new message says
// "delivered" if its ack came at once, else "queued" (the peer is not
// connected: it is never dialled for it); a queued message goes when
// the peer connects, also after a restart of either side, and its
// delivery is a [chat.KindDMStatus]. After a failure while connected it
// retries after 1 s, doubling to 30 s, and every 30 s for connected peers
// with an outbox. The outbox holds at most 100 messages to one peer and
// 1000 in all ([ErrOutboxFull]); a message queued for 7 days is dropped,
// with a notice. Without a data dir (or with a temporary identity) the log
// is temporary: the outbox does not survive the process.
//
// # Files
//
// A file is offered to one peer ([Host.OfferFile]: an offer frame on a
// stream of "/lanchat/file/1", [lanchat/node/filewire]) or to a room
// ([Room.OfferFile]: an action line with the file field of
// [lanchat/node/wire], so history keeps it); an offer names the file by a
// random ID, a name, its size and its SHA-256. The receiver pulls
// ([Host.AcceptFile]): it asks a holder for the bytes from an offset, and
// the holder serves only what it offered to that peer (or to that room's
// members), from the file it opened when offering, if it has not changed.
// A cut transfer resumes from the partial file's length; the whole is
// checked against the hash before it is linked into the download dir,
// under a safe name ([lanchat/node/safename]) that clobbers nothing
// (transfer.go).
//
// # Reach
//
// mDNS finds the peers of one multicast domain. Beyond it, every node
// tells each lanchat peer it is connected to of the other lanchat peers
// it is connected to and where they listen, over "/lanchat/peers/1" (one
// frame of [lanchat/node/peerwire] per stream, on connections there are,
// at most one per peer per 2 s, only what is new after the first), and
// dials those it is told of through its [Dialer], as it dials what
// discovery finds (again every 5 s while not connected, for 5 minutes
// after it was last told; of two peers told of each other, the lower
// peer ID dials first): one peer reached across a router is enough to meet
// the whole room, and each node then connects directly to the members it
// can reach. A loopback address told by another machine is never
// dialled. The lanchat peers a node was connected to are remembered in
// DataDir/<peer ID>/peers.json (256 peers, 8 addresses each, 30 days) and
// dialled at start (exchange.go, peerbook.go).
//
// Across sites (a VPN, a WAN), a host given [Config.Bootstrap] (or
// [Config.DHT]) runs a private Kademlia DHT, server mode, protocol
// "/lanchat/kad/1.0.0", provider records only: each joined room is
// advertised under its rendezvous ("lanchat/2/rendezvous/" and 32 hex
// digits: a hash of an open room's topic, or derived from a private
// room's key, [lanchat/node/roomkey.Key.Rendezvous]) and its members
// looked up and handed to the Dialer (dht.go). It runs over the host's
// connections, inside the private network; off without Bootstrap or DHT.
//
// # Lifecycle
//
// [Start] starts the host in no room; [Host.Join] joins rooms. Each room's
// Events channel starts with this node's own join and, after Room.Leave,
// ends with its own leave, then closes. Host-wide notices and errors come
// on [Host.Events]. [Host.Leave] leaves every room in parallel;
// [Host.Close] shuts down without a goodbye (peers then see the node
// lost), stops every goroutine of the host and its rooms, closes every
// Events channel and releases the identity — memberlist's Leave and
// Shutdown. Both are safe to call more than once and together; a Join
// under way when Close begins fails with [chat.ErrClosed]. A front end
// that stops reading Events delays neither beyond its bounds: a full
// channel blocks delivery only until the room is left or the host
// closes. No context is kept in a struct: each goroutine gets its own
// from the call that starts it.
package node
