package tui

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"

	"lanchat/node/chat"
)

// session is the state both front ends share: the host, the rooms joined,
// which one is current, and what each room looks like to the user (its
// [roomView]). It is changed only by the front end's own loop (the screen's
// Update, RunLines' goroutine); the commands of [commandTable] act on it.
type session struct {
	host  Host
	info  chat.Info
	nick  string      // our nick as last reported, raw
	rooms []*roomView // joined rooms, in the order joined
	cur   *roomView   // the current room; nil when in none
	// first is the first room at start (or, started in none, the first
	// joined): plain mode prefixes the lines of other rooms with "#room ".
	first string
	// dm is what the session knows of direct messages (dm.go).
	dm dmState
}

// newSession starts a session in rooms; the first is current, as a plain
// line goes to the first --room at start. It calls h.Info and each room's
// Members.
func newSession(h Host, rooms []Room) *session {
	s := &session{host: h, info: h.Info()}
	s.nick = s.info.Nick
	for _, r := range rooms {
		s.add(r)
	}
	if len(s.rooms) > 0 {
		s.setCurrent(s.rooms[0])
	}
	return s
}

// add appends a joined room and makes it current: a plain line goes to the
// room joined last.
func (s *session) add(r Room) *roomView {
	rv := &roomView{room: r, name: r.Name(), private: r.Private()}
	rv.refresh()
	if s.first == "" {
		s.first = rv.name
	}
	s.rooms = append(s.rooms, rv)
	s.setCurrent(rv)
	return rv
}

// remove forgets a room we left. If it was current, the room joined last of
// those left becomes current.
func (s *session) remove(rv *roomView) {
	i := slices.Index(s.rooms, rv)
	if i < 0 {
		return
	}
	s.rooms = slices.Delete(s.rooms, i, i+1)
	if s.cur == rv {
		s.cur = nil
		if len(s.rooms) > 0 {
			s.setCurrent(s.rooms[len(s.rooms)-1])
		}
	}
}

// setCurrent makes rv the current room; its activity counts as seen.
func (s *session) setCurrent(rv *roomView) {
	s.cur = rv
	if rv != nil {
		rv.unread, rv.mentions = 0, 0
	}
}

// find returns the joined room called name ("#" optional), or nil. A room
// being left (/part) is not found: nothing more is sent to it, and joining
// its name again joins anew.
func (s *session) find(name string) *roomView {
	name = strings.TrimPrefix(strings.TrimSpace(name), "#")
	for _, rv := range s.rooms {
		if rv.name == name && !rv.parting && rv.peer == "" {
			return rv
		}
	}
	return nil
}

// closed takes note that the Events channel of room rv (nil: the host's)
// was closed. After our own /part that is the end of the leave: the room is
// removed and closed returns nil. Otherwise the host went away, and closed
// returns an error wrapping [chat.ErrClosed] for the front end to end with.
func (s *session) closed(rv *roomView) error {
	switch {
	case rv == nil:
		return fmt.Errorf("tui: host events ended: %w", chat.ErrClosed)
	case rv.parting:
		s.remove(rv)
		return nil
	}
	return fmt.Errorf("tui: events of room %q ended: %w", rv.name, chat.ErrClosed)
}

// index returns rv's position among the joined rooms, or -1.
func (s *session) index(rv *roomView) int { return slices.Index(s.rooms, rv) }

// observe takes note of an event of room rv before it is shown: our own
// nick, another member's arrival, and the activity of a room that is not
// current. Lines from the log (History) are no news: they count as
// neither unread nor mentions.
func (s *session) observe(rv *roomView, ev chat.Event) {
	switch {
	case ev.Kind == chat.KindNick && ev.Self:
		s.nick = ev.Nick
	case ev.Kind == chat.KindJoin && !ev.Self && rv != nil:
		rv.toldAlone = false // someone was here: the next silence is told again
	case ev.Kind == chat.KindMessage && !ev.Self && !ev.History && rv != nil && rv != s.cur:
		rv.unread++
		if s.mentioned(ev) {
			rv.mentions++
		}
	}
}

// mentioned reports whether ev is someone else's live chat line that
// writes our current nick (see [mentions]). A line from the log is not.
func (s *session) mentioned(ev chat.Event) bool {
	return ev.Kind == chat.KindMessage && !ev.Self && !ev.History && mentions(Sanitize(ev.Text), Sanitize(s.nick))
}

