package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"lanchat/node/chat"
)

// The command layer: one table of commands ([commandTable]) read by the
// same rules ([parseInput]) and run by the same handlers in the screen and
// in the line modes. A handler acts on the [session] and through the small
// [frontEnd] interface, which each front end implements in its own way (the
// screen queues room calls in a Cmd and draws lines; the line modes call
// the room at once and print lines). A new command is one entry in the
// table.

// level is how a line of text a command shows matters to the user.
type level uint8

const (
	lvInfo  level = iota // command output
	lvWarn               // a warning (the open network)
	lvError              // something failed; nothing was done
)

// frontEnd is what command handlers act through. Its methods are called on
// the front end's own loop, never concurrently, and must not block.
type frontEnd interface {
	// run queues a call into the host or a room. Calls run one at a time,
	// in the order queued, and their results come back through [finish].
	run(op roomOp)
	// say shows a line about room rv (nil: about no room in particular).
	say(rv *roomView, lv level, text string)
	// unsent reports that text could not be sent to rv, and why.
	unsent(rv *roomView, text, why string)
	// who lists rv's members.
	who(rv *roomView)
	// roomList shows the answer to /rooms.
	roomList(rooms []chat.RoomInfo)
	// help shows the commands.
	help()
	// clear clears the current room's history, where there is one.
	clear()
	// quit leaves, once the calls queued so far are done.
	quit()
	// joined says a room was added to the session and is now current.
	joined(rv *roomView)
}

// cmdSpec is one command of the table.
type cmdSpec struct {
	name    string   // "/join"
	aliases []string // other names, e.g. irssi's "/j"
	usage   string   // "/join NAME [PASSPHRASE]"
	help    string   // what it does, for /help
	example string   // shown with the usage error, e.g. "/join dev"
	needArg bool     // without an argument it is a usage error
	run     func(s *session, fe frontEnd, arg string)
}

// usageText is the error for a command used wrongly.
func (c *cmdSpec) usageText() string {
	t := "usage: " + c.usage
	if c.example != "" {
		t += ", e.g. " + c.example
	}
	return t
}

// commandTable is every command, in the order /help lists them.
var commandTable = []*cmdSpec{
	{name: "/join", aliases: []string{"/j"}, usage: "/join NAME [PASSPHRASE]", example: "/join dev", needArg: true,
		help: "join a room (or switch to it); with a passphrase, a private room sealed with it", run: cmdJoin},
	{name: "/part", usage: "/part [NAME]",
		help: "leave a room, the current one by default", run: cmdPart},
	{name: "/rooms", aliases: []string{"/list"}, usage: "/rooms",
		help: "the rooms on the network, their member counts and which you are in", run: cmdRooms},
	{name: "/say", usage: sayUsage, example: sayExample, needArg: true,
		help: "send a line to another room", run: cmdSay},
	{name: "/msg", usage: msgUsage, example: msgExample, needArg: true,
		help: "send a direct message: to that peer alone, never through a room (NICK may be nick#suffix or a peer ID)", run: cmdMsg},
	{name: "/query", usage: queryUsage, example: queryExample, needArg: true,
		help: "open a conversation with a peer: what you type there goes to them alone; /part closes it", run: cmdQuery},
	{name: "/nick", usage: "/nick NAME", needArg: true,
		help: "change your nick, in every room",
		run:  func(s *session, fe frontEnd, arg string) { fe.run(roomOp{kind: opNick, text: chat.NormalizeNick(arg)}) }},
	{name: "/me", usage: "/me ACTION", example: "/me waves", needArg: true,
		help: `send an action, shown as "* you ACTION"`,
		run:  func(s *session, fe frontEnd, arg string) { sendTo(fe, s.cur, arg, true) }},
	{name: "/send", usage: sendUsage, example: sendExample, needArg: true,
		help: "offer a file to a member, or to a room (its members, and who joins later, may fetch it)", run: cmdSend},
	{name: "/accept", usage: "/accept [ID]",
		help: "accept a file offered to you: the newest offer, or the one whose ID starts so", run: cmdAccept},
	{name: "/decline", usage: "/decline [ID]",
		help: "decline a file offered to you, or stop receiving it", run: cmdDecline},
	{name: "/who", aliases: []string{"/names"}, usage: "/who",
		help: "the members of the room with their peer IDs and addresses",
		run: func(s *session, fe frontEnd, arg string) {
			if s.cur == nil {
				fe.say(nil, lvError, noRoomText)
				return
			}
			s.cur.refresh()
			fe.who(s.cur)
		}},
	{name: "/key", usage: "/key",
		help: "the network key fingerprint, to compare out loud",
		run: func(s *session, fe frontEnd, arg string) {
			lv := lvInfo
			if s.info.Network != chat.NetworkPrivate {
				lv = lvWarn
			}
			fe.say(nil, lv, keyText(s.info))
		}},
	{name: "/invite", usage: inviteUsage, example: "/invite key",
		help: "a line that lets someone on another subnet join; with key it holds the network key, a secret", run: cmdInvite},
	{name: "/clear", usage: "/clear",
		help: "clear the room's history on this screen, and the lost members from its list",
		run: func(s *session, fe frontEnd, arg string) {
			if s.cur != nil {
				s.cur.forgetLost()
			}
			fe.clear()
		}},
	{name: "/help", aliases: []string{"/h", "/?"}, usage: "/help",
		help: "this list",
		run:  func(s *session, fe frontEnd, arg string) { fe.help() }},
	{name: "/quit", aliases: []string{"/q", "/exit"}, usage: "/quit or :end",
		help: "leave every room and quit (also Ctrl-C, or Ctrl-D on an empty line)",
		run:  func(s *session, fe frontEnd, arg string) { fe.quit() }},
}

