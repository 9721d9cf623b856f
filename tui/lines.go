package tui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"lanchat/node/chat"
)

// LineMode selects the line format.
type LineMode int

// Line modes.
const (
	Plain LineMode = iota // readable lines: "[14:03] <alice> hi", "* bob joined"
	JSON                  // one JSON object per line
)

// MaxLineBytes is the longest input line RunLines accepts, in bytes after the
// line ending is removed. It matches the 4 KiB limit on message text
// ([chat.MaxTextBytes]); longer lines are refused with an error line, never
// truncated.
const MaxLineBytes = chat.MaxTextBytes

// jsonTime is the time format of the JSON line mode: RFC 3339 with
// milliseconds, always in UTC ("2006-01-02T15:04:05.000Z").
const jsonTime = "2006-01-02T15:04:05.000Z07:00"

// RunLines runs a line-mode front end in rooms (the first is the current
// room): it prints a ready line, then the events of the host and of every
// room to out, and reads messages and commands from in. It returns nil when
// the user leaves (":end", "/quit", end of input) or ctx is cancelled; the
// caller then leaves the rooms and closes the host. It returns an error when
// writing to out fails, and an error wrapping [chat.ErrClosed] when the
// host's Events channel closes under it, or a room's without our /part.
//
// Output: the first line is the ready line (in plain mode followed by the
// non-loopback listen addresses, if any); with an open network (no key) a
// notice line warning that anyone on the LAN can join follows. Then each
// [chat.Event] is one line (plain mode skips our own join in the rooms the
// ready line named). In [JSON] mode every line is one JSON object with
// "type" and "time" (RFC 3339 in UTC with milliseconds), and "room" right
// after them on every event of a room; text is data and is emitted as-is
// (JSON-escaped); a "message" that someone else sent live and that names
// our nick has "mention":true. In [Plain] mode every string that came from
// the network is passed through [Sanitize] first, a nick that looks like
// another member's (the same [chat.Skeleton]) ends with the end of its
// peer ID ("<bob#3f2a> hi"), and lines of rooms other than the first are
// prefixed with "#room ". Only the goroutine running RunLines writes to
// out, so lines never interleave.
//
// Input: each line of in (a trailing "\r" is removed) is a message to the
// current room; empty lines are ignored; lines longer than [MaxLineBytes]
// are refused with an error line. Commands are those of the full-screen UI
// (/join, /part, /rooms, /say, /msg, /query, /nick, /me, /who, /key,
// /help, /quit and ":end"); "//text" sends "/text"; any other "/word" is answered with an
// error line and not sent. /join emits our own join in the new room (which
// becomes the current one), /part our own leave, /rooms one "rooms" line.
// Errors (a refused nick, a failed send) are printed as error lines and do
// not stop RunLines. Each line is acted on before the next is read, so
// calls reach the host in input order, and output keeps that order too:
// a line answered here (a command, a refused line, a failed send) waits
// until the echoes of the messages sent before it have been printed (at
// most 2 s, after which those echoes are no longer waited for).
//
// The echo of our own message is followed by a notice when no other live
// member was in its room to receive it ("nobody else is here yet — it will
// be delivered when someone joins"): publishing to an empty room succeeds
// silently, and the node keeps the line for whoever comes. The notice is
// said once per silence: not again after the next lines, only after
// another member has been in the room since.
//
// Direct messages ([chat.KindDM], [chat.KindDMStatus], on the host's
// Events) are "dm" and "dm_status" objects in [JSON] mode, and in [Plain]
// mode "[14:03] *bob* hi" from bob, "[14:03] -> *bob* hi" to bob (with
// "(queued: …)" until delivered) and "* your direct message to bob was
// delivered", bob labelled among all the peers the session knows. After
// "/query NICK" plain lines go to that peer as direct messages, until
// /part.
//
// Lines from the room's log ([chat.Event.History]: read from disk at
// join, or fetched from a peer by sync) come in batches, in display order,
// each batch followed by a [chat.KindHistory] event. In [JSON] mode they
// are "message" objects with "history":true, and the batch's end a
// "history" object with its "count" (and the "peer_id" it came from). In
// [Plain] mode they are lines like the live ones, showing the time they
// were sent with the date when that is not today ("[2025-06-02 14:03]
// <bob> hi"), and the batch's end is one line "— 40 earlier messages —".
//
// Input is held back for up to 2 s after start, until the node has found
// the rooms' members (another member joined one of them, then 300 ms
// without a further join), and likewise after a /join for the room joined:
// lines piped in at once, like `echo done | lanchat` or
// `printf '/join dev\nhi\n' | lanchat`, then reach the members instead of a
// room the node has not found them in yet. Events are
// printed meanwhile. When the user leaves, RunLines first waits (up to 2 s)
// for the echoes of the messages it sent and for our own leave of rooms
// being parted, so they are printed too.
//
// RunLines reads the event channels itself, from its own goroutine. Reads
// of in cannot be cancelled, so in is read by a goroutine that RunLines
// starts. When RunLines returns because in reached its end, that goroutine
// has already finished. When it returns for another reason (":end", ctx)
// while a Read is blocked, the goroutine finishes as soon as that Read
// returns (in is closed, or the next line arrives) and never blocks after
// that; for os.Stdin this means it is abandoned at process exit.
func RunLines(ctx context.Context, h Host, rooms []Room, in io.Reader, out io.Writer, mode LineMode) error {
	return runLines(ctx, h, rooms, in, out, mode, lineTimes{
		settleMax: lineSettleMax, settleQuiet: lineSettleQuiet, echo: lineEchoWait,
	})
}

