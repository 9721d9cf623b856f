package tui

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"lanchat/node/chat"
)

// Direct messages in the front ends.
//
// /msg NICK TEXT sends TEXT to one peer alone ([Host.SendDM]); /query
// NICK opens a conversation: a tab (in the line modes, a current target)
// whose lines go to that peer as direct messages, and where the direct
// messages of that peer show. A conversation is a [roomView] whose room
// is a [dmConv] and whose peer is set: the room bar, switching, unread
// counts and the input line work for it as for a room; /part closes it.
// The direct message events come on the host's Events: the screen puts
// each in its conversation's tab (opening one for a peer that writes
// first, which counts as unread and as a mention, and rings the bell;
// past maxPeerConversations open, such a message shows in the current
// pane), the line modes print them (see [plainDM] and the JSON types).

// dmState is what the session knows of direct messages.
type dmState struct {
	// nicks are the nicks of the peers of this run's direct messages,
	// both ways, by peer ID (raw): a peer that left every room can still
	// be named and labelled. At most maxDMNicks: past it, the peer noted
	// longest ago with no conversation open is forgotten.
	nicks map[string]string
	// skels and heard are, for each peer of nicks, the skeleton of its
	// nick as shown (work that every look-up of a peer would repeat)
	// and when it was last noted (a count of notes, notes the last).
	skels map[string]string
	heard map[string]uint64
	notes uint64
	// queued are the texts of our messages reported queued, by message
	// ID, for the screen's line when one is delivered; at most
	// maxQueuedTexts.
	queued map[string]string
	// past are the direct messages from before this run (History set),
	// by peer ID, oldest first, for the screen's conversations: at most
	// maxPastDMs in all (the node replays fewer).
	past  map[string][]chat.Event
	npast int
}

// Bounds: identities cost nothing, so peers writing from ever new ones
// must not grow what the session keeps, or the tabs, without end.
const (
	// maxQueuedTexts bounds dmState.queued: the node queues at most 1000.
	maxQueuedTexts = 1024
	// maxDMNicks bounds dmState.nicks, as the node bounds its own table
	// of the nicks of direct messages.
	maxDMNicks = 1024
	// maxPeerConversations is how many conversations may be open for a
	// peer that writes first to open one more; past it, the message of
	// a peer with no conversation shows in the current pane.
	maxPeerConversations = 32
	// maxPastDMs bounds dmState.past.
	maxPastDMs = 1024
)

// keepPastDM keeps e, a direct message with peer from before this run,
// for the conversation with peer.
func (s *session) keepPastDM(peer string, e chat.Event) {
	d := &s.dm
	if peer == "" || e.Kind != chat.KindDM || d.npast >= maxPastDMs {
		return
	}
	if d.past == nil {
		d.past = make(map[string][]chat.Event)
	}
	d.past[peer] = append(d.past[peer], e)
	d.npast++
}

// isDMEvent reports whether ev is about a direct message.
func isDMEvent(ev chat.Event) bool { return ev.Kind == chat.KindDM || ev.Kind == chat.KindDMStatus }

// dmPeer returns the other side of a direct message event, and its nick
// as the event gives it.
func dmPeer(ev chat.Event) (peerID, nick string) {
	if ev.Self || ev.Kind == chat.KindDMStatus {
		return ev.To, ev.ToNick
	}
	return ev.PeerID, ev.Nick
}

// noteDM takes note of a direct message event: the peer's nick, and the
// texts of ours still queued.
func (s *session) noteDM(ev chat.Event) {
	d := &s.dm
	peer, nick := dmPeer(ev)
	if peer != "" && nick != "" {
		if d.nicks == nil {
			d.nicks = make(map[string]string)
		}
		if d.heard == nil {
			d.skels, d.heard = make(map[string]string), make(map[string]uint64)
		}
		if _, ok := d.nicks[peer]; !ok && len(d.nicks) >= maxDMNicks {
			s.forgetDMPeer()
		}
		if old, ok := d.nicks[peer]; !ok || old != nick {
			d.nicks[peer] = nick
			d.skels[peer] = chat.Skeleton(showNick(nick))
		}
		d.notes++
		d.heard[peer] = d.notes
	}
	switch {
	case ev.Kind == chat.KindDM && ev.Self && ev.Status == chat.StatusQueued && len(d.queued) < maxQueuedTexts:
		if d.queued == nil {
			d.queued = make(map[string]string)
		}
		d.queued[ev.ID] = ev.Text
	case ev.Kind == chat.KindDMStatus:
		delete(d.queued, ev.ID)
	}
	if rv := s.conversation(peer); rv != nil && nick != "" {
		rv.room.(*dmConv).setNick(nick)
	}
}

