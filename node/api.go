package node

import (
	"errors"
	"log/slog"
	"time"
)

// EventType names what an [Event] reports. The values are the "type"
// strings of the JSON line mode.
type EventType string

// Event types. ONLY APPEND TO THIS LIST.
const (
	EventJoin    EventType = "join"    // a member appeared in the roster (also those present on arrival, and this node itself first, with Self)
	EventLeave   EventType = "leave"   // a member left: Reason is "quit" or "lost"
	EventNick    EventType = "nick"    // a member renamed: OldNick -> Nick
	EventMessage EventType = "message" // a chat line (Action for /me)
	EventNotice  EventType = "notice"  // informational text for the user
	EventError   EventType = "error"   // something went wrong that the user should see
)

// Leave reasons.
const (
	ReasonQuit = "quit" // the member said goodbye
	ReasonLost = "lost" // the member went silent without a goodbye (see [Config.LostAfter])
)

// Event is one thing that happened in the room. It is a plain value: copy freely.
type Event struct {
	Type    EventType
	Time    time.Time // local time the event was observed
	PeerID  string    // who it is about (empty for notice/error)
	Nick    string    // the member's nick (for EventNick: the new nick)
	OldNick string    // EventNick only
	Reason  string    // EventLeave only: ReasonQuit or ReasonLost
	ID      string    // EventMessage only: unique message ID ("<peer ID>/<seqno hex>")
	Text    string    // EventMessage, EventNotice, EventError
	Action  bool      // EventMessage only: a /me action
	Sent    time.Time // EventMessage only: the sender's clock when sent
	Self    bool      // the event is about this node itself
}

// Member is one entry of the room roster.
type Member struct {
	PeerID string
	Nick   string
	Addrs  []string // remote multiaddrs of live connections, if directly connected
	Lost   bool     // stopped answering without saying goodbye
	Self   bool     // this node
}

// Info describes this node once it has started.
type Info struct {
	PeerID      string
	Nick        string
	Room        string
	Network     string   // "private" or "open"
	Fingerprint string   // Fingerprint of the key, "open" without one
	Addrs       []string // listen multiaddrs including /p2p/<id>
	Port        int      // TCP port listening on IPv4 (0 if none)
	Port6       int      // TCP port listening on IPv6 (0 if none)
}

// Network names reported in [Info.Network].
const (
	NetworkPrivate = "private"
	NetworkOpen    = "open"
)

// ProtocolVersion is the lanchat protocol version, for discovery's TXT record.
// It changes when the topic name or envelope version changes.
const ProtocolVersion = "1"

// Sentinel errors.
var (
	ErrClosed      = errors.New("node: closed")
	ErrTooLong     = errors.New("node: text too long")
	ErrInvalidNick = errors.New("node: invalid nick")
	ErrInvalidRoom = errors.New("node: invalid room name")
	ErrConfig      = errors.New("node: invalid config")
	ErrBadAddr     = errors.New("node: bad peer address")
	ErrHandshake   = errors.New("node: handshake failed") // a peer answered but the handshake failed: most likely another key
	ErrUnreachable = errors.New("node: peer unreachable") // nothing answered a dial
)

// Config configures a [Node]. Start from [DefaultConfig]; a zero field takes
// its default.
type Config struct {
	// Nick is the display nick: 1..32 runes, printable, no control or format
	// characters, no leading/trailing space. Default "" = "user-" plus the end
	// of the peer ID.
	Nick string
	// Room is the room name; one gossipsub topic per room
	// ("lanchat/1/room/<room>"). 1..64 bytes, printable, no spaces.
	// Default "lobby".
	Room string
	// PSK is the 32-byte pre-shared key (libp2p private network): nodes
	// without it cannot complete a connection. nil = open network, anyone on
	// the LAN can join. See [DeriveKey] and [ReadSwarmKey].
	PSK []byte
	// IdentityPath is the Ed25519 identity file, created with mode 0600 (its
	// directory 0700) on first run so the peer ID survives restarts. While a
	// node runs it holds an exclusive lock on IdentityPath+".lock"; a second
	// process with the same path gets an ephemeral identity and a notice.
	// "" = ephemeral identity (a new peer ID each run).
	IdentityPath string
	// ListenAddrs are the TCP multiaddrs to listen on. Default
	// /ip4/0.0.0.0/tcp/0 and /ip6/::/tcp/0 (all interfaces, a free port);
	// if IPv6 cannot listen the node continues on IPv4 and logs it.
	ListenAddrs []string
	// StaticPeers are multiaddrs ending in /p2p/<id>, dialled at start and
	// redialled with backoff (1 s doubling to 30 s) whenever disconnected.
	// For networks where mDNS is blocked. Default none.
	StaticPeers []string
	// HeartbeatInterval is the presence heartbeat period. Default 2 s.
	// Shorter finds silent members sooner and teaches newcomers nicks sooner,
	// at one small pubsub message per member per period.
	HeartbeatInterval time.Duration
	// LostAfter is how long a member may stay silent before it is reported
	// lost. Default 6 s (three heartbeats). Must be at least twice
	// HeartbeatInterval; keep it under 10 s. Shorter reports a vanished
	// member sooner but risks false "lost" on a congested network. A member
	// whose last connection closed without a leave is reported lost after
	// 1.5 HeartbeatInterval of silence instead. Every node is assumed to
	// use the same HeartbeatInterval.
	LostAfter time.Duration
	// EventBuffer is the capacity of the Events channel. Default 1024. When
	// it is full, event delivery blocks (see [Node.Events]); a bigger buffer
	// rides out a slower front end.
	EventBuffer int
	// Logger receives the node's logs. nil = discard. The first Start in a
	// process also routes libp2p's own logs (warnings and errors only) to it:
	// libp2p's logging is process-wide, so it can be set only once.
	Logger *slog.Logger
}

// Defaults of [Config].
const (
	DefaultRoom              = "lobby"
	DefaultHeartbeatInterval = 2 * time.Second
	DefaultLostAfter         = 6 * time.Second
	DefaultEventBuffer       = 1024
)

// DefaultListenAddrs returns the default [Config.ListenAddrs].
func DefaultListenAddrs() []string {
	return []string{"/ip4/0.0.0.0/tcp/0", "/ip6/::/tcp/0"}
}

// DefaultConfig returns the defaults documented on [Config].
func DefaultConfig() Config {
	return Config{
		Room:              DefaultRoom,
		ListenAddrs:       DefaultListenAddrs(),
		HeartbeatInterval: DefaultHeartbeatInterval,
		LostAfter:         DefaultLostAfter,
		EventBuffer:       DefaultEventBuffer,
	}
}
