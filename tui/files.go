package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"charm.land/bubbles/v2/progress"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"lanchat/node/chat"
)

// Files: the commands /send, /accept and /decline, how file events read
// as lines (both front ends), and the screen's transfers panel, a
// progress bar per transfer with its speed and time left.

// The usage of /send, also for its handler.
const (
	sendUsage   = "/send NICK|#ROOM PATH"
	sendExample = "/send bob ~/report.pdf"
)

// hashNoticeSize is the size from which /send says it is hashing the
// file: the offer goes out once the file is read for its hash, which for
// a big file not in the page cache takes seconds (a disk reads some 100
// to 500 MB a second), and meanwhile nothing else would show it.
const hashNoticeSize = 64 << 20

// shortID is how many characters of an offer's ID the lines show: enough
// to tell offers apart (/accept takes a unique prefix).
const shortID = 8

// cmdSend is /send NICK|#ROOM PATH.
func cmdSend(s *session, fe frontEnd, arg string) {
	target, path := splitWord(arg)
	if path == "" {
		fe.say(nil, lvError, "usage: "+sendUsage+", e.g. "+sendExample)
		return
	}
	path = expandHome(path)
	if strings.HasPrefix(target, "#") {
		rv := s.find(target)
		if rv == nil {
			fe.say(nil, lvError, fmt.Sprintf("you are not in %s, nothing was sent", clean(target)))
			return
		}
		hashNotice(fe, rv, path)
		fe.run(roomOp{kind: opOffer, rv: rv, text: path})
		return
	}
	id, label, err := s.resolvePeer(target)
	if err != nil {
		fe.say(nil, lvError, "cannot send to "+clean(target)+": "+clean(err.Error()))
		return
	}
	hashNotice(fe, nil, path)
	fe.run(roomOp{kind: opOffer, peer: id, pass: label, text: path})
}

// hashNotice says that the file at path is being read for its hash, if
// it is big enough for that to take a while. The offer is made beside
// the other calls (the front ends run opOffer on its own), so typing and
// the room go on meanwhile.
func hashNotice(fe frontEnd, rv *roomView, path string) {
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Size() >= hashNoticeSize {
		fe.say(rv, lvInfo, fmt.Sprintf("hashing %s (%s)…", clean(filepath.Base(path)), humanBytes(st.Size())))
	}
}

// expandHome expands a leading "~/" (or a lone "~") to the home directory.
func expandHome(path string) string {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		return path
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return path
	}
	return filepath.Join(home, path[1:])
}

// cmdAccept is /accept [ID].
func cmdAccept(s *session, fe frontEnd, arg string) {
	id, _ := splitWord(arg)
	fe.run(roomOp{kind: opAccept, text: id})
}

// cmdDecline is /decline [ID].
func cmdDecline(s *session, fe frontEnd, arg string) {
	id, _ := splitWord(arg)
	fe.run(roomOp{kind: opDecline, text: id})
}

// fileErrorText says why a file command failed.
func fileErrorText(op roomOp, err error) string {
	why := clean(strings.TrimPrefix(strings.TrimPrefix(err.Error(), "node: "), "chat: "))
	switch op.kind {
	case opOffer:
		to := "#" + clean(op.rv.nameOr(""))
		if op.rv == nil {
			to = clean(op.pass)
		}
		return fmt.Sprintf("cannot send %s to %s: %s", clean(filepath.Base(op.text)), to, why)
	case opAccept:
		return "cannot accept: " + why
	}
	return "cannot decline: " + why
}

// nameOr returns rv's name, or def for no room.
func (rv *roomView) nameOr(def string) string {
	if rv == nil {
		return def
	}
	return rv.name
}

// humanBytes says n bytes in decimal units: "512 B", "2.1 MB".
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// idText is the short form of an offer's ID that lines show.
func idText(id string) string {
	id = clean(id)
	if len(id) > shortID {
		return id[:shortID]
	}
	return id
}

// isFileKind reports whether k is one of the file events.
func isFileKind(k chat.EventKind) bool {
	switch k {
	case chat.KindFileOffer, chat.KindFileProgress, chat.KindFileDone, chat.KindFileFailed:
		return true
	}
	return false
}

