package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

// Flood scenarios: three honest members chat while a fourth, with the
// network key, floods the room. What is measured is what the honest
// members see: how long a line takes from Send on alice to the event on
// bob and carol, and whether any is lost.
const (
	floodNone     = "none"     // no flood: the baseline
	floodSmall    = "small"    // one identity, short lines
	floodMax      = "max"      // one identity, lines of chat.MaxTextBytes
	floodSybil    = "sybil"    // 1000 made-up identities, relayed by the attacker
	floodBurst    = "burst"    // fewer made-up identities, each a burst of lines
	floodPresence = "presence" // one identity, joins and heartbeats
)

// Attack rates, envelopes a second, published from pre-signed messages
// so that the attacker, in the same process on the same cores, costs
// little besides writing them: short lines and presence at 100 times the
// flood limit; the longest lines at 25 times (10 MB/s to each member,
// what a 100 Mbit/s link carries); made-up identities at 50 times.
// Under the race detector, a fifth of that.
var floodRates = map[string]rate.Limit{
	floodSmall:    100 * recvRate / raceSlow,
	floodMax:      25 * recvRate / raceSlow,
	floodPresence: 100 * recvRate / raceSlow,
	floodSybil:    50 * recvRate / raceSlow,
	floodBurst:    50 * recvRate / raceSlow,
}

// raceSlow is how much the floods slow down under the race detector.
var raceSlow = map[bool]rate.Limit{false: 1, true: 5}[raceOn]

// floodBound is the honest p99 TestFlood asserts: that honest lines are
// not starved, not a latency target (that is BenchmarkFlood's, p99 under
// 100 ms on a quiet machine). Generous for a loaded 2-core machine, the
// more so under the race detector, which makes each signature check about
// ten times slower: the attacker's allowed burst alone, 500 lines taken in
// by three nodes, takes seconds, and a full CI run (-race, two packages at
// once) measured p99 5.3-7.7 s.
var floodBound = map[bool]time.Duration{false: time.Second, true: 15 * time.Second}[raceOn]

// floodSettle is when the attacker's allowed burst (recvBurst lines, taken
// in, stored and forwarded like anybody's paste) has been dealt with:
// honest lines sent before wait behind it.
const floodSettle = 500 * time.Millisecond

// floodFor is how long the attacker has messages for: longer than the
// honest lines take.
const floodFor = 3 * time.Second

// sybils is the number of made-up identities of the sybil flood; each
// sends sybilLines lines.
var (
	sybils     = 1000
	sybilLines = map[bool]int{false: 10, true: 2}[raceOn]
)

// bursters is the number of made-up identities of the burst flood; each
// sends its share of floodFor's messages back to back (375 lines, 300
// under the race detector), less than recvBurst and far more than
// newcomerBurst.
var bursters = map[bool]int{false: 40, true: 10}[raceOn]

// burstLines is how many lines each of the burst flood's identities sends.
func burstLines() int { return int(float64(floodRates[floodBurst])*floodFor.Seconds()) / bursters }

// floodResult is what one run of a flood scenario measured.
type floodResult struct {
	lines        int           // honest lines sent by alice
	received     int           // (line, receiver) pairs seen live
	history      int           // pairs seen only from the log (fetched by sync)
	lost         int           // pairs never seen
	p50, p99     time.Duration // Send to event, over both receivers
	max          time.Duration // worst
	p99steady    time.Duration // p99 of the lines sent floodSettle or more after the flood began
	attackSent   int           // envelopes the attacker sent to each member
	attackLive   int           // the attacker's lines shown live on bob
	attackAuthor int           // made-up authors shown as members on bob (sybil)
	elapsed      time.Duration // the flood's duration
	counted      time.Duration // from the flood's start until the attacker's lines were counted
	heapGrowth   int64         // runtime.MemStats.HeapInuse after minus before, bytes
	throttled    int           // notices on bob naming the attacker as throttled
}

func (r floodResult) String() string {
	return fmt.Sprintf("honest %d lines x2: live %d, history %d, lost %d; p50 %v p99 %v max %v, p99 after %v %v; attacker sent %d in %v (%.0f/s), %d shown live, %d authors; heap %+.1f MiB; %d throttle notices",
		r.lines, r.received, r.history, r.lost, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.max.Round(10*time.Microsecond),
		floodSettle, r.p99steady.Round(10*time.Microsecond),
		r.attackSent, r.elapsed.Round(time.Millisecond), float64(r.attackSent)/r.elapsed.Seconds(),
		r.attackLive, r.attackAuthor, float64(r.heapGrowth)/(1<<20), r.throttled)
}

