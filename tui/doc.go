// Package tui has lanchat's terminal front ends: [RunScreen], the
// full-screen chat built with bubbletea, and [RunLines], the plain and JSON
// line modes for pipes, scripts and bots.
//
// Both see the chat only through the small [Host] and [Room] interfaces and
// the plain values of package lanchat/node/chat; neither knows of libp2p
// (a test checks that nothing tui imports does). Both read input by the
// same rules and run the same command table (commands.go): a command is one
// entry there, with its name, aliases, usage, help and handler, and acts on
// the shared session (session.go: the rooms joined, the current one, and
// each room's roster, labels and unread activity) through a small frontEnd
// interface each front end implements.
//
// The screen is composed of components, each a type with its props and a
// render function: the header (header.go), the room bar (roombar.go), the
// member list (sidebar.go), the messages of each room (messages.go over
// scrollback.go), the status line (status.go) and the input line
// (input.go); model.go composes them and view.go assembles the frame.
// Events enter the screen through Cmds that wait on the host's and each
// room's Events channel and are re-armed after each batch, so View has no
// side effects and a burst of messages never blocks typing. The line modes
// read the same channels from their own goroutine.
//
// Every nick and text that came from the network passes [Sanitize] before it
// reaches a terminal.
package tui
