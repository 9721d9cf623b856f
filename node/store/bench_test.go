package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// benchRaw is about the size of a signed pubsub record of a short line.
var benchRaw = make([]byte, 200)

func benchLine(i int) Line {
	author := "12D3KooWGzBGtKxc5DoqM7HkfJx1u5gpkThQ4VU1xmf3AWVjR9Ev"
	return Line{Room: "lobby", ID: MessageID(author, uint64(i)), Author: author, Seqno: uint64(i),
		Sent: t0.Add(time.Duration(i) * time.Second), Received: t0, Raw: benchRaw}
}

// BenchmarkAppend is the latency of one line, one transaction, one fsync.
func BenchmarkAppend(b *testing.B) {
	s := open(b, Config{})
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Append(benchLine(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendBatch100 is the cost per line of 100 lines per transaction,
// as sync would store a fetched batch.
func BenchmarkAppendBatch100(b *testing.B) {
	s := open(b, Config{})
	batch := make([]Line, 100)
	n := 0
	for b.Loop() {
		for j := range batch {
			batch[j] = benchLine(n)
			n++
		}
		if _, err := s.AppendBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/line")
}

// BenchmarkDisk10000 reports the file size holding 10,000 lines of 200-byte
// records, appended in batches of 100.
func BenchmarkDisk10000(b *testing.B) {
	var size, used int64
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "log.db")
		s, err := Open(Config{Path: path})
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 10000; i += 100 {
			batch := make([]Line, 100)
			for j := range batch {
				batch[j] = benchLine(i + j)
			}
			if _, err := s.AppendBatch(batch); err != nil {
				b.Fatal(err)
			}
		}
		s.db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
		s.Close()
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		size = fi.Size()
	}
	b.ReportMetric(float64(size), "bytes/10k-lines")
	b.ReportMetric(float64(used), "used-bytes/10k-lines")
}

// BenchmarkRecent500 reads the newest 500 lines of a 10,000-line room.
func BenchmarkRecent500(b *testing.B) {
	s := open(b, Config{})
	for i := 0; i < 10000; i += 500 {
		batch := make([]Line, 500)
		for j := range batch {
			batch[j] = benchLine(i + j)
		}
		if _, err := s.AppendBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		got, err := s.Recent("lobby", 500)
		if err != nil || len(got) != 500 {
			b.Fatal(fmt.Sprint(len(got), err))
		}
	}
}
