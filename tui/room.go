package tui

import "lanchat/node"

// Room is what the front ends need of a chat room. *node.Node satisfies it.
type Room interface {
	Info() node.Info
	Events() <-chan node.Event
	Send(text string) error
	Action(text string) error
	SetNick(nick string) error
	Members() []node.Member
}

// aloneText is shown after our own message (its echo) when no other live
// member was in the room to receive it: gossipsub publishes to no one
// without an error, and a user typing into an empty room would otherwise
// believe they were heard. Members that were lost do not count.
func aloneText(members []node.Member) (string, bool) {
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
		return "everyone else here was lost — this message may have reached no one", true
	}
	return "nobody else is here yet — this message reached no one", true
}
