package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// inputPrompt starts the input line.
const inputPrompt = "> "

// nickPalette are the nick colours (xterm 256-colour numbers, readable on
// dark and light backgrounds; the renderer maps them down for terminals
// with fewer colours).
var nickPalette = []string{"39", "208", "170", "114", "203", "178", "81", "141", "215", "77", "212", "117"}

// screenStyles are the screen's styles. Styling is applied only to text
// whose width is already measured; lipgloss never wraps or pads here.
type screenStyles struct {
	time, dim, info, notice, warn, errorText, day lipgloss.Style
	action, ownText, mention                      lipgloss.Style
	header, headerOpen                            lipgloss.Style
	rule, alert, prompt                           lipgloss.Style
	sideTitle, sideSelf, sideLost, sep            lipgloss.Style
	nicks, ownNicks, dimNicks                     []lipgloss.Style
}

func newScreenStyles() *screenStyles {
	s := &screenStyles{
		time:       lipgloss.NewStyle().Faint(true),
		dim:        lipgloss.NewStyle().Faint(true),
		info:       lipgloss.NewStyle(),
		notice:     lipgloss.NewStyle().Foreground(lipgloss.Color("6")),
		warn:       lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("3")),
		errorText:  lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("1")),
		day:        lipgloss.NewStyle().Faint(true),
		action:     lipgloss.NewStyle().Bold(true),
		ownText:    lipgloss.NewStyle(),
		mention:    lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("3")),
		header:     lipgloss.NewStyle().Reverse(true).Bold(true),
		headerOpen: lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("0")).Background(lipgloss.Color("3")),
		rule:       lipgloss.NewStyle().Faint(true),
		alert:      lipgloss.NewStyle().Reverse(true).Bold(true),
		prompt:     lipgloss.NewStyle().Bold(true),
		sideTitle:  lipgloss.NewStyle().Bold(true),
		sideSelf:   lipgloss.NewStyle().Bold(true),
		sideLost:   lipgloss.NewStyle().Faint(true),
		sep:        lipgloss.NewStyle().Faint(true),
	}
	for _, c := range nickPalette {
		fg := lipgloss.NewStyle().Foreground(lipgloss.Color(c))
		s.nicks = append(s.nicks, fg)
		s.ownNicks = append(s.ownNicks, fg.Bold(true).Reverse(true))
		s.dimNicks = append(s.dimNicks, fg.Faint(true))
	}
	return s
}

// View draws the screen. It only reads the model.
func (m *screenModel) View() tea.View {
	content, cursor := m.render()
	v := tea.NewView(content)
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "lanchat #" + Sanitize(m.info.Room)
	v.Cursor = cursor
	return v
}

// render returns the screen's content and the cursor position.
func (m *screenModel) render() (string, *tea.Cursor) {
	l := m.lay
	if m.width <= 0 || m.height <= 0 {
		return "", nil
	}
	lines := make([]string, 0, m.height)
	if l.header {
		lines = append(lines, m.headerLine())
	}
	pane := m.sb.visible(l.paneH)
	var side []string
	if l.sideW > 0 {
		side = m.sidebar(l.paneH, l.sideW)
	}
	sep := " " + m.st.sep.Render("│")
	var b strings.Builder
	for i := 0; i < l.paneH; i++ {
		var row styledRow
		if i < len(pane) {
			row = pane[i]
		}
		if l.sideW == 0 {
			lines = append(lines, row.s)
			continue
		}
		b.Reset()
		b.WriteString(row.s)
		b.WriteString(strings.Repeat(" ", max(0, l.paneW-row.w)))
		b.WriteString(sep)
		b.WriteString(side[i])
		lines = append(lines, b.String())
	}
	if l.status {
		lines = append(lines, m.statusLine())
	}
	field, cx := m.input.render(m.inputWidth(), m.method)
	promptW := m.method.StringWidth(inputPrompt)
	if promptW >= m.width {
		// too narrow for a prompt: the field alone
		field, cx = m.input.render(m.width, m.method)
		lines = append(lines, field)
		return strings.Join(lines, "\n"), tea.NewCursor(min(cx, m.width-1), len(lines)-1)
	}
	lines = append(lines, m.st.prompt.Render(inputPrompt)+field)
	return strings.Join(lines, "\n"), tea.NewCursor(promptW+cx, len(lines)-1)
}

// fit returns the first of texts that fits in width cells, or the last one
// truncated.
func (m *screenModel) fit(width int, texts ...string) string {
	for _, t := range texts {
		if m.method.StringWidth(t) <= width {
			return t
		}
	}
	return m.method.Truncate(texts[len(texts)-1], width, "…")
}

