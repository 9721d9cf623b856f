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
