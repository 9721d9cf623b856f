package tui

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"lanchat/node"
)

// cmdKind is what a typed line asks for. The screen and the line modes
// read input with the same rules ([parseInput]) and differ only in how they
// show the result.
type cmdKind uint8

const (
	cmdNone    cmdKind = iota // a blank line: nothing to do
	cmdSend                   // send arg as a chat line
	cmdAction                 // "/me arg"
	cmdNick                   // "/nick arg"
	cmdQuit                   // ":end", "/quit": leave gracefully
	cmdWho                    // "/who": list the members
	cmdKey                    // "/key": show the key fingerprint
	cmdHelp                   // "/help"
	cmdClear                  // "/clear": clear the screen's history
	cmdUsage                  // a command used wrongly; arg is the message; nothing is sent
	cmdUnknown                // not a command; arg is the message; nothing is sent
)

// command is one parsed input line.
type command struct {
	kind cmdKind
	arg  string
}

// commandNames are the commands, for Tab completion.
var commandNames = []string{"/clear", "/help", "/key", "/me", "/nick", "/quit", "/who"}

// parseInput reads one line the user typed.
//
// A line that is ":end" (the old chat's end code) leaves, white space around
// it allowed. A line whose first non-blank character is "/" is a command,
// except that "//text" sends "/text". Anything else is a chat line, sent
// with its trailing blanks removed and its leading ones kept (indentation).
// Command names are case-insensitive; a few irssi aliases are understood
// (/q and /exit, /h and /?, /names).
func parseInput(line string) command {
	trim := strings.TrimSpace(line)
	switch {
	case trim == "":
		return command{kind: cmdNone}
	case trim == ":end":
		return command{kind: cmdQuit}
	case strings.HasPrefix(trim, "//"):
		return command{kind: cmdSend, arg: trim[1:]}
	case !strings.HasPrefix(trim, "/"):
		return command{kind: cmdSend, arg: strings.TrimRight(line, " \t")}
	}
	name, arg := trim, ""
	if i := strings.IndexFunc(trim, unicode.IsSpace); i >= 0 {
		name, arg = trim[:i], strings.TrimSpace(trim[i:])
	}
	switch strings.ToLower(name) {
	case "/quit", "/exit", "/q":
		return command{kind: cmdQuit}
	case "/help", "/h", "/?":
		return command{kind: cmdHelp}
	case "/me":
		if arg == "" {
			return command{cmdUsage, "usage: /me ACTION, e.g. /me waves"}
		}
		return command{cmdAction, arg}
	case "/nick":
		if arg == "" {
			return command{cmdUsage, "usage: /nick NAME"}
		}
		return command{cmdNick, arg}
	case "/who", "/names":
		return command{kind: cmdWho}
	case "/key":
		return command{kind: cmdKey}
	case "/clear":
		return command{kind: cmdClear}
	}
	return command{cmdUnknown, fmt.Sprintf(
		"unknown command %s, nothing was sent (try /help; start a line with // to send it as text)", Sanitize(name))}
}

// nickErrorText says why renaming to nick failed.
func nickErrorText(nick string, err error) string {
	switch {
	case errors.Is(err, node.ErrInvalidNick):
		return fmt.Sprintf("invalid nick %q: use 1 to 32 characters, no control characters", nick)
	case errors.Is(err, node.ErrClosed):
		return "cannot change nick: the room is closed"
	}
	return "cannot change nick: " + err.Error()
}

// openText warns that the network is open. Every front end says it at start
// and for /key.
const openText = "open network: no key is set, so anyone on this LAN can join and read this room (start lanchat with --key to make it private)"

// keyText is the answer to /key: the fingerprint everyone on the same key
// shares, or the open-network warning.
func keyText(info node.Info) string {
	if info.Network != node.NetworkPrivate {
		return openText
	}
	return "private network, key fingerprint " + Sanitize(info.Fingerprint) +
		": everyone in the room shows the same one, compare it out loud"
}
