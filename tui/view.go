package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
)

// inputPrompt starts the input line.
const inputPrompt = "> "

// View draws the screen. It only reads the model.
func (m *screenModel) View() tea.View {
	content, cursor := m.render()
	v := tea.NewView(content)
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = m.windowTitle()
	v.Cursor = cursor
	return v
}

// windowTitle is the terminal's title: "lanchat #lobby", led by the number
// of lines that mention us in the rooms not yet looked at, "(2) lanchat
// #lobby", so a mention shows in a taskbar or a tab while the terminal is
// in the background. Switching to a room reads its mentions.
func (m *screenModel) windowTitle() string {
	title := "lanchat"
	if cur := m.sess.cur; cur != nil {
		title += " " + cur.title()
	}
	n := 0
	for _, rv := range m.sess.rooms {
		n += rv.mentions
	}
	if n > 0 {
		title = fmt.Sprintf("(%d) %s", n, title)
	}
	return title
}

// render assembles the screen from its components' drawn parts and returns
// it with the cursor position.
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
		b.WriteString(m.head.line)
		newline()
	}
	if l.bar {
		b.WriteString(m.bar.line)
		newline()
	}
	t := m.tab()
	pane := t.msgs.sb.visible(l.paneH)
	side := m.side.rows
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
	if m.fileH > 0 {
		rows := m.files.render(m.st, m.width, m.method, m.sess.cur.label)
		for _, row := range rows[:min(m.fileH, len(rows))] {
			b.WriteString(row)
			newline()
		}
	}
	if l.status {
		b.WriteString(m.status.line)
		newline()
	}
	promptW := m.method.StringWidth(inputPrompt)
	if promptW >= m.width {
		// too narrow for a prompt: the field alone
		field, cx := t.input.render(m.width, m.method)
		b.WriteString(field)
		return b.String(), tea.NewCursor(min(cx, m.width-1), y)
	}
	field, cx := t.input.render(m.inputWidth(), m.method)
	b.WriteString(m.st.prompt.Render(inputPrompt))
	b.WriteString(field)
	return b.String(), tea.NewCursor(promptW+cx, y)
}
