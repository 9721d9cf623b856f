package tui

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// lineEditor is the screen's input line: a one-line editor with emacs keys,
// input history and completion.
//
// The text is a string and the cursor a byte offset into it that always sits
// on a grapheme-cluster boundary, so a combining mark, an emoji with a skin
// tone or a ZWJ sequence is moved over and deleted as one character. Widths
// are measured in terminal cells with the same method as the renderer (see
// [screenModel.method]), so the cursor lands after a CJK character, not in
// the middle of it; the terminal's real cursor is placed there, which is
// where input methods draw their pre-edit text.
//
// The bubbles textinput is not used because its real cursor is placed by rune
// count, not cell width, which puts the cursor (and the IME window) in the
// wrong column after CJK text.
type lineEditor struct {
	text string
	cur  int    // byte offset of the cursor in text
	kill string // last killed text, for ctrl+y

	// hist is the input history, which the editors of all rooms share;
	// the position in it is each editor's own.
	hist     *inputHistory
	histAt   int    // absolute index into hist while browsing
	browsing bool   // Up was pressed: text is hist's entry histAt
	draft    string // the new line put aside while browsing history

	comp *completion // active Tab completion; nil after any other key

	scroll int // first visible cell column (horizontal scrolling)
}

// inputHistory is the lines the user sent, oldest first, at most
// maxHistory. Indices are absolute (they count the lines dropped from the
// front too), so an editor browsing it keeps its place when another one
// adds a line.
type inputHistory struct {
	lines []string
	base  int // lines dropped from the front
}

// end is the absolute index after the newest line.
func (h *inputHistory) end() int { return h.base + len(h.lines) }

// at returns the line at absolute index i, which must be in [h.base, h.end()).
func (h *inputHistory) at(i int) string { return h.lines[i-h.base] }

// add appends s unless it repeats the newest line.
func (h *inputHistory) add(s string) {
	if n := len(h.lines); n > 0 && h.lines[n-1] == s {
		return
	}
	h.lines = append(h.lines, s)
	if len(h.lines) > maxHistory {
		drop := len(h.lines) - maxHistory
		h.lines = append([]string(nil), h.lines[drop:]...)
		h.base += drop
	}
}

// history returns the editor's history, made on first use.
func (e *lineEditor) history() *inputHistory {
	if e.hist == nil {
		e.hist = &inputHistory{}
	}
	return e.hist
}

// completion is the state of Tab completion between Tab presses.
type completion struct {
	start, end int      // byte range of the inserted candidate in text
	cands      []string // candidates, in display order
	idx        int      // candidate now inserted
	colon      bool     // candidates are nicks at line start: append ": "
}

// maxHistory bounds the input history.
const maxHistory = 500

// nextBoundary returns the byte offset of the grapheme-cluster boundary after i.
func nextBoundary(s string, i int) int {
	if i >= len(s) {
		return len(s)
	}
	c, _ := ansi.FirstGraphemeCluster(s[i:], ansi.GraphemeWidth)
	if len(c) == 0 {
		_, n := utf8.DecodeRuneInString(s[i:])
		return i + n
	}
	return i + len(c)
}

// prevBoundary returns the byte offset of the grapheme-cluster boundary before i.
func prevBoundary(s string, i int) int {
	p := 0
	for j := 0; j < i; {
		n := nextBoundary(s, j)
		if n >= i {
			return j
		}
		p, j = n, n
	}
	return p
}

// isSpaceAt reports whether the cluster starting at byte i is white space.
func isSpaceAt(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r)
}

// wordLeft returns the start of the word before i (emacs alt+b).
func wordLeft(s string, i int) int {
	for i > 0 {
		p := prevBoundary(s, i)
		if !isSpaceAt(s, p) {
			break
		}
		i = p
	}
	for i > 0 {
		p := prevBoundary(s, i)
		if isSpaceAt(s, p) {
			break
		}
		i = p
	}
	return i
}

// wordRight returns the end of the word after i (emacs alt+f).
func wordRight(s string, i int) int {
	for i < len(s) && isSpaceAt(s, i) {
		i = nextBoundary(s, i)
	}
	for i < len(s) && !isSpaceAt(s, i) {
		i = nextBoundary(s, i)
	}
	return i
}

// setText replaces the whole text and puts the cursor at its end.
func (e *lineEditor) setText(s string) {
	e.text = s
	e.cur = len(s)
}

