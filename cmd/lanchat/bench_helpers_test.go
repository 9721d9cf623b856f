package main

import (
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"lanchat/internal/netns"
	"lanchat/node"
)

// Helpers of the benchmark suite (bench_lan_test.go), on top of
// lan_test.go's lanProc: a room of lanchat processes on a namespace LAN,
// a reader of one process's events that goes on where it stopped, what
// /proc says about a process, and the statistics of the figures.

// The suite's settings come from the environment, not from test flags:
// one `go test` runs the suite over several packages, and a flag unknown
// to one package's test binary fails it. .ci/bench --smoke shortens them;
// the defaults are those of a full run.
const (
	// benchIdleEnv is the window over which idle CPU is measured, a
	// duration (default 30s). The CPU time is read in nanoseconds, so a
	// short window is still exact, but it holds fewer heartbeats.
	benchIdleEnv = "LANCHAT_BENCH_IDLE"
	// benchSettleEnv is how long a room must have printed nothing before
	// memory and idle CPU are read, a duration (default 3s).
	benchSettleEnv = "LANCHAT_BENCH_SETTLE"
	// benchMsgsEnv is the number of messages of one latency run (default
	// 500): p99 needs a few hundred.
	benchMsgsEnv = "LANCHAT_BENCH_MSGS"
)

// benchDuration returns the duration in $name, or def when it is unset.
func benchDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		tb.Fatalf("$%s = %q: want a positive duration such as 3s", name, s)
	}
	return d
}

// benchInt returns the positive integer in $name, or def when it is unset.
func benchInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		tb.Fatalf("$%s = %q: want a positive integer", name, s)
	}
	return n
}

// releaseBin is the binary the benchmarks measure: built as .ci/build
// builds a release (static, stripped, -trimpath), once, beside
// testBinary's (TestMain removes both).
var releaseBin struct {
	once sync.Once
	path string
	err  error
}

// releaseBinary returns the path of the release build of lanchat, building
// it on first use. Not testBinary's build: that one links the C library
// when cgo is on (CI turns it on for -race), which costs resident memory a
// released lanchat does not have.
func releaseBinary(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Dir(testBinary(tb))
	releaseBin.once.Do(func() {
		releaseBin.path = filepath.Join(dir, "lanchat-release")
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=",
			"-o", releaseBin.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			releaseBin.err = fmt.Errorf("go build (release): %v\n%s", err, out)
		}
	})
	if releaseBin.err != nil {
		tb.Fatal(releaseBin.err)
	}
	return releaseBin.path
}

// benchKey is how the processes of a benchmark get their network key.
type benchKey string

const (
	keyOpen benchKey = "open"       // no key: an open network
	keyFile benchKey = "file"       // --key-file: a random swarm.key, no KDF
	keyPass benchKey = "passphrase" // --key: argon2id at every start
)

// benchRoom is a namespace LAN with the lanchat binary and a key: the
// processes of a benchmark all join room "lobby" on it.
type benchRoom struct {
	lan     *netns.LAN
	bin     string
	dir     string
	key     []string // lanchat's key arguments
	network string   // the ready line's "network"
}

// newBenchRoom makes a LAN of n hosts (skipping when namespaces are
// unavailable, failing under CI=true), builds the release binary and
// makes key k's arguments.
func newBenchRoom(b *testing.B, n int, k benchKey) *benchRoom {
	b.Helper()
	r := &benchRoom{lan: netns.New(b, n), bin: releaseBinary(b), dir: b.TempDir(), network: "private"}
	switch k {
	case keyOpen:
		r.network = "open"
	case keyFile:
		psk, err := node.GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(r.dir, "swarm.key")
		if err := os.WriteFile(path, node.FormatSwarmKey(psk), 0o600); err != nil {
			b.Fatal(err)
		}
		r.key = []string{"--key-file", path}
	case keyPass:
		r.key = []string{"--key", "a passphrase for the benchmarks"}
	default:
		b.Fatalf("unknown key mode %q", k)
	}
	return r
}

// start starts lanchat on host i with nick, the room's key and an
// identity of its own (the same one every time for the same nick), logging
// to its file at the default level; it does not wait for the ready line.
func (r *benchRoom) start(b *testing.B, i int, nick string) *lanProc {
	b.Helper()
	return startLanchat(b, r.bin, r.lan.Host(i), r.dir, nick, append([]string{"--verbose=false"}, r.key...)...)
}

// ready waits for p's ready line and checks it.
func (r *benchRoom) ready(b *testing.B, p *lanProc) {
	b.Helper()
	p.ready = p.waitFor(b, 30*time.Second, "ready", func(e lanEvent) bool { return e.Type == "ready" })
	p.id = p.ready.PeerID
	if p.id == "" || p.ready.Nick != p.nick || p.ready.Room != "lobby" || p.ready.Network != r.network {
		b.Fatalf("%s ready line = %s, want peer_id, nick %s, room lobby, network %s", p.nick, p.ready.raw, p.nick, r.network)
	}
}

// startAll starts lanchat on hosts 1…n at once (nicks h1…hn) and waits
// for every ready line.
func (r *benchRoom) startAll(b *testing.B, n int) []*lanProc {
	b.Helper()
	procs := make([]*lanProc, n)
	for i := range procs {
		procs[i] = r.start(b, i+1, fmt.Sprintf("h%d", i+1))
	}
	for _, p := range procs {
		r.ready(b, p)
	}
	return procs
}

// waitAllJoined waits until every process has shown every other one
// joining, and returns when the last of them did.
func waitAllJoined(b *testing.B, procs []*lanProc) time.Time {
	b.Helper()
	var last time.Time
	for _, p := range procs {
		for _, q := range procs {
			if p != q {
				last = later(last, p.waitFor(b, 30*time.Second, "join of "+q.nick, joinOf(q)).at)
			}
		}
	}
	return last
}

