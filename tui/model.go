package tui

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"lanchat/node"
)

// Tunables of the screen.
const (
	// maxEventBatch is how many queued room events one Update takes at
	// most. Taking them in batches keeps a burst from costing one render
	// each while a key press still waits for at most one batch.
	maxEventBatch = 256
	// pasteConfirmOver is the number of pasted lines above which the user
	// is asked before they are sent as that many messages.
	pasteConfirmOver = 5
	// sidebarMinWidth is the terminal width below which the member list is
	// hidden.
	sidebarMinWidth = 60
	// wheelRows is how many rows one mouse wheel step scrolls.
	wheelRows = 3
	// timeIndent is the width of "[15:04] ": wrapped rows line up after it.
	timeIndent = 8
)

// Messages into Update from Cmds.
type (
	// roomEventsMsg carries room events taken from Room.Events in order.
	roomEventsMsg struct {
		events []node.Event
		closed bool // the channel was closed after these events
	}
	// opsDoneMsg reports the outcome of room calls made by a Cmd.
	opsDoneMsg struct{ results []opResult }
	// ctxDoneMsg says RunScreen's context was cancelled.
	ctxDoneMsg struct{}
)

// opKind names a call into the room.
type opKind uint8

const (
	opSend opKind = iota
	opAction
	opNick
)

// roomOp is one queued call into the room. Calls run one at a time, in
// order, outside Update, so a slow room never blocks the screen and a
// "/nick" typed before a line takes effect before it.
type roomOp struct {
	kind opKind
	text string
}

// opResult is a finished roomOp.
type opResult struct {
	op  roomOp
	err error
}

// roomCalls tracks Cmds that call into the room so RunScreen can wait for
// them before it returns and the caller closes the room.
type roomCalls struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// begin reports whether a call may start; if so the caller must call end.
func (c *roomCalls) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	return true
}

// end marks a call finished.
func (c *roomCalls) end() { c.wg.Done() }

// closeAndWait refuses new calls and waits for running ones.
func (c *roomCalls) closeAndWait() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
}

// screenConfig is what RunScreen and tests set up.
type screenConfig struct {
	now  func() time.Time // clock for lines the screen makes itself
	done <-chan struct{}  // closed when the program is over; ends waiting Cmds
}

// layout is where things go for one terminal size.
type layout struct {
	header, status bool
	paneH, paneW   int
	sideW          int // member list width; 0 = hidden
}

// computeLayout lays out a w×h screen: header, message pane with the member
// list on its right, status line, input line. Rows are given up from the
// least important first as the terminal gets smaller; nothing is negative.
func computeLayout(w, h int) layout {
	var l layout
	if w <= 0 || h <= 0 {
		return l
	}
	l.header = h >= 2
	l.status = h >= 4
	l.paneH = h - 1
	if l.header {
		l.paneH--
	}
	if l.status {
		l.paneH--
	}
	l.paneW = w
	if w >= sidebarMinWidth {
		l.sideW = min(24, max(14, w/6))
		l.paneW = w - l.sideW - 2 // a space and the separator between
	}
	return l
}

// screenModel is the full-screen chat's bubbletea model. All its state is
// changed only by Update; View reads it.
type screenModel struct {
	room  Room
	info  node.Info
	nick  string // own nick, sanitised
	now   func() time.Time
	done  <-chan struct{}
	calls *roomCalls
	st    *screenStyles

	width, height int
	method        ansi.Method // cell width method of the renderer
	lay           layout

	sb       scrollback
	lastDay  int // yyyymmdd of the newest dated entry; 0 = none yet
	stamp    string
	stampMin int64 // Unix minute of stamp
	stampLoc *time.Location

	members   []node.Member // roster snapshot, sorted
	labels    map[string]string
	rosterGen int // counts roster snapshots

	chrome chrome

	input        lineEditor
	pendingPaste []string // lines waiting for the user's OK

	queue    []roomOp
	inflight bool
	quitting bool
	exitErr  error // returned by RunScreen when the room went away
}

