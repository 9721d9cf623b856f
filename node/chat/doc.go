// Package chat holds lanchat's plain domain types: the events, members and
// room listings that the node produces and the front ends show, the limits
// of nicks, room names and text, and their validation. It imports nothing
// of libp2p, so the front ends ([lanchat/tui]) depend on it alone.
//
// The values are plain data: copy them freely. How an event is written out
// (its JSON type name, its plain-text line) is up to each front end.
package chat