// forgetDMPeer forgets, of the peers of dmState.nicks, the one noted
// longest ago that has no conversation open.
func (s *session) forgetDMPeer() {
	d := &s.dm
	oldest, at := "", uint64(math.MaxUint64)
	for id := range d.nicks {
		if n := d.heard[id]; n < at && s.conversation(id) == nil {
			oldest, at = id, n
		}
	}
	if oldest != "" {
		delete(d.nicks, oldest)
		delete(d.skels, oldest)
		delete(d.heard, oldest)
	}
}

// conversations returns how many conversations are open.
func (s *session) conversations() int {
	n := 0
	for _, rv := range s.rooms {
		if rv.peer != "" && !rv.parting {
			n++
		}
	}
	return n
}

// relabel names each open conversation by its peer's label among the
// peers known now: one whose tab has its nick alone, taken when nobody
// known had a nick like it, gets its suffix once another such peer is
// known, as labels in rooms do.
func (s *session) relabel() {
	if s.conversations() == 0 {
		return
	}
	peers := s.knownPeers()
	peers[s.info.PeerID] = knownPeer{s.nick, chat.Skeleton(showNick(s.nick))}
	// Only the peers whose nicks look like a conversation's matter.
	skels := make(map[string]bool)
	for _, rv := range s.rooms {
		if p, ok := peers[rv.peer]; ok && rv.peer != "" {
			skels[p.skel] = true
		}
	}
	alike := make(map[string]knownPeer)
	for id, p := range peers {
		if skels[p.skel] {
			alike[id] = p
		}
	}
	for _, rv := range s.rooms {
		if p, ok := alike[rv.peer]; ok && rv.peer != "" && !rv.parting && p.nick != "" {
			rv.name = labelAmong(alike, rv.peer, p)
		}
	}
}

// conversation returns the open conversation with peer, or nil.
func (s *session) conversation(peer string) *roomView {
	for _, rv := range s.rooms {
		if rv.peer == peer && peer != "" && !rv.parting {
			return rv
		}
	}
	return nil
}

// openConversation adds a conversation with peer, shown as label, to the
// rooms; current makes it the current one.
func (s *session) openConversation(peer, label string, current bool) *roomView {
	c := &dmConv{host: s.host, peer: peer, name: label, nick: s.knownPeers()[peer].nick, events: make(chan chat.Event)}
	rv := &roomView{room: c, name: label, peer: peer}
	rv.refresh()
	s.rooms = append(s.rooms, rv)
	if current {
		s.setCurrent(rv)
	}
	return rv
}

// observeDM counts a direct message from someone else in a conversation
// that is not current as unread and as a mention.
func (s *session) observeDM(rv *roomView, ev chat.Event) {
	if ev.Kind == chat.KindDM && !ev.Self && rv != nil && rv != s.cur {
		rv.unread++
		rv.mentions++
	}
}

// title is how the bar, the header and the window title name rv: "#dev",
// "🔑#secret", or "@bob" for a conversation. It is sanitised.
func (rv *roomView) title() string {
	if rv.peer != "" {
		return "@" + clean(rv.name)
	}
	return roomLabel(clean(rv.name), rv.private)
}

// dmConv is the [Room] of a conversation: lines sent to it go to its peer
// as direct messages. It has no events of its own (the host's carry them);
// its channel only closes when the conversation is closed.
type dmConv struct {
	host   Host
	peer   string
	name   string
	events chan chat.Event

	mu     sync.Mutex
	nick   string // the peer's, raw
	closed bool
}

// errActionDM: /me in a conversation.
var errActionDM = errors.New("/me is for rooms; in a conversation, just type")

func (c *dmConv) Name() string              { return c.name }
func (c *dmConv) Private() bool             { return false }
func (c *dmConv) Events() <-chan chat.Event { return c.events }

// Members returns ourselves and the peer.
func (c *dmConv) Members() []chat.Member {
	info := c.host.Info()
	c.mu.Lock()
	defer c.mu.Unlock()
	return []chat.Member{{PeerID: info.PeerID, Nick: info.Nick, Self: true}, {PeerID: c.peer, Nick: c.nick}}
}

func (c *dmConv) setNick(nick string) {
	c.mu.Lock()
	c.nick = nick
	c.mu.Unlock()
}

// Send sends text to the peer as a direct message.
func (c *dmConv) Send(ctx context.Context, text string) error {
	return c.host.SendDM(ctx, c.peer, text)
}

