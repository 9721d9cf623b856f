package node

import "testing"

// BenchmarkFlood runs the flood scenarios of TestFlood (three honest
// members, 100 lines from alice at 50 a second, and an attacker) and
// reports what bob and carol saw: latency from Send to event in ms
// (p50, p99, max, and p99 of the lines sent after the attacker's allowed
// burst, floodSettle), honest lines lost and fetched only by sync, the
// attacker's lines shown live and its rate, and the heap's growth.
// Run it with -benchtime=1x: each iteration is a whole scenario.
func BenchmarkFlood(b *testing.B) {
	for _, kind := range []string{floodNone, floodSmall, floodMax, floodSybil, floodBurst, floodPresence} {
		b.Run(kind, func(b *testing.B) {
			fr := newFloodRoom(b)
			var res floodResult
			for b.Loop() {
				res = fr.run(kind, 100)
			}
			b.Logf("%s flood: %v", kind, res)
			ms := func(d interface{ Seconds() float64 }) float64 { return d.Seconds() * 1000 }
			b.ReportMetric(ms(res.p50), "p50-ms")
			b.ReportMetric(ms(res.p99), "p99-ms")
			b.ReportMetric(ms(res.max), "max-ms")
			b.ReportMetric(ms(res.p99steady), "p99-settled-ms")
			b.ReportMetric(float64(res.lost), "lost")
			b.ReportMetric(float64(res.history), "via-sync")
			b.ReportMetric(float64(res.attackLive), "attacker-live")
			b.ReportMetric(float64(res.attackSent)/res.elapsed.Seconds(), "attacker-msg/s")
			b.ReportMetric(float64(res.heapGrowth)/(1<<20), "heap-MiB")
		})
	}
}
