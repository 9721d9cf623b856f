package node

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
)

const (
	// catchUpHold bounds how long live lines wait for a pull in flight, so
	// that a batch of history comes out before the live lines that follow
	// it (see [logView]).
	catchUpHold = 2 * time.Second
	// maxHeld bounds the live message events waiting for a pull.
	maxHeld = 1024
	// maxClockTold bounds the authors told about for a wrong clock.
	maxClockTold = 256
)

// logView is the room's side of history, owned by its presence goroutine:
// it logs every chat line the room accepts (dropping the events of lines
// the log already had), emits history batches (from disk at join, from
// pulls), and, while a pull is in flight, holds live message events back
// (at most catchUpHold) so that front ends get history before the live
// lines that follow it.
type logView struct {
	r       *Room
	pending int // pulls queued or running, as last taken
	held    []chat.Event
	holdT   *time.Timer
	holdC   <-chan time.Time // nil unless holding
	expired bool             // the hold timed out; no holding until no pull is pending

	clockTold map[peer.ID]bool
	olderTold bool
	// dirty: an own line was logged and must be committed before the
	// events go out.
	dirty bool
}

func newLogView(r *Room) *logView {
	return &logView{r: r, clockTold: make(map[peer.ID]bool)}
}

// showDisk emits the room's newest logged lines as a history batch.
func (l *logView) showDisk(now time.Time) {
	evs := l.r.diskHistory(now)
	if len(evs) == 0 {
		return
	}
	// Our next line follows what the log holds, even after a restart with
	// the clock set back.
	l.r.h.clock.observe(evs[len(evs)-1].Order.UnixMilli(), now.UnixMilli())
	for _, ev := range evs {
		l.r.emit(ev)
	}
	l.r.emit(chat.Event{Kind: chat.KindHistory, Room: l.r.name, Time: now, Count: len(evs)})
}

// live logs a live chat line that the log lacks ([Room.accept] checked)
// and returns evs, the roster's events for it, without its message event
// if the line cannot be kept, and with the message event held back while
// a pull is in flight.
func (l *logView) live(rec Record, evs []chat.Event) []chat.Event {
	r := l.r
	env := rec.Envelope
	order, off := liveOrder(env.Order(), env.Sent, rec.Received)
	if rec.Author != r.h.self {
		r.h.clock.observe(env.Order(), rec.Received.UnixMilli())
	}
	added := r.h.hist.put(r.line(rec, order))
	if added && rec.Author == r.h.self {
		// Our own line may be the only copy (nobody else is here): it is
		// on disk before its echo says it was sent (see presenceLoop).
		l.dirty = true
	}
	out := evs[:0]
	for _, ev := range evs {
		if ev.Kind == chat.KindMessage && ev.ID == rec.ID {
			if !added {
				continue
			}
			ev.Order = time.UnixMilli(order)
			ev = r.h.files.lineEvent(r, rec, ev) // a file offer's line
			if l.holding() {
				if len(l.held) < maxHeld {
					l.held = append(l.held, ev)
					continue
				}
				// Too many: out with all, in order, and hold no more.
				out = append(out, l.release()...)
				l.expired = true
			}
		}
		out = append(out, ev)
	}
	if added && off != 0 && rec.Author != r.h.self && !l.clockTold[rec.Author] && len(l.clockTold) < maxClockTold {
		l.clockTold[rec.Author] = true
		way := "ahead of"
		if off < 0 {
			way, off = "behind", -off
		}
		out = append(out, chat.Event{Kind: chat.KindNotice, Room: r.name, Time: time.Now(), PeerID: authorName(rec),
			Text: fmt.Sprintf("%s's clock is %s %s this computer's: their lines are placed by when they arrive", chat.SanitizeNick(env.Nick), roundOff(off), way)})
	}
	return out
}

