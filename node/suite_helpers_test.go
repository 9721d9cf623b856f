package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"lanchat/node/chat"
)

// The suite benchmarks (suite_bench_test.go) measure lines from Send on one
// node to the message event on the others' [Room.Events], with real hosts
// on loopback (TCP, Noise, yamux, pnet) in this process. A suiteRoom is
// those hosts, in testRoom; a line's text is suitePrefix, its number, a
// space and padding, and its arrival on each receiver is stamped as the
// receiver's Events reader takes it.

// suitePrefix starts the text of every measured line; other lines (the
// warm-up's) are not stamped.
const suitePrefix = "suite "

// suiteLineTimeout is how long a line may take to reach every receiver
// before the missing copies count as lost.
const suiteLineTimeout = 10 * time.Second

// suiteOpts are the choices of a suiteRoom.
type suiteOpts struct {
	nodes int
	// degree is how many peers each node is connected to: every other
	// (a full mesh) when 0 or at least nodes-1; otherwise a ring plus
	// random chords, degree on average.
	degree int
	// heartbeat is the hosts' HeartbeatInterval (DefaultHeartbeatInterval
	// when 0). In one process every heartbeat is checked by every other
	// node, n² signature checks per interval: large rooms need it longer
	// for the machine to have cores left for the lines.
	heartbeat time.Duration
}

// suiteRoom is o.nodes hosts in testRoom, connected as o.degree says, all
// knowing each other, their flood limits lifted (a benchmark sends faster
// than any person).
type suiteRoom struct {
	tb    testing.TB
	nodes []*suiteNode
	// arrivals has one value per measured line a receiver took from its
	// Events; warm one per warm-up line (its number).
	arrivals chan arrival
	warm     chan int
	next     int // the number of the next measured line
}

type suiteNode struct {
	h     *Host
	r     *Room
	index int
	done  chan struct{} // the Events reader ended
	seen  atomic.Int64  // others' joins seen

	mu    sync.Mutex
	heard map[string]bool // peer IDs of the joins seen
}

type arrival struct {
	node, line int
	at         time.Time
	synced     bool // came as history (fetched by sync), not live
}

// newSuiteRoom starts the hosts, connects them, and only then has them
// join the room (in one process, where every node checks every other's
// envelopes, a room that forms while its members connect one by one
// re-announces for as long as that takes, and a slow start feeds on
// itself). It waits until every node saw every other join, no history
// pull is under way (live lines wait for pulls), and a warm-up line
// reaches everyone. It closes the hosts when the benchmark ends, in
// parallel and without a goodbye.
func newSuiteRoom(tb testing.TB, o suiteOpts) *suiteRoom {
	tb.Helper()
	psk, err := GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	sr := &suiteRoom{tb: tb, arrivals: make(chan arrival, 1<<16), warm: make(chan int, 1<<12)}
	joins := make(chan int, o.nodes)
	sr.nodes = make([]*suiteNode, o.nodes)
	tb.Cleanup(sr.close)
	start := time.Now()
	sr.each(func(i int) error {
		n, err := startSuiteHost(i, psk, o)
		sr.nodes[i] = n
		return err
	})
	started := time.Now()
	sr.connect(o.degree)
	connected := time.Now()
	// In a large room, no re-announces while it forms: each is checked by
	// every node, and while members are still being heard for the first
	// time every node keeps re-announcing (one pair per 5 s), which in one
	// process slows the room's forming, which makes more re-announces.
	// Heartbeats (every heartbeat interval) then introduce everyone.
	quiet := o.nodes > 20
	for _, n := range sr.nodes {
		n.h.mute.Store(quiet)
	}
	sr.each(func(i int) error { return sr.nodes[i].join(o.nodes, sr.arrivals, joins, sr.warm) })
	for _, n := range sr.nodes {
		n.h.mute.Store(false)
	}
	joined := time.Now()
	// In one process every envelope is checked by every node: a room of
	// n forms in time that grows with n², and a loaded machine takes longer.
	deadline := time.After(2*time.Minute + time.Duration(o.nodes*o.nodes)*10*time.Millisecond)
	for range o.nodes {
		select {
		case <-joins:
		case <-deadline:
			low, lowest := 0, int64(o.nodes)
			for _, n := range sr.nodes {
				if k := n.seen.Load(); k < int64(o.nodes-1) {
					low, lowest = low+1, min(lowest, k)
				}
			}
			tb.Fatalf("%d nodes of %d did not see every other join within %v (the worst saw %d)%s",
				low, o.nodes, time.Since(joined), lowest, sr.unheard())
		}
	}
	known := time.Now()
	sr.waitPulls(time.Minute)
	// Warm up: lines from the sender, until one reaches everyone.
	got := map[int]int{}
	for k := 0; got[k-1] < o.nodes-1; k++ {
		if err := sr.nodes[0].r.Send(context.Background(), "warm-up "+strconv.Itoa(k)); err != nil {
			tb.Fatal(err)
		}
		timeout := time.After(time.Second)
	wait:
		for got[k] < o.nodes-1 {
			select {
			case w := <-sr.warm:
				got[w]++
				if got[w] == o.nodes-1 {
					got[k] = got[w] // done
					break wait
				}
			case <-timeout:
				break wait
			case <-deadline:
				tb.Fatalf("no warm-up line reached every node")
			}
		}
	}
	// Later warm-up copies do not matter.
	go func() {
		for range sr.warm {
		}
	}()
	tb.Logf("%d nodes: started in %v, connected in %v, joined in %v, all known after %v, pulls done and warm after %v",
		o.nodes, started.Sub(start).Round(time.Millisecond), connected.Sub(started).Round(time.Millisecond),
		joined.Sub(connected).Round(time.Millisecond), known.Sub(joined).Round(time.Millisecond),
		time.Since(known).Round(time.Millisecond))
	return sr
}