// insert inserts s at the cursor. Control characters and escape sequences
// are removed and line breaks become spaces: the line is one line.
func (e *lineEditor) insert(s string) {
	s = Sanitize(s)
	if s == "" {
		return
	}
	e.text = e.text[:e.cur] + s + e.text[e.cur:]
	e.cur += len(s)
	// A combining mark typed after a letter joins its cluster: keep the
	// cursor on a boundary.
	e.cur = e.snap(e.cur)
}

// snap moves i to the nearest grapheme-cluster boundary at or after it.
func (e *lineEditor) snap(i int) int {
	j := 0
	for j < i {
		j = nextBoundary(e.text, j)
	}
	return j
}

// cut removes text[from:to] and remembers it for ctrl+y.
func (e *lineEditor) cut(from, to int) {
	if from >= to {
		return
	}
	e.kill = e.text[from:to]
	e.text = e.text[:from] + e.text[to:]
	e.cur = from
}

// submit returns the text, records it in the history and clears the line.
// A /join line with a passphrase is not recorded: the passphrase must not be
// kept.
func (e *lineEditor) submit() string {
	s := e.text
	if strings.TrimSpace(s) != "" && !hasPassphrase(s) {
		e.history().add(s)
	}
	e.browsing, e.draft = false, ""
	e.text, e.cur, e.comp, e.scroll = "", 0, nil, 0
	return s
}

// remember adds s to the history without touching the line (used for
// lines that were not typed, e.g. a message that failed to send).
func (e *lineEditor) remember(s string) {
	if s != "" {
		e.history().add(s)
	}
}

// historyUp shows the previous history line.
func (e *lineEditor) historyUp() {
	h := e.history()
	if !e.browsing {
		if h.end() == h.base {
			return
		}
		e.browsing, e.draft, e.histAt = true, e.text, h.end()
	}
	if e.histAt <= h.base {
		e.histAt = h.base
		e.setText(h.at(e.histAt))
		return
	}
	e.histAt--
	e.setText(h.at(e.histAt))
}

// historyDown shows the next history line, or the draft after the last one.
func (e *lineEditor) historyDown() {
	if !e.browsing {
		return
	}
	h := e.history()
	e.histAt = max(e.histAt+1, h.base)
	if e.histAt >= h.end() {
		e.browsing = false
		e.setText(e.draft)
		e.draft = ""
		return
	}
	e.setText(h.at(e.histAt))
}

// handleKey applies an editing key and reports whether it was one. keystroke
// is the key as [tea.Key.Keystroke] names it; text is what it types, if
// anything. complete supplies Tab completion candidates for a word prefix.
func (e *lineEditor) handleKey(keystroke, text string, complete func(prefix string, atStart bool) []string) bool {
	if keystroke != "tab" && keystroke != "shift+tab" {
		e.comp = nil
	}
	switch keystroke {
	case "left", "ctrl+b":
		e.cur = prevBoundary(e.text, e.cur)
	case "right", "ctrl+f":
		e.cur = nextBoundary(e.text, e.cur)
	case "ctrl+a":
		e.cur = 0
	case "ctrl+e":
		e.cur = len(e.text)
	case "alt+b", "alt+left", "ctrl+left":
		e.cur = wordLeft(e.text, e.cur)
	case "alt+f", "alt+right", "ctrl+right":
		e.cur = wordRight(e.text, e.cur)
	case "backspace", "ctrl+h":
		if e.cur > 0 {
			p := prevBoundary(e.text, e.cur)
			e.text = e.text[:p] + e.text[e.cur:]
			e.cur = p
		}
	case "delete", "ctrl+d":
		if e.cur < len(e.text) {
			n := nextBoundary(e.text, e.cur)
			e.text = e.text[:e.cur] + e.text[n:]
		}
	case "ctrl+w", "alt+backspace", "ctrl+backspace":
		e.cut(wordLeft(e.text, e.cur), e.cur)
	case "alt+d", "alt+delete", "ctrl+delete":
		e.cut(e.cur, wordRight(e.text, e.cur))
	case "ctrl+k":
		e.cut(e.cur, len(e.text))
	case "ctrl+u":
		e.cut(0, e.cur)
	case "ctrl+y":
		e.insert(e.kill)
	case "ctrl+t":
		// transpose the two characters before the cursor (at the end) or
		// around it, as emacs does
		if e.cur == len(e.text) && e.cur > 0 {
			e.cur = prevBoundary(e.text, e.cur)
		}
		if e.cur > 0 && e.cur < len(e.text) {
			a := prevBoundary(e.text, e.cur)
			b := nextBoundary(e.text, e.cur)
			e.text = e.text[:a] + e.text[e.cur:b] + e.text[a:e.cur] + e.text[b:]
			e.cur = b
		}
	case "up":
		e.historyUp()
	case "down":
		e.historyDown()
	case "tab":
		e.completeStep(1, complete)
	case "shift+tab":
		e.completeStep(-1, complete)
	case "space":
		e.insert(" ")
	default:
		if text == "" || strings.HasPrefix(keystroke, "ctrl+") || strings.HasPrefix(keystroke, "alt+") {
			return false
		}
		e.insert(text)
	}
	return true
}

