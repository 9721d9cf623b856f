package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Limits on repeated log lines (see repeatHandler).
const (
	// repeatWindow is the period over which repeated lines are counted.
	repeatWindow = 10 * time.Second
	// repeatPerPeer is how many lines with one message about one peer
	// (same level, same logger, same "peer" attribute) are written per
	// repeatWindow; a line logged every few seconds is never held back.
	repeatPerPeer = 5
	// repeatPerMessage is how many lines with one message, whatever the
	// peer, are written per repeatWindow: made-up peer IDs cost nothing.
	repeatPerMessage = 20
	// maxRepeatKeys bounds the (message, peer) pairs counted; beyond it,
	// lines about further peers are counted per message only.
	maxRepeatKeys = 1024
)

// repeatHandler is a slog.Handler in front of inner that rate-limits
// repeated lines: a peer that floods us with bad messages, say, must not
// fill the log (or a terminal) with thousands of identical warnings a
// second. Lines with the same level, logger (the attributes and groups
// added with With), message and "peer" attribute pass repeatPerPeer times
// per repeatWindow, lines with the same message repeatPerMessage times
// whatever the peer; the rest are counted, and when the window ends one
// line "<message> (repeated N times)" with the attributes of the last one
// held back stands for them. [repeatHandler.flush] writes the summaries
// still pending. Safe for concurrent use.
type repeatHandler struct {
	inner slog.Handler
	scope string // attributes and groups added to inner, as text
	l     *repeatLimiter
}

// repeatLimiter is the state shared by a repeatHandler and the handlers
// derived from it.
type repeatLimiter struct {
	mu        sync.Mutex
	keys      map[repeatKey]*repeatState
	lastPrune time.Time
}

type repeatKey struct {
	level slog.Level
	scope string
	msg   string
	peer  string // "" for the count of the message whatever the peer
}

// repeatState counts the lines of one key in the current window.
type repeatState struct {
	start  time.Time // the window's start
	passed int       // lines written in the window
	held   int       // lines held back in the window
	h      slog.Handler
	last   slog.Record // the last line held back
	timer  *time.Timer // ends the window when lines were held back
	window int         // counts the windows, to tell a timer of an old one
	// severalPeers: lines about peers were held back for the message
	// as a whole; the summary names none of them.
	severalPeers bool
}

func newRepeatHandler(inner slog.Handler) repeatHandler {
	return repeatHandler{inner: inner, l: &repeatLimiter{keys: map[repeatKey]*repeatState{}}}
}

func (h repeatHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h repeatHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.l.admit(h, r, time.Now()) {
		return nil
	}
	return h.inner.Handle(ctx, r)
}

func (h repeatHandler) WithAttrs(as []slog.Attr) slog.Handler {
	scope := h.scope
	for _, a := range as {
		scope += " " + a.String()
	}
	return repeatHandler{inner: h.inner.WithAttrs(as), scope: scope, l: h.l}
}

func (h repeatHandler) WithGroup(name string) slog.Handler {
	return repeatHandler{inner: h.inner.WithGroup(name), scope: h.scope + " " + name + ".", l: h.l}
}

// flush writes the summaries of the lines held back so far, and stops
// the windows' timers.
func (h repeatHandler) flush() {
	h.l.mu.Lock()
	var out []summary
	for k, st := range h.l.keys {
		if st.timer != nil {
			st.timer.Stop()
		}
		if s, ok := st.summary(); ok {
			out = append(out, s)
		}
		delete(h.l.keys, k)
	}
	h.l.mu.Unlock()
	writeSummaries(out)
}

// peerOf returns the value of r's "peer" attribute, or "".
func peerOf(r slog.Record) string {
	p := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "peer" {
			p = a.Value.String()
			return false
		}
		return true
	})
	return p
}

