package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// sidebarProps is what the member list shows: the roster of a room.
type sidebarProps struct {
	width, height int
	method        ansi.Method
	rv            *roomView // nil: no room, an empty list
	gen           int       // rv's roster generation
}

// sidebar is the member list on the right of the messages: the current
// room's roster, ourselves marked "*", lost members "?". It is drawn in
// Update when its props change.
type sidebar struct {
	props sidebarProps
	rows  []string
}

// set redraws the list if p differs from what it shows.
func (sb *sidebar) set(st *screenStyles, p sidebarProps) {
	if p == sb.props && sb.rows != nil {
		return
	}
	sb.props, sb.rows = p, renderSidebar(st, p)
}

// renderSidebar draws the member list: height rows of width cells.
func renderSidebar(st *screenStyles, p sidebarProps) []string {
	out := make([]string, 0, max(p.height, 0))
	if p.height <= 0 {
		return out
	}
	var members []memberRow
	if p.rv != nil {
		for _, mb := range p.rv.members {
			members = append(members, memberRow{p.rv.labels[mb.PeerID], mb.PeerID, mb.Self, mb.Lost})
		}
	}
	method, width := p.method, p.width
	title := fmt.Sprintf(" %d members", len(members))
	if len(members) == 1 {
		title = " 1 member"
	}
	out = append(out, st.sideTitle.Render(padTo(method, fitText(method, width, title, fmt.Sprintf(" %d", len(members))), width)))
	shown := members
	if len(shown) > p.height-1 {
		shown = shown[:max(0, p.height-2)]
	}
	for _, mb := range shown {
		style := &st.nicks[nickColor(mb.peerID, len(st.nicks))]
		mark, suffix := " ", ""
		switch {
		case mb.lost:
			mark, suffix, style = "?", " (lost)", &st.sideLost
		case mb.self:
			mark = "*"
		}
		room := width - 1 - method.StringWidth(suffix)
		if room < 3 {
			suffix, room = "", width-1
		}
		lbl := fitText(method, room, mb.label)
		row := mark + style.Render(lbl)
		if suffix != "" {
			row += st.dim.Render(suffix)
		}
		w := 1 + method.StringWidth(lbl) + method.StringWidth(suffix)
		out = append(out, row+strings.Repeat(" ", max(0, width-w)))
	}
	if len(shown) < len(members) {
		out = append(out, st.dim.Render(padTo(method, fitText(method, width, fmt.Sprintf(" +%d more", len(members)-len(shown))), width)))
	}
	for len(out) < p.height {
		out = append(out, strings.Repeat(" ", width))
	}
	return out
}

// memberRow is one member as the list shows it.
type memberRow struct {
	label, peerID string
	self, lost    bool
}
