package node

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"lanchat/node/chat"
)

// BenchmarkDeliver measures publish-to-delivery latency across three nodes on
// loopback (TCP, Noise, yamux, pnet): one message at a time from the first
// node, timed until both others have it as an event. Reports p50 and p99 in
// microseconds (the slower receiver of each message).
func BenchmarkDeliver(b *testing.B) {
	psk, _ := GenerateKey()
	var nodes []*Host
	var rooms []*Room
	type rx struct {
		text string
		at   time.Time
	}
	got := make(chan rx, 1024)
	for i, nick := range []string{"alice", "bob", "carol"} {
		cfg := testConfig(nick)
		cfg.PSK = psk
		cfg.Logger = nil
		n, err := Start(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		// The benchmark sends faster than any person: lift the flood limits.
		n.sendLim.SetLimit(rate.Inf)
		n.adm.setLimit(rate.Inf, recvBurst)
		r, err := n.Join(context.Background(), testRoom, RoomOptions{})
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, n)
		rooms = append(rooms, r)
		go func() {
			for ev := range r.Events() {
				if i > 0 && ev.Kind == chat.KindMessage {
					got <- rx{ev.Text, time.Now()}
				}
			}
		}()
	}
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, a := range nodes {
		for _, c := range nodes[i+1:] {
			addr := ""
			for _, s := range a.Info().Addrs {
				addr = s
			}
			if err := c.Connect(ctx, addr); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Warm up until both receivers see messages.
	for seen := 0; seen < 2; {
		rooms[0].Send(ctx, "warmup")
		timeout := time.After(100 * time.Millisecond)
	drain:
		for {
			select {
			case r := <-got:
				if r.text == "warmup" {
					seen++
				}
			case <-timeout:
				break drain
			}
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		text := strconv.Itoa(i)
		start := time.Now()
		if err := rooms[0].Send(ctx, text); err != nil {
			b.Fatal(err)
		}
		var last time.Time
		for n := 0; n < 2; {
			r := <-got
			if r.text == text {
				n++
				last = r.at
			}
		}
		lat = append(lat, last.Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
