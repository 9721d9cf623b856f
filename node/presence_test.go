package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

func testPeerID(t *testing.T) peer.ID {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRoster drives the roster through one scripted history and checks the
// events of each step.
func TestRoster(t *testing.T) {
	self, bob := testPeerID(t), testPeerID(t)
	t0 := time.Unix(1700000000, 0)
	const lostAfter = 6 * time.Second
	r := newRoster(testRoom, self, "alice", t0, 2*time.Second, lostAfter)

	msg := func(from peer.ID, seq uint64, k wire.Kind, nick, text string) Record {
		return Record{Author: from, Seqno: seq, ID: fmt.Sprint(seq), Envelope: wire.Envelope{Kind: k, Sent: 1, Nick: nick, Text: text}}
	}
	type step struct {
		name       string
		in         *Record       // message to handle, or
		at         time.Duration // time of the step after t0
		want       string        // events, formatted by evString
		reannounce bool
	}
	hb := func(seq uint64, nick string) *Record { m := msg(bob, seq, wire.KindHeartbeat, nick, ""); return &m }
	say := func(seq uint64, nick, text string) *Record {
		m := msg(bob, seq, wire.KindMessage, nick, text)
		return &m
	}
	leave := func(seq uint64) *Record { m := msg(bob, seq, wire.KindLeave, "bob", ""); return &m }
	mine := func(k wire.Kind, nick, text string) *Record { m := msg(self, 1, k, nick, text); return &m }
	steps := []step{
		{name: "first heartbeat joins", in: hb(10, "bob"), want: "join bob", reannounce: true},
		{name: "heartbeat is quiet", in: hb(11, "bob"), at: time.Second},
		{name: "message", in: say(12, "bob", "hi"), at: 2 * time.Second, want: "message bob hi"},
		{name: "newer nick", in: hb(14, "bobby"), at: 3 * time.Second, want: "nick bob->bobby"},
		{name: "older envelope keeps nick", in: say(13, "bob", "late"), at: 3 * time.Second, want: "message bob late"},
		{name: "not lost yet", at: 8 * time.Second},
		{name: "lost", at: 9 * time.Second, want: "leave bobby lost"},
		{name: "lost only once", at: 20 * time.Second},
		{name: "old heartbeat does not bring a lost member back", in: hb(9, "bob"), at: 20 * time.Second},
		{name: "old message shown, member stays lost", in: say(8, "bob", "stale"), at: 20 * time.Second, want: "message bob stale"},
		{name: "back", in: hb(20, "bobby"), at: 21 * time.Second, want: "join bobby", reannounce: true},
		{name: "leave older than the last envelope is stale", in: leave(15), at: 21 * time.Second},
		{name: "still here after the stale leave", at: 26 * time.Second},
		{name: "quit", in: leave(21), at: 22 * time.Second, want: "leave bobby quit"},
		{name: "late message after quit", in: say(19, "bobby", "bye"), at: 22 * time.Second, want: "message bobby bye"},
		{name: "late heartbeat after quit", in: hb(20, "bobby"), at: 22 * time.Second},
		{name: "restart joins", in: hb(100, "bob"), at: 30 * time.Second, want: "join bob", reannounce: true},
		{name: "own join is quiet", in: mine(wire.KindJoin, "alice", ""), at: 30 * time.Second},
		{name: "own message", in: mine(wire.KindMessage, "alice", "me"), at: 30 * time.Second, want: "message alice me self"},
		{name: "own nick", in: mine(wire.KindNick, "al", ""), at: 30 * time.Second, want: "nick alice->al self"},
		{name: "bob lost again, self never", at: time.Hour, want: "leave bob lost"},
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		var evs []chat.Event
		re := false
		if s.in != nil {
			evs, re = r.handle(*s.in, now)
		} else {
			evs = r.expire(now)
		}
		if got := evString(evs); got != s.want || re != s.reannounce {
			t.Errorf("%s: events %q reannounce %v; want %q %v", s.name, got, re, s.want, s.reannounce)
		}
	}
	// Lost members are listed as lost, not present, until lostForget
	// after they were lost.
	r.expire(t0.Add(time.Hour + lostForget - time.Second))
	if got, present := len(r.members()), r.present(); got != 2 || present != 1 || r.lost != 1 {
		t.Errorf("before lostForget: %d members, %d present, %d lost; want 2, 1 (self), 1", got, present, r.lost)
	}
	r.expire(t0.Add(time.Hour + lostForget))
	if got := len(r.members()); got != 1 || r.lost != 0 {
		t.Errorf("after lostForget: %d members, %d lost; want 1 (self), 0", got, r.lost)
	}
}

func TestSeqWindow(t *testing.T) {
	const top = 1_000_000
	tests := []struct {
		name string
		seqs []uint64 // accepted in turn before the last
		last uint64
		want bool
	}{
		{"first", nil, 5, true},
		{"first zero", nil, 0, true},
		{"zero again", []uint64{0}, 0, false},
		{"next", []uint64{top}, top + 1, true},
		{"duplicate", []uint64{top}, top, false},
		{"late within window", []uint64{top, top + 2}, top + 1, true},
		{"late twice", []uint64{top, top + 2, top + 1}, top + 1, false},
		{"oldest in window", []uint64{top}, top - replayWindow + 1, true},
		{"just below window", []uint64{top}, top - replayWindow, false},
		{"far below", []uint64{top}, 1, false},
		{"window cleared on a long jump", []uint64{top - 1, top + replayWindow - 1}, top + replayWindow/2, true},
		{"stale slot cleared on advance", []uint64{top - replayWindow + 3, top, top + 10}, top + 3, true},
		{"slot reused after a wrap", []uint64{top, top + replayWindow}, top + replayWindow, false},
		{"restart far above", []uint64{top, top + 1}, top + 10*replayWindow, true},
		{"old after restart", []uint64{top, top + 10*replayWindow}, top + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w seqWindow
			for _, s := range tt.seqs {
				if !w.accept(s) {
					t.Fatalf("setup: accept(%d) = false after %v", s, tt.seqs)
				}
			}
			if got := w.accept(tt.last); got != tt.want {
				t.Errorf("accept(%d) after %v = %v, want %v", tt.last, tt.seqs, got, tt.want)
			}
		})
	}
	// Every number in a shuffled run is accepted exactly once.
	var w seqWindow
	for i := range uint64(3 * replayWindow) {
		s := top + i ^ 7 // local reordering
		if !w.accept(s) || w.accept(s) {
			t.Fatalf("seq %d: not accepted exactly once", s)
		}
	}
}

