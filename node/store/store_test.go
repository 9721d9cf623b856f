package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func line(room string, author string, seq uint64, sent time.Time) Line {
	return Line{
		Room: room, ID: MessageID(author, seq), Author: author, Seqno: seq,
		Sent: sent, Received: sent.Add(time.Second),
		Raw: []byte(fmt.Sprintf("signed %s %d", author, seq)),
	}
}

func open(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "data", "log.db")
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustAppend(t testing.TB, s *Store, ls ...Line) {
	t.Helper()
	for _, l := range ls {
		if _, err := s.Append(l); err != nil {
			t.Fatalf("Append(%s): %v", l.ID, err)
		}
	}
}

func ids(ls []Line) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
}

func sameLine(a, b Line) bool {
	return a.Room == b.Room && a.ID == b.ID && a.Author == b.Author && a.Seqno == b.Seqno &&
		a.Sent.Equal(b.Sent) && a.Received.Equal(b.Received) && a.order().Equal(b.order()) && bytes.Equal(a.Raw, b.Raw)
}

func TestRoundTrip(t *testing.T) {
	s := open(t, Config{})
	want := line("lobby", "12D3KooWA", 7, t0)
	want.Sent = want.Sent.Add(123456789 * time.Nanosecond)
	if added, err := s.Append(want); err != nil || !added {
		t.Fatalf("Append = %v, %v, want true, nil", added, err)
	}
	got, err := s.Get("lobby", []string{want.ID})
	if err != nil || len(got) != 1 || !sameLine(got[0], want) {
		t.Fatalf("Get = %+v, %v, want [%+v]", got, err, want)
	}
	if ok, err := s.Has("lobby", want.ID); !ok || err != nil {
		t.Errorf("Has = %v, %v, want true", ok, err)
	}
	if ok, _ := s.Has("lobby", "nope/1"); ok {
		t.Errorf("Has(unknown) = true")
	}
}

func TestAppendIdempotent(t *testing.T) {
	s := open(t, Config{})
	l := line("lobby", "A", 1, t0)
	for i, want := range []bool{true, false, false} {
		if added, err := s.Append(l); err != nil || added != want {
			t.Errorf("Append #%d = %v, %v, want %v", i, added, err, want)
		}
	}
	// Same ID with a different Sent (a relay lying about time) is still a duplicate.
	l2 := l
	l2.Sent = t0.Add(time.Hour)
	if added, _ := s.Append(l2); added {
		t.Errorf("Append(same ID, other Sent) added")
	}
	n, err := s.AppendBatch([]Line{l, line("lobby", "A", 2, t0), line("lobby", "A", 2, t0)})
	if err != nil || n != 1 {
		t.Errorf("AppendBatch = %d, %v, want 1", n, err)
	}
	got, _ := s.Recent("lobby", 10)
	if want := []string{"A/1", "A/2"}; !slices.Equal(ids(got), want) {
		t.Errorf("Recent = %v, want %v", ids(got), want)
	}
}

func TestAppendInvalid(t *testing.T) {
	s := open(t, Config{})
	ok := line("r", "A", 1, t0)
	tests := []struct {
		name string
		mod  func(*Line)
	}{
		{"no room", func(l *Line) { l.Room = "" }},
		{"no id", func(l *Line) { l.ID = "" }},
		{"no sent", func(l *Line) { l.Sent = time.Time{} }},
		{"long id", func(l *Line) { l.ID = strings.Repeat("x", MaxIDLen+1) }},
		{"long author", func(l *Line) { l.Author = strings.Repeat("x", MaxAuthorLen+1) }},
		{"huge raw", func(l *Line) { l.Raw = make([]byte, MaxRawLen+1) }},
		{"year 3000", func(l *Line) { l.Sent = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ok
			tt.mod(&l)
			if _, err := s.Append(l); !errors.Is(err, ErrInvalidLine) {
				t.Errorf("Append = %v, want ErrInvalidLine", err)
			}
		})
	}
}