// rosterEvent reports whether ev changes a room's roster.
func rosterEvent(ev chat.Event) bool {
	switch ev.Kind {
	case chat.KindJoin, chat.KindLeave, chat.KindNick:
		return true
	}
	return false
}

// roomView is one joined room as both front ends show it: its roster
// snapshot with display labels, and the activity the user has not seen.
type roomView struct {
	room    Room
	name    string // [Room.Name], raw
	private bool
	// peer is, for a conversation (/query), the other side's peer ID; its
	// room is a [dmConv]. "" for a room.
	peer string

	members []chat.Member     // roster snapshot, sorted by nick (any case), then peer ID; without hidden
	labels  map[string]string // peer ID -> display label, sanitised
	skels   map[string]string // peer ID -> the [chat.Skeleton] of the member's nick as shown
	skelOf  map[string]string // the members' nicks, raw -> their skeleton (a cache)
	gen     int               // counts roster snapshots
	// hidden are the lost members /clear dropped from the view, by peer
	// ID: left out of members while the roster lists them as lost.
	hidden map[string]bool

	unread   int  // others' messages since the room was last current
	mentions int  // how many of those wrote our nick
	parting  bool // we asked to leave: the events channel closing is expected
	// toldAlone: the notice that nobody else is here was shown after one
	// of our lines, and nobody else has been here since (see
	// [roomView.aloneNotice]).
	toldAlone bool
}

// refresh takes a new roster snapshot and works out display labels: a nick
// that looks like another member's (the same [chat.Skeleton]: "bob",
// "Bob" and "bоb" with a Cyrillic о) gets a short peer-ID suffix
// ("bob#3f2a"), on every member who has it.
func (rv *roomView) refresh() {
	members := slices.Clone(rv.room.Members())
	if len(rv.hidden) > 0 {
		still := make(map[string]bool, len(rv.hidden))
		members = slices.DeleteFunc(members, func(mb chat.Member) bool {
			if mb.Lost && rv.hidden[mb.PeerID] {
				still[mb.PeerID] = true
				return true
			}
			return false
		})
		rv.hidden = still // one heard again, or forgotten, is shown again when next lost
	}
	slices.SortStableFunc(members, func(a, b chat.Member) int {
		if c := strings.Compare(strings.ToLower(a.Nick), strings.ToLower(b.Nick)); c != 0 {
			return c
		}
		return strings.Compare(a.PeerID, b.PeerID)
	})
	skels := make(map[string]string, len(members))
	skelOf := make(map[string]string, len(members))
	count := make(map[string]int, len(members))
	for _, mb := range members {
		sk, ok := rv.skelOf[mb.Nick]
		if !ok {
			sk = chat.Skeleton(showNick(mb.Nick))
		}
		skels[mb.PeerID], skelOf[mb.Nick] = sk, sk
		count[sk]++
	}
	alike := make(map[string][]string, len(members)) // skeleton → peer IDs
	for _, mb := range members {
		if count[skels[mb.PeerID]] > 1 {
			alike[skels[mb.PeerID]] = append(alike[skels[mb.PeerID]], mb.PeerID)
		}
	}
	labels := make(map[string]string, len(members))
	for _, mb := range members {
		l := clean(showNick(mb.Nick))
		if ids := alike[skels[mb.PeerID]]; len(ids) > 1 {
			l += "#" + suffixFor(mb.PeerID, ids)
		}
		labels[mb.PeerID] = l
	}
	rv.members, rv.labels, rv.skels, rv.skelOf = members, labels, skels, skelOf
	rv.gen++
	if rv.peers() > 0 {
		rv.toldAlone = false
	}
}

// aloneNotice returns the notice to show after the echo of our own line
// when no other live member is in the room (see [aloneText]), once per
// silence: it reports false for the lines after it until another member
// has been here (joined, or in a roster snapshot).
func (rv *roomView) aloneNotice() (string, bool) {
	text, alone := aloneText(rv.members)
	switch {
	case !alone:
		rv.toldAlone = false
		return "", false
	case rv.toldAlone:
		return "", false
	}
	rv.toldAlone = true
	return text, true
}

