package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"lanchat/internal/netns"
	"lanchat/node"
	"lanchat/node/chat"
)

// fileFields are the fields of the file events of --json that [lanEvent]
// does not decode.
type fileFields struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	Hash  string `json:"hash"`
	Bytes int64  `json:"bytes"`
	Path  string `json:"path"`
	Error string `json:"error"`
	To    string `json:"to"`
}

func fileOf(e lanEvent) fileFields {
	var f fileFields
	_ = json.Unmarshal([]byte(e.raw), &f)
	return f
}

// isFileEvent matches the event of type typ about offer id (any offer
// when id is ""), on our own side of it when self.
func isFileEvent(typ, id string, self bool) func(lanEvent) bool {
	return func(e lanEvent) bool { return e.Type == typ && (id == "" || e.ID == id) && e.Self == self }
}

// randomFile writes size pseudo-random bytes to path and returns their
// hex SHA-256.
func randomFile(t testing.TB, path string, size int64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := rand.NewChaCha8([32]byte{byte(size), 1})
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(int64(len(buf)), left)
		src.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		left -= n
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileHash returns the hex SHA-256 of the file at path.
func fileHash(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileLAN makes a LAN of n hosts, builds the binary and writes a key; it
// returns them with a directory for the test's files.
func fileLAN(t testing.TB, n int) (*netns.LAN, string, string, []string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("runs the binary on %d network-namespace hosts; skipped with -short", n)
	}
	lan := netns.New(t, n)
	bin := testBinary(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "swarm.key")
	if err := os.WriteFile(keyFile, node.FormatSwarmKey(node.DeriveKey("files")), 0o600); err != nil {
		t.Fatal(err)
	}
	return lan, bin, dir, []string{"--key-file", keyFile}
}

// TestFileLAN runs file transfers between real binaries on a
// network-namespace LAN:
//
//	h1 → h2   a 100 MB file offered directly, accepted, verified (timed)
//	h1 → h2   a file that changes on disk before it is fetched: fails on both sides
//	h1 → room a 32 MB file offered to the room; h1's link is cut half way and
//	          restored: the transfer resumes from an offset and is verified
//	agent→h3  files offered under hostile names to a host with --auto-accept:
//	          all saved inside its download dir under plain names
func TestFileLAN(t *testing.T) {
	lan, bin, dir, key := fileLAN(t, 3)
	dl := func(nick string) string { return filepath.Join(dir, "downloads-"+nick) }
	h1 := startLanchat(t, bin, lan.Host(1), dir, "h1", append(key, "--download-dir", dl("h1"))...)
	h2 := startLanchat(t, bin, lan.Host(2), dir, "h2", append(key, "--download-dir", dl("h2"))...)
	h1.waitReady(t)
	h2.waitReady(t)
	h1.waitFor(t, 10*time.Second, "h2's join", joinOf(h2))
	h2.waitFor(t, 10*time.Second, "h1's join", joinOf(h1))

	// 100 MB, direct.
	const big = 100 << 20
	src := filepath.Join(dir, "big.bin")
	sum := randomFile(t, src, big)
	h1.say(t, "/send h2 "+src)
	own := h1.waitFor(t, 30*time.Second, "h1's own offer", isFileEvent("file_offer", "", true))
	if f := fileOf(own); f.To != h2.id || f.Size != big || f.Hash != sum || f.Name != "big.bin" {
		t.Fatalf("h1's offer: %s", own.raw)
	}
	offer := h2.waitFor(t, 10*time.Second, "the offer", isFileEvent("file_offer", own.ID, false))
	if offer.PeerID != h1.id || fileOf(offer).Hash != sum {
		t.Fatalf("h2's offer: %s", offer.raw)
	}
	start := time.Now()
	h2.say(t, "/accept")
	done := h2.waitFor(t, 60*time.Second, "the 100 MB file", isFileEvent("file_done", own.ID, false))
	took := time.Since(start)
	f := fileOf(done)
	if f.Hash != sum || filepath.Dir(f.Path) != dl("h2") || fileHash(t, f.Path) != sum {
		t.Fatalf("h2's done: %s (want hash %s in %s)", done.raw, sum, dl("h2"))
	}
	h1.waitFor(t, 10*time.Second, "h1's done", func(e lanEvent) bool {
		return isFileEvent("file_done", own.ID, true)(e) && e.PeerID == h2.id
	})
	t.Logf("file LAN: 100 MB in %v (%.0f MB/s), from /accept to verified on disk", took.Round(time.Millisecond), float64(big)/1e6/took.Seconds())
	checkProgressPace(t, h2, own.ID)

	// A file that changes before it is fetched.
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("first version\n"), 0o600)
	h1.say(t, "/send h2 "+notes)
	own2 := h1.waitFor(t, 10*time.Second, "the second offer", func(e lanEvent) bool {
		return isFileEvent("file_offer", "", true)(e) && e.ID != own.ID
	})
	h2.waitFor(t, 10*time.Second, "the second offer", isFileEvent("file_offer", own2.ID, false))
	os.WriteFile(notes, []byte("second version, longer\n"), 0o600)
	h2.say(t, "/accept "+own2.ID[:6])
	for _, p := range []*lanProc{h1, h2} {
		e := p.waitFor(t, 10*time.Second, "the failure", isFileEvent("file_failed", own2.ID, p == h1))
		if got := fileOf(e).Error; got != "the file changed since it was offered" {
			t.Errorf("%s: failure %q", p.nick, got)
		}
	}
	if _, err := os.Stat(filepath.Join(dl("h2"), "notes.txt")); err == nil {
		t.Errorf("the changed file was saved")
	}

	// A room offer, its link cut half way through.
	shaped := shape(t, lan.Host(1), "200mbit")
	size := int64(32 << 20)
	if !shaped {
		size = 256 << 20 // slow enough to cut in the middle without shaping
	}
	mid := filepath.Join(dir, "mid.bin")
	midSum := randomFile(t, mid, size)
	h1.say(t, "/send #lobby "+mid)
	own3 := h1.waitFor(t, 30*time.Second, "the room offer", func(e lanEvent) bool {
		return isFileEvent("file_offer", "", true)(e) && e.Room == "lobby"
	})
	h2.waitFor(t, 10*time.Second, "the room offer", isFileEvent("file_offer", own3.ID, false))
	h2.say(t, "/accept "+own3.ID)
	first := h2.waitFor(t, 20*time.Second, "progress", func(e lanEvent) bool {
		return isFileEvent("file_progress", own3.ID, false)(e) && fileOf(e).Bytes >= size/4
	})
	lan.Host(1).CutLink()
	cutAt := time.Now()
	t.Logf("file LAN: cut h1's link at %d of %d bytes", fileOf(first).Bytes, size)
	h2.waitFor(t, 30*time.Second, "the pause", func(e lanEvent) bool {
		return e.Type == "notice" && strings.Contains(e.Text, "mid.bin stopped")
	})
	lan.Host(1).RestoreLink()
	restored := time.Now()
	done3 := h2.waitFor(t, 60*time.Second, "the resumed file", isFileEvent("file_done", own3.ID, false))
	if f := fileOf(done3); f.Hash != midSum || fileHash(t, f.Path) != midSum {
		t.Fatalf("resumed file: %s, want hash %s", done3.raw, midSum)
	}
	offsets := servedOffsets(t, h1, own3.ID)
	if len(offsets) < 2 || offsets[0] != 0 || offsets[len(offsets)-1] <= 0 {
		t.Fatalf("h1 served %s from offsets %v, want 0 then a resume from an offset > 0", own3.ID, offsets)
	}
	t.Logf("file LAN: paused %v after the cut, done %v after the link came back, resumed from %d",
		restored.Sub(cutAt).Round(time.Millisecond), done3.at.Sub(restored).Round(time.Millisecond), offsets[len(offsets)-1])

	// Hostile names, offered by an agent on h1 to h3, which accepts all.
	h3 := startLanchat(t, bin, lan.Host(3), dir, "h3", append(key, "--auto-accept", dl("h3"))...)
	h3.waitReady(t)
	payload := filepath.Join(dir, "payload")
	os.WriteFile(payload, []byte("not what it says it is\n"), 0o600)
	names := map[string]string{
		"../../etc/passwd":     "passwd",
		".bashrc":              "bashrc",
		"CON":                  "_CON",
		"invoice\u202efdp.exe": "invoicefdp.exe",
	}
	var offered []string
	for n := range names {
		offered = append(offered, n)
	}
	slices.Sort(offered)
	var h3Addr string
	for _, a := range h3.ready.Addrs {
		if strings.Contains(a, "/ip4/"+lan.Host(3).IP().String()+"/") {
			h3Addr = a
		}
	}
	agent := lan.Host(1).Command(context.Background(), os.Args[0], append([]string{key[1], h3Addr, h3.id, payload}, offered...)...)
	agent.Env = append(os.Environ(), agentEnv+"=offer")
	out, err := agent.CombinedOutput()
	if err != nil {
		t.Fatalf("offer agent: %v\n%s", err, out)
	}
	for range offered {
		h3.waitFor(t, 20*time.Second, "a file", isFileEvent("file_done", "", false))
	}
	saved := map[string]bool{}
	for _, e := range h3.all() {
		if e.Type == "file_done" && !e.Self {
			p := fileOf(e).Path
			if filepath.Dir(p) != dl("h3") {
				t.Errorf("saved outside the download dir: %s", p)
			}
			saved[filepath.Base(p)] = true
		}
	}
	for offeredAs, want := range names {
		if !saved[want] {
			t.Errorf("%q was not saved as %q; saved: %v", offeredAs, want, saved)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() == "etc" || e.Name() == "passwd" {
			t.Errorf("a file landed beside the download dirs: %s", e.Name())
		}
	}
}

// checkProgressPace fails if p reported progress of id more often than
// every 250 ms.
func checkProgressPace(t *testing.T, p *lanProc, id string) {
	t.Helper()
	var last time.Time
	n := 0
	for _, e := range p.all() {
		if !isFileEvent("file_progress", id, false)(e) {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil {
			t.Fatalf("time of %s: %v", e.raw, err)
		}
		if !last.IsZero() && at.Sub(last) < 249*time.Millisecond {
			t.Errorf("progress %v after the previous one, want at least 250 ms: %s", at.Sub(last), e.raw)
		}
		last = at
		n++
	}
	if n == 0 {
		t.Errorf("%s reported no progress of %s", p.nick, id)
	}
}

// servedOffsets returns the offsets p's log says it served offer id
// from, in order.
func servedOffsets(t *testing.T, p *lanProc, id string) []int64 {
	t.Helper()
	logs, err := os.ReadFile(p.logFile)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`msg="serving a file".* id=` + id + ` offset=(\d+)`)
	var out []int64
	for _, m := range re.FindAllStringSubmatch(string(logs), -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		out = append(out, n)
	}
	return out
}

// shape limits what h sends to rate (tc's syntax, "1gbit") with a token
// bucket; it reports false, with a log line, where tc cannot.
func shape(t testing.TB, h *netns.Host, rate string) bool {
	t.Helper()
	out, err := h.Command(context.Background(), "tc", "qdisc", "replace", "dev", h.Iface(), "root",
		"tbf", "rate", rate, "burst", "1mbit", "latency", "50ms").CombinedOutput()
	if err != nil {
		t.Logf("cannot shape %s's link to %s (%v: %s): unshaped", h.Name(), rate, err, strings.TrimSpace(string(out)))
		return false
	}
	return true
}

// agentEnv makes the test binary, started with it set, run an agent
// instead of the tests: "offer" (a node offering files under names of its
// choosing), "tcp-sink" and "tcp-source" (a plain TCP copy, for the
// benchmark's yardstick), "floor-sink" and "floor-source" (a bare libp2p
// stream copy, for its floor).
const agentEnv = "LANCHAT_FILE_AGENT"

func init() {
	switch os.Getenv(agentEnv) {
	case "":
		return
	case "offer":
		os.Exit(offerAgent(os.Args[1:]))
	case "tcp-sink":
		os.Exit(tcpSink(os.Args[1:]))
	case "tcp-source":
		os.Exit(tcpSource(os.Args[1:]))
	case "floor-sink":
		os.Exit(floorSink(os.Args[1:]))
	case "floor-source":
		os.Exit(floorSource(os.Args[1:]))
	}
	fmt.Fprintln(os.Stderr, "unknown agent", os.Getenv(agentEnv))
	os.Exit(2)
}

// offerAgent: KEYFILE ADDR PEERID PATH NAME… offers the file at PATH to
// the peer once under each NAME and waits until the peer has verified
// them all.
func offerAgent(args []string) int {
	if len(args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: KEYFILE ADDR PEERID PATH NAME…")
		return 2
	}
	psk, err := node.ReadKeyFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := node.DefaultConfig()
	cfg.Nick, cfg.PSK, cfg.ListenAddrs = "mallory", psk, []string{"/ip4/0.0.0.0/tcp/0"}
	h, err := node.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer h.Close()
	if err := h.Connect(ctx, args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	want := map[string]bool{}
	for _, name := range args[4:] {
		id, err := h.OfferFileNamed(ctx, args[2], args[3], name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "offer", name, err)
			return 1
		}
		want[id] = true
		fmt.Println("offered", id)
	}
	for len(want) > 0 {
		select {
		case ev := <-h.Events():
			if ev.Kind == chat.KindFileDone && ev.Self {
				delete(want, ev.ID)
				fmt.Println("done", ev.ID)
			}
			if ev.Kind == chat.KindFileFailed {
				fmt.Fprintln(os.Stderr, "failed", ev.ID, ev.Text)
				return 1
			}
		case <-ctx.Done():
			fmt.Fprintln(os.Stderr, "timed out; not done:", want)
			return 1
		}
	}
	return 0
}

// tcpSink: ADDR PATH N accepts N connections on ADDR, one at a time, and
// copies each to the file PATH, as `nc -l > PATH` does; then it closes the
// connection, so that the sender knows all is written.
func tcpSink(args []string) int {
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("listening")
	n, _ := strconv.Atoi(args[2])
	for range n {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		f, err := os.Create(args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		_, err = io.Copy(f, c)
		f.Close()
		c.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// tcpSource: ADDR PATH sends the file PATH to ADDR and prints the
// nanoseconds from the dial until the sink closed the connection.
func tcpSource(args []string) int {
	f, err := os.Open(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	start := time.Now()
	c, err := net.Dial("tcp", args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := io.Copy(c, f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c) // until the sink closes
	fmt.Println(time.Since(start).Nanoseconds())
	return 0
}

// floorSink: KEYFILE PATH N starts a [node.StreamFloor], prints
// "listening" and its addresses, and copies N streams, one at a time, to
// the file PATH.
func floorSink(args []string) int {
	psk, err := node.ReadKeyFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f, err := node.StartStreamFloor(psk, "/ip4/0.0.0.0/tcp/0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	done := f.Receive(args[1])
	fmt.Println("listening", strings.Join(f.Addrs(), " "))
	n, _ := strconv.Atoi(args[2])
	for range n {
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.WaitIdle(ctx) // the last sender has its close
	return 0
}

// floorSource: KEYFILE ADDR PATH sends the file PATH to the floor sink
// at ADDR and prints the nanoseconds it took.
func floorSource(args []string) int {
	psk, err := node.ReadKeyFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f, err := node.StartStreamFloor(psk, "/ip4/0.0.0.0/tcp/0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	took, err := f.Send(ctx, args[1], args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(took.Nanoseconds())
	return 0
}

// BenchmarkFileLAN compares a lanchat transfer (from /accept to the file
// verified on disk) between two namespace hosts with a plain TCP copy of
// the same file between them (a Go copy to a file, as nc does) and with
// its floor, a bare libp2p stream copy (the same private network, Noise
// and yamux, no lanchat file logic; see [node.StreamFloor]): on the bare
// veth link, which the CPU bounds, and shaped to 1 Gbit/s, like a real
// LAN. It reports each in MB/s, the CPU each took per MB (both ends),
// and lanchat's share of the TCP copy and of the floor: the gap between
// TCP and the floor is the libp2p stack's, the rest is lanchat's.
//
//	go test -run '^$' -bench BenchmarkFileLAN -benchtime 3x ./cmd/lanchat
func BenchmarkFileLAN(b *testing.B) {
	for _, link := range []string{"veth", "1gbit"} {
		b.Run(link, func(b *testing.B) { benchFileLAN(b, link) })
	}
}

func benchFileLAN(b *testing.B, link string) {
	lan, bin, dir, key := fileLAN(b, 2)
	if link != "veth" {
		if !shape(b, lan.Host(1), link) || !shape(b, lan.Host(2), link) {
			b.Skip("cannot shape the links")
		}
	}
	const size = 128 << 20
	src := filepath.Join(dir, "bench.bin")
	sum := randomFile(b, src, size)
	sinkPath := filepath.Join(dir, "sink.bin")
	tcpAddr := net.JoinHostPort(lan.Host(2).IP().String(), "9999")
	tcpTime, tcpCPU := agentCopies(b, lan, "tcp", sinkPath, sum,
		[]string{tcpAddr, sinkPath, strconv.Itoa(b.N)},
		func([]string) []string { return []string{tcpAddr, src} })
	floorTime, floorCPU := agentCopies(b, lan, "floor", sinkPath, sum,
		[]string{key[1], sinkPath, strconv.Itoa(b.N)},
		func(addrs []string) []string {
			for _, a := range addrs {
				if strings.HasPrefix(a, "/ip4/"+lan.Host(2).IP().String()+"/") {
					return []string{key[1], a, src}
				}
			}
			b.Fatalf("floor sink: no address on %s in %v", lan.Host(2).IP(), addrs)
			return nil
		})

	// lanchat, b.N times.
	h1 := startLanchat(b, bin, lan.Host(1), dir, "h1", key...)
	h2 := startLanchat(b, bin, lan.Host(2), dir, "h2", append(key, "--download-dir", filepath.Join(dir, "dl"))...)
	h1.waitReady(b)
	h2.waitReady(b)
	h2.waitFor(b, 10*time.Second, "h1's join", joinOf(h1))
	var lanTime, lanCPU time.Duration
	for i := range b.N {
		h1.say(b, "/send h2 "+src)
		seen := 0
		own := h1.waitFor(b, 60*time.Second, "own offer", func(e lanEvent) bool {
			if !isFileEvent("file_offer", "", true)(e) {
				return false
			}
			seen++
			return seen > i // the offer of this round
		})
		h2.waitFor(b, 10*time.Second, "offer", isFileEvent("file_offer", own.ID, false))
		cpu := procCPU(h1) + procCPU(h2)
		start := time.Now()
		h2.say(b, "/accept "+own.ID)
		done := h2.waitFor(b, 120*time.Second, "file", isFileEvent("file_done", own.ID, false))
		lanTime += done.at.Sub(start)
		lanCPU += procCPU(h1) + procCPU(h2) - cpu
		f := fileOf(done)
		if f.Hash != sum {
			b.Fatalf("transfer %d: %s", i, done.raw)
		}
		os.Remove(f.Path)
	}
	mb := float64(size) * float64(b.N) / 1e6
	tcpRate, floorRate, lanRate := mb/tcpTime.Seconds(), mb/floorTime.Seconds(), mb/lanTime.Seconds()
	b.ReportMetric(tcpRate, "tcp_MB/s")
	b.ReportMetric(floorRate, "floor_MB/s")
	b.ReportMetric(lanRate, "lanchat_MB/s")
	b.ReportMetric(100*lanRate/tcpRate, "%_of_tcp")
	b.ReportMetric(100*lanRate/floorRate, "%_of_floor")
	if lanCPU > 0 {
		b.ReportMetric(float64(tcpCPU.Milliseconds())/mb, "tcp_cpu_ms/MB")
		b.ReportMetric(float64(floorCPU.Milliseconds())/mb, "floor_cpu_ms/MB")
		b.ReportMetric(float64(lanCPU.Milliseconds())/mb, "lanchat_cpu_ms/MB")
	}
	b.ReportMetric(0, "ns/op")
}

// agentCopies runs the agents kind+"-sink" on host 2, with sinkArgs, and
// kind+"-source" on host 1 b.N times, with the arguments source makes of
// the addresses the sink printed after "listening"; it checks the copy
// in sinkPath against sum and returns the time the sources printed and
// the CPU time of all the agents, in sum.
func agentCopies(b *testing.B, lan *netns.LAN, kind, sinkPath, sum string, sinkArgs []string, source func(addrs []string) []string) (took, cpu time.Duration) {
	b.Helper()
	sink := lan.Host(2).Command(context.Background(), os.Args[0], sinkArgs...)
	sink.Env = append(os.Environ(), agentEnv+"="+kind+"-sink")
	sink.Stderr = os.Stderr
	sinkOut, err := sink.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := sink.Start(); err != nil {
		b.Fatal(err)
	}
	defer sink.Process.Kill()
	line, _ := bufio.NewReader(sinkOut).ReadString('\n')
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] != "listening" {
		b.Fatalf("%s sink: %q", kind, line)
	}
	args := source(fields[1:])
	for range b.N {
		src := lan.Host(1).Command(context.Background(), os.Args[0], args...)
		src.Env = append(os.Environ(), agentEnv+"="+kind+"-source")
		src.Stderr = os.Stderr
		out, err := src.Output()
		if err != nil {
			b.Fatalf("%s source: %v", kind, err)
		}
		ns, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		took += time.Duration(ns)
		cpu += src.ProcessState.UserTime() + src.ProcessState.SystemTime()
	}
	if err := sink.Wait(); err != nil {
		b.Fatalf("%s sink: %v", kind, err)
	}
	cpu += sink.ProcessState.UserTime() + sink.ProcessState.SystemTime()
	if got := fileHash(b, sinkPath); got != sum {
		b.Fatalf("%s copy: hash %s, want %s", kind, got, sum)
	}
	os.Remove(sinkPath)
	return took, cpu
}

// procCPU returns the CPU time, user and system, process p has used so
// far, from /proc (0 where there is none).
func procCPU(p *lanProc) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses:
	// utime and stime are the 12th and 13th, in clock ticks (100 a second).
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
