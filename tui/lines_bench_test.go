//go:build unix

package tui

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"lanchat/node/chat"
)

// latencyRoom is a fakeRoom whose Send reports when it was called.
type latencyRoom struct {
	*fakeRoom
	sent chan time.Time
}

func (r *latencyRoom) Send(ctx context.Context, text string) error {
	r.sent <- time.Now()
	return nil
}

// blockingPipe returns the ends of a pipe as a process gets them for its
// stdin and stdout: blocking descriptors, read and written by a thread in
// a system call rather than through the runtime's poller.
func blockingPipe(b *testing.B) (r, w *os.File) {
	b.Helper()
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		b.Fatal(err)
	}
	r, w = os.NewFile(uintptr(fds[0]), "pipe-r"), os.NewFile(uintptr(fds[1]), "pipe-w")
	b.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// BenchmarkLinesLatency reports the line front end's share of target 3
// (issue 9, stdin of one lanchat to stdout of another) in JSON mode, through
// real pipes: in-p50-µs and in-p99-µs from the write of a line to the
// input pipe to the room's Send, out-p50-µs and out-p99-µs from an event
// put on the room's channel to its line read from the output pipe. The
// lines are 5 ms apart, as a user's are far apart: each one finds the
// process idle, its threads asleep, as in BenchmarkSuiteLANLatency.
func BenchmarkLinesLatency(b *testing.B) {
	const lines, gap = 100, 5 * time.Millisecond
	in, inW := blockingPipe(b)
	outR, out := blockingPipe(b)
	room := &latencyRoom{fakeRoom: newFakeRoom("private"), sent: make(chan time.Time, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runLines(ctx, room.host, []Room{room}, in, out, JSON, noSettle) }()
	defer func() {
		cancel()
		inW.Close()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	br := bufio.NewReader(outR)
	readLine := func(want string) {
		b.Helper()
		l, err := br.ReadString('\n')
		if err != nil || !strings.Contains(l, want) {
			b.Fatalf("output line %q, %v: want one with %q", l, err, want)
		}
	}
	readLine(`"type":"ready"`)
	var toSend, toOut []time.Duration
	for b.Loop() {
		for i := range lines {
			start := time.Now()
			text := fmt.Sprintf("line %d", i)
			if _, err := fmt.Fprintln(inW, text); err != nil {
				b.Fatal(err)
			}
			select {
			case at := <-room.sent:
				toSend = append(toSend, at.Sub(start))
			case <-time.After(testWait):
				b.Fatalf("%q was not sent", text)
			}
			emitted := time.Now()
			room.events <- chat.Event{Kind: chat.KindMessage, Room: "lobby", Time: emitted, ID: "12D3KooWBob/" + text,
				PeerID: "12D3KooWBob", Nick: "bob", Text: text, Sent: emitted}
			readLine(`"text":"` + text + `"`)
			toOut = append(toOut, time.Since(emitted))
			time.Sleep(time.Until(start.Add(gap))) // the pace of the lines, not a wait for an event
		}
	}
	b.StopTimer()
	us := func(ds []time.Duration, p int) float64 {
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, len(ds)*p/100)]) / float64(time.Microsecond)
	}
	b.ReportMetric(us(toSend, 50), "in-p50-µs")
	b.ReportMetric(us(toSend, 99), "in-p99-µs")
	b.ReportMetric(us(toOut, 50), "out-p50-µs")
	b.ReportMetric(us(toOut, 99), "out-p99-µs")
}
