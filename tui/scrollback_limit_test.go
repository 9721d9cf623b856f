package tui

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"weak"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"lanchat/node/chat"
)

// sizedEntry is an entry sorting at minute min with ID id whose text is
// id padded with dots to n bytes (at least the ID).
func sizedEntry(min int, id string, n int) entry {
	text := id + strings.Repeat(".", max(n-len(id), 0))
	return entry{kind: kindMessage, at: int64(min) * int64(time.Minute), id: id, spans: []span{{text, nil}}}
}

// checkLimits fails unless sb is within its limits, its byte count is
// that of its entries, and its row caches and anchor point at entries it
// has.
func checkLimits(t *testing.T, sb *scrollback) {
	t.Helper()
	n := sb.entries.len()
	if sb.maxEntries > 0 && n > sb.maxEntries {
		t.Fatalf("%d entries kept, limit %d", n, sb.maxEntries)
	}
	sum := 0
	for i := range n {
		sum += sb.entries.at(i).size()
	}
	if sum != sb.bytes {
		t.Fatalf("byte count %d, the entries have %d", sb.bytes, sum)
	}
	if sb.maxBytes > 0 && sum > sb.maxBytes && n > 1 {
		t.Fatalf("%d bytes kept in %d entries, limit %d", sum, n, sb.maxBytes)
	}
	if want := (sb.entries.off + n + entryBlock - 1) / entryBlock; len(sb.entries.blocks) > want {
		t.Fatalf("%d blocks kept for %d entries", len(sb.entries.blocks), n)
	}
	for _, c := range sb.wrapped {
		i := c.i - sb.dropped
		if i < 0 {
			continue
		}
		if i >= n {
			t.Fatalf("row cache of entry %d of %d", i, n)
		}
		e := sb.entries.at(i)
		var text strings.Builder
		for _, sp := range e.spans {
			text.WriteString(sp.text)
		}
		if e.wrapKey == c.wrapKey && (len(e.rows) == 0 || !strings.HasPrefix(text.String(), ansi.Strip(e.rows[0].s))) {
			t.Fatalf("row cache %d (%d rows) does not belong to entry %q", i, len(e.rows), e.id)
		}
	}
	if !sb.follow && (sb.anchor.e < 0 || sb.anchor.e >= n || sb.anchor.r >= len(sb.rowsOf(sb.anchor.e))) {
		t.Fatalf("anchor %+v outside the %d entries", sb.anchor, n)
	}
}

// TestScrollbackLimits floods a scrollback with far more lines than its
// limits allow: it keeps the newest, as many as fit and no more, with its
// memory (blocks of entries) bounded; a scrolled-up view stays full.
func TestScrollbackLimits(t *testing.T) {
	const flood, height = 20_000, 5
	tests := []struct {
		name           string
		lines, bytes   int
		size           func(i int) int // bytes of line i
		wantN          int             // entries kept
		wantBytesLimit bool            // the byte limit is what binds
	}{
		{"lines", 100, 0, func(int) int { return 20 }, 100, false},
		{"bytes", 0, 10_000, func(int) int { return 300 }, 32, true}, // 306 bytes with the ID
		{"bytes of varied lines", 5000, 10_000, func(i int) int { return 10 + i%500 }, 0, true},
		{"lines before bytes", 100, 1 << 20, func(int) int { return 300 }, 100, false},
		{"one line over the bytes", 100, 100, func(i int) int { return 1000 }, 1, true},
	}
	for _, tt := range tests {
		for _, scrolled := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/scrolled=%v", tt.name, scrolled), func(t *testing.T) {
				sb := &scrollback{follow: true, width: 40, maxEntries: tt.lines, maxBytes: tt.bytes}
				for i := range flood {
					sb.add(sizedEntry(i, fmt.Sprintf("e%05d", i), tt.size(i)))
					if i == 10 && scrolled {
						sb.scroll(-3, height)
					}
					if i%1000 == 0 {
						sb.prepare(height)
						checkLimits(t, sb)
					}
				}
				checkLimits(t, sb)
				n := sb.entries.len()
				if tt.wantN > 0 && n != tt.wantN {
					t.Errorf("%d entries kept, want %d", n, tt.wantN)
				}
				if got, want := sb.entries.at(n-1).id, fmt.Sprintf("e%05d", flood-1); got != want {
					t.Errorf("newest entry %q, want %q", got, want)
				}
				for i := range n {
					if got, want := sb.entries.at(i).id, fmt.Sprintf("e%05d", flood-n+i); got != want {
						t.Fatalf("entry %d is %q, want %q: not the newest in order", i, got, want)
					}
				}
				if prev := sizedEntry(0, fmt.Sprintf("e%05d", flood-n-1), tt.size(flood-n-1)); tt.wantBytesLimit && n > 1 && sb.bytes+prev.size() <= tt.bytes {
					t.Errorf("%d bytes kept, limit %d: the line before (%d bytes) was dropped but fits", sb.bytes, tt.bytes, prev.size())
				}
				if sb.dropped != flood-n {
					t.Errorf("dropped %d, want %d", sb.dropped, flood-n)
				}
				if scrolled {
					if sb.follow {
						t.Fatal("scrolled up, the flood made the view follow")
					}
					sb.prepare(height)
					rows := 0
					for i := range n {
						rows += len(sb.rowsOf(i))
					}
					if got := len(sb.visible(height)); got != min(height, rows) {
						t.Errorf("scrolled up, the view shows %d rows, want %d", got, min(height, rows))
					}
				}
			})
		}
	}
}

