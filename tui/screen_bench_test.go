package tui

import (
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"lanchat/node/chat"
)

// Benchmarks of the screen's cost. Run with
//
//	go test ./tui/ -run '^$' -bench Screen -benchmem
//
// BenchmarkScreenBurst is the worst case of a burst of 1,000 messages
// (into 10,000 lines of scrollback, growing):
// each one delivered alone, each followed by a full render, as if they
// trickled in one by one. BenchmarkScreenBurstBatched is how they really
// arrive when they come faster than the screen takes them (the event Cmd
// takes up to maxEventBatch at once). BenchmarkScreenKeystroke is a key
// press with 100,000 lines of scrollback. BenchmarkScreenKeyLatencyInBurst
// runs a real program: 1,000 events are queued in the room, then a key is
// pressed; it reports how long the key waits until its frame is drawn.

// burstEvents returns n chat lines of varied length, some wrapping.
func burstEvents(n int) []chat.Event {
	evs := make([]chat.Event, n)
	for i := range evs {
		text := fmt.Sprintf("message %d: the quick brown fox jumps over the lazy dog", i)
		if i%5 == 0 {
			text += " and keeps on running across the whole width of the terminal, twice over, 日本語も少し"
		}
		evs[i] = chat.Event{Kind: chat.KindMessage, Time: testStart, PeerID: idBob, Nick: "bob", Text: text, ID: fmt.Sprint(i)}
	}
	return evs
}

// benchScreen returns a 100×30 screen with history lines of scrollback,
// without the scrollback limits (which would keep 5,000): the cost of a
// scrollback as long as ScreenOptions allow.
func benchScreen(b *testing.B, history int) *screenModel {
	b.Helper()
	room := newScreenRoom("private")
	room.setMembers(
		chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
		chat.Member{PeerID: idBob, Nick: "bob"},
	)
	m := newScreenModel(room.host, []Room{room}, screenConfig{now: func() time.Time { return testStart }, manual: true,
		scrollbackLines: 1 << 30, scrollbackBytes: 1 << 40})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	evs := burstEvents(history)
	for len(evs) > 0 {
		n := min(len(evs), maxEventBatch)
		m.Update(roomEventsMsg{rv: m.sess.cur, events: evs[:n]})
		evs = evs[n:]
	}
	return m
}

func BenchmarkScreenBurst(b *testing.B) {
	evs := burstEvents(1000)
	m := benchScreen(b, 10_000)
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range evs {
			m.Update(roomEventsMsg{rv: m.sess.cur, events: []chat.Event{e}})
			_ = m.View()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/event")
}

func BenchmarkScreenBurstBatched(b *testing.B) {
	evs := burstEvents(1000)
	m := benchScreen(b, 10_000)
	b.ReportAllocs()
	for b.Loop() {
		for rest := evs; len(rest) > 0; {
			n := min(len(rest), maxEventBatch)
			m.Update(roomEventsMsg{rv: m.sess.cur, events: rest[:n]})
			_ = m.View()
			rest = rest[n:]
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/event")
}

func BenchmarkScreenKeystroke(b *testing.B) {
	m := benchScreen(b, 100_000)
	keys := []tea.KeyPressMsg{keyMsg("a"), keyMsg("backspace")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Update(keys[i%2])
		_ = m.View()
		i++
	}
}

func BenchmarkScreenKeystrokeScrolledUp(b *testing.B) {
	m := benchScreen(b, 100_000)
	m.Update(keyMsg("home"))
	keys := []tea.KeyPressMsg{keyMsg("pgdown"), keyMsg("pgup")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Update(keys[i%2])
		_ = m.View()
		i++
	}
}

func BenchmarkScreenResize(b *testing.B) {
	m := benchScreen(b, 100_000)
	sizes := []tea.WindowSizeMsg{{Width: 100, Height: 30}, {Width: 80, Height: 24}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Update(sizes[i%2])
		_ = m.View()
		i++
	}
}

// latencyModel wraps the screen to time one key press: from when the key
// is handed to the program until the View after its Update.
type latencyModel struct {
	*screenModel
	keyAt   chan time.Time // the test sends the time it sent the key
	pending time.Time
	drawn   chan time.Duration
}

func (l *latencyModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok && k.Text == "§" {
		l.pending = <-l.keyAt
	}
	_, cmd := l.screenModel.Update(msg)
	return l, cmd
}

func (l *latencyModel) View() tea.View {
	v := l.screenModel.View()
	if !l.pending.IsZero() {
		l.drawn <- time.Since(l.pending)
		l.pending = time.Time{}
	}
	return v
}

func BenchmarkScreenKeyLatencyInBurst(b *testing.B) {
	stop := make(chan struct{}) // ends the Cmds waiting on the event channels
	defer close(stop)
	room := newScreenRoom("private")
	room.setMembers(
		chat.Member{PeerID: idAlice, Nick: "alice", Self: true},
		chat.Member{PeerID: idBob, Nick: "bob"},
	)
	lm := &latencyModel{
		screenModel: newScreenModel(room.host, []Room{room}, screenConfig{now: func() time.Time { return testStart }, done: stop}),
		keyAt:       make(chan time.Time, 1),
		drawn:       make(chan time.Duration, 1),
	}
	p := tea.NewProgram(lm, tea.WithInput(nil), tea.WithOutput(io.Discard), tea.WithWindowSize(100, 30), tea.WithoutSignals())
	done := make(chan error, 1)
	go func() {
		_, err := p.Run()
		done <- err
	}()
	// Wait until the program runs before timing anything.
	lm.keyAt <- time.Now()
	p.Send(tea.KeyPressMsg{Code: '§', Text: "§"})
	<-lm.drawn
	evs := burstEvents(1000)
	var lat []time.Duration
	for b.Loop() {
		for _, e := range evs {
			room.events <- e
		}
		lm.keyAt <- time.Now()
		p.Send(tea.KeyPressMsg{Code: '§', Text: "§"})
		lat = append(lat, <-lm.drawn)
	}
	p.Quit()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}
