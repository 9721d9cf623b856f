package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// End-to-end test of direct messages (issue 12): the real binary in --json
// mode on three network-namespace hosts, each with its own --data-dir.
//
//	a /msg b (by nick), 1+N times: b gets each once, with a's nick, and
//	   a's echo says delivered (timed: p50/p99 of the N after the first)
//	c, in the same room all along, never shows any of the texts
//	b :end; a /msg b: the echo says queued (b known from the DMs)
//	b starts again (same identity and data dir): it gets the message once,
//	   a gets one dm_status delivered (timed from b's ready line)
//	a unknown nick: an error, nothing sent; :end everywhere: exit 0
const (
	dmLANCount  = 50                     // direct messages timed (within the recipient's burst of 100)
	dmLANTarget = 100 * time.Millisecond // p99 of their latency
	dmLANLimit  = 2 * time.Second        // one slower fails the test
)

// dmFields are the fields of a dm or dm_status line that lanEvent lacks.
type dmFields struct {
	To      string `json:"to"`
	ToNick  string `json:"to_nick"`
	Status  string `json:"status"`
	History bool   `json:"history"` // stored before this run
}

func dmOf(e lanEvent) dmFields {
	var f dmFields
	_ = json.Unmarshal([]byte(e.raw), &f)
	return f
}

// dmFrom matches q's direct message with text, received.
func dmFrom(q *lanProc, text string) func(lanEvent) bool {
	return func(e lanEvent) bool {
		return e.Type == "dm" && !e.Self && e.PeerID == q.id && e.Text == text && !dmOf(e).History
	}
}

// echoTo matches our own direct message to q with text and status.
func echoTo(q *lanProc, text, status string) func(lanEvent) bool {
	return func(e lanEvent) bool {
		f := dmOf(e)
		return e.Type == "dm" && e.Self && e.Text == text && f.To == q.id && f.Status == status && !f.History
	}
}