// TestScrollbackLimitsInsert puts history lines into a full scrollback:
// it stays within its limits, dropping its oldest entries; a line older
// than everything it keeps does not stay.
func TestScrollbackLimitsInsert(t *testing.T) {
	ids := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("e%02d", i))
		}
		return out
	}
	full := func() *scrollback {
		sb := &scrollback{follow: true, width: 40, maxEntries: 10}
		for i := range 20 {
			sb.add(testEntry(2*i+1, fmt.Sprintf("e%02d", i))) // keeps e10…e19 at minutes 21…39
		}
		return sb
	}
	tests := []struct {
		name  string
		batch []entry
		want  []string
	}{
		{"older than all", []entry{testEntry(0, "old")}, ids(10, 20)},
		{"a batch older than all", []entry{testEntry(0, "old1"), testEntry(1, "old2"), testEntry(2, "old3")}, ids(10, 20)},
		{"in between", []entry{testEntry(30, "mid")}, append(append(ids(11, 15), "mid"), ids(15, 20)...)},
		{"newest", []entry{testEntry(50, "new")}, append(ids(11, 20), "new")},
		{"old and new", []entry{testEntry(0, "old"), testEntry(50, "new")}, append(ids(11, 20), "new")},
		{"more than fit", []entry{testEntry(40, "n0"), testEntry(41, "n1"), testEntry(42, "n2"), testEntry(43, "n3"),
			testEntry(44, "n4"), testEntry(45, "n5"), testEntry(46, "n6"), testEntry(47, "n7"), testEntry(48, "n8"),
			testEntry(49, "n9"), testEntry(50, "n10")},
			[]string{"n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "n10"}},
	}
	for _, tt := range tests {
		for _, scrolled := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/scrolled=%v", tt.name, scrolled), func(t *testing.T) {
				sb := full()
				if scrolled {
					sb.scroll(-4, 3)
				}
				sb.insert(slices.Clone(tt.batch))
				if got := entriesOf(sb); !slices.Equal(got, tt.want) {
					t.Errorf("entries %q, want %q", got, tt.want)
				}
				sb.prepare(3)
				checkLimits(t, sb)
				if scrolled && len(sb.visible(3)) != 3 {
					t.Errorf("scrolled up, the view shows %d rows, want 3", len(sb.visible(3)))
				}
			})
		}
	}
}

// TestScrollbackLimitsRandom adds lines and inserts history batches at
// random into scrollbacks with small limits, scrolling about, and compares
// with a list that keeps the newest entries within the limits.
func TestScrollbackLimitsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 2026))
	const height = 4
	for round := range 150 {
		sb := &scrollback{follow: true, width: 20, maxEntries: 1 + rng.IntN(30), maxBytes: 50 + rng.IntN(1000)}
		var want []entry
		wantBytes := 0
		trim := func() {
			for len(want) > 1 && (len(want) > sb.maxEntries || wantBytes > sb.maxBytes) {
				wantBytes -= want[0].size()
				want = want[1:]
			}
		}
		for op := range 60 {
			switch rng.IntN(4) {
			case 0, 1:
				e := sizedEntry(rng.IntN(100), fmt.Sprintf("e%d.%d", round, op), rng.IntN(70))
				sb.add(e)
				want = append(want, e)
				wantBytes += e.size()
			case 2:
				var batch []entry
				for i := range rng.IntN(8) {
					batch = append(batch, sizedEntry(rng.IntN(100), fmt.Sprintf("b%d.%d.%d", round, op, i), rng.IntN(70)))
				}
				slices.SortStableFunc(batch, func(x, y entry) int {
					if c := cmp.Compare(x.at, y.at); c != 0 {
						return c
					}
					return strings.Compare(x.id, y.id)
				})
				sb.insert(slices.Clone(batch))
				for _, e := range batch {
					j := len(want)
					for j > 0 && want[j-1].sortsAfter(e.at, e.id) {
						j--
					}
					want = slices.Insert(want, j, e)
					wantBytes += e.size()
				}
			case 3:
				sb.scroll(rng.IntN(11)-5, height)
			}
			trim()
			sb.prepare(height)
			var wantIDs []string
			rows := 0
			for _, e := range want {
				wantIDs = append(wantIDs, e.id)
				rows += len(wrapSpans(e.spans, sb.width, e.indent, sb.method))
			}
			if got := entriesOf(sb); !slices.Equal(got, wantIDs) {
				t.Fatalf("round %d op %d: entries\n%q\nwant\n%q", round, op, got, wantIDs)
			}
			checkLimits(t, sb)
			if got := len(sb.visible(height)); got != min(rows, height) {
				t.Fatalf("round %d op %d: the view shows %d rows of %d, want %d", round, op, got, rows, min(rows, height))
			}
		}
	}
}

