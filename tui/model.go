package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"lanchat/node/chat"
)

// Tunables of the screen.
const (
	// pasteConfirmOver is the number of pasted lines above which the user
	// is asked before they are sent as that many messages.
	pasteConfirmOver = 5
	// wheelRows is how many rows one mouse wheel step scrolls.
	wheelRows = 3
)

// screenConfig is what RunScreen and tests set up.
type screenConfig struct {
	now  func() time.Time // clock for lines the screen makes itself
	done <-chan struct{}  // closed when the program is over; ends waiting Cmds
	stop <-chan struct{}  // closed when RunScreen's context is done; cancels calls
	// manual: no Cmd waits on the event channels; tests deliver events
	// with Update themselves.
	manual bool
	// scrollbackLines and scrollbackBytes bound each room's scrollback
	// (see [ScreenOptions]); 0 or less means the default.
	scrollbackLines, scrollbackBytes int
	bell                             bool // ring the bell for a mention (see [ScreenOptions.Bell])
}

// roomTab is what the screen keeps per room: its message pane and its
// input line (the text being typed and the position in the shared input
// history).
type roomTab struct {
	msgs  *messages
	input lineEditor
}

// screenModel is the full-screen chat's bubbletea model. It composes the
// components (header, room bar, member list, messages, status line, input
// line) and routes messages to them. All its state is changed only by
// Update; View reads it.
type screenModel struct {
	sess   *session
	now    func() time.Time
	done   <-chan struct{}
	stop   <-chan struct{}
	manual bool
	calls  *roomCalls
	st     *screenStyles

	maxLines, maxBytes int  // limits of each room's scrollback
	bell               bool // ring the terminal bell for each line that mentions us

	width, height int
	method        ansi.Method // cell width method of the renderer
	lay           layout
	layKey        [5]int // what lay was computed for

	tabs map[*roomView]*roomTab
	home *roomTab      // shown when in no room
	hist *inputHistory // shared by the rooms' input lines

	head   header
	bar    roomBar
	side   sidebar
	status statusLine
	files  transfers // the transfers panel, above the status line
	fileH  int       // its rows in the layout

	pendingPaste []string  // lines waiting for the user's OK
	pasteTo      *roomView // the room they go to

	queue    []roomOp
	inflight bool
	quitting bool
	exitErr  error     // returned by RunScreen when the host went away
	cmds     []tea.Cmd // Cmds started by frontEnd methods during one Update
}

// newScreenModel builds the model for h and rooms (the first is current).
// It calls h.Info and the rooms' Members.
func newScreenModel(h Host, rooms []Room, cfg screenConfig) *screenModel {
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.scrollbackLines <= 0 {
		cfg.scrollbackLines = DefaultScrollbackLines
	}
	if cfg.scrollbackBytes <= 0 {
		cfg.scrollbackBytes = DefaultScrollbackBytes
	}
	m := &screenModel{
		sess:     newSession(h, rooms),
		now:      cfg.now,
		done:     cfg.done,
		stop:     cfg.stop,
		manual:   cfg.manual,
		calls:    &roomCalls{},
		st:       newScreenStyles(),
		maxLines: cfg.scrollbackLines,
		maxBytes: cfg.scrollbackBytes,
		bell:     cfg.bell,
		tabs:     map[*roomView]*roomTab{},
		hist:     &inputHistory{},
	}
	m.home = m.newTab(nil, len(rooms) == 0)
	for _, rv := range m.sess.rooms {
		m.tabs[rv] = m.newTab(rv, true)
	}
	m.relayout()
	m.refreshChrome()
	return m
}

// newTab makes the tab of rv (nil: the no-room tab) with its welcome.
func (m *screenModel) newTab(rv *roomView, first bool) *roomTab {
	t := &roomTab{msgs: newMessages(m.st, m.now)}
	t.msgs.sb.maxEntries, t.msgs.sb.maxBytes = m.maxLines, m.maxBytes
	t.input.hist = m.hist
	if rv != nil || first {
		t.msgs.welcome(m.sess.info, rv, m.nick(), first)
	}
	t.msgs.sb.resize(m.lay.paneW, m.method, m.lay.paneH)
	return t
}

// nick is our own nick, cleaned for the screen.
func (m *screenModel) nick() string { return clean(m.sess.nick) }