// padTo pads s with spaces to width cells.
func (m *screenModel) padTo(s string, width int) string {
	return s + strings.Repeat(" ", max(0, width-m.method.StringWidth(s)))
}

// peerCount is the number of other members that are not lost.
func (m *screenModel) peerCount() int {
	n := 0
	for _, mb := range m.members {
		if !mb.Self && !mb.Lost {
			n++
		}
	}
	return n
}

// headerLine draws the top bar: room, network, own nick, peer count.
func (m *screenModel) headerLine() string {
	room := "#" + Sanitize(m.info.Room)
	peers := fmt.Sprintf("%d peers", m.peerCount())
	if m.peerCount() == 1 {
		peers = "1 peer"
	}
	join := func(parts ...string) string { return " " + strings.Join(parts, " · ") + " " }
	if m.open() {
		t := m.fit(m.width,
			join("lanchat", room, "open network — anyone on this LAN can join", m.nick, peers),
			join(room, "open network — anyone on this LAN can join", m.nick, peers),
			join(room, "open: anyone on LAN can join", m.nick, peers),
			join(room, "open network", m.nick, peers),
			join(room, "open", m.nick, peers),
		)
		return m.st.headerOpen.Render(m.padTo(t, m.width))
	}
	t := m.fit(m.width,
		join("lanchat", room, "🔒 private", m.nick, peers),
		join(room, "🔒 private", m.nick, peers),
	)
	return m.st.header.Render(m.padTo(t, m.width))
}

// statusLine draws the line above the input: a rule, or what needs the
// user's attention (a paste waiting for OK, being scrolled up).
func (m *screenModel) statusLine() string {
	switch {
	case m.pendingPaste != nil:
		n := len(m.pendingPaste)
		t := m.fit(m.width,
			fmt.Sprintf(" Paste %d lines as %d messages? Enter: send · Esc: cancel ", n, n),
			fmt.Sprintf(" Send %d lines? Enter/Esc ", n))
		return m.st.alert.Render(m.padTo(t, m.width))
	case !m.sb.follow:
		var t string
		if u := m.sb.unread; u > 0 {
			msgs := "messages"
			if u == 1 {
				msgs = "message"
			}
			t = m.fit(m.width,
				fmt.Sprintf(" %d new %s below · End: jump to newest ", u, msgs),
				fmt.Sprintf(" %d new %s · End ", u, msgs))
		} else {
			t = m.fit(m.width, " scrolled up · End: jump to newest ", " scrolled up · End ")
		}
		return m.st.alert.Render(m.padTo(t, m.width))
	}
	return m.st.rule.Render(strings.Repeat("─", m.width))
}

// sidebar draws the member list: height rows of width cells.
func (m *screenModel) sidebar(height, width int) []string {
	out := make([]string, 0, height)
	if height <= 0 {
		return out
	}
	title := fmt.Sprintf(" %d members", len(m.members))
	if len(m.members) == 1 {
		title = " 1 member"
	}
	out = append(out, m.st.sideTitle.Render(m.padTo(m.fit(width, title, fmt.Sprintf(" %d", len(m.members))), width)))
	shown := m.members
	if len(shown) > height-1 {
		shown = shown[:max(0, height-2)]
	}
	for _, mb := range shown {
		lbl := m.labels[mb.PeerID]
		st := &m.st.nicks[nickColor(mb.PeerID, len(m.st.nicks))]
		mark, suffix := " ", ""
		switch {
		case mb.Lost:
			mark, suffix, st = "?", " (lost)", &m.st.sideLost
		case mb.Self:
			mark = "*"
		}
		room := width - 1 - m.method.StringWidth(suffix)
		if room < 3 {
			suffix, room = "", width-1
		}
		lbl = m.fit(room, lbl)
		row := mark + st.Render(lbl)
		if suffix != "" {
			row += m.st.dim.Render(suffix)
		}
		w := 1 + m.method.StringWidth(lbl) + m.method.StringWidth(suffix)
		out = append(out, row+strings.Repeat(" ", max(0, width-w)))
	}
	if len(shown) < len(m.members) {
		out = append(out, m.st.dim.Render(m.padTo(m.fit(width, fmt.Sprintf(" +%d more", len(m.members)-len(shown))), width)))
	}
	for len(out) < height {
		out = append(out, strings.Repeat(" ", width))
	}
	return out
}