// floodScreen delivers n chat lines from bob to the current room in
// batches as the event Cmd takes them, drawing after each batch. The
// lines are those of [burstEvents], each padded to at least pad bytes.
func floodScreen(m *screenModel, n, pad int) {
	for i := 0; i < n; i += maxEventBatch {
		evs := burstEvents(min(maxEventBatch, n-i))
		for j := range evs {
			evs[j].ID = fmt.Sprint(i + j)
			evs[j].Text = fmt.Sprintf("message %d:%s", i+j, strings.TrimPrefix(evs[j].Text, fmt.Sprintf("message %d:", j)))
			if len(evs[j].Text) < pad {
				evs[j].Text += strings.Repeat(" lorem ipsum", (pad-len(evs[j].Text))/12+1)
			}
		}
		m.Update(roomEventsMsg{rv: m.sess.cur, events: evs})
		_ = m.View()
	}
}

// TestScreenScrollbackLimit floods the screen: it keeps the newest lines
// within the limits, shows the newest, and Home goes to the oldest kept.
func TestScreenScrollbackLimit(t *testing.T) {
	ts := newTestScreenWith(t, screenConfig{scrollbackLines: 200}, newScreenRoom("private"), 100, 20)
	floodScreen(ts.m, 10_000, 0)
	sb := &ts.m.tab().msgs.sb
	checkLimits(t, sb)
	if n := sb.entries.len(); n != 200 {
		t.Errorf("%d entries kept, want 200", n)
	}
	if s := ts.screen(); !strings.Contains(s, "message 9999:") {
		t.Errorf("the newest line is not shown:\n%s", s)
	}
	if s := ts.screen(); strings.Contains(s, "dropped") {
		t.Errorf("following, the status line tells of dropped lines:\n%s", s)
	}
	ts.key("home")
	// 10,000 lines and the two lines of the welcome, 200 kept
	dropped := fmt.Sprintf("%d older lines dropped (scrollback limit)", 10_002-200)
	if s := ts.screen(); !strings.Contains(s, "message 9800:") || strings.Contains(s, "message 9799:") || strings.Contains(s, "Welcome") ||
		!strings.Contains(s, dropped) {
		t.Errorf("Home does not show the oldest line kept (9800) and %q:\n%s", dropped, s)
	}
	ts.key("pgdown")
	if s := ts.screen(); strings.Contains(s, "dropped") || !strings.Contains(s, "scrolled up") {
		t.Errorf("a page below the top, the status line tells of dropped lines:\n%s", s)
	}
	// Scrolled up at the top, the view stays full while the lines it
	// shows are dropped.
	ts.key("home")
	floodScreen(ts.m, 1000, 0)
	checkLimits(t, sb)
	want := fmt.Sprintf("1000 new messages below · %d older lines dropped (scrollback limit)", 11_002-200)
	if s := ts.screen(); !strings.Contains(s, want) || !strings.Contains(s, "message 800:") {
		t.Errorf("scrolled up at the top, a flood: want %q and the oldest line kept:\n%s", want, s)
	}

	d := newTestScreen(t, newScreenRoom("private"), 100, 20)
	if sb := d.m.tab().msgs.sb; sb.maxEntries != DefaultScrollbackLines || sb.maxBytes != DefaultScrollbackBytes {
		t.Errorf("default limits %d lines, %d bytes; want %d, %d", sb.maxEntries, sb.maxBytes, DefaultScrollbackLines, DefaultScrollbackBytes)
	}
	// A room joined later has the same limits.
	d.enter("/join dev")
	d.drain()
	if sb := d.m.tab().msgs.sb; d.m.sess.cur.name != "dev" || sb.maxEntries != DefaultScrollbackLines || sb.maxBytes != DefaultScrollbackBytes {
		t.Errorf("joined room %q: limits %d lines, %d bytes", d.m.sess.cur.name, sb.maxEntries, sb.maxBytes)
	}
}

