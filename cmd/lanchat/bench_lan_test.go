package main

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"lanchat/node"
)

// The benchmark suite of the binary (issue 9): the real lanchat, --json,
// on hosts of a network-namespace LAN, measured from outside as a user's
// machine would see it. `bash .ci/bench` runs these with node's
// in-process BenchmarkSuite… and prints one table against the targets;
// BENCHMARKS.md has the method and the figures.
//
// Each benchmark sets up its own LAN and room once per call, outside
// the b.N loop; one iteration is one sample of its measurement (a round
// of reads, a newcomer, a start), so -benchtime 1x gives one sample per
// run and -count the runs whose medians the table shows. Timings are
// reported with b.ReportMetric, never checked: what fails a benchmark is
// a wrong behaviour (no join, a lost message, a bad exit code).
//
// The processes log at the default level (--verbose=false after the -v of
// startLanchat): debug logs cost CPU that a user's lanchat does not spend.
//
// The windows come from the environment (bench_helpers_test.go):
// $LANCHAT_BENCH_IDLE, $LANCHAT_BENCH_SETTLE, $LANCHAT_BENCH_MSGS.

// BenchmarkSuiteLANMemory reports the resident memory of each node of a
// 5-node room once it has settled (all joined, then quiet for
// $LANCHAT_BENCH_SETTLE), for each way of giving the key: MB/node is the
// median VmRSS of the nodes (MiB), max-MB/node the largest, peak-MB/node
// the largest VmHWM (the passphrase's argon2id runs at start, its 64 MiB
// show there), anon-MB/node the median RssAnon: VmRSS without the pages
// of the binary and other files, i.e. what the Go runtime holds.
func BenchmarkSuiteLANMemory(b *testing.B) {
	for _, k := range []benchKey{keyOpen, keyFile, keyPass} {
		b.Run("key="+string(k), func(b *testing.B) { benchMemory(b, 5, k) })
	}
}

func benchMemory(b *testing.B, n int, k benchKey) {
	settle := benchDuration(b, benchSettleEnv, 3*time.Second)
	r := newBenchRoom(b, n, k)
	procs := r.startAll(b, n)
	waitAllJoined(b, procs)
	var rss, peak, anon []float64
	b.ResetTimer()
	for range b.N {
		quiet(b, procs, settle)
		for _, p := range procs {
			m, err := procMemory(p.cmd.Process.Pid)
			if err != nil {
				b.Fatalf("%s: %v", p.nick, err)
			}
			rss, peak, anon = append(rss, m.rss), append(peak, m.peak), append(anon, m.anon)
		}
	}
	b.StopTimer()
	b.ReportMetric(median(rss), "MB/node")
	b.ReportMetric(percentile(rss, 100), "max-MB/node")
	b.ReportMetric(percentile(peak, 100), "peak-MB/node")
	b.ReportMetric(median(anon), "anon-MB/node")
}

// BenchmarkSuiteLANIdleCPU reports the CPU used by each node of a settled
// room (key file) over $LANCHAT_BENCH_IDLE in which nobody says anything:
// cpu-%/node is the median over the nodes, in percent of one core,
// max-cpu-%/node the largest. leaves counts the leave lines printed in
// the window: an idle room should print none (a "lost" there is a false
// alarm of the liveness check).
func BenchmarkSuiteLANIdleCPU(b *testing.B) {
	for _, n := range []int{5, 10} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) { benchIdleCPU(b, n) })
	}
}

