package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"lanchat/node/chat"
)

// sidebarProps is what the member list shows: the roster of a room.
type sidebarProps struct {
	width, height int
	method        ansi.Method
	rv            *roomView // nil: no room, an empty list
	gen           int       // rv's roster generation
}

// sidebar is the member list on the right of the messages: the current
// room's roster, ourselves marked "*"; the members present are counted
// in its title, the lost ones listed after them, dim and marked "?",
// under a "N lost" line of their own. It is drawn in Update when its
// props change.
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
	var present, lost []chat.Member
	if p.rv != nil {
		present, lost = p.rv.present()
	}
	// The rows under the title: members, and the line that heads the
	// lost ones.
	var rows []memberRow
	for _, mb := range present {
		rows = append(rows, memberRow{label: p.rv.labels[mb.PeerID], peerID: mb.PeerID, self: mb.Self})
	}
	if len(lost) > 0 {
		rows = append(rows, memberRow{head: true})
		for _, mb := range lost {
			rows = append(rows, memberRow{label: p.rv.labels[mb.PeerID], peerID: mb.PeerID, self: mb.Self, lost: true})
		}
	}
	method, width := p.method, p.width
	n := len(present)
	title := fmt.Sprintf(" %d members", n)
	if n == 1 {
		title = " 1 member"
	}
	out = append(out, st.sideTitle.Render(padTo(method, fitText(method, width, title, fmt.Sprintf(" %d", n)), width)))
	shown := rows
	if len(shown) > p.height-1 {
		shown = shown[:max(0, p.height-2)]
	}
	for _, mb := range shown {
		if mb.head {
			out = append(out, st.dim.Render(padTo(method, fitText(method, width, fmt.Sprintf(" %d lost", len(lost))), width)))
			continue
		}
		style := &st.nicks[nickColor(mb.peerID, len(st.nicks))]
		mark := " "
		switch {
		case mb.lost:
			mark, style = "?", &st.sideLost
		case mb.self:
			mark = "*"
		}
		lbl := fitText(method, width-1, mb.label)
		w := 1 + method.StringWidth(lbl)
		out = append(out, mark+style.Render(lbl)+strings.Repeat(" ", max(0, width-w)))
	}
	if hidden := countMembers(rows[len(shown):]); hidden > 0 {
		out = append(out, st.dim.Render(padTo(method, fitText(method, width, fmt.Sprintf(" +%d more", hidden)), width)))
	}
	for len(out) < p.height {
		out = append(out, strings.Repeat(" ", width))
	}
	return out
}

// memberRow is one member as the list shows it, or (head) the line that
// heads the lost members.
type memberRow struct {
	label, peerID    string
	self, lost, head bool
}

// countMembers returns how many of rows are members.
func countMembers(rows []memberRow) int {
	n := 0
	for _, r := range rows {
		if !r.head {
			n++
		}
	}
	return n
}
