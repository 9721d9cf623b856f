package node

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"google.golang.org/protobuf/proto"

	"lanchat/node/chat"
	"lanchat/node/store"
	"lanchat/node/wire"
)

// signedLines returns n chat lines of room r signed by h, as pubsub would
// have signed them, one a second up to now, for seeding logs without
// publishing (the send budget would take minutes for thousands).
func signedLines(tb testing.TB, h *Host, r *Room, n int, seq0 uint64) []store.Line {
	tb.Helper()
	now := time.Now()
	lines := make([]store.Line, n)
	for i := range n {
		sent := now.Add(time.Duration(i-n) * time.Second).UnixMilli()
		data, err := wire.Encode(wire.Envelope{Kind: wire.KindMessage, Room: r.wireID, Sent: sent, Nick: "seed",
			Text: fmt.Sprintf("seeded line %d of %d: lorem ipsum dolor sit amet", i, n)})
		if err != nil {
			tb.Fatal(err)
		}
		seq := binary.BigEndian.AppendUint64(nil, seq0+uint64(i))
		m := &pb.Message{From: []byte(h.self), Data: data, Seqno: seq, Topic: proto.String(r.topicName)}
		b, err := proto.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		if m.Signature, err = h.id.key.Sign(append([]byte(pubsub.SignPrefix), b...)); err != nil {
			tb.Fatal(err)
		}
		raw := rawMessage(m)
		id := messageID(h.self, seq)
		lines[i] = store.Line{Room: r.topicName, ID: id, Author: h.self.String(), Seqno: seq0 + uint64(i),
			Sent: time.UnixMilli(sent), Received: now, Raw: raw}
	}
	return lines
}

// seed appends lines to tn's log.
func seed(tb testing.TB, tn *testNode, lines []store.Line) {
	tb.Helper()
	if _, err := tn.hist.st.AppendBatch(lines); err != nil {
		tb.Fatal(err)
	}
}

// TestSeededLinesVerify checks the benchmarks' seeding: a seeded line
// passes the checks of a fetched one.
func TestSeededLinesVerify(t *testing.T) {
	a := startNode(t, testConfig("alice"))
	for _, l := range signedLines(t, a.Host, a.room, 3, 1) {
		if _, err := a.room.parseRaw(l.Raw, true); err != nil {
			t.Fatalf("seeded line does not check: %v", err)
		}
	}
}

// startSeeded starts nick in testRoom with window n, its log seeded with
// lines (made for another host's room of the same name).
func startSeeded(b *testing.B, nick string, n int, lines []store.Line) *testNode {
	cfg := testConfig(nick)
	cfg.Logger = nil
	cfg.SyncMaxLines = n
	cfg.EventBuffer = n + 64
	tn := startNode(b, cfg)
	if len(lines) > 0 {
		for i := range lines {
			lines[i].Room = tn.room.topicName
		}
		seed(b, tn, lines)
	}
	return tn
}

// waitPulls waits until tn has done k pulls without an error.
func waitPulls(b *testing.B, tn *testNode, k int64) {
	deadline := time.Now().Add(30 * time.Second)
	for tn.sync.pullsOK.Load() < k {
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d pulls, want %d", tn.name, tn.sync.pullsOK.Load(), k)
		}
		tn.waitOK(time.Millisecond, func(chat.Event) bool { return false })
	}
}

// BenchmarkCatchUp measures a late joiner's catch-up on loopback: alice's
// log holds N lines; carol connects and the benchmark times until carol
// has all N as history events. Reports ms to catch up, the bytes of
// carol's pull on the wire, both ways, and the size of alice's log file
// with N lines (of ~60 bytes of text, ~190 bytes signed).
func BenchmarkCatchUp(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			a := startSeeded(b, "alice", n, nil)
			seed(b, a, signedLines(b, a.Host, a.room, n, 1))
			var total time.Duration
			var bytes int64
			for b.Loop() {
				c := startSeeded(b, "carol", n, nil)
				start := time.Now()
				c.connect(a)
				c.wait(30*time.Second, "history", func(ev chat.Event) bool { return ev.Kind == chat.KindHistory && ev.Count == n })
				total += time.Since(start)
				bytes += c.sync.pullBytes.Load()
				c.close()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/catch-up")
			if st, err := os.Stat(filepath.Join(a.hist.temp, historyFile)); err == nil {
				b.ReportMetric(float64(st.Size()), "log-file-B")
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "wire-B/catch-up")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkReconcileWire measures the bytes of one pull on the wire, both
// ways, sync frames included, between two logs of 10,000 lines: identical,
// and differing by one line (the puller lacks it).
func BenchmarkReconcileWire(b *testing.B) {
	for _, tc := range []struct {
		name  string
		extra int
	}{{"identical10k", 0}, {"differ1", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			const n = 10000
			a := startSeeded(b, "alice", n+1, nil)
			lines := signedLines(b, a.Host, a.room, n+tc.extra, 1)
			seed(b, a, lines)
			var bytes int64
			for b.Loop() {
				bob := startSeeded(b, "bob", n+1, slices.Clone(lines[:n]))
				bob.connect(a)
				waitPulls(b, bob, 1)
				bytes += bob.sync.pullBytes.Load()
				if tc.extra > 0 {
					bob.wait(5*time.Second, "the missing line", func(ev chat.Event) bool { return ev.Kind == chat.KindHistory && ev.Count == 1 })
				}
				bob.close()
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "wire-B/pull")
			b.ReportMetric(0, "ns/op")
		})
	}
}
