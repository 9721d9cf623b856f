package reconcile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// gen makes random items with the times of one of a few shapes.
type gen struct {
	r     *rand.Rand
	shape string
	t     int64 // next time, for "sequential"
}

func newGen(seed uint64, shape string) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, 0x5eed)), shape: shape, t: 1_700_000_000_000}
}

// item returns a random item; times are spread over a day, or all the
// same, or a few distinct ones, or one millisecond apart.
func (g *gen) item() Item {
	var it Item
	for i := 0; i < IDSize; i += 8 {
		v := g.r.Uint64()
		for j := range 8 {
			it.ID[i+j] = byte(v >> (8 * j))
		}
	}
	base := int64(1_700_000_000_000)
	switch g.shape {
	case "same":
		it.Time = base
	case "few":
		it.Time = base + g.r.Int64N(4)
	case "sequential":
		g.t++
		it.Time = g.t
	default: // "day"
		it.Time = base + g.r.Int64N(86_400_000)
	}
	return it
}

func (g *gen) items(n int) []Item {
	out := make([]Item, n)
	for i := range out {
		out[i] = g.item()
	}
	return out
}

// pair returns two sets that share common items, with onlyA and onlyB
// items of their own.
func pair(seed uint64, shape string, common, onlyA, onlyB int) (a, b *Set, wantHave, wantNeed [][IDSize]byte) {
	g := newGen(seed, shape)
	c, x, y := g.items(common), g.items(onlyA), g.items(onlyB)
	for _, it := range x {
		wantHave = append(wantHave, it.ID)
	}
	for _, it := range y {
		wantNeed = append(wantNeed, it.ID)
	}
	return NewSet(append(slices.Clone(c), x...)), NewSet(append(slices.Clone(c), y...)), wantHave, wantNeed
}

// result is what an exchange between two sets gave.
type result struct {
	have, need [][IDSize]byte
	rounds     int // replies
	sent, recv int // bytes from the initiator, from the responder
	msgs       [][]byte
}