// lineTimes are RunLines' waits.
//
// Input is held back after start, and after a /join, so that lines piped
// in at once reach the peers the node is still finding instead of an empty
// room: until another member has joined one of the rooms held for (those
// at start, or the one just joined) and no further one joined for
// settleQuiet, or at most settleMax.
//
// When the user leaves, RunLines waits up to echo for the echoes of the
// messages it sent, so that `echo hi | lanchat --json` prints its own
// message (and whether it reached anyone) before it exits; and a line
// answered locally (/who after "hi") waits as long for the echoes of the
// messages sent before it, so the output is in input order.
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
func runLines(ctx context.Context, h Host, rooms []Room, in io.Reader, out io.Writer, mode LineMode, times lineTimes) error {
	sess := newSession(h, rooms)
	s := &lineSession{sess: sess, w: newLineWriter(out, mode), echoWait: times.echo, hostEvents: h.Events(),
		offerDone: make(chan opResult), stopped: make(chan struct{})}
	defer s.stopOffers()
	// Done when RunLines returns, before stopOffers waits: an offer still
	// reading its file then stops.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := s.w.ready(sess); err != nil {
		return err
	}
	if sess.info.Network != chat.NetworkPrivate {
		if err := s.w.notice("", openText); err != nil {
			return err
		}
	}

	inputs := make(chan lineInput)
	done := make(chan struct{})
	defer close(done)
	go readLineInputs(in, inputs, done)

	// Input is read from inputsOn once the rooms held for have settled;
	// until then it is nil and the lines wait in the reader (and the pipe).
	var inputsOn <-chan lineInput
	var holding []*roomView
	settleMax := time.NewTimer(times.settleMax)
	defer settleMax.Stop()
	quiet := time.NewTimer(times.settleQuiet)
	defer quiet.Stop()
	settled := func() {
		inputsOn, holding = inputs, nil
		settleMax.Stop()
		quiet.Stop()
	}
	hold := func(rooms []*roomView) {
		if len(rooms) == 0 {
			settled() // in no room: nobody to wait for
			return
		}
		inputsOn, holding = nil, rooms
		settleMax.Reset(times.settleMax)
		quiet.Reset(times.settleQuiet)
		if aloneIn(rooms) {
			quiet.Stop() // until another member joins
		}
	}
	hold(slices.Clone(sess.rooms))

	for {
		sel, err := s.next(ctx.Done(), settleMax.C, quiet.C, inputsOn, s.offerDone)
		if err != nil {
			return err
		}
		switch sel.index {
		case 4:
			if err := s.offered(sel.value.Interface().(opResult)); err != nil {
				return err
			}
		case -1: // an event, shown
			if inputsOn == nil && sel.ev.Kind == chat.KindJoin && !sel.ev.Self && slices.Contains(holding, sel.rv) {
				quiet.Reset(times.settleQuiet)
			}
		case 0:
			return nil
		case 1, 2:
			settled()
		case 3:
			li := sel.value.Interface().(lineInput)
			// Events already queued happened before this line was acted
			// on: print them first (also at end of input, so nothing
			// already known is left unsaid).
			if err := s.drain(); err != nil {
				return err
			}
			if li.eof {
				if err := s.awaitOffers(ctx); err != nil {
					return err
				}
				if err := s.awaitEchoes(ctx); err != nil {
					return err
				}
				if li.err != nil {
					// A broken input is a reason to leave, not to crash:
					// say so on the output and leave gracefully.
					return s.w.fail("", fmt.Sprintf("reading input: %v", li.err))
				}
				return nil
			}
			quit, err := s.input(ctx, li)
			if err == nil && quit {
				err = s.awaitOffers(ctx)
			}
			if err == nil && quit {
				err = s.awaitEchoes(ctx)
			}
			if err != nil || quit {
				return err
			}
			if len(s.joinedNow) > 0 {
				// The node is only now finding the new rooms' members.
				hold(s.joinedNow)
				s.joinedNow = nil
			}
		}
	}
}

