package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"lanchat/node/chat"
)

// FuzzWrapSpans checks the wrapper on any text and width: no row is wider
// than the width, and no text is lost or reordered (only spaces at breaks).
func FuzzWrapSpans(f *testing.F) {
	for _, s := range []string{
		"hello world", "こんにちは世界！今日はいい天気ですね。", "e\u0301te\u0301 👍🏽 🇯🇵 👨‍👩‍👧",
		strings.Repeat("x", 200), "a  b   c    ", " leading", "mixed 日本語 and english words",
	} {
		f.Add(s, uint8(10), uint8(8))
		f.Add(s, uint8(1), uint8(0))
	}
	f.Fuzz(func(t *testing.T, text string, width, indent uint8) {
		text = clean(text)
		w := int(width%120) + 1
		spans := []span{{"[12:00] ", nil}, {text, nil}}
		for _, method := range []ansi.Method{ansi.WcWidth, ansi.GraphemeWidth} {
			rows := wrapSpans(spans, w, int(indent%20), method)
			widest := 0
			for s := text; s != ""; {
				c, cw := ansi.FirstGraphemeCluster(s, method)
				if len(c) == 0 {
					break
				}
				widest = max(widest, cw)
				s = s[len(c):]
			}
			var got strings.Builder
			for i, r := range rows {
				if r.w > w || method.StringWidth(r.s) != r.w {
					t.Fatalf("row %d %q: width %d (measured %d), limit %d", i, r.s, r.w, method.StringWidth(r.s), w)
				}
				got.WriteString(r.s)
			}
			if widest <= w-effectiveIndent(w, int(indent%20)) {
				noSpace := func(s string) string { return strings.ReplaceAll(s, " ", "") }
				if noSpace(got.String()) != noSpace("[12:00] "+text) {
					t.Fatalf("wrap at %d changed the text:\n got %q\nwant %q", w, got.String(), "[12:00] "+text)
				}
			}
		}
	})
}

// FuzzScreenEvent shows a peer's message, action, nick change and line
// from the log with any nick and text: only style sequences reach the terminal and every line
// fits the screen.
func FuzzScreenEvent(f *testing.F) {
	f.Add("bob", "hello")
	f.Add("\x1b[31mevil", "\x1b]0;title\x07\x1b[2J")
	f.Add("ゆき", "こんにちは世界 👍🏽 e\u0301")
	f.Add("a\u202eb", "\x9b2J\r\n\t")
	f.Fuzz(func(t *testing.T, nick, text string) {
		room := newScreenRoom("private")
		ts := newTestScreen(t, room, 50, 12)
		ts.events(
			chat.Event{Kind: chat.KindJoin, Time: testStart, PeerID: idBob, Nick: nick},
			chat.Event{Kind: chat.KindMessage, Time: testStart, PeerID: idBob, Nick: nick, Text: text},
			chat.Event{Kind: chat.KindMessage, Time: testStart, PeerID: nick, Nick: nick, Text: text, Action: true},
			chat.Event{Kind: chat.KindNick, Time: testStart, PeerID: idBob, Nick: text, OldNick: nick},
			chat.Event{Kind: chat.KindNotice, Time: testStart, Text: text},
			chat.Event{Kind: chat.KindMessage, Time: testStart, Sent: testStart.Add(-25 * time.Hour), ID: text, PeerID: idBob, Nick: nick, Text: text, History: true},
			chat.Event{Kind: chat.KindHistory, Time: testStart, PeerID: idBob, Count: 1},
		)
		for _, w := range []int{50, 70} {
			ts.update(tea.WindowSizeMsg{Width: w, Height: 12})
			checkOnlySGR(t, ts.m.View().Content)
			ts.screen()
		}
	})
}
