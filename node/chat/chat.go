package chat

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// EventKind names what an [Event] reports.
type EventKind uint8

// Event kinds. ONLY APPEND TO THIS LIST.
const (
	// KindJoin: a member appeared in a room's roster (also those present
	// on arrival, and this node itself first, with Self).
	KindJoin EventKind = iota + 1
	// KindLeave: a member left a room; Reason is [ReasonQuit] or
	// [ReasonLost]. This node's own leave (after [Room.Leave]) has Self.
	KindLeave
	// KindNick: a member renamed, OldNick -> Nick.
	KindNick
	// KindMessage: a chat line (Action for /me).
	KindMessage
	// KindNotice: informational text for the user.
	KindNotice
	// KindError: something went wrong that the user should see.
	KindError
	// KindHistory ends a batch of history: Count message events with
	// History set came just before it, contiguous and in display order
	// (by Order, then ID). PeerID is the peer the batch was fetched from,
	// "" for lines read from this node's own log at join.
	KindHistory
	// KindDM: a direct message (Room ""), received (PeerID, Nick: the
	// sender) or, with Self, our own echo (To, ToNick: the recipient;
	// Status: [StatusDelivered] or [StatusQueued]).
	KindDM
	// KindDMStatus: a direct message of ours, ID, changed Status (a queued
	// one was delivered).
	KindDMStatus
	// KindFileOffer: a file offered to us (PeerID, Nick: by whom; Room:
	// in which room, "" for one offered to us alone), or with Self one we
	// offer: ID, Name, Size, Hash.
	KindFileOffer
	// KindFileProgress: a transfer ID has moved Bytes of Size.
	KindFileProgress
	// KindFileDone: transfer ID finished and was verified; Path is where
	// the file is (for a receiver), Hash its hash.
	KindFileDone
	// KindFileFailed: transfer ID stopped; Text says why.
	KindFileFailed
)