// newScreenModel builds the model for r. It calls r.Info and r.Members.
func newScreenModel(r Room, cfg screenConfig) *screenModel {
	if cfg.now == nil {
		cfg.now = time.Now
	}
	m := &screenModel{
		room:  r,
		info:  r.Info(),
		now:   cfg.now,
		done:  cfg.done,
		calls: &roomCalls{},
		st:    newScreenStyles(),
	}
	m.nick = clean(m.info.Nick)
	m.sb.follow = true
	m.sb.width = 1
	m.refreshRoster()
	m.welcome()
	m.refreshChrome()
	return m
}

// Init starts waiting for room events.
func (m *screenModel) Init() tea.Cmd {
	return m.waitEvents()
}

// waitEvents returns a Cmd that blocks until the room has events and takes
// up to maxEventBatch of them. Update re-arms it after each batch.
func (m *screenModel) waitEvents() tea.Cmd {
	ch, done := m.room.Events(), m.done
	return func() tea.Msg {
		var evs []node.Event
		select {
		case e, ok := <-ch:
			if !ok {
				return roomEventsMsg{closed: true}
			}
			evs = append(evs, e)
		case <-done:
			return nil
		}
		for len(evs) < maxEventBatch {
			select {
			case e, ok := <-ch:
				if !ok {
					return roomEventsMsg{events: evs, closed: true}
				}
				evs = append(evs, e)
			default:
				return roomEventsMsg{events: evs}
			}
		}
		return roomEventsMsg{events: evs}
	}
}

// Update applies one message.
func (m *screenModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
	case tea.ModeReportMsg:
		// The terminal measures grapheme clusters (mode 2027): so does the
		// renderer from now on, and so must the layout.
		if msg.Mode == ansi.ModeUnicodeCore &&
			(msg.Value == ansi.ModeSet || msg.Value == ansi.ModeReset || msg.Value == ansi.ModePermanentlySet) {
			m.method = ansi.GraphemeWidth
			m.resize(m.width, m.height)
		}
	case roomEventsMsg:
		cmd = m.roomEvents(msg)
	case opsDoneMsg:
		cmd = m.opsDone(msg)
	case ctxDoneMsg:
		cmd = tea.Quit
	case tea.KeyPressMsg:
		cmd = m.key(msg)
	case tea.PasteMsg:
		cmd = m.paste(msg.Content)
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			m.sb.scroll(-wheelRows, m.lay.paneH)
		case tea.MouseWheelDown:
			m.sb.scroll(wheelRows, m.lay.paneH)
		}
	}
	m.sb.prepare(m.lay.paneH)
	m.input.fit(m.inputWidth(), m.method)
	m.refreshChrome()
	return m, cmd
}

// resize lays the screen out for w×h.
func (m *screenModel) resize(w, h int) {
	m.width, m.height = max(w, 0), max(h, 0)
	m.lay = computeLayout(m.width, m.height)
	m.sb.resize(m.lay.paneW, m.method, m.lay.paneH)
}

// roomEvents shows a batch of room events.
func (m *screenModel) roomEvents(msg roomEventsMsg) tea.Cmd {
	rosterChanged := false
	for _, e := range msg.events {
		switch e.Type {
		case node.EventJoin, node.EventLeave, node.EventNick:
			rosterChanged = true
		}
	}
	// One snapshot serves the whole batch; it is at least as new as any
	// event in it.
	if rosterChanged {
		m.refreshRoster()
	}
	for _, e := range msg.events {
		m.event(e)
	}
	if msg.closed {
		m.addLine(kindError, m.now(), span{"the room was closed", &m.st.errorText})
		if m.exitErr == nil && !m.quitting {
			m.exitErr = fmt.Errorf("screen: %w", node.ErrClosed)
		}
		return tea.Quit
	}
	return m.waitEvents()
}

// refreshRoster takes a new roster snapshot and works out display labels:
// a nick shared by several members gets a short peer-ID suffix.
func (m *screenModel) refreshRoster() {
	ms := m.room.Members()
	members := make([]node.Member, len(ms))
	copy(members, ms)
	slices.SortStableFunc(members, func(a, b node.Member) int {
		if c := strings.Compare(strings.ToLower(a.Nick), strings.ToLower(b.Nick)); c != 0 {
			return c
		}
		return strings.Compare(a.PeerID, b.PeerID)
	})
	count := make(map[string]int, len(members))
	for _, mb := range members {
		count[mb.Nick]++
	}
	labels := make(map[string]string, len(members))
	for _, mb := range members {
		l := clean(mb.Nick)
		if count[mb.Nick] > 1 {
			l += "#" + shortID(mb.PeerID)
		}
		labels[mb.PeerID] = l
	}
	m.members, m.labels = members, labels
	m.rosterGen++
}

