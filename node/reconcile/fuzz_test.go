package reconcile

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzLimits are small, so that fuzzed messages reach the limit and the
// early end of a message is fuzzed too.
var fuzzLimits = Limits{MaxMessage: MinMaxMessage, MaxRounds: 4}

// fuzzSets are the sets the fuzz tests answer with: 300 items of a few
// times (so that bounds carry prefixes), and a variant of them.
func fuzzSets() (a, b *Set) {
	return pairSets(5, "few", 300, 40, 30)
}

func pairSets(seed uint64, shape string, common, onlyA, onlyB int) (a, b *Set) {
	a, b, _, _ = pair(seed, shape, common, onlyA, onlyB)
	return a, b
}

// seedMessages returns the messages of honest exchanges between sets of
// several shapes: what the fuzzers start from.
func seedMessages(f *testing.F) (queries, replies [][]byte) {
	a, b := fuzzSets()
	pa, pb := pinnedSets()
	small := NewSet([]Item{{1000, rep(0x11)}, {1001, rep(0x22)}, {1002, rep(0x33)}})
	c, d := pairSets(6, "day", 2000, 300, 300)
	for _, p := range [][2]*Set{
		{a, b}, {b, a}, {pa, pb}, {small, pb}, {NewSet(nil), a}, {a, NewSet(nil)}, {a, a}, {c, d},
	} {
		res, err := run(p[0], p[1], Limits{MaxMessage: fuzzLimits.MaxMessage, MaxRounds: 1000})
		if err != nil {
			f.Fatal(err)
		}
		for i, m := range res.msgs {
			if i%2 == 0 {
				queries = append(queries, m)
			} else {
				replies = append(replies, m)
			}
		}
	}
	return queries, replies
}

// FuzzRespond checks that Respond never panics, refuses what it refuses
// with ErrMalformed, and that what it accepts is canonical (reads back to
// the same bytes) and gets a reply that is canonical, deterministic and
// within the limit.
func FuzzRespond(f *testing.F) {
	queries, replies := seedMessages(f)
	for _, m := range queries {
		f.Add(m)
	}
	for _, m := range replies {
		f.Add(m)
	}
	for _, tt := range badQueries {
		f.Add(h(tt.hex))
	}
	_, b := fuzzSets()
	f.Fuzz(func(t *testing.T, msg []byte) {
		reply, err := b.Respond(msg, fuzzLimits)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || reply != nil {
				t.Fatalf("Respond(%s) = %s, %v; want nil, ErrMalformed", q(msg), q(reply), err)
			}
			return
		}
		if re, err := reencode(msg, false); err != nil || !bytes.Equal(re, msg) {
			t.Fatalf("Respond accepted %s, which reads back as %s, %v", q(msg), q(re), err)
		}
		if len(reply) > fuzzLimits.MaxMessage {
			t.Fatalf("Respond(%s) = %d bytes, max %d", q(msg), len(reply), fuzzLimits.MaxMessage)
		}
		if re, err := reencode(reply, true); err != nil || !bytes.Equal(re, reply) {
			t.Fatalf("Respond(%s) = %s, which reads back as %s, %v", q(msg), q(reply), q(re), err)
		}
		if again, _ := b.Respond(msg, fuzzLimits); !bytes.Equal(again, reply) {
			t.Fatalf("Respond(%s) = %s, then %s", q(msg), q(reply), q(again))
		}
	})
}

// FuzzReconcile checks that a session fed any reply never panics, refuses
// with ErrMalformed, reports nothing with an error, and otherwise reports
// as have only its own IDs, each once, and returns a canonical next
// message within the limit, that the responder accepts.
func FuzzReconcile(f *testing.F) {
	queries, replies := seedMessages(f)
	for _, m := range replies {
		f.Add(m)
	}
	for _, m := range queries {
		f.Add(m)
	}
	for _, tt := range badReplies {
		f.Add(h(tt.hex))
	}
	a, b := fuzzSets()
	own := make(map[[IDSize]byte]bool, a.Len())
	for _, it := range a.items {
		own[it.ID] = true
	}
	f.Fuzz(func(t *testing.T, reply []byte) {
		sess := a.NewSession(fuzzLimits)
		if _, err := sess.Initiate(); err != nil {
			t.Fatal(err)
		}
		next, have, need, err := sess.Reconcile(reply)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || next != nil || have != nil || need != nil {
				t.Fatalf("Reconcile(%s) = %s, %d have, %d need, %v; want nothing and ErrMalformed", q(reply), q(next), len(have), len(need), err)
			}
			return
		}
		if re, err := reencode(reply, true); err != nil || !bytes.Equal(re, reply) {
			t.Fatalf("Reconcile accepted %s, which reads back as %s, %v", q(reply), q(re), err)
		}
		seen := map[[IDSize]byte]bool{}
		for _, id := range have {
			if !own[id] || seen[id] {
				t.Fatalf("Reconcile(%s): have %x: not own, or twice", q(reply), id)
			}
			seen[id] = true
		}
		clear(seen)
		for _, id := range need {
			if seen[id] {
				t.Fatalf("Reconcile(%s): need %x twice", q(reply), id)
			}
			seen[id] = true
		}
		if next == nil {
			return
		}
		if len(next) > fuzzLimits.MaxMessage {
			t.Fatalf("Reconcile(%s) = %d bytes, max %d", q(reply), len(next), fuzzLimits.MaxMessage)
		}
		if re, err := reencode(next, false); err != nil || !bytes.Equal(re, next) {
			t.Fatalf("Reconcile(%s) = %s, which reads back as %s, %v", q(reply), q(next), q(re), err)
		}
		if _, err := b.Respond(next, fuzzLimits); err != nil {
			t.Fatalf("Respond(Reconcile(%s)) = %v", q(reply), err)
		}
	})
}
