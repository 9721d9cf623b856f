// Package tui has lanchat's terminal front ends: [RunScreen], the
// full-screen chat built with bubbletea, and [RunLines], the plain and JSON
// line modes for pipes, scripts and bots.
//
// Both see the room only through the small [Room] interface and its plain
// event values; neither knows of libp2p. Events enter the screen through a
// command that waits on [Room.Events] and is re-armed after each batch, so
// View has no side effects and a burst of messages never blocks typing.
// Every nick and text that came from the network passes [Sanitize] before it
// reaches a terminal.
package tui