// clean makes remote text safe to show (see [Sanitize]) and keeps it from
// joining the text around it into one character: text that starts with a
// combining mark, a zero-width joiner or an emoji modifier gets a space to
// sit on, and text that ends with a prepended mark gets a space after it.
// The screen measures its spans one by one, as the terminal draws them.
func clean(s string) string {
	s = Sanitize(s)
	if s == "" {
		return s
	}
	if c, _ := ansi.FirstGraphemeCluster("a"+s, ansi.GraphemeWidth); len(c) > 1 {
		s = " " + s
	}
	// Does the end join a following "a"? Looking at the last 64 bytes is
	// enough: only the last cluster matters.
	i := max(0, len(s)-64)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	last := ""
	for t := s[i:] + "a"; t != ""; {
		c, _ := ansi.FirstGraphemeCluster(t, ansi.GraphemeWidth)
		if len(c) == 0 {
			break
		}
		last, t = c, t[len(c):]
	}
	if last != "a" {
		s += " "
	}
	return s
}

// shortID returns the last 4 characters of a peer ID, sanitised.
func shortID(id string) string {
	id = clean(id)
	r := []rune(id)
	if len(r) > 4 {
		r = r[len(r)-4:]
	}
	return string(r)
}

// label returns how to show the member peerID called nick: the nick, with a
// peer-ID suffix when another member in the roster has the same nick.
func (m *screenModel) label(peerID, nick string) string {
	for _, mb := range m.members {
		if mb.Nick == nick && mb.PeerID != peerID {
			return clean(nick) + "#" + shortID(peerID)
		}
	}
	return clean(nick)
}

// nickColor returns the palette index of a peer: a hash of its ID, so a
// member keeps its colour across nick changes and sessions.
func nickColor(peerID string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(peerID))
	return int(h.Sum32() % uint32(n))
}

// dayKey returns t's date as yyyymmdd in t's location.
func dayKey(t time.Time) int {
	y, mo, d := t.Date()
	return y*10000 + int(mo)*100 + d
}

// addLine appends a timestamped entry made of spans, preceded by a
// day-change line when the date changed since the previous entry.
func (m *screenModel) addLine(kind entryKind, t time.Time, spans ...span) {
	if t.IsZero() {
		t = m.now()
	}
	if k := dayKey(t); k != m.lastDay {
		if m.lastDay != 0 {
			m.sb.add(entry{kind: kindDay, spans: []span{{
				"─── " + t.Format("Monday, 2 January 2006") + " ───", &m.st.day,
			}}})
		}
		m.lastDay = k
	}
	if min := t.Unix() / 60; min != m.stampMin || t.Location() != m.stampLoc || m.stamp == "" {
		// one string per minute, shared by the lines of that minute
		m.stamp, m.stampMin, m.stampLoc = "["+t.Format("15:04")+"] ", min, t.Location()
	}
	all := make([]span, 0, len(spans)+1)
	all = append(all, span{m.stamp, &m.st.time})
	all = append(all, spans...)
	m.sb.add(entry{kind: kind, spans: all, indent: timeIndent})
}

// info adds command output lines.
func (m *screenModel) infoLines(lines ...string) {
	t := m.now()
	for _, l := range lines {
		m.addLine(kindInfo, t, span{l, &m.st.info})
	}
}

// errorLine adds an error line.
func (m *screenModel) errorLine(text string) {
	m.addLine(kindError, m.now(), span{"error: " + text, &m.st.errorText})
}

// welcome adds the first lines of the session.
func (m *screenModel) welcome() {
	room := clean(m.info.Room)
	m.infoLines(fmt.Sprintf("Welcome to #%s, %s. Type /help for commands, :end to leave.", room, m.nick))
	t := m.now()
	if m.open() {
		m.addLine(kindNotice, t, span{openText, &m.st.warn})
		return
	}
	m.addLine(kindNotice, t, span{"🔒 private network, key fingerprint " + clean(m.info.Fingerprint) + " (/key)", &m.st.notice})
}