// floodRoom is three honest nodes in a full mesh and an attacker with the
// network key, connected to all three.
type floodRoom struct {
	tb      testing.TB
	a, b, c *testNode
	att     host.Host        // the attacker: a host without pubsub
	streams []network.Stream // its gossipsub streams to a, b and c
}

func newFloodRoom(tb testing.TB) *floodRoom {
	tb.Helper()
	psk, _ := GenerateKey()
	var nodes []*testNode
	for _, nick := range []string{"alice", "bob", "carol"} {
		cfg := testConfig(nick)
		cfg.PSK = psk
		cfg.Logger = nil
		cfg.LostAfter = time.Minute // a loaded machine must not report members lost
		nodes = append(nodes, startNode(tb, cfg))
	}
	mesh(nodes...)
	waitKnown(10*time.Second, nodes...)
	fr := &floodRoom{tb: tb, a: nodes[0], b: nodes[1], c: nodes[2], att: floodHost(tb, psk)}
	for _, n := range nodes {
		floodConnect(tb, fr.att, n)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := fr.att.NewStream(ctx, n.Host.self, pubsub.GossipSubID_v11)
		cancel()
		if err != nil {
			tb.Fatalf("attacker stream: %v", err)
		}
		// An empty RPC, so that the protocol is negotiated now: the host
		// resets a stream that has not named one within 10 s.
		if _, err := s.Write([]byte{0}); err != nil {
			tb.Fatalf("attacker stream: %v", err)
		}
		tb.Cleanup(func() { s.Close() })
		fr.streams = append(fr.streams, s)
	}
	return fr
}

// floodHost is a libp2p host like a node's, without pubsub.
func floodHost(tb testing.TB, psk []byte) host.Host {
	tb.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
		libp2p.PrivateNetwork(psk),
	)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

func floodConnect(tb testing.TB, h host.Host, n *testNode) {
	tb.Helper()
	ai, err := peer.AddrInfoFromString(n.addr())
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Connect(ctx, *ai); err != nil {
		tb.Fatal(err)
	}
}

// attackMessages returns the messages of a flood of kind: floodFor's worth
// at its rate, signed by the attacker (small, max, presence), by sybils
// made-up identities, sybilLines each (sybil), or by bursters made-up
// identities, one after the other (burst).
func (fr *floodRoom) attackMessages(kind string) []*pb.Message {
	tb := fr.tb
	topic := openTopic(testRoom)
	if kind == floodBurst {
		msgs := make([]*pb.Message, 0, bursters*burstLines())
		for i, key := range newKeys(tb, bursters) {
			for line := range burstLines() {
				data := envelope(tb, wire.Envelope{Kind: wire.KindMessage, Room: testRoom, Sent: time.Now().UnixMilli(),
					Nick: fmt.Sprint("sybil-b", i), Text: fmt.Sprintf("flood %d-%d", i, line)})
				msgs = append(msgs, signedAs(tb, key, topic, uint64(line+1), data))
			}
		}
		return msgs
	}
	if kind == floodSybil {
		keys := make([]crypto.PrivKey, sybils)
		for i := range keys {
			var err error
			if keys[i], _, err = crypto.GenerateEd25519Key(nil); err != nil {
				tb.Fatal(err)
			}
		}
		msgs := make([]*pb.Message, 0, sybilLines*sybils)
		for line := range sybilLines {
			for i := range sybils {
				data := envelope(tb, wire.Envelope{Kind: wire.KindMessage, Room: testRoom, Sent: time.Now().UnixMilli(),
					Nick: fmt.Sprint("sybil", i), Text: fmt.Sprintf("flood %d-%d", i, line)})
				msgs = append(msgs, signedAs(tb, keys[i], topic, uint64(line+1), data))
			}
		}
		return msgs
	}
	key := fr.att.Peerstore().PrivKey(fr.att.ID())
	n := int(float64(floodRates[kind]) * floodFor.Seconds())
	msgs := make([]*pb.Message, 0, n)
	seq := uint64(time.Now().UnixNano())
	for i := range n {
		e := wire.Envelope{Kind: wire.KindMessage, Room: testRoom, Sent: time.Now().UnixMilli(), Nick: "mallory", Text: fmt.Sprint("flood ", i, " x")}
		switch kind {
		case floodMax:
			e.Text += strings.Repeat("x", chat.MaxTextBytes-len(e.Text))
		case floodPresence:
			e.Kind, e.Text = []wire.Kind{wire.KindJoin, wire.KindHeartbeat}[i%2], ""
		}
		msgs = append(msgs, signedAs(tb, key, topic, seq+uint64(i), envelope(tb, e)))
	}
	return msgs
}