// TestRosterLinks: a member directly in the topic is never lost for its
// silence; one whose direct link went is lost a heartbeat interval later
// unless it is heard again by another route (then LostAfter of silence
// applies) or comes back into the topic; one never directly in the topic
// is lost after LostAfter of silence.
func TestRosterLinks(t *testing.T) {
	const (
		hb        = 2 * time.Second
		lostAfter = 6 * time.Second
	)
	t0 := time.Unix(1700000000, 0)
	ms := func(d int) time.Time { return t0.Add(time.Duration(d) * time.Millisecond) }
	type step struct {
		at   int    // ms after t0
		do   string // "in", "out", "heard", "leave", "hb" or "" (expire only)
		want string // events of the expire that follows
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"direct: never lost for silence", []step{
			{at: 0, do: "in"},
			{at: 3_600_000},
		}},
		{"silent after its link went", []step{
			{at: 0, do: "in"},
			{at: 1000, do: "out"},
			{at: 2999},
			{at: 3000, want: "leave bob lost"},
		}},
		{"silent long before its link went", []step{
			{at: 0, do: "in"},
			{at: 60_000, do: "out"},
			{at: 61_999},
			{at: 62_000, want: "leave bob lost"},
		}},
		{"heard just before the link went", []step{
			{at: 0, do: "in"},
			{at: 900, do: "hb"},
			{at: 1000, do: "out"},
			{at: 3000, want: "leave bob lost"},
		}},
		{"heartbeat by another route", []step{
			{at: 0, do: "in"},
			{at: 1000, do: "out"},
			{at: 2000, do: "hb"},
			{at: 4500},
			{at: 7999},
			{at: 8000, want: "leave bob lost"},
		}},
		{"heard by the validator", []step{
			{at: 0, do: "in"},
			{at: 1000, do: "out"},
			{at: 2000, do: "heard"},
			{at: 4500},
			{at: 8000, want: "leave bob lost"},
		}},
		{"leave heard before the link went, not handled yet", []step{
			{at: 0, do: "in"},
			{at: 900, do: "leave"},
			{at: 1000, do: "out"},
			{at: 3500},
			{at: 6900, want: "leave bob lost"}, // never handled: LostAfter still applies
		}},
		{"back in the topic", []step{
			{at: 0, do: "in"},
			{at: 500, do: "out"},
			{at: 1000, do: "in"},
			{at: 3_600_000},
		}},
		{"never in the topic: LostAfter", []step{
			{at: 5999},
			{at: 6000, want: "leave bob lost"},
		}},
		// pubsub dropped bob from its view of the topic on this side only,
		// his connection up: he is there until the connection goes too.
		{"out of the topic, still connected", []step{
			{at: 0, do: "conn"},
			{at: 0, do: "in"},
			{at: 1000, do: "out"},
			{at: 3000},
			{at: 8999},
			{at: 60_000},
			{at: 65_999, do: "noconn"},
			{at: 66_000, want: "leave bob lost"},
		}},
		{"connected, never in the topic", []step{
			{at: 0, do: "conn"},
			{at: 6000},
			{at: 11_999, do: "noconn"},
			{at: 12_000, want: "leave bob lost"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			self, bob := testPeerID(t), testPeerID(t)
			r := newRoster(testRoom, self, "alice", t0, hb, lostAfter)
			connected := false
			r.connected = func(p peer.ID) bool { return p == bob && connected }
			seq := uint64(1)
			r.handle(Record{Author: bob, Seqno: seq, Envelope: wire.Envelope{Kind: wire.KindJoin, Nick: "bob"}}, t0)
			in, left := map[peer.ID]bool{}, map[peer.ID]time.Time{}
			for _, s := range tt.steps {
				now := ms(s.at)
				switch s.do {
				case "conn", "noconn":
					connected = s.do == "conn"
				case "in":
					in[bob] = true
					delete(left, bob)
					r.linked(in, left)
				case "out":
					delete(in, bob)
					left[bob] = now
					r.linked(in, left)
				case "heard":
					r.heard(bob, now, false)
				case "leave":
					r.heard(bob, now, true)
				case "hb":
					seq++
					r.handle(Record{Author: bob, Seqno: seq, Envelope: wire.Envelope{Kind: wire.KindHeartbeat, Nick: "bob"}}, now)
				}
				if got := evString(r.expire(now)); got != s.want {
					t.Errorf("at %dms after %q: expire = %q, want %q", s.at, s.do, got, s.want)
				}
			}
		})
	}
}