// open reports whether this node is on an open network (no key).
func (m *screenModel) open() bool {
	return m.info.Network != node.NetworkPrivate
}

// event shows one room event.
func (m *screenModel) event(e node.Event) {
	st := m.st
	switch e.Type {
	case node.EventMessage:
		lbl := m.label(e.PeerID, e.Nick)
		c := nickColor(e.PeerID, len(st.nicks))
		text := clean(e.Text)
		kind, nickSt := kindMessage, &st.nicks[c]
		var body *paint
		if e.Self {
			kind, nickSt = kindOwn, &st.ownNicks[c]
			body = &st.ownText
		} else if mentions(text, m.nick) {
			body = &st.mention
		}
		if e.Action {
			m.addLine(kind, e.Time, span{"* ", &st.action}, span{lbl, nickSt}, span{" " + text, body})
		} else {
			m.addLine(kind, e.Time, span{"<", nil}, span{lbl, nickSt}, span{"> ", nil}, span{text, body})
		}
		if !e.Self {
			return
		}
		// The roster snapshot is as new as this batch of events, so it
		// tells whether anyone was there to receive the message.
		if notice, alone := aloneText(m.members); alone {
			m.addLine(kindPresence, e.Time, span{"-- " + notice, &st.dim})
		}
	case node.EventJoin:
		if e.Self {
			return // the welcome line said it
		}
		lbl := m.label(e.PeerID, e.Nick)
		m.addLine(kindPresence, e.Time, span{"--> ", &st.dim}, span{lbl, &st.dimNicks[nickColor(e.PeerID, len(st.nicks))]}, span{" joined", &st.dim})
	case node.EventLeave:
		lbl := m.label(e.PeerID, e.Nick)
		why := " left (quit)"
		if e.Reason == node.ReasonLost {
			why = " was lost (no answer)"
		}
		m.addLine(kindPresence, e.Time, span{"<-- ", &st.dim}, span{lbl, &st.dimNicks[nickColor(e.PeerID, len(st.nicks))]}, span{why, &st.dim})
	case node.EventNick:
		if e.Self {
			m.nick = clean(e.Nick)
			m.addLine(kindPresence, e.Time, span{"-- you are now known as ", &st.dim}, span{m.nick, &st.dimNicks[nickColor(e.PeerID, len(st.nicks))]})
			return
		}
		m.addLine(kindPresence, e.Time, span{"-- " + clean(e.OldNick) + " is now known as ", &st.dim},
			span{m.label(e.PeerID, e.Nick), &st.dimNicks[nickColor(e.PeerID, len(st.nicks))]})
	case node.EventNotice:
		m.addLine(kindNotice, e.Time, span{"-!- " + clean(e.Text), &st.notice})
	case node.EventError:
		m.addLine(kindError, e.Time, span{"error: " + clean(e.Text), &st.errorText})
	}
}

// mentions reports whether text names our nick as a word of its own
// (any case): "alice:" and "hi Alice!" do, "malice" does not.
func mentions(text, nick string) bool {
	if nick == "" {
		return false
	}
	text, nick = strings.ToLower(text), strings.ToLower(nick)
	for i := 0; ; {
		j := strings.Index(text[i:], nick)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(nick)
		before, _ := utf8.DecodeLastRuneInString(text[:start])
		after, _ := utf8.DecodeRuneInString(text[end:])
		if !isWordRune(before) && !isWordRune(after) {
			return true
		}
		i = start + 1
	}
}

// isWordRune reports whether r continues a word. Scripts written without
// spaces (Han, kana, Hangul) have no word boundaries to look for: "ゆきさん"
// mentions ゆき.
func isWordRune(r rune) bool {
	if r == utf8.RuneError || unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
		return false
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_'
}

// opsDone reports failed room calls and starts the next queued ones.
func (m *screenModel) opsDone(msg opsDoneMsg) tea.Cmd {
	m.inflight = false
	for _, r := range msg.results {
		if r.err == nil {
			continue
		}
		switch {
		case r.op.kind == opNick:
			m.errorLine(nickErrorText(r.op.text, r.err))
		case errors.Is(r.err, node.ErrTooLong):
			m.input.remember(r.op.text)
			m.errorLine(fmt.Sprintf("message too long, not sent: the limit is %d bytes (press Up to edit it)", node.MaxTextBytes))
		case errors.Is(r.err, node.ErrClosed):
			m.errorLine("not sent: the room is closed")
		default:
			m.input.remember(r.op.text)
			m.errorLine("not sent: " + clean(r.err.Error()))
		}
	}
	if cmd := m.startOps(); cmd != nil {
		return cmd
	}
	if m.quitting {
		return tea.Quit
	}
	return nil
}