// quiet waits until none of procs has printed a line for d: the room
// has settled (nicks, presence and history exchanged). It fails when a
// process exits, or when the room is not quiet within a minute.
func quiet(b *testing.B, procs []*lanProc, d time.Duration) {
	b.Helper()
	deadline := time.Now().Add(d + time.Minute)
	before := lineCounts(b, procs)
	for {
		time.Sleep(d) // a fixed window of silence, not a wait for an event
		after := lineCounts(b, procs)
		if slices.Equal(before, after) {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the room printed lines in every %v for a minute", d)
		}
		before = after
	}
}

// lineCounts returns how many lines each process has printed; it fails
// when one has exited.
func lineCounts(b *testing.B, procs []*lanProc) []int {
	b.Helper()
	n := make([]int, len(procs))
	for i, p := range procs {
		p.mu.Lock()
		lines, exited, code := len(p.events), p.exited, p.code
		p.mu.Unlock()
		n[i] = lines
		if exited {
			b.Fatalf("%s exited (code %d) while the room should be idle", p.nick, code)
		}
	}
	return n
}

// eventCursor reads one process's events in order, each once: a wait
// starts after the event the last one returned, so a run of thousands
// of messages costs O(events), not O(events²) as repeated waitFor calls
// would.
type eventCursor struct {
	p    *lanProc
	next int // index of the next event to look at
}

// wait returns the next event matching pred, waiting up to d; it fails
// on exit or timeout. The events it passes over are skipped for good.
func (c *eventCursor) wait(tb testing.TB, d time.Duration, what string, pred func(lanEvent) bool) lanEvent {
	tb.Helper()
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		p := c.p
		p.mu.Lock()
		evs := p.events[c.next:len(p.events):len(p.events)] // appended to, never changed
		changed, exited, code := p.changed, p.exited, p.code
		p.mu.Unlock()
		for _, e := range evs {
			c.next++
			if pred(e) {
				return e
			}
		}
		if exited {
			tb.Fatalf("%s exited (code %d) before %s", p.nick, code, what)
		}
		select {
		case <-changed:
		case <-timeout.C:
			tb.Fatalf("%s: no %s within %v", p.nick, what, d)
		}
	}
}

// memory is what /proc/PID/status says of a process's memory, in MiB.
type memory struct {
	rss  float64 // VmRSS: resident now
	peak float64 // VmHWM: the largest rss so far
	anon float64 // RssAnon: the part of rss not backed by a file (heap, stacks; not the binary's pages)
}

// procMemory reads the memory of process pid.
func procMemory(pid int) (memory, error) {
	var m memory
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	fields := map[string]*float64{"VmRSS": &m.rss, "VmHWM": &m.peak, "RssAnon": &m.anon}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, _ := strings.Cut(line, ":")
		dst, ok := fields[name]
		if !ok {
			continue
		}
		f := strings.Fields(value) // "27380 kB"
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("/proc/%d/status: unexpected line %q", pid, line)
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return m, fmt.Errorf("/proc/%d/status: %q: %w", pid, line, err)
		}
		*dst = kb / 1024
		delete(fields, name)
	}
	if len(fields) > 0 {
		return m, fmt.Errorf("/proc/%d/status lacks %v", pid, slices.Sorted(maps.Keys(fields)))
	}
	return m, nil
}

// cpuSample is the CPU time a process had used at one moment.
type cpuSample struct {
	at      time.Time
	threads map[int]time.Duration // run time of each thread, from /proc/PID/task/TID/schedstat (ns)
	ticks   time.Duration         // utime+stime of /proc/PID/stat (of all threads, dead ones too; 10 ms steps)
}

// clockTick is the unit of /proc/PID/stat's utime and stime (USER_HZ,
// 100 on every Linux platform Go supports).
const clockTick = 10 * time.Millisecond

// sampleCPU reads the CPU time process pid has used so far.
func sampleCPU(pid int) (cpuSample, error) {
	s := cpuSample{at: time.Now(), threads: map[int]time.Duration{}}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	i := strings.LastIndex(string(stat), ") ")
	var f []string
	if i >= 0 {
		f = strings.Fields(string(stat[i+2:]))
	}
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, stat)
	}
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		s.ticks += time.Duration(n) * clockTick
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return s, err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid))
		if err != nil {
			continue // the thread has just exited
		}
		f := strings.Fields(string(b)) // run time (ns), wait time (ns), time slices
		if len(f) != 3 {
			return s, fmt.Errorf("/proc/%d/task/%d/schedstat: unexpected %q", pid, tid, b)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/%d/task/%d/schedstat: %w", pid, tid, err)
		}
		s.threads[tid] = time.Duration(ns)
	}
	return s, nil
}

// cpuUsed returns the CPU time used between samples a and b, to the
// nanosecond from the threads' run times. When a thread of a has gone by
// b its time in between is lost there, and the coarser utime+stime
// difference is returned instead.
func cpuUsed(a, b cpuSample) time.Duration {
	for tid := range a.threads {
		if _, ok := b.threads[tid]; !ok {
			return b.ticks - a.ticks
		}
	}
	var d time.Duration
	for tid, t := range b.threads {
		d += t - a.threads[tid] // 0 for a thread born in between
	}
	return d
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median returns the median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// percentile returns the p-th percentile (0 < p ≤ 100) of xs by nearest
// rank: the smallest value that at least p % of xs do not exceed.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	rank := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(rank, 0), len(s)-1)]
}