// TestRosterSchedule: the roster's next deadline, and whether the room
// needs heartbeats: only while a member present is not directly in the
// topic.
func TestRosterSchedule(t *testing.T) {
	const hb, lostAfter = 2 * time.Second, 6 * time.Second
	t0 := time.Unix(1700000000, 0)
	self, bob, carol := testPeerID(t), testPeerID(t), testPeerID(t)
	r := newRoster(testRoom, self, "alice", t0, hb, lostAfter)
	check := func(what string, now, wantNext time.Time, wantHB bool) {
		t.Helper()
		if next, heartbeats := r.schedule(now); !next.Equal(wantNext) || heartbeats != wantHB {
			t.Errorf("%s: schedule = %v, %v; want %v, %v", what, next, heartbeats, wantNext, wantHB)
		}
	}
	check("alone", t0, time.Time{}, false)

	in := map[peer.ID]bool{bob: true}
	r.linked(in, nil)
	r.handle(Record{Author: bob, Seqno: 1, Envelope: wire.Envelope{Kind: wire.KindJoin, Nick: "bob"}}, t0)
	check("bob directly in the topic", t0, time.Time{}, false)

	r.handle(Record{Author: carol, Seqno: 1, Envelope: wire.Envelope{Kind: wire.KindJoin, Nick: "carol"}}, t0)
	check("carol heard through bob", t0, t0.Add(lostAfter), true)
	r.linked(map[peer.ID]bool{bob: true, carol: true}, nil)
	check("carol directly in the topic too", t0, time.Time{}, false)

	at := t0.Add(time.Minute)
	r.linked(map[peer.ID]bool{carol: true}, map[peer.ID]time.Time{bob: at})
	check("bob's link went", at, at.Add(hb), true)
	if got := evString(r.expire(at.Add(hb))); got != "leave bob lost" {
		t.Fatalf("expire = %q, want bob lost", got)
	}
	check("bob lost", at.Add(hb), at.Add(hb+lostForget), false)

	if back := r.linked(map[peer.ID]bool{carol: true, bob: true}, nil); !slices.Equal(back, []peer.ID{bob}) {
		t.Errorf("linked = %v, want lost bob back in the topic", back)
	}
	if back := r.linked(map[peer.ID]bool{carol: true, bob: true}, nil); len(back) != 0 {
		t.Errorf("linked = %v, want nobody back twice", back)
	}
	if got := r.members(); !hasMember(got, bob.String(), true) {
		t.Errorf("bob back in the topic, not heard: members %+v, want him still lost", got)
	}

	// carol's link goes and comes back before she is lost (a process
	// that crashed and started again at once): back too, she may know
	// nobody.
	r.linked(map[peer.ID]bool{bob: true}, map[peer.ID]time.Time{carol: at})
	if back := r.linked(map[peer.ID]bool{carol: true, bob: true}, nil); !slices.Equal(back, []peer.ID{carol}) {
		t.Errorf("linked = %v, want carol back in the topic before she was lost", back)
	}

	r.handle(Record{Author: carol, Seqno: 2, Envelope: wire.Envelope{Kind: wire.KindLeave, Nick: "carol"}}, at)
	check("carol quit: her tombstone", at, at.Add(tombstoneTTL), false)
}

