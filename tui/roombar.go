package tui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// tabInfo is one room of the room bar.
type tabInfo struct {
	name     string // sanitised, without "#"
	unread   int    // others' messages not seen yet
	mentions int    // of those, how many wrote our nick
	current  bool
	private  bool // sealed with a room passphrase
	dm       bool // a conversation (/query): "@name"
}

// privateMark marks a private room (one sealed with its passphrase) in the
// room bar and the header, before its name, so that it stays in sight when
// the name is cut short.
const privateMark = "🔑"

// roomLabel is how the bar and the header name a room: "#dev", or
// "🔑#secret" for a private room. name is sanitised.
func roomLabel(name string, private bool) string {
	if private {
		return privateMark + "#" + name
	}
	return "#" + name
}

// roomTabs returns the room bar's tabs for s.
func roomTabs(s *session) []tabInfo {
	tabs := make([]tabInfo, 0, len(s.rooms))
	for _, rv := range s.rooms {
		tabs = append(tabs, tabInfo{clean(rv.name), rv.unread, rv.mentions, rv == s.cur, rv.private, rv.peer != ""})
	}
	return tabs
}

// activity is a tab's unread marker: "•3", "•3@" when someone wrote our
// nick, "" when nothing is unread.
func activity(unread, mentions int) string {
	switch {
	case unread == 0:
		return ""
	case mentions > 0:
		return fmt.Sprintf("•%d@", unread)
	}
	return fmt.Sprintf("•%d", unread)
}

// maxTabName is the widest a room name is shown in the bar, in cells.
const maxTabName = 16

// roomBarProps is what the room bar shows.
type roomBarProps struct {
	width  int
	method ansi.Method
	tabs   []tabInfo
}

// roomBar is the row of room tabs under the header:
//
//	[1 #lobby] 2 #dev •3  3 #ops •1@
//
// The current room is in brackets (and reversed); a room with unread
// messages shows their count, with "@" when one of them wrote our nick.
// When the tabs do not fit, those farthest from the current one give way to
// "…". It is drawn in Update when its props change.
type roomBar struct {
	props roomBarProps
	line  string
}

// set redraws the bar if p differs from what it shows.
func (b *roomBar) set(st *screenStyles, p roomBarProps) {
	if b.line != "" && p.width == b.props.width && p.method == b.props.method && slices.Equal(p.tabs, b.props.tabs) {
		return
	}
	p.tabs = slices.Clone(p.tabs)
	b.props, b.line = p, renderRoomBar(st, p)
}

// renderRoomBar draws the bar: width cells.
func renderRoomBar(st *screenStyles, p roomBarProps) string {
	if p.width <= 0 {
		return ""
	}
	texts := make([]string, len(p.tabs))
	widths := make([]int, len(p.tabs))
	cur := 0
	for i, t := range p.tabs {
		name := roomLabel(p.method.Truncate(t.name, maxTabName, "…"), t.private)
		if t.dm {
			name = "@" + p.method.Truncate(t.name, maxTabName, "…")
		}
		label := fmt.Sprintf("%d %s", i+1, name)
		if a := activity(t.unread, t.mentions); a != "" {
			label += " " + a
		}
		if t.current {
			label, cur = "["+label+"]", i
		} else {
			label = " " + label + " "
		}
		texts[i], widths[i] = label, p.method.StringWidth(label)
	}
	// Grow a window of tabs around the current one while they fit, one
	// cell kept for "…" on a side with tabs left out.
	lo, hi := cur, cur+1
	used := 0
	if len(p.tabs) > 0 {
		used = widths[cur]
	}
	fits := func(w, lo, hi int) bool {
		if lo > 0 {
			w++
		}
		if hi < len(p.tabs) {
			w++
		}
		return w <= p.width
	}
	for grown := true; grown; {
		grown = false
		if hi < len(p.tabs) && fits(used+widths[hi], lo, hi+1) {
			used += widths[hi]
			hi++
			grown = true
		}
		if lo > 0 && fits(used+widths[lo-1], lo-1, hi) {
			lo--
			used += widths[lo]
			grown = true
		}
	}
	var b strings.Builder
	w := 0
	if lo > 0 {
		b.WriteString(st.dim.Render("…"))
		w++
	}
	for i := lo; i < hi; i++ {
		t, text := p.tabs[i], texts[i]
		if w+widths[i] > p.width {
			text = p.method.Truncate(text, p.width-w, "…")
		}
		style := &st.tab
		switch {
		case t.current:
			style = &st.tabCurrent
		case t.mentions > 0:
			style = &st.tabMention
		case t.unread > 0:
			style = &st.tabUnread
		}
		b.WriteString(style.Render(text))
		w += p.method.StringWidth(text)
	}
	if hi < len(p.tabs) && w < p.width {
		b.WriteString(st.dim.Render("…"))
		w++
	}
	b.WriteString(strings.Repeat(" ", max(0, p.width-w)))
	return b.String()
}

// compactRooms is the room bar collapsed into the header (after the
// current room's name), for screens too short to give it a row: "1/3 •2",
// the current room's place and the unread messages of the other rooms
// summed, "@" when one of them wrote our nick.
func compactRooms(tabs []tabInfo) string {
	unread, mentions, cur := 0, 0, -1
	for i, t := range tabs {
		if t.current {
			cur = i
			continue
		}
		unread += t.unread
		mentions += t.mentions
	}
	if cur < 0 {
		return ""
	}
	s := fmt.Sprintf("%d/%d", cur+1, len(tabs))
	if a := activity(unread, mentions); a != "" {
		s += " " + a
	}
	return s
}
