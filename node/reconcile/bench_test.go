package reconcile

import "testing"

// benchExchange reconciles two sets of 10,000 items spread over a day,
// of which onlyA are only on the initiator's side and onlyB only on the
// responder's, and reports the bytes both ways and the rounds (replies)
// of one exchange. The sets are built before the clock starts.
func benchExchange(b *testing.B, onlyA, onlyB int) {
	a, r, _, _ := pair(42, "day", 10_000-max(onlyA, onlyB), onlyA, onlyB)
	var res result
	b.ReportAllocs()
	for b.Loop() {
		res = exchange(b, a, r, Limits{})
	}
	if len(res.have) != onlyA || len(res.need) != onlyB {
		b.Fatalf("have %d need %d, want %d and %d", len(res.have), len(res.need), onlyA, onlyB)
	}
	b.ReportMetric(float64(res.sent+res.recv), "wire-B/op")
	b.ReportMetric(float64(res.rounds), "rounds/op")
}

// BenchmarkReconcileIdentical10k: two identical sets of 10,000.
func BenchmarkReconcileIdentical10k(b *testing.B) { benchExchange(b, 0, 0) }

// BenchmarkReconcileDiffer1: 10,000 and 9,999 (one item missing on the
// responder's side).
func BenchmarkReconcileDiffer1(b *testing.B) { benchExchange(b, 1, 0) }

// BenchmarkReconcileDiffer100: 10,000 each, 50 items only on each side.
func BenchmarkReconcileDiffer100(b *testing.B) { benchExchange(b, 50, 50) }

// BenchmarkReconcileDiffer1000: 10,000 each, 500 items only on each side.
func BenchmarkReconcileDiffer1000(b *testing.B) { benchExchange(b, 500, 500) }

// BenchmarkReconcileEmpty10k: an empty initiator catching up on 10,000.
func BenchmarkReconcileEmpty10k(b *testing.B) { benchExchange(b, 0, 10_000) }

// BenchmarkNewSet10k: building a set of 10,000 unsorted items.
func BenchmarkNewSet10k(b *testing.B) {
	items := newGen(1, "day").items(10_000)
	b.ReportAllocs()
	for b.Loop() {
		NewSet(items)
	}
}

// BenchmarkRespondHostile measures what a responder holding 10,000 items
// spends on the costliest messages of the largest default size a peer can
// send: 64 KiB of fingerprints that all differ (one per millisecond of
// the day the items span), and 64 KiB of empty id lists.
func BenchmarkRespondHostile(b *testing.B) {
	set, _, _, _ := pair(42, "day", 10_000, 0, 0)
	build := func(rng func(w *writer, i int)) []byte {
		w := newWriter(1 << 30)
		for i := 0; len(w.b) < DefaultMaxMessage-64; i++ {
			rng(w, i)
		}
		return w.b
	}
	base := set.items[0].Time
	step := (set.items[set.Len()-1].Time - base) / 3000
	msgs := []struct {
		name string
		msg  []byte
	}{
		{"fingerprints", build(func(w *writer, i int) {
			w.fingerprint(bound{time: base + int64(i)*step}, [fpSize]byte{1})
		})},
		{"id lists", build(func(w *writer, i int) {
			w.idList(bound{time: base + int64(i)*step/5}, nil)
		})},
	}
	for _, m := range msgs {
		b.Run(m.name, func(b *testing.B) {
			var reply []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if reply, err = set.Respond(m.msg, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(m.msg)), "in-B/op")
			b.ReportMetric(float64(len(reply)), "out-B/op")
		})
	}
}