func (k EventKind) String() string {
	switch k {
	case KindJoin:
		return "join"
	case KindLeave:
		return "leave"
	case KindNick:
		return "nick"
	case KindMessage:
		return "message"
	case KindNotice:
		return "notice"
	case KindError:
		return "error"
	case KindHistory:
		return "history"
	case KindDM:
		return "dm"
	case KindDMStatus:
		return "dm_status"
	case KindFileOffer:
		return "file_offer"
	case KindFileProgress:
		return "file_progress"
	case KindFileDone:
		return "file_done"
	case KindFileFailed:
		return "file_failed"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Leave reasons of [KindLeave].
const (
	ReasonQuit = "quit" // the member said goodbye
	ReasonLost = "lost" // the member went silent without a goodbye
)

// Event is one thing that happened, in a room or (Room "") on the host.
type Event struct {
	Kind    EventKind
	Room    string    // the room's name; "" for host-wide notices and errors
	Time    time.Time // local time the event was observed
	PeerID  string    // who it is about (empty for notices and errors)
	Nick    string    // the member's nick (for KindNick: the new one)
	OldNick string    // KindNick only
	Reason  string    // KindLeave only: ReasonQuit or ReasonLost
	ID      string    // KindMessage only: unique message ID, "<peer ID>/<seqno hex>"
	Text    string    // KindMessage, KindNotice, KindError
	Action  bool      // KindMessage only: a /me action
	Sent    time.Time // KindMessage only: the sender's clock when sent
	Self    bool      // the event is about this node itself
	// Order is, for KindMessage, the display order key: the sender's hybrid
	// logical clock, bounded by the skew this node accepts. It equals Sent
	// unless the sender's clock was behind a line it had seen, or wrong.
	// Lines sort by Order, then ID.
	Order time.Time
	// History marks a KindMessage event that comes from the log: read from
	// disk at join or fetched from a peer by sync, rather than live; and a
	// KindDM event stored before this run, emitted again when the host
	// starts.
	History bool
	// Count is, for KindHistory, how many history messages the batch had.
	Count int

	// To and ToNick are, for our own KindDM (Self), its recipient.
	To, ToNick string
	// Status is, for KindDM with Self and KindDMStatus, StatusDelivered
	// or StatusQueued.
	Status string

	// Name, Size and Hash describe the file of KindFileOffer (Hash also
	// KindFileDone): Name a plain file name (no directory), Size in
	// bytes, Hash the hex hash of the whole file. Bytes is, for
	// KindFileProgress, how many have been moved so far; Path, for
	// KindFileDone, where the received file was saved.
	Name  string
	Size  int64
	Hash  string
	Bytes int64
	Path  string
}

// Direct message statuses of [Event.Status].
const (
	StatusDelivered = "delivered" // the recipient stored it
	StatusQueued    = "queued"    // kept, sent when the recipient is back
)

// Member is one entry of a room's roster.
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
	Network     string   // NetworkPrivate or NetworkOpen
	Fingerprint string   // fingerprint of the network key, "open" without one
	Addrs       []string // listen multiaddrs including /p2p/<id>, usable as --peer
	Port        int      // TCP port listening on IPv4 (0 if none)
	Port6       int      // TCP port listening on IPv6 (0 if none)
}

// Network names of [Info.Network].
const (
	NetworkPrivate = "private"
	NetworkOpen    = "open"
)

// RoomInfo is one room seen on the network, for /rooms.
type RoomInfo struct {
	// Name is the room's name. It is "" for a private room this node has
	// not joined: a private room's name never goes on the wire.
	Name string
	// ID tells private rooms apart when their name is unknown: a short
	// hex tag derived from the room key. "" for other rooms.
	ID string
	// Members is how many live members the room has: the roster's count
	// for a joined room, otherwise the peers seen subscribed to it.
	Members int
	// Joined reports whether this node is in the room.
	Joined bool
	// Private reports whether the room is sealed with a room passphrase.
	Private bool
}

// Limits.
const (
	// MaxTextBytes is the longest chat text, in bytes of UTF-8.
	MaxTextBytes = 4096
	// MaxNickRunes is the longest nick, in runes.
	MaxNickRunes = 32
	// MaxNickBytes bounds a nick in bytes: 32 runes of up to 4 bytes.
	MaxNickBytes = MaxNickRunes * utf8.UTFMax
	// MaxRoomBytes is the longest room name, in bytes.
	MaxRoomBytes = 64
	// DefaultRoom is the room joined when none is named.
	DefaultRoom = "lobby"
)

// Errors. Each is checked with [errors.Is]; the messages are for logs,
// front ends say it in their own words.
var (
	ErrClosed        = errors.New("chat: closed")
	ErrLeft          = errors.New("chat: not in the room any more")
	ErrNotJoined     = errors.New("chat: not in that room")
	ErrAlreadyJoined = errors.New("chat: already in that room")
	ErrTooManyRooms  = errors.New("chat: too many rooms")
	ErrTooLong       = errors.New("chat: text too long")
	ErrEmptyText     = errors.New("chat: empty text")
	ErrBadUTF8       = errors.New("chat: invalid UTF-8")
	ErrInvalidNick   = errors.New("chat: invalid nick")
	ErrInvalidRoom   = errors.New("chat: invalid room name")
)

// ValidText checks chat text: 1..[MaxTextBytes] bytes of valid UTF-8.
func ValidText(text string) error {
	switch {
	case text == "":
		return ErrEmptyText
	case len(text) > MaxTextBytes:
		return fmt.Errorf("%w: %d bytes, max %d", ErrTooLong, len(text), MaxTextBytes)
	case !utf8.ValidString(text):
		return ErrBadUTF8
	}
	return nil
}

// ValidRoom checks a room name: 1..[MaxRoomBytes] bytes of printable UTF-8,
// no spaces, not starting with "#" (see [RoomName]).
func ValidRoom(room string) error {
	if room == "" || len(room) > MaxRoomBytes {
		return fmt.Errorf("%w: %q must be 1 to %d bytes", ErrInvalidRoom, room, MaxRoomBytes)
	}
	if !utf8.ValidString(room) {
		return fmt.Errorf("%w: %w", ErrInvalidRoom, ErrBadUTF8)
	}
	if room[0] == '#' {
		return fmt.Errorf("%w: %q starts with #", ErrInvalidRoom, room)
	}
	for _, r := range room {
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w: %q: character %U not allowed", ErrInvalidRoom, room, r)
		}
	}
	return nil
}

// RoomName returns the room name a user typed, without the leading "#"
// that people write rooms with ("#lobby" is "lobby"), and checks it with
// [ValidRoom].
func RoomName(typed string) (string, error) {
	name := strings.TrimPrefix(strings.TrimSpace(typed), "#")
	if err := ValidRoom(name); err != nil {
		return "", err
	}
	return name, nil
}