// unheard describes up to five (node, member) pairs where the node has
// not seen the member join, with the topic peers of both.
func (sr *suiteRoom) unheard() string {
	var b strings.Builder
	k := 0
	for _, n := range sr.nodes {
		for _, m := range sr.nodes {
			id := m.h.Info().PeerID
			n.mu.Lock()
			ok := n == m || n.heard[id]
			n.mu.Unlock()
			if ok || k == 5 {
				continue
			}
			k++
			fmt.Fprintf(&b, "\n  node %d has not heard node %d; their topic peers: %d and %d; connected: %v",
				n.index, m.index, len(n.r.topic.ListPeers()), len(m.r.topic.ListPeers()), n.h.connected(m.h.self))
		}
	}
	return b.String()
}

// each runs f for every node, a few at once, and fails the benchmark with
// their errors.
func (sr *suiteRoom) each(f func(i int) error) {
	var wg sync.WaitGroup
	errs := make(chan error, len(sr.nodes))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0)*2)
	for i := range sr.nodes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := f(i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		sr.tb.Fatal(err)
	}
}

// startSuiteHost starts host i, in no room yet, its flood limits lifted.
func startSuiteHost(i int, psk []byte, o suiteOpts) (*suiteNode, error) {
	cfg := testConfig(fmt.Sprint("n", i))
	cfg.Logger = nil
	cfg.PSK = psk
	cfg.HeartbeatInterval = cmp0(o.heartbeat, DefaultHeartbeatInterval)
	// A loaded machine must not report members lost.
	cfg.LostAfter = max(time.Minute, 3*cfg.HeartbeatInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("start node %d: %w", i, err)
	}
	go func() {
		for range h.Events() {
		}
	}()
	h.sendLim.SetLimit(rate.Inf)
	h.adm.setLimit(rate.Inf, recvBurst)
	return &suiteNode{h: h, index: i}, nil
}

// join joins testRoom and starts the room's Events reader: it sends the
// node's index on joins once it saw nodes-1 others join, a warm-up
// line's number on warm for each, and stamps measured lines on arrivals.
func (n *suiteNode) join(nodes int, arrivals chan<- arrival, joins, warm chan<- int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := n.h.Join(ctx, testRoom, RoomOptions{})
	if err != nil {
		return fmt.Errorf("node %d: join: %w", n.index, err)
	}
	n.r, n.done, n.heard = r, make(chan struct{}), make(map[string]bool)
	i := n.index
	go func() {
		defer close(n.done)
		for ev := range r.Events() {
			switch {
			case ev.Self:
			case ev.Kind == chat.KindJoin:
				n.mu.Lock()
				n.heard[ev.PeerID] = true
				n.mu.Unlock()
				if n.seen.Add(1) == int64(nodes-1) {
					joins <- i
				}
			case ev.Kind != chat.KindMessage:
			case strings.HasPrefix(ev.Text, suitePrefix):
				at := time.Now()
				num, _, _ := strings.Cut(ev.Text[len(suitePrefix):], " ")
				if line, err := strconv.Atoi(num); err == nil {
					arrivals <- arrival{i, line, at, ev.History}
				}
			case strings.HasPrefix(ev.Text, "warm-up "):
				if k, err := strconv.Atoi(ev.Text[len("warm-up "):]); err == nil {
					warm <- k
				}
			}
		}
	}()
	return nil
}

