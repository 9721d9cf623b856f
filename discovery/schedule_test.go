package discovery

import (
	"testing"
	"time"
)

// TestSchedule: the fast queries back to back, then QueryInterval doubling
// while the rounds see the same peers, up to MaxQueryInterval; a change,
// a failed round or a prompt bring it back to QueryInterval.
func TestSchedule(t *testing.T) {
	a := map[string]string{"a": "open1[10.0.0.1:4001]"}
	ab := map[string]string{"a": "open1[10.0.0.1:4001]", "b": "open1[10.0.0.2:4001]"}
	moved := map[string]string{"a": "open1[10.0.0.9:4001]"}
	none := map[string]string{}
	const s = time.Second
	type step struct {
		seen   map[string]string
		prompt bool // prompt before this round
		want   time.Duration
	}
	tests := []struct {
		name  string
		fast  int
		steps []step
	}{
		{"backs off while nothing changes", 3, []step{
			{a, false, 0}, {a, false, 0}, {a, false, 5 * s}, // fast queries, then the interval
			{a, false, 10 * s}, {a, false, 20 * s}, {a, false, 40 * s}, {a, false, 60 * s}, {a, false, 60 * s},
		}},
		{"a newcomer resets it", 1, []step{
			{a, false, 5 * s}, {a, false, 10 * s}, {a, false, 20 * s},
			{ab, false, 5 * s}, {ab, false, 10 * s},
		}},
		{"a peer gone resets it", 1, []step{
			{ab, false, 5 * s}, {ab, false, 10 * s}, {a, false, 5 * s}, {a, false, 10 * s},
		}},
		{"a peer moved resets it", 1, []step{
			{a, false, 5 * s}, {a, false, 10 * s}, {moved, false, 5 * s},
		}},
		{"alone backs off too", 1, []step{
			{none, false, 5 * s}, {none, false, 10 * s}, {none, false, 20 * s},
		}},
		{"failed rounds stay fast", 1, []step{
			{a, false, 5 * s}, {a, false, 10 * s}, {nil, false, 5 * s}, {nil, false, 5 * s}, {a, false, 5 * s}, {a, false, 10 * s},
		}},
		{"a prompt resets it", 1, []step{
			{a, false, 5 * s}, {a, false, 10 * s}, {a, false, 20 * s}, {a, true, 5 * s}, {a, false, 10 * s},
		}},
		{"no fast queries", 0, []step{
			{a, false, 5 * s}, {a, false, 10 * s},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.FastQueries = tt.fast
			sc := newSchedule(cfg)
			for i, st := range tt.steps {
				if st.prompt {
					sc.prompt()
				}
				if got := sc.after(st.seen); got != st.want {
					t.Fatalf("round %d: after(%v) = %v, want %v", i, st.seen, got, st.want)
				}
			}
		})
	}
}

// TestScheduleMaxBelowInterval: a MaxQueryInterval below QueryInterval
// means no back-off.
func TestScheduleMaxBelowInterval(t *testing.T) {
	cfg := withDefaults(Config{QueryInterval: 2 * time.Second, MaxQueryInterval: time.Second, FastQueries: -1})
	sc := newSchedule(cfg)
	seen := map[string]string{"a": "x"}
	for i := range 4 {
		if got := sc.after(seen); got != 2*time.Second {
			t.Fatalf("round %d: after = %v, want 2s", i, got)
		}
	}
}