// lineSession is the state of one RunLines: the shared [session] plus
// what the line modes add to it. It is the line modes' [frontEnd].
type lineSession struct {
	sess       *session
	w          *lineWriter
	hostEvents <-chan chat.Event
	pending    int           // messages sent whose echo has not been shown yet
	echoWait   time.Duration // see lineTimes.echo

	queue     []roomOp    // calls queued by the command being run
	joinedNow []*roomView // rooms the command being run joined
	quitting  bool
	err       error // the first output error of a frontEnd method

	// Offers (/send) are made beside the queue, each on a goroutine of
	// its own, for the file is read for its hash first: offering of them
	// run, and their results come on offerDone until stopped is closed;
	// offers holds them all (see startOffer).
	offering  int
	offerDone chan opResult
	stopped   chan struct{}
	offers    sync.WaitGroup
}

// aloneIn reports whether none of rooms has another live member.
func aloneIn(rooms []*roomView) bool {
	for _, rv := range rooms {
		if _, alone := aloneText(rv.members); !alone {
			return false
		}
	}
	return true
}

// selected is what [lineSession.next] waited for.
type selected struct {
	index int           // the channel among next's arguments; -1 for an event
	value reflect.Value // what it received
	ev    chat.Event    // index -1: the event, already shown
	rv    *roomView     // index -1: the room of the event; nil: the host
}

// next waits for one of chans (receive-only channels; nil ones never
// ready) or an event of the host or a room. An event it shows itself. The
// rooms are many and change with /join and /part, hence reflect.Select.
func (s *lineSession) next(chans ...any) (selected, error) {
	cases := make([]reflect.SelectCase, 0, len(chans)+1+len(s.sess.rooms))
	for _, c := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
	}
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.hostEvents)})
	rooms := append([]*roomView(nil), s.sess.rooms...)
	for _, rv := range rooms {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(rv.room.Events())})
	}
	i, v, ok := reflect.Select(cases)
	if i < len(chans) {
		return selected{index: i, value: v}, nil
	}
	var rv *roomView
	if i > len(chans) {
		rv = rooms[i-len(chans)-1]
	}
	var ev chat.Event
	if ok {
		ev = v.Interface().(chat.Event)
	}
	return selected{index: -1, ev: ev, rv: rv}, s.received(rv, ev, ok)
}

// received shows an event taken from the Events channel of room rv (nil:
// the host's); ok false means the channel was closed.
func (s *lineSession) received(rv *roomView, ev chat.Event, ok bool) error {
	if ok {
		return s.show(rv, ev)
	}
	return s.sess.closed(rv)
}