// OfferFile offers the file at path to the peer alone: /send PATH in a
// conversation is /send NICK PATH.
func (c *dmConv) OfferFile(ctx context.Context, path string) (string, error) {
	return c.host.OfferFile(ctx, c.peer, path)
}

// Action refuses: a direct message has no actions.
func (c *dmConv) Action(ctx context.Context, text string) error { return errActionDM }

// Leave closes the conversation (nothing goes on the network).
func (c *dmConv) Leave(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.events)
	}
	return nil
}

// The usages of /msg and /query, for their handlers.
const (
	msgUsage     = "/msg NICK TEXT"
	msgExample   = "/msg bob lunch?"
	queryUsage   = "/query NICK"
	queryExample = "/query bob"
)

// cmdMsg is /msg NICK TEXT.
func cmdMsg(s *session, fe frontEnd, arg string) {
	name, text := splitWord(arg)
	if text == "" {
		fe.say(nil, lvError, "usage: "+msgUsage+", e.g. "+msgExample)
		return
	}
	peer, _, err := s.resolvePeer(name)
	if err != nil {
		fe.say(nil, lvError, err.Error()+", nothing was sent")
		return
	}
	sendDM(s, fe, peer, text)
}

// sendDM queues text as a direct message to peer.
func sendDM(s *session, fe frontEnd, peer, text string) {
	text = strings.ToValidUTF8(text, "\uFFFD")
	if len(text) > chat.MaxTextBytes {
		fe.unsent(nil, text, tooLongText)
		return
	}
	if nick := s.knownPeers()[peer].nick; nick != "" {
		s.noteDM(chat.Event{Kind: chat.KindDM, Self: true, To: peer, ToNick: nick})
	}
	fe.run(roomOp{kind: opDM, peer: peer, text: text})
}

// cmdQuery is /query NICK.
func cmdQuery(s *session, fe frontEnd, arg string) {
	name, _ := splitWord(arg)
	peer, label, err := s.resolvePeer(name)
	if err != nil {
		fe.say(nil, lvError, err.Error())
		return
	}
	if rv := s.conversation(peer); rv != nil {
		s.setCurrent(rv)
		fe.say(rv, lvInfo, queryText(rv))
		return
	}
	fe.joined(s.openConversation(peer, label, true))
}

// queryText says what a conversation is.
func queryText(rv *roomView) string {
	return fmt.Sprintf("conversation with %s: what you type here goes to %s alone, as a direct message; /part closes it",
		clean(rv.name), clean(rv.name))
}

// dmErrorText says why a direct message was not sent.
func dmErrorText(err error) string {
	switch {
	case errors.Is(err, chat.ErrTooLong), errors.Is(err, chat.ErrClosed):
		return sendErrorText(err)
	case errors.Is(err, errActionDM):
		return err.Error()
	}
	text := strings.TrimPrefix(err.Error(), "send direct message: ")
	return "message not sent: " + clean(strings.ReplaceAll(text, "node: ", ""))
}

// dmStars are "*", which frames the peer of a direct message line
// ("*bob* hi"), and the characters whose skeleton ([chat.Skeleton]) is
// "*" (TestDMStars derives them afresh).
const dmStars = "*\u066d\u204e\u2217\ufe61\uff0a\U0001031f"

// dmName returns label, a peer's, as a direct message line frames it:
// each of dmStars is U+FFFD, so that no nick can close the frame early
// and pass the rest of itself for the text of the peer it starts with
// (dave called "carol* the key is": "*carol* the key is* …").
func dmName(label string) string {
	if !strings.ContainsAny(label, dmStars) {
		return label
	}
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(dmStars, r) {
			return utf8.RuneError
		}
		return r
	}, label)
}

// plainDM is the plain line of a direct message event, about the peer
// labelled label: "[14:03] *bob* hi" received, "[14:03] -> *bob* hi"
// sent (with "(queued: …)" until delivered), and "* your direct message
// to bob was delivered" for a queued one delivered later.
func plainDM(ev chat.Event, label string, now time.Time) string {
	label = dmName(label)
	t := ev.Time
	if t.IsZero() {
		t = now
	}
	stamp := t.Format("15:04")
	if ev.History {
		stamp = historyTime(t, now)
	}
	switch {
	case ev.Kind == chat.KindDMStatus:
		return "* your direct message to " + label + " was delivered"
	case ev.Self && ev.Status == chat.StatusQueued:
		return fmt.Sprintf("[%s] -> *%s* %s (queued: delivered when %s is back)", stamp, label, Sanitize(ev.Text), label)
	case ev.Self:
		return fmt.Sprintf("[%s] -> *%s* %s", stamp, label, Sanitize(ev.Text))
	}
	return fmt.Sprintf("[%s] *%s* %s", stamp, label, Sanitize(ev.Text))
}