func TestRosterLeaveOfLostIsQuiet(t *testing.T) {
	self, bob := testPeerID(t), testPeerID(t)
	t0 := time.Unix(0, 0)
	r := newRoster(testRoom, self, "alice", t0, 250*time.Millisecond, time.Second)
	r.handle(Record{Author: bob, Seqno: 1, Envelope: wire.Envelope{Kind: wire.KindJoin, Nick: "bob"}}, t0)
	if got := evString(r.expire(t0.Add(time.Minute))); got != "leave bob lost" {
		t.Fatalf("expire = %q", got)
	}
	evs, _ := r.handle(Record{Author: bob, Seqno: 2, Envelope: wire.Envelope{Kind: wire.KindLeave, Nick: "bob"}}, t0.Add(time.Minute))
	if len(evs) != 0 || len(r.members()) != 1 {
		t.Errorf("leave of a lost member: %q, members %+v", evString(evs), r.members())
	}
}

func evString(evs []chat.Event) string {
	s := ""
	for i, ev := range evs {
		if i > 0 {
			s += "; "
		}
		switch ev.Kind {
		case chat.KindJoin:
			s += "join " + ev.Nick
		case chat.KindLeave:
			s += "leave " + ev.Nick + " " + ev.Reason
		case chat.KindNick:
			s += "nick " + ev.OldNick + "->" + ev.Nick
		case chat.KindMessage:
			s += "message " + ev.Nick + " " + ev.Text
		case chat.KindNotice:
			s += "notice " + ev.Text
		default:
			s += ev.Kind.String()
		}
		if ev.Room != testRoom {
			s += " in " + ev.Room
		}
		if ev.Self {
			s += " self"
		}
	}
	return s
}

func TestAnnounceSchedule(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var s announceSchedule
	if w := s.wait(t0); w != time.Hour {
		t.Errorf("idle wait = %v", w)
	}
	s.trigger(t0, 50*time.Millisecond)
	s.trigger(at(20*time.Millisecond), 0) // coalesced into the pending soon one
	if w := s.wait(t0); w != 150*time.Millisecond {
		t.Errorf("wait = %v, want 150ms", w)
	}
	if s.due(at(100 * time.Millisecond)) {
		t.Errorf("due too early")
	}
	if !s.due(at(150 * time.Millisecond)) {
		t.Errorf("soon one not due")
	}
	if s.due(at(151 * time.Millisecond)) {
		t.Errorf("soon one due twice")
	}
	// The later one follows the soon one by reannounceAgain - reannounceMin.
	if w := s.wait(at(151 * time.Millisecond)); w != 899*time.Millisecond {
		t.Errorf("wait for later = %v, want 899ms", w)
	}
	if !s.due(at(time.Second + 50*time.Millisecond)) {
		t.Errorf("later one not due")
	}
	if s.due(at(time.Hour)) || s.wait(t0) != time.Hour {
		t.Errorf("schedule not empty")
	}
}