func benchIdleCPU(b *testing.B, n int) {
	window := benchDuration(b, benchIdleEnv, 30*time.Second)
	settle := benchDuration(b, benchSettleEnv, 3*time.Second)
	r := newBenchRoom(b, n, keyFile)
	procs := r.startAll(b, n)
	waitAllJoined(b, procs)
	var pct []float64
	leaves := 0
	b.ResetTimer()
	for range b.N {
		quiet(b, procs, settle)
		from := lineCounts(b, procs)
		before := make([]cpuSample, n)
		for i, p := range procs {
			s, err := sampleCPU(p.cmd.Process.Pid)
			if err != nil {
				b.Fatalf("%s: %v", p.nick, err)
			}
			before[i] = s
		}
		time.Sleep(window) // the measured idle window, not a wait for an event
		for i, p := range procs {
			s, err := sampleCPU(p.cmd.Process.Pid)
			if err != nil {
				b.Fatalf("%s: %v", p.nick, err)
			}
			pct = append(pct, 100*float64(cpuUsed(before[i], s))/float64(s.at.Sub(before[i].at)))
		}
		for i, p := range procs {
			for _, e := range p.all()[from[i]:] {
				b.Logf("%s printed in the idle window: %s", p.nick, e.raw)
				if e.Type == "leave" {
					leaves++
				}
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(median(pct), "cpu-%/node")
	b.ReportMetric(percentile(pct, 100), "max-cpu-%/node")
	b.ReportMetric(float64(leaves), "leaves")
}

// BenchmarkSuiteLANLatency reports the latency of a line through the
// binary's pipes: from the write of a line to h1's stdin to its --json
// message line read from the stdout of each other node of a settled room
// (key file). $LANCHAT_BENCH_MSGS lines per iteration, 20 ms apart (a
// paste-free pace: the send budget is 80 lines/s, so none waits for it);
// p50-ms, p99-ms and max-ms are over all lines and receivers.
// echo-p50-ms is the median to the sender's own echo line, which comes
// only once the line is on the sender's disk (its log is flushed before
// the echo says the line was sent, see node's logView.live).
func BenchmarkSuiteLANLatency(b *testing.B) {
	for _, n := range []int{2, 5} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) { benchLatency(b, n) })
	}
}

func benchLatency(b *testing.B, n int) {
	const gap = 20 * time.Millisecond
	msgs := benchInt(b, benchMsgsEnv, 500)
	r := newBenchRoom(b, n, keyFile)
	procs := r.startAll(b, n)
	waitAllJoined(b, procs)
	from, to := procs[0], procs[1:]
	own := &eventCursor{p: from}
	cur := make([]*eventCursor, len(to))
	for i, p := range to {
		cur[i] = &eventCursor{p: p}
	}
	receive := func(text string) []lanEvent {
		evs := make([]lanEvent, len(to))
		for i, c := range cur {
			evs[i] = c.wait(b, 10*time.Second, "message "+text, func(e lanEvent) bool {
				return e.Type == "message" && e.Text == text && e.PeerID == from.id && !e.Self
			})
		}
		return evs
	}
	// Not timed: the first line after the joins may wait for the line
	// modes' settle hold (up to 300 ms after the last join).
	from.say(b, "warm-up")
	receive("warm-up")
	var lat, echo []float64
	b.ResetTimer()
	for iter := range b.N {
		for i := range msgs {
			text := fmt.Sprintf("bench line %d.%d", iter, i)
			sent := time.Now()
			from.say(b, text)
			for _, e := range receive(text) {
				lat = append(lat, ms(e.at.Sub(sent)))
			}
			e := own.wait(b, 10*time.Second, "own echo of "+text, func(e lanEvent) bool {
				return e.Type == "message" && e.Text == text && e.Self
			})
			echo = append(echo, ms(e.at.Sub(sent)))
			time.Sleep(time.Until(sent.Add(gap))) // the pace of the lines, not a wait for an event
		}
	}
	b.StopTimer()
	b.ReportMetric(percentile(lat, 50), "p50-ms")
	b.ReportMetric(percentile(lat, 99), "p99-ms")
	b.ReportMetric(percentile(lat, 100), "max-ms")
	b.ReportMetric(percentile(echo, 50), "echo-p50-ms")
}

// newcomerTimes are the figures of one newcomer to a room (see
// benchNewcomers).
type newcomerTimes struct {
	found  time.Duration // start → the newcomer has shown every member joining
	seen   time.Duration // start → every member has shown the newcomer joining
	exit   time.Duration // ":end" written → the newcomer has exited 0
	leaveq time.Duration // ":end" written → every member has shown it leaving (quit)
}

// benchNewcomers runs b.N newcomers, one after the other, through a
// settled room of two (key file): each starts on host 3 with an identity
// of its own, is found and finds the members, then leaves with :end.
func benchNewcomers(b *testing.B) []newcomerTimes {
	r := newBenchRoom(b, 3, keyFile)
	members := r.startAll(b, 2)
	waitAllJoined(b, members)
	var out []newcomerTimes
	b.ResetTimer()
	for i := range b.N {
		var t newcomerTimes
		p := r.start(b, 3, fmt.Sprintf("new%d", i))
		r.ready(b, p)
		for _, q := range members {
			t.found = max(t.found, p.waitFor(b, 30*time.Second, "join of "+q.nick, joinOf(q)).at.Sub(p.started))
			t.seen = max(t.seen, q.waitFor(b, 30*time.Second, "join of "+p.nick, joinOf(p)).at.Sub(p.started))
		}
		// Input is held until the room has settled (300 ms after the
		// last join): the echo of a line says it is read, so ":end" is
		// acted on at once.
		text := "settled? " + p.nick
		p.say(b, text)
		p.waitFor(b, 15*time.Second, "own echo of "+text, func(e lanEvent) bool {
			return e.Type == "message" && e.Self && e.Text == text
		})
		ended := time.Now()
		p.say(b, ":end")
		if code := p.waitExit(b, 15*time.Second); code != 0 {
			b.Fatalf("%s exit code after :end = %d, want 0", p.nick, code)
		}
		t.exit = time.Since(ended)
		for _, q := range members {
			t.leaveq = max(t.leaveq, q.waitFor(b, 15*time.Second, p.nick+" left (quit)", leaveOf(p, "quit")).at.Sub(ended))
		}
		out = append(out, t)
	}
	b.StopTimer()
	return out
}