// Commands the code refers to.
var (
	quitSpec = lookupCommand("/quit") // what ":end" runs
	joinSpec = lookupCommand("/join")
)

// lookupCommand returns the command called name (any case, aliases too).
func lookupCommand(name string) *cmdSpec {
	name = strings.ToLower(name)
	for _, c := range commandTable {
		if c.name == name || slices.Contains(c.aliases, name) {
			return c
		}
	}
	return nil
}

// commandNames returns the commands' names, sorted, for Tab completion.
func commandNames() []string {
	names := make([]string, 0, len(commandTable))
	for _, c := range commandTable {
		names = append(names, c.name)
	}
	slices.Sort(names)
	return names
}

// cmdKind is what a typed line asks for.
type cmdKind uint8

const (
	cmdNone    cmdKind = iota // a blank line: nothing to do
	cmdText                   // send arg as a chat line to the current room
	cmdRun                    // run spec with arg
	cmdUsage                  // a command used wrongly; arg is the message; nothing is sent
	cmdUnknown                // not a command; arg is the message; nothing is sent
)

// command is one parsed input line.
type command struct {
	kind cmdKind
	spec *cmdSpec // cmdRun only
	arg  string
}

// parseInput reads one line the user typed.
//
// A line that is ":end" (the old chat's end code) leaves, white space around
// it allowed. A line whose first non-blank character is "/" is a command,
// except that "//text" sends "/text". Anything else is a chat line, sent
// with its trailing blanks removed and its leading ones kept (indentation).
// Command names are case-insensitive; a few irssi aliases are understood
// (/q and /exit, /h and /?, /names, /j, /list).
func parseInput(line string) command {
	trim := strings.TrimSpace(line)
	switch {
	case trim == "":
		return command{kind: cmdNone}
	case trim == ":end":
		return command{kind: cmdRun, spec: quitSpec}
	case strings.HasPrefix(trim, "//"):
		return command{kind: cmdText, arg: trim[1:]}
	case !strings.HasPrefix(trim, "/"):
		return command{kind: cmdText, arg: strings.TrimRight(line, " \t")}
	}
	name, arg := splitWord(trim)
	spec := lookupCommand(name)
	switch {
	case spec == nil:
		return command{kind: cmdUnknown, arg: fmt.Sprintf(
			"unknown command %s, nothing was sent (try /help; start a line with // to send it as text)", Sanitize(name))}
	case spec.needArg && arg == "":
		return command{kind: cmdUsage, arg: spec.usageText()}
	}
	return command{kind: cmdRun, spec: spec, arg: arg}
}

