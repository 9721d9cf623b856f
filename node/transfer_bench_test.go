package node

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"lanchat/node/chat"
)

// BenchmarkFileTransfer moves a 64 MiB file between two hosts on loopback,
// from AcceptFile to the file verified on disk.
func BenchmarkFileTransfer(b *testing.B) {
	cfgA, cfgB := testConfig("alice"), testConfig("bob")
	cfgB.DownloadDir = filepath.Join(b.TempDir(), "dl")
	a, bob := startNode(b, cfgA), startNode(b, cfgB)
	bob.connect(a)
	waitKnown(5*time.Second, a, bob)
	const size = 64 << 20
	src := filepath.Join(b.TempDir(), "bench.bin")
	writeBenchFile(b, src, size)
	ctx := context.Background()
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		id, err := a.OfferFile(ctx, bob.id(), src)
		if err != nil {
			b.Fatal(err)
		}
		bob.wait(5*time.Second, "offer", func(ev chat.Event) bool { return ev.Kind == chat.KindFileOffer && ev.ID == id })
		b.StartTimer()
		if err := bob.AcceptFile(ctx, id); err != nil {
			b.Fatal(err)
		}
		bob.wait(60*time.Second, "done", func(ev chat.Event) bool { return ev.Kind == chat.KindFileDone && ev.ID == id })
	}
}
