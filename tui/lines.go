package tui

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"lanchat/node"
)

// LineMode selects the line format.
type LineMode int

// Line modes.
const (
	Plain LineMode = iota // readable lines: "[14:03] <alice> hi", "* bob joined"
	JSON                  // one JSON object per line
)

// MaxLineBytes is the longest input line RunLines accepts, in bytes after the
// line ending is removed. It matches the node's 4 KiB limit on message text;
// longer lines are refused with an error line, never truncated.
const MaxLineBytes = 4096

// jsonTime is the time format of the JSON line mode: RFC 3339 with
// milliseconds, always in UTC ("2006-01-02T15:04:05.000Z").
const jsonTime = "2006-01-02T15:04:05.000Z07:00"

// RunLines runs a line-mode front end: it prints a ready line, then room events
// to out, and reads messages and commands from in. It returns nil when the user
// leaves (":end", "/quit", end of input) or ctx is cancelled; the caller then
// closes the room. It returns an error when writing to out fails, and an
// error wrapping [node.ErrClosed] when the room's Events channel closes under
// it.
//
// Output: the first line is the ready line (in plain mode followed by the
// non-loopback listen addresses, if any); with an open network (no key) a
// notice line warning that anyone on the LAN can join follows. Then each
// [node.Event] is one line (plain mode skips this node's own join, which the
// ready line already announced). In [JSON] mode every line is one JSON object with
// "type" and "time" (RFC 3339 in UTC with milliseconds); text is data and is
// emitted as-is (JSON-escaped). In [Plain] mode every string that came from the
// room is passed through [Sanitize] first. Only the goroutine running RunLines
// writes to out, so lines never interleave.
//
// Input: each line of in (a trailing "\r" is removed) is a message; empty
// lines are ignored; lines longer than [MaxLineBytes] are refused with an
// error line. Commands: "/nick NAME", "/me ACTION", "/who", "/key", "/help",
// "/quit" and ":end"; "//text" sends "/text"; any other "/word" is answered
// with an error line and not sent. Errors from the room (a refused nick, a
// failed send) are printed as error lines and do not stop RunLines.
//
// The echo of our own message is followed by a notice when no other live
// member was in the room to receive it ("nobody else is here yet — this
// message reached no one"): publishing to an empty room succeeds silently.
//
// Input is held back for up to 2 s after start, until the node has found
// the room's members (another member joined, then 300 ms without a further
// join): lines piped in at once, like `echo done | lanchat`, then reach the
// members instead of a room the node has not found yet. Events are printed
// meanwhile. When the user leaves, RunLines first waits (up to 2 s) for the
// echoes of the messages it sent, so they are printed too.
//
// Reads cannot be cancelled, so in is read by a goroutine that RunLines
// starts. When RunLines returns because in reached its end, that goroutine has
// already finished. When it returns for another reason (":end", ctx) while a
// Read is blocked, the goroutine finishes as soon as that Read returns (in is
// closed, or the next line arrives) and never blocks after that; for
// os.Stdin this means it is abandoned at process exit.
func RunLines(ctx context.Context, r Room, in io.Reader, out io.Writer, mode LineMode) error {
	return runLines(ctx, r, in, out, mode, lineTimes{
		settleMax: lineSettleMax, settleQuiet: lineSettleQuiet, echo: lineEchoWait,
	})
}

// lineTimes are RunLines' waits.
//
// Input is held back after start so that lines piped in at once reach the
// peers the node is still finding instead of an empty room: until another
// member has joined and no further one joined for settleQuiet, or at most
// settleMax.
//
// When the user leaves, RunLines waits up to echo for the echoes of the
// messages it sent, so that `echo hi | lanchat --json` prints its own
// message (and whether it reached anyone) before it exits.
type lineTimes struct {
	settleMax   time.Duration // longest hold: about mDNS's first queries plus a dial
	settleQuiet time.Duration // after the latest join of another member
	echo        time.Duration // longest wait for our own messages' echoes
}

// The waits of RunLines: discovery's first answers arrive within ~0.5 s and
// a join within ~1 s of start on a LAN; an empty room costs at most 2 s. The
// echo is local and normally comes back well under a millisecond after a
// send.
const (
	lineSettleMax   = 2 * time.Second
	lineSettleQuiet = 300 * time.Millisecond
	lineEchoWait    = 2 * time.Second
)