// splitWord splits s (trimmed) at its first white space: the first word and
// the rest, trimmed.
func splitWord(s string) (word, rest string) {
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		return s[:i], strings.TrimSpace(s[i:])
	}
	return s, ""
}

// execute runs one typed line through fe.
func execute(s *session, fe frontEnd, line string) command {
	c := parseInput(line)
	switch c.kind {
	case cmdText:
		sendTo(fe, s.cur, c.arg, false)
	case cmdRun:
		c.spec.run(s, fe, c.arg)
	case cmdUsage, cmdUnknown:
		fe.say(nil, lvError, c.arg)
	}
	return c
}

// joinPassphrase returns where the passphrase of a "/join NAME PASSPHRASE"
// line starts (a byte offset into line; len(line) when only the blank
// before it is typed yet), or -1 when line is no such line. The screen hides
// what follows it and keeps such a line out of the history.
func joinPassphrase(line string) int {
	i := 0
	skip := func(space bool) {
		for i < len(line) {
			r, n := utf8.DecodeRuneInString(line[i:])
			if unicode.IsSpace(r) != space {
				return
			}
			i += n
		}
	}
	word := func() string {
		skip(true)
		start := i
		skip(false)
		return line[start:i]
	}
	if name := word(); strings.HasPrefix(name, "//") || lookupCommand(name) != joinSpec {
		return -1
	}
	if word() == "" || i == len(line) {
		return -1
	}
	skip(true)
	return i
}

// hasPassphrase reports whether line is a /join with a passphrase typed.
func hasPassphrase(line string) bool {
	p := joinPassphrase(line)
	return p >= 0 && strings.TrimSpace(line[p:]) != ""
}

// cmdJoin is /join NAME [PASSPHRASE].
func cmdJoin(s *session, fe frontEnd, arg string) {
	typed, pass := splitWord(arg)
	name, err := chat.RoomName(typed)
	if err != nil {
		fe.say(nil, lvError, invalidRoomText(typed))
		return
	}
	if rv := s.find(name); rv != nil {
		s.setCurrent(rv)
		fe.say(rv, lvInfo, "you are already in #"+clean(name))
		return
	}
	fe.run(roomOp{kind: opJoin, text: name, pass: pass})
}

// cmdPart is /part [NAME].
func cmdPart(s *session, fe frontEnd, arg string) {
	rv := s.cur
	if arg != "" {
		name, _ := splitWord(arg)
		if rv = s.find(name); rv == nil {
			fe.say(nil, lvError, "you are not in #"+clean(strings.TrimPrefix(name, "#")))
			return
		}
	}
	switch {
	case rv == nil:
		fe.say(nil, lvError, noRoomText)
	case rv.parting:
		fe.say(rv, lvInfo, "already leaving #"+clean(rv.name))
	default:
		rv.parting = true
		fe.run(roomOp{kind: opPart, rv: rv})
	}
}

// cmdRooms is /rooms.
func cmdRooms(s *session, fe frontEnd, arg string) { fe.run(roomOp{kind: opRooms}) }

// The usage of /say, also for its handler (which cannot look it up in the
// table it is part of).
const (
	sayUsage   = "/say ROOM TEXT"
	sayExample = "/say dev build is green"
)

// cmdSay is /say ROOM TEXT.
func cmdSay(s *session, fe frontEnd, arg string) {
	name, text := splitWord(arg)
	rv := s.find(name)
	switch {
	case text == "":
		fe.say(nil, lvError, "usage: "+sayUsage+", e.g. "+sayExample)
	case rv == nil:
		room := clean(strings.TrimPrefix(name, "#"))
		fe.say(nil, lvError, fmt.Sprintf("you are not in #%s, nothing was sent (join it with /join %s)", room, room))
	default:
		sendTo(fe, rv, text, false)
	}
}

