package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestMarks: marks survive a reopen, never go down, and are pruned by age
// and count.
func TestMarks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, Config{Path: path})
	now := time.Now().Truncate(time.Millisecond)
	if err := s.SaveMarks(map[string]Mark{"alice": {Seqno: 100, Heard: now}, "bob": {Seqno: 7, Heard: now}}); err != nil {
		t.Fatal(err)
	}
	// A lower number later (out of order, or another room's lag) does not
	// lower the mark; the time moves on.
	if err := s.SaveMarks(map[string]Mark{"alice": {Seqno: 90, Heard: now.Add(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	// Nor does an earlier time (a zero one, say) age it out.
	if err := s.SaveMarks(map[string]Mark{"alice": {Seqno: 100}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, Config{Path: path})
	m, ok, err := s.Mark("alice")
	if err != nil || !ok || m.Seqno != 100 || !m.Heard.Equal(now.Add(time.Second)) {
		t.Errorf("Mark(alice) = %+v, %v, %v; want seqno 100 heard %v", m, ok, err, now.Add(time.Second))
	}
	if _, ok, _ := s.Mark("carol"); ok {
		t.Error("Mark(carol): a mark of an author never saved")
	}

	// Age: bob's mark, heard before MarkAge, goes.
	if _, err := s.Prune(now.Add(MarkAge + time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Mark("bob"); ok {
		t.Error("bob's mark kept beyond MarkAge")
	}

	// Count: beyond MaxMarks, the ones heard longest ago go.
	marks := map[string]Mark{}
	for i := range MaxMarks + 10 {
		marks[fmt.Sprint("author", i)] = Mark{Seqno: 1, Heard: now.Add(time.Duration(i) * time.Millisecond)}
	}
	if err := s.SaveMarks(marks); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(now); err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]bool{0: false, 9: false, 10: true, MaxMarks + 9: true} {
		if _, ok, _ := s.Mark(fmt.Sprint("author", i)); ok != want {
			t.Errorf("author%d kept = %v, want %v", i, ok, want)
		}
	}
}