// completeStep inserts the next (dir 1) or previous (dir -1) completion of
// the word before the cursor.
func (e *lineEditor) completeStep(dir int, complete func(prefix string, atStart bool) []string) {
	if e.comp == nil {
		start := e.cur
		for start > 0 {
			p := prevBoundary(e.text, start)
			if isSpaceAt(e.text, p) {
				break
			}
			start = p
		}
		atStart := strings.TrimSpace(e.text[:start]) == ""
		if complete == nil {
			return
		}
		cands := complete(e.text[start:e.cur], atStart)
		if len(cands) == 0 {
			return
		}
		c := &completion{start: start, end: e.cur, cands: cands, idx: -1}
		c.colon = atStart && !strings.HasPrefix(e.text[start:e.cur], "/")
		if dir < 0 {
			c.idx = 0
		}
		e.comp = c
	}
	c := e.comp
	c.idx = (c.idx + dir + len(c.cands)) % len(c.cands)
	word := c.cands[c.idx]
	switch {
	case c.colon:
		word += ": "
	case !strings.HasPrefix(e.text[c.end:], " "):
		word += " "
	}
	e.text = e.text[:c.start] + word + e.text[c.end:]
	c.end = c.start + len(word)
	e.cur = c.end
}

// fit updates the horizontal scroll so the cursor is visible in a field of
// width cells, measured with method.
func (e *lineEditor) fit(width int, method ansi.Method) {
	if width < 1 {
		e.scroll = 0
		return
	}
	text, cur := e.shown()
	total := method.StringWidth(text)
	if total < width {
		e.scroll = 0
		return
	}
	col := method.StringWidth(text[:cur])
	cw := 1
	if cur < len(text) {
		_, cw = ansi.FirstGraphemeCluster(text[cur:], method)
		cw = max(cw, 1)
	}
	if col < e.scroll {
		e.scroll = col
	}
	if col+cw > e.scroll+width {
		e.scroll = col + cw - width
	}
	// Don't leave empty space on the right when text was deleted.
	if e.scroll > 0 && total+1-e.scroll < width {
		e.scroll = max(0, total+1-width)
	}
}

// render returns the visible part of the text in a field of width cells and
// the cursor's column in it. It has no side effects: call fit first.
func (e *lineEditor) render(width int, method ansi.Method) (string, int) {
	if width < 1 {
		return "", 0
	}
	text, cur := e.shown()
	var b strings.Builder
	col, cursor := 0, 0
	end := e.scroll + width
	for i := 0; i < len(text); {
		if i == cur {
			cursor = col - e.scroll
		}
		c, w := ansi.FirstGraphemeCluster(text[i:], method)
		if len(c) == 0 {
			break
		}
		switch {
		case col >= e.scroll && col+w <= end:
			b.WriteString(c)
		case col < end && col+w > e.scroll:
			// a wide character cut by an edge: show the visible half blank
			b.WriteString(strings.Repeat(" ", min(col+w, end)-max(col, e.scroll)))
		}
		col += w
		i += len(c)
		if col >= end && i > cur {
			break
		}
	}
	if cur == len(text) {
		cursor = col - e.scroll
	}
	return b.String(), max(0, min(cursor, width-1))
}

// shown returns the text as the screen shows it, and the cursor in it: the
// passphrase of a /join line is drawn as one "*" per character, so it is
// never on the screen.
func (e *lineEditor) shown() (string, int) {
	p := joinPassphrase(e.text)
	if p < 0 || p >= len(e.text) {
		return e.text, e.cur
	}
	var b strings.Builder
	b.WriteString(e.text[:p])
	cur := e.cur
	for i := p; i < len(e.text); i = nextBoundary(e.text, i) {
		if i == e.cur {
			cur = b.Len()
		}
		b.WriteByte('*')
	}
	if e.cur >= len(e.text) {
		cur = b.Len()
	}
	return b.String(), cur
}