func TestLANDirectMessages(t *testing.T) {
	lan, bin, dir, key := histLAN(t, 3)
	var sum struct {
		p50, p99, max, first, queued time.Duration
		n                            int
	}
	defer func() {
		f := figure
		target := fmt.Sprintf("target p99 %v", dmLANTarget)
		if sum.p99 > dmLANTarget {
			target = "MISSED " + target
		}
		reportSummary(t, fmt.Sprintf("LAN direct messages summary: %d DMs, stdin to the recipient's output p50 %s, p99 %s, max %s (%s); "+
			"the echo said delivered; a third host saw none; queued one delivered %s after the recipient's restart (ready line), once",
			sum.n, f(sum.p50), f(sum.p99), f(sum.max), target, f(sum.queued)))
	}()
	a := startHist(t, bin, lan.Host(1), dir, "a", key)
	b := startHist(t, bin, lan.Host(2), dir, "b", key)
	c := startHist(t, bin, lan.Host(3), dir, "c", key)
	all := []*lanProc{a, b, c}
	for _, p := range all {
		for _, q := range all {
			if p != q {
				p.waitFor(t, 10*time.Second, "join of "+q.nick, joinOf(q))
			}
		}
	}

	// Delivered, to b alone, timed one at a time, after one untimed: the
	// line mode holds input back for 300 ms after the last join.
	a.say(t, "/msg b secret warm-up")
	b.waitFor(t, 5*time.Second, "the first DM", dmFrom(a, "secret warm-up"))
	var lat []time.Duration
	for i := range dmLANCount {
		text := fmt.Sprintf("secret %d for b", i)
		said := time.Now()
		a.say(t, "/msg b "+text)
		e := b.waitFor(t, dmLANLimit, "the DM "+text, dmFrom(a, text))
		lat = append(lat, e.at.Sub(said))
		if e.Nick != "a" || e.ID == "" || e.Sent == "" || e.Room != "" {
			t.Errorf("b's DM %s: want nick a, an id, sent, no room", e.raw)
		}
		echo := a.waitFor(t, dmLANLimit, "the echo of "+text, echoTo(b, text, "delivered"))
		if echo.ID != e.ID || dmOf(echo).ToNick != "b" {
			t.Errorf("a's echo %s: want id %s, to_nick b", echo.raw, e.ID)
		}
	}
	slices.Sort(lat)
	sum.n, sum.p50, sum.p99, sum.max = len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]

	// c had every chance to see them: a line after them reached it.
	a.say(t, "marker after the DMs")
	c.waitFor(t, 5*time.Second, "a's marker", messageIn(a, "lobby", "marker after the DMs"))
	b.waitFor(t, 5*time.Second, "a's marker", messageIn(a, "lobby", "marker after the DMs"))
	for _, e := range c.all() {
		if strings.Contains(e.raw, "secret") {
			t.Errorf("c's output has a direct message's text: %s", e.raw)
		}
	}
	if n := countOf(b, func(e lanEvent) bool { return e.Type == "dm" }); n != dmLANCount+1 {
		t.Errorf("b shows %d direct messages, want %d", n, dmLANCount+1)
	}

	// An unknown nick: an error, nothing sent.
	before := len(a.all())
	a.say(t, "/msg nobody hello?")
	e := a.waitFor(t, 5*time.Second, "the error", func(e lanEvent) bool { return e.Type == "error" && e.seq >= before })
	if !strings.Contains(e.Text, "nobody called nobody is here") {
		t.Errorf("a's error %s", e.raw)
	}

	// b is down: queued; b back: delivered once, and a told once.
	b.say(t, ":end")
	if code := b.waitExit(t, 10*time.Second); code != 0 {
		t.Errorf("b exited with %d", code)
	}
	a.waitFor(t, 5*time.Second, "b quit", leaveOf(b, "quit"))
	const late = "while you were out"
	a.say(t, "/msg b "+late)
	queued := a.waitFor(t, 5*time.Second, "the queued echo", echoTo(b, late, "queued"))
	b2 := startHist(t, bin, lan.Host(2), dir, "b", key)
	if b2.id != b.id {
		t.Fatalf("b restarted as %s, want %s", b2.id, b.id)
	}
	got := b2.waitFor(t, 15*time.Second, "the queued DM", dmFrom(a, late))
	sum.queued = got.at.Sub(b2.ready.at)
	if got.ID != queued.ID {
		t.Errorf("b got %s, want id %s", got.raw, queued.ID)
	}
	a.waitFor(t, 5*time.Second, "dm_status delivered", func(e lanEvent) bool {
		return e.Type == "dm_status" && e.ID == queued.ID && dmOf(e).Status == "delivered"
	})
	// Once: b2 has caught up with lobby and a line after all that.
	b2.waitFor(t, 10*time.Second, "join of a", joinOf(a))
	a.say(t, "marker after the restart")
	b2.waitFor(t, 5*time.Second, "a's second marker", messageIn(a, "lobby", "marker after the restart"))
	if n := countOf(b2, func(e lanEvent) bool { return e.Type == "dm" && !dmOf(e).History }); n != 1 {
		t.Errorf("b's second run shows %d direct messages, want the queued one once", n)
	}
	// And, as history, those its first run received.
	if n := countOf(b2, func(e lanEvent) bool { return e.Type == "dm" && dmOf(e).History }); n != dmLANCount+1 {
		t.Errorf("b's second run shows %d direct messages of its first as history, want %d", n, dmLANCount+1)
	}
	if n := countOf(a, func(e lanEvent) bool { return e.Type == "dm_status" }); n != 1 {
		t.Errorf("a shows %d dm_status lines, want 1", n)
	}

	for _, p := range []*lanProc{a, b2, c} {
		p.say(t, ":end")
	}
	for _, p := range []*lanProc{a, b2, c} {
		if code := p.waitExit(t, 10*time.Second); code != 0 {
			t.Errorf("%s exited with %d", p.nick, code)
		}
	}
}

// countOf counts the events of p's output matching pred.
func countOf(p *lanProc, pred func(lanEvent) bool) int {
	n := 0
	for _, e := range p.all() {
		if pred(e) {
			n++
		}
	}
	return n
}