// inviteUsage is the usage of /invite, also for its handler.
const inviteUsage = "/invite [key]"

// cmdInvite is /invite [key].
func cmdInvite(s *session, fe frontEnd, arg string) {
	switch strings.ToLower(arg) {
	case "":
		fe.run(roomOp{kind: opInvite})
	case "key":
		fe.run(roomOp{kind: opInvite, text: "key"})
	default:
		fe.say(nil, lvError, "usage: "+inviteUsage+" (key: the line holds the network key)")
	}
}

// inviter is a [Host] that makes invitation lines; node's does.
type inviter interface {
	// Invite returns this node's invitation line, holding the network
	// key if withKey. It does not block.
	Invite(withKey bool) (string, error)
}

// inviteText presents an invitation line, last so that it is easy to
// copy: with the network key (secret) or without, on a private network
// or an open one (info).
func inviteText(line string, secret bool, info chat.Info) string {
	switch {
	case secret:
		return "secret invitation: it holds the network key, so whoever has it can join and read every open room; " +
			"give it only to those you would tell the passphrase (they run lanchat --join-invite LINE): " + line
	case info.Network == chat.NetworkPrivate:
		return "invitation for someone on another subnet (they run lanchat --key PASSPHRASE --join-invite LINE; " +
			"/invite key puts the key in it): " + line
	}
	return "invitation for someone on another subnet (they run lanchat --join-invite LINE): " + line
}

// noRoomText answers a line typed while in no room.
const noRoomText = "you are in no room, nothing was sent: join one with /join NAME"

// sendTo queues text as a chat line (or action) to rv.
func sendTo(fe frontEnd, rv *roomView, text string, action bool) {
	switch {
	case rv == nil:
		fe.say(nil, lvError, noRoomText)
		return
	case rv.parting:
		fe.unsent(rv, text, "you are leaving #"+clean(rv.name)+", nothing was sent")
		return
	}
	text = strings.ToValidUTF8(text, "\uFFFD")
	if len(text) > chat.MaxTextBytes {
		fe.unsent(rv, text, tooLongText)
		return
	}
	kind := opSend
	if action {
		kind = opAction
	}
	fe.run(roomOp{kind: kind, rv: rv, text: text})
}

// opKind names a call into the host or a room.
type opKind uint8

const (
	opSend    opKind = iota // rv.room.Send(text)
	opAction                // rv.room.Action(text)
	opNick                  // host.SetNick(text)
	opJoin                  // host.Join(text, pass)
	opPart                  // rv.room.Leave()
	opRooms                 // host.Rooms()
	opDM                    // host.SendDM(peer, text)
	opOffer                 // rv.room.OfferFile(text), or host.OfferFile(peer, text) when rv is nil
	opAccept                // host.AcceptFile(text)
	opDecline               // host.DeclineFile(text)
	opInvite                // host.Invite(text == "key")
)

// roomOp is one call into the host or a room. The front ends make them one
// at a time, in order, outside the screen's update loop, so a slow room
// never blocks the screen and a "/nick" typed before a line takes effect
// before it.
type roomOp struct {
	kind opKind
	rv   *roomView // opSend, opAction, opPart; only rv.room is read by do
	text string    // the text; opNick: the nick; opJoin: the room name; opOffer: the path; opAccept, opDecline: the ID
	pass string    // opJoin: the passphrase; opOffer: the label of peer
	peer string    // opDM: the recipient's peer ID; opOffer to a member: its peer ID
}

// opResult is a finished roomOp.
type opResult struct {
	op    roomOp
	err   error
	room  Room            // opJoin: the room joined
	rooms []chat.RoomInfo // opRooms
	line  string          // opInvite: the invitation
}