// exchange runs a whole exchange of a (initiator) with b (responder),
// checking that no message exceeds the limit.
func exchange(t testing.TB, a, b *Set, limits Limits) result {
	t.Helper()
	res, err := run(a, b, limits)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// run is exchange, for any goroutine.
func run(a, b *Set, limits Limits) (result, error) {
	max := limits.withDefaults().MaxMessage
	var res result
	sess := a.NewSession(limits)
	msg, err := sess.Initiate()
	if err != nil {
		return res, fmt.Errorf("Initiate() = %v", err)
	}
	for msg != nil {
		if len(msg) > max {
			return res, fmt.Errorf("round %d: initiator message of %d bytes, max %d", res.rounds, len(msg), max)
		}
		res.sent += len(msg)
		res.msgs = append(res.msgs, msg)
		reply, err := b.Respond(msg, limits)
		if err != nil {
			return res, fmt.Errorf("round %d: Respond(%s) = %w", res.rounds, q(msg), err)
		}
		if len(reply) > max {
			return res, fmt.Errorf("round %d: reply of %d bytes, max %d", res.rounds, len(reply), max)
		}
		res.recv += len(reply)
		res.msgs = append(res.msgs, reply)
		res.rounds++
		var have, need [][IDSize]byte
		msg, have, need, err = sess.Reconcile(reply)
		if err != nil {
			return res, fmt.Errorf("round %d: Reconcile(%s) = %w", res.rounds, q(reply), err)
		}
		res.have = append(res.have, have...)
		res.need = append(res.need, need...)
		if sess.Rounds() != res.rounds {
			return res, fmt.Errorf("Rounds() = %d, want %d", sess.Rounds(), res.rounds)
		}
	}
	return res, nil
}

// sameIDs reports whether got holds exactly the IDs of want, each once.
func sameIDs(got, want [][IDSize]byte) bool {
	cmp := func(a, b [IDSize]byte) int { return bytes.Compare(a[:], b[:]) }
	g, w := slices.Clone(got), slices.Clone(want)
	slices.SortFunc(g, cmp)
	slices.SortFunc(w, cmp)
	return slices.Equal(g, w)
}

// q quotes b for a failure message, cut to its first 48 bytes.
func q(b []byte) string {
	if len(b) > 48 {
		return fmt.Sprintf("%x...(%d bytes)", b[:48], len(b))
	}
	return fmt.Sprintf("%x", b)
}

// roundBound is the most rounds an exchange of sets of up to n items,
// moving about bytes bytes, may take.
func roundBound(n, bytes, max int) int {
	depth := 1
	for c := listBelow; c < n; c *= buckets {
		depth++
	}
	return depth + 2 + 2*bytes/max
}

func TestConverge(t *testing.T) {
	tests := []struct {
		shape                string
		common, onlyA, onlyB int
	}{
		{"day", 0, 0, 0},
		{"day", 1, 0, 0},
		{"day", 0, 1, 0},
		{"day", 0, 0, 1},
		{"day", 31, 0, 0},
		{"day", 32, 0, 0},
		{"day", 33, 1, 1},
		{"day", 10_000, 0, 0},
		{"day", 10_000, 1, 0},
		{"day", 10_000, 0, 1},
		{"day", 9_999, 1, 1},
		{"day", 10_000, 1_000, 1_000},
		{"day", 0, 10_000, 0},
		{"day", 0, 0, 10_000},
		{"day", 0, 5_000, 5_000},
		{"day", 5_000, 30, 2},
		{"same", 5_000, 20, 20},
		{"same", 0, 3_000, 3_000},
		{"few", 3_000, 200, 200},
		{"sequential", 10_000, 100, 100},
		{"sequential", 2_000, 0, 8_000},
	}
	for _, lim := range []Limits{{}, {MaxMessage: MinMaxMessage, MaxRounds: 1000}} {
		for _, tt := range tests {
			name := fmt.Sprintf("%s/%d+%d+%d/max%d", tt.shape, tt.common, tt.onlyA, tt.onlyB, lim.withDefaults().MaxMessage)
			t.Run(name, func(t *testing.T) {
				a, b, wantHave, wantNeed := pair(uint64(tt.common*7+tt.onlyA*3+tt.onlyB), tt.shape, tt.common, tt.onlyA, tt.onlyB)
				res := exchange(t, a, b, lim)
				if !sameIDs(res.have, wantHave) {
					t.Errorf("have %d IDs, want the %d only the initiator holds", len(res.have), len(wantHave))
				}
				if !sameIDs(res.need, wantNeed) {
					t.Errorf("need %d IDs, want the %d only the responder holds", len(res.need), len(wantNeed))
				}
				n := tt.common + max(tt.onlyA, tt.onlyB)
				if rb := roundBound(n, res.sent+res.recv, lim.withDefaults().MaxMessage); res.rounds > rb {
					t.Errorf("%d rounds, want at most %d", res.rounds, rb)
				}
				t.Logf("%d rounds, %d+%d bytes", res.rounds, res.sent, res.recv)
			})
		}
	}
}

// TestConvergeRandom runs many exchanges of random sizes, overlaps, time
// shapes and limits, both ways round.
func TestConvergeRandom(t *testing.T) {
	runs := 300
	if testing.Short() {
		runs = 50
	}
	r := rand.New(rand.NewPCG(1, 2))
	shapes := []string{"day", "same", "few", "sequential"}
	for i := range runs {
		shape := shapes[r.IntN(len(shapes))]
		size := []int{10, 100, 1000, 4000}[r.IntN(4)]
		common, onlyA, onlyB := r.IntN(size), r.IntN(size/4+1), r.IntN(size/4+1)
		switch r.IntN(4) {
		case 0:
			onlyA = r.IntN(3)
		case 1:
			onlyB = r.IntN(3)
		}
		lim := Limits{MaxMessage: MinMaxMessage + r.IntN(3)*MinMaxMessage, MaxRounds: 1000}
		a, b, wantHave, wantNeed := pair(uint64(i), shape, common, onlyA, onlyB)
		res := exchange(t, a, b, lim)
		if !sameIDs(res.have, wantHave) || !sameIDs(res.need, wantNeed) {
			t.Fatalf("run %d (%s, %d+%d+%d, max %d): have %d need %d, want %d and %d",
				i, shape, common, onlyA, onlyB, lim.MaxMessage, len(res.have), len(res.need), len(wantHave), len(wantNeed))
		}
		back := exchange(t, b, a, lim)
		if !sameIDs(back.have, wantNeed) || !sameIDs(back.need, wantHave) {
			t.Fatalf("run %d reversed: have %d need %d, want %d and %d", i, len(back.have), len(back.need), len(wantNeed), len(wantHave))
		}
		if rb := roundBound(common+max(onlyA, onlyB), res.sent+res.recv, lim.MaxMessage); res.rounds > rb {
			t.Errorf("run %d (%s, %d+%d+%d, max %d): %d rounds, want at most %d", i, shape, common, onlyA, onlyB, lim.MaxMessage, res.rounds, rb)
		}
	}
}

// TestCost pins the order of magnitude of the bytes and rounds of the
// benchmarked cases, so that a change that costs more shows in go test.
func TestCost(t *testing.T) {
	tests := []struct {
		onlyA, onlyB   int
		maxBytes, maxR int
	}{
		{0, 0, 500, 1},
		{1, 0, 2_000, 3},
		{0, 1, 2_000, 3},
		{50, 50, 40_000, 4},
	}
	for _, tt := range tests {
		a, b, _, _ := pair(42, "day", 10_000-tt.onlyA, tt.onlyA, tt.onlyB)
		res := exchange(t, a, b, Limits{})
		if res.sent+res.recv > tt.maxBytes || res.rounds > tt.maxR {
			t.Errorf("10k, %d+%d differ: %d bytes in %d rounds, want at most %d in %d", tt.onlyA, tt.onlyB, res.sent+res.recv, res.rounds, tt.maxBytes, tt.maxR)
		}
	}
}

func TestMaxRounds(t *testing.T) {
	a, b, wantHave, wantNeed := pair(7, "day", 10_000, 300, 300)
	lim := Limits{MaxMessage: MinMaxMessage}
	full := exchange(t, a, b, lim)
	if full.rounds < 3 {
		t.Fatalf("exchange took %d rounds; the test needs at least 3", full.rounds)
	}
	lim.MaxRounds = 2
	sess := a.NewSession(lim)
	msg, _ := sess.Initiate()
	var have, need [][IDSize]byte
	for round := 1; ; round++ {
		reply, err := b.Respond(msg, lim)
		if err != nil {
			t.Fatal(err)
		}
		next, h, n, err := sess.Reconcile(reply)
		have, need = append(have, h...), append(need, n...)
		if round < 2 {
			if err != nil || next == nil {
				t.Fatalf("round %d: Reconcile = %d bytes, %v; want a next message", round, len(next), err)
			}
			msg = next
			continue
		}
		if !errors.Is(err, ErrTooManyRounds) || next != nil {
			t.Fatalf("round %d: Reconcile = %d bytes, %v; want nil, ErrTooManyRounds", round, len(next), err)
		}
		break
	}
	if len(have) == 0 || len(need) == 0 {
		t.Errorf("have %d, need %d: want what the last reply taught too", len(have), len(need))
	}
	// What was found is part of the difference.
	if !isSubset(have, wantHave) || !isSubset(need, wantNeed) {
		t.Errorf("have/need outside the difference")
	}
	if _, _, _, err := sess.Reconcile([]byte{Version}); !errors.Is(err, ErrTooManyRounds) {
		t.Errorf("Reconcile after the limit = %v, want ErrTooManyRounds again", err)
	}
}

func isSubset(got, of [][IDSize]byte) bool {
	m := map[[IDSize]byte]bool{}
	for _, id := range of {
		m[id] = true
	}
	for _, id := range got {
		if !m[id] {
			return false
		}
	}
	return true
}

func TestSessionMisuse(t *testing.T) {
	s := NewSet(nil)
	sess := s.NewSession(Limits{})
	if _, _, _, err := sess.Reconcile([]byte{Version}); err == nil {
		t.Error("Reconcile before Initiate: no error")
	}
	if _, err := sess.Initiate(); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Initiate(); err == nil {
		t.Error("second Initiate: no error")
	}
	next, _, _, err := sess.Reconcile([]byte{Version})
	if err != nil || next != nil {
		t.Fatalf("Reconcile(empty reply) = %x, %v; want nil, nil (done)", next, err)
	}
	if _, _, _, err := sess.Reconcile([]byte{Version}); err == nil {
		t.Error("Reconcile after done: no error")
	}
	// A malformed reply ends the session.
	sess = s.NewSession(Limits{})
	sess.Initiate()
	if _, _, _, err := sess.Reconcile([]byte{9}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Reconcile(bad version) = %v, want ErrMalformed", err)
	}
	if _, _, _, err := sess.Reconcile([]byte{Version}); !errors.Is(err, ErrMalformed) {
		t.Errorf("Reconcile after an error = %v, want the same error", err)
	}
}

func TestNewSet(t *testing.T) {
	id := func(b byte) (x [IDSize]byte) { x[0] = b; return x }
	in := []Item{{5, id(2)}, {5, id(1)}, {-3, id(9)}, {1, id(7)}, {5, id(1)}, {0, id(9)}}
	s := NewSet(in)
	want := []Item{{0, id(9)}, {1, id(7)}, {5, id(1)}, {5, id(2)}}
	if !slices.Equal(s.items, want) {
		t.Fatalf("NewSet(%v).items = %v, want %v", in, s.items, want)
	}
	if s.Len() != 4 {
		t.Errorf("Len() = %d, want 4", s.Len())
	}
	in[0].ID = id(0xff)
	if s.items[3].ID != id(2) {
		t.Error("NewSet shares memory with its argument")
	}
	if NewSet(nil).Len() != 0 {
		t.Error("NewSet(nil).Len() != 0")
	}
}

// TestFingerprint checks the prefix sums against a direct computation,
// over carries, and pins one fingerprint.
func TestFingerprint(t *testing.T) {
	g := newGen(3, "day")
	items := g.items(200)
	for i := range 20 {
		items[i].ID = [IDSize]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, byte(i)}
	}
	s := NewSet(items)
	for lo := 0; lo <= s.Len(); lo += 7 {
		for hi := lo; hi <= s.Len(); hi += 5 {
			var sum sum128
			for _, it := range s.items[lo:hi] {
				sum = sum.add(it.ID)
			}
			d := s.sums[hi].sub(s.sums[lo])
			if d != sum {
				t.Fatalf("sum of [%d:%d] = %v, want %v", lo, hi, d, sum)
			}
		}
	}
	// The fingerprint of three IDs 01, 02, 03 (first byte): sum 06, count 3.
	s = NewSet([]Item{{1, [IDSize]byte{1}}, {2, [IDSize]byte{2}}, {3, [IDSize]byte{3}}})
	// SHA-256(06 00…00 03)[:16]
	want := h("8e962066152315d0be29a9858873f311")
	if got := s.fingerprint(0, 3); !bytes.Equal(got[:], want) {
		t.Errorf("fingerprint = %x, want %x", got, want)
	}
}