// roundOff rounds a clock offset for a sentence.
func roundOff(d time.Duration) time.Duration {
	if d >= time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

// holding reports whether live lines are held now: a pull is pending
// (counted the moment it was queued, even if presence has not woken for
// it yet) and the hold has not timed out. It starts the hold's timer.
func (l *logView) holding() bool {
	l.r.syncMu.Lock()
	l.pending = l.r.syncPending
	waiting := len(l.r.syncResults) > 0
	l.r.syncMu.Unlock()
	// Until presence has taken the results of pulls that ended (and let
	// the held lines out after them), a new line waits too: it must not
	// pass the history, nor the lines held before it.
	if l.expired || l.pending <= 0 && !waiting && len(l.held) == 0 {
		return false
	}
	l.startHold()
	return true
}

// startHold starts the hold's timer unless it runs.
func (l *logView) startHold() {
	if l.holdC != nil {
		return
	}
	if l.holdT == nil {
		l.holdT = time.NewTimer(catchUpHold)
	} else {
		l.holdT.Reset(catchUpHold)
	}
	l.holdC = l.holdT.C
}

// synced takes the pulls pending and the results of those that ended.
// A result's lines that the log lacks are logged and emitted as a
// history batch, in display order; when no pull is pending any more, the
// held live lines follow. While one is, live lines are held (from when
// the pull was queued: lines that come meanwhile follow the history
// they may answer), at most catchUpHold.
func (l *logView) synced(pending int, results []syncMsg) []chat.Event {
	l.pending = pending
	if pending > 0 && !l.expired {
		l.startHold()
	}
	var evs []chat.Event
	for _, m := range results {
		evs = append(evs, l.batch(m)...)
	}
	if pending <= 0 {
		evs = append(evs, l.release()...)
		l.expired = false
	}
	return evs
}

// batch logs a pull's lines and returns their history events.
func (l *logView) batch(m syncMsg) []chat.Event {
	r := l.r
	now := time.Now()
	var batch []ordered
	for _, rec := range m.recs {
		order := syncedOrder(rec.Envelope.Order(), now)
		rec.Received = now
		if !r.h.hist.add(r.line(rec, order)) {
			continue
		}
		if rec.Author != r.h.self {
			r.h.clock.observe(rec.Envelope.Order(), now.UnixMilli())
		}
		batch = append(batch, ordered{rec, order})
	}
	sortBatch(batch)
	var evs []chat.Event
	for _, o := range batch {
		evs = append(evs, r.historyEvent(o.rec, o.order, now))
	}
	if len(batch) > 0 {
		evs = append(evs, chat.Event{Kind: chat.KindHistory, Room: r.name, Time: now, PeerID: m.peer.String(), Count: len(batch)})
		// Lines beyond the log's bounds go at once, not at the next
		// hourly prune: a peer cannot fill the disk by serving history.
		r.h.hist.pruneSoon()
	}
	if m.older > 0 && !l.olderTold {
		l.olderTold = true
		evs = append(evs, chat.Event{Kind: chat.KindNotice, Room: r.name, Time: now, Text: fmt.Sprintf(
			"%d older messages are not fetched: history sync reaches back %s, at most %d messages",
			m.older, span(r.h.cfg.SyncWindow), r.h.cfg.SyncMaxLines)})
	}
	return evs
}

// drain logs the chat lines still queued when the room stops, without
// showing them: an own line sent just before is then on disk too.
func (l *logView) drain(inbox <-chan Record) {
	for {
		select {
		case rec, ok := <-inbox:
			if !ok {
				return
			}
			if rec.Envelope.Kind.HasText() {
				order, _ := liveOrder(rec.Envelope.Order(), rec.Envelope.Sent, rec.Received)
				l.r.h.hist.add(l.r.line(rec, order))
			}
		default:
			return
		}
	}
}

// release ends the hold and returns the held events.
func (l *logView) release() []chat.Event {
	l.stopHold()
	if l.pending > 0 {
		l.expired = true
	}
	held := l.held
	l.held = nil
	return held
}

func (l *logView) stopHold() {
	if l.holdT != nil {
		l.holdT.Stop()
	}
	l.holdC = nil
}

// span says d in words: "24 hours", "90 minutes", "45s".
func span(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}