// do makes the call. It may run on any goroutine: it reads nothing of the
// session but op.rv.room, which never changes.
func (op roomOp) do(ctx context.Context, h Host) opResult {
	res := opResult{op: op}
	switch op.kind {
	case opSend:
		res.err = op.rv.room.Send(ctx, op.text)
	case opAction:
		res.err = op.rv.room.Action(ctx, op.text)
	case opNick:
		res.err = h.SetNick(ctx, op.text)
	case opJoin:
		res.room, res.err = h.Join(ctx, op.text, op.pass)
		if res.err == nil && res.room == nil {
			res.err = chat.ErrClosed
		}
	case opPart:
		res.err = op.rv.room.Leave(ctx)
	case opRooms:
		res.rooms = h.Rooms()
	case opDM:
		res.err = h.SendDM(ctx, op.peer, op.text)
	case opOffer:
		if op.rv != nil {
			_, res.err = op.rv.room.OfferFile(ctx, op.text)
		} else {
			_, res.err = h.OfferFile(ctx, op.peer, op.text)
		}
	case opAccept:
		res.err = h.AcceptFile(ctx, op.text)
	case opDecline:
		res.err = h.DeclineFile(ctx, op.text)
	case opInvite:
		inv, ok := h.(inviter)
		if !ok {
			res.err = errors.New("this front end's host makes no invitations")
			break
		}
		res.line, res.err = inv.Invite(op.text == "key")
	}
	return res
}

// finish shows the outcome of a call through fe, on the front end's loop.
func finish(s *session, fe frontEnd, res opResult) {
	op, err := res.op, res.err
	switch op.kind {
	case opSend, opAction:
		if err != nil && op.rv.peer != "" {
			fe.unsent(op.rv, op.text, dmErrorText(err))
		} else if err != nil {
			fe.unsent(op.rv, op.text, sendErrorText(err))
		}
	case opDM:
		if err != nil {
			fe.unsent(nil, op.text, dmErrorText(err))
		}
	case opNick:
		if err != nil {
			fe.say(nil, lvError, nickErrorText(op.text, err))
			return
		}
		// In no room no nick event comes to say it: the session's nick
		// (shown, and looked for in others' lines) is the new one now.
		s.nick = op.text
	case opJoin:
		if rv := s.find(op.text); errors.Is(err, chat.ErrAlreadyJoined) && rv != nil {
			// "/join dev" typed twice before the first one was done.
			s.setCurrent(rv)
			fe.say(rv, lvInfo, "you are already in #"+clean(rv.name))
			return
		}
		if err != nil {
			fe.say(nil, lvError, joinErrorText(op.text, op.pass, err))
			return
		}
		fe.joined(s.add(res.room))
	case opPart:
		if err != nil && !errors.Is(err, chat.ErrLeft) && !errors.Is(err, chat.ErrNotJoined) {
			fe.say(op.rv, lvError, "leaving #"+clean(op.rv.name)+": "+clean(err.Error()))
		}
	case opRooms:
		fe.roomList(res.rooms)
	case opOffer, opAccept, opDecline:
		if err != nil {
			fe.say(op.rv, lvError, fileErrorText(op, err))
		}
	case opInvite:
		switch {
		case err != nil:
			fe.say(nil, lvError, "cannot make an invitation: "+clean(err.Error()))
		case op.text == "key" && s.info.Network != chat.NetworkPrivate:
			fe.say(nil, lvWarn, "the network is open: there is no key to put in the invitation")
			fe.say(nil, lvInfo, inviteText(res.line, false, s.info))
		case op.text == "key":
			fe.say(nil, lvWarn, inviteText(res.line, true, s.info))
		default:
			fe.say(nil, lvInfo, inviteText(res.line, false, s.info))
		}
	}
}

// tooLongText says a message exceeds the limit.
var tooLongText = fmt.Sprintf("message too long (max %d bytes)", chat.MaxTextBytes)

// sendErrorText says why a message was not sent.
func sendErrorText(err error) string {
	switch {
	case errors.Is(err, chat.ErrTooLong):
		return tooLongText
	case errors.Is(err, chat.ErrClosed), errors.Is(err, chat.ErrLeft):
		return "message not sent: the room is closed"
	}
	return "message not sent: " + clean(err.Error())
}

