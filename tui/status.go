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
	// dropped is the number of lines dropped off the top of the
	// scrollback (its limits, see [ScreenOptions]) when scrolled up to
	// the oldest line kept; else 0.
	dropped int
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
		// What is below (new lines), then what is above (lines dropped
		// off the top, when the oldest kept is shown), long then short.
		var long, short []string
		if u := p.unread; u > 0 {
			long = append(long, fmt.Sprintf("%d new %s below", u, plural(u, "message")))
			short = append(short, fmt.Sprintf("%d new %s", u, plural(u, "message")))
		}
		if d := p.dropped; d > 0 {
			long = append(long, fmt.Sprintf("%d older %s dropped (scrollback limit)", d, plural(d, "line")))
			short = append(short, fmt.Sprintf("%d older dropped", d))
		}
		if len(long) == 0 {
			long, short = []string{"scrolled up"}, []string{"scrolled up"}
		}
		t := fitText(p.method, p.width,
			" "+strings.Join(long, " · ")+" · End: jump to newest ",
			" "+strings.Join(short, " · ")+" · End ")
		return st.alert.Render(padTo(p.method, t, p.width))
	}
	return st.rule.Render(strings.Repeat("─", max(p.width, 0)))
}

// plural returns word for n == 1, else word with an s.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