func TestBetween(t *testing.T) {
	g := newGen(4, "few")
	s := NewSet(g.items(2000))
	for i := 1; i < s.Len(); i++ {
		a, b := s.items[i-1], s.items[i]
		k := between(a, b)
		if k.above(b) || !k.above(a) {
			t.Fatalf("between(%v, %v) = %v: want a < k <= b", a, b, k)
		}
		if got := s.index(0, k); got != i {
			t.Fatalf("index(between(items[%d], items[%d])) = %d", i-1, i, got)
		}
	}
	a := Item{7, [IDSize]byte{1, 2, 3}}
	b := Item{7, [IDSize]byte{1, 2, 4, 9}}
	if k := between(a, b); k != (bound{time: 7, id: [IDSize]byte{1, 2, 4}}) {
		t.Errorf("between(%v, %v) = %v, want (7, 01 02 04)", a, b, k)
	}
	if k := between(Item{6, b.ID}, b); k != (bound{time: 7}) {
		t.Errorf("between at different times = %v, want (7, no prefix)", k)
	}
}

// TestRespondConcurrent runs Respond on one set from several goroutines
// (for the race detector).
func TestRespondConcurrent(t *testing.T) {
	a, b, wantHave, wantNeed := pair(9, "day", 2000, 40, 40)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			res, err := run(a, b, Limits{})
			if err != nil {
				errs <- err.Error()
				return
			}
			if !sameIDs(res.have, wantHave) || !sameIDs(res.need, wantNeed) {
				errs <- "wrong difference"
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestHostileResponder checks that a responder that never agrees (it
// answers every message with a fingerprint of nothing in particular)
// gets at most MaxRounds replies in, and that invented IDs come out as
// need, each once, at most MaxMessage/16 per reply.
func TestHostileResponder(t *testing.T) {
	a, _, _, _ := pair(13, "day", 5000, 0, 0)
	lim := Limits{MaxRounds: 5}
	sess := a.NewSession(lim)
	msg, _ := sess.Initiate()
	replies := 0
	for msg != nil {
		var err error
		replies++
		msg, _, _, err = sess.Reconcile(h("01 00 01 " + fp0))
		if err != nil {
			if !errors.Is(err, ErrTooManyRounds) || replies != lim.MaxRounds {
				t.Fatalf("reply %d: %v; want ErrTooManyRounds at reply %d", replies, err, lim.MaxRounds)
			}
			break
		}
	}
	if replies != lim.MaxRounds {
		t.Fatalf("%d replies taken, want %d", replies, lim.MaxRounds)
	}

	// Invented IDs, the same ones twice: reported once.
	sess = a.NewSession(Limits{})
	sess.Initiate()
	list := func(n int) []byte {
		b := h("01 00 02")
		b = binary.AppendUvarint(b, uint64(n))
		for i := range n {
			id := rep(0xfe)
			binary.BigEndian.PutUint32(id[:], uint32(i))
			b = append(b, id[:]...)
		}
		return b
	}
	_, _, need, err := sess.Reconcile(list(3000))
	if err != nil || len(need) != 3000 {
		t.Fatalf("Reconcile(3000 invented IDs) = %d need, %v", len(need), err)
	}
	if _, _, _, err := sess.Reconcile(list(3000)); err == nil {
		t.Fatal("Reconcile after done: no error")
	}
}
