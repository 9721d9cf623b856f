package node

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"lanchat/node/chat"
)

// ProtocolVersion is the lanchat protocol version, for discovery's TXT
// record and the libp2p user agent. It changes when the topic names, the
// envelope version or the ack protocol change; nodes of different versions
// do not chat with each other.
const ProtocolVersion = "2"

// Errors of this package, checked with [errors.Is]. Errors about rooms,
// nicks and text are those of package chat: [chat.ErrClosed] (the host is
// closed), [chat.ErrLeft] (the room was left), [chat.ErrAlreadyJoined],
// [chat.ErrInvalidRoom], [chat.ErrInvalidNick], [chat.ErrEmptyText],
// [chat.ErrTooLong], [chat.ErrBadUTF8]. Joining one room too many is
// [ErrTooManyRooms]. Identity and key files have
// [ErrIdentity], [ErrSwarmKey] and [ErrKeyLength].
var (
	ErrConfig      = errors.New("node: invalid config")
	ErrBadAddr     = errors.New("node: bad peer address")
	ErrHandshake   = errors.New("node: handshake failed") // a peer answered but the handshake failed: most likely another key
	ErrUnreachable = errors.New("node: peer unreachable") // nothing answered a dial
	// ErrTooManyRooms: [Host.Join] while the host is in as many rooms as
	// it may be (see [Config.HeartbeatInterval]).
	// It is chat's, so that front ends can tell it apart.
	ErrTooManyRooms = chat.ErrTooManyRooms
)

// ConfigError is a bad value of one [Config] field, or a bad address given
// to [Host.Connect]. Its Error is Reason: one sentence that says what is
// wrong and how it should look, without naming the field, so that a front
// end can name it its own way (cmd/lanchat says "--listen: …"). It wraps
// the sentinel of its kind: [ErrConfig], [ErrBadAddr], [ErrIdentity],
// [ErrKeyLength] or [chat.ErrInvalidNick].
type ConfigError struct {
	// Field is the Config field: "Nick", "PSK", "IdentityPath",
	// "ListenAddrs", "StaticPeers" (also for Connect's address),
	// "Bootstrap", "HistoryMaxLines" or "HistoryMaxAge".
	Field string
	// Reason is the sentence, e.g. `listen address "x": want a multiaddr
	// like /ip4/0.0.0.0/tcp/4001`.
	Reason string
	// Err is the error of its kind, for [errors.Is].
	Err error
}

// Error returns Reason.
func (e *ConfigError) Error() string { return e.Reason }

// Unwrap returns the error of its kind.
func (e *ConfigError) Unwrap() error { return e.Err }

// configError returns a ConfigError for field whose Reason is err's
// message without its package prefix ("chat: ", "node: ").
func configError(field string, err error) *ConfigError {
	reason := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "chat: "), "node: ")
	return &ConfigError{Field: field, Reason: reason, Err: err}
}

