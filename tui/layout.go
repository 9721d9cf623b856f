package tui

// Tunables of the screen's layout.
const (
	// sidebarMinWidth is the terminal width below which the member list is
	// hidden.
	sidebarMinWidth = 60
	// roomBarMinHeight is the terminal height below which the room bar
	// gives its row back to the messages and collapses into the header
	// ("#lobby 1/3 •2").
	roomBarMinHeight = 12
)

// layout is where things go for one terminal size.
type layout struct {
	header, bar, status bool
	paneH, paneW        int
	sideW               int // member list width; 0 = hidden
}

// computeLayout lays out a w×h screen: header, room bar (when wanted and
// there is room), message pane with the member list on its right, status
// line, input line. Rows are given up from the least important first as the
// terminal gets smaller; nothing is negative.
func computeLayout(w, h int, wantBar bool) layout {
	var l layout
	if w <= 0 || h <= 0 {
		return l
	}
	l.header = h >= 2
	l.status = h >= 4
	l.bar = wantBar && h >= roomBarMinHeight
	l.paneH = h - 1
	for _, row := range []bool{l.header, l.status, l.bar} {
		if row {
			l.paneH--
		}
	}
	l.paneW = w
	if w >= sidebarMinWidth {
		l.sideW = min(24, max(14, w/6))
		l.paneW = w - l.sideW - 2 // a space and the separator between
	}
	return l
}