// runLines is RunLines with its waits as a parameter.
func runLines(ctx context.Context, r Room, in io.Reader, out io.Writer, mode LineMode, times lineTimes) error {
	s := &lineSession{r: r, w: &lineWriter{out: out, mode: mode}, echoWait: times.echo}
	info := r.Info()
	if err := s.w.ready(info); err != nil {
		return err
	}
	if info.Network != node.NetworkPrivate {
		if err := s.w.notice(openText); err != nil {
			return err
		}
	}

	inputs := make(chan lineInput)
	done := make(chan struct{})
	defer close(done)
	go readLineInputs(in, inputs, done)

	// Input is read from inputsOn once the room has settled; until then
	// it is nil and the lines wait in the reader (and the pipe).
	var inputsOn <-chan lineInput
	settleMax := time.NewTimer(times.settleMax)
	defer settleMax.Stop()
	quiet := time.NewTimer(times.settleQuiet)
	defer quiet.Stop()
	if _, alone := aloneText(r.Members()); alone {
		quiet.Stop()
	}
	settled := func() {
		inputsOn = inputs
		settleMax.Stop()
		quiet.Stop()
	}

	events := r.Events()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-settleMax.C:
			settled()
		case <-quiet.C:
			settled()
		case ev, ok := <-events:
			if ok && inputsOn == nil && ev.Type == node.EventJoin && !ev.Self {
				quiet.Reset(times.settleQuiet)
			}
			if err := s.received(ev, ok); err != nil {
				return err
			}
		case li := <-inputsOn:
			// Events already queued happened before this line was acted
			// on: print them first (also at end of input, so nothing
			// already known is left unsaid).
			if err := s.drain(events); err != nil {
				return err
			}
			if li.eof {
				if err := s.awaitEchoes(ctx, events); err != nil {
					return err
				}
				if li.err != nil {
					// A broken input is a reason to leave, not to crash:
					// say so on the output and leave gracefully.
					return s.w.errorf("reading input: %v", li.err)
				}
				return nil
			}
			quit, err := s.input(li)
			if err == nil && quit {
				err = s.awaitEchoes(ctx, events)
			}
			if err != nil || quit {
				return err
			}
		}
	}
}

// lineSession is the state of one RunLines.
type lineSession struct {
	r        Room
	w        *lineWriter
	pending  int           // messages sent whose echo has not been shown yet
	echoWait time.Duration // see lineTimes.echo
}

// show writes one room event. After the echo of our own message it says so
// when nobody else was in the room to receive it.
func (s *lineSession) show(ev node.Event) error {
	if err := s.w.event(ev); err != nil {
		return err
	}
	if ev.Type != node.EventMessage || !ev.Self {
		return nil
	}
	s.pending = max(0, s.pending-1)
	if text, alone := aloneText(s.r.Members()); alone {
		return s.w.notice(text)
	}
	return nil
}

// received shows an event taken from the room's Events channel; ok false
// means the channel was closed: the room went away under us.
func (s *lineSession) received(ev node.Event, ok bool) error {
	if !ok {
		return fmt.Errorf("tui: room events ended: %w", node.ErrClosed)
	}
	return s.show(ev)
}

