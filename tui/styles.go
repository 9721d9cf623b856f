package tui

import (
	"hash/fnv"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

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
	tab, tabCurrent, tabUnread, tabMention        paint
	nicks, ownNicks, dimNicks                     []paint
}

// newScreenStyles makes the styles, each reduced to a [paint] once.
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
		tab:        newPaint(faint),
		tabCurrent: newPaint(bold.Reverse(true)),
		tabUnread:  newPaint(bold),
		tabMention: newPaint(fg("3").Bold(true)),
	}
	for _, c := range nickPalette {
		s.nicks = append(s.nicks, newPaint(fg(c)))
		s.ownNicks = append(s.ownNicks, newPaint(fg(c).Bold(true).Reverse(true)))
		s.dimNicks = append(s.dimNicks, newPaint(fg(c).Faint(true)))
	}
	return s
}

// nickColor returns the palette index of a peer: a hash of its ID, so a
// member keeps its colour across nick changes and sessions.
func nickColor(peerID string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(peerID))
	return int(h.Sum32() % uint32(n))
}

// fitText returns the first of texts that fits in width cells measured with
// method, or the last one truncated.
func fitText(method ansi.Method, width int, texts ...string) string {
	for _, t := range texts {
		if method.StringWidth(t) <= width {
			return t
		}
	}
	return method.Truncate(texts[len(texts)-1], width, "…")
}

// padTo pads s with spaces to width cells.
func padTo(method ansi.Method, s string, width int) string {
	return s + strings.Repeat(" ", max(0, width-method.StringWidth(s)))
}