// Config configures a [Host]. Start from [DefaultConfig]; a zero field takes
// its default.
//
// What peers may hold of a host is fixed, for a LAN, and not configured
// here: 32 unnegotiated inbound streams and 8 connections per peer, 16
// connections at once per remote address (IPv4 or IPv6, loopback
// unlimited), 512 inbound connections in their handshake and 2048
// unnegotiated inbound streams in all, 1024 connections in all; an
// inbound handshake must finish within 3 s, and a stream must name its
// protocol within 3 s. A room of a few hundred
// members fits; one peer, or one address, cannot fill the host.
type Config struct {
	// Nick is the display nick, the same in every room: 1..32 runes,
	// printable, no control or format characters, no leading/trailing
	// space (see [chat.ValidNick]). Default "" = "user-" plus the end of
	// the peer ID.
	Nick string
	// PSK is the 32-byte pre-shared key (libp2p private network): nodes
	// without it cannot complete a connection. nil = open network, anyone on
	// the LAN can join. See [DeriveKey] and [ReadSwarmKey]. It also salts
	// the keys of private rooms.
	PSK []byte
	// IdentityPath is the Ed25519 identity file, created with mode 0600 (its
	// directory 0700) on first run so the peer ID survives restarts. While a
	// host runs it holds an exclusive lock on IdentityPath+".lock"; a second
	// process with the same path gets an ephemeral identity and a notice.
	// "" = ephemeral identity (a new peer ID each run).
	IdentityPath string
	// ListenAddrs are the TCP multiaddrs to listen on. Default
	// /ip4/0.0.0.0/tcp/0 and /ip6/::/tcp/0 (all interfaces, a free port);
	// if IPv6 cannot listen the host continues on IPv4 and logs it.
	ListenAddrs []string
	// StaticPeers are multiaddrs ending in /p2p/<id>, dialled at start and
	// redialled with backoff (1 s doubling to 30 s) whenever disconnected.
	// For networks where mDNS is blocked. Default none.
	StaticPeers []string
	// HeartbeatInterval is the longest a room goes without an envelope
	// from this node while some member of it is not directly connected to
	// this node (it hears us only through others): then a heartbeat goes
	// out whenever nothing else did for that long. While every member is
	// directly connected no heartbeat goes out at all (their connections
	// say who is there; see the package comment). It is also how long a
	// member whose direct connection went is given to be heard by another
	// route before it is reported lost. Default 2 s. Shorter reports a
	// member gone sooner, at one small pubsub message per member, room and
	// period where heartbeats are needed. The heartbeats of all rooms may
	// take a quarter of the host's send budget (20 of 80 envelopes a
	// second), so it also bounds the rooms a host may be in at once: 20 ×
	// HeartbeatInterval in seconds, at most 32 (32 at 2 s, 10 at 500 ms).
	HeartbeatInterval time.Duration
	// LostAfter is how long a member that is not directly connected may
	// stay silent before it is reported lost. Default 6 s (three
	// heartbeats). Must be at least twice HeartbeatInterval; keep it under
	// 10 s. Shorter reports a vanished member sooner but risks false
	// "lost" on a congested network. A directly connected member is lost
	// HeartbeatInterval after its connection goes (a crash closes it at
	// once, a silently cut link within about 5 s), unless heard meanwhile.
	// Every node is assumed to use the same HeartbeatInterval.
	LostAfter time.Duration
	// EventBuffer is the capacity of each Events channel: the host's and
	// every room's. Default 1024. When one is full, delivery blocks (see
	// [Room.Events]); a bigger buffer rides out a slower front end.
	EventBuffer int
	// DataDir is where the message log is kept: the file
	// DataDir/<peer ID>/history.db, so each identity has its own (mode
	// 0700 for the directories, 0600 for the file). "" = a temporary log,
	// removed at Close: history still syncs between peers while the host
	// runs, but nothing survives a restart. An ephemeral identity (no
	// IdentityPath, or one in use by another process) always gets a
	// temporary log. A log that cannot be read is moved aside and a new
	// one started, with a notice; one that cannot be created at all falls
	// back to a temporary log, with a notice. Beside a log kept here,
	// DataDir/<peer ID>/peers.json remembers the peers met, dialled at
	// the next start (see peerbook.go); a temporary log has none.
	// Default "".
	DataDir string
	// HistoryMaxLines is how many lines the log keeps per room, newest
	// first. Default 10,000 (about 6.5 MB of disk for a full room).
	HistoryMaxLines int
	// HistoryMaxAge is how long the log keeps a line. Default 30 days.
	HistoryMaxAge time.Duration
	// HistoryShow is how many of a room's newest logged lines are shown
	// (as history events) when it is joined. Default 200; more makes a
	// longer scrollback at start, and more output in the line modes.
	HistoryShow int
	// SyncWindow bounds what sync reconciles and fetches: lines of the
	// last SyncWindow, and at most SyncMaxLines of them per room. Default
	// 24 h. Older lines are not fetched (the user is told).
	SyncWindow time.Duration
	// SyncMaxLines is the most lines per room that sync reconciles, and
	// fetches in one exchange. Default 5,000; more costs memory and time
	// on both sides of every exchange. At most HistoryMaxLines (and
	// SyncWindow at most HistoryMaxAge): sync never fetches what the log
	// would prune.
	SyncMaxLines int
	// SyncInterval is how often each room reconciles its log with one
	// member, the one pulled from longest ago (with ±25% jitter), besides
	// on every new member, connection or member heard again: it repairs
	// what those missed. Default 60 s.
	SyncInterval time.Duration
	// DownloadDir is where accepted files are saved (created, if need
	// be, when the first one is accepted); partial ones are kept in its
	// hidden folder .lanchat-partial until they are verified. "" = no
	// downloads: [Host.AcceptFile] fails. Default "" (cmd/lanchat gives
	// the user's download dir).
	DownloadDir string
	// AutoAccept accepts every file offered into DownloadDir as it is
	// offered (a room's offers as they are posted, not those read from
	// history), for scripts and bots. Default false.
	AutoAccept bool
	// MaxFileSize is the largest file accepted, in bytes; a bigger offer
	// is shown but cannot be accepted. Default 4 GiB
	// ([DefaultMaxFileSize]). Disk space is checked too, before each
	// download.
	MaxFileSize int64
	// Bootstrap are multiaddrs ending in /p2p/<id> of nodes at other
	// sites (across a VPN or a WAN) that run the private DHT: given any,
	// the host runs it too, dials them at start and redials them with
	// backoff (1 s doubling to 30 s) whenever disconnected, and finds the
	// members of its rooms through it (see dht.go). Like everything else
	// the DHT runs inside the private network: only nodes with the key
	// take part. Default none: no DHT, and a LAN pays nothing for it.
	Bootstrap []string
	// DHT runs the private DHT without bootstrap nodes of its own: for a
	// node that others name in their Bootstrap. Implied by Bootstrap.
	// Default false. It costs a DHT node's memory (~1 MB) and a routing
	// table refresh every 10 minutes.
	DHT bool
	// DHTFindInterval is how often each joined room's members are looked
	// up in the DHT, when it runs. Default 30 s. The first lookup comes
	// right after the room is joined (and the DHT has a peer), so a member
	// starting later finds those before it at once; the interval matters
	// when two members join at the same moment and miss each other's
	// record. Shorter finds them sooner, at one DHT lookup (a few small
	// messages to at most 20 DHT nodes) per room and interval.
	DHTFindInterval time.Duration
	// Logger receives the host's logs. nil = discard. The first Start in a
	// process also routes libp2p's own logs (warnings and errors only) to it:
	// libp2p's logging is process-wide, so it can be set only once.
	Logger *slog.Logger
}

