package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// inputPrompt starts the input line.
const inputPrompt = "> "

// nickPalette are the nick colours (xterm 256-colour numbers, readable on
// dark and light backgrounds; the renderer maps them down for terminals
// with fewer colours).
var nickPalette = []string{"39", "208", "170", "114", "203", "178", "81", "141", "215", "77", "212", "117"}

// paint is a style reduced to the escape sequences around the text, taken
// once from a lipgloss style: applying it costs two concatenations, which
// matters when a burst of messages is styled.
type paint struct{ pre, post string }

// newPaint takes the sequences of a lipgloss style without padding, margins
// or width.
func newPaint(s lipgloss.Style) paint {
	out := s.Render("x")
	i := strings.Index(out, "x")
	if i < 0 {
		return paint{}
	}
	return paint{out[:i], out[i+1:]}
}

// Render returns s in the style.
func (p *paint) Render(s string) string {
	if p == nil || p.pre == "" || s == "" {
		return s
	}
	return p.pre + s + p.post
}

// screenStyles are the screen's styles. Styling is applied only to text
// whose width is already measured; lipgloss never wraps or pads here.
type screenStyles struct {
	time, dim, info, notice, warn, errorText, day paint
	action, ownText, mention                      paint
	header, headerOpen                            paint
	rule, alert, prompt                           paint
	sideTitle, sideSelf, sideLost, sep            paint
	nicks, ownNicks, dimNicks                     []paint
}

func newScreenStyles() *screenStyles {
	plain := lipgloss.NewStyle()
	bold, faint := plain.Bold(true), plain.Faint(true)
	fg := func(c string) lipgloss.Style { return plain.Foreground(lipgloss.Color(c)) }
	s := &screenStyles{
		time:       newPaint(faint),
		dim:        newPaint(faint),
		info:       newPaint(plain),
		notice:     newPaint(fg("6")),
		warn:       newPaint(fg("3").Bold(true)),
		errorText:  newPaint(fg("1").Bold(true)),
		day:        newPaint(faint),
		action:     newPaint(bold),
		ownText:    newPaint(plain),
		mention:    newPaint(fg("3").Bold(true)),
		header:     newPaint(bold.Reverse(true)),
		headerOpen: newPaint(fg("0").Background(lipgloss.Color("3")).Bold(true)),
		rule:       newPaint(faint),
		alert:      newPaint(bold.Reverse(true)),
		prompt:     newPaint(bold),
		sideTitle:  newPaint(bold),
		sideSelf:   newPaint(bold),
		sideLost:   newPaint(faint),
		sep:        newPaint(faint),
	}
	for _, c := range nickPalette {
		s.nicks = append(s.nicks, newPaint(fg(c)))
		s.ownNicks = append(s.ownNicks, newPaint(fg(c).Bold(true).Reverse(true)))
		s.dimNicks = append(s.dimNicks, newPaint(fg(c).Faint(true)))
	}
	return s
}

// chrome is everything on the screen but the messages and the input line,
// drawn in Update when what it shows changed, so View only assembles.
type chrome struct {
	header, status string
	side           []string

	hk headerKey
	sk statusKey
	mk sideKey
}

type headerKey struct {
	w, peers int
	nick     string
	method   ansi.Method
}

type statusKey struct {
	w, unread, pending int
	follow             bool
	method             ansi.Method
}

type sideKey struct {
	w, h, gen int
	method    ansi.Method
}

// refreshChrome redraws the parts of the chrome whose inputs changed.
func (m *screenModel) refreshChrome() {
	c := &m.chrome
	if hk := (headerKey{m.width, m.peerCount(), m.nick, m.method}); hk != c.hk || c.header == "" {
		c.hk, c.header = hk, m.headerLine()
	}
	if sk := (statusKey{m.width, m.sb.unread, len(m.pendingPaste), m.sb.follow, m.method}); sk != c.sk || c.status == "" {
		c.sk, c.status = sk, m.statusLine()
	}
	if mk := (sideKey{m.lay.sideW, m.lay.paneH, m.rosterGen, m.method}); mk != c.mk || c.side == nil {
		c.mk, c.side = mk, m.sidebar(m.lay.paneH, m.lay.sideW)
	}
}

// View draws the screen. It only reads the model.
func (m *screenModel) View() tea.View {
	content, cursor := m.render()
	v := tea.NewView(content)
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "lanchat #" + clean(m.info.Room)
	v.Cursor = cursor
	return v
}

// render returns the screen's content and the cursor position.
func (m *screenModel) render() (string, *tea.Cursor) {
	l := m.lay
	if m.width <= 0 || m.height <= 0 {
		return "", nil
	}
	var b strings.Builder
	b.Grow(m.width * m.height * 2)
	y := 0
	newline := func() {
		b.WriteByte('\n')
		y++
	}
	if l.header {
		b.WriteString(m.chrome.header)
		newline()
	}
	pane := m.sb.visible(l.paneH)
	side := m.chrome.side
	sep := " " + m.st.sep.Render("│")
	for i := 0; i < l.paneH; i++ {
		var row styledRow
		if i < len(pane) {
			row = pane[i]
		}
		b.WriteString(row.s)
		if l.sideW > 0 && i < len(side) {
			for range l.paneW - row.w {
				b.WriteByte(' ')
			}
			b.WriteString(sep)
			b.WriteString(side[i])
		}
		newline()
	}
	if l.status {
		b.WriteString(m.chrome.status)
		newline()
	}
	promptW := m.method.StringWidth(inputPrompt)
	if promptW >= m.width {
		// too narrow for a prompt: the field alone
		field, cx := m.input.render(m.width, m.method)
		b.WriteString(field)
		return b.String(), tea.NewCursor(min(cx, m.width-1), y)
	}
	field, cx := m.input.render(m.inputWidth(), m.method)
	b.WriteString(m.st.prompt.Render(inputPrompt))
	b.WriteString(field)
	return b.String(), tea.NewCursor(promptW+cx, y)
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
	room := "#" + clean(m.info.Room)
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