// enqueue queues room calls and starts them unless calls are running.
func (m *screenModel) enqueue(ops ...roomOp) tea.Cmd {
	m.queue = append(m.queue, ops...)
	return m.startOps()
}

// startOps runs all queued room calls in order in one Cmd.
func (m *screenModel) startOps() tea.Cmd {
	if m.inflight || len(m.queue) == 0 {
		return nil
	}
	ops := m.queue
	m.queue = nil
	m.inflight = true
	room, calls := m.room, m.calls
	return func() tea.Msg {
		if !calls.begin() {
			return nil
		}
		defer calls.end()
		res := make([]opResult, 0, len(ops))
		for _, op := range ops {
			var err error
			switch op.kind {
			case opSend:
				err = room.Send(op.text)
			case opAction:
				err = room.Action(op.text)
			case opNick:
				err = room.SetNick(op.text)
			}
			res = append(res, opResult{op, err})
		}
		return opsDoneMsg{res}
	}
}

// quit leaves gracefully once queued room calls are done.
func (m *screenModel) quit() tea.Cmd {
	m.quitting = true
	if m.inflight || len(m.queue) > 0 {
		return m.startOps()
	}
	return tea.Quit
}

// inputWidth is the width of the input field after the prompt.
func (m *screenModel) inputWidth() int {
	return max(m.width-m.method.StringWidth(inputPrompt), 1)
}

// key handles a key press.
func (m *screenModel) key(k tea.KeyPressMsg) tea.Cmd {
	ks := k.Keystroke()
	if ks == "ctrl+c" {
		if m.quitting {
			return tea.Quit // a second Ctrl-C does not wait
		}
		return m.quit()
	}
	if m.quitting {
		return nil
	}
	page := max(1, m.lay.paneH-1)
	switch ks {
	case "pgup":
		m.sb.scroll(-page, m.lay.paneH)
		return nil
	case "pgdown":
		m.sb.scroll(page, m.lay.paneH)
		return nil
	case "shift+up":
		m.sb.scroll(-1, m.lay.paneH)
		return nil
	case "shift+down":
		m.sb.scroll(1, m.lay.paneH)
		return nil
	case "home", "ctrl+home":
		m.sb.toTop(m.lay.paneH)
		return nil
	case "end", "ctrl+end":
		m.sb.toBottom()
		return nil
	case "ctrl+l":
		return tea.ClearScreen
	}
	if m.pendingPaste != nil {
		switch ks {
		case "enter":
			lines := m.pendingPaste
			m.pendingPaste = nil
			return m.sendLines(lines)
		case "esc", "ctrl+g":
			m.infoLines(fmt.Sprintf("paste of %d lines cancelled", len(m.pendingPaste)))
			m.pendingPaste = nil
		}
		return nil
	}
	switch {
	case ks == "enter":
		return m.submit(m.input.submit())
	case ks == "ctrl+d" && m.input.text == "":
		return m.quit() // end of input, as in a shell
	}
	m.input.handleKey(ks, k.Text, m.complete)
	return nil
}