// nickErrorText says why renaming to nick failed.
func nickErrorText(nick string, err error) string {
	switch {
	case errors.Is(err, chat.ErrInvalidNick):
		return fmt.Sprintf("invalid nick %q: use 1 to %d visible characters, none of < > # and nothing invisible", nick, chat.MaxNickRunes)
	case errors.Is(err, chat.ErrClosed):
		return "cannot change nick: the room is closed"
	}
	return "cannot change nick: " + clean(err.Error())
}

// invalidRoomText says why typed is no room name (see [chat.ValidRoom]).
func invalidRoomText(typed string) string {
	return fmt.Sprintf("invalid room name %q: use 1 to %d bytes, no spaces", Sanitize(typed), chat.MaxRoomBytes)
}

// joinErrorText says why joining name failed. The passphrase never appears
// in it, even if the error quoted it (as typed or as Go quotes it with %q).
func joinErrorText(name, pass string, err error) string {
	text := err.Error()
	if pass != "" {
		// The quoted forms first: they contain the others' escapes.
		for _, q := range []string{strconv.QuoteToASCII(pass), strconv.QuoteToGraphic(pass), strconv.Quote(pass)} {
			text = strings.ReplaceAll(text, q[1:len(q)-1], "****")
		}
		text = strings.ReplaceAll(text, pass, "****")
	}
	switch {
	case errors.Is(err, chat.ErrInvalidRoom):
		return invalidRoomText(name)
	case errors.Is(err, chat.ErrClosed):
		return "cannot join #" + clean(name) + ": lanchat is shutting down"
	case errors.Is(err, chat.ErrTooManyRooms):
		return "cannot join #" + clean(name) + ": you are in as many rooms as lanchat can keep at once; /part one first"
	}
	return "cannot join #" + clean(name) + ": " + clean(text)
}

// lineHelp is the text of /help in the line modes, made from the table.
func lineHelp() string {
	usages := make([]string, 0, len(commandTable))
	for _, c := range commandTable {
		usages = append(usages, c.usage)
	}
	return "commands: " + strings.Join(usages, ", ") + "; //text sends a line that starts with /"
}

// openText warns that the network is open. Every front end says it at start
// and for /key.
const openText = "open network: no key is set, so anyone on this LAN can join and read this room (start lanchat with --key to make it private)"

// keyText is the answer to /key: the fingerprint everyone on the same key
// shares, or the open-network warning.
func keyText(info chat.Info) string {
	if info.Network != chat.NetworkPrivate {
		return openText
	}
	return "private network, key fingerprint " + Sanitize(info.Fingerprint) +
		": everyone in the room shows the same one, compare it out loud"
}

// roomsText describes the answer to /rooms in one line, for the line modes:
// "3 rooms: #dev (2, joined), #lobby (3), a private room a1b2c3d4 (2)".
func roomsText(rooms []chat.RoomInfo) string {
	if len(rooms) == 0 {
		return "no rooms seen on the network"
	}
	parts := make([]string, 0, len(rooms))
	for _, r := range rooms {
		parts = append(parts, roomInfoText(r))
	}
	n := "rooms"
	if len(rooms) == 1 {
		n = "room"
	}
	return fmt.Sprintf("%d %s: %s", len(rooms), n, strings.Join(parts, ", "))
}

// roomInfoText describes one room of /rooms: "#dev (2, joined)".
func roomInfoText(r chat.RoomInfo) string {
	var notes []string
	notes = append(notes, fmt.Sprint(r.Members))
	if r.Joined {
		notes = append(notes, "joined")
	}
	name := "#" + clean(r.Name)
	if r.Private {
		if r.Name == "" {
			name = "a private room " + clean(r.ID)
		} else {
			notes = append(notes, "private")
		}
	}
	return name + " (" + strings.Join(notes, ", ") + ")"
}
