package node

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"
)

// EventType names what an [Event] reports. The values are the "type"
// strings of the JSON line mode.
type EventType string

// Event types. ONLY APPEND TO THIS LIST.
const (
	EventJoin    EventType = "join"    // a member appeared in the roster (also those present on arrival)
	EventLeave   EventType = "leave"   // a member left: Reason is "quit" or "lost"
	EventNick    EventType = "nick"    // a member renamed: OldNick -> Nick
	EventMessage EventType = "message" // a chat line (Action for /me)
	EventNotice  EventType = "notice"  // informational text for the user
	EventError   EventType = "error"   // something went wrong that the user should see
)

// Leave reasons.
const (
	ReasonQuit = "quit"
	ReasonLost = "lost"
)

// Event is one thing that happened in the room. It is a plain value: copy freely.
type Event struct {
	Type    EventType
	Time    time.Time // local time the event was observed
	PeerID  string    // who it is about (empty for notice/error)
	Nick    string    // the member's nick (for EventNick: the new nick)
	OldNick string    // EventNick only
	Reason  string    // EventLeave only: ReasonQuit or ReasonLost
	ID      string    // EventMessage only: unique message ID
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
	Self   bool
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

// Sentinel errors.
var (
	ErrClosed      = errors.New("node: closed")
	ErrTooLong     = errors.New("node: text too long")
	ErrInvalidNick = errors.New("node: invalid nick")
)

// Config configures a [Node]. Start from [DefaultConfig].
type Config struct {
	Nick              string        // display nick; 1..32 runes, no control characters
	Room              string        // room name; one gossipsub topic per room. Default "lobby".
	PSK               []byte        // 32-byte pre-shared key (libp2p pnet); nil = open network
	IdentityPath      string        // Ed25519 identity file; created 0600 if missing; "" = ephemeral
	ListenAddrs       []string      // default /ip4/0.0.0.0/tcp/0 and /ip6/::/tcp/0
	StaticPeers       []string      // multiaddrs with /p2p/ dialled at start and redialled with backoff
	HeartbeatInterval time.Duration // presence heartbeat period
	LostAfter         time.Duration // a member silent this long is reported lost (must be < 10s)
	EventBuffer       int           // capacity of the Events channel
	Logger            *slog.Logger  // nil = discard
}

// DefaultConfig returns the defaults documented on [Config].
func DefaultConfig() Config { panic("TODO") }

// Node is one chat participant: a libp2p host joined to one room.
type Node struct{}

// Start creates the host, joins cfg.Room and starts presence. ctx bounds start-up only.
func Start(ctx context.Context, cfg Config) (*Node, error) { panic("TODO") }

// Info reports this node's identity and addresses.
func (n *Node) Info() Info { panic("TODO") }

// Events returns the channel of room events. It is closed after Close.
func (n *Node) Events() <-chan Event { panic("TODO") }

// Send publishes a chat line; the sender gets its own message once as an event with Self.
func (n *Node) Send(text string) error { panic("TODO") }

// Action publishes a /me action.
func (n *Node) Action(text string) error { panic("TODO") }

// SetNick renames this node and announces it.
func (n *Node) SetNick(nick string) error { panic("TODO") }

// Members returns a snapshot of the roster, self included, sorted by nick.
func (n *Node) Members() []Member { panic("TODO") }

// Dial connects to a peer found by discovery unless already connected or backing off.
func (n *Node) Dial(ctx context.Context, peerID string, addrs []netip.AddrPort) error { panic("TODO") }

// Connect dials a multiaddr that ends in /p2p/<id>.
func (n *Node) Connect(ctx context.Context, addr string) error { panic("TODO") }

// Notice injects a notice event for the front end (e.g. from discovery).
func (n *Node) Notice(text string) { panic("TODO") }

// Close announces the leave, flushes it, and shuts everything down. Safe to call twice.
func (n *Node) Close(ctx context.Context) error { panic("TODO") }

var _ = netip.AddrPort{}