// heapAlloc returns the bytes of live heap objects after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestScreenClearFrees fills a room's scrollback to its byte limit and
// checks that /clear lets the memory go: the blocks of entries and the
// cached rows are collected, and the live heap shrinks by at least half
// the text it held.
func TestScreenClearFrees(t *testing.T) {
	ts := newTestScreen(t, newScreenRoom("private"), 100, 30)
	for i := 0; i < 6000; i += maxEventBatch {
		var evs []chat.Event
		for j := i; j < i+maxEventBatch; j++ {
			// about 900 bytes, each line its own string as from the network
			evs = append(evs, msgEvent(j%60, idBob, "bob", fmt.Sprintf("%05d %s", j, strings.Repeat("flood ", 150))))
		}
		ts.update(roomEventsMsg{rv: ts.m.sess.cur, events: evs})
	}
	sb := &ts.m.tab().msgs.sb
	checkLimits(t, sb)
	held := sb.bytes
	if held < DefaultScrollbackBytes*9/10 {
		t.Fatalf("the scrollback holds %d bytes, want about %d", held, DefaultScrollbackBytes)
	}
	block := weak.Make(&sb.entries.blocks[0][0])
	last := sb.entries.at(sb.entries.len() - 1)
	if len(last.rows) == 0 {
		t.Fatal("the newest line has no cached rows")
	}
	rows := weak.Make(&last.rows[0])
	last = nil
	before := heapAlloc()

	ts.enter("/clear")
	after := heapAlloc()
	if n := sb.entries.len(); n != 0 || sb.bytes != 0 || len(sb.entries.blocks) != 0 || sb.wrapped != nil {
		t.Errorf("after /clear: %d entries, %d bytes, %d blocks, %d row caches", n, sb.bytes, len(sb.entries.blocks), len(sb.wrapped))
	}
	if block.Value() != nil {
		t.Error("after /clear a block of entries is still reachable")
	}
	if rows.Value() != nil {
		t.Error("after /clear the cached rows of a line are still reachable")
	}
	if before < after || before-after < uint64(held/2) {
		t.Errorf("live heap %d bytes before /clear, %d after: want it %d bytes smaller at least", before, after, held/2)
	}
	// The room goes on within its limits.
	ts.events(msgEvent(1, idBob, "bob", "after the clear"))
	if s := ts.screen(); !strings.Contains(s, "after the clear") {
		t.Errorf("a line after /clear is not shown:\n%s", s)
	}
}

// BenchmarkScrollbackFlood floods one room with 100,000 chat lines, as
// the screen takes them, and reports what the room keeps: entries, bytes
// of text, and the live heap the model holds (text, entries, cached rows).
// "short" lines are those of [burstEvents] (a fifth of them wrap), "long"
// ones 2,000 bytes; with the default limits and, for comparison, short
// lines without limits. Run with
//
//	go test ./tui/ -run '^$' -bench ScrollbackFlood -benchtime 1x
func BenchmarkScrollbackFlood(b *testing.B) {
	const lines = 100_000
	for _, bc := range []struct {
		name         string
		lines, bytes int
		pad          int
	}{
		{"short/default", 0, 0, 0},
		{"short/unlimited", 1 << 30, 1 << 40, 0},
		{"long/default", 0, 0, 2000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var kept, text int
			var heap int64
			for b.Loop() {
				base := int64(heapAlloc())
				room := newScreenRoom("private")
				m := newScreenModel(room.host, []Room{room}, screenConfig{now: func() time.Time { return testStart }, manual: true,
					scrollbackLines: bc.lines, scrollbackBytes: bc.bytes})
				m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
				floodScreen(m, lines, bc.pad)
				heap = int64(heapAlloc()) - base
				sb := &m.tab().msgs.sb
				kept, text = sb.entries.len(), sb.bytes
				runtime.KeepAlive(m)
			}
			b.ReportMetric(float64(kept), "entries/room")
			b.ReportMetric(float64(text), "text-B/room")
			b.ReportMetric(float64(heap), "heap-B/room")
		})
	}
}