// fileText is the line of a file event, without time stamp or prefix, as
// both front ends word it ("" for progress, which has no line); nick is
// the other side's label. Every string from the network is sanitised.
func fileText(e chat.Event, nick string) string {
	name := clean(e.Name)
	size := humanBytes(e.Size)
	switch e.Kind {
	case chat.KindFileOffer:
		switch {
		case e.Self && e.To != "":
			to := clean(showNick(e.ToNick))
			if to == "" {
				to = clean(e.To)
			}
			return fmt.Sprintf("you offer %s (%s) to %s", name, size, to)
		case e.Self:
			return fmt.Sprintf("you offer %s (%s) to the room", name, size)
		}
		return fmt.Sprintf("%s offers %s (%s) — /accept %s or /decline %s", nick, name, size, idText(e.ID), idText(e.ID))
	case chat.KindFileDone:
		if e.Self {
			return fmt.Sprintf("%s received %s (%s), verified", nick, name, size)
		}
		return fmt.Sprintf("received %s (%s) from %s, verified: %s", name, size, nick, clean(e.Path))
	case chat.KindFileFailed:
		why := clean(e.Text)
		if e.Self {
			if why == "declined" {
				return fmt.Sprintf("%s declined %s", nick, name)
			}
			return fmt.Sprintf("sending %s to %s failed: %s", name, nick, why)
		}
		if why == "declined" {
			return fmt.Sprintf("you declined %s from %s", name, nick)
		}
		return fmt.Sprintf("receiving %s from %s failed: %s", name, nick, why)
	}
	return ""
}

// plainFile is the plain line of a file event ("" for none): an offer
// like a chat line, "* …" for the others, "! …" for a failure.
func plainFile(e chat.Event, rv *roomView, now time.Time) string {
	text := fileText(e, rv.label(e.PeerID, e.Nick))
	switch {
	case text == "":
		return ""
	case e.Kind == chat.KindFileOffer && e.Room != "":
		t := e.Time
		if e.History && !e.Sent.IsZero() {
			t = e.Sent
		}
		if t.IsZero() {
			t = now
		}
		stamp := t.Format("15:04")
		if e.History {
			stamp = historyTime(t, now)
		}
		return fmt.Sprintf("[%s] * %s", stamp, text)
	case e.Kind == chat.KindFileFailed && e.Text != "declined":
		return "! " + text
	}
	return "* " + text
}

// Pace of the plain mode's progress lines: one when the transfer has
// moved on by another quarter and progressLineEvery has passed since the
// last one (or since it started), whichever comes later, so that a quick
// transfer prints its outcome only and a slow one a line now and then.
const progressLineEvery = 5 * time.Second

// plainProgress paces the plain progress lines; the zero value is ready.
type plainProgress struct {
	last map[progressKey]progressMark
}

// progressKey tells transfers apart: an offer to a room is sent to each
// member who accepts it.
type progressKey struct {
	id, peer string
	self     bool
}

// progressMark is where a transfer was at its last line, or its start.
type progressMark struct {
	at    time.Time
	bytes int64
}

func keyOf(e chat.Event) progressKey { return progressKey{e.ID, e.PeerID, e.Self} }

// line returns the plain line of progress event e, or "" while none is
// due: "* report.pdf from bob: 50% (52.4 MB of 104.9 MB), 21.0 MB/s",
// the speed since the last line.
func (p *plainProgress) line(e chat.Event, rv *roomView, now time.Time) string {
	at := e.Time
	if at.IsZero() {
		at = now
	}
	k := keyOf(e)
	last, ok := p.last[k]
	if !ok || e.Bytes < last.bytes { // the first, or it started again
		if p.last == nil {
			p.last = map[progressKey]progressMark{}
		}
		p.last[k] = progressMark{at, e.Bytes}
		return ""
	}
	if e.Size <= 0 || e.Bytes >= e.Size || e.Bytes*4/e.Size <= last.bytes*4/e.Size || at.Sub(last.at) < progressLineEvery {
		return ""
	}
	p.last[k] = progressMark{at, e.Bytes}
	speed := float64(e.Bytes-last.bytes) / at.Sub(last.at).Seconds()
	dir := "from"
	if e.Self {
		dir = "to"
	}
	return fmt.Sprintf("* %s %s %s: %d%% (%s of %s), %s/s", clean(e.Name), dir, rv.label(e.PeerID, e.Nick),
		e.Bytes*100/e.Size, humanBytes(e.Bytes), humanBytes(e.Size), humanBytes(int64(speed)))
}