// TestAnnounceSchedulePaced: triggers as fast as they can come start
// reannounceBurst pairs at once, then one pair per reannounceEvery; over
// a minute of non-stop triggers the room publishes no more than that.
func TestAnnounceSchedulePaced(t *testing.T) {
	t0 := time.Unix(0, 0)
	var s announceSchedule
	var starts []time.Duration
	due := 0
	for now := t0; now.Before(t0.Add(time.Minute)); now = now.Add(10 * time.Millisecond) {
		hadSoon := !s.soon.IsZero()
		s.trigger(now, 0)
		if !hadSoon && !s.soon.IsZero() {
			starts = append(starts, s.soon.Sub(t0))
		}
		for s.due(now) {
			due++
		}
	}
	for i := range reannounceBurst {
		// Each pair of the burst starts as soon as the previous soon one
		// is out: every reannounceMin.
		if want := time.Duration(i+1) * (reannounceMin + 10*time.Millisecond); i > 0 && starts[i] > want {
			t.Errorf("pair %d of the burst starts at %v, want by %v", i, starts[i], want)
		}
	}
	for i := reannounceBurst + 1; i < len(starts); i++ {
		if gap := starts[i] - starts[i-1]; gap < reannounceEvery-reannounceMin {
			t.Errorf("pair %d starts %v after pair %d, want at least %v", i, gap, i-1, reannounceEvery-reannounceMin)
		}
	}
	limit := 2 * (reannounceBurst + int(time.Minute/reannounceEvery))
	t.Logf("a trigger every 10 ms for a minute: %d pairs, %d re-announces (limit %d)", len(starts), due, limit)
	if due > limit {
		t.Errorf("%d re-announces in a minute of triggers, want at most %d", due, limit)
	}
}

// TestChurnFilter: one trigger per peer per reannouncePerPeer passes; one
// filtered is owed, answered by the next re-announce or passing at the
// end of its peer's window; a forced one passes at once.
func TestChurnFilter(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	f := newChurnFilter()
	if !f.allow("bob", t0, false) {
		t.Fatal("first trigger of bob filtered")
	}
	if !f.next().IsZero() {
		t.Errorf("next = %v with nothing owed, want zero", f.next())
	}
	if f.allow("bob", at(reannouncePerPeer-time.Millisecond), false) {
		t.Error("bob passed twice within reannouncePerPeer")
	}
	// Filtered, not dropped: owed until the end of bob's window.
	if got := f.next(); !got.Equal(at(reannouncePerPeer)) {
		t.Errorf("next = %v, want the end of bob's window %v", got, at(reannouncePerPeer))
	}
	if f.due(at(reannouncePerPeer - time.Millisecond)) {
		t.Error("owed trigger due before the end of bob's window")
	}
	if !f.due(at(reannouncePerPeer)) {
		t.Error("owed trigger not due at the end of bob's window")
	}
	if f.due(at(reannouncePerPeer)) || !f.next().IsZero() {
		t.Error("owed trigger due twice")
	}
	// It passed then: bob's window starts again there.
	if f.allow("bob", at(reannouncePerPeer+time.Second), false) {
		t.Error("bob passed again right after his owed trigger")
	}
	// A re-announce for another reason answers what is owed.
	f.paid()
	if !f.next().IsZero() || f.due(at(time.Hour)) {
		t.Error("owed trigger still due after a re-announce went out")
	}
	// Forced passes at once, and starts the window.
	if !f.allow("bob", at(reannouncePerPeer+2*time.Second), true) {
		t.Error("forced trigger of bob filtered")
	}
	if f.allow("bob", at(reannouncePerPeer+3*time.Second), false) {
		t.Error("bob passed right after a forced trigger")
	}
	if got, want := f.next(), at(2*reannouncePerPeer+2*time.Second); !got.Equal(want) {
		t.Errorf("next = %v, want %v", got, want)
	}
	if !f.allow("carol", t0, false) {
		t.Error("carol filtered because of bob")
	}
	for i := range 3 * maxChurnPeers {
		f.allow(peer.ID(fmt.Sprint("p", i)), t0, false)
	}
	if len(f.peers) > maxChurnPeers {
		t.Errorf("%d peers remembered, want at most %d", len(f.peers), maxChurnPeers)
	}
	// Owed triggers are not forgotten to make room.
	later := at(time.Hour)
	f.paid()
	if !f.allow("p1", later.Add(-time.Second), false) || f.allow("p1", later, false) {
		t.Fatal("p1: want a trigger passed, then one owed")
	}
	for i := range 3 * maxChurnPeers {
		f.allow(peer.ID(fmt.Sprint("q", i)), later, false)
	}
	if !f.due(later.Add(reannouncePerPeer)) {
		t.Error("owed trigger of p1 forgotten when the filter filled up")
	}
}