// flood writes msgs to every honest node, in RPCs of 100, at the rate of
// kind, until they are all sent or stop is closed; it returns how many it
// sent to the node that took fewest. Each node has its own writer: a node
// that reads slowly (TCP pushes back) slows down only its own flood.
func (fr *floodRoom) flood(kind string, msgs []*pb.Message, stop <-chan struct{}) int {
	const batch = 100
	var frames [][]byte
	for i := 0; i < len(msgs); i += batch {
		data, err := proto.Marshal(&pb.RPC{Publish: msgs[i:min(i+batch, len(msgs))]})
		if err != nil {
			fr.tb.Errorf("marshal: %v", err)
			return 0
		}
		frames = append(frames, append(binary.AppendUvarint(nil, uint64(len(data))), data...))
	}
	sent := make([]int, len(fr.streams))
	var wg sync.WaitGroup
	for j, s := range fr.streams {
		wg.Go(func() {
			lim := rate.NewLimiter(floodRates[kind]/batch, 1)
			for i, frame := range frames {
				select {
				case <-stop:
					return
				default:
				}
				if err := lim.Wait(context.Background()); err != nil {
					return
				}
				if _, err := s.Write(frame); err != nil {
					fr.tb.Errorf("attacker write: %v", err)
					return
				}
				sent[j] = min((i+1)*batch, len(msgs))
			}
		})
	}
	wg.Wait()
	return slices.Min(sent)
}

// signedAs returns a pubsub message of topic signed by key, as StrictSign
// wants it.
func signedAs(tb testing.TB, key crypto.PrivKey, topic string, seq uint64, data []byte) *pb.Message {
	tb.Helper()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	m := &pb.Message{From: []byte(id), Data: data, Seqno: binary.BigEndian.AppendUint64(nil, seq), Topic: &topic}
	unsigned, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	if m.Signature, err = key.Sign(append([]byte(pubsub.SignPrefix), unsigned...)); err != nil {
		tb.Fatal(err)
	}
	return m
}