// end forgets the transfer of e, which is done or failed.
func (p *plainProgress) end(e chat.Event) {
	if e.Kind == chat.KindFileDone || e.Kind == chat.KindFileFailed {
		delete(p.last, keyOf(e))
	}
}

// fileEvent shows a file event in the pane: offers as lines of the room
// (one from history in its batch), the outcome as a notice or error.
func (p *messages) fileEvent(e chat.Event, rv *roomView) {
	st := p.st
	text := fileText(e, rv.label(e.PeerID, e.Nick))
	switch {
	case text == "":
	case e.Kind == chat.KindFileOffer:
		kind := kindMessage
		if e.Self {
			kind = kindOwn
		}
		spans := []span{{"📎 ", nil}, {text, &st.action}}
		if e.History {
			p.historyLine(kind, e, spans)
			return
		}
		p.addLine(kind, e.Time, orderOf(e), e.ID, spans)
	case e.Kind == chat.KindFileFailed && e.Text != "declined":
		p.add(kindError, e.Time, span{"error: " + text, &st.errorText})
	default:
		p.add(kindNotice, e.Time, span{"-!- " + text, &st.notice})
	}
}

// Tunables of the transfers panel.
const (
	// panelRows is the most transfers the panel shows at once.
	panelRows = 3
	// panelLinger is how long a finished transfer stays in the panel.
	panelLinger = 8 * time.Second
	// panelTick is how often the panel is redrawn while it shows
	// something, for the time left and the lingering.
	panelTick = 500 * time.Millisecond
	// rateWindow is the span the speed is averaged over.
	rateWindow = 3 * time.Second
)

// transferRow is one transfer of the panel.
type transferRow struct {
	id, name, peer string // peer: the other side's ID
	nick           string // the other side's nick, raw
	send           bool   // we are the sender (to peer)
	size, bytes    int64
	samples        []sample // recent progress, for the speed
	ended          time.Time
	failed         string // why, once failed
}

type sample struct {
	at    time.Time
	bytes int64
}

// transfers is the screen's transfers panel.
type transfers struct {
	rows    []*transferRow
	ticking bool // a panelTick is pending
}

// fileTickMsg redraws the panel.
type fileTickMsg struct{}

// observe takes note of a file event at now; it returns a Cmd when the
// panel needs ticks from now on.
func (t *transfers) observe(e chat.Event, now time.Time) tea.Cmd {
	switch e.Kind {
	case chat.KindFileProgress, chat.KindFileDone, chat.KindFileFailed:
	default:
		return nil
	}
	r := t.find(e.ID, e.PeerID, e.Self)
	if r == nil {
		if e.Kind != chat.KindFileProgress {
			return nil // an outcome of nothing shown: a decline of an offer
		}
		r = &transferRow{id: e.ID, peer: e.PeerID, send: e.Self}
		t.rows = append(t.rows, r)
	}
	r.name, r.nick, r.size = e.Name, e.Nick, e.Size
	switch e.Kind {
	case chat.KindFileProgress:
		r.bytes = e.Bytes
		r.samples = append(r.samples, sample{now, e.Bytes})
		for len(r.samples) > 2 && now.Sub(r.samples[0].at) > rateWindow {
			r.samples = r.samples[1:]
		}
		r.ended, r.failed = time.Time{}, ""
	case chat.KindFileDone:
		r.bytes, r.ended = r.size, now
	case chat.KindFileFailed:
		r.ended, r.failed = now, e.Text
		if r.failed == "" {
			r.failed = "failed"
		}
	}
	return t.tick()
}

// find returns the row of transfer id with peer on our side send, or nil.
func (t *transfers) find(id, peer string, send bool) *transferRow {
	for _, r := range t.rows {
		if r.id == id && r.send == send && (!send || r.peer == peer) {
			return r
		}
	}
	return nil
}

// tick returns the Cmd of the next panelTick, unless one is pending or
// there is nothing to show.
func (t *transfers) tick() tea.Cmd {
	if t.ticking || len(t.rows) == 0 {
		return nil
	}
	t.ticking = true
	return tea.Tick(panelTick, func(time.Time) tea.Msg { return fileTickMsg{} })
}