// complete returns Tab completions of prefix: nicks, or commands at the
// start of the line.
func (m *screenModel) complete(prefix string, atStart bool) []string {
	var out []string
	lp := strings.ToLower(prefix)
	if atStart && strings.HasPrefix(prefix, "/") {
		for _, c := range commandNames {
			if strings.HasPrefix(c, lp) {
				out = append(out, c)
			}
		}
		return out
	}
	seen := map[string]bool{}
	for _, mb := range m.members {
		n := clean(mb.Nick)
		if mb.Self || seen[n] || !strings.HasPrefix(strings.ToLower(n), lp) {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}

// sendLines queues lines as chat messages, in order, and shows the newest
// messages.
func (m *screenModel) sendLines(lines []string) tea.Cmd {
	ops := make([]roomOp, 0, len(lines))
	for _, l := range lines {
		ops = append(ops, roomOp{opSend, l})
	}
	m.sb.toBottom()
	return m.enqueue(ops...)
}

// paste handles bracketed paste: one line goes into the input line; several
// lines are sent as separate messages, after asking when there are many.
func (m *screenModel) paste(content string) tea.Cmd {
	if m.quitting || m.pendingPaste != nil {
		return nil
	}
	content = strings.ReplaceAll(content, "\r\n", "\n")
	content = strings.ReplaceAll(content, "\r", "\n")
	trimmed := strings.TrimRight(content, "\n")
	if !strings.Contains(trimmed, "\n") {
		m.input.insert(trimmed)
		m.input.comp = nil
		return nil
	}
	whole := m.input.text[:m.input.cur] + trimmed + m.input.text[m.input.cur:]
	var lines []string
	for _, l := range strings.Split(whole, "\n") {
		if l = strings.TrimRight(l, " \t"); strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	m.input.setText("")
	m.input.comp = nil
	if len(lines) > pasteConfirmOver {
		m.pendingPaste = lines
		return nil
	}
	return m.sendLines(lines)
}

// submit handles an entered line: a command or a chat message.
func (m *screenModel) submit(line string) tea.Cmd {
	c := parseInput(line)
	switch c.kind {
	case cmdQuit:
		return m.quit()
	case cmdSend:
		return m.sendLines([]string{c.arg})
	case cmdAction:
		m.sb.toBottom()
		return m.enqueue(roomOp{opAction, c.arg})
	case cmdNick:
		return m.enqueue(roomOp{opNick, c.arg})
	case cmdHelp:
		m.infoLines(screenHelp...)
	case cmdWho:
		m.who()
	case cmdClear:
		m.sb.clear()
	case cmdKey:
		if m.open() {
			m.addLine(kindNotice, m.now(), span{keyText(m.info), &m.st.warn})
		} else {
			m.infoLines(keyText(m.info))
		}
	case cmdUsage:
		m.errorLine(c.arg)
	case cmdUnknown:
		m.errorLine(c.arg)
		m.infoLines(screenHelp...)
	}
	return nil
}

// screenHelp is the /help text.
var screenHelp = []string{
	"Commands:",
	"  /nick NAME      change your nick",
	"  /me ACTION      send an action, shown as \"* you ACTION\"",
	"  /who            members with their peer IDs and addresses",
	"  /key            the network key fingerprint, to compare out loud",
	"  /clear          clear the message history on this screen",
	"  /quit or :end   leave the room (also Ctrl-C, or Ctrl-D on an empty line)",
	"  //text          send a line that starts with /",
	"Keys: Enter send · Up/Down history · Tab complete nick · PgUp/PgDn Home/End or wheel scroll · Ctrl-A/E/K/U/W/Y edit · Shift+drag selects text",
}

// who lists the members with peer IDs and addresses.
func (m *screenModel) who() {
	m.refreshRoster()
	t := m.now()
	m.addLine(kindInfo, t, span{fmt.Sprintf("%d in #%s:", len(m.members), clean(m.info.Room)), &m.st.info})
	for _, mb := range m.members {
		c := nickColor(mb.PeerID, len(m.st.nicks))
		spans := []span{{"  ", nil}, {m.labels[mb.PeerID], &m.st.nicks[c]}}
		var notes []string
		if mb.Self {
			notes = append(notes, "you")
		}
		if mb.Lost {
			notes = append(notes, "lost")
		}
		if len(notes) > 0 {
			spans = append(spans, span{" (" + strings.Join(notes, ", ") + ")", &m.st.dim})
		}
		spans = append(spans, span{" " + clean(mb.PeerID), &m.st.info})
		addrs := mb.Addrs
		if mb.Self {
			addrs = m.info.Addrs
		}
		switch {
		case len(addrs) > 0:
			shown := make([]string, len(addrs))
			for i, a := range addrs {
				shown[i] = clean(a)
			}
			verb := " via "
			if mb.Self {
				verb = " listening on "
			}
			spans = append(spans, span{verb + strings.Join(shown, ", "), &m.st.dim})
		case !mb.Self:
			spans = append(spans, span{" (not directly connected)", &m.st.dim})
		}
		m.addLine(kindInfo, t, spans...)
	}
}
