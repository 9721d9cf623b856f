package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// editorState shows text with a | at the cursor.
func editorState(e *lineEditor) string {
	return e.text[:e.cur] + "|" + e.text[e.cur:]
}

func TestLineEditorKeys(t *testing.T) {
	tests := []struct {
		name  string
		start string // text with | at the cursor
		keys  []string
		want  string
	}{
		{"type", "|", []string{"h", "i"}, "hi|"},
		{"type space", "a|", []string{"space", "b"}, "a b|"},
		{"ctrl+a ctrl+e", "hello|", []string{"ctrl+a", "X", "ctrl+e", "Y"}, "XhelloY|"},
		{"left right", "abc|", []string{"left", "left", "ctrl+b", "ctrl+f", "right"}, "ab|c"},
		{"backspace", "abc|", []string{"backspace", "ctrl+h"}, "a|"},
		{"delete", "|abc", []string{"delete", "ctrl+d"}, "|c"},
		{"delete at end", "abc|", []string{"delete"}, "abc|"},
		{"ctrl+k", "hello |world", []string{"ctrl+k"}, "hello |"},
		{"ctrl+u", "hello |world", []string{"ctrl+u"}, "|world"},
		{"ctrl+w", "one two three|", []string{"ctrl+w"}, "one two |"},
		{"ctrl+w spaces", "one two   |", []string{"ctrl+w"}, "one |"},
		{"ctrl+w then ctrl+y", "one two|", []string{"ctrl+w", "ctrl+a", "ctrl+y"}, "two|one "},
		{"alt+b alt+f", "one two three|", []string{"alt+b", "alt+b", "alt+f"}, "one two| three"},
		{"alt+d", "one |two three", []string{"alt+d"}, "one | three"},
		{"ctrl+t", "ab|", []string{"ctrl+t"}, "ba|"},
		{"ctrl+t middle", "a|bc", []string{"ctrl+t"}, "ba|c"},
		{"combining mark is one character", "e\u0301|", []string{"backspace"}, "|"},
		{"type combining mark", "e|", []string{"\u0301", "left"}, "|e\u0301"},
		{"emoji with skin tone", "a👍🏽|b", []string{"left", "right", "backspace"}, "a|b"},
		{"zwj family", "👨‍👩‍👧|", []string{"left", "X"}, "X|👨‍👩‍👧"},
		{"japanese", "日本語|", []string{"left", "backspace"}, "日|語"},
		{"ime commit", "|", []string{"こんにちは"}, "こんにちは|"},
		{"paste strips escapes", "|", []string{"a\x1b[2Jb\tc"}, "ab c|"},
		{"unknown ctrl key ignored", "a|", []string{"ctrl+o"}, "a|"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e lineEditor
			before, after, _ := strings.Cut(tt.start, "|")
			e.text, e.cur = before+after, len(before)
			for _, k := range tt.keys {
				msg := keyMsg(k)
				e.handleKey(msg.Keystroke(), msg.Text, nil)
			}
			if got := editorState(&e); got != tt.want {
				t.Errorf("keys %q on %q = %q, want %q", tt.keys, tt.start, got, tt.want)
			}
		})
	}
}

func TestLineEditorHistory(t *testing.T) {
	var e lineEditor
	for _, l := range []string{"one", "two", "two", "three"} {
		e.setText(l)
		e.submit()
	}
	e.insert("draft")
	press := func(k string) string {
		e.handleKey(k, "", nil)
		return e.text
	}
	steps := []struct{ key, want string }{
		{"up", "three"}, {"up", "two"}, {"up", "one"}, {"up", "one"},
		{"down", "two"}, {"down", "three"}, {"down", "draft"}, {"down", "draft"},
		{"up", "three"}, {"down", "draft"},
		// Ctrl-P and Ctrl-N switch rooms: the screen takes them first.
		{"ctrl+p", "draft"}, {"ctrl+n", "draft"},
	}
	for i, s := range steps {
		if got := press(s.key); got != s.want {
			t.Fatalf("step %d: %s = %q, want %q (history %q)", i, s.key, got, s.want, e.hist.lines)
		}
	}
}

func TestLineEditorCompletion(t *testing.T) {
	nicks := []string{"alice", "albert", "bob", "ゆき"}
	complete := func(prefix string, atStart bool) []string {
		var out []string
		for _, n := range nicks {
			if strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
		}
		return out
	}
	tests := []struct {
		name  string
		start string
		keys  []string
		want  string
	}{
		{"at start adds colon", "al|", []string{"tab"}, "alice: |"},
		{"cycles", "al|", []string{"tab", "tab"}, "albert: |"},
		{"wraps around", "al|", []string{"tab", "tab", "tab"}, "alice: |"},
		{"backwards", "al|", []string{"shift+tab"}, "albert: |"},
		{"mid line", "hi b|", []string{"tab"}, "hi bob |"},
		{"before text", "hi b| there", []string{"tab"}, "hi bob| there"},
		{"japanese nick", "ゆ|", []string{"tab"}, "ゆき: |"},
		{"no match", "zz|", []string{"tab"}, "zz|"},
		{"typing ends completion", "al|", []string{"tab", "x", "tab"}, "alice: x|"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e lineEditor
			before, after, _ := strings.Cut(tt.start, "|")
			e.text, e.cur = before+after, len(before)
			for _, k := range tt.keys {
				msg := keyMsg(k)
				e.handleKey(msg.Keystroke(), msg.Text, complete)
			}
			if got := editorState(&e); got != tt.want {
				t.Errorf("keys %q on %q = %q, want %q", tt.keys, tt.start, got, tt.want)
			}
		})
	}
}

// TestLineEditorScroll types long Japanese text into narrow fields and
// checks that the visible part fits, the cursor is inside the field and on
// the cell after the character before it.
func TestLineEditorScroll(t *testing.T) {
	text := "日本語の長い文章を入力するとき、カーソルは正しい位置に表示されなければならない。mixed ascii と 漢字 🍣"
	for _, method := range []ansi.Method{ansi.WcWidth, ansi.GraphemeWidth} {
		for width := 1; width <= 30; width++ {
			var e lineEditor
			check := func(when string) {
				e.fit(width, method)
				vis, cx := e.render(width, method)
				if w := method.StringWidth(vis); w > width {
					t.Fatalf("width %d %s: visible %q is %d cells", width, when, vis, w)
				}
				if cx < 0 || cx >= width {
					t.Fatalf("width %d %s: cursor %d outside the field", width, when, cx)
				}
				if width >= 4 {
					// the cursor column is the width of the visible text before it
					col := method.StringWidth(e.text[:e.cur]) - e.scroll
					if cx != col {
						t.Fatalf("width %d %s: cursor at %d, text before it is %d cells (%q)", width, when, cx, col, vis)
					}
				}
			}
			for _, r := range text {
				e.insert(string(r))
				check("typing")
			}
			for range len([]rune(text)) {
				e.handleKey("left", "", nil)
				check("moving left")
			}
			for range 10 {
				e.handleKey("alt+f", "", nil)
				check("word right")
			}
			e.handleKey("ctrl+a", "", nil)
			e.handleKey("ctrl+k", "", nil)
			check("killed")
			if e.scroll != 0 {
				t.Fatalf("width %d: empty line scrolled by %d", width, e.scroll)
			}
		}
	}
}