// TestAnnounceScheduleSkipped: a re-announce the send budget had no room
// for is due again reannounceRetry later, outside the pacing; the pair's
// later one stands for it when it comes first.
func TestAnnounceScheduleSkipped(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var s announceSchedule
	s.trigger(t0, 0)
	soon := at(reannounceMin)
	if !s.due(soon) {
		t.Fatal("soon one not due")
	}
	// The later one is due before a retry would be: it stands for the
	// skipped one.
	s.skipped(soon)
	if got, want := s.wait(soon), reannounceAgain-reannounceMin; got != want {
		t.Errorf("after a skipped soon one: wait %v, want the later one's %v", got, want)
	}
	later := at(reannounceAgain)
	if !s.due(later) {
		t.Fatal("later one not due")
	}
	// Skipped too: it tries again, and again, until it goes out.
	for i := range 3 {
		now := later.Add(time.Duration(i) * reannounceRetry)
		s.skipped(now)
		if got := s.wait(now); got != reannounceRetry {
			t.Fatalf("skip %d: wait %v, want %v", i, got, reannounceRetry)
		}
		if !s.due(now.Add(reannounceRetry)) {
			t.Fatalf("skip %d: retry not due", i)
		}
	}
	if s.wait(at(time.Minute)) != time.Hour {
		t.Error("schedule not empty once the retry went out")
	}
}

func TestBackoff(t *testing.T) {
	t0 := time.Unix(0, 0)
	var b backoff
	if !b.ready(t0) {
		t.Fatal("fresh backoff not ready")
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i, w := range want {
		if got := b.fail(t0); got != w*time.Second {
			t.Errorf("failure %d: wait %v, want %v", i+1, got, w*time.Second)
		}
	}
	if b.ready(t0.Add(29*time.Second)) || !b.ready(t0.Add(30*time.Second)) {
		t.Errorf("ready does not follow next")
	}
	b.reset()
	if got := b.fail(t0); got != time.Second {
		t.Errorf("after reset: %v", got)
	}
}

// TestRedial runs the static-peer loop on a fake clock: it dials at once,
// backs off 1 s, 2 s, 4 s, reports the failure once, and redials within a
// second of a disconnect.
func TestRedial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var dials []time.Duration
		var connected atomic.Bool
		reports, recoveries := 0, 0
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			redial(ctx, redialer{
				connected: connected.Load,
				dial: func(context.Context) error {
					dials = append(dials, time.Since(start))
					if len(dials) <= 3 || len(dials) == 5 {
						return errors.New("cannot connect to x: connection refused")
					}
					connected.Store(true)
					return nil
				},
				report:    func(error) { reports++ },
				recovered: func() { recoveries++ },
			})
		}()
		time.Sleep(20*time.Second + 500*time.Millisecond)
		connected.Store(false) // the peer went away
		time.Sleep(10 * time.Second)
		cancel()
		<-done

		want := []time.Duration{0, 1, 3, 7, 21, 22}
		if len(dials) != len(want) {
			t.Fatalf("dials at %v, want %v s", dials, want)
		}
		for i := range want {
			if dials[i] != want[i]*time.Second {
				t.Errorf("dial %d at %v, want %v", i, dials[i], want[i]*time.Second)
			}
		}
		if reports != 2 || recoveries != 2 {
			t.Errorf("reports %d recoveries %d, want 2 and 2", reports, recoveries)
		}
	})
}