// show writes one event of room rv (nil: the host). After the echo of our
// own message it says so when nobody else was in the room to receive it
// (once per silence, see [roomView.aloneNotice]); our own lines from the
// log are no echoes.
func (s *lineSession) show(rv *roomView, ev chat.Event) error {
	if rv == nil && isDMEvent(ev) {
		return s.showDM(ev)
	}
	if rv != nil && ev.Room == "" {
		ev.Room = rv.name
	}
	if rv != nil && rosterEvent(ev) {
		rv.refresh() // the labels of plain lines follow the roster
	}
	s.sess.observe(rv, ev)
	if err := s.w.roomEvent(rv, ev, s.sess.mentioned(ev)); err != nil {
		return err
	}
	if ev.Kind != chat.KindMessage || !ev.Self || ev.History || rv == nil {
		return nil
	}
	s.pending = max(0, s.pending-1)
	rv.refresh()
	if text, alone := rv.aloneNotice(); alone {
		return s.w.notice(rv.name, text)
	}
	return nil
}

// drain writes the events waiting on the host's and the rooms' channels
// without blocking.
func (s *lineSession) drain() error {
	if err := s.drainOne(nil, s.hostEvents); err != nil {
		return err
	}
	for _, rv := range append([]*roomView(nil), s.sess.rooms...) {
		if err := s.drainOne(rv, rv.room.Events()); err != nil {
			return err
		}
	}
	return nil
}

// drainOne writes the events waiting on ch, the channel of rv.
func (s *lineSession) drainOne(rv *roomView, ch <-chan chat.Event) error {
	for {
		select {
		case ev, ok := <-ch:
			if err := s.received(rv, ev, ok); err != nil || !ok {
				return err
			}
		default:
			return nil
		}
	}
}

// awaitEchoes shows events until every message sent has come back as its
// echo and every room being parted has closed, at most for s.echoWait or
// until ctx is done.
func (s *lineSession) awaitEchoes(ctx context.Context) error {
	_, err := s.await(ctx, s.awaiting)
	return err
}

// awaitOrder shows events until the echoes of the messages sent so far
// have been shown, so that what the line being acted on prints comes after
// them, at most for s.echoWait (then those echoes are given up on, and the
// next line does not wait for them again) or until ctx is done.
func (s *lineSession) awaitOrder(ctx context.Context) error {
	timedOut, err := s.await(ctx, func() bool { return s.pending > 0 })
	if timedOut {
		s.pending = 0
	}
	return err
}

// await shows events while waiting is true, at most for s.echoWait or
// until ctx is done. It reports whether the time ran out.
func (s *lineSession) await(ctx context.Context, waiting func() bool) (timedOut bool, err error) {
	if !waiting() || s.echoWait <= 0 {
		return false, nil
	}
	timeout := time.NewTimer(s.echoWait)
	defer timeout.Stop()
	for waiting() {
		sel, err := s.next(ctx.Done(), timeout.C)
		if err != nil || sel.index >= 0 {
			return sel.index == 1, err
		}
	}
	return false, nil
}

