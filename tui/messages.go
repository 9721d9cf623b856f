package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"lanchat/node/chat"
)

// timeIndent is the width of "[15:04] ": wrapped rows line up after it.
const timeIndent = 8

// messages is one room's message pane: its scrollback (see [scrollback])
// and the lines it is made of. Each room has its own, so each keeps its
// history and scroll position when the user switches rooms.
type messages struct {
	st  *screenStyles
	now func() time.Time

	sb       scrollback
	lastDay  int // yyyymmdd of the newest dated entry; 0 = none yet
	stamp    string
	stampMin int64 // Unix minute of stamp
	stampLoc *time.Location
	// pending are the history lines of the batch being received, shown
	// when the batch ends (its [chat.KindHistory] event).
	pending []entry
}

// newMessages returns an empty pane.
func newMessages(st *screenStyles, now func() time.Time) *messages {
	p := &messages{st: st, now: now}
	p.sb.follow = true
	p.sb.width = 1
	return p
}

// dayKey returns t's date as yyyymmdd in t's location.
func dayKey(t time.Time) int {
	y, mo, d := t.Date()
	return y*10000 + int(mo)*100 + d
}

// add appends a timestamped entry made of spans, preceded by a day-change
// line when the date changed since the previous entry. The zero t is now.
func (p *messages) add(kind entryKind, t time.Time, spans ...span) {
	p.addLine(kind, t, time.Time{}, "", spans)
}

// addLine is add for an entry that sorts by order (zero: t) and id when
// history is inserted (see [scrollback.insert]).
func (p *messages) addLine(kind entryKind, t, order time.Time, id string, spans []span) {
	if t.IsZero() {
		t = p.now()
	}
	if order.IsZero() {
		order = t
	}
	at := order.UnixNano()
	if k := dayKey(t); k != p.lastDay {
		if p.lastDay != 0 {
			p.sb.add(entry{kind: kindDay, at: at, spans: []span{{
				"─── " + t.Format("Monday, 2 January 2006") + " ───", &p.st.day,
			}}})
		}
		p.lastDay = k
	}
	if min := t.Unix() / 60; min != p.stampMin || t.Location() != p.stampLoc || p.stamp == "" {
		// one string per minute, shared by the lines of that minute
		p.stamp, p.stampMin, p.stampLoc = "["+t.Format("15:04")+"] ", min, t.Location()
	}
	all := make([]span, 0, len(spans)+1)
	all = append(all, span{p.stamp, &p.st.time})
	all = append(all, spans...)
	p.sb.add(entry{kind: kind, spans: all, indent: timeIndent, at: at, id: id})
}

// orderOf returns where a chat line sorts: its Order, or for events that
// have none (from older code) its Sent, then its Time; the zero time when
// it has none of them.
func orderOf(e chat.Event) time.Time {
	switch {
	case !e.Order.IsZero():
		return e.Order
	case !e.Sent.IsZero():
		return e.Sent
	}
	return e.Time
}

// historyTime formats the time a history line was sent: "15:04" on the
// day of now, "2006-01-02 15:04" on another day, in now's location.
func historyTime(sent, now time.Time) string {
	sent = sent.In(now.Location())
	if dayKey(sent) == dayKey(now) {
		return sent.Format("15:04")
	}
	return sent.Format("2006-01-02 15:04")
}

// historyLine keeps a chat line from the log for the batch it is part of:
// the batch is put in place when it ends (see [messages.endHistory]). It
// shows the time the line was sent, with the date when that is not today.
func (p *messages) historyLine(kind entryKind, e chat.Event, spans []span) {
	now := p.now()
	sent := e.Sent
	if sent.IsZero() {
		sent = e.Time
	}
	if sent.IsZero() {
		sent = now
	}
	order := orderOf(e)
	if order.IsZero() {
		order = sent
	}
	stamp := "[" + historyTime(sent, now) + "] "
	all := make([]span, 0, len(spans)+1)
	all = append(all, span{stamp, &p.st.time})
	all = append(all, spans...)
	p.pending = append(p.pending, entry{kind: kind, spans: all, indent: len(stamp), at: order.UnixNano(), id: e.ID})
}

