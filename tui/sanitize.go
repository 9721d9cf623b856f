package tui

import (
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// Sanitize makes text from the network safe to print on a terminal, as one line.
//
// Escape sequences (CSI, OSC such as titles and hyperlinks, DCS, …) are removed
// whole; any other C0 or C1 control character and DEL is dropped; tabs and line
// breaks become a space; bidirectional overrides and isolates are dropped so a
// peer cannot make text read in another order than it is stored. Invalid UTF-8
// becomes U+FFFD. Printable text, CJK, emoji and combining marks pass unchanged.
func Sanitize(s string) string {
	if isPlain(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = ansi.Strip(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			// control character: drop
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			// bidi embedding, override and isolate: drop
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isPlain reports whether s is valid printable ASCII or UTF-8 with no
// character that Sanitize would change; the common case costs one scan.
func isPlain(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		if (r >= 0x80 && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return false
		}
		i += size
	}
	return true
}
