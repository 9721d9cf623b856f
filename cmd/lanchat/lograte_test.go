package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the handler's concurrent writes
// (a window's end writes from a timer).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// lines returns the lines written so far, and forgets them.
func (b *syncBuffer) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSuffix(b.b.String(), "\n")
	b.b.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// newRepeatLogger returns a logger through a repeatHandler writing text
// lines without time to buf.
func newRepeatLogger(buf *syncBuffer) (*slog.Logger, repeatHandler) {
	text := slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		}})
	h := newRepeatHandler(text)
	return slog.New(h), h
}

func countContaining(lines []string, sub string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// TestLogRepeatsOnePeer: a thousand identical warnings about one peer in a
// second give repeatPerPeer lines, then, when the window ends, one
// summary with the count and the last line's attributes.
func TestLogRepeatsOnePeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuffer
		log, _ := newRepeatLogger(&buf)
		log = log.With("component", "node")
		for i := range 1000 {
			log.Warn("bad message", "peer", "12D3KooWmallory", "seq", i)
			time.Sleep(time.Millisecond)
		}
		got := buf.take()
		if len(got) != repeatPerPeer {
			t.Fatalf("%d lines during the flood, want %d:\n%s", len(got), repeatPerPeer, strings.Join(got, "\n"))
		}
		time.Sleep(repeatWindow)
		synctest.Wait()
		got = buf.take()
		want := `level=WARN msg="bad message (repeated 995 times)" component=node peer=12D3KooWmallory seq=999`
		if len(got) != 1 || got[0] != want {
			t.Errorf("after the window: %q, want [%q]", got, want)
		}
		// A new window: the next line passes at once.
		log.Warn("bad message", "peer", "12D3KooWmallory", "seq", 1000)
		if got := buf.take(); len(got) != 1 || !strings.Contains(got[0], "seq=1000") {
			t.Errorf("first line of a new window: %q", got)
		}
	})
}

// TestLogRepeatsSustained: a flood that never stops writes at most
// repeatPerPeer lines and one summary per window, for one peer, and
// measures the bytes per second that reach the log.
func TestLogRepeatsSustained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuffer
		log, h := newRepeatLogger(&buf)
		log = log.With("component", "node", "room", "lobby")
		const rate, span = 1000, time.Minute // lines per second, for a minute
		written := 0
		var raw bytes.Buffer
		rawLog := slog.New(slog.NewTextHandler(&raw, nil)).With("component", "node", "room", "lobby")
		for i := range int(span.Seconds()) * rate {
			log.Warn("peer publishes too fast; dropping", "peer", "12D3KooWmallory", "seq", i)
			rawLog.Warn("peer publishes too fast; dropping", "peer", "12D3KooWmallory", "seq", i)
			time.Sleep(time.Second / rate)
		}
		h.flush()
		var lines []string
		for _, l := range buf.take() {
			written += len(l) + 1
			lines = append(lines, l)
		}
		windows := int(span / repeatWindow)
		if max := windows * (repeatPerPeer + 1); len(lines) > max {
			t.Errorf("%d lines for a minute of flood, want at most %d", len(lines), max)
		}
		if n := countContaining(lines, "(repeated "); n < windows-1 {
			t.Errorf("%d summaries in %d windows", n, windows)
		}
		t.Logf("a minute of %d warnings/s: %d lines, %.0f B/s written (%.0f B/s without the limit)",
			rate, len(lines), float64(written)/span.Seconds(), float64(raw.Len())/span.Seconds())
	})
}

// TestLogRepeatsManyPeers: made-up peer IDs do not get around the limit:
// one message is written repeatPerMessage times per window whatever the
// peer, and the summary names no peer.
func TestLogRepeatsManyPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuffer
		log, _ := newRepeatLogger(&buf)
		const peers = 3 * maxRepeatKeys
		for i := range peers {
			log.Warn("bad signature", "peer", fmt.Sprint("sybil", i))
		}
		if got := buf.take(); len(got) != repeatPerMessage {
			t.Errorf("%d lines for %d peers, want %d", len(got), peers, repeatPerMessage)
		}
		time.Sleep(repeatWindow)
		synctest.Wait()
		got := buf.take()
		want := fmt.Sprintf(`level=WARN msg="bad signature (repeated %d times, about several peers)"`, peers-repeatPerMessage)
		if len(got) != 1 || got[0] != want {
			t.Errorf("summary %q, want [%q]", got, want)
		}
	})
}

// TestLogRepeatsKeepsOrdinaryLines: lines that repeat slowly, other
// messages, other peers and other loggers are not held back.
func TestLogRepeatsKeepsOrdinaryLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuffer
		log, _ := newRepeatLogger(&buf)
		for i := range 20 {
			log.Debug("mdns query done", "answers", i) // every query round
			time.Sleep(3 * time.Second)
		}
		if got := buf.take(); len(got) != 20 || countContaining(got, "repeated") != 0 {
			t.Errorf("a line every 3 s: %d lines written, want 20:\n%s", len(got), strings.Join(got, "\n"))
		}
		for i := range repeatPerPeer {
			for _, p := range []string{"alice", "bob"} {
				log.Warn("dial failed", "peer", p, "n", i)
			}
			log.With("room", "a").Info("joined", "peer", "carol")
			log.With("room", "b").Info("joined", "peer", "carol")
			log.Info("another message", "peer", "alice")
		}
		if got := buf.take(); len(got) != 5*repeatPerPeer {
			t.Errorf("%d lines, want all %d:\n%s", len(got), 5*repeatPerPeer, strings.Join(got, "\n"))
		}
	})
}

// TestLogRepeatsFlush: flush writes the count of lines held back in the
// window still open (lanchat exiting in a flood), and nothing twice.
func TestLogRepeatsFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuffer
		log, h := newRepeatLogger(&buf)
		for range repeatPerMessage + 7 { // no peer: the message's limit
			log.Error("cannot write message log", "err", "disk full")
		}
		buf.take()
		h.flush()
		want := `level=ERROR msg="cannot write message log (repeated 7 times)" err="disk full"`
		if got := buf.take(); len(got) != 1 || got[0] != want {
			t.Errorf("flush wrote %q, want [%q]", got, want)
		}
		time.Sleep(2 * repeatWindow)
		synctest.Wait()
		h.flush()
		if got := buf.take(); len(got) != 0 {
			t.Errorf("written again: %q", got)
		}
	})
}

// TestLogRepeatsBehindGate: the repeat limit sits behind the start-up
// gate, as run builds it: records held until the start succeeded are
// counted when they are let through.
func TestLogRepeatsBehindGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuffer
		_, h := newRepeatLogger(&buf)
		g := &logGate{}
		log := slog.New(gateHandler{h, g})
		for range 3 * repeatPerPeer {
			log.Warn("static peer unreachable", "peer", "bob")
		}
		if got := buf.take(); len(got) != 0 {
			t.Fatalf("written before the gate opened: %q", got)
		}
		g.release(true)
		if got := buf.take(); len(got) != repeatPerPeer {
			t.Errorf("%d lines let through, want %d", len(got), repeatPerPeer)
		}
		h.flush()
		if got := buf.take(); len(got) != 1 || !strings.Contains(got[0], fmt.Sprintf("(repeated %d times)", 2*repeatPerPeer)) {
			t.Errorf("summary %q", got)
		}
	})
}
