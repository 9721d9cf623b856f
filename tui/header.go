package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// headerProps is what the header shows.
type headerProps struct {
	width  int
	method ansi.Method
	// room is the current room ("#lobby"), cleaned; "" in no room.
	room string
	// rooms is the room bar collapsed into the header when it has no row
	// of its own ("1/3 •2", see [compactRooms]); "" otherwise.
	rooms string
	open  bool // an open network: the header warns
	nick  string
	peers int // other live members of the current room
}

// header is the top bar: room, network, own nick, peer count. It is drawn
// in Update when its props change, so View only reads it.
type header struct {
	props headerProps
	line  string
}

// set redraws the header if p differs from what it shows.
func (h *header) set(st *screenStyles, p headerProps) {
	if p == h.props && h.line != "" {
		return
	}
	h.props, h.line = p, renderHeader(st, p)
}

// renderHeader draws the header for p: the longest variant that fits. When
// even the shortest does not, the room's name gives way first ("#日本語の…
// 1/3 •2@ · open · 1 peer"), so the other rooms' unread marker and the
// open network's warning stay in sight.
func renderHeader(st *screenStyles, p headerProps) string {
	peers := fmt.Sprintf("%d peers", p.peers)
	if p.peers == 1 {
		peers = "1 peer"
	}
	join := func(parts ...string) string { return " " + strings.Join(parts, " · ") + " " }
	variants := func(room string) []string {
		if room == "" {
			room = "no room"
		}
		if p.rooms != "" {
			room += " " + p.rooms
		}
		if p.open {
			return []string{
				join("lanchat", room, "open network — anyone on this LAN can join", p.nick, peers),
				join(room, "open network — anyone on this LAN can join", p.nick, peers),
				join(room, "open: anyone on LAN can join", p.nick, peers),
				join(room, "open network", p.nick, peers),
				join(room, "open", p.nick, peers),
				join(room, "open", peers),
			}
		}
		return []string{
			join("lanchat", room, "🔒 private", p.nick, peers),
			join(room, "🔒 private", p.nick, peers),
			join(room, "🔒", p.nick, peers),
			join(room, "🔒", peers),
		}
	}
	texts := variants(p.room)
	if over := p.method.StringWidth(texts[len(texts)-1]) - p.width; over > 0 && p.room != "" {
		if w := p.method.StringWidth(p.room) - over; w >= 3 {
			texts = variants(p.method.Truncate(p.room, w, "…"))
		}
	}
	style := &st.header
	if p.open {
		style = &st.headerOpen
	}
	return style.Render(padTo(p.method, fitText(p.method, p.width, texts...), p.width))
}