// Defaults of [Config].
const (
	DefaultHeartbeatInterval = 2 * time.Second
	DefaultLostAfter         = 6 * time.Second
	DefaultEventBuffer       = 1024
	DefaultHistoryMaxLines   = 10000
	DefaultHistoryMaxAge     = 30 * 24 * time.Hour
	DefaultHistoryShow       = 200
	DefaultSyncWindow        = 24 * time.Hour
	DefaultSyncMaxLines      = 5000
	DefaultSyncInterval      = 60 * time.Second
	DefaultDHTFindInterval   = 30 * time.Second
)

// DefaultListenAddrs returns the default [Config.ListenAddrs].
func DefaultListenAddrs() []string {
	return []string{"/ip4/0.0.0.0/tcp/0", "/ip6/::/tcp/0"}
}

// DefaultConfig returns the defaults documented on [Config].
func DefaultConfig() Config {
	return Config{
		ListenAddrs:       DefaultListenAddrs(),
		HeartbeatInterval: DefaultHeartbeatInterval,
		LostAfter:         DefaultLostAfter,
		EventBuffer:       DefaultEventBuffer,
		HistoryMaxLines:   DefaultHistoryMaxLines,
		HistoryMaxAge:     DefaultHistoryMaxAge,
		HistoryShow:       DefaultHistoryShow,
		SyncWindow:        DefaultSyncWindow,
		SyncMaxLines:      DefaultSyncMaxLines,
		SyncInterval:      DefaultSyncInterval,
		MaxFileSize:       DefaultMaxFileSize,
		DHTFindInterval:   DefaultDHTFindInterval,
	}
}

// RoomOptions are the options of [Host.Join]. The zero value joins an
// open room.
type RoomOptions struct {
	// Passphrase, when not empty, makes the room private: its key is
	// derived from the network key, the room name and the passphrase
	// (package [lanchat/node/roomkey]), its topic is named after the key's
	// tag rather than the room name, and every envelope travels sealed with
	// the key. Members of the network without the passphrase can neither
	// read nor join it; joining takes ~0.1–0.5 s (argon2id).
	Passphrase string
	// Sink, when not nil, is given every record the room accepts (see
	// [Sink] for its rules). Default none.
	Sink Sink
}