// run has alice send lines lines, one every 20 ms (a fast typist pasting,
// below the send budget), while the attacker floods as kind says, and
// measures what bob and carol see.
func (fr *floodRoom) run(kind string, lines int) floodResult {
	tb := fr.tb
	tb.Helper()
	var msgs []*pb.Message
	if kind != floodNone {
		msgs = fr.attackMessages(kind)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	startB := fr.b.mark()
	startC := fr.c.mark()

	stop := make(chan struct{})
	var attackSent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() { attackSent.Store(int64(fr.flood(kind, msgs, stop))) })
	// Let the flood get going: the attacker's burst is used up.
	time.Sleep(200 * time.Millisecond) // the flood's warm-up, not synchronisation

	prefix := fmt.Sprintf("honest %s %d ", kind, time.Now().UnixNano())
	sentAt := make(map[string]time.Time, lines)
	tick := time.NewTicker(20 * time.Millisecond)
	for i := range lines {
		text := fmt.Sprint(prefix, i)
		sentAt[text] = time.Now()
		if err := fr.a.Send(text); err != nil {
			tb.Fatalf("alice: Send = %v", err)
		}
		<-tick.C
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)

	res := floodResult{lines: lines, attackSent: int(attackSent.Load()), elapsed: elapsed}
	var lat, steady []time.Duration
	for _, n := range []struct {
		tn   *testNode
		from int
	}{{fr.b, startB}, {fr.c, startC}} {
		seen := n.tn.waitLines(n.from, prefix, lines, 20*time.Second)
		for text, at := range sentAt {
			ev, ok := seen[text]
			switch {
			case !ok:
				res.lost++
			case ev.History:
				res.history++
			default:
				res.received++
				lat = append(lat, ev.Time.Sub(at))
				if at.Sub(start) >= floodSettle {
					steady = append(steady, ev.Time.Sub(at))
				}
			}
		}
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		res.p50, res.p99, res.max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	if len(steady) > 0 {
		slices.Sort(steady)
		res.p99steady = steady[len(steady)*99/100]
	}
	res.counted = time.Since(start)
	attacker := fr.att.ID().String()
	for _, ev := range fr.b.events()[startB:] {
		switch {
		case ev.Kind == chat.KindMessage && !ev.History && strings.HasPrefix(ev.Text, "flood "):
			res.attackLive++
		case ev.Kind == chat.KindJoin && strings.HasPrefix(ev.Nick, "sybil"):
			res.attackAuthor++
		case ev.Kind == chat.KindNotice && ev.PeerID == attacker && strings.Contains(ev.Text, "flood limit"):
			res.throttled++
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	res.heapGrowth = int64(after.HeapInuse) - int64(before.HeapInuse)
	return res
}

// mark returns the number of events so far, to look only at later ones.
func (tn *testNode) mark() int {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return len(tn.evs)
}

// waitLines waits up to d until the events from index from on hold want
// messages whose text starts with prefix, and returns those it has, by
// text (the first of each). It looks at each event once.
func (tn *testNode) waitLines(from int, prefix string, want int, d time.Duration) map[string]chat.Event {
	seen := make(map[string]chat.Event, want)
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for i := from; ; {
		tn.mu.Lock()
		for ; i < len(tn.evs); i++ {
			ev := tn.evs[i]
			if _, dup := seen[ev.Text]; ev.Kind == chat.KindMessage && strings.HasPrefix(ev.Text, prefix) && !dup {
				seen[ev.Text] = ev
			}
		}
		ch := tn.changed
		tn.mu.Unlock()
		if len(seen) >= want {
			return seen
		}
		select {
		case <-ch:
		case <-deadline.C:
			return seen
		}
	}
}

// TestFlood: honest members keep chatting, without loss and promptly,
// while a member floods the room far above the flood limit, with short
// lines, the longest lines, made-up identities or presence; what the
// attacker sends beyond its limit is not shown live. The figures go to
// the log; the bounds asserted hold on a loaded 2-core machine under
// -race (the benchmark reports the figures without it).
func TestFlood(t *testing.T) {
	for _, kind := range []string{floodNone, floodSmall, floodMax, floodSybil, floodBurst, floodPresence} {
		t.Run(kind, func(t *testing.T) {
			fr := newFloodRoom(t)
			if kind == floodBurst {
				// The made-up identities earn back one message a second
				// (the members, heard already, keep their limit): what
				// they get is their newcomer's allowance, however slowly
				// a loaded machine takes their lines in.
				for _, n := range []*testNode{fr.a, fr.b, fr.c} {
					n.adm.setLimit(1, recvBurst)
				}
			}
			res := fr.run(kind, 100)
			t.Logf("%s flood: %v", kind, res)
			if res.lost > 0 {
				t.Errorf("%d honest (line, receiver) pairs lost", res.lost)
			}
			// The bound holds on a machine that keeps up with the flood; on
			// one too loaded to publish it at half its rate, the honest
			// lines' wait says more about the machine than about lanchat.
			slow := kind != floodNone && float64(res.attackSent)/res.elapsed.Seconds() < float64(floodRates[kind])/2
			switch {
			case res.p99 > floodBound && slow:
				t.Logf("honest p99 %v over %v, but the attacker published at under half its rate: too slow a machine to tell", res.p99, floodBound)
			case res.p99 > floodBound:
				t.Errorf("honest p99 %v, want under %v", res.p99, floodBound)
			}
			switch kind {
			case floodSybil:
				// Each relay (the attacker; alice and carol relaying what
				// they took in) introduces at most introBurst, then
				// introRate a second, new authors to bob.
				allowed := 3 * (introBurst + int(introRate*res.counted.Seconds()+1))
				if res.attackAuthor > allowed {
					t.Errorf("%d made-up authors joined on bob, want at most %d", res.attackAuthor, allowed)
				}
			case floodBurst:
				// Each made-up identity is a newcomer: newcomerBurst, and
				// what the flood limit earns back meanwhile, one a second
				// here (see above).
				allowed := bursters * (newcomerBurst + int(res.counted.Seconds()) + 1)
				if res.attackLive > allowed {
					t.Errorf("%d lines of %d made-up identities shown live on bob, want at most %d (newcomers' allowances)", res.attackLive, bursters, allowed)
				}
			case floodSmall, floodMax, floodPresence:
				allowed := recvBurst + int(recvRate*res.counted.Seconds()+1)
				if res.attackLive > allowed {
					t.Errorf("%d of the attacker's lines shown live on bob, want at most %d (its flood limit)", res.attackLive, allowed)
				}
				switch {
				case res.throttled > 1:
					t.Errorf("bob told %d times that the attacker is over the flood limit, want once", res.throttled)
				case res.attackSent < 2*allowed:
					t.Logf("the attacker published only %d envelopes: too slow a machine to tell", res.attackSent)
				case res.throttled == 0:
					t.Errorf("bob was not told that the attacker is over the flood limit")
				}
			}
		})
	}
}