// TestStalledFrontEnd: while the front end does not read Events, presence
// cannot handle the messages queued for it; members that keep sending must
// not be reported lost for that when it catches up.
func TestStalledFrontEnd(t *testing.T) {
	t.Parallel()
	a := startNode(t, testConfig("alice"))
	cfg := testConfig("bob")
	cfg.LostAfter = 4 * cfg.HeartbeatInterval
	cfg.EventBuffer = 1
	h, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.Join(t.Context(), testRoom, RoomOptions{}) // nobody reads r.Events() for now
	if err != nil {
		t.Fatal(err)
	}
	b := &testNode{Host: h, room: r, t: t, name: "bob", changed: make(chan struct{})}
	t.Cleanup(b.close)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := b.Connect(ctx, a.addr()); err != nil {
		t.Fatal(err)
	}
	// Bob's own join fills Events; once alice is in his roster, presence
	// is stuck delivering her join.
	for !hasMember(b.Members(), a.id(), false) {
		if ctx.Err() != nil {
			t.Fatal("alice never reached bob's roster")
		}
		time.Sleep(10 * time.Millisecond) // polling the roster; no event can tell
	}
	time.Sleep(2 * cfg.LostAfter) // the stall; alice heartbeats all along
	b.collect(r.Events())
	b.collect(h.Events())
	if err := a.Send("marker"); err != nil {
		t.Fatal(err)
	}
	b.wait(5*time.Second, "marker", isMessage("marker"))
	if n := b.count(isLeave(a, chat.ReasonLost)); n != 0 {
		t.Errorf("after a stalled front end bob saw alice lost; she kept sending:\n%s", formatEvents(b.events()))
	}
}