func TestRecentOrder(t *testing.T) {
	s := open(t, Config{})
	// Arrival order differs from sent order; same-millisecond lines order by ID.
	mustAppend(t, s,
		line("r", "B", 1, t0.Add(3*time.Second)),
		line("r", "A", 1, t0.Add(1*time.Second)),
		line("r", "C", 1, t0.Add(2*time.Second)),
		line("r", "B", 2, t0.Add(-time.Hour)),
		line("r", "A", 2, t0.Add(2*time.Second)),
	)
	tests := []struct {
		n    int
		want []string
	}{
		{0, nil},
		{1, []string{"B/1"}},
		{3, []string{"A/2", "C/1", "B/1"}},
		{100, []string{"B/2", "A/1", "A/2", "C/1", "B/1"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			got, err := s.Recent("r", tt.n)
			if err != nil || !slices.Equal(ids(got), tt.want) {
				t.Errorf("Recent(%d) = %v, %v, want %v", tt.n, ids(got), err, tt.want)
			}
		})
	}
	if got, err := s.Recent("empty", 5); err != nil || len(got) != 0 {
		t.Errorf("Recent(unknown room) = %v, %v", got, err)
	}
}

func TestItemsWindow(t *testing.T) {
	s := open(t, Config{})
	for i := range 10 {
		mustAppend(t, s, line("r", "A", uint64(i), t0.Add(time.Duration(i)*time.Minute)))
	}
	tests := []struct {
		name  string
		since time.Time
		max   int
		want  []string
	}{
		{"all", time.Time{}, 0, []string{"A/0", "A/1", "A/2", "A/3", "A/4", "A/5", "A/6", "A/7", "A/8", "A/9"}},
		{"since inclusive", t0.Add(7 * time.Minute), 0, []string{"A/7", "A/8", "A/9"}},
		{"since between", t0.Add(7*time.Minute + time.Second), 0, []string{"A/8", "A/9"}},
		{"max newest", time.Time{}, 2, []string{"A/8", "A/9"}},
		{"since and max", t0.Add(5 * time.Minute), 3, []string{"A/7", "A/8", "A/9"}},
		{"future", t0.Add(time.Hour), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := s.Items("r", tt.since, tt.max)
			var got []string
			for _, it := range items {
				got = append(got, it.ID)
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("Items(%v, %d) = %v, %v, want %v", tt.since, tt.max, got, err, tt.want)
			}
		})
	}
}

func TestGetSubset(t *testing.T) {
	s := open(t, Config{})
	mustAppend(t, s,
		line("r", "A", 1, t0.Add(3*time.Second)),
		line("r", "A", 2, t0.Add(1*time.Second)),
		line("r", "A", 3, t0.Add(2*time.Second)),
	)
	got, err := s.Get("r", []string{"A/1", "missing/9", "A/2", "A/1"})
	if want := []string{"A/2", "A/1"}; err != nil || !slices.Equal(ids(got), want) {
		t.Errorf("Get = %v, %v, want %v", ids(got), err, want)
	}
	if got, _ := s.Get("other", []string{"A/1"}); len(got) != 0 {
		t.Errorf("Get(other room) = %v, want none", ids(got))
	}
}

func TestRoomsApart(t *testing.T) {
	s := open(t, Config{})
	mustAppend(t, s, line("a", "X", 1, t0), line("b", "X", 1, t0), line("b", "X", 2, t0))
	for room, want := range map[string][]string{"a": {"X/1"}, "b": {"X/1", "X/2"}} {
		got, _ := s.Recent(room, 10)
		if !slices.Equal(ids(got), want) {
			t.Errorf("Recent(%q) = %v, want %v", room, ids(got), want)
		}
		for _, l := range got {
			if l.Room != room {
				t.Errorf("Recent(%q) line Room = %q", room, l.Room)
			}
		}
	}
	if ok, _ := s.Has("a", "X/2"); ok {
		t.Errorf("Has(a, X/2) = true, a line of room b leaked")
	}
}