// drain writes the events waiting in events without blocking.
func (s *lineSession) drain(events <-chan node.Event) error {
	for {
		select {
		case ev, ok := <-events:
			if err := s.received(ev, ok); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// awaitEchoes shows events until every message sent has come back as its
// echo, at most for s.echoWait or until ctx is done.
func (s *lineSession) awaitEchoes(ctx context.Context, events <-chan node.Event) error {
	if s.pending == 0 || s.echoWait <= 0 {
		return nil
	}
	timeout := time.NewTimer(s.echoWait)
	defer timeout.Stop()
	for s.pending > 0 {
		select {
		case <-ctx.Done():
			return nil
		case <-timeout.C:
			return nil
		case ev, ok := <-events:
			if err := s.received(ev, ok); err != nil {
				return err
			}
		}
	}
	return nil
}

// lineInput is one line read from the input, or its end.
type lineInput struct {
	text    string // the line without "\n" and "\r"
	tooLong bool   // the line exceeded MaxLineBytes; text is empty
	eof     bool   // no more input; err is the read error other than io.EOF
	err     error
}

// readLineInputs reads lines from in and sends them on ch until in ends or
// done is closed. It ends with one lineInput with eof set (unless done closed
// first). It never blocks on ch once done is closed.
func readLineInputs(in io.Reader, ch chan<- lineInput, done <-chan struct{}) {
	send := func(li lineInput) bool {
		select {
		case ch <- li:
			return true
		case <-done:
			return false
		}
	}
	// The buffer holds any line that is short enough, so ErrBufferFull
	// means "too long".
	br := bufio.NewReaderSize(in, 2*MaxLineBytes+2)
	tooLong := false
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			tooLong = true
			continue
		}
		if len(line) > 0 || (err == nil) {
			text := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
			li := lineInput{text: text}
			if tooLong || len(text) > MaxLineBytes {
				li = lineInput{tooLong: true}
			}
			tooLong = false
			if !send(li) {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			send(lineInput{eof: true, err: err})
			return
		}
	}
}

// input acts on one input line. It reports whether the user left; the
// error is a failure to write output.
func (s *lineSession) input(li lineInput) (quit bool, err error) {
	if li.tooLong {
		return false, s.w.errorf("message too long (max %d bytes)", MaxLineBytes)
	}
	c := parseInput(li.text)
	switch c.kind {
	case cmdQuit:
		return true, nil
	case cmdSend:
		return false, s.send(c.arg, false)
	case cmdAction:
		return false, s.send(c.arg, true)
	case cmdNick:
		if err := s.r.SetNick(c.arg); err != nil {
			return false, s.w.errorf("%s", nickErrorText(c.arg, err))
		}
	case cmdWho:
		return false, s.w.notice(whoText(s.r))
	case cmdKey:
		return false, s.w.notice(keyText(s.r.Info()))
	case cmdHelp:
		return false, s.w.notice(lineHelp)
	case cmdClear:
		return false, s.w.notice("/clear clears the full-screen chat; the line modes have nothing to clear")
	case cmdUsage, cmdUnknown:
		return false, s.w.errorf("%s", c.arg)
	}
	return false, nil
}

// lineHelp is the text of /help in the line modes.
const lineHelp = "commands: /nick NAME, /me ACTION, /who, /key, /help, /quit or :end to leave; //text sends a line that starts with /"

// send sends text as a message or action and turns a failure into an error
// line.
func (s *lineSession) send(text string, action bool) error {
	r, w := s.r, s.w
	text = strings.ToValidUTF8(text, "\uFFFD")
	if len(text) > MaxLineBytes {
		return w.errorf("message too long (max %d bytes)", MaxLineBytes)
	}
	var err error
	if action {
		err = r.Action(text)
	} else {
		err = r.Send(text)
	}
	switch {
	case err == nil:
		s.pending++
		return nil
	case errors.Is(err, node.ErrTooLong):
		return w.errorf("message too long (max %d bytes)", MaxLineBytes)
	default:
		return w.errorf("message not sent: %v", err)
	}
}

// whoText describes the roster in one line: "3 in lobby: alice (you), bob, carol (lost)".
func whoText(r Room) string {
	members := r.Members()
	var b strings.Builder
	fmt.Fprintf(&b, "%d in %s:", len(members), r.Info().Room)
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		b.WriteString(m.Nick)
		switch {
		case m.Self:
			b.WriteString(" (you)")
		case m.Lost:
			b.WriteString(" (lost)")
		}
	}
	return b.String()
}

// lineWriter formats events as lines and writes each with one Write.
type lineWriter struct {
	out  io.Writer
	mode LineMode
	buf  bytes.Buffer
}

// Per-type JSON objects; the field order is the output order.
type (
	jsonReady struct {
		Type        string   `json:"type"`
		Time        string   `json:"time"`
		PeerID      string   `json:"peer_id"`
		Nick        string   `json:"nick"`
		Room        string   `json:"room"`
		Network     string   `json:"network"`
		Fingerprint string   `json:"fingerprint"`
		Addrs       []string `json:"addrs"`
	}
	jsonJoin struct {
		Type   string `json:"type"`
		Time   string `json:"time"`
		PeerID string `json:"peer_id"`
		Nick   string `json:"nick"`
		Self   bool   `json:"self,omitempty"`
	}
	jsonLeave struct {
		Type   string `json:"type"`
		Time   string `json:"time"`
		PeerID string `json:"peer_id"`
		Nick   string `json:"nick"`
		Reason string `json:"reason"`
		Self   bool   `json:"self,omitempty"`
	}
	jsonNick struct {
		Type   string `json:"type"`
		Time   string `json:"time"`
		PeerID string `json:"peer_id"`
		Old    string `json:"old"`
		New    string `json:"new"`
		Self   bool   `json:"self,omitempty"`
	}
	jsonMessage struct {
		Type   string `json:"type"`
		Time   string `json:"time"`
		ID     string `json:"id"`
		PeerID string `json:"peer_id"`
		Nick   string `json:"nick"`
		Text   string `json:"text"`
		Sent   string `json:"sent"`
		Self   bool   `json:"self"`
		Action bool   `json:"action,omitempty"`
	}
	jsonText struct {
		Type string `json:"type"`
		Time string `json:"time"`
		Text string `json:"text"`
	}
)

// fmtJSONTime formats t for the JSON mode; the zero time means now.
func fmtJSONTime(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC().Format(jsonTime)
}

// ready writes the first line.
func (w *lineWriter) ready(info node.Info) error {
	if w.mode == JSON {
		addrs := info.Addrs
		if addrs == nil {
			addrs = []string{}
		}
		return w.writeJSON(jsonReady{"ready", fmtJSONTime(time.Time{}), info.PeerID, info.Nick,
			info.Room, info.Network, info.Fingerprint, addrs})
	}
	var network string
	if info.Network == "private" {
		network = "private network, key fingerprint " + Sanitize(info.Fingerprint)
	} else {
		network = "open network"
	}
	if err := w.writePlain(fmt.Sprintf("* lanchat: joined room %s as %s (%s)",
		Sanitize(info.Room), Sanitize(info.Nick), network)); err != nil {
		return err
	}
	// Where others can reach us with --peer when multicast is blocked.
	var addrs []string
	for _, a := range info.Addrs {
		if !strings.HasPrefix(a, "/ip4/127.") && !strings.HasPrefix(a, "/ip6/::1/") {
			addrs = append(addrs, Sanitize(a))
		}
	}
	if len(addrs) == 0 {
		return nil
	}
	return w.writePlain("* reachable at " + strings.Join(addrs, " "))
}

// notice writes a local notice.
func (w *lineWriter) notice(text string) error {
	return w.event(node.Event{Type: node.EventNotice, Time: time.Now(), Text: text})
}

// errorf writes a local error line.
func (w *lineWriter) errorf(format string, args ...any) error {
	return w.event(node.Event{Type: node.EventError, Time: time.Now(), Text: fmt.Sprintf(format, args...)})
}

// event writes one event as one line. Plain mode skips this node's own
// join: the ready line already said it.
func (w *lineWriter) event(ev node.Event) error {
	if w.mode == JSON {
		return w.writeJSON(jsonEvent(ev))
	}
	if ev.Type == node.EventJoin && ev.Self {
		return nil
	}
	return w.writePlain(plainEvent(ev))
}

// jsonEvent returns the JSON object for ev.
func jsonEvent(ev node.Event) any {
	t := fmtJSONTime(ev.Time)
	typ := string(ev.Type)
	switch ev.Type {
	case node.EventJoin:
		return jsonJoin{typ, t, ev.PeerID, ev.Nick, ev.Self}
	case node.EventLeave:
		return jsonLeave{typ, t, ev.PeerID, ev.Nick, ev.Reason, ev.Self}
	case node.EventNick:
		return jsonNick{typ, t, ev.PeerID, ev.OldNick, ev.Nick, ev.Self}
	case node.EventMessage:
		return jsonMessage{typ, t, ev.ID, ev.PeerID, ev.Nick, ev.Text, fmtJSONTime(ev.Sent), ev.Self, ev.Action}
	default: // notice, error and any type added later
		return jsonText{typ, t, ev.Text}
	}
}

// plainEvent returns the plain line for ev, without the newline. Every
// string from the event is sanitised.
func plainEvent(ev node.Event) string {
	nick := Sanitize(ev.Nick)
	switch ev.Type {
	case node.EventMessage:
		t := ev.Time
		if t.IsZero() {
			t = time.Now()
		}
		if ev.Action {
			return fmt.Sprintf("[%s] * %s %s", t.Format("15:04"), nick, Sanitize(ev.Text))
		}
		return fmt.Sprintf("[%s] <%s> %s", t.Format("15:04"), nick, Sanitize(ev.Text))
	case node.EventJoin:
		return "* " + nick + " joined"
	case node.EventLeave:
		reason := ev.Reason
		if reason == "" {
			reason = node.ReasonQuit
		}
		return "* " + nick + " left (" + Sanitize(reason) + ")"
	case node.EventNick:
		return "* " + Sanitize(ev.OldNick) + " is now known as " + nick
	case node.EventError:
		return "! " + Sanitize(ev.Text)
	default: // notice and any type added later
		return "* " + Sanitize(ev.Text)
	}
}

// writeJSON writes v as one JSON line. HTML escaping is off: "<" stays "<".
func (w *lineWriter) writeJSON(v any) error {
	w.buf.Reset()
	enc := json.NewEncoder(&w.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("tui: encode event: %w", err)
	}
	return w.flush()
}

// writePlain writes s plus a newline.
func (w *lineWriter) writePlain(s string) error {
	w.buf.Reset()
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	w.buf.WriteString(s)
	w.buf.WriteByte('\n')
	return w.flush()
}

// flush writes the buffered line with one Write.
func (w *lineWriter) flush() error {
	if _, err := w.out.Write(w.buf.Bytes()); err != nil {
		return fmt.Errorf("tui: write output: %w", err)
	}
	return nil
}