// tabOf returns rv's tab; the no-room tab for nil or a room now gone.
func (m *screenModel) tabOf(rv *roomView) *roomTab {
	if t, ok := m.tabs[rv]; ok && rv != nil {
		return t
	}
	return m.home
}

// tab is the current room's tab.
func (m *screenModel) tab() *roomTab { return m.tabOf(m.sess.cur) }

// input is the current room's input line.
func (m *screenModel) input() *lineEditor { return &m.tab().input }

// Init starts waiting for events.
func (m *screenModel) Init() tea.Cmd {
	cmds := []tea.Cmd{m.waitHost()}
	for _, rv := range m.sess.rooms {
		cmds = append(cmds, m.waitEvents(rv))
	}
	return tea.Batch(cmds...)
}

// Update applies one message.
func (m *screenModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = max(msg.Width, 0), max(msg.Height, 0)
	case tea.ModeReportMsg:
		// The terminal measures grapheme clusters (mode 2027): so does the
		// renderer from now on, and so must the layout.
		if msg.Mode == ansi.ModeUnicodeCore &&
			(msg.Value == ansi.ModeSet || msg.Value == ansi.ModeReset || msg.Value == ansi.ModePermanentlySet) {
			m.method = ansi.GraphemeWidth
		}
	case roomEventsMsg:
		cmd = m.roomEvents(msg)
	case hostEventsMsg:
		cmd = m.hostEvents(msg)
	case opsDoneMsg:
		cmd = m.opsDone(msg)
	case offerDoneMsg:
		finish(m.sess, m, msg.res)
	case ctxDoneMsg:
		cmd = tea.Quit
	case fileTickMsg:
		cmd = m.files.ticked(m.now())
	case tea.KeyPressMsg:
		cmd = m.key(msg)
	case tea.PasteMsg:
		cmd = m.paste(msg.Content)
	case tea.MouseWheelMsg:
		sb := &m.tab().msgs.sb
		switch msg.Button {
		case tea.MouseWheelUp:
			sb.scroll(-wheelRows, m.lay.paneH)
		case tea.MouseWheelDown:
			sb.scroll(wheelRows, m.lay.paneH)
		}
	}
	m.relayout()
	t := m.tab()
	t.msgs.sb.prepare(m.lay.paneH)
	t.input.fit(m.inputWidth(), m.method)
	m.refreshChrome()
	if len(m.cmds) > 0 {
		cmd = tea.Batch(append([]tea.Cmd{cmd}, m.cmds...)...)
		m.cmds = nil
	}
	return m, cmd
}

// relayout lays the screen out again when its size, width method or the
// need for a room bar changed, and re-fits every room's messages.
func (m *screenModel) relayout() {
	wantBar := len(m.sess.rooms) > 1
	key := [5]int{m.width, m.height, int(m.method), 0, len(m.files.shown())}
	if wantBar {
		key[3] = 1
	}
	if key == m.layKey && m.lay.paneW > 0 {
		return
	}
	m.layKey = key
	m.lay = computeLayout(m.width, m.height, wantBar)
	m.fileH = m.files.height(m.lay.paneH)
	m.lay.paneH -= m.fileH
	m.home.msgs.sb.resize(m.lay.paneW, m.method, m.lay.paneH)
	for _, t := range m.tabs {
		t.msgs.sb.resize(m.lay.paneW, m.method, m.lay.paneH)
	}
}

// refreshChrome redraws the components whose props changed.
func (m *screenModel) refreshChrome() {
	s, st := m.sess, m.st
	tabs := roomTabs(s)
	room, rooms := "", ""
	if s.cur != nil {
		room = s.cur.title()
		if len(tabs) > 1 && !m.lay.bar {
			rooms = compactRooms(tabs)
		}
	}
	m.head.set(st, headerProps{m.width, m.method, room, rooms, s.info.Network != chat.NetworkPrivate, m.nick(), s.cur.peers()})
	if m.lay.bar {
		m.bar.set(st, roomBarProps{m.width, m.method, tabs})
	}
	sb := &m.tab().msgs.sb
	dropped := 0
	if sb.dropped > 0 && sb.atTop(m.lay.paneH) {
		dropped = sb.dropped
	}
	m.status.set(st, statusProps{m.width, m.method, len(m.pendingPaste), sb.follow, sb.unread, dropped})
	gen := 0
	if s.cur != nil {
		gen = s.cur.gen
	}
	m.side.set(st, sidebarProps{m.lay.sideW, m.lay.paneH, m.method, s.cur, gen})
}