// endHistory puts the batch of history lines kept so far in place, by
// order key then ID, under a dim separator above its earliest line
// ("— 40 earlier messages —").
func (p *messages) endHistory() {
	if len(p.pending) == 0 {
		return
	}
	batch := p.pending
	p.pending = nil
	// The node sends a batch sorted; sorting again costs little and keeps
	// the scrollback's order whatever comes.
	slices.SortStableFunc(batch, func(a, b entry) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	// The separator sorts as the earliest line, and goes right before it.
	sep := entry{kind: kindHistory, at: batch[0].at, id: batch[0].id,
		spans: []span{{historyText(len(batch)), &p.st.dim}}}
	p.sb.insert(append([]entry{sep}, batch...))
}

// historyText is the separator above a batch of n history lines, also the
// plain line mode's line after one: "— 40 earlier messages —".
func historyText(n int) string {
	if n == 1 {
		return "— 1 earlier message —"
	}
	return fmt.Sprintf("— %d earlier messages —", n)
}

// info adds command output lines.
func (p *messages) info(lines ...string) {
	t := p.now()
	for _, l := range lines {
		p.add(kindInfo, t, span{l, &p.st.info})
	}
}

// warn adds a warning line.
func (p *messages) warn(text string) {
	p.add(kindNotice, p.now(), span{text, &p.st.warn})
}

// fail adds an error line.
func (p *messages) fail(text string) {
	p.add(kindError, p.now(), span{"error: " + text, &p.st.errorText})
}

// welcome adds the first lines of a room's pane: who we are and how safe
// the network (and the room) is. first is the full greeting of the session's
// start; a room joined later gets a shorter one.
func (p *messages) welcome(info chat.Info, rv *roomView, nick string, first bool) {
	switch {
	case rv != nil && rv.peer != "":
		p.info(fmt.Sprintf("Conversation with %s (%s): what you type here goes to %s alone, as a direct message. /part closes it.",
			clean(rv.name), clean(rv.peer), clean(rv.name)))
	case rv == nil:
		p.info(fmt.Sprintf("Welcome, %s. You are in no room: /join NAME to join one, /help for commands, :end to leave.", nick))
	case first:
		p.info(fmt.Sprintf("Welcome to #%s, %s. Type /help for commands, :end to leave.", clean(rv.name), nick))
	default:
		p.info(fmt.Sprintf("You joined #%s as %s. Alt-1…9 or Ctrl-N/Ctrl-P switch rooms, /part leaves this one.", clean(rv.name), nick))
	}
	t := p.now()
	if info.Network != chat.NetworkPrivate {
		p.add(kindNotice, t, span{openText, &p.st.warn})
	} else {
		p.add(kindNotice, t, span{"🔒 private network, key fingerprint " + clean(info.Fingerprint) + " (/key)", &p.st.notice})
	}
	if rv != nil && rv.private {
		p.add(kindNotice, t, span{"🔑 #" + clean(rv.name) + " is sealed with its passphrase: only those who typed the same one can read it", &p.st.notice})
	}
}

// event shows one event of room rv (nil: a host-wide notice); mention
// reports whether it is a chat line that writes our nick (see
// [session.mentioned]), which is highlighted. A chat line from the log
// (History) waits for the end of its batch, which puts the batch in place
// (see [messages.endHistory]); any other event ends a batch that did not
// say so.
func (p *messages) event(e chat.Event, rv *roomView, mention bool) {
	st := p.st
	history := (e.Kind == chat.KindMessage || e.Kind == chat.KindFileOffer) && e.History
	if len(p.pending) > 0 && !history {
		p.endHistory()
	}
	switch e.Kind {
	case chat.KindMessage:
		lbl := rv.label(e.PeerID, e.Nick)
		c := nickColor(e.PeerID, len(st.nicks))
		text := clean(e.Text)
		kind, nickSt := kindMessage, &st.nicks[c]
		var body *paint
		if e.Self {
			kind, nickSt = kindOwn, &st.ownNicks[c]
			body = &st.ownText
		} else if mention {
			body = &st.mention
		}
		var spans []span
		if e.Action {
			spans = []span{{"* ", &st.action}, {lbl, nickSt}, {" " + text, body}}
		} else {
			spans = []span{{"<", nil}, {lbl, nickSt}, {"> ", nil}, {text, body}}
		}
		if history {
			p.historyLine(kind, e, spans)
			return
		}
		p.addLine(kind, e.Time, orderOf(e), e.ID, spans)
		if !e.Self || rv == nil {
			return
		}
		// The roster snapshot is as new as this batch of events, so it
		// tells whether anyone was there to receive the message.
		if notice, alone := rv.aloneNotice(); alone {
			p.add(kindPresence, e.Time, span{"-- " + notice, &st.dim})
		}
	case chat.KindHistory:
		// ended above
	case chat.KindJoin:
		if e.Self {
			return // the welcome line said it
		}
		lbl := rv.label(e.PeerID, e.Nick)
		p.add(kindPresence, e.Time, span{"--> ", &st.dim}, span{lbl, &st.dimNicks[nickColor(e.PeerID, len(st.nicks))]}, span{" joined", &st.dim})
	case chat.KindLeave:
		lbl := rv.label(e.PeerID, e.Nick)
		why := " left (quit)"
		if e.Reason == chat.ReasonLost {
			why = " was lost (no answer)"
		}
		p.add(kindPresence, e.Time, span{"<-- ", &st.dim}, span{lbl, &st.dimNicks[nickColor(e.PeerID, len(st.nicks))]}, span{why, &st.dim})
	case chat.KindNick:
		if e.Self {
			p.add(kindPresence, e.Time, span{"-- you are now known as ", &st.dim}, span{clean(e.Nick), &st.dimNicks[nickColor(e.PeerID, len(st.nicks))]})
			return
		}
		p.add(kindPresence, e.Time, span{"-- " + rv.label(e.PeerID, e.OldNick) + " is now known as ", &st.dim},
			span{rv.label(e.PeerID, e.Nick), &st.dimNicks[nickColor(e.PeerID, len(st.nicks))]})
	case chat.KindFileOffer, chat.KindFileProgress, chat.KindFileDone, chat.KindFileFailed:
		p.fileEvent(e, rv)
	case chat.KindNotice:
		p.add(kindNotice, e.Time, span{"-!- " + clean(e.Text), &st.notice})
	case chat.KindError:
		p.add(kindError, e.Time, span{"error: " + clean(e.Text), &st.errorText})
	}
}

// who lists rv's members with peer IDs and addresses, those present first
// and counted, then the lost ones; info gives our own listen addresses.
func (p *messages) who(rv *roomView, info chat.Info) {
	st := p.st
	t := p.now()
	present, lost := rv.present()
	title := fmt.Sprintf("%d in #%s:", len(present), clean(rv.name))
	if len(lost) > 0 {
		title = fmt.Sprintf("%d in #%s, %d lost:", len(present), clean(rv.name), len(lost))
	}
	p.add(kindInfo, t, span{title, &st.info})
	for _, mb := range append(present, lost...) {
		c := nickColor(mb.PeerID, len(st.nicks))
		spans := []span{{"  ", nil}, {rv.labels[mb.PeerID], &st.nicks[c]}}
		var notes []string
		if mb.Self {
			notes = append(notes, "you")
		}
		if mb.Lost {
			notes = append(notes, "lost")
		}
		if len(notes) > 0 {
			spans = append(spans, span{" (" + strings.Join(notes, ", ") + ")", &st.dim})
		}
		spans = append(spans, span{" " + clean(mb.PeerID), &st.info})
		addrs := mb.Addrs
		if mb.Self {
			addrs = info.Addrs
		}
		switch {
		case len(addrs) > 0:
			shown := make([]string, len(addrs))
			for i, a := range addrs {
				shown[i] = clean(a)
			}
			verb := " via "
			if mb.Self {
				verb = " listening on "
			}
			spans = append(spans, span{verb + strings.Join(shown, ", "), &st.dim})
		case !mb.Self:
			spans = append(spans, span{" (not directly connected)", &st.dim})
		}
		p.add(kindInfo, t, spans...)
	}
}

// roomList shows the answer to /rooms, one room a line.
func (p *messages) roomList(rooms []chat.RoomInfo) {
	if len(rooms) == 0 {
		p.info("No rooms seen on the network yet.")
		return
	}
	lines := []string{"Rooms on the network:"}
	for _, r := range rooms {
		name := "#" + clean(r.Name)
		if r.Name == "" {
			name = "🔒 " + clean(r.ID)
		}
		members := fmt.Sprintf("%d members", r.Members)
		if r.Members == 1 {
			members = "1 member"
		}
		var notes []string
		if r.Joined {
			notes = append(notes, "joined")
		}
		if r.Private {
			notes = append(notes, "private")
		}
		// Padded by cells, not runes: a CJK name is twice as wide.
		line := "  " + padTo(ansi.GraphemeWidth, name, 20) + " " + padTo(ansi.GraphemeWidth, members, 11)
		if len(notes) > 0 {
			line += " " + strings.Join(notes, ", ")
		}
		lines = append(lines, strings.TrimRight(line, " "))
	}
	p.info(lines...)
}
