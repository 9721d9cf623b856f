package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// statusProps is what the status line shows.
type statusProps struct {
	width  int
	method ansi.Method
	paste  int  // lines of a paste waiting for the user's OK; 0 = none
	follow bool // the messages show the newest line
	unread int  // chat lines that arrived below while scrolled up
}

// statusLine is the line above the input: a rule, or what needs the user's
// attention (a paste waiting for OK, being scrolled up). It is drawn in
// Update when its props change.
type statusLine struct {
	props statusProps
	line  string
}

// set redraws the line if p differs from what it shows.
func (s *statusLine) set(st *screenStyles, p statusProps) {
	if p == s.props && s.line != "" {
		return
	}
	s.props, s.line = p, renderStatus(st, p)
}

// renderStatus draws the status line for p.
func renderStatus(st *screenStyles, p statusProps) string {
	switch {
	case p.paste > 0:
		n := p.paste
		t := fitText(p.method, p.width,
			fmt.Sprintf(" Paste %d lines as %d messages? Enter: send · Esc: cancel ", n, n),
			fmt.Sprintf(" Send %d lines? Enter/Esc ", n))
		return st.alert.Render(padTo(p.method, t, p.width))
	case !p.follow:
		var t string
		if u := p.unread; u > 0 {
			msgs := "messages"
			if u == 1 {
				msgs = "message"
			}
			t = fitText(p.method, p.width,
				fmt.Sprintf(" %d new %s below · End: jump to newest ", u, msgs),
				fmt.Sprintf(" %d new %s · End ", u, msgs))
		} else {
			t = fitText(p.method, p.width, " scrolled up · End: jump to newest ", " scrolled up · End ")
		}
		return st.alert.Render(padTo(p.method, t, p.width))
	}
	return st.rule.Render(strings.Repeat("─", max(p.width, 0)))
}