// roomEvents shows a batch of events of one room.
func (m *screenModel) roomEvents(msg roomEventsMsg) tea.Cmd {
	rv := msg.rv
	t, ok := m.tabs[rv]
	if !ok || rv == nil {
		return nil // a room we left: its last events do not matter
	}
	for _, e := range msg.events {
		if rosterEvent(e) {
			// One snapshot serves the whole batch; it is at least as
			// new as any event in it.
			rv.refresh()
			m.sess.relabel()
			break
		}
	}
	bells := 0
	for _, e := range msg.events {
		m.observeFile(e)
		m.sess.observe(rv, e)
		mention := m.sess.mentioned(e)
		t.msgs.event(e, rv, mention)
		if mention {
			bells++
		}
	}
	if m.bell && bells > 0 {
		m.cmds = append(m.cmds, ringBell(bells))
	}
	if !msg.closed {
		return m.waitEvents(rv)
	}
	return m.closed(rv)
}

// observeFile hands a file event to the transfers panel.
func (m *screenModel) observeFile(e chat.Event) {
	if cmd := m.files.observe(e, m.now()); cmd != nil {
		m.cmds = append(m.cmds, cmd)
	}
}

// ringBell returns the Cmd that rings the terminal bell n times, once for
// each line that mentions us. The program writes BEL (tea.Raw) to its
// output at the next frame tick, just before the frame, never between the
// bytes of one; BEL moves no cursor, so the screen is left as drawn. View
// stays free of side effects.
func ringBell(n int) tea.Cmd {
	return tea.Raw(strings.Repeat("\a", n))
}

// closed handles the end of the Events channel of room rv (nil: the
// host's): the end of our /part, or the host gone away, which ends the
// screen with an error.
func (m *screenModel) closed(rv *roomView) tea.Cmd {
	old, wasCurrent := m.tabs[rv], rv != nil && m.sess.cur == rv
	err := m.sess.closed(rv)
	if err == nil {
		m.roomLeft(rv, old, wasCurrent)
		return nil
	}
	t, text := m.tab(), "lanchat stopped"
	if rv != nil {
		t, text = m.tabOf(rv), "the room was closed"
	}
	t.msgs.add(kindError, m.now(), span{text, &m.st.errorText})
	if m.exitErr == nil && !m.quitting {
		m.exitErr = err
	}
	return tea.Quit
}

// roomLeft forgets the tab old of room rv, which we left and the session
// no longer has; the room joined last of those left is current now.
//
// What was typed into its input line after /part moves to the new current
// room's, so typing on while the room goes away loses nothing.
func (m *screenModel) roomLeft(rv *roomView, old *roomTab, wasCurrent bool) {
	delete(m.tabs, rv)
	if in := m.input(); wasCurrent && old != nil && old.input.text != "" && in.text == "" {
		in.setText(old.input.text)
		in.cur = old.input.cur
	}
	text := "You left #" + clean(rv.name) + "."
	if rv.peer != "" {
		text = "You closed the conversation with " + clean(rv.name) + "."
	}
	if m.sess.cur == nil {
		text += " You are in no room now: /join NAME to join one, /quit to leave."
	}
	m.tab().msgs.info(text)
}

// hostEvents shows host-wide notices and errors in the current room,
// and direct messages in their conversations (see [screenModel.dmEvent]).
func (m *screenModel) hostEvents(msg hostEventsMsg) tea.Cmd {
	bells, dms := 0, false
	for _, e := range msg.events {
		m.observeFile(e)
		if isDMEvent(e) {
			if m.dmEvent(e) {
				bells++
			}
			dms = true
			continue
		}
		m.tab().msgs.event(e, m.sess.cur, false)
	}
	if dms {
		m.sess.relabel()
	}
	if m.bell && bells > 0 {
		m.cmds = append(m.cmds, ringBell(bells))
	}
	if !msg.closed {
		return m.waitHost()
	}
	return m.closed(nil)
}

// opsDone shows the outcome of calls and starts the next queued ones.
func (m *screenModel) opsDone(msg opsDoneMsg) tea.Cmd {
	m.inflight = false
	for _, r := range msg.results {
		finish(m.sess, m, r)
	}
	if cmd := m.startOps(); cmd != nil {
		return cmd
	}
	if m.quitting {
		return tea.Quit
	}
	return nil
}