// TestRosterBounded: made-up members cost nothing, so the roster (lost
// members included) and its remembered leaves stay bounded: a newcomer to
// a full roster takes the place of the member lost longest ago or, with
// none lost, is not listed (its lines are still shown) and the user is
// told, once every fullNoticeEvery.
func TestRosterBounded(t *testing.T) {
	self := testPeerID(t)
	t0 := time.Unix(1700000000, 0)
	r := newRoster(testRoom, self, "alice", t0, 2*time.Second, 6*time.Second)
	handle := func(p peer.ID, k wire.Kind, text string, at time.Time) []chat.Event {
		evs, _ := r.handle(Record{Author: p, Seqno: 1, Envelope: wire.Envelope{Kind: k, Sent: 1, Nick: "x", Text: text}}, at)
		return evs
	}
	hb := func(p peer.ID, at time.Time) []chat.Event { return handle(p, wire.KindHeartbeat, "", at) }
	member := func(i int) peer.ID { return peer.ID(fmt.Sprint("member", i)) }
	for i := range maxMembers - 1 { // self is one
		hb(member(i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	// Two of them are lost, member 7 first.
	for _, i := range []int{7, 3} {
		r.peers[member(i)].lost = true
		r.peers[member(i)].lostAt = t0.Add(time.Duration(10-i) * time.Second)
		r.lost++
	}
	if evs := hb("new1", t0.Add(time.Minute)); evString(evs) != "join x" {
		t.Errorf("newcomer to a full roster with lost members: %q, want its join only", evString(evs))
	}
	if len(r.peers) != maxMembers || r.peers[member(7)] != nil || r.peers[member(3)] == nil {
		t.Errorf("%d members; member 7 (lost longest ago) kept %v", len(r.peers), r.peers[member(7)] != nil)
	}
	hb("new2", t0.Add(time.Minute)) // takes member 3's place
	if r.peers["new2"] == nil || r.peers[member(3)] != nil || r.lost != 0 {
		t.Fatalf("new2 listed %v, member 3 kept %v, %d lost; want new2 in member 3's place, none lost",
			r.peers["new2"] != nil, r.peers[member(3)] != nil, r.lost)
	}
	// Nobody lost: newcomers are not listed, nobody present is pushed out,
	// and the user is told once.
	steps := []struct {
		name string
		p    peer.ID
		text string
		at   time.Duration
		want string
	}{
		{"first ignored newcomer is told", "new3", "", time.Minute, "notice " + fullText},
		{"its line is shown", "new3", "hello", time.Minute, "message x hello"},
		{"told once", "new4", "", 2 * time.Minute, ""},
		{"told again after fullNoticeEvery", "new5", "", time.Minute + fullNoticeEvery, "notice " + fullText},
	}
	for _, s := range steps {
		k := wire.KindHeartbeat
		if s.text != "" {
			k = wire.KindMessage
		}
		if got := evString(handle(s.p, k, s.text, t0.Add(s.at))); got != s.want {
			t.Errorf("%s: %q, want %q", s.name, got, s.want)
		}
	}
	if len(r.peers) != maxMembers || r.peers[self] == nil || r.peers[member(0)] == nil || r.peers["new3"] != nil {
		t.Errorf("%d members, self kept %v, member 0 kept %v, new3 listed %v", len(r.peers),
			r.peers[self] != nil, r.peers[member(0)] != nil, r.peers["new3"] != nil)
	}
	// A member that leaves makes room.
	handle(member(0), wire.KindLeave, "", t0.Add(3*time.Minute))
	if evs := hb("new6", t0.Add(3*time.Minute)); evString(evs) != "join x" {
		t.Errorf("newcomer after a leave: %q, want its join", evString(evs))
	}
	for i := range maxTombs + 10 {
		r.handle(Record{Author: peer.ID(fmt.Sprint("leaver", i)), Seqno: 1, Envelope: wire.Envelope{Kind: wire.KindLeave, Sent: 1, Nick: "x"}},
			t0.Add(time.Duration(i)*time.Millisecond))
	}
	if len(r.tombs) > maxTombs || len(r.tombs) == 0 {
		t.Errorf("%d leaves remembered, want at most %d", len(r.tombs), maxTombs)
	}
}

// TestLinkClosed: when a peer's last connection closes, LinkClosed
// receives (for local discovery to look again soon); closes coalesce
// into one pending value.
func TestLinkClosed(t *testing.T) {
	t.Parallel()
	a, b := startPair(t)
	c := startNode(t, testConfig("carol"))
	c.connect(a)
	waitKnown(5*time.Second, a, c)
	for drained := false; !drained; { // closes of the connecting phase
		select {
		case <-a.LinkClosed():
		default:
			drained = true
		}
	}
	b.crash()
	c.crash()
	select {
	case <-a.LinkClosed():
	case <-time.After(5 * time.Second):
		t.Fatal("no value on LinkClosed within 5 s of two peers' crash")
	}
	a.wait(5*time.Second, "carol lost", isLeave(c, chat.ReasonLost))
	a.wait(5*time.Second, "bob lost", isLeave(b, chat.ReasonLost))
	select {
	case <-a.LinkClosed():
		select {
		case <-a.LinkClosed():
			t.Error("LinkClosed held two values for two closes, want them coalesced")
		default:
		}
	default:
	}
}

// TestHeartbeatsWhenNeeded: while every member of the room is directly
// connected, a node publishes no heartbeat at all; once a member is heard
// only through another, it heartbeats every HeartbeatInterval.
func TestHeartbeatsWhenNeeded(t *testing.T) {
	t.Parallel()
	a, b := startPair(t)
	obs := newRawPeer(t, nil, openTopic(testRoom)) // in the topic, never in the roster
	obs.join(t, a)
	hb := a.cfg.HeartbeatInterval
	// count counts alice's heartbeats that the observer gets within d.
	count := func(d time.Duration) int {
		ctx, cancel := context.WithTimeout(t.Context(), d)
		defer cancel()
		n := 0
		for {
			m, err := obs.sub.Next(ctx)
			if err != nil {
				return n
			}
			if env, err := wire.Decode(m.GetData()); err == nil && m.GetFrom() == a.self && env.Kind == wire.KindHeartbeat {
				n++
			}
		}
	}
	settle := reannounceAgain + reannounceMin + reannounceJitter + 200*time.Millisecond // re-announces go by
	count(settle)
	if n := count(8 * hb); n != 0 {
		t.Errorf("alice published %d heartbeats in %v with bob directly connected, want none", n, 8*hb)
	}

	c := startNode(t, testConfig("carol"))
	// alice hears carol through bob only: their gaters refuse each other,
	// or the peer exchange would connect them (see exchange.go).
	a.bans.ban(c.self, time.Now().Add(time.Hour))
	c.bans.ban(a.self, time.Now().Add(time.Hour))
	c.connect(b)
	waitKnown(5*time.Second, a, b, c)
	count(settle)
	if n := count(8 * hb); n < 4 || n > 10 {
		t.Errorf("alice published %d heartbeats in %v with carol heard through bob, want about 8", n, 8*hb)
	}
}