// label returns how to show the member peerID called nick: the nick, with a
// peer-ID suffix when another member in the roster has a nick that looks
// the same (the same [chat.Skeleton]).
func (rv *roomView) label(peerID, nick string) string {
	shown := showNick(nick)
	if rv != nil {
		sk, known := rv.skelOf[nick]
		var others []string
		for _, mb := range rv.members {
			if mb.PeerID == peerID {
				continue
			}
			if !known {
				sk, known = chat.Skeleton(shown), true
			}
			if rv.skels[mb.PeerID] == sk {
				others = append(others, mb.PeerID)
			}
		}
		if len(others) > 0 {
			return clean(shown) + "#" + suffixFor(peerID, others)
		}
	}
	return clean(shown)
}

// suffixFor returns the end of peer ID id that tells it from the peer IDs
// of others (look-alike members), sanitised: its last 4 characters, or
// as many more as it takes where another ends the same way. With the
// key and some minutes anyone can make a peer ID whose last 4 characters
// are someone else's; the label must still differ.
func suffixFor(id string, others []string) string {
	r := []rune(clean(id))
	n := min(4, len(r))
	for _, o := range others {
		if o == id {
			continue
		}
		or := []rune(clean(o))
		for n < len(r) && n <= len(or) && string(r[len(r)-n:]) == string(or[len(or)-n:]) {
			n++
		}
	}
	return string(r[len(r)-n:])
}

// showNick returns a nick from the network as front ends show it: safe
// on a terminal ([Sanitize]) and a valid nick ([chat.SanitizeNick]: the
// node reports only valid ones, but the layout must not depend on it).
// No nick stays none.
func showNick(nick string) string {
	if nick == "" {
		return ""
	}
	return chat.SanitizeNick(Sanitize(nick))
}

// forgetLost drops the members lost by now from the view, until they are
// heard again (/clear).
func (rv *roomView) forgetLost() {
	rv.refresh()
	for _, mb := range rv.members {
		if mb.Lost {
			if rv.hidden == nil {
				rv.hidden = make(map[string]bool)
			}
			rv.hidden[mb.PeerID] = true
		}
	}
	rv.refresh()
}

// present returns the members that are not lost, self included, and
// those that are, both in roster order.
func (rv *roomView) present() (present, lost []chat.Member) {
	for _, mb := range rv.members {
		if mb.Lost {
			lost = append(lost, mb)
		} else {
			present = append(present, mb)
		}
	}
	return present, lost
}

// peers is the number of other members that are not lost.
func (rv *roomView) peers() int {
	if rv == nil {
		return 0
	}
	n := 0
	for _, mb := range rv.members {
		if !mb.Self && !mb.Lost {
			n++
		}
	}
	return n
}

// clean makes remote text safe to show (see [Sanitize]) and keeps it from
// joining the text around it into one character: text that starts with a
// combining mark, a zero-width joiner or an emoji modifier gets a space to
// sit on, and text that ends with a prepended mark gets a space after it.
// The screen measures its spans one by one, as the terminal draws them.
func clean(s string) string {
	s = Sanitize(s)
	if s == "" {
		return s
	}
	if c, _ := ansi.FirstGraphemeCluster("a"+s, ansi.GraphemeWidth); len(c) > 1 {
		s = " " + s
	}
	// Does the end join a following "a"? Looking at the last 64 bytes is
	// enough: only the last cluster matters.
	i := max(0, len(s)-64)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	last := ""
	for t := s[i:] + "a"; t != ""; {
		c, _ := ansi.FirstGraphemeCluster(t, ansi.GraphemeWidth)
		if len(c) == 0 {
			break
		}
		last, t = c, t[len(c):]
	}
	if last != "a" {
		s += " "
	}
	return s
}

// mentions reports whether text names our nick as a word of its own
// (any case): "alice:" and "hi Alice!" do, "malice" does not.
func mentions(text, nick string) bool {
	if nick == "" {
		return false
	}
	text, nick = strings.ToLower(text), strings.ToLower(nick)
	for i := 0; ; {
		j := strings.Index(text[i:], nick)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(nick)
		before, _ := utf8.DecodeLastRuneInString(text[:start])
		after, _ := utf8.DecodeRuneInString(text[end:])
		if !isWordRune(before) && !isWordRune(after) {
			return true
		}
		i = start + 1
	}
}

// isWordRune reports whether r continues a word. Scripts written without
// spaces (Han, kana, Hangul) have no word boundaries to look for: "ゆきさん"
// mentions ゆき.
func isWordRune(r rune) bool {
	if r == utf8.RuneError || unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
		return false
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_'
}