// dmLabel labels the other side of ev as rv (nil: none) would.
func dmLabel(ev chat.Event, rv *roomView) string {
	peer, nick := dmPeer(ev)
	if nick == "" {
		return shortPeer(peer)
	}
	return rv.label(peer, nick)
}

// dm shows a direct message event in a conversation's pane; label names
// the peer, and text is, for a status, the message's text if known.
func (p *messages) dm(e chat.Event, label, text string) {
	label = dmName(label)
	st := p.st
	peer, _ := dmPeer(e)
	c := nickColor(peer, len(st.nicks))
	switch {
	case e.Kind == chat.KindDMStatus:
		what := "your message queued earlier"
		if text != "" {
			what = "“" + clean(cut(text, 40)) + "”"
		}
		p.add(kindPresence, e.Time, span{"-- delivered to " + label + ": " + what, &st.dim})
	case e.Self:
		spans := []span{{"-> *", &st.dim}, {label, &st.ownNicks[c]}, {"* ", &st.dim}, {clean(e.Text), &st.ownText}}
		if e.Status == chat.StatusQueued {
			spans = append(spans, span{" (queued: delivered when " + label + " is back)", &st.dim})
		}
		p.dmLine(kindOwn, e, spans)
	default:
		p.dmLine(kindMessage, e, []span{{"*", nil}, {label, &st.nicks[c]}, {"* ", nil}, {clean(e.Text), &st.mention}})
	}
}

// dmLine adds the line of direct message e: one from before this run
// ([chat.Event.History]) is kept for the batch [messages.endHistory] puts
// in place, as a room's log is.
func (p *messages) dmLine(kind entryKind, e chat.Event, spans []span) {
	if e.History {
		p.historyLine(kind, e, spans)
		return
	}
	p.addLine(kind, e.Time, time.Time{}, e.ID, spans)
}

// cut returns s cut to n runes, with "…" when cut.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// dmEvent shows a direct message event on the screen. A message from a
// peer goes to the conversation with it, opened for a peer that writes
// first (unless maxPeerConversations are open: then to the current
// pane); our own (the echo of /msg, or of a line typed in a
// conversation) and its status go to the conversation if there is one,
// and to the current pane (or, in no room, the home pane) if that is
// another, where /msg was typed. It
// reports whether the bell should ring (someone wrote to us).
func (m *screenModel) dmEvent(e chat.Event) bool {
	s := m.sess
	text := s.dm.queued[e.ID]
	s.noteDM(e)
	peer, nick := dmPeer(e)
	label := s.peerLabel(peer, nick)
	rv := s.conversation(peer)
	if e.History {
		// From before this run: kept for the peer's conversation, shown
		// in it when it is open or opens.
		s.keepPastDM(peer, e)
		if rv != nil {
			p := m.tabOf(rv).msgs
			p.dm(e, label, "")
			p.endHistory()
		}
		return false
	}
	theirs := e.Kind == chat.KindDM && !e.Self
	if rv == nil && theirs && s.conversations() < maxPeerConversations {
		rv = s.openConversation(peer, label, false)
		m.joined(rv)
	}
	if rv != nil {
		s.observeDM(rv, e)
		m.tabOf(rv).msgs.dm(e, label, text)
	}
	if rv == nil || !theirs && rv != s.cur {
		m.tab().msgs.dm(e, label, text)
	}
	return theirs
}

// showDM prints a direct message event in the line modes.
func (s *lineSession) showDM(ev chat.Event) error {
	s.sess.noteDM(ev)
	if ev.Kind == chat.KindDM && ev.Self && !ev.History {
		s.pending = max(0, s.pending-1)
	}
	peer, nick := dmPeer(ev)
	return s.w.dmEvent(ev, s.sess.peerLabel(peer, nick))
}

// showPastDMs puts the direct messages with rv's peer from before this
// run in rv's pane, rv a conversation just opened.
func (m *screenModel) showPastDMs(rv *roomView) {
	past := m.sess.dm.past[rv.peer]
	if rv.peer == "" || len(past) == 0 {
		return
	}
	p := m.tabOf(rv).msgs
	for _, e := range past {
		peer, nick := dmPeer(e)
		p.dm(e, m.sess.peerLabel(peer, nick), "")
	}
	p.endHistory()
}
