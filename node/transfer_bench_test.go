package node

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"lanchat/node/chat"
)

// benchPair starts two hosts on loopback with a private network key, as
// lanchat always runs, connected, and writes a file of size bytes to
// send.
func benchPair(b *testing.B, size int) (a, bob *testNode, src string) {
	b.Helper()
	psk, _ := GenerateKey()
	cfgA, cfgB := testConfig("alice"), testConfig("bob")
	cfgA.PSK, cfgB.PSK = psk, psk
	cfgB.DownloadDir = filepath.Join(b.TempDir(), "dl")
	a, bob = startNode(b, cfgA), startNode(b, cfgB)
	bob.connect(a)
	waitKnown(5*time.Second, a, bob)
	src = filepath.Join(b.TempDir(), "bench.bin")
	writeBenchFile(b, src, size)
	return a, bob, src
}

// BenchmarkFileTransfer moves a 64 MiB file between two hosts on loopback,
// from AcceptFile to the file verified on disk. Its yardstick is
// BenchmarkStreamFloor: the same hosts, a bare stream.
//
//	go test -run '^$' -bench 'FileTransfer|StreamFloor' -count 5 ./node
func BenchmarkFileTransfer(b *testing.B) {
	const size = 64 << 20
	a, bob, src := benchPair(b, size)
	ctx := context.Background()
	b.SetBytes(size)
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		id, err := a.OfferFile(ctx, bob.id(), src)
		if err != nil {
			b.Fatal(err)
		}
		bob.wait(5*time.Second, "offer", func(ev chat.Event) bool { return ev.Kind == chat.KindFileOffer && ev.ID == id })
		b.StartTimer()
		before := cpuTime()
		if err := bob.AcceptFile(ctx, id); err != nil {
			b.Fatal(err)
		}
		bob.wait(60*time.Second, "done", func(ev chat.Event) bool { return ev.Kind == chat.KindFileDone && ev.ID == id })
		cpu += cpuTime() - before
	}
	reportCPUPerMB(b, cpu, size)
}

// reportCPUPerMB reports the CPU time both hosts took per MB moved: on a
// machine others load, a steadier measure than the time.
func reportCPUPerMB(b *testing.B, cpu time.Duration, size int) {
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Milliseconds())/(float64(size)*float64(b.N)/1e6), "cpu_ms/MB")
	}
}

// BenchmarkStreamFloor copies the file of BenchmarkFileTransfer over a
// bare libp2p stream between the same kind of hosts (pnet, Noise, yamux
// as lanMuxer sets it) into a file, with io.Copy on both ends and no
// lanchat file logic: what the libp2p stack alone allows.
func BenchmarkStreamFloor(b *testing.B) {
	const size = 64 << 20
	a, bob, src := benchPair(b, size)
	const proto = "/lanchat/bench-floor/1"
	dst := filepath.Join(b.TempDir(), "floor.bin")
	copied := make(chan error, 1)
	bob.host.SetStreamHandler(proto, func(s network.Stream) {
		f, err := os.Create(dst)
		if err == nil {
			_, err = io.Copy(f, s)
			f.Close()
		}
		s.Close()
		copied <- err
	})
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	ctx := context.Background()
	b.SetBytes(size)
	before := cpuTime()
	b.ResetTimer()
	for range b.N {
		in.Seek(0, io.SeekStart)
		s, err := a.host.NewStream(ctx, bob.host.ID(), proto)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(s, in); err != nil {
			b.Fatal(err)
		}
		s.CloseWrite()
		if err := <-copied; err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	reportCPUPerMB(b, cpuTime()-before, size)
}