// admit reports whether r, logged through h at now, is to be written.
func (l *repeatLimiter) admit(h repeatHandler, r slog.Record, now time.Time) bool {
	msgKey := repeatKey{level: r.Level, scope: h.scope, msg: r.Message}
	var peerKey repeatKey
	if p := peerOf(r); p != "" {
		peerKey = msgKey
		peerKey.peer = p
	}
	l.mu.Lock()
	var out []summary
	ms := l.state(msgKey, now, &out)
	var ps *repeatState
	if peerKey.peer != "" && (l.keys[peerKey] != nil || len(l.keys) < maxRepeatKeys || l.prune(now)) {
		ps = l.state(peerKey, now, &out)
	}
	pass := true
	switch {
	case ps != nil && ps.passed >= repeatPerPeer:
		l.hold(peerKey, ps, h, r, now)
		pass = false
	case ms.passed >= repeatPerMessage:
		l.hold(msgKey, ms, h, r, now)
		ms.severalPeers = ms.severalPeers || peerKey.peer != ""
		pass = false
	default:
		ms.passed++
		if ps != nil {
			ps.passed++
		}
	}
	l.mu.Unlock()
	writeSummaries(out)
	return pass
}

// state returns the state of k at now, starting a new window when the
// last one is over (adding its summary, if any, to out).
func (l *repeatLimiter) state(k repeatKey, now time.Time, out *[]summary) *repeatState {
	st := l.keys[k]
	if st == nil {
		st = &repeatState{start: now}
		l.keys[k] = st
		return st
	}
	if now.Sub(st.start) >= repeatWindow {
		if s, ok := st.summary(); ok {
			*out = append(*out, s)
		}
		if st.timer != nil {
			st.timer.Stop()
			st.timer = nil
		}
		st.start, st.passed = now, 0
		st.window++
	}
	return st
}

// prune forgets the keys whose window is over with nothing held back, at
// most once a second, and reports whether there is room for one more.
func (l *repeatLimiter) prune(now time.Time) bool {
	if now.Sub(l.lastPrune) < time.Second {
		return false
	}
	l.lastPrune = now
	for k, st := range l.keys {
		if st.held == 0 && now.Sub(st.start) >= repeatWindow {
			delete(l.keys, k)
		}
	}
	return len(l.keys) < maxRepeatKeys
}

// hold counts r as held back under k, and makes sure the window's end
// writes the summary even if the line is never logged again.
func (l *repeatLimiter) hold(k repeatKey, st *repeatState, h repeatHandler, r slog.Record, now time.Time) {
	st.held++
	st.h = h.inner
	st.last = r.Clone()
	if st.timer == nil {
		w := st.window
		st.timer = time.AfterFunc(st.start.Add(repeatWindow).Sub(now), func() { l.endWindow(k, st, w) })
	}
}

// endWindow writes the summary of st, if it is still k's state in window
// w (a line may have ended the window first), and starts a new window.
func (l *repeatLimiter) endWindow(k repeatKey, st *repeatState, w int) {
	l.mu.Lock()
	if l.keys[k] != st || st.window != w {
		l.mu.Unlock()
		return
	}
	s, ok := st.summary()
	st.timer = nil
	st.start, st.passed = time.Now(), 0
	st.window++
	l.mu.Unlock()
	if ok {
		writeSummaries([]summary{s})
	}
}

// summary is one "(repeated N times)" line to write.
type summary struct {
	h slog.Handler
	r slog.Record
}

// summary returns the line standing for the lines st held back, if any,
// and resets the count.
func (st *repeatState) summary() (summary, bool) {
	if st.held == 0 {
		return summary{}, false
	}
	msg := fmt.Sprintf("%s (repeated %d times)", st.last.Message, st.held)
	if st.severalPeers {
		msg = fmt.Sprintf("%s (repeated %d times, about several peers)", st.last.Message, st.held)
	}
	r := slog.NewRecord(time.Now(), st.last.Level, msg, st.last.PC)
	st.last.Attrs(func(a slog.Attr) bool {
		if !st.severalPeers || a.Key != "peer" {
			r.AddAttrs(a)
		}
		return true
	})
	st.held, st.severalPeers = 0, false
	return summary{st.h, r}, true
}

func writeSummaries(out []summary) {
	for _, s := range out {
		_ = s.h.Handle(context.Background(), s.r)
	}
}