// ticked handles a panelTick at now: it forgets transfers that ended
// panelLinger ago, and asks for the next tick while something is shown.
func (t *transfers) ticked(now time.Time) tea.Cmd {
	t.ticking = false
	t.prune(now)
	return t.tick()
}

// prune forgets the transfers that ended panelLinger before now.
func (t *transfers) prune(now time.Time) {
	kept := t.rows[:0]
	for _, r := range t.rows {
		if r.ended.IsZero() || now.Sub(r.ended) < panelLinger {
			kept = append(kept, r)
		}
	}
	clear(t.rows[len(kept):])
	t.rows = kept
}

// shown returns the rows the panel shows: running ones first, then the
// newest ended, at most panelRows.
func (t *transfers) shown() []*transferRow {
	var out []*transferRow
	for _, r := range t.rows {
		if r.ended.IsZero() {
			out = append(out, r)
		}
	}
	for i := len(t.rows) - 1; i >= 0; i-- {
		if !t.rows[i].ended.IsZero() {
			out = append(out, t.rows[i])
		}
	}
	return out[:min(len(out), panelRows)]
}

// height is how many rows the panel takes on a screen whose message pane
// would be paneH rows: at most panelRows, and never the pane's last row.
func (t *transfers) height(paneH int) int {
	return min(len(t.shown()), max(paneH-1, 0))
}

// rate returns the recent speed in bytes per second, 0 when unknown.
func (r *transferRow) rate() float64 {
	if len(r.samples) < 2 {
		return 0
	}
	a, b := r.samples[0], r.samples[len(r.samples)-1]
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(b.bytes-a.bytes) / d
}

// panelStyles are the panel's own colours.
var (
	barFull  = lipgloss.Color("6")
	barEmpty = lipgloss.Color("8")
)

// render draws the panel's rows, each width cells wide, for labels by
// lbl (the other side's label from its peer ID and nick).
func (t *transfers) render(st *screenStyles, width int, method ansi.Method, lbl func(peer, nick string) string) []string {
	rows := t.shown()
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.render(st, width, method, lbl(r.peer, r.nick)))
	}
	return out
}

// render draws one row: "⇣ report.pdf ← alice ███████░░░ 62%  11.2 MB/s  3s left".
func (r *transferRow) render(st *screenStyles, width int, method ansi.Method, who string) string {
	arrow, dir := "⇣", " ← "
	if r.send {
		arrow, dir = "⇡", " → "
	}
	pct := 1.0
	if r.size > 0 {
		pct = min(float64(r.bytes)/float64(r.size), 1)
	}
	var tail string
	switch {
	case r.failed != "":
		tail = " failed: " + clean(r.failed)
	case !r.ended.IsZero():
		tail = fmt.Sprintf(" %3.0f%%  done, verified", 100*pct)
	default:
		tail = fmt.Sprintf(" %3.0f%%  %s", 100*pct, speedText(r.rate(), r.size-r.bytes))
	}
	head := arrow + " " + clean(r.name) + dir + who + " "
	barW := min(40, width-method.StringWidth(head)-method.StringWidth(tail))
	if barW < 10 {
		// Too narrow for all: a short name, then the bar and the tail.
		head = method.Truncate(head, max(width/3, 4), "…")
		barW = width - method.StringWidth(head) - method.StringWidth(tail)
	}
	line := st.info.Render(head)
	if barW >= 5 {
		bar := progress.New(progress.WithWidth(barW), progress.WithoutPercentage(),
			progress.WithColors(barFull), progress.WithFillCharacters('█', '░'))
		bar.EmptyColor = barEmpty
		line += bar.ViewAs(pct)
	}
	tailSt := &st.dim
	if r.failed != "" {
		tailSt = &st.errorText
	}
	line += tailSt.Render(tail)
	return method.Truncate(line, width, "…")
}

// speedText says a speed and the time left at it: "11.2 MB/s  3s left".
func speedText(rate float64, left int64) string {
	if rate <= 0 {
		return "…"
	}
	eta := time.Duration(float64(left) / rate * float64(time.Second))
	return humanBytes(int64(rate)) + "/s  " + etaText(eta) + " left"
}

// etaText rounds a time left for reading: "3s", "1m20s", "2h05m".
func etaText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}