// awaiting reports whether an echo or a room's end is still to come.
func (s *lineSession) awaiting() bool {
	if s.pending > 0 {
		return true
	}
	for _, rv := range s.sess.rooms {
		if rv.parting {
			return true
		}
	}
	return false
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
			// Let RunLines' loop act on the line on this thread at once.
			// Otherwise it waits, runnable, on a P whose thread is about
			// to block in the next Read, until the runtime wakes another
			// thread to take it: on an idle process that hand-off took
			// 80 µs, with the yield 45 (stage timestamps in
			// BenchmarkSuiteLANLatency, a loaded 2-core machine).
			runtime.Gosched()
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

// input acts on one input line and makes the calls it asks for, in order.
// It reports whether the user left; the error is a failure to write output.
//
// A line that is not a chat message (a command, a line too long) first
// waits for the echoes of the messages sent before it ([lineSession.awaitOrder]),
// and so does the error of a send that failed: what is printed comes in
// input order.
func (s *lineSession) input(ctx context.Context, li lineInput) (quit bool, err error) {
	if k := parseInput(li.text).kind; li.tooLong || k != cmdText && k != cmdNone {
		if err := s.awaitOrder(ctx); err != nil || ctx.Err() != nil {
			return false, err
		}
	}
	if li.tooLong {
		return false, s.w.fail("", tooLongText)
	}
	execute(s.sess, s, li.text)
	for len(s.queue) > 0 && s.err == nil {
		op := s.queue[0]
		s.queue = s.queue[1:]
		if op.kind == opOffer {
			s.startOffer(ctx, op)
			continue
		}
		res := op.do(ctx, s.sess.host)
		sends := op.kind == opSend || op.kind == opAction || op.kind == opDM
		if res.err != nil && sends {
			if err := s.awaitOrder(ctx); err != nil {
				return false, err
			}
		}
		if res.err == nil && sends {
			s.pending++
		}
		finish(s.sess, s, res)
	}
	s.queue = nil
	return s.quitting, s.err
}

// startOffer makes offer op on a goroutine of its own: reading a big file
// for its hash takes seconds, and meanwhile lines are sent and events
// shown. Its result comes on s.offerDone.
func (s *lineSession) startOffer(ctx context.Context, op roomOp) {
	s.offering++
	s.offers.Add(1)
	h := s.sess.host
	go func() {
		defer s.offers.Done()
		res := op.do(ctx, h)
		select {
		case s.offerDone <- res:
		case <-s.stopped:
		}
	}()
}

// offered shows the outcome of an offer made by startOffer.
func (s *lineSession) offered(res opResult) error {
	s.offering--
	finish(s.sess, s, res)
	return s.err
}

// awaitOffers shows events until the offers being made are made (or
// ctx is done): at the end of the input or on /quit, the offers asked
// for are made before lanchat leaves.
func (s *lineSession) awaitOffers(ctx context.Context) error {
	for s.offering > 0 {
		sel, err := s.next(ctx.Done(), s.offerDone)
		if err != nil || sel.index == 0 {
			return err
		}
		if sel.index == 1 {
			if err := s.offered(sel.value.Interface().(opResult)); err != nil {
				return err
			}
		}
	}
	return nil
}

// stopOffers waits for the offers still being made when RunLines
// returns; their context is done by then, or they are about to end.
func (s *lineSession) stopOffers() {
	close(s.stopped)
	s.offers.Wait()
}

// The [frontEnd] of the line modes: everything is a line, written at once.

func (s *lineSession) run(op roomOp) { s.queue = append(s.queue, op) }

func (s *lineSession) say(rv *roomView, lv level, text string) {
	room := ""
	if rv != nil {
		room = rv.name
	}
	var err error
	if lv == lvError {
		err = s.w.fail(room, text)
	} else {
		err = s.w.notice(room, text)
	}
	s.keep(err)
}

func (s *lineSession) unsent(rv *roomView, text, why string) { s.say(rv, lvError, why) }

func (s *lineSession) who(rv *roomView) { s.say(rv, lvInfo, whoText(rv)) }

func (s *lineSession) roomList(rooms []chat.RoomInfo) { s.keep(s.w.rooms(rooms)) }

func (s *lineSession) help() { s.say(nil, lvInfo, lineHelp()) }

func (s *lineSession) clear() {
	s.say(nil, lvInfo, "/clear clears the full-screen chat (the line modes have none); lost members are no longer listed by /who")
}

func (s *lineSession) quit() { s.quitting = true }

// joined: our own join comes on the room's channel, which next now reads;
// the next input line waits until the room has settled. A conversation
// (/query) has no join and nothing to settle: it is said in a notice.
func (s *lineSession) joined(rv *roomView) {
	if rv.peer != "" {
		s.say(nil, lvInfo, queryText(rv))
		return
	}
	s.w.first = s.sess.first
	s.joinedNow = append(s.joinedNow, rv)
}

// keep remembers the first output error.
func (s *lineSession) keep(err error) {
	if s.err == nil {
		s.err = err
	}
}

// whoText describes the roster in one line, the members present first and
// counted, then the lost ones: "2 in lobby: alice (you), bob; 1 lost: carol".
func whoText(rv *roomView) string {
	var b strings.Builder
	present, lost := rv.present()
	fmt.Fprintf(&b, "%d in %s:", len(present), rv.name)
	list := func(ms []chat.Member) {
		for i, m := range ms {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte(' ')
			b.WriteString(rv.labels[m.PeerID])
			if m.Self {
				b.WriteString(" (you)")
			}
		}
	}
	list(present)
	if len(lost) > 0 {
		fmt.Fprintf(&b, "; %d lost:", len(lost))
		list(lost)
	}
	return b.String()
}
