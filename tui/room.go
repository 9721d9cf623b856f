package tui

import (
	"context"

	"lanchat/node/chat"
)

// Host is what the front ends need of the chat host: the node that owns the
// network identity and the rooms. cmd/lanchat adapts *node.Host to it.
//
// The front ends call its methods from one goroutine at a time, never from
// the screen's update loop: a call may block (Join and SetNick talk to the
// network), and ctx bounds it.
type Host interface {
	// Info describes this node. It does not block.
	Info() chat.Info
	// Events carries host-wide notices and errors (Room ""). It is closed
	// when the host shuts down; a front end that sees it closed while it
	// runs ends with an error wrapping [chat.ErrClosed].
	Events() <-chan chat.Event
	// Join joins the room name (already checked with [chat.ValidRoom]),
	// sealed with passphrase unless it is "". The room's own join event
	// (Self) is the first on its Events channel. Joining a room this node
	// is in fails with an error wrapping [chat.ErrAlreadyJoined].
	Join(ctx context.Context, name, passphrase string) (Room, error)
	// Rooms returns the rooms seen on the network, sorted by name, with
	// those this node is in marked Joined.
	Rooms() []chat.RoomInfo
	// SetNick renames this node in every room it is in; each room then
	// emits our own nick event.
	SetNick(ctx context.Context, nick string) error
	// SendDM sends text to the peer peerID alone, as a direct message. It
	// returns once the message is kept to be sent; its echo, our own
	// [chat.KindDM] (Self, To, ToNick, Status delivered or queued), comes
	// on Events, and for a queued one a [chat.KindDMStatus] once it is
	// delivered. A message received is a [chat.KindDM] on Events too.
	SendDM(ctx context.Context, peerID, text string) error
	// OfferFile offers the file at path to the peer with ID peerID: it
	// reads the whole file for its hash, then sends the offer, and
	// returns its ID. Our own file_offer event (Self, To) comes on
	// Events, then the receiver's progress and verdict.
	OfferFile(ctx context.Context, peerID, path string) (string, error)
	// AcceptFile accepts the offer id (a unique prefix of it; "" is the
	// newest offer) and receives it in the background: progress, done or
	// failed come on Events.
	AcceptFile(ctx context.Context, id string) error
	// DeclineFile declines the offer id (as for AcceptFile), or stops
	// receiving it; a failed event with Text "declined" follows.
	DeclineFile(ctx context.Context, id string) error
}

// Room is what the front ends need of one joined room.
//
// Events is read by one goroutine at a time; the other methods are called
// one at a time, in the order the user asked, never from the screen's update
// loop.
type Room interface {
	// Name is the room's name, as joined. It does not block.
	Name() string
	// Private reports whether the room is sealed with a passphrase.
	Private() bool
	// Events carries the room's events, each with Room set to the room's
	// name: our own join first; after Leave our own leave (Self, reason
	// quit), then the channel is closed. Closed at any other time, it means
	// the host went away.
	Events() <-chan chat.Event
	// Members returns a snapshot of the room's roster. It does not block
	// for long: the front ends call it after roster events.
	Members() []chat.Member
	// Send publishes a chat line; its echo comes back as our own message
	// event.
	Send(ctx context.Context, text string) error
	// Action publishes a /me action, echoed like Send.
	Action(ctx context.Context, text string) error
	// OfferFile offers the file at path to the room, as a line of the
	// room (echoed as our own file_offer event); it reads the whole file
	// for its hash first, and returns the offer's ID.
	OfferFile(ctx context.Context, path string) (string, error)
	// Leave leaves the room gracefully, this room only: the other members
	// see us leave (quit). ctx bounds the wait for the goodbye to go out.
	// The room is left, and its Events channel closed, even when Leave
	// returns an error (the goodbye may not have been confirmed): the
	// front ends then show the error and forget the room as usual.
	Leave(ctx context.Context) error
}

// aloneText is shown after our own message (its echo) when no other live
// member was in the room to receive it: gossipsub publishes to no one
// without an error, and a user typing into an empty room would otherwise
// believe they were heard. The node keeps the line in the room's log and
// sync delivers it when someone comes, which the text says. Members that
// were lost do not count.
func aloneText(members []chat.Member) (string, bool) {
	others := 0
	for _, m := range members {
		switch {
		case m.Self:
		case !m.Lost:
			return "", false
		default:
			others++
		}
	}
	if others > 0 {
		return lostText, true
	}
	return nobodyText, true
}

// The texts of [aloneText].
const (
	nobodyText = "nobody else is here yet — it will be delivered when someone joins"
	lostText   = "everyone else here was lost — it will be delivered when someone is here again"
)