func TestPrune(t *testing.T) {
	tests := []struct {
		name     string
		maxLines int
		maxAge   time.Duration
		now      time.Time
		removed  int
		want     []string
	}{
		{"nothing", 100, time.Hour, t0.Add(10 * time.Minute), 0, []string{"A/0", "A/1", "A/2", "A/3", "A/4", "A/5"}},
		{"by age", 100, 30 * time.Minute, t0.Add(33 * time.Minute), 3, []string{"A/3", "A/4", "A/5"}},
		{"by count", 2, time.Hour, t0.Add(10 * time.Minute), 4, []string{"A/4", "A/5"}},
		{"age then count", 2, 30 * time.Minute, t0.Add(31 * time.Minute), 4, []string{"A/4", "A/5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, Config{MaxLines: tt.maxLines, MaxAge: tt.maxAge})
			for i := range 6 { // A/i sent at t0 + i*1min, appended newest first
				mustAppend(t, s, line("r", "A", uint64(5-i), t0.Add(time.Duration(5-i)*time.Minute)))
			}
			mustAppend(t, s, line("other", "B", 1, t0.Add(10*time.Minute)))
			n, err := s.Prune(tt.now)
			if err != nil || n != tt.removed {
				t.Errorf("Prune = %d, %v, want %d", n, err, tt.removed)
			}
			got, _ := s.Recent("r", 100)
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("after Prune, Recent = %v, want %v", ids(got), tt.want)
			}
			if ok, _ := s.Has("r", "A/0"); ok != slices.Contains(tt.want, "A/0") {
				t.Errorf("Has(A/0) = %v after prune", ok)
			}
			if ok, _ := s.Has("other", "B/1"); !ok {
				t.Errorf("Prune dropped the other room's only line")
			}
			// A pruned line may come back (by sync) and counts are kept right.
			if n, _ := s.Prune(tt.now); n != 0 {
				t.Errorf("second Prune = %d, want 0", n)
			}
		})
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, line("r", "A", 1, t0), line("r", "A", 2, t0.Add(time.Second)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := s.Append(line("r", "A", 3, t0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	s2 := open(t, Config{Path: path})
	if s2.Recovered() != "" {
		t.Errorf("Recovered = %q on a healthy file", s2.Recovered())
	}
	got, _ := s2.Recent("r", 10)
	if want := []string{"A/1", "A/2"}; !slices.Equal(ids(got), want) {
		t.Errorf("after reopen Recent = %v, want %v", ids(got), want)
	}
	if added, _ := s2.Append(line("r", "A", 1, t0)); added {
		t.Errorf("after reopen, Append of a stored line added it")
	}
}

// healthyFile returns the bytes of a valid log holding a few lines.
func healthyFile(t *testing.T) []byte {
	path := filepath.Join(t.TempDir(), "h.db")
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		mustAppend(t, s, line("r", "A", uint64(i), t0.Add(time.Duration(i)*time.Second)))
	}
	s.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCorruptMovedAside(t *testing.T) {
	good := healthyFile(t)
	badMeta := bytes.Clone(good)
	for i := 16; i < 80; i++ { // both meta pages' bodies
		badMeta[i] ^= 0xff
		badMeta[4096+i] ^= 0xff
	}
	tests := []struct {
		name    string
		content []byte
	}{
		{"garbage", []byte("this is not a bbolt file, just some garbage bytes\x00\x01\x02")},
		{"one byte", []byte{0}},
		{"truncated to meta", good[:4096]},
		{"truncated to two pages", good[:8192]},
		{"truncated half", good[:len(good)/2]},
		{"both metas damaged", badMeta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "log.db")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			s := open(t, Config{Path: path})
			msg := s.Recovered()
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("files moved aside = %v, want 1", aside)
			}
			if !strings.Contains(msg, aside[0]) || !strings.Contains(msg, "empty log") {
				t.Errorf("Recovered = %q, want it to name %s and say an empty log was started", msg, aside[0])
			}
			if b, _ := os.ReadFile(aside[0]); !bytes.Equal(b, tt.content) {
				t.Errorf("moved-aside file differs from the original (%d vs %d bytes)", len(b), len(tt.content))
			}
			if added, err := s.Append(line("r", "A", 1, t0)); !added || err != nil {
				t.Errorf("Append after recovery = %v, %v", added, err)
			}
			if got, _ := s.Recent("r", 10); len(got) != 1 {
				t.Errorf("Recent after recovery = %d lines, want 1", len(got))
			}
		})
	}
}

func TestMoveAsideNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	for i := range 3 {
		os.WriteFile(path, []byte{byte(i)}, 0o600)
		if _, err := moveAside(path, t0); err != nil {
			t.Fatal(err)
		}
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 3 {
		t.Errorf("moved aside = %v, want 3 files", aside)
	}
}

func TestDamagedValueSkipped(t *testing.T) {
	s := open(t, Config{})
	mustAppend(t, s, line("r", "A", 1, t0), line("r", "A", 2, t0.Add(time.Second)), line("r", "A", 3, t0.Add(2*time.Second)))
	// Damage A/2's value in place.
	err := s.db.Update(func(tx *bolt.Tx) error {
		lb, _ := roomBuckets(tx, "r")
		return lb.Put(lineKey(t0.Add(time.Second), "A/2"), []byte{9, 9, 9})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Recent("r", 10)
	if want := []string{"A/1", "A/3"}; err != nil || !slices.Equal(ids(got), want) {
		t.Errorf("Recent = %v, %v, want %v", ids(got), err, want)
	}
	if got, _ := s.Get("r", []string{"A/2"}); len(got) != 0 {
		t.Errorf("Get(damaged) = %v", ids(got))
	}
}

func TestSecondOpenLocked(t *testing.T) {
	s := open(t, Config{})
	start := time.Now()
	s2, err := Open(Config{Path: s.cfg.Path})
	if err == nil {
		s2.Close()
		t.Fatal("second Open succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v", d)
	}
	if aside, _ := filepath.Glob(s.cfg.Path + ".corrupt-*"); len(aside) != 0 {
		t.Errorf("a locked file was moved aside: %v", aside)
	}
	if _, err := s.Append(line("r", "A", 1, t0)); err != nil {
		t.Errorf("first store broken after a refused second Open: %v", err)
	}
}

func TestModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lanchat", "id")
	path := filepath.Join(dir, "log.db")
	s := open(t, Config{Path: path})
	mustAppend(t, s, line("r", "A", 1, t0))
	for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != want {
			t.Errorf("mode of %s = %v, want %v", p, got, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	s := open(t, Config{})
	want := DefaultConfig(s.cfg.Path)
	if !reflect.DeepEqual(s.cfg, want) {
		t.Errorf("cfg = %+v, want %+v", s.cfg, want)
	}
}

func TestItemsAndCount(t *testing.T) {
	s := open(t, Config{})
	base := time.UnixMilli(1_700_000_000_000)
	var lines []Line
	for i := range 5 {
		lines = append(lines, Line{Room: "r", ID: MessageID("a", uint64(i)), Author: "a", Seqno: uint64(i),
			Sent: base.Add(time.Duration(i) * time.Second), Order: base.Add(-time.Duration(i) * time.Hour), Raw: []byte{byte(i)}})
	}
	if _, err := s.AppendBatch(lines); err != nil {
		t.Fatal(err)
	}
	items, err := s.Items("r", base.Add(time.Second), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 || items[0].ID != lines[2].ID || !items[0].Sent.Equal(lines[2].Sent) || !items[0].Order.Equal(lines[2].Order) || items[2].ID != lines[4].ID {
		t.Fatalf("Items = %v, want the lines 2..4", items)
	}
	if items, _ := s.Items("r", base.Add(3*time.Second), 0); len(items) != 2 {
		t.Fatalf("Items since line 3 = %v, want 2", items)
	}
	if n, err := s.Count("r"); n != 5 || err != nil {
		t.Fatalf("Count = %d, %v, want 5", n, err)
	}
	if n, err := s.Count("none"); n != 0 || err != nil {
		t.Fatalf("Count(none) = %d, %v, want 0", n, err)
	}
}