// BenchmarkSuiteLANDiscovery reports how soon a newcomer to a room of two
// (key file) is in it: ms from its start to its join lines of both
// members (mDNS finds them, then the dial and the presence exchange),
// seen-ms from its start to both members' join line of it. Medians over
// the newcomers.
func BenchmarkSuiteLANDiscovery(b *testing.B) {
	var found, seen []float64
	for _, t := range benchNewcomers(b) {
		found, seen = append(found, ms(t.found)), append(seen, ms(t.seen))
	}
	b.ReportMetric(median(found), "ms")
	b.ReportMetric(median(seen), "seen-ms")
}

// BenchmarkSuiteLANEnd reports how soon a node leaves a room of three
// (key file) with :end: ms from the ":end" line written to its stdin to
// its exit (code 0; the graceful leave is confirmed first), leave-ms to
// both others' leave line (reason quit). Medians over the leavers.
func BenchmarkSuiteLANEnd(b *testing.B) {
	var exit, leave []float64
	for _, t := range benchNewcomers(b) {
		exit, leave = append(exit, ms(t.exit)), append(leave, ms(t.leaveq))
	}
	b.ReportMetric(median(exit), "ms")
	b.ReportMetric(median(leave), "leave-ms")
}

// BenchmarkSuiteLANStart reports start → ready: from the start of the
// process (ip netns exec, which execs lanchat) to its --json ready line,
// alone on a host, for each way of giving the key; key=passphrase
// includes the argon2id (BenchmarkSuiteKDF times it alone). A first,
// untimed start creates the identity and the message log and loads the
// binary into the page cache: the timed ones are a returning user's.
// ready-ms is the median.
func BenchmarkSuiteLANStart(b *testing.B) {
	for _, k := range []benchKey{keyOpen, keyFile, keyPass} {
		b.Run("key="+string(k), func(b *testing.B) { benchStart(b, k) })
	}
}

func benchStart(b *testing.B, k benchKey) {
	r := newBenchRoom(b, 1, k)
	once := func() time.Duration {
		p := r.start(b, 1, "solo")
		r.ready(b, p)
		// Alone, input is held for 2 s (nobody to settle with): SIGTERM,
		// a graceful leave too, ends it at once.
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			b.Fatal(err)
		}
		if code := p.waitExit(b, 15*time.Second); code != 0 {
			b.Fatalf("exit code after SIGTERM = %d, want 0", code)
		}
		return p.ready.at.Sub(p.started)
	}
	once()
	var ready []float64
	b.ResetTimer()
	for range b.N {
		ready = append(ready, ms(once()))
	}
	b.StopTimer()
	b.ReportMetric(median(ready), "ready-ms")
}

// BenchmarkSuiteKDF reports the time of the passphrase's key derivation
// (argon2id, node.DeriveKey) in this process, in ms: the part of a
// passphrase start that BenchmarkSuiteLANStart/key=file does not have.
func BenchmarkSuiteKDF(b *testing.B) {
	for range b.N {
		node.DeriveKey("a passphrase for the benchmarks")
	}
	b.ReportMetric(ms(b.Elapsed())/float64(b.N), "ms")
}

// BenchmarkSuiteBinarySize reports the size of the binary that the
// benchmarks run, built as .ci/build builds a release (static, stripped:
// CGO_ENABLED=0, -trimpath -ldflags='-s -w'), in MiB (MB).
func BenchmarkSuiteBinarySize(b *testing.B) {
	bin := releaseBinary(b)
	var size int64
	for range b.N {
		fi, err := os.Stat(bin)
		if err != nil {
			b.Fatal(err)
		}
		size = fi.Size()
	}
	b.ReportMetric(float64(size)/(1<<20), "MB")
}