func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// connect connects the nodes: a full mesh, or a ring plus random chords
// for a mean degree of degree.
func (sr *suiteRoom) connect(degree int) {
	n := len(sr.nodes)
	type link struct{ a, b int }
	var links []link
	if degree <= 0 || degree >= n-1 {
		for i := range n {
			for j := i + 1; j < n; j++ {
				links = append(links, link{j, i})
			}
		}
	} else {
		have := make(map[link]bool)
		add := func(a, b int) {
			if a == b || have[link{a, b}] || have[link{b, a}] {
				return
			}
			have[link{a, b}] = true
			links = append(links, link{a, b})
		}
		for i := range n {
			add(i, (i+1)%n)
		}
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		for len(links) < n*degree/2 {
			add(rng.IntN(n), rng.IntN(n))
		}
	}
	addrs := make([]string, n)
	for i, nd := range sr.nodes {
		for _, a := range nd.h.Info().Addrs {
			if strings.HasPrefix(a, "/ip4/127.0.0.1/") {
				addrs[i] = a
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(links))
	sem := make(chan struct{}, 4)
	for _, l := range links {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			// A loaded machine may not finish a handshake within the
			// host's bound (3 s): try again.
			var err error
			for range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err = sr.nodes[l.a].h.Connect(ctx, addrs[l.b])
				cancel()
				if err == nil {
					return
				}
			}
			errs <- fmt.Errorf("connect %d to %d: %w", l.a, l.b, err)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		sr.tb.Fatal(err)
	}
}

// waitPulls waits, at most d, until no node has a history pull of the
// room queued or running: live lines wait for those (see [logView]).
func (sr *suiteRoom) waitPulls(d time.Duration) {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for _, n := range sr.nodes {
		for {
			n.r.syncMu.Lock()
			pending := n.r.syncPending
			n.r.syncMu.Unlock()
			if pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				sr.tb.Fatalf("node %d: history pulls still pending after %v", n.index, d)
			}
			<-tick.C
		}
	}
}

// close closes every host at once, without a goodbye, and waits for the
// Events readers.
func (sr *suiteRoom) close() {
	var wg sync.WaitGroup
	for _, n := range sr.nodes {
		if n == nil {
			continue
		}
		wg.Go(func() {
			n.h.Close()
			if n.done != nil {
				<-n.done
			}
		})
	}
	wg.Wait()
	close(sr.warm)
}

// suiteLine is the text of measured line i, size bytes long (or as short
// as its number allows).
func suiteLine(i, size int) string {
	s := suitePrefix + strconv.Itoa(i) + " "
	if len(s) < size {
		s += strings.Repeat("x", size-len(s))
	}
	return s
}

// latencies sends lines lines of size bytes from the first node one at a
// time, each once the previous one reached every receiver (or
// suiteLineTimeout passed), and returns each (line, receiver) pair's
// time from Send to the event, and the pairs lost.
func (sr *suiteRoom) latencies(lines, size int) (lat []time.Duration, lost int) {
	recv := len(sr.nodes) - 1
	lat = make([]time.Duration, 0, lines*recv)
	sender := sr.nodes[0].r
	for range lines {
		i := sr.next
		sr.next++
		start := time.Now()
		if err := sender.Send(context.Background(), suiteLine(i, size)); err != nil {
			sr.tb.Fatal(err)
		}
		timeout := time.NewTimer(suiteLineTimeout)
		for got := 0; got < recv; {
			select {
			case a := <-sr.arrivals:
				switch {
				case a.line != i:
				case a.synced:
					got++
					lost++
				default:
					got++
					lat = append(lat, a.at.Sub(start))
				}
			case <-timeout.C:
				lost += recv - got
				got = recv
			}

		}
		timeout.Stop()
	}
	return lat, lost
}

// pct returns the p-th percentile (0..100) of sorted ds, in milliseconds.
func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	return float64(ds[min(len(ds)-1, len(ds)*p/100)]) / float64(time.Millisecond)
}

// reportLatency reports p50-ms, p99-ms and lost, and logs the max.
func reportLatency(b *testing.B, lat []time.Duration, lost int) {
	slices.Sort(lat)
	b.ReportMetric(pct(lat, 50), "p50-ms")
	b.ReportMetric(pct(lat, 99), "p99-ms")
	b.ReportMetric(float64(lost), "lost")
	if len(lat) > 0 {
		b.Logf("%d deliveries: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, lost %d",
			len(lat), pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100), lost)
	}
}

// heapInUse returns the heap in use after two collections, in bytes.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// cpuTime returns the CPU time this process used so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per line, in milliseconds,
// from cpu, taken with cpuTime before the lines: on a machine others
// load, steadier than the latencies.
func reportCPU(b *testing.B, cpu time.Duration, lines int) {
	b.ReportMetric(float64(cpuTime()-cpu)/float64(lines)/float64(time.Millisecond), "cpu-ms/line")
}