// quitCmd leaves gracefully once queued calls are done.
func (m *screenModel) quitCmd() tea.Cmd {
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

// switchTo makes rv the current room.
func (m *screenModel) switchTo(rv *roomView) {
	if rv != nil && rv != m.sess.cur {
		m.sess.setCurrent(rv)
	}
}

// switchBy moves to the room d places on in the bar, wrapping around.
func (m *screenModel) switchBy(d int) {
	n := len(m.sess.rooms)
	if n == 0 {
		return
	}
	i := m.sess.index(m.sess.cur)
	m.switchTo(m.sess.rooms[((i+d)%n+n)%n])
}

// key handles a key press.
func (m *screenModel) key(k tea.KeyPressMsg) tea.Cmd {
	ks := k.Keystroke()
	if ks == "ctrl+c" {
		if m.quitting {
			return tea.Quit // a second Ctrl-C does not wait
		}
		return m.quitCmd()
	}
	if m.quitting {
		return nil
	}
	sb := &m.tab().msgs.sb
	page := max(1, m.lay.paneH-1)
	switch ks {
	case "pgup":
		sb.scroll(-page, m.lay.paneH)
		return nil
	case "pgdown":
		sb.scroll(page, m.lay.paneH)
		return nil
	case "shift+up":
		sb.scroll(-1, m.lay.paneH)
		return nil
	case "shift+down":
		sb.scroll(1, m.lay.paneH)
		return nil
	case "home", "ctrl+home":
		sb.toTop(m.lay.paneH)
		return nil
	case "end", "ctrl+end":
		sb.toBottom()
		return nil
	case "ctrl+l":
		return tea.ClearScreen
	}
	if m.pendingPaste != nil {
		switch ks {
		case "enter":
			lines, rv := m.pendingPaste, m.pasteTo
			m.pendingPaste, m.pasteTo = nil, nil
			m.sendLines(rv, lines)
		case "esc", "ctrl+g":
			m.tab().msgs.info(fmt.Sprintf("paste of %d lines cancelled", len(m.pendingPaste)))
			m.pendingPaste, m.pasteTo = nil, nil
		}
		return nil
	}
	switch {
	case ks == "ctrl+n":
		m.switchBy(1)
		return nil
	case ks == "ctrl+p":
		m.switchBy(-1)
		return nil
	case len(ks) == 5 && strings.HasPrefix(ks, "alt+") && ks[4] >= '1' && ks[4] <= '9':
		if i := int(ks[4] - '1'); i < len(m.sess.rooms) {
			m.switchTo(m.sess.rooms[i])
		}
		return nil
	case ks == "enter":
		m.submit(m.input().submit())
		return nil
	case ks == "ctrl+d" && m.input().text == "":
		return m.quitCmd() // end of input, as in a shell
	}
	m.input().handleKey(ks, k.Text, m.complete)
	return nil
}

// complete returns Tab completions of prefix: commands at the start of the
// line, joined rooms for "#…", else the current room's nicks.
func (m *screenModel) complete(prefix string, atStart bool) []string {
	var out []string
	lp := strings.ToLower(prefix)
	switch {
	case atStart && strings.HasPrefix(prefix, "/"):
		for _, c := range commandNames() {
			if strings.HasPrefix(c, lp) {
				out = append(out, c)
			}
		}
		return out
	case strings.HasPrefix(prefix, "#"):
		for _, rv := range m.sess.rooms {
			if n := "#" + clean(rv.name); strings.HasPrefix(strings.ToLower(n), lp) {
				out = append(out, n)
			}
		}
		return out
	}
	if m.sess.cur == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, mb := range m.sess.cur.members {
		n := clean(mb.Nick)
		if mb.Self || seen[n] || !strings.HasPrefix(strings.ToLower(n), lp) {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}

// sendLines queues lines as chat messages to rv, in order.
func (m *screenModel) sendLines(rv *roomView, lines []string) {
	for _, l := range lines {
		sendTo(m, rv, l, false)
	}
}

// paste handles bracketed paste: one line goes into the input line; several
// lines are sent as separate messages, after asking when there are many.
func (m *screenModel) paste(content string) tea.Cmd {
	if m.quitting || m.pendingPaste != nil {
		return nil
	}
	in := m.input()
	content = strings.ReplaceAll(content, "\r\n", "\n")
	content = strings.ReplaceAll(content, "\r", "\n")
	trimmed := strings.TrimRight(content, "\n")
	if !strings.Contains(trimmed, "\n") {
		in.insert(trimmed)
		in.comp = nil
		return nil
	}
	whole := in.text[:in.cur] + trimmed + in.text[in.cur:]
	var lines []string
	secret := 0
	for _, l := range strings.Split(whole, "\n") {
		switch l = strings.TrimRight(l, " \t"); {
		case strings.TrimSpace(l) == "":
		case hasPassphrase(l):
			// Sent as text, it would tell the room the passphrase.
			secret++
		default:
			lines = append(lines, l)
		}
	}
	in.setText("")
	in.comp = nil
	if secret > 0 {
		m.tab().msgs.fail(pastedPassphraseText)
	}
	if len(lines) > pasteConfirmOver {
		m.pendingPaste, m.pasteTo = lines, m.sess.cur
		return nil
	}
	m.sendLines(m.sess.cur, lines)
	return nil
}

// pastedPassphraseText says why a pasted "/join NAME PASSPHRASE" line was
// left out of the lines a paste sends as text.
const pastedPassphraseText = "a pasted /join line with a passphrase was not sent (pasted lines go out as text): type the /join yourself"

// submit handles an entered line: a command or a chat message, through
// the command layer.
func (m *screenModel) submit(line string) {
	if c := execute(m.sess, m, line); c.kind == cmdUnknown {
		m.tab().msgs.info(screenHelp()...)
	}
}

// screenHelp is the /help text, made from the command table.
func screenHelp() []string {
	lines := []string{"Commands:"}
	for _, c := range commandTable {
		u := c.usage
		if len(c.aliases) > 0 {
			u += " (" + strings.Join(c.aliases, " ") + ")"
		}
		lines = append(lines, fmt.Sprintf("  %-28s %s", u, c.help))
	}
	return append(lines,
		fmt.Sprintf("  %-28s %s", "//text", "send a line that starts with /"),
		"Keys: Enter send · Alt-1…9, Ctrl-N/Ctrl-P switch rooms · Up/Down history · Tab complete nick, #room or /command · "+
			"PgUp/PgDn Home/End or wheel scroll · Ctrl-A/E/K/U/W/Y edit · Shift+drag selects text",
		"Tabs: [current] room, •N unread messages, @ someone wrote your nick",
	)
}

// The [frontEnd] of the screen: calls go into the queue run by a Cmd,
// text goes to the current room's pane (whatever room it is about: the
// user reads it where they are).

func (m *screenModel) run(op roomOp) {
	if op.kind == opSend || op.kind == opAction {
		m.tabOf(op.rv).msgs.sb.toBottom() // show the echo when it comes
	}
	if op.kind == opOffer {
		m.cmds = append(m.cmds, m.offerCmd(op))
		return
	}
	m.queue = append(m.queue, op)
	m.cmds = append(m.cmds, m.startOps())
}

// say shows text in the current room's pane. The command layer cleans
// what it quotes from the network; say sanitises all of it once more, so
// no error text a host returns can reach the terminal raw.
func (m *screenModel) say(rv *roomView, lv level, text string) {
	p, text := m.tab().msgs, Sanitize(text)
	switch lv {
	case lvError:
		p.fail(text)
	case lvWarn:
		p.warn(text)
	default:
		p.info(text)
	}
}

// unsent puts text into the input history, so Up brings it back to edit.
func (m *screenModel) unsent(rv *roomView, text, why string) {
	m.input().remember(text)
	m.tab().msgs.fail(Sanitize(why) + " — press Up to edit it")
}

func (m *screenModel) who(rv *roomView) { m.tab().msgs.who(rv, m.sess.info) }

func (m *screenModel) roomList(rooms []chat.RoomInfo) { m.tab().msgs.roomList(rooms) }

func (m *screenModel) help() { m.tab().msgs.info(screenHelp()...) }

func (m *screenModel) clear() { m.tab().msgs.sb.clear() }

func (m *screenModel) quit() { m.cmds = append(m.cmds, m.quitCmd()) }

func (m *screenModel) joined(rv *roomView) {
	m.tabs[rv] = m.newTab(rv, false)
	m.cmds = append(m.cmds, m.waitEvents(rv))
	m.showPastDMs(rv)
}
